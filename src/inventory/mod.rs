//! [`Inventory`]: the reservation engine an order service holds. It ties the stock core, the
//! cart registry and the timer together; every atomic and every lock stays inside.

mod admission;
pub(crate) mod audit;
mod builder;
mod catalog;
mod durable;
pub(crate) mod engine;
mod lifecycle;
pub(crate) mod outcomes;
mod shared;
pub(crate) mod trace;
mod wait;

use crate::reservation::Target;
pub use audit::{AuditError, AuditReport, ItemLevels};
pub use builder::InventoryBuilder;
use lifecycle::Found;
use shared::public_state;
pub use shared::Inventory;
pub use wait::WaitForStock;

use crate::error::TakeError;
use crate::ids::{ItemId, Line};
use crate::reservation::{
    CartId, Confirmation, Receipt, ReservationError, ReservationId, ReservationInfo,
    ReservationState, ReserveError,
};
use crate::stock::park;
use crate::stock::stats::Stats;
use crate::sync::yield_now::YieldNow;
use crate::timer::LagHistogram;
use std::time::{Duration, Instant};

impl Inventory {
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
        let result = self
            .inner
            .logged(|| self.within_max_wait(|| self.inner.reserve(cart, lines, ttl)));
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
        let result = self
            .inner
            .logged(|| self.within_max_wait(|| self.inner.set_cart(cart, lines, ttl)));
        trace::reserved!(cart, lines, &result);
        result
    }

    /// [`reserve`](Inventory::reserve) for async code: it never parks the executor's thread.
    /// Where the blocking call would wait for other requests' units in flight, this future
    /// yields to the executor and asks again when polled next, so a task holding a worker
    /// thread never stalls the tasks beside it. Dropping it before it completes leaves nothing
    /// taken: each attempt is a whole call that either took everything or nothing.
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line};
    /// use std::time::Duration;
    ///
    /// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # runtime.block_on(async {
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_item(10).unwrap();
    /// let receipt = inventory
    ///     .reserve_async(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(600))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(inventory.item(mug).unwrap().held, 2);
    /// # let _ = receipt;
    /// # });
    /// ```
    pub async fn reserve_async(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let result = until_decided(|| self.inner.reserve(cart, lines, ttl)).await;
        let result = self.inner.logged_async(result).await;
        trace::reserved!(cart, lines, &result);
        result
    }

    /// [`set_cart`](Inventory::set_cart) for async code: never parks, as
    /// [`reserve_async`](Inventory::reserve_async).
    pub async fn set_cart_async(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let result = until_decided(|| self.inner.set_cart(cart, lines, ttl)).await;
        let result = self.inner.logged_async(result).await;
        trace::reserved!(cart, lines, &result);
        result
    }

    /// Runs a take within the builder's [`max_wait`](InventoryBuilder::max_wait), if any.
    #[inline]
    fn within_max_wait<R>(&self, take: impl FnOnce() -> R) -> R {
        match self.inner.max_wait {
            None => take(),
            Some(wait) => park::bounded(Instant::now().checked_add(wait), take),
        }
    }

    /// Confirms a reservation (payment succeeded): its stock becomes sold.
    ///
    /// Idempotent: confirming again answers [`Confirmation::AlreadyConfirmed`] while the
    /// outcome is remembered. Fails if the reservation was released, has expired (its deadline
    /// passed, even if no expiry has run yet), or is unknown.
    pub fn confirm(&self, id: ReservationId) -> Result<Confirmation, ReservationError> {
        self.inner.logged(|| self.inner.confirm(Target::Id(id)))
    }

    /// Confirms `cart`'s live reservation.
    ///
    /// Fails with [`ReservationError::NoReservation`] when the cart holds none. If the cart's
    /// reservation finishes concurrently (or finished an instant ago and its entry is still
    /// being retired), the answer names how it finished instead (`AlreadyConfirmed`,
    /// `Released`, `Expired`), as the by-id call would.
    pub fn confirm_cart(&self, cart: CartId) -> Result<Confirmation, ReservationError> {
        self.inner.logged(|| self.inner.confirm(Target::Cart(cart)))
    }

    /// Releases (cancels) a reservation: its stock is available again at once.
    pub fn release(&self, id: ReservationId) -> Result<(), ReservationError> {
        self.inner.logged(|| self.inner.release(Target::Id(id)))
    }

    /// Releases `cart`'s live reservation. Answers like
    /// [`confirm_cart`](Inventory::confirm_cart) when the reservation finishes concurrently.
    pub fn release_cart(&self, cart: CartId) -> Result<(), ReservationError> {
        self.inner.logged(|| self.inner.release(Target::Cart(cart)))
    }

    /// Gives back some of a held reservation's stock: `lines` (validated and merged like a
    /// reserve's) must each be held in full. Giving back everything releases the reservation.
    pub fn release_lines(&self, id: ReservationId, lines: &[Line]) -> Result<(), ReservationError> {
        self.inner
            .logged(|| self.inner.release_lines(Target::Id(id), lines))
    }

    /// Moves a held reservation's deadline to `ttl` from now (a slow payment).
    pub fn extend(&self, id: ReservationId, ttl: Duration) -> Result<Receipt, ReservationError> {
        self.inner.logged(|| self.inner.extend(Target::Id(id), ttl))
    }

    /// Moves `cart`'s reservation deadline to `ttl` from now.
    pub fn extend_cart(&self, cart: CartId, ttl: Duration) -> Result<Receipt, ReservationError> {
        self.inner
            .logged(|| self.inner.extend(Target::Cart(cart), ttl))
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

    /// Runs `f` while one operation is in flight on `item` (announced, as a release about to
    /// return units would be), then ends it returning nothing: what a request stopped between
    /// its announcement and its decision looks like to others. For tests of the wait for
    /// operations in flight. Returns `None` for an unknown item.
    #[doc(hidden)]
    pub fn with_in_flight<R>(&self, item: ItemId, f: impl FnOnce() -> R) -> Option<R> {
        let slot = self.inner.stock.catalog().slot(item)?;
        let source = slot.announce();
        struct End<'a>(&'a crate::stock::slot::Slot, crate::stock::word::Source);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                self.0.commit(self.1);
            }
        }
        let _end = End(slot, source);
        Some(f())
    }

    /// Distribution of expiry lag (deadline to stock returned) of every expiry so far.
    #[must_use]
    pub fn expiry_lag(&self) -> LagHistogram {
        self.inner.timer.lag()
    }
}

/// Repeats `attempt` (a reserve or cart update) with no wait for requests in flight, yielding
/// to the executor between attempts, until one decides.
async fn until_decided(
    attempt: impl Fn() -> Result<Receipt, ReserveError>,
) -> Result<Receipt, ReserveError> {
    loop {
        let result = park::bounded(Some(Instant::now()), &attempt);
        if !matches!(result, Err(ReserveError::Stock(TakeError::Busy { .. }))) {
            return result;
        }
        YieldNow::default().await;
    }
}
