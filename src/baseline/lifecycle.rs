//! What the two lifecycle baselines share: [`Lifecycle`], the façade written once over a
//! [`Locking`] (the one part that differs between them), and its parts: settings, time base,
//! the per-item ledger, the reservation record and table, and the memory of finished outcomes.
//! Validation is the lock-free engine's own code (`Canonical`), and so is the line arithmetic
//! (merging, diffing, partial release, in `src/stock/lines.rs`).
//!
//! Every rule here is the one [`Inventory`](crate::Inventory) applies.
//! `tests/lifecycle_model.rs` checks all three engines against one sequential specification,
//! so a rule that drifted here would fail there.

use super::item_locks::{self, check_adjustment};
use crate::carts::registry::Hold;
use crate::error::{AdjustError, CatalogError, TakeError};
use crate::ids::{ItemId, Line};
use crate::inventory::{AuditError, AuditReport, ItemLevels};
use crate::limits::{self, MAX_STOCK};
use crate::reservation::{
    instance_tag, CartId, Confirmation, Receipt, ReservationError, ReservationId, ReservationInfo,
    ReservationState, ReserveError, Target,
};
use crate::stock::catalog::validate_registration;
use crate::stock::take::{Canonical, Resolved};
use crate::timer::clock::{Clock, CoarseClock};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of a lifecycle baseline: the same knobs, defaults and meaning as the
/// [`InventoryBuilder`](crate::InventoryBuilder) settings of the same names.
///
/// ```
/// use atomic_stock::baseline::{ItemLocksInventory, LifecycleSettings};
/// use atomic_stock::ManualClock;
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let settings = LifecycleSettings::default()
///     .clock(Arc::new(ManualClock::new()))
///     .max_ttl(Duration::from_secs(3600));
/// let inventory = ItemLocksInventory::with_settings(settings);
/// assert_eq!(inventory.live_reservations(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) max_ttl: Duration,
    pub(crate) max_reservations: u64,
    pub(crate) finished_memory: usize,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            clock: Arc::new(CoarseClock::new()),
            max_ttl: limits::DEFAULT_MAX_TTL,
            max_reservations: limits::DEFAULT_MAX_RESERVATIONS,
            finished_memory: limits::DEFAULT_FINISHED_MEMORY,
        }
    }
}

impl LifecycleSettings {
    /// The clock deadlines are read from. Default: [`CoarseClock`], as for `Inventory`.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Longest time to live a reservation may ask for. Default: 30 days.
    #[must_use]
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Largest number of live reservations (kept per shard where the engine shards its
    /// reservations, as `Inventory` does). Default: 16,777,216.
    #[must_use]
    pub fn max_reservations(mut self, max: u64) -> Self {
        self.max_reservations = max.max(1);
        self
    }

    /// How many finished reservations' outcomes are remembered (per shard: `memory / shards`,
    /// rounded up to a power of two). Default: 65,536.
    #[must_use]
    pub fn finished_memory(mut self, outcomes: usize) -> Self {
        self.finished_memory = outcomes.max(1);
        self
    }
}

/// Nanoseconds since an origin read from the engine's clock, as `Inventory` counts them.
#[derive(Debug)]
pub(crate) struct Timebase {
    clock: Arc<dyn Clock>,
    origin: Instant,
    /// The clock's `nanos()` at the origin, if it gives one (the same fast path `Inventory`
    /// uses, so both pay the same for time).
    origin_nanos: Option<u64>,
    max_ttl: Duration,
}

impl Timebase {
    pub(crate) fn new(settings: &LifecycleSettings) -> Self {
        Timebase {
            clock: settings.clock.clone(),
            origin: settings.clock.now(),
            origin_nanos: settings.clock.nanos(),
            max_ttl: settings.max_ttl,
        }
    }

    /// Nanoseconds since the origin.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        if let (Some(origin), Some(now)) = (self.origin_nanos, self.clock.nanos()) {
            return now.saturating_sub(origin);
        }
        let elapsed = self.clock.now().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn instant(&self, nanos: u64) -> Instant {
        self.origin + Duration::from_nanos(nanos)
    }

    /// A valid time to live in nanoseconds: not zero, not above the maximum.
    pub(crate) fn ttl(&self, ttl: Duration) -> Option<u64> {
        if ttl.is_zero() || ttl > self.max_ttl {
            return None;
        }
        u64::try_from(ttl.as_nanos()).ok()
    }
}

