//! [`ItemLocksInventory`]: the reservation lifecycle built the classic way, with locks, as a
//! careful engineer would build it. It owns its items, carts, reservations and deadline index;
//! it answers every call exactly as [`Inventory`](crate::Inventory) does.
//!
//! # Locks, and the one order they are taken in
//!
//! * **Cart locks.** Every operation on a cart runs under that cart's mutex, one of a fixed
//!   array picked by the cart's hash (see [`CartLocks`]).
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
    mix, Act, Acted, Ledger, Lifecycle, LifecycleSettings, Locking, Outcome, Record, Reservations,
    Timebase,
};
use crate::error::{CatalogError, TakeError};
use crate::ids::ItemId;
use crate::limits::MAX_ITEMS;
use crate::reservation::Target;
use crate::reservation::{CartId, ReservationError, ReserveError};
use crate::stock::lines::{diff, merge, subtract};
use crate::stock::take::{Canonical, Resolved};
use crate::sync::segmented::Segmented;
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};
use std::collections::BTreeMap;

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

/// Cart locks: a fixed array of mutexes, a cart's being the one its hash picks. Two carts
/// may share a mutex and then wait for each other, which costs time but never correctness or
/// progress: a thread holds at most one cart lock. Nothing is created, looked up or removed per
/// cart, so a cart operation takes one lock and allocates nothing, and memory does not grow
/// with the number of carts.
#[derive(Debug)]
struct CartLocks {
    stripes: Box<[CachePadded<Mutex<()>>]>,
}

/// Mutexes in [`CartLocks`] (a power of two): with uniformly hashed carts, two of `t` threads
/// working on distinct carts share one with probability about `t² / 2 / CART_LOCKS`.
const CART_LOCKS: usize = 1024;

impl CartLocks {
    fn new() -> Self {
        CartLocks {
            stripes: (0..CART_LOCKS).map(|_| CachePadded::default()).collect(),
        }
    }

    /// Runs `f` holding `cart`'s lock.
    #[inline]
    fn with<R>(&self, cart: CartId, f: impl FnOnce() -> R) -> R {
        let _held = self.stripes[mix(cart.get()) as usize & (CART_LOCKS - 1)].lock();
        f()
    }
}

/// Where an operation on an existing reservation found it (under the cart's lock).
enum Lookup<'a> {
    /// Held and not due, with this sequence number; the shard's lock is still held, the
    /// record is at the cart's key.
    Held(MutexGuard<'a, Reservations>, u64),
    /// Finished that way (just now, if it was due).
    Finished(Outcome),
}

/// What a cart update's attempt under the cart lock decided.
enum Step {
    /// The cart holds no reservation: a plain reserve.
    Reserve,
    /// The additions were short and something may be due: expire, then try again.
    ExpireFirst,
    Done(Result<(u64, u64), ReserveError>),
}

/// Stock taken for a reserve that has not published its reservation yet; dropping it gives
/// the stock back.
struct Pending<'a> {
    entries: &'a [Resolved<&'a ItemLock>],
    kept: bool,
}

impl Pending<'_> {
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Pending<'_> {
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
pub type ItemLocksInventory = Lifecycle<ItemLocking>;

/// The locking of [`ItemLocksInventory`] (see the module docs).
#[derive(Debug)]
pub struct ItemLocking {
    items: Segmented<ItemLock>,
    registration: Mutex<()>,
    carts: CartLocks,
    reservations: Box<[CachePadded<Mutex<Reservations>>]>,
    deadlines: Mutex<BTreeMap<(u64, u64), CartId>>,
    max_live_per_shard: usize,
}

impl ItemLocking {
    fn ledger_lock(&self, item: ItemId) -> &ItemLock {
        self.items
            .get(item.get())
            .expect("a reservation holds only registered items")
    }

    fn shard(&self, cart: CartId) -> &Mutex<Reservations> {
        &self.reservations[shard_of(cart)]
    }

