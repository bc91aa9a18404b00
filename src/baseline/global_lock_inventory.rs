//! [`GlobalLockInventory`]: the whole reservation lifecycle behind one `parking_lot` mutex.
//! Items, live reservations keyed by cart, the deadline index and the finished outcomes are
//! one structure, and every operation is one critical section: trivially atomic, and the
//! design every other one must beat to be worth its complexity.
//!
//! Input is validated before the lock is taken (the item count is published with an atomic,
//! as in [`GlobalLock`](super::GlobalLock)); everything else happens under it, including the
//! expiry a shortfall triggers. The façade around it is [`Lifecycle`]'s, shared with the
//! per-item-lock baseline.

use super::lifecycle::{
    Act, Acted, Ledger, Lifecycle, LifecycleSettings, Locking, Outcome, Record, Reservations,
    Timebase,
};
use crate::error::{CatalogError, TakeError};
use crate::ids::{ItemId, Line};
use crate::limits::MAX_ITEMS;
use crate::reservation::Target;
use crate::reservation::{CartId, ReservationError, ReserveError};
use crate::stock::lines::{diff, merge, subtract};
use crate::stock::take::{Canonical, Resolved};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The reservation lifecycle under one `parking_lot` mutex (see the module docs).
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
pub type GlobalLockInventory = Lifecycle<GlobalLocking>;

/// The locking of [`GlobalLockInventory`]: everything under one mutex.
#[derive(Debug)]
pub struct GlobalLocking {
    state: Mutex<State>,
    /// Items registered, readable without the lock so that input is validated before taking it.
    len: AtomicUsize,
    max_live: usize,
}

/// Everything, under the one lock.
#[derive(Debug)]
struct State {
    items: Vec<Ledger>,
    reservations: Reservations,
    /// `(deadline, seq)` of every live reservation; exact.
    deadlines: BTreeMap<(u64, u64), CartId>,
}

impl State {
    /// Takes every line (canonical) or none: checks them all, then applies.
    fn take(&mut self, entries: &[Resolved<()>]) -> Result<(), TakeError> {
        if let [r] = entries {
            // One line: check and apply in one look-up.
            let ledger = &mut self.items[r.line.item.index()];
            if let Some(short) = ledger.shortfall(r.line) {
                return Err(short);
            }
            ledger.hold(r.line.quantity);
            return Ok(());
        }
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
        let record = self.reservations.finish(cart, outcome);
        self.deadlines.remove(&(record.deadline(), record.seq));
        for line in record.lines() {
            let ledger = &mut self.items[line.item.index()];
            match outcome {
                Outcome::Confirmed => ledger.sell(line.quantity),
                Outcome::Released | Outcome::Expired => ledger.give_back(line.quantity),
            }
        }
    }

    /// Moves a live reservation's deadline; returns its sequence number.
    fn set_deadline(&mut self, cart: CartId, deadline: u64) -> u64 {
        let record = self
            .reservations
            .live
            .get_mut(&cart)
            .expect("a live reservation");
        let (seq, previous) = (record.seq, record.deadline());
        record.set_deadline(deadline);
        if previous != deadline {
            self.deadlines.remove(&(previous, seq));
            self.deadlines.insert((deadline, seq), cart);
        }
        seq
    }

    /// Whether `cart` has a live reservation held at `now`; one due is expired on the way.
    fn held(&mut self, cart: CartId, now: u64) -> bool {
        match self.reservations.live.get(&cart) {
            Some(record) if record.deadline() > now => true,
            Some(_) => {
                self.finish(cart, Outcome::Expired);
                false
            }
            None => false,
        }
    }

    fn reserve(
        &mut self,
        cart: CartId,
        added: &Canonical<()>,
        now: u64,
        deadline: u64,
        max_live: usize,
    ) -> Result<(u64, u64), ReserveError> {
        self.take_or_expire(added.entries(), now)?;
        if self.held(cart, now) {
            let record = self.reservations.live.get_mut(&cart).expect("held");
            match merge(record.lines(), added.lines()) {
                Ok(lines) => record.set_lines(lines.into_iter()),
                Err(e) => {
                    self.give_back(added.lines());
                    return Err(e.into());
                }
            }
            return Ok((self.set_deadline(cart, deadline), deadline));
        }
        if self.reservations.live.len() >= max_live {
            self.give_back(added.lines());
            return Err(ReserveError::TooManyReservations {
                max: max_live as u64,
            });
        }
        let seq = self.reservations.next_seq();
        self.reservations
            .live
            .insert(cart, Record::new(seq, deadline, added.lines()));
        self.deadlines.insert((deadline, seq), cart);
        Ok((seq, deadline))
    }
}

impl Locking for GlobalLocking {
    const NAME: &'static str = "global-lock";
    /// Nothing: an item is known when its index is below the published count.
    type Item<'a> = ();