/// One item's counts. `received = available + held + sold` always holds between operations:
/// every change below moves units between two of the counts, or changes `received` and
/// `available` together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ledger {
    pub(crate) available: i64,
    pub(crate) held: i64,
    pub(crate) sold: i64,
    pub(crate) received: i64,
}

impl Ledger {
    pub(crate) fn new(initial: i64) -> Self {
        Ledger {
            available: initial,
            held: 0,
            sold: 0,
            received: initial,
        }
    }

    pub(crate) fn levels(&self) -> ItemLevels {
        ItemLevels {
            available: self.available,
            in_flight: 0,
            held: self.held,
            sold: self.sold,
            received: self.received,
        }
    }

    /// The shortfall `line` would meet, if any.
    #[inline]
    pub(crate) fn shortfall(&self, line: Line) -> Option<TakeError> {
        item_locks::shortfall(self.available, line)
    }

    /// Available units become held (the caller checked there are enough).
    #[inline]
    pub(crate) fn hold(&mut self, quantity: i64) {
        debug_assert!(self.available >= quantity, "hold without stock");
        self.available -= quantity;
        self.held += quantity;
    }

    /// Held units become available again (release, expiry, a cart update dropping them).
    #[inline]
    pub(crate) fn give_back(&mut self, quantity: i64) {
        debug_assert!(self.held >= quantity, "giving back more than is held");
        self.held -= quantity;
        self.available += quantity;
    }

    /// Held units are sold (confirm).
    #[inline]
    pub(crate) fn sell(&mut self, quantity: i64) {
        debug_assert!(self.held >= quantity, "selling more than is held");
        self.held -= quantity;
        self.sold += quantity;
    }

    /// `Inventory::restock`: refused if more than `MAX_STOCK` units would be on hand
    /// (`received - sold`, which is available + held).
    pub(crate) fn restock(&mut self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let on_hand = self.received - self.sold;
        if on_hand + quantity > MAX_STOCK {
            return Err(AdjustError::Overflow {
                item,
                on_hand,
                quantity,
            });
        }
        self.available += quantity;
        self.received += quantity;
        Ok(())
    }

    /// `Inventory::shrink`: removes available units.
    pub(crate) fn shrink(&mut self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        item_locks::shrink(&mut self.available, &mut self.received, item, quantity)
    }
}

/// A live reservation. Its lines are kept as the lock-free engine keeps a hold's (in the
/// record for a small cart, boxed for a large one), so a reserve allocates no more here.
#[derive(Debug)]
pub(crate) struct Record {
    /// The reservation's sequence number (see `ReservationId`).
    pub(crate) seq: u64,
    /// The deadline (nanoseconds since the engine's origin) and the lines, one per item,
    /// ascending by item id.
    hold: Hold,
}

impl Record {
    pub(crate) fn new(seq: u64, deadline: u64, lines: impl ExactSizeIterator<Item = Line>) -> Self {
        Record {
            seq,
            hold: Hold::new(deadline, lines),
        }
    }

    /// Nanoseconds since the engine's origin.
    #[inline]
    pub(crate) fn deadline(&self) -> u64 {
        self.hold.deadline
    }

    pub(crate) fn set_deadline(&mut self, deadline: u64) {
        self.hold.deadline = deadline;
    }

    /// One line per item, ascending by item id.
    #[inline]
    pub(crate) fn lines(&self) -> &[Line] {
        self.hold.lines()
    }

    pub(crate) fn set_lines(&mut self, lines: impl ExactSizeIterator<Item = Line>) {
        self.hold = Hold::new(self.hold.deadline, lines);
    }

    /// Held, or expired if its deadline is not after `now`.
    fn state(&self, now: u64) -> ReservationState {
        if self.hold.deadline <= now {
            ReservationState::Expired
        } else {
            ReservationState::Held
        }
    }
}

/// How a reservation finished.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Outcome {
    Confirmed = 1,
    Released = 2,
    Expired = 3,
}

impl Outcome {
    /// The error an operation that needs a held reservation answers.
    pub(crate) fn error(self) -> ReservationError {
        match self {
            Outcome::Confirmed => ReservationError::Confirmed,
            Outcome::Released => ReservationError::Released,
            Outcome::Expired => ReservationError::Expired,
        }
    }

