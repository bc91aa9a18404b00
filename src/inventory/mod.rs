//! [`Inventory`]: the reservation engine an order service holds. It ties the stock core, the
//! cart registry and the timer together; every atomic and every lock stays inside.

mod admission;
pub(crate) mod audit;
mod builder;
mod catalog;
pub(crate) mod engine;
mod lifecycle;
pub(crate) mod outcomes;
pub(crate) mod trace;

pub use audit::{AuditError, AuditReport, ItemLevels};
pub use builder::InventoryBuilder;
use lifecycle::{Found, Target};

use crate::carts::epoch::Epoch;
use crate::carts::registry::{Entry, Registry, State};
use crate::ids::Line;
use crate::inventory::outcomes::Outcomes;
use crate::reservation::{
    CartId, Confirmation, Receipt, ReservationError, ReservationId, ReservationInfo,
    ReservationState, ReserveError,
};
use crate::stock::stats::Stats;
use crate::stock::Stock;
use crate::sync::shard;
use crate::timer::clock::Clock;
use crate::timer::reaper::Reaper;
use crate::timer::{LagHistogram, Reservations, Timer, Token};
// Counters that order nothing (reservation numbers, live counts for the admission bound, push
// counts) are plain std atomics even under loom, so the models explore only the protocols.
use crossbeam_epoch::Guard;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicI64 as PlainI64, AtomicU64 as PlainU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bits of a reservation's sequence number that name the shard that created it.
const SHARD_BITS: u32 = 8;

/// Per-shard state of the lifecycle (see [`crate::sync::shard`]).
#[derive(Debug)]
struct Shard {
    /// Next reservation number of this shard.
    counter: PlainU64,
    /// Reservations created by this shard and not yet finished.
    live: PlainI64,
    /// Outcomes of the shard's finished reservations (see [`crate::inventory::outcomes`]).
    finished: Outcomes,
}

/// The engine's shared state (the reaper thread holds a reference too).
#[derive(Debug)]
pub(crate) struct Inner {
    stock: Stock,
    registry: Registry,
    epoch: Epoch,
    shards: Box<[CachePadded<Shard>]>,
    timer: Timer,
    clock: Arc<dyn Clock>,
    /// The instant all deadlines count from, and the clock's `nanos()` reading at that
    /// instant (if it gives one).
    origin: Instant,
    origin_nanos: Option<u64>,
    instance: u32,
    /// The bound on live reservations, and each shard's share of it.
    max_live: u64,
    max_live_per_shard: i64,
    max_ttl: Duration,
}

impl Inner {
    /// Nanoseconds since the origin.
    #[inline]
    fn now(&self) -> u64 {
        if let (Some(origin), Some(now)) = (self.origin_nanos, self.clock.nanos()) {
            return now.saturating_sub(origin);
        }
        let elapsed = self.clock.now().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.origin + Duration::from_nanos(nanos)
    }

    fn ttl(&self, ttl: Duration) -> Option<u64> {
        if ttl.is_zero() || ttl > self.max_ttl {
            return None;
        }
        u64::try_from(ttl.as_nanos()).ok()
    }

    #[inline]
    fn shard_index(&self) -> usize {
        shard::thread_number() & (self.shards.len() - 1)
    }

    fn shard_of(&self, seq: u64) -> Option<&Shard> {
        self.shards
            .get((seq & ((1 << SHARD_BITS) - 1)) as usize)
            .map(|s| &**s)
    }

    fn id(&self, entry: &Entry) -> ReservationId {
        ReservationId {
            cart: CartId::new(entry.cart),
            seq: entry.seq,
            instance: self.instance,
        }
    }

    fn receipt(&self, entry: &Entry, deadline: u64) -> Receipt {
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

fn finished_error(state: State) -> ReservationError {
    match state {
        State::Confirmed => ReservationError::Confirmed,
        State::Released => ReservationError::Released,
        _ => ReservationError::Expired,
    }
}

fn public_state(state: State) -> ReservationState {
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
/// between every thread of an order service. Nothing on the reserve, confirm, release or
/// extend paths takes a lock. See the crate documentation for the exact guarantees.
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
    reaper: Option<Reaper>,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::new()
    }
}

impl Inventory {
    /// An empty inventory with default settings ([`CoarseClock`](crate::CoarseClock), no reaper thread).
    #[must_use]
    pub fn new() -> Self {
        InventoryBuilder::default().build()
    }

