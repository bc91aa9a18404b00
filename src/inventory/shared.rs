//! The engine's shared state: the stock, the cart registry, the epoch collector, the per-shard
//! lifecycle state and the timer, with the small helpers every operation uses (the clock
//! reading, ids, receipts), and the inventory's side of the timer's [`Reservations`].

use crate::carts::epoch::Epoch;
use crate::carts::registry::{Entry, Registry, State};
use crate::inventory::outcomes::Outcomes;
use crate::reservation::{CartId, Receipt, ReservationError, ReservationId, ReservationState};
use crate::stock::Stock;
use crate::sync::shard;
use crate::timer::clock::Clock;
use crate::timer::reaper::Reaper;
use crate::timer::{Reservations, Timer, Token};
// Counters that order nothing (reservation numbers, live counts for the admission bound, push
// counts) are plain std atomics even under loom, so the models explore only the protocols.
use crossbeam_epoch::Guard;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicI64 as PlainI64, AtomicU64 as PlainU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bits of a reservation's sequence number that name the shard that created it.
pub(super) const SHARD_BITS: u32 = 8;

/// Per-shard state of the lifecycle (see [`crate::sync::shard`]).
#[derive(Debug)]
pub(super) struct Shard {
    /// Next reservation number of this shard.
    pub(super) counter: PlainU64,
    /// Reservations created by this shard and not yet finished.
    pub(super) live: PlainI64,
    /// Outcomes of the shard's finished reservations (see [`crate::inventory::outcomes`]).
    pub(super) finished: Outcomes,
}

/// The engine's shared state (the reaper thread holds a reference too).
#[derive(Debug)]
pub(crate) struct Inner {
    pub(super) stock: Stock,
    pub(super) registry: Registry,
    pub(super) epoch: Epoch,
    pub(super) shards: Box<[CachePadded<Shard>]>,
    pub(super) timer: Timer,
    pub(super) clock: Arc<dyn Clock>,
    /// The instant all deadlines count from, and the clock's `nanos()` reading at that
    /// instant (if it gives one).
    pub(super) origin: Instant,
    pub(super) origin_nanos: Option<u64>,
    pub(super) instance: u32,
    /// The bound on live reservations, and each shard's share of it.
    pub(super) max_live: u64,
    pub(super) max_live_per_shard: i64,
    pub(super) max_ttl: Duration,
    /// How long a take may wait for operations in flight (`None`: until they settle).
    pub(super) max_wait: Option<Duration>,
    /// The system clock (Unix nanoseconds) at `origin`: deadlines in the journal and request
    /// keys are wall-clock times.
    pub(super) anchor_unix_ns: u64,
    /// The journal, if any (see `durable.rs`).
    pub(super) journal: Option<Box<super::durable::Journal>>,
    /// Request keys answered recently (see `Inventory::reserve_once`).
    pub(super) keys: crate::journal::keys::Keys,
}

impl Inner {
    /// Nanoseconds since the origin.
    #[inline]
    pub(super) fn now(&self) -> u64 {
        if let (Some(origin), Some(now)) = (self.origin_nanos, self.clock.nanos()) {
            return now.saturating_sub(origin);
        }
        let elapsed = self.clock.now().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    pub(super) fn instant(&self, nanos: u64) -> Instant {
        self.origin + Duration::from_nanos(nanos)
    }

    /// The current time, and the deadline `ttl_nanos` from it.
    #[inline]
    pub(super) fn deadline(&self, ttl_nanos: u64) -> (u64, u64) {
        let now = self.now();
        (now, now.saturating_add(ttl_nanos))
    }

    pub(super) fn ttl(&self, ttl: Duration) -> Option<u64> {
        if ttl.is_zero() || ttl > self.max_ttl {
            return None;
        }
        u64::try_from(ttl.as_nanos()).ok()
    }

    #[inline]
    pub(super) fn shard_index(&self) -> usize {
        shard::thread_number() & (self.shards.len() - 1)
    }

    pub(super) fn shard_of(&self, seq: u64) -> Option<&Shard> {
        self.shards
            .get((seq & ((1 << SHARD_BITS) - 1)) as usize)
            .map(|s| &**s)
    }

    pub(super) fn id(&self, entry: &Entry) -> ReservationId {
        ReservationId {
            cart: CartId::new(entry.cart),
            seq: entry.seq,
            instance: self.instance,
        }
    }

    pub(super) fn receipt(&self, entry: &Entry, deadline: u64) -> Receipt {
        Receipt {
            id: self.id(entry),
            deadline: self.instant(deadline),
        }
    }

    /// Pins the current thread in this inventory's collector (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn epoch_pin(&self) -> Guard {
        self.epoch.pin()
    }