    pub(crate) fn state(self) -> ReservationState {
        match self {
            Outcome::Confirmed => ReservationState::Confirmed,
            Outcome::Released => ReservationState::Released,
            Outcome::Expired => ReservationState::Expired,
        }
    }
}

/// Outcomes of finished reservations, by reservation number modulo the length, as
/// `number << 2 | outcome` (0 when empty): the same bounded memory as `Inventory`'s rings.
#[derive(Debug)]
pub(crate) struct FinishedRing {
    slots: Box<[u64]>,
}

impl FinishedRing {
    /// A ring of at least `len` slots (a power of two).
    pub(crate) fn new(len: usize) -> Self {
        FinishedRing {
            slots: vec![0; len.max(1).next_power_of_two()].into_boxed_slice(),
        }
    }

    pub(crate) fn remember(&mut self, number: u64, outcome: Outcome) {
        let mask = self.slots.len() - 1;
        self.slots[number as usize & mask] = number << 2 | outcome as u64;
    }

    pub(crate) fn recall(&self, number: u64) -> Option<Outcome> {
        let value = self.slots[number as usize & (self.slots.len() - 1)];
        if value == 0 || value >> 2 != number {
            return None;
        }
        Some(match value & 3 {
            1 => Outcome::Confirmed,
            2 => Outcome::Released,
            _ => Outcome::Expired,
        })
    }
}

/// Live reservations keyed by cart, their numbering and the outcomes of finished ones: the
/// whole reservation table of the global-lock engine, one of the 64 shards of the
/// per-item-lock engine. The lock around it is the engine's.
#[derive(Debug)]
pub(crate) struct Reservations {
    pub(crate) live: HashMap<CartId, Record, CartHash>,
    /// Next number this table gives (numbers start at 1).
    next_number: u64,
    /// The table's index, in the low `index_bits` bits of every sequence number it gives, so
    /// an id names the table that numbered it.
    index: u64,
    index_bits: u32,
    finished: FinishedRing,
}

impl Reservations {
    /// Table `index` of `1 << index_bits`, remembering at least `finished` outcomes.
    pub(crate) fn new(index: usize, index_bits: u32, finished: usize) -> Self {
        Reservations {
            live: HashMap::with_hasher(CartHash),
            next_number: 1,
            index: index as u64,
            index_bits,
            finished: FinishedRing::new(finished),
        }
    }

    /// A new reservation's sequence number.
    pub(crate) fn next_seq(&mut self) -> u64 {
        let seq = self.next_number << self.index_bits | self.index;
        self.next_number += 1;
        seq
    }

    /// Takes `cart`'s record out as finished and remembers how it finished; the caller
    /// settles its stock.
    pub(crate) fn finish(&mut self, cart: CartId, outcome: Outcome) -> Record {
        let record = self
            .live
            .remove(&cart)
            .expect("finishing a record that the cart's lock keeps in place");
        self.finished
            .remember(record.seq >> self.index_bits, outcome);
        record
    }

    /// How a reservation numbered here finished, if that is still remembered.
    pub(crate) fn recall(&self, id: ReservationId) -> Option<Outcome> {
        if id.seq & ((1 << self.index_bits) - 1) != self.index {
            return None;
        }
        self.finished.recall(id.seq >> self.index_bits)
    }

    /// Where the reservation `id` is, as of `now` (the instance was checked by the caller).
    fn status(&self, id: ReservationId, now: u64) -> Result<ReservationState, ReservationError> {
        match self.live.get(&id.cart) {
            Some(record) if record.seq == id.seq => Ok(record.state(now)),
            _ => self
                .recall(id)
                .map(Outcome::state)
                .ok_or(ReservationError::Unknown),
        }
    }

    /// Finds what `target` names (the instance was checked by the caller): its sequence number
    /// and deadline if it is live, or how it finished.
    pub(crate) fn find(
        &self,
        target: Target,
    ) -> Result<Result<(u64, u64), Outcome>, ReservationError> {
        let cart = target.cart();
        match (self.live.get(&cart), target) {
            (Some(record), Target::Id(id)) if record.seq == id.seq => {
                Ok(Ok((record.seq, record.deadline())))
            }
            (Some(record), Target::Cart(_)) => Ok(Ok((record.seq, record.deadline()))),
            (_, Target::Id(id)) => self.recall(id).map(Err).ok_or(ReservationError::Unknown),
            (None, Target::Cart(cart)) => Err(ReservationError::NoReservation { cart }),
        }
    }
}

