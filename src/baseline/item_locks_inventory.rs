//! [`ItemLocksInventory`]: the reservation lifecycle built the classic way, with locks, as a
//! careful engineer would build it. It owns its items, carts, reservations and deadline index;
//! it answers every call exactly as [`Inventory`](crate::Inventory) does.
//!
//! # Locks, and the one order they are taken in
//!
//! * **Cart locks.** Every operation on a cart runs under that cart's mutex, found in a
//!   sharded map of `Arc<Mutex<()>>` that is cleaned up as it goes (see [`CartLocks`]).
//! * **Reservation shards.** Live reservations sit in 64 shards of `Mutex<HashMap>` keyed by
//!   cart; each shard also numbers its reservations and remembers finished outcomes. A shard
//!   lock is held only to read or change a record, never while waiting for another lock.
//! * **The deadline index.** One `Mutex<BTreeMap<(deadline, seq), cart>>`, kept exact under
//!   the cart lock: every deadline set or cleared changes it. [`expire_due`] splits off the due
//!   part and expires each reservation under its cart's lock.
//! * **Item locks.** One `parking_lot` mutex per item, holding the item's ledger. A take locks
//!   every line's item in ascending item order, checks each, and applies once all are locked
//!   and sufficient (as [`ItemLocks`](super::ItemLocks) does), so a shortfall needs no rollback.
//!
//! A thread holds at most one cart lock, and while holding it takes the others one at a time
//! (item locks several at once, in ascending order): cart, then shard or index or items. No
//! path takes a cart lock while holding anything else, so no cycle of waits can form.
//!
//! A reserve takes its stock *before* locking the cart, like `Inventory`; when it meets a
//! shortfall it first expires what is due (which takes other carts' locks, hence outside any
//! cart lock) and tries once more. A cart update learns what to add only under the cart lock,
//! so on a shortfall it lets go of the lock, expires what is due and starts over, once.
//!
//! [`expire_due`]: ItemLocksInventory::expire_due

use super::lifecycle::{
    check_adjustment, mix, CartHash, FinishedRing, Ledger, LifecycleSettings, Outcome, Record,
    Target, Timebase,
};
use crate::error::{AdjustError, CatalogError, TakeError};
use crate::ids::{ItemId, Line};
use crate::inventory::engine::ReservationEngine;
use crate::inventory::{AuditError, AuditReport, ItemLevels};
use crate::limits::MAX_ITEMS;
use crate::reservation::instance_tag;
use crate::reservation::{
    CartId, Confirmation, Receipt, ReservationError, ReservationId, ReservationInfo,
    ReservationState, ReserveError,
};
use crate::stock::catalog::validate_registration;
use crate::stock::lines::{diff, merge, subtract};
use crate::stock::take::{Canonical, Resolved};
use crate::sync::segmented::Segmented;
use crate::timer::clock::Clock;
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Shards of the cart-lock map and of the reservation map.
const SHARDS: usize = 64;
/// Low bits of a reservation's sequence number that name its shard.
const SHARD_BITS: u32 = SHARDS.trailing_zeros();

/// An item's ledger behind its own lock.
type ItemLock = Mutex<Ledger>;

/// The shard of `cart`, from bits of its hash that the shard's `HashMap` does not use (it
/// takes the low bits for the bucket and the top seven for its control bytes).
#[inline]
fn shard_of(cart: CartId) -> usize {
    (mix(cart.get()) >> 32) as usize & (SHARDS - 1)
}

/// Per-cart mutexes in a sharded map, created on first use and removed when the last user is
/// done, so the map holds only carts being worked on.
///
/// Removal is "remove the entry if it is still this `Arc`", done by the lock's holder *before*
/// it unlocks. A thread that found the entry and then waited on the mutex may therefore wake
/// holding a mutex that is no longer in the map while another thread has created a fresh one
/// for the same cart: both would hold "the cart's lock". So after locking, [`CartLocks::with`]
/// checks that the map still maps the cart to the very `Arc` it locked, and starts over if not.
/// (Removing after unlocking would not do: a waiter could pass the check in between, and the
/// late removal would then let a third thread in beside it.)
#[derive(Debug)]
struct CartLocks {
    shards: Box<[CachePadded<Mutex<CartLockMap>>]>,
}