    /// Takes `entries` (canonical); on a shortfall, first expires whatever is due (an expired
    /// hold must never turn a buyer away), then tries once more. Holds no cart lock.
    fn take<'a>(
        &self,
        time: &Timebase,
        entries: &'a [Resolved<&'a ItemLock>],
    ) -> Result<Pending<'a>, TakeError> {
        match take_sorted(entries) {
            Err(TakeError::Shortfall { .. }) if self.maybe_due(time.now()) => {
                self.expire_due(time.now());
                take_sorted(entries)?;
            }
            result => result?,
        }
        Ok(Pending {
            entries,
            kept: false,
        })
    }

    /// Whether some reservation is due at `now`.
    fn maybe_due(&self, now: u64) -> bool {
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

    /// Finishes `cart`'s record: out of its shard (whose lock the caller passes and this lets
    /// go of), out of the deadline index, then its stock settled one item lock at a time.
    /// Caller holds the cart's lock.
    fn finish(&self, mut shard: MutexGuard<'_, Reservations>, cart: CartId, outcome: Outcome) {
        let record = shard.finish(cart, outcome);
        drop(shard);
        self.deadlines
            .lock()
            .remove(&(record.deadline(), record.seq));
        for line in record.lines() {
            let mut ledger = self.ledger_lock(line.item).lock();
            match outcome {
                Outcome::Confirmed => ledger.sell(line.quantity),
                Outcome::Released | Outcome::Expired => ledger.give_back(line.quantity),
            }
        }
    }

    /// Under the cart's lock: finds what `target` names, expiring it on the way if due.
    fn find(&self, target: Target, now: u64) -> Result<Lookup<'_>, ReservationError> {
        let cart = target.cart();
        let shard = self.shard(cart).lock();
        match shard.find(target)? {
            Ok((_, deadline)) if deadline <= now => {
                // Due but not reaped yet: it is expired now.
                self.finish(shard, cart, Outcome::Expired);
                Ok(Lookup::Finished(Outcome::Expired))
            }
            Ok((seq, _)) => Ok(Lookup::Held(shard, seq)),
            Err(outcome) => Ok(Lookup::Finished(outcome)),
        }
    }
}

impl Locking for ItemLocking {
    const NAME: &'static str = "item-locks";
    /// The item's lock.
    type Item<'a> = &'a ItemLock;

    fn new(settings: &LifecycleSettings) -> Self {
        let finished_per_shard = settings.finished_memory.div_ceil(SHARDS);
        ItemLocking {
            items: Segmented::new(),
            registration: Mutex::new(()),
            carts: CartLocks::new(),
            reservations: (0..SHARDS)
                .map(|shard| {
                    CachePadded::new(Mutex::new(Reservations::new(
                        shard,
                        SHARD_BITS,
                        finished_per_shard,
                    )))
                })
                .collect(),
            deadlines: Mutex::new(BTreeMap::new()),
            max_live_per_shard: usize::try_from(settings.max_reservations.div_ceil(SHARDS as u64))
                .unwrap_or(usize::MAX),
        }
    }

    #[inline]
    fn resolve(&self, item: ItemId) -> Option<&ItemLock> {
        self.items.get(item.get())
    }

    fn register(&self, initial: i64) -> Result<ItemId, CatalogError> {
        let _serial = self.registration.lock();
        self.items
            .push(
                || Mutex::new(Ledger::default()),
                |lock| *lock.lock() = Ledger::new(initial),
            )
            .map(ItemId::new)
            .ok_or(CatalogError::CatalogFull { max: MAX_ITEMS })
    }

    fn items(&self) -> usize {
        self.items.len() as usize
    }

    fn ledger<R>(&self, item: ItemId, f: impl FnOnce(&mut Ledger) -> R) -> Option<R> {
        self.items.get(item.get()).map(|lock| f(&mut lock.lock()))
    }

    fn reserve(
        &self,
        time: &Timebase,
        cart: CartId,
        added: &Canonical<&ItemLock>,
        ttl: u64,
    ) -> Result<(u64, u64), ReserveError> {
        let deadline = time.now().saturating_add(ttl);
        // Pending before the cart is locked, as `Inventory` does: the same units are needed
        // whether they join the cart's reservation or start a new one.
        let taken = self.take(time, added.entries())?;
        self.carts.with(cart, || {
            let now = time.now();
            let mut shard = self.shard(cart).lock();
            if let Some(record) = shard.live.get_mut(&cart) {
                if record.deadline() > now {
                    // On a merge error `taken` drops and gives the stock back; the cart keeps
                    // what it held, with its old deadline.
                    record.set_lines(merge(record.lines(), added.lines())?.into_iter());
                    let (seq, previous) = (record.seq, record.deadline());
                    record.set_deadline(deadline);
                    drop(shard);
                    self.reindex(cart, seq, previous, deadline);
                    taken.keep();
                    return Ok((seq, deadline));
                }
                // Due but not reaped yet: it expires now, and the cart starts afresh.
                self.finish(shard, cart, Outcome::Expired);
                shard = self.shard(cart).lock();
            }
            if shard.live.len() >= self.max_live_per_shard {
                return Err(ReserveError::TooManyReservations {
                    max: (self.max_live_per_shard * SHARDS) as u64,
                });
            }
            let seq = shard.next_seq();
            shard
                .live
                .insert(cart, Record::new(seq, deadline, added.lines()));
            drop(shard);
            self.deadlines.lock().insert((deadline, seq), cart);
            taken.keep();
            Ok((seq, deadline))
        })
    }

