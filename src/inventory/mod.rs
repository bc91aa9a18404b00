//! [`Inventory`]: the reservation engine an order service holds. It ties the stock core, the
//! cart registry and the timer together; every atomic and every lock stays inside.

mod admission;
pub(crate) mod audit;
mod builder;
mod catalog;
pub(crate) mod engine;
mod lifecycle;
pub(crate) mod outcomes;
mod shared;
pub(crate) mod trace;

use crate::reservation::Target;
pub use audit::{AuditError, AuditReport, ItemLevels};
pub use builder::InventoryBuilder;
use lifecycle::Found;
use shared::public_state;
pub use shared::Inventory;

use crate::ids::Line;
use crate::reservation::{
    CartId, Confirmation, Receipt, ReservationError, ReservationId, ReservationInfo,
    ReservationState, ReserveError,
};
use crate::stock::stats::Stats;
use crate::timer::LagHistogram;
use std::time::Duration;

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