/// What an operation does to the held reservation it names.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Act<'a, H: Copy> {
    Confirm,
    Release,
    /// Moves the deadline.
    Extend {
        deadline: u64,
    },
    /// Gives back these lines (canonical); releases the reservation if nothing is left.
    ReleaseLines(&'a [Resolved<H>]),
}

/// What an [`Act`] found.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Acted {
    /// The reservation `seq` was held, and the act was done.
    Done { seq: u64 },
    /// The reservation had finished that way (just now, if it was found due).
    Finished(Outcome),
}

/// How a lifecycle baseline locks: the one part in which the baselines differ. Everything
/// else (validation, time, ids, receipts, status, audit, the public methods) is
/// [`Lifecycle`]'s, written once. Implemented by [`ItemLocking`](super::ItemLocking) and
/// [`GlobalLocking`](super::GlobalLocking); private to the crate, so a user can name the
/// two engines but not write a third locking.
///
/// Every method is called with valid input (validated lines, a time to live in range, an id
/// of this instance) and applies exactly the rule of the [`Inventory`](crate::Inventory)
/// method of the same name.
pub(crate) trait Locking: Send + Sync + std::fmt::Debug + Sized {
    /// The engine's name in reports.
    const NAME: &'static str;
    /// What a validated line resolves its item to.
    type Item<'a>: Copy
    where
        Self: 'a;

    /// An empty engine with `settings`.
    fn new(settings: &LifecycleSettings) -> Self;
    /// The handle of a registered item, `None` for an unknown one.
    fn resolve(&self, item: ItemId) -> Option<Self::Item<'_>>;
    /// Registers an item with a validated initial level.
    fn register(&self, initial: i64) -> Result<ItemId, CatalogError>;
    /// Registered items.
    fn items(&self) -> usize;
    /// Runs `f` on `item`'s ledger under its lock; `None` for an unknown item.
    fn ledger<R>(&self, item: ItemId, f: impl FnOnce(&mut Ledger) -> R) -> Option<R>;
    /// Adds `added` to `cart`'s reservation or starts one; its `(seq, deadline)`.
    fn reserve(
        &self,
        time: &Timebase,
        cart: CartId,
        added: &Canonical<Self::Item<'_>>,
        ttl: u64,
    ) -> Result<(u64, u64), ReserveError>;
    /// Sets `cart`'s reservation to `wanted`; its `(seq, deadline)`.
    fn set_cart(
        &self,
        time: &Timebase,
        cart: CartId,
        wanted: &Canonical<Self::Item<'_>>,
        ttl: u64,
    ) -> Result<(u64, u64), ReserveError>;
    /// Finds what `target` names as of `now` (expiring it if due) and, if held, does `act`.
    fn act(
        &self,
        target: Target,
        now: u64,
        act: Act<'_, Self::Item<'_>>,
    ) -> Result<Acted, ReservationError>;
    /// Expires every reservation due at `now`; how many this call expired.
    fn expire_due(&self, now: u64) -> usize;
    /// Runs `f` on the reservation table that holds `cart`, under its lock.
    fn table<R>(&self, cart: CartId, f: impl FnOnce(&Reservations) -> R) -> R;
    /// Live reservations (exact at quiescence).
    fn live_reservations(&self) -> usize;
    /// Adds every live reservation's lines to `held` (by item index), checking each is in the
    /// deadline index; returns how many are live.
    fn count_held(&self, held: &mut [i64]) -> usize;
}

/// The reservation lifecycle of a baseline, on the locking `L`: the façade both baselines
/// share ([`ItemLocksInventory`](super::ItemLocksInventory) is `Lifecycle<ItemLocking>`,
/// [`GlobalLockInventory`](super::GlobalLockInventory) is `Lifecycle<GlobalLocking>`).
///
/// Same contract as [`Inventory`](crate::Inventory): the same validation (the same code),
/// errors, limits and outcomes; [`ReservationEngine`](crate::ReservationEngine) drives either.
#[derive(Debug)]
pub struct Lifecycle<L> {
    locking: L,
    time: Timebase,
    instance: u32,
    /// SKU to item. Registration by SKU holds this mutex across the duplicate check and the
    /// registration; lookups take it too (a baseline: the lock-free engine's table is
    /// `src/stock/sku.rs`).
    skus: parking_lot::Mutex<HashMap<Box<str>, ItemId>>,
}