    /// The timer's `clean` on shard `index` (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn clean_shard(&self, index: usize, batch: usize) {
        self.timer.clean(index, batch, self);
    }

    /// Every inbox into the wheel, without expiries (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn drain_inboxes(&self) {
        self.timer.drain_inboxes(self);
    }

    /// The timer's `maybe_due` (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn may_be_due(&self, now: u64) -> bool {
        self.timer.maybe_due(now)
    }

    /// Expires the reservation `token` names if held and due (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn expire_token(&self, token: Token, now: u64, guard: &Guard) -> Option<u64> {
        Reservations::expire(self, token, now, guard)
    }
}

impl Reservations for Inner {
    fn now(&self) -> u64 {
        Inner::now(self)
    }

    fn pin(&self) -> Guard {
        self.epoch.pin()
    }

    fn is_finished(&self, token: Token) -> bool {
        self.recall(token.cart, token.seq).is_some()
    }

    /// Whether `token` no longer names a held reservation with that deadline: its outcome is
    /// remembered, its cart holds another reservation (or none), or its deadline moved (the
    /// move pushed a token of its own).
    fn is_stale(&self, token: Token, guard: &Guard) -> bool {
        if self.recall(token.cart, token.seq).is_some() {
            return true;
        }
        !self
            .registry
            .get(token.cart, guard)
            .filter(|e| e.seq == token.seq)
            .map(|e| e.snapshot(guard))
            .is_some_and(|s| s.state == State::Held && s.hold().deadline == token.deadline)
    }

    /// Expires the reservation `token` names if it is still held and due at `now`; returns its
    /// deadline if this call expired it. A stale token (the reservation finished, or its
    /// deadline moved) does nothing.
    fn expire(&self, token: Token, now: u64, guard: &Guard) -> Option<u64> {
        let entry = self
            .registry
            .get(token.cart, guard)
            .filter(|e| e.seq == token.seq)?;
        let current = entry.snapshot(guard);
        let deadline = current.hold().deadline;
        (current.state == State::Held
            && deadline <= now
            && self.settle(entry, current, State::Expired, guard))
        .then_some(deadline)
    }

    fn live(&self) -> usize {
        self.live_reservations()
    }
}

pub(super) fn finished_error(state: State) -> ReservationError {
    match state {
        State::Confirmed => ReservationError::Confirmed,
        State::Released => ReservationError::Released,
        _ => ReservationError::Expired,
    }
}

pub(super) fn public_state(state: State) -> ReservationState {
    match state {
        State::Held => ReservationState::Held,
        State::Confirmed => ReservationState::Confirmed,
        State::Released => ReservationState::Released,
        State::Expired => ReservationState::Expired,
    }
}

/// The reservation engine: items, stock, carts and their reservations, and expiry.
///
/// `Inventory` is `Send + Sync`; share it (in an `Arc`, or by reference in scoped threads)
/// between every thread of an order service. Nothing on the confirm, release or extend paths
/// takes a lock; a reserve takes one only to expire due holds before it refuses a buyer. See
/// the crate documentation ("Progress") for the exact guarantees.
///
/// ```
/// use atomic_stock::{CartId, Confirmation, Inventory, Line};
/// use std::time::Duration;
///
/// let inventory = Inventory::new();
/// let mug = inventory.register_item(10).unwrap();
/// let receipt = inventory
///     .reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(600))
///     .unwrap();
/// assert_eq!(inventory.item(mug).unwrap().held, 2);
/// // Payment succeeded:
/// assert_eq!(inventory.confirm(receipt.id), Ok(Confirmation::Confirmed));
/// assert_eq!(inventory.item(mug).unwrap().sold, 2);
/// ```
#[derive(Debug)]
pub struct Inventory {
    pub(crate) inner: Arc<Inner>,
    pub(super) reaper: Option<Reaper>,
    /// The thread writing automatic snapshots of the journal, if any.
    pub(super) snapshotter: Option<Reaper>,
}

impl Drop for Inventory {
    fn drop(&mut self) {
        if let Some(snapshotter) = self.snapshotter.take() {
            snapshotter.stop();
        }
        if let Some(reaper) = self.reaper.take() {
            reaper.stop();
        }
    }
}