/// One shard of [`CartLocks`]: the carts being worked on, each with its mutex.
type CartLockMap = HashMap<CartId, Arc<Mutex<()>>, CartHash>;

impl CartLocks {
    fn new() -> Self {
        CartLocks {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::new(HashMap::with_hasher(CartHash))))
                .collect(),
        }
    }

    fn shard(&self, cart: CartId) -> &Mutex<CartLockMap> {
        &self.shards[shard_of(cart)]
    }

    /// Runs `f` holding `cart`'s lock.
    fn with<R>(&self, cart: CartId, f: impl FnOnce() -> R) -> R {
        loop {
            let lock = Arc::clone(self.shard(cart).lock().entry(cart).or_default());
            let _held = lock.lock();
            let current = self
                .shard(cart)
                .lock()
                .get(&cart)
                .is_some_and(|mapped| Arc::ptr_eq(mapped, &lock));
            if !current {
                // Removed (and perhaps re-created) while we waited: not the cart's lock any more.
                continue;
            }
            // Declared after `_held`, so dropped before it: the entry leaves the map while the
            // mutex is still held, on return and on unwinding alike.
            let _cleanup = Cleanup {
                locks: self,
                cart,
                lock: &lock,
            };
            return f();
        }
    }
}

/// Removes a cart's entry from [`CartLocks`] if it is still the same `Arc`.
struct Cleanup<'a> {
    locks: &'a CartLocks,
    cart: CartId,
    lock: &'a Arc<Mutex<()>>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let mut map = self.locks.shard(self.cart).lock();
        if map
            .get(&self.cart)
            .is_some_and(|mapped| Arc::ptr_eq(mapped, self.lock))
        {
            map.remove(&self.cart);
        }
    }
}

/// One shard of live reservations.
#[derive(Debug)]
struct Reservations {
    live: HashMap<CartId, Record, CartHash>,
    /// Next reservation number of this shard.
    next_number: u64,
    finished: FinishedRing,
}

impl Reservations {
    /// Takes `cart`'s record out as finished and remembers how it finished. The caller holds
    /// the cart's lock and settles the record's stock after letting go of the shard.
    fn finish(&mut self, cart: CartId, outcome: Outcome) -> Record {
        let record = self
            .live
            .remove(&cart)
            .expect("finishing a record that the cart's lock keeps in place");
        self.finished.remember(record.seq >> SHARD_BITS, outcome);
        record
    }

    fn recall(&self, id: ReservationId, shard: usize) -> Option<Outcome> {
        if id.seq & ((1 << SHARD_BITS) - 1) != shard as u64 {
            return None;
        }
        self.finished.recall(id.seq >> SHARD_BITS)
    }
}

/// Where an operation on an existing reservation found it (under the cart's lock).
enum Found<'a> {
    /// Held and not due; the shard's lock is still held, the record is at the cart's key.
    Held(MutexGuard<'a, Reservations>),
    /// Finished that way (just now, if it was due).
    Finished(Outcome),
}

/// What a cart update's attempt under the cart lock decided.
enum Step {
    /// The cart holds no reservation: a plain reserve.
    Reserve,
    /// The additions were short and something may be due: expire, then try again.
    ExpireFirst,
    Done(Result<Receipt, ReserveError>),
}

/// Stock taken for a reserve that has not published its reservation yet; dropping it gives
/// the stock back.
struct Taken<'a> {
    entries: &'a [Resolved<&'a ItemLock>],
    kept: bool,
}

impl Taken<'_> {
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if !self.kept {
            for r in self.entries {
                r.at.lock().give_back(r.line.quantity);
            }
        }
    }
}