    /// Configures an inventory.
    #[must_use]
    pub fn builder() -> InventoryBuilder {
        InventoryBuilder::default()
    }

    /// Reserves `lines` for `cart` until `ttl` from now, all or nothing.
    ///
    /// If the cart already holds a reservation, the lines are added to it (all or nothing)
    /// and its deadline becomes `ttl` from now; the receipt then carries the same id. Lines
    /// are validated and merged first; bad input changes nothing.
    ///
    /// If stock is short, reservations already past their deadline are expired first, so an
    /// expired hold never turns a buyer away.
    pub fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let result = self.inner.reserve(cart, lines, ttl);
        trace::reserved!(cart, lines, &result);
        result
    }

    /// Sets `cart`'s reservation to exactly `lines`, with a deadline `ttl` from now: takes
    /// only what is added and gives back only what is dropped, atomically. If the additions
    /// cannot be had, the cart keeps exactly what it held. A cart without a reservation gets
    /// a new one. To empty a cart, [`release_cart`](Inventory::release_cart) it.
    pub fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let result = self.inner.set_cart(cart, lines, ttl);
        trace::reserved!(cart, lines, &result);
        result
    }

    /// Confirms a reservation (payment succeeded): its stock becomes sold.
    ///
    /// Idempotent: confirming again answers [`Confirmation::AlreadyConfirmed`] while the
    /// outcome is remembered. Fails if the reservation was released, has expired (its deadline
    /// passed, even if no expiry has run yet), or is unknown.
    pub fn confirm(&self, id: ReservationId) -> Result<Confirmation, ReservationError> {
        self.inner.confirm(Target::Id(id))
    }

    /// Confirms `cart`'s live reservation.
    ///
    /// Fails with [`ReservationError::NoReservation`] when the cart holds none. If the cart's
    /// reservation finishes concurrently (or finished an instant ago and its entry is still
    /// being retired), the answer names how it finished instead (`AlreadyConfirmed`,
    /// `Released`, `Expired`), as the by-id call would.
    pub fn confirm_cart(&self, cart: CartId) -> Result<Confirmation, ReservationError> {
        self.inner.confirm(Target::Cart(cart))
    }

    /// Releases (cancels) a reservation: its stock is available again at once.
    pub fn release(&self, id: ReservationId) -> Result<(), ReservationError> {
        self.inner.release(Target::Id(id))
    }

    /// Releases `cart`'s live reservation. Answers like
    /// [`confirm_cart`](Inventory::confirm_cart) when the reservation finishes concurrently.
    pub fn release_cart(&self, cart: CartId) -> Result<(), ReservationError> {
        self.inner.release(Target::Cart(cart))
    }

    /// Gives back some of a held reservation's stock: `lines` (validated and merged like a
    /// reserve's) must each be held in full. Giving back everything releases the reservation.
    pub fn release_lines(&self, id: ReservationId, lines: &[Line]) -> Result<(), ReservationError> {
        self.inner.release_lines(Target::Id(id), lines)
    }

    /// Moves a held reservation's deadline to `ttl` from now (a slow payment).
    pub fn extend(&self, id: ReservationId, ttl: Duration) -> Result<Receipt, ReservationError> {
        self.inner.extend(Target::Id(id), ttl)
    }

    /// Moves `cart`'s reservation deadline to `ttl` from now.
    pub fn extend_cart(&self, cart: CartId, ttl: Duration) -> Result<Receipt, ReservationError> {
        self.inner.extend(Target::Cart(cart), ttl)
    }

    /// Expires every reservation whose deadline has passed, and returns how many. For hosts
    /// that drive time themselves; takes the timer's mutex (see the crate docs, "Progress").
    pub fn expire_due(&self) -> usize {
        self.inner.expire_due()
    }

    /// Expires at most `limit` reservations whose deadline has passed (earliest deadlines
    /// first, to the timer's resolution of about a millisecond) and returns how many: for a
    /// host that spreads expiry over short steps, e.g. between the tasks of an async runtime.
    /// What is left stays due and goes at the next call, or when a reserve needs its stock.
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line, ManualClock};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let inventory = Inventory::builder().clock(clock.clone()).build();
    /// let mug = inventory.register_item(10).unwrap();
    /// for cart in 0..5 {
    ///     inventory
    ///         .reserve(CartId::new(cart), &[Line::new(mug, 1)], Duration::from_secs(60))
    ///         .unwrap();
    /// }
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(inventory.expire_due_at_most(2), 2);
    /// assert_eq!(inventory.expire_due_at_most(10), 3);
    /// assert_eq!(inventory.item(mug).unwrap().available, 10);
    /// ```
    pub fn expire_due_at_most(&self, limit: usize) -> usize {
        self.inner.expire_due_at_most(limit)
    }

    /// Where a reservation is in its lifecycle: live, or finished and still remembered.
    ///
    /// A held reservation whose deadline has passed (by the clock reading this call takes as
    /// it starts) is expired by this call, like by any other: once one call has answered
    /// `Expired`, every later call agrees, whatever clock readings they took.
    pub fn status(&self, id: ReservationId) -> Result<ReservationState, ReservationError> {
        let now = self.inner.now();
        let guard = self.inner.epoch.pin();
        Ok(match self.inner.resolve(Target::Id(id), now, &guard)? {
            Found::Held(..) => ReservationState::Held,
            Found::Finished(state) => public_state(state),
        })
    }

    /// A live reservation's lines and deadline; `None` once it finished (a due reservation is
    /// expired by this call, as by [`status`](Inventory::status)).
    #[must_use]
    pub fn reservation(&self, id: ReservationId) -> Option<ReservationInfo> {
        self.info(Target::Id(id))
    }

    /// `cart`'s live reservation (as [`reservation`](Inventory::reservation)).
    #[must_use]
    pub fn cart(&self, cart: CartId) -> Option<ReservationInfo> {
        self.info(Target::Cart(cart))
    }

    fn info(&self, target: Target) -> Option<ReservationInfo> {
        let now = self.inner.now();
        let guard = self.inner.epoch.pin();
        let Ok(Found::Held(entry, current)) = self.inner.resolve(target, now, &guard) else {
            return None;
        };
        let hold = current.hold();
        Some(ReservationInfo {
            id: self.inner.id(entry),
            state: ReservationState::Held,
            deadline: self.inner.instant(hold.deadline),
            lines: hold.lines().to_vec(),
        })
    }

    /// Frees retired memory now rather than eventually: finished carts' entries and replaced
    /// holds are reclaimed through epochs, normally a little at a time as threads work. Call it
    /// at quiescence (tests, memory measurements); it is never needed for correctness.
    pub fn reclaim(&self) {
        self.inner.epoch.flush();
    }

    /// Live reservations (exact at quiescence).
    #[must_use]
    pub fn live_reservations(&self) -> usize {
        self.inner.live_reservations()
    }

    /// Operation counters since creation.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.inner.stock.stats()
    }

    /// Deadline tokens the timer holds (in its wheel, and in its inboxes not yet drained): at
    /// most about twice the live reservations plus [`TIMER_SLACK`](crate::limits::TIMER_SLACK)
    /// after an [`expire_due`](Inventory::expire_due), plus what threads pushed since. For
    /// memory monitoring.
    #[must_use]
    pub fn timer_tokens(&self) -> usize {
        self.inner.timer.tokens()
    }

    /// Pins the calling thread in this inventory's epoch for `duration`, as a thread
    /// preempted or stopped inside an operation would be: for tests of the memory bound.
    #[doc(hidden)]
    pub fn stall_pinned(&self, duration: Duration) {
        let _guard = self.inner.epoch.pin();
        std::thread::sleep(duration);
    }

    /// Distribution of expiry lag (deadline to stock returned) of every expiry so far.
    #[must_use]
    pub fn expiry_lag(&self) -> LagHistogram {
        self.inner.timer.lag()
    }
}

impl Drop for Inventory {
    fn drop(&mut self) {
        if let Some(reaper) = self.reaper.take() {
            reaper.stop();
        }
    }
}
