//! [`GlobalLockInventory`]: the whole reservation lifecycle behind one `parking_lot` mutex.
//! Items, live reservations keyed by cart, the deadline index and the finished outcomes are
//! one structure, and every operation is one critical section: trivially atomic, and the
//! design every other one must beat to be worth its complexity.
//!
//! Input is validated before the lock is taken (the item count is published with an atomic,
//! as in [`GlobalLock`](super::GlobalLock)); everything else happens under it, including the
//! expiry a shortfall triggers.

use super::lifecycle::{
    check_adjustment, CartHash, FinishedRing, Ledger, LifecycleSettings, Outcome, Record, Target,
    Timebase,
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
use crate::timer::clock::Clock;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Everything, under the one lock.
#[derive(Debug)]
struct State {
    items: Vec<Ledger>,
    live: HashMap<CartId, Record, CartHash>,
    /// `(deadline, seq)` of every live reservation; exact.
    deadlines: BTreeMap<(u64, u64), CartId>,
    /// Next reservation sequence number.
    next_seq: u64,
    finished: FinishedRing,
}

/// What an operation on an existing reservation found.
enum Found {
    /// Held and not due: the record is at the cart's key.
    Held,
    Finished(Outcome),
}

impl State {
    /// Takes every line (canonical) or none: checks them all, then applies.
    fn take(&mut self, entries: &[Resolved<()>]) -> Result<(), TakeError> {
        for r in entries {
            if let Some(short) = self.items[r.line.item.index()].shortfall(r.line) {
                return Err(short);
            }
        }
        for r in entries {
            self.items[r.line.item.index()].hold(r.line.quantity);
        }
        Ok(())
    }

    /// [`State::take`]; on a shortfall, expires what is due and tries once more.
    fn take_or_expire(&mut self, entries: &[Resolved<()>], now: u64) -> Result<(), TakeError> {
        match self.take(entries) {
            Err(TakeError::Shortfall { .. }) if self.maybe_due(now) => {
                self.expire_due(now);
                self.take(entries)
            }
            result => result,
        }
    }

    fn give_back(&mut self, lines: impl Iterator<Item = Line>) {
        for line in lines {
            self.items[line.item.index()].give_back(line.quantity);
        }
    }

    fn maybe_due(&self, now: u64) -> bool {
        self.deadlines
            .first_key_value()
            .is_some_and(|(&(deadline, _), _)| deadline <= now)
    }

    fn expire_due(&mut self, now: u64) -> usize {
        let mut expired = 0;
        while let Some((&(deadline, _), &cart)) = self.deadlines.first_key_value() {
            if deadline > now {
                break;
            }
            self.finish(cart, Outcome::Expired);
            expired += 1;
        }
        expired
    }

    /// Finishes `cart`'s live reservation: settles its stock, drops it from the index and
    /// remembers the outcome.
    fn finish(&mut self, cart: CartId, outcome: Outcome) {
        let record = self
            .live
            .remove(&cart)
            .expect("finishing a live reservation");
        self.deadlines.remove(&(record.deadline, record.seq));
        for line in record.lines.iter() {
            let ledger = &mut self.items[line.item.index()];
            match outcome {
                Outcome::Confirmed => ledger.sell(line.quantity),
                Outcome::Released | Outcome::Expired => ledger.give_back(line.quantity),
            }
        }
        self.finished.remember(record.seq, outcome);
    }

    /// Moves a live reservation's deadline.
    fn set_deadline(&mut self, cart: CartId, deadline: u64) -> u64 {
        let record = self.live.get_mut(&cart).expect("a live reservation");
        let (seq, previous) = (record.seq, record.deadline);
        record.deadline = deadline;
        if previous != deadline {
            self.deadlines.remove(&(previous, seq));
            self.deadlines.insert((deadline, seq), cart);
        }
        seq
    }

    /// Finds what `target` names, expiring it on the way if due.
    fn resolve(
        &mut self,
        target: Target,
        now: u64,
        instance: u32,
    ) -> Result<Found, ReservationError> {
        let cart = target.cart();
        let deadline = match (self.live.get(&cart), target) {
            (_, Target::Id(id)) if id.instance != instance => {
                return Err(ReservationError::Unknown)
            }
            (Some(record), Target::Id(id)) if record.seq == id.seq => record.deadline,
            (Some(record), Target::Cart(_)) => record.deadline,
            (_, Target::Id(id)) => {
                return self
                    .finished
                    .recall(id.seq)
                    .map(Found::Finished)
                    .ok_or(ReservationError::Unknown)
            }
            (None, Target::Cart(cart)) => return Err(ReservationError::NoReservation { cart }),
        };
        if deadline <= now {
            self.finish(cart, Outcome::Expired);
            return Ok(Found::Finished(Outcome::Expired));
        }
        Ok(Found::Held)
    }
}

/// The reservation lifecycle under one `parking_lot` mutex (see the module docs).
///
/// Same contract as [`Inventory`](crate::Inventory): the same validation (the same code),
/// errors, limits and outcomes; [`ReservationEngine`] drives either.
///
/// ```
/// use atomic_stock::baseline::GlobalLockInventory;
/// use atomic_stock::{CartId, Line};
/// use std::time::Duration;
///
/// let inventory = GlobalLockInventory::new();
/// let mug = inventory.register_item(10).unwrap();
/// let receipt = inventory
///     .reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(600))
///     .unwrap();
/// inventory.release(receipt.id).unwrap();
/// assert_eq!(inventory.item(mug).unwrap().available, 10);
/// ```
#[derive(Debug)]
pub struct GlobalLockInventory {
    state: Mutex<State>,
    /// Items registered, readable without the lock so that input is validated before taking it.
    len: AtomicUsize,
    time: Timebase,
    instance: u32,
    max_live: usize,
}

impl Default for GlobalLockInventory {
    fn default() -> Self {
        GlobalLockInventory::new()
    }
}

impl GlobalLockInventory {
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
        GlobalLockInventory {
            state: Mutex::new(State {
                items: Vec::new(),
                live: HashMap::with_hasher(CartHash),
                deadlines: BTreeMap::new(),
                next_seq: 1,
                finished: FinishedRing::new(settings.finished_memory),
            }),
            len: AtomicUsize::new(0),
            time: Timebase::new(&settings),
            instance: instance_tag(),
            max_live: usize::try_from(settings.max_reservations).unwrap_or(usize::MAX),
        }
    }

    /// Registers an item with `initial` units.
    pub fn register_item(&self, initial: i64) -> Result<ItemId, CatalogError> {
        validate_registration(initial, None)?;
        let mut state = self.state.lock();
        if state.items.len() >= MAX_ITEMS as usize {
            return Err(CatalogError::CatalogFull { max: MAX_ITEMS });
        }
        state.items.push(Ledger::new(initial));
        // Release: pairs with the Acquire load in `canonical`; the item exists before its id
        // is considered known (the lock orders the data itself).
        self.len.store(state.items.len(), Ordering::Release);
        Ok(ItemId::new((state.items.len() - 1) as u32))
    }

    /// Number of registered items.
    #[must_use]
    pub fn items(&self) -> usize {
        // Acquire: as in `canonical`.
        self.len.load(Ordering::Acquire)
    }

    /// Adds `quantity` units of `item` (see [`Inventory::restock`](crate::Inventory::restock)).
    pub fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let mut state = self.state.lock();
        let ledger = state
            .items
            .get_mut(item.index())
            .ok_or(AdjustError::UnknownItem { item })?;
        check_adjustment(item, quantity)?;
        ledger.restock(item, quantity)
    }

    /// Removes `quantity` available units of `item`.
    pub fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let mut state = self.state.lock();
        let ledger = state
            .items
            .get_mut(item.index())
            .ok_or(AdjustError::UnknownItem { item })?;
        check_adjustment(item, quantity)?;
        ledger.shrink(item, quantity)
    }

    /// An item's counts (`in_flight` is always 0).
    #[must_use]
    pub fn item(&self, item: ItemId) -> Option<ItemLevels> {
        self.state
            .lock()
            .items
            .get(item.index())
            .map(Ledger::levels)
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
        // One reading of the clock for the whole critical section.
        let now = self.time.now();
        let deadline = now.saturating_add(ttl_nanos);
        let mut state = self.state.lock();
        self.reserve_locked(&mut state, cart, &added, now, deadline)
    }

    fn reserve_locked(
        &self,
        state: &mut State,
        cart: CartId,
        added: &Canonical<()>,
        now: u64,
        deadline: u64,
    ) -> Result<Receipt, ReserveError> {
        state.take_or_expire(added.entries(), now)?;
        if let Some(record) = state.live.get_mut(&cart) {
            if record.deadline > now {
                match merge(&record.lines, added.lines()) {
                    Ok(lines) => record.lines = lines.into_boxed_slice(),
                    Err(e) => {
                        state.give_back(added.lines());
                        return Err(e.into());
                    }
                }
                let seq = state.set_deadline(cart, deadline);
                return Ok(self.receipt(cart, seq, deadline));
            }
            state.finish(cart, Outcome::Expired);
        }
        if state.live.len() >= self.max_live {
            state.give_back(added.lines());
            return Err(ReserveError::TooManyReservations {
                max: self.max_live as u64,
            });
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.live.insert(
            cart,
            Record {
                seq,
                deadline,
                lines: added.lines().collect(),
            },
        );
        state.deadlines.insert((deadline, seq), cart);
        Ok(self.receipt(cart, seq, deadline))
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
        let now = self.time.now();
        let deadline = now.saturating_add(ttl_nanos);
        let mut state = self.state.lock();
        let (additions, removals) = match state.live.get(&cart) {
            Some(record) if record.deadline > now => diff(&record.lines, wanted.entries()),
            Some(_) => {
                state.finish(cart, Outcome::Expired);
                return self.reserve_locked(&mut state, cart, &wanted, now, deadline);
            }
            None => return self.reserve_locked(&mut state, cart, &wanted, now, deadline),
        };
        if !additions.is_empty() {
            state.take_or_expire(&additions, now)?;
        }
        state.give_back(removals.into_iter());
        state.live.get_mut(&cart).expect("checked live above").lines = wanted.lines().collect();
        let seq = state.set_deadline(cart, deadline);
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
        let mut state = self.state.lock();
        match state.resolve(Target::Id(id), now, self.instance)? {
            Found::Held => {
                let record = state.live.get_mut(&id.cart).expect("resolved as held");
                let remaining = subtract(&record.lines, released.lines())?;
                if remaining.is_empty() {
                    state.finish(id.cart, Outcome::Released);
                    return Ok(());
                }
                record.lines = remaining.into_boxed_slice();
                state.give_back(released.lines());
                Ok(())
            }
            Found::Finished(outcome) => Err(outcome.error()),
        }
    }

    /// Expires every reservation whose deadline has passed; returns how many.
    pub fn expire_due(&self) -> usize {
        let now = self.time.now();
        self.state.lock().expire_due(now)
    }

    /// Where a reservation is in its lifecycle (see
    /// [`Inventory::status`](crate::Inventory::status)).
    pub fn status(&self, id: ReservationId) -> Result<ReservationState, ReservationError> {
        if id.instance != self.instance {
            return Err(ReservationError::Unknown);
        }
        let now = self.time.now();
        let state = self.state.lock();
        match state.live.get(&id.cart) {
            Some(record) if record.seq == id.seq => Ok(if record.deadline <= now {
                ReservationState::Expired
            } else {
                ReservationState::Held
            }),
            _ => state
                .finished
                .recall(id.seq)
                .map(Outcome::state)
                .ok_or(ReservationError::Unknown),
        }
    }

    /// `cart`'s live reservation.
    #[must_use]
    pub fn cart(&self, cart: CartId) -> Option<ReservationInfo> {
        let now = self.time.now();
        let state = self.state.lock();
        state.live.get(&cart).map(|record| ReservationInfo {
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

    /// Live reservations.
    #[must_use]
    pub fn live_reservations(&self) -> usize {
        self.state.lock().live.len()
    }

    /// Checks, for every item, that `received = available + held + sold` with `held` counted
    /// from the live reservations, and that the item's own held count agrees.
    pub fn audit(&self) -> Result<AuditReport, AuditError> {
        let state = self.state.lock();
        let mut held = vec![0i64; state.items.len()];
        for record in state.live.values() {
            assert!(
                state.deadlines.contains_key(&(record.deadline, record.seq)),
                "every live reservation is in the deadline index"
            );
            for line in record.lines.iter() {
                held[line.item.index()] += line.quantity;
            }
        }
        assert_eq!(
            state.deadlines.len(),
            state.live.len(),
            "no stale index keys"
        );
        let mut report = AuditReport {
            items: state.items.len(),
            live_reservations: state.live.len(),
            available: 0,
            held: 0,
            sold: 0,
        };
        for (index, (ledger, &held)) in state.items.iter().zip(&held).enumerate() {
            if ledger.received != ledger.available + held + ledger.sold || ledger.held != held {
                return Err(AuditError {
                    item: ItemId::new(index as u32),
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

    /// Validates outside the lock: ids only ever become known, so a length read before locking
    /// is a safe (if momentarily conservative) test.
    fn canonical(&self, lines: &[Line]) -> Result<Canonical<()>, TakeError> {
        let len = self.items();
        Canonical::new(lines, |item| (item.index() < len).then_some(()))
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

    fn confirm_target(&self, target: Target) -> Result<Confirmation, ReservationError> {
        let now = self.time.now();
        let mut state = self.state.lock();
        match state.resolve(target, now, self.instance)? {
            Found::Held => {
                state.finish(target.cart(), Outcome::Confirmed);
                Ok(Confirmation::Confirmed)
            }
            Found::Finished(Outcome::Confirmed) => Ok(Confirmation::AlreadyConfirmed),
            Found::Finished(outcome) => Err(outcome.error()),
        }
    }

    fn release_target(&self, target: Target) -> Result<(), ReservationError> {
        let now = self.time.now();
        let mut state = self.state.lock();
        match state.resolve(target, now, self.instance)? {
            Found::Held => {
                state.finish(target.cart(), Outcome::Released);
                Ok(())
            }
            Found::Finished(outcome) => Err(outcome.error()),
        }
    }

    fn extend_target(&self, target: Target, ttl: Duration) -> Result<Receipt, ReservationError> {
        let ttl_nanos = self
            .time
            .ttl(ttl)
            .ok_or(ReservationError::InvalidTtl { ttl })?;
        let now = self.time.now();
        let deadline = now.saturating_add(ttl_nanos);
        let mut state = self.state.lock();
        match state.resolve(target, now, self.instance)? {
            Found::Held => {
                let cart = target.cart();
                let seq = state.set_deadline(cart, deadline);
                Ok(self.receipt(cart, seq, deadline))
            }
            Found::Finished(outcome) => Err(outcome.error()),
        }
    }
}

impl ReservationEngine for GlobalLockInventory {
    fn name(&self) -> &'static str {
        "global-lock"
    }
    fn register_item(&self, initial: i64) -> Result<ItemId, CatalogError> {
        GlobalLockInventory::register_item(self, initial)
    }
    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        GlobalLockInventory::restock(self, item, quantity)
    }
    fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        GlobalLockInventory::reserve(self, cart, lines, ttl)
    }
    fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        GlobalLockInventory::set_cart(self, cart, lines, ttl)
    }
    fn confirm(&self, id: ReservationId) -> Result<Confirmation, ReservationError> {
        GlobalLockInventory::confirm(self, id)
    }
    fn release(&self, id: ReservationId) -> Result<(), ReservationError> {
        GlobalLockInventory::release(self, id)
    }
    fn release_lines(&self, id: ReservationId, lines: &[Line]) -> Result<(), ReservationError> {
        GlobalLockInventory::release_lines(self, id, lines)
    }
    fn extend(&self, id: ReservationId, ttl: Duration) -> Result<Receipt, ReservationError> {
        GlobalLockInventory::extend(self, id, ttl)
    }
    fn expire_due(&self) -> usize {
        GlobalLockInventory::expire_due(self)
    }
    fn item(&self, item: ItemId) -> Option<ItemLevels> {
        GlobalLockInventory::item(self, item)
    }
}