/// The reservation lifecycle on locks: per-item `parking_lot` mutexes taken in ascending item
/// order for the stock, per-cart mutexes for each cart's reservation, a sharded locked map of
/// reservations and a locked `BTreeMap` of deadlines (see the module docs for the design and
/// the lock order).
///
/// Same contract as [`Inventory`](crate::Inventory): the same validation (the same code),
/// errors, limits and outcomes; [`ReservationEngine`] drives either.
///
/// ```
/// use atomic_stock::baseline::ItemLocksInventory;
/// use atomic_stock::{CartId, Confirmation, Line};
/// use std::time::Duration;
///
/// let inventory = ItemLocksInventory::new();
/// let mug = inventory.register_item(10).unwrap();
/// let receipt = inventory
///     .reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(600))
///     .unwrap();
/// assert_eq!(inventory.confirm(receipt.id), Ok(Confirmation::Confirmed));
/// assert_eq!(inventory.item(mug).unwrap().sold, 2);
/// ```
#[derive(Debug)]
pub struct ItemLocksInventory {
    items: Segmented<ItemLock>,
    registration: Mutex<()>,
    carts: CartLocks,
    reservations: Box<[CachePadded<Mutex<Reservations>>]>,
    deadlines: Mutex<BTreeMap<(u64, u64), CartId>>,
    time: Timebase,
    instance: u32,
    max_live_per_shard: usize,
}

impl Default for ItemLocksInventory {
    fn default() -> Self {
        ItemLocksInventory::new()
    }
}