// The bound names a crate-private trait: a user gets a `Lifecycle` only over one of the
// crate's two lockings.
#[allow(private_bounds)]
impl<L: Locking> Default for Lifecycle<L> {
    fn default() -> Self {
        Self::new()
    }
}

#[allow(private_bounds)] // see `Default` above
impl<L: Locking> Lifecycle<L> {
    /// An empty inventory with default settings (system clock).
    #[must_use]
    pub fn new() -> Self {
        Self::with_settings(LifecycleSettings::default())
    }

    /// An empty inventory reading time from `clock`.
    #[must_use]
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::with_settings(LifecycleSettings::default().clock(clock))
    }

    /// An empty inventory with `settings`.
    #[must_use]
    pub fn with_settings(settings: LifecycleSettings) -> Self {
        Lifecycle {
            locking: L::new(&settings),
            time: Timebase::new(&settings),
            instance: instance_tag(),
            skus: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// A short name for reports.
    #[must_use]
    pub fn name(&self) -> &'static str {
        L::NAME
    }

    /// Registers an item with `initial` units.
    pub fn register_item(&self, initial: i64) -> Result<ItemId, CatalogError> {
        validate_registration(initial, None)?;
        self.locking.register(initial)
    }

    /// Registers an item under a SKU, refusing a SKU already registered (see
    /// [`Inventory::register_sku`](crate::Inventory::register_sku)).
    pub fn register_sku(&self, sku: &str, initial: i64) -> Result<ItemId, CatalogError> {
        validate_registration(initial, Some(sku))?;
        let mut skus = self.skus.lock();
        if let Some(&existing) = skus.get(sku) {
            return Err(CatalogError::DuplicateSku { existing });
        }
        let item = self.locking.register(initial)?;
        skus.insert(sku.into(), item);
        Ok(item)
    }

    /// The item registered under `sku`.
    #[must_use]
    pub fn item_by_sku(&self, sku: &str) -> Option<ItemId> {
        self.skus.lock().get(sku).copied()
    }

    /// Number of registered items.
    #[must_use]
    pub fn items(&self) -> usize {
        self.locking.items()
    }

    /// Adds `quantity` units of `item` (see [`Inventory::restock`](crate::Inventory::restock)).
    pub fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.adjust(item, quantity, Ledger::restock)
    }

    /// Removes `quantity` available units of `item`.
    pub fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.adjust(item, quantity, Ledger::shrink)
    }

    /// Checks in `Inventory`'s order (unknown item first, then quantity), then adjusts.
    fn adjust(
        &self,
        item: ItemId,
        quantity: i64,
        adjust: impl FnOnce(&mut Ledger, ItemId, i64) -> Result<(), AdjustError>,
    ) -> Result<(), AdjustError> {
        if self.locking.resolve(item).is_none() {
            return Err(AdjustError::UnknownItem { item });
        }
        check_adjustment(item, quantity)?;
        self.locking
            .ledger(item, |ledger| adjust(ledger, item, quantity))
            .ok_or(AdjustError::UnknownItem { item })?
    }

    /// An item's counts (`in_flight` is always 0: a take is applied whole, under its locks).
    #[must_use]
    pub fn item(&self, item: ItemId) -> Option<ItemLevels> {
        self.locking.ledger(item, |ledger| ledger.levels())
    }

    /// Reserves `lines` for `cart` (see [`Inventory::reserve`](crate::Inventory::reserve)).
    pub fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        self.update(cart, lines, ttl, L::reserve)
    }

    /// Sets `cart`'s reservation to exactly `lines` (see
    /// [`Inventory::set_cart`](crate::Inventory::set_cart)).
    pub fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        self.update(cart, lines, ttl, L::set_cart)
    }

    /// Validates a reserve or cart update, has the locking `apply` it, and writes the receipt.
    #[inline]
    fn update<'a>(
        &'a self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
        apply: impl FnOnce(
            &'a L,
            &'a Timebase,
            CartId,
            &Canonical<L::Item<'a>>,
            u64,
        ) -> Result<(u64, u64), ReserveError>,
    ) -> Result<Receipt, ReserveError> {
        let ttl_nanos = self.time.ttl(ttl).ok_or(ReserveError::InvalidTtl { ttl })?;
        let lines = self.canonical(lines)?;
        let (seq, deadline) = apply(&self.locking, &self.time, cart, &lines, ttl_nanos)?;
        Ok(self.receipt(cart, seq, deadline))
    }

    /// Confirms a reservation (see [`Inventory::confirm`](crate::Inventory::confirm)).
    pub fn confirm(&self, id: ReservationId) -> Result<Confirmation, ReservationError> {
        self.confirm_target(Target::Id(id))
    }

    /// Confirms `cart`'s live reservation.
    pub fn confirm_cart(&self, cart: CartId) -> Result<Confirmation, ReservationError> {
        self.confirm_target(Target::Cart(cart))
    }

    /// Releases a reservation (see [`Inventory::release`](crate::Inventory::release)).
    pub fn release(&self, id: ReservationId) -> Result<(), ReservationError> {
        self.finish_target(Target::Id(id), Act::Release)
    }

    /// Releases `cart`'s live reservation.
    pub fn release_cart(&self, cart: CartId) -> Result<(), ReservationError> {
        self.finish_target(Target::Cart(cart), Act::Release)
    }

    /// Moves a held reservation's deadline to `ttl` from now.
    pub fn extend(&self, id: ReservationId, ttl: Duration) -> Result<Receipt, ReservationError> {
        self.extend_target(Target::Id(id), ttl)
    }

    /// Moves `cart`'s reservation deadline to `ttl` from now.
    pub fn extend_cart(&self, cart: CartId, ttl: Duration) -> Result<Receipt, ReservationError> {
        self.extend_target(Target::Cart(cart), ttl)
    }

    /// Gives back some of a held reservation's stock (see
    /// [`Inventory::release_lines`](crate::Inventory::release_lines)).
    pub fn release_lines(&self, id: ReservationId, lines: &[Line]) -> Result<(), ReservationError> {
        let released = self.canonical(lines).map_err(ReservationError::Lines)?;
        self.finish_target(Target::Id(id), Act::ReleaseLines(released.entries()))
    }

    /// Expires every reservation whose deadline has passed; returns how many this call
    /// expired.
    pub fn expire_due(&self) -> usize {
        self.locking.expire_due(self.time.now())
    }

    /// Where a reservation is in its lifecycle (see
    /// [`Inventory::status`](crate::Inventory::status)).
    pub fn status(&self, id: ReservationId) -> Result<ReservationState, ReservationError> {
        if id.instance != self.instance {
            return Err(ReservationError::Unknown);
        }
        let now = self.time.now();
        self.locking.table(id.cart, |table| table.status(id, now))
    }

    /// `cart`'s live reservation.
    #[must_use]
    pub fn cart(&self, cart: CartId) -> Option<ReservationInfo> {
        let now = self.time.now();
        self.locking.table(cart, |table| {
            table.live.get(&cart).map(|record| ReservationInfo {
                id: self.id(cart, record.seq),
                state: record.state(now),
                deadline: self.time.instant(record.deadline()),
                lines: record.lines().to_vec(),
            })
        })
    }

    /// Live reservations (exact at quiescence).
    #[must_use]
    pub fn live_reservations(&self) -> usize {
        self.locking.live_reservations()
    }

    /// Checks, for every item, that `received = available + held + sold` with `held` counted
    /// from the live reservations, and that the item's own held count agrees. Meaningful only
    /// at quiescence.
    pub fn audit(&self) -> Result<AuditReport, AuditError> {
        let items = self.items();
        let mut held = vec![0i64; items];
        let live = self.locking.count_held(&mut held);
        let mut report = AuditReport {
            items,
            live_reservations: live,
            available: 0,
            held: 0,
            sold: 0,
        };
        for (index, &held) in held.iter().enumerate() {
            let item = ItemId::new(index as u32);
            let ledger = self
                .locking
                .ledger(item, |ledger| *ledger)
                .expect("items are never removed");
            if ledger.received != ledger.available + held + ledger.sold || ledger.held != held {
                return Err(AuditError {
                    item,
                    received: ledger.received,
                    available: ledger.available,
                    in_flight: ledger.held - held,
                    held,
                    sold: ledger.sold,
                });
            }
            report.available += ledger.available;
            report.held += held;
            report.sold += ledger.sold;
        }
        Ok(report)
    }

    /// Validates `lines` with the lock-free engine's code, resolving each item to the
    /// locking's handle on it.
    #[inline]
    fn canonical(&self, lines: &[Line]) -> Result<Canonical<L::Item<'_>>, TakeError> {
        Canonical::new(lines, |item| self.locking.resolve(item))
    }

    fn id(&self, cart: CartId, seq: u64) -> ReservationId {
        ReservationId {
            cart,
            seq,
            instance: self.instance,
        }
    }

    fn receipt(&self, cart: CartId, seq: u64, deadline: u64) -> Receipt {
        Receipt {
            id: self.id(cart, seq),
            deadline: self.time.instant(deadline),
        }
    }

    /// Does `act` on what `target` names, refusing an id of another instance.
    fn act(&self, target: Target, act: Act<'_, L::Item<'_>>) -> Result<Acted, ReservationError> {
        if let Target::Id(id) = target {
            if id.instance != self.instance {
                return Err(ReservationError::Unknown);
            }
        }
        self.locking.act(target, self.time.now(), act)
    }

    fn confirm_target(&self, target: Target) -> Result<Confirmation, ReservationError> {
        match self.act(target, Act::Confirm)? {
            Acted::Done { .. } => Ok(Confirmation::Confirmed),
            Acted::Finished(Outcome::Confirmed) => Ok(Confirmation::AlreadyConfirmed),
            Acted::Finished(outcome) => Err(outcome.error()),
        }
    }

    fn finish_target(
        &self,
        target: Target,
        act: Act<'_, L::Item<'_>>,
    ) -> Result<(), ReservationError> {
        match self.act(target, act)? {
            Acted::Done { .. } => Ok(()),
            Acted::Finished(outcome) => Err(outcome.error()),
        }
    }

    fn extend_target(&self, target: Target, ttl: Duration) -> Result<Receipt, ReservationError> {
        let ttl_nanos = self
            .time
            .ttl(ttl)
            .ok_or(ReservationError::InvalidTtl { ttl })?;
        let deadline = self.time.now().saturating_add(ttl_nanos);
        match self.act(target, Act::Extend { deadline })? {
            Acted::Done { seq } => Ok(self.receipt(target.cart(), seq, deadline)),
            Acted::Finished(outcome) => Err(outcome.error()),
        }
    }
}