    /// A cart update learns what to add only under the cart lock, so on a shortfall it lets go
    /// of the lock, expires what is due and starts over, once.
    fn set_cart(
        &self,
        time: &Timebase,
        cart: CartId,
        wanted: &Canonical<&ItemLock>,
        ttl: u64,
    ) -> Result<(u64, u64), ReserveError> {
        let deadline = time.now().saturating_add(ttl);
        let mut expired_first = false;
        loop {
            let step = self.carts.with(cart, || {
                let now = time.now();
                let shard = self.shard(cart).lock();
                let Some(record) = shard.live.get(&cart) else {
                    return Step::Reserve;
                };
                if record.deadline() <= now {
                    self.finish(shard, cart, Outcome::Expired);
                    return Step::Reserve;
                }
                let (additions, removals) = diff(record.lines(), wanted.entries());
                // No shard lock while waiting for item locks: the cart lock keeps the record.
                drop(shard);
                if !additions.is_empty() {
                    match take_sorted(&additions) {
                        Ok(()) => {}
                        Err(TakeError::Shortfall { .. })
                            if !expired_first && self.maybe_due(time.now()) =>
                        {
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
                record.set_lines(wanted.lines());
                let (seq, previous) = (record.seq, record.deadline());
                record.set_deadline(deadline);
                drop(shard);
                self.reindex(cart, seq, previous, deadline);
                for line in &removals {
                    self.ledger_lock(line.item).lock().give_back(line.quantity);
                }
                Step::Done(Ok((seq, deadline)))
            });
            match step {
                Step::Reserve => return self.reserve(time, cart, wanted, ttl),
                Step::ExpireFirst => {
                    self.expire_due(time.now());
                    expired_first = true;
                }
                Step::Done(result) => return result,
            }
        }
    }

    fn act(
        &self,
        target: Target,
        now: u64,
        act: Act<'_, &ItemLock>,
    ) -> Result<Acted, ReservationError> {
        let cart = target.cart();
        self.carts.with(cart, || {
            let (mut shard, seq) = match self.find(target, now)? {
                Lookup::Held(shard, seq) => (shard, seq),
                Lookup::Finished(outcome) => return Ok(Acted::Finished(outcome)),
            };
            match act {
                Act::Confirm => self.finish(shard, cart, Outcome::Confirmed),
                Act::Release => self.finish(shard, cart, Outcome::Released),
                Act::Extend { deadline } => {
                    let record = shard.live.get_mut(&cart).expect("found held");
                    let previous = record.deadline();
                    record.set_deadline(deadline);
                    drop(shard);
                    self.reindex(cart, seq, previous, deadline);
                }
                Act::ReleaseLines(released) => {
                    let record = shard.live.get_mut(&cart).expect("found held");
                    let remaining = subtract(record.lines(), released.iter().map(|r| r.line))?;
                    if remaining.is_empty() {
                        self.finish(shard, cart, Outcome::Released);
                    } else {
                        record.set_lines(remaining.into_iter());
                        drop(shard);
                        for r in released {
                            r.at.lock().give_back(r.line.quantity);
                        }
                    }
                }
            }
            Ok(Acted::Done { seq })
        })
    }

    fn expire_due(&self, now: u64) -> usize {
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
        for ((_, seq), cart) in due {
            let settled = self.carts.with(cart, || {
                let shard = self.shard(cart).lock();
                match shard.live.get(&cart) {
                    Some(record) if record.seq == seq && record.deadline() <= now => {
                        // Its key left the index with the due part, unless it was extended
                        // (to a deadline still due) since: `finish` removes that one.
                        self.finish(shard, cart, Outcome::Expired);
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

    fn table<R>(&self, cart: CartId, f: impl FnOnce(&Reservations) -> R) -> R {
        f(&self.shard(cart).lock())
    }

    fn live_reservations(&self) -> usize {
        self.reservations.iter().map(|s| s.lock().live.len()).sum()
    }

    fn count_held(&self, held: &mut [i64]) -> usize {
        let mut live = 0;
        let mut indexed = 0;
        for shard in self.reservations.iter() {
            let shard = shard.lock();
            live += shard.live.len();
            for record in shard.live.values() {
                indexed += usize::from(
                    self.deadlines
                        .lock()
                        .contains_key(&(record.deadline(), record.seq)),
                );
                for line in record.lines() {
                    held[line.item.index()] += line.quantity;
                }
            }
        }
        assert_eq!(
            indexed, live,
            "every live reservation is in the deadline index"
        );
        live
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