impl ItemLocksInventory {
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
        let finished_per_shard = settings.finished_memory.div_ceil(SHARDS);
        ItemLocksInventory {
            items: Segmented::new(),
            registration: Mutex::new(()),
            carts: CartLocks::new(),
            reservations: (0..SHARDS)
                .map(|_| {
                    CachePadded::new(Mutex::new(Reservations {
                        live: HashMap::with_hasher(CartHash),
                        next_number: 1,
                        finished: FinishedRing::new(finished_per_shard),
                    }))
                })
                .collect(),
            deadlines: Mutex::new(BTreeMap::new()),
            time: Timebase::new(&settings),
            instance: instance_tag(),
            max_live_per_shard: usize::try_from(settings.max_reservations.div_ceil(SHARDS as u64))
                .unwrap_or(usize::MAX),
        }
    }

    /// Registers an item with `initial` units.
    pub fn register_item(&self, initial: i64) -> Result<ItemId, CatalogError> {
        validate_registration(initial, None)?;
        let _serial = self.registration.lock();
        self.items
            .push(
                || Mutex::new(Ledger::default()),
                |lock| *lock.lock() = Ledger::new(initial),
            )
            .map(ItemId::new)
            .ok_or(CatalogError::CatalogFull { max: MAX_ITEMS })
    }

    /// Number of registered items.
    #[must_use]
    pub fn items(&self) -> usize {
        self.items.len() as usize
    }

    /// Adds `quantity` units of `item` (see [`Inventory::restock`](crate::Inventory::restock)).
    pub fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.adjustable(item, quantity)?
            .lock()
            .restock(item, quantity)
    }

    /// Removes `quantity` available units of `item`.
    pub fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.adjustable(item, quantity)?
            .lock()
            .shrink(item, quantity)
    }

    fn adjustable(&self, item: ItemId, quantity: i64) -> Result<&ItemLock, AdjustError> {
        let lock = self
            .items
            .get(item.get())
            .ok_or(AdjustError::UnknownItem { item })?;
        check_adjustment(item, quantity)?;
        Ok(lock)
    }

    /// An item's counts (`in_flight` is always 0: a take is applied whole, under its locks).
    #[must_use]
    pub fn item(&self, item: ItemId) -> Option<ItemLevels> {
        self.items.get(item.get()).map(|lock| lock.lock().levels())
    }

    /// Reserves `lines` for `cart` (see [`Inventory::reserve`](crate::Inventory::reserve)).
    pub fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let ttl_nanos = self.time.ttl(ttl).ok_or(ReserveError::InvalidTtl { ttl })?;
        let added = self.canonical(lines)?;
        let deadline = self.time.now().saturating_add(ttl_nanos);
        // Taken before the cart is locked, as `Inventory` does: the same units are needed
        // whether they join the cart's reservation or start a new one.
        let taken = self.take(added.entries())?;
        self.carts.with(cart, || {
            let now = self.time.now();
            let mut shard = self.shard(cart).lock();
            if let Some(record) = shard.live.get_mut(&cart) {
                if record.deadline > now {
                    // On a merge error `taken` drops and gives the stock back; the cart keeps
                    // what it held, with its old deadline.
                    record.lines = merge(&record.lines, added.lines())?.into_boxed_slice();
                    let (seq, previous) = (record.seq, record.deadline);
                    record.deadline = deadline;
                    drop(shard);
                    self.reindex(cart, seq, previous, deadline);
                    taken.keep();
                    return Ok(self.receipt(cart, seq, deadline));
                }
                // Due but not reaped yet: it expires now, and the cart starts afresh.
                let record = shard.finish(cart, Outcome::Expired);
                drop(shard);
                self.unindex(&record);
                self.settle(&record, Outcome::Expired);
                shard = self.shard(cart).lock();
            }
            if shard.live.len() >= self.max_live_per_shard {
                return Err(ReserveError::TooManyReservations {
                    max: (self.max_live_per_shard * SHARDS) as u64,
                });
            }
            let seq = shard.next_number << SHARD_BITS | shard_of(cart) as u64;
            shard.next_number += 1;
            let lines = added.lines().collect();
            shard.live.insert(
                cart,
                Record {
                    seq,
                    deadline,
                    lines,
                },
            );
            drop(shard);
            self.deadlines.lock().insert((deadline, seq), cart);
            taken.keep();
            Ok(self.receipt(cart, seq, deadline))
        })
    }

    /// Sets `cart`'s reservation to exactly `lines` (see
    /// [`Inventory::set_cart`](crate::Inventory::set_cart)).
    pub fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let ttl_nanos = self.time.ttl(ttl).ok_or(ReserveError::InvalidTtl { ttl })?;
        let wanted = self.canonical(lines)?;
        let deadline = self.time.now().saturating_add(ttl_nanos);
        let mut expired_first = false;
        loop {
            let step = self.carts.with(cart, || {
                let now = self.time.now();
                let mut shard = self.shard(cart).lock();
                let Some(record) = shard.live.get(&cart) else {
                    return Step::Reserve;
                };
                if record.deadline <= now {
                    let record = shard.finish(cart, Outcome::Expired);
                    drop(shard);
                    self.unindex(&record);
                    self.settle(&record, Outcome::Expired);
                    return Step::Reserve;
                }
                let (additions, removals) = diff(&record.lines, wanted.entries());
                // No shard lock while waiting for item locks: the cart lock keeps the record.
                drop(shard);
                if !additions.is_empty() {
                    match take_sorted(&additions) {
                        Ok(()) => {}
                        Err(TakeError::Shortfall { .. }) if !expired_first && self.maybe_due() => {
                            return Step::ExpireFirst;
                        }
                        Err(e) => return Step::Done(Err(e.into())),
                    }
                }
                let mut shard = self.shard(cart).lock();
                let record = shard
                    .live
                    .get_mut(&cart)
                    .expect("the cart's lock keeps its record");
                record.lines = wanted.lines().collect();
                let (seq, previous) = (record.seq, record.deadline);
                record.deadline = deadline;
                drop(shard);
                self.reindex(cart, seq, previous, deadline);
                for line in &removals {
                    self.ledger(line.item).lock().give_back(line.quantity);
                }
                Step::Done(Ok(self.receipt(cart, seq, deadline)))
            });
            match step {
                Step::Reserve => return self.reserve(cart, lines, ttl),
                Step::ExpireFirst => {
                    self.expire_due();
                    expired_first = true;
                }
                Step::Done(result) => return result,
            }
        }
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
        self.release_target(Target::Id(id))
    }

    /// Releases `cart`'s live reservation.
    pub fn release_cart(&self, cart: CartId) -> Result<(), ReservationError> {
        self.release_target(Target::Cart(cart))
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
        let now = self.time.now();
        let target = Target::Id(id);
        self.carts
            .with(target.cart(), || match self.resolve(target, now)? {
                Found::Held(mut shard) => {
                    let cart = target.cart();
                    let record = shard.live.get_mut(&cart).expect("resolved as held");
                    let remaining = subtract(&record.lines, released.lines())?;
                    if remaining.is_empty() {
                        let record = shard.finish(cart, Outcome::Released);
                        drop(shard);
                        self.unindex(&record);
                        self.settle(&record, Outcome::Released);
                        return Ok(());
                    }
                    record.lines = remaining.into_boxed_slice();
                    drop(shard);
                    for r in released.entries() {
                        r.at.lock().give_back(r.line.quantity);
                    }
                    Ok(())
                }
                Found::Finished(outcome) => Err(outcome.error()),
            })
    }

    /// Expires every reservation whose deadline has passed; returns how many this call
    /// expired.
    pub fn expire_due(&self) -> usize {
        let now = self.time.now();
        let due = {
            let mut index = self.deadlines.lock();
            match now.checked_add(1) {
                Some(after) => {
                    let later = index.split_off(&(after, 0));
                    std::mem::replace(&mut *index, later)
                }
                None => std::mem::take(&mut *index),
            }
        };
        let mut expired = 0;
        for ((deadline, seq), cart) in due {
            let settled = self.carts.with(cart, || {
                let mut shard = self.shard(cart).lock();
                match shard.live.get(&cart) {
                    Some(record) if record.seq == seq && record.deadline <= now => {
                        let record = shard.finish(cart, Outcome::Expired);
                        drop(shard);
                        if record.deadline != deadline {
                            // Extended after the index was split: its new key is in the index.
                            self.unindex(&record);
                        }
                        self.settle(&record, Outcome::Expired);
                        true
                    }
                    // Finished, or extended beyond `now`, since the index was split.
                    _ => false,
                }
            });
            expired += usize::from(settled);
        }
        expired
    }

    /// Where a reservation is in its lifecycle (see
    /// [`Inventory::status`](crate::Inventory::status)).
    pub fn status(&self, id: ReservationId) -> Result<ReservationState, ReservationError> {
        if id.instance != self.instance {
            return Err(ReservationError::Unknown);
        }
        let now = self.time.now();
        let shard = self.shard(id.cart).lock();
        match shard.live.get(&id.cart) {
            Some(record) if record.seq == id.seq => Ok(if record.deadline <= now {
                ReservationState::Expired
            } else {
                ReservationState::Held
            }),
            _ => shard
                .recall(id, shard_of(id.cart))
                .map(Outcome::state)
                .ok_or(ReservationError::Unknown),
        }
    }

    /// `cart`'s live reservation.
    #[must_use]
    pub fn cart(&self, cart: CartId) -> Option<ReservationInfo> {
        let now = self.time.now();
        let shard = self.shard(cart).lock();
        shard.live.get(&cart).map(|record| ReservationInfo {
            id: self.id(cart, record.seq),
            state: if record.deadline <= now {
                ReservationState::Expired
            } else {
                ReservationState::Held
            },
            deadline: self.time.instant(record.deadline),
            lines: record.lines.to_vec(),
        })
    }

    /// Live reservations (exact at quiescence).
    #[must_use]
    pub fn live_reservations(&self) -> usize {
        self.reservations.iter().map(|s| s.lock().live.len()).sum()
    }

    /// Checks, for every item, that `received = available + held + sold` with `held` counted
    /// from the live reservations, and that the item's own held count agrees. Meaningful only
    /// at quiescence.
    pub fn audit(&self) -> Result<AuditReport, AuditError> {
        let items = self.items();
        let mut held = vec![0i64; items];
        let mut live = 0;
        let mut indexed = 0;
        for shard in self.reservations.iter() {
            let shard = shard.lock();
            live += shard.live.len();
            for record in shard.live.values() {
                indexed += usize::from(
                    self.deadlines
                        .lock()
                        .contains_key(&(record.deadline, record.seq)),
                );
                for line in record.lines.iter() {
                    held[line.item.index()] += line.quantity;
                }
            }
        }
        assert_eq!(
            indexed, live,
            "every live reservation is in the deadline index"
        );
        let mut report = AuditReport {
            items,
            live_reservations: live,
            available: 0,
            held: 0,
            sold: 0,
        };
        for (index, &held) in held.iter().enumerate() {
            let item = ItemId::new(index as u32);
            let ledger = *self.ledger(item).lock();
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

    fn canonical(&self, lines: &[Line]) -> Result<Canonical<&ItemLock>, TakeError> {
        Canonical::new(lines, |item| self.items.get(item.get()))
    }

    fn ledger(&self, item: ItemId) -> &ItemLock {
        self.items
            .get(item.get())
            .expect("a reservation holds only registered items")
    }

    fn shard(&self, cart: CartId) -> &Mutex<Reservations> {
        &self.reservations[shard_of(cart)]
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

    /// Takes `entries` (canonical); on a shortfall, first expires whatever is due (an expired
    /// hold must never turn a buyer away), then tries once more. Holds no cart lock.
    fn take<'a>(&self, entries: &'a [Resolved<&'a ItemLock>]) -> Result<Taken<'a>, TakeError> {
        match take_sorted(entries) {
            Err(TakeError::Shortfall { .. }) if self.maybe_due() => {
                self.expire_due();
                take_sorted(entries)?;
            }
            result => result?,
        }
        Ok(Taken {
            entries,
            kept: false,
        })
    }

    /// Whether some reservation is due now.
    fn maybe_due(&self) -> bool {
        let now = self.time.now();
        self.deadlines
            .lock()
            .first_key_value()
            .is_some_and(|(&(deadline, _), _)| deadline <= now)
    }

    /// Moves a reservation's key in the deadline index. Caller holds the cart's lock.
    fn reindex(&self, cart: CartId, seq: u64, previous: u64, deadline: u64) {
        if previous != deadline {
            let mut index = self.deadlines.lock();
            index.remove(&(previous, seq));
            index.insert((deadline, seq), cart);
        }
    }

    /// Drops a finished reservation's key from the deadline index. Caller holds the cart's
    /// lock.
    fn unindex(&self, record: &Record) {
        self.deadlines.lock().remove(&(record.deadline, record.seq));
    }

    /// Settles a finished reservation's stock, one item lock at a time.
    fn settle(&self, record: &Record, outcome: Outcome) {
        for line in record.lines.iter() {
            let mut ledger = self.ledger(line.item).lock();
            match outcome {
                Outcome::Confirmed => ledger.sell(line.quantity),
                Outcome::Released | Outcome::Expired => ledger.give_back(line.quantity),
            }
        }
    }

    /// Under the cart's lock: finds what `target` names, expiring it on the way if due.
    fn resolve(&self, target: Target, now: u64) -> Result<Found<'_>, ReservationError> {
        let cart = target.cart();
        if let Target::Id(id) = target {
            if id.instance != self.instance {
                return Err(ReservationError::Unknown);
            }
        }
        let mut shard = self.shard(cart).lock();
        let deadline = match (shard.live.get(&cart), target) {
            (Some(record), Target::Id(id)) if record.seq == id.seq => record.deadline,
            (Some(record), Target::Cart(_)) => record.deadline,
            (_, Target::Id(id)) => {
                return shard
                    .recall(id, shard_of(cart))
                    .map(Found::Finished)
                    .ok_or(ReservationError::Unknown)
            }
            (None, Target::Cart(cart)) => return Err(ReservationError::NoReservation { cart }),
        };
        if deadline <= now {
            // Due but not reaped yet: it is expired now.
            let record = shard.finish(cart, Outcome::Expired);
            drop(shard);
            self.unindex(&record);
            self.settle(&record, Outcome::Expired);
            return Ok(Found::Finished(Outcome::Expired));
        }
        Ok(Found::Held(shard))
    }

    fn confirm_target(&self, target: Target) -> Result<Confirmation, ReservationError> {
        let now = self.time.now();
        self.carts
            .with(target.cart(), || match self.resolve(target, now)? {
                Found::Held(mut shard) => {
                    let record = shard.finish(target.cart(), Outcome::Confirmed);
                    drop(shard);
                    self.unindex(&record);
                    self.settle(&record, Outcome::Confirmed);
                    Ok(Confirmation::Confirmed)
                }
                Found::Finished(Outcome::Confirmed) => Ok(Confirmation::AlreadyConfirmed),
                Found::Finished(outcome) => Err(outcome.error()),
            })
    }

    fn release_target(&self, target: Target) -> Result<(), ReservationError> {
        let now = self.time.now();
        self.carts
            .with(target.cart(), || match self.resolve(target, now)? {
                Found::Held(mut shard) => {
                    let record = shard.finish(target.cart(), Outcome::Released);
                    drop(shard);
                    self.unindex(&record);
                    self.settle(&record, Outcome::Released);
                    Ok(())
                }
                Found::Finished(outcome) => Err(outcome.error()),
            })
    }

    fn extend_target(&self, target: Target, ttl: Duration) -> Result<Receipt, ReservationError> {
        let ttl_nanos = self
            .time
            .ttl(ttl)
            .ok_or(ReservationError::InvalidTtl { ttl })?;
        let now = self.time.now();
        let deadline = now.saturating_add(ttl_nanos);
        let cart = target.cart();
        self.carts.with(cart, || match self.resolve(target, now)? {
            Found::Held(mut shard) => {
                let record = shard.live.get_mut(&cart).expect("resolved as held");
                let (seq, previous) = (record.seq, record.deadline);
                record.deadline = deadline;
                drop(shard);
                self.reindex(cart, seq, previous, deadline);
                Ok(self.receipt(cart, seq, deadline))
            }
            Found::Finished(outcome) => Err(outcome.error()),
        })
    }
}

/// Locks `entries[0]`'s item, checks it, recurses into the rest with the lock held, then
/// applies: every line's item is locked in ascending order before anything changes, so a
/// shortfall needs no rollback. The guards stay on the stack (no allocation) and are released
/// in reverse order as the calls return.
fn take_sorted(entries: &[Resolved<&ItemLock>]) -> Result<(), TakeError> {
    let Some((Resolved { line, at }, rest)) = entries.split_first() else {
        return Ok(());
    };
    let mut ledger = at.lock();
    if let Some(short) = ledger.shortfall(*line) {
        return Err(short);
    }
    take_sorted(rest)?;
    ledger.hold(line.quantity);
    Ok(())
}

impl ReservationEngine for ItemLocksInventory {
    fn name(&self) -> &'static str {
        "item-locks"
    }
    fn register_item(&self, initial: i64) -> Result<ItemId, CatalogError> {
        ItemLocksInventory::register_item(self, initial)
    }
    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        ItemLocksInventory::restock(self, item, quantity)
    }
    fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        ItemLocksInventory::reserve(self, cart, lines, ttl)
    }
    fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        ItemLocksInventory::set_cart(self, cart, lines, ttl)
    }
    fn confirm(&self, id: ReservationId) -> Result<Confirmation, ReservationError> {
        ItemLocksInventory::confirm(self, id)
    }
    fn release(&self, id: ReservationId) -> Result<(), ReservationError> {
        ItemLocksInventory::release(self, id)
    }
    fn release_lines(&self, id: ReservationId, lines: &[Line]) -> Result<(), ReservationError> {
        ItemLocksInventory::release_lines(self, id, lines)
    }
    fn extend(&self, id: ReservationId, ttl: Duration) -> Result<Receipt, ReservationError> {
        ItemLocksInventory::extend(self, id, ttl)
    }
    fn expire_due(&self) -> usize {
        ItemLocksInventory::expire_due(self)
    }
    fn item(&self, item: ItemId) -> Option<ItemLevels> {
        ItemLocksInventory::item(self, item)
    }
}