crate::inventory::engine::reservation_engine_by_inherent_methods!(
    #[allow(private_bounds)] // see `Default` above
    [L: Locking] Lifecycle<L>,
    L::NAME
);

/// Hashes cart ids for the baselines' maps: the splitmix64 finalizer, so every bit of the
/// hash depends on every bit of the id. Like the lock-free registry's Fibonacci hashing it is
/// unkeyed (cart ids come from the order service, not from shoppers), and it costs a few
/// cycles where std's SipHash costs tens of nanoseconds: the baselines should not lose on a
/// hash function.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CartHash;

impl BuildHasher for CartHash {
    type Hasher = CartHasher;

    fn build_hasher(&self) -> CartHasher {
        CartHasher(0)
    }
}

/// The hasher of [`CartHash`].
#[derive(Debug)]
pub(crate) struct CartHasher(u64);

impl Hasher for CartHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `CartId` (which writes one u64); correct for anything else.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// splitmix64's finalizer.
#[inline]
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_forgets_only_what_was_overwritten() {
        let mut ring = FinishedRing::new(4);
        ring.remember(1, Outcome::Confirmed);
        ring.remember(2, Outcome::Expired);
        assert_eq!(ring.recall(1), Some(Outcome::Confirmed));
        assert_eq!(ring.recall(5), None, "a number never finished");
        ring.remember(5, Outcome::Released);
        assert_eq!(ring.recall(1), None, "overwritten by number 5");
        assert_eq!(ring.recall(5), Some(Outcome::Released));
        assert_eq!(ring.recall(2), Some(Outcome::Expired));
    }
}