    fn new(settings: &LifecycleSettings) -> Self {
        GlobalLocking {
            state: Mutex::new(State {
                items: Vec::new(),
                reservations: Reservations::new(0, 0, settings.finished_memory),
                deadlines: BTreeMap::new(),
            }),
            len: AtomicUsize::new(0),
            max_live: usize::try_from(settings.max_reservations).unwrap_or(usize::MAX),
        }
    }

    /// Validates outside the lock: ids only ever become known, so a length read before locking
    /// is a safe (if momentarily conservative) test.
    #[inline]
    fn resolve(&self, item: ItemId) -> Option<()> {
        (item.index() < self.items()).then_some(())
    }

    fn register(&self, initial: i64) -> Result<ItemId, CatalogError> {
        let mut state = self.state.lock();
        if state.items.len() >= MAX_ITEMS as usize {
            return Err(CatalogError::CatalogFull { max: MAX_ITEMS });
        }
        state.items.push(Ledger::new(initial));
        // Release: pairs with the Acquire load in `items`; the item exists before its id is
        // considered known (the lock orders the data itself).
        self.len.store(state.items.len(), Ordering::Release);
        Ok(ItemId::new((state.items.len() - 1) as u32))
    }

    #[inline]
    fn items(&self) -> usize {
        // Acquire: pairs with the Release store in `register`.
        self.len.load(Ordering::Acquire)
    }

    fn ledger<R>(&self, item: ItemId, f: impl FnOnce(&mut Ledger) -> R) -> Option<R> {
        self.state.lock().items.get_mut(item.index()).map(f)
    }

    fn reserve(
        &self,
        time: &Timebase,
        cart: CartId,
        added: &Canonical<()>,
        ttl: u64,
    ) -> Result<(u64, u64), ReserveError> {
        // One reading of the clock for the whole critical section.
        let now = time.now();
        let deadline = now.saturating_add(ttl);
        self.state
            .lock()
            .reserve(cart, added, now, deadline, self.max_live)
    }

    fn set_cart(
        &self,
        time: &Timebase,
        cart: CartId,
        wanted: &Canonical<()>,
        ttl: u64,
    ) -> Result<(u64, u64), ReserveError> {
        let now = time.now();
        let deadline = now.saturating_add(ttl);
        let mut state = self.state.lock();
        if !state.held(cart, now) {
            return state.reserve(cart, wanted, now, deadline, self.max_live);
        }
        let record = &state.reservations.live[&cart];
        let (additions, removals) = diff(record.lines(), wanted.entries());
        if !additions.is_empty() {
            state.take_or_expire(&additions, now)?;
        }
        state.give_back(removals.into_iter());
        state
            .reservations
            .live
            .get_mut(&cart)
            .expect("checked live above")
            .set_lines(wanted.lines());
        Ok((state.set_deadline(cart, deadline), deadline))
    }

    fn act(&self, target: Target, now: u64, act: Act<'_, ()>) -> Result<Acted, ReservationError> {
        let cart = target.cart();
        let mut state = self.state.lock();
        let (seq, deadline) = match state.reservations.find(target)? {
            Ok(live) => live,
            Err(outcome) => return Ok(Acted::Finished(outcome)),
        };
        if deadline <= now {
            state.finish(cart, Outcome::Expired);
            return Ok(Acted::Finished(Outcome::Expired));
        }
        match act {
            Act::Confirm => state.finish(cart, Outcome::Confirmed),
            Act::Release => state.finish(cart, Outcome::Released),
            Act::Extend { deadline } => {
                state.set_deadline(cart, deadline);
            }
            Act::ReleaseLines(released) => {
                let record = state.reservations.live.get_mut(&cart).expect("held");
                let remaining = subtract(record.lines(), released.iter().map(|r| r.line))?;
                if remaining.is_empty() {
                    state.finish(cart, Outcome::Released);
                } else {
                    record.set_lines(remaining.into_iter());
                    state.give_back(released.iter().map(|r| r.line));
                }
            }
        }
        Ok(Acted::Done { seq })
    }

    fn expire_due(&self, now: u64) -> usize {
        self.state.lock().expire_due(now)
    }

    fn table<R>(&self, _cart: CartId, f: impl FnOnce(&Reservations) -> R) -> R {
        f(&self.state.lock().reservations)
    }

    fn live_reservations(&self) -> usize {
        self.state.lock().reservations.live.len()
    }

    fn count_held(&self, held: &mut [i64]) -> usize {
        let state = self.state.lock();
        for record in state.reservations.live.values() {
            assert!(
                state
                    .deadlines
                    .contains_key(&(record.deadline(), record.seq)),
                "every live reservation is in the deadline index"
            );
            for line in record.lines() {
                held[line.item.index()] += line.quantity;
            }
        }
        assert_eq!(
            state.deadlines.len(),
            state.reservations.live.len(),
            "no stale index keys"
        );
        state.reservations.live.len()
    }
}
