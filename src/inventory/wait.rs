//! Waiting for stock: [`Inventory::reserve_waiting`], a reserve that waits until every line
//! can be had, first come first served among waiters per item (the queues and their wake-ups
//! are in [`crate::stock::waitlist`]).

use super::{trace, Inventory};
use crate::error::TakeError;
use crate::ids::Line;
use crate::reservation::{CartId, Receipt, ReserveError};
use crate::stock::park;
use crate::stock::waitlist::Registration;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

impl Inventory {
    /// Reserves `lines` for `cart` (as [`reserve`](Inventory::reserve)) once every line can be
    /// had, waiting for stock as long as it takes: a waitlist for a drop or a restock.
    ///
    /// * **First come, first served per item.** The waiter queues on every item of its request;
    ///   only a waiter at the head of every one of its items' queues tries to take, so a big
    ///   cart waiting first is not overtaken by small carts that queued after it. A waiter
    ///   that takes leaves its queues and wakes the next. Plain (non-waiting) reserves do not
    ///   queue: they take whatever is available when they run, waiters or not, as they always
    ///   did.
    /// * **Exact.** A waiter at the head that finds an item short arms the item and then tries
    ///   again, so it never sleeps while its stock is available: units given back by a release,
    ///   an expiry (when it runs: the reaper, [`expire_due`](Inventory::expire_due), or a
    ///   reserve that needs them), a cart update or a restock wake it.
    /// * **Cancel-safe.** Each try is a whole reserve that took everything or nothing. Dropping
    ///   the future leaves nothing taken and removes it from the queues, passing on a wake-up
    ///   it had not used. To give up after a while, wrap it in your executor's timeout, or use
    ///   `reserve_waiting_until` (feature `tokio`).
    /// * Bad input (zero time to live, unknown item, no lines, ...) answers the typed error
    ///   [`reserve`](Inventory::reserve) gives, at the first poll. The receipt's deadline is
    ///   `ttl` from the moment the stock is taken. A delisted item ends the wait with
    ///   [`TakeError::Delisted`].
    ///
    /// The future works on any executor (it uses only [`std::task::Waker`]) and never parks
    /// the executor's thread; the plain reserve paths pay nothing for it. Its queue entries
    /// go when it completes or is dropped; a future leaked without being dropped
    /// (`mem::forget`) stays queued, ahead of everyone who queued after it on its items.
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// # let runtime = tokio::runtime::Builder::new_multi_thread()
    /// #     .worker_threads(2).enable_time().build().unwrap();
    /// # runtime.block_on(async {
    /// let ttl = Duration::from_secs(600);
    /// let inventory = Arc::new(Inventory::new());
    /// let mug = inventory.register_item(1).unwrap();
    /// let first = inventory.reserve(CartId::new(1), &[Line::new(mug, 1)], ttl).unwrap();
    ///
    /// // Cart 2 waits for a mug; the first buyer cancels, and the waiter gets it.
    /// let waiter = tokio::spawn({
    ///     let inventory = inventory.clone();
    ///     async move {
    ///         inventory.reserve_waiting(CartId::new(2), &[Line::new(mug, 1)], ttl).await
    ///     }
    /// });
    /// inventory.release(first.id).unwrap();
    /// let receipt = waiter.await.unwrap().unwrap();
    /// assert_eq!(inventory.cart(CartId::new(2)).unwrap().id, receipt.id);
    ///
    /// // Giving up after a while: any timeout will do; nothing is taken when it fires.
    /// let gave_up = tokio::time::timeout(
    ///     Duration::from_millis(10),
    ///     inventory.reserve_waiting(CartId::new(3), &[Line::new(mug, 1)], ttl),
    /// )
    /// .await;
    /// assert!(gave_up.is_err());
    /// assert!(inventory.cart(CartId::new(3)).is_none());
    /// # });
    /// ```
    pub fn reserve_waiting<'a>(
        &'a self,
        cart: CartId,
        lines: &'a [Line],
        ttl: Duration,
    ) -> WaitForStock<'a> {
        WaitForStock {
            inventory: self,
            cart,
            lines,
            ttl,
            state: Waiting::Start,
        }
    }

    /// [`reserve_waiting`](Inventory::reserve_waiting), giving up at `deadline` with
    /// [`ReserveError::WaitTimedOut`] and nothing taken. A reserve that completes is returned,
    /// even if the deadline passed meanwhile. Uses tokio's timer: call it within a tokio
    /// runtime with time enabled.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn reserve_waiting_until(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Receipt, ReserveError> {
        let wait = self.reserve_waiting(cart, lines, ttl);
        match tokio::time::timeout_at(deadline.into(), wait).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ReserveError::WaitTimedOut),
        }
    }
}

/// The future of [`Inventory::reserve_waiting`]: resolves to the receipt once every line could
/// be had, or to the error a reserve gave for anything but a shortfall. Dropping it leaves
/// nothing taken.
#[must_use = "a waiting reserve does nothing unless polled"]
#[derive(Debug)]
pub struct WaitForStock<'a> {
    inventory: &'a Inventory,
    cart: CartId,
    lines: &'a [Line],
    ttl: Duration,
    state: Waiting,
}

#[derive(Debug)]
enum Waiting {
    /// Not polled yet.
    Start,
    /// Queued on every item of the request.
    Queued(Registration),
    /// Reserved, waiting for the journal to have the reservation on disk (durable mode).
    Syncing(Receipt, u64),
    /// Answered.
    Done,
}

impl WaitForStock<'_> {
    /// One whole reserve that never parks: where it would wait for other requests' units in
    /// flight, it answers `Busy` instead.
    fn attempt(&self) -> Result<Receipt, ReserveError> {
        let inner = &self.inventory.inner;
        park::bounded(Some(Instant::now()), || {
            inner.reserve(self.cart, self.lines, self.ttl)
        })
    }

    /// Validates the request as a reserve does, and the keys of its items' queues.
    fn keys(&self) -> Result<Vec<usize>, ReserveError> {
        let inner = &self.inventory.inner;
        inner
            .ttl(self.ttl)
            .ok_or(ReserveError::InvalidTtl { ttl: self.ttl })?;
        let canonical = inner.stock.canonical(self.lines)?;
        Ok(canonical
            .entries()
            .iter()
            .map(|r| r.at.wait_key())
            .collect())
    }

    /// Ends the wait with `result`, leaving the queues (and waking who heads them next).
    fn finish(
        &mut self,
        result: Result<Receipt, ReserveError>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Receipt, ReserveError>> {
        if let Waiting::Queued(registration) = std::mem::replace(&mut self.state, Waiting::Done) {
            registration.leave();
        }
        // Journal (nothing without one): a durable journal answers once the reservation's
        // record is on disk.
        if let Ok(receipt) = result {
            match self.inventory.inner.durable_position() {
                Ok(None) => {}
                Ok(Some(position)) => return self.sync(receipt, position, cx),
                Err(failure) => return self.answer(Err(failure.into())),
            }
        }
        self.answer(result)
    }

    /// Waits for the journal to have everything up to `position` on disk, then answers.
    fn sync(
        &mut self,
        receipt: Receipt,
        position: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Receipt, ReserveError>> {
        match self.inventory.inner.poll_durable(position, cx) {
            Poll::Pending => {
                self.state = Waiting::Syncing(receipt, position);
                Poll::Pending
            }
            Poll::Ready(durable) => {
                self.state = Waiting::Done;
                self.answer(durable.map(|()| receipt).map_err(ReserveError::from))
            }
        }
    }

    fn answer(
        &mut self,
        result: Result<Receipt, ReserveError>,
    ) -> Poll<Result<Receipt, ReserveError>> {
        trace::reserved!(self.cart, self.lines, &result);
        Poll::Ready(result)
    }
}

impl Future for WaitForStock<'_> {
    type Output = Result<Receipt, ReserveError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let registration = match &this.state {
            Waiting::Start => {
                let keys = match this.keys() {
                    Ok(keys) => keys,
                    Err(e) => return this.finish(Err(e), cx),
                };
                // Queued before the first try: a waiter that came earlier and still waits for
                // one of these items goes first.
                this.state = Waiting::Queued(Registration::new(keys, cx.waker()));
                match &this.state {
                    Waiting::Queued(registration) => registration,
                    _ => unreachable!(),
                }
            }
            Waiting::Queued(registration) => registration,
            &Waiting::Syncing(receipt, position) => return this.sync(receipt, position, cx),
            Waiting::Done => panic!("`WaitForStock` polled after it completed"),
        };
        // Not at the head of every queue: whoever leaves ahead of it wakes it.
        if !registration.heads_all(cx.waker()) {
            return Poll::Pending;
        }
        let mut armed = None;
        loop {
            match this.attempt() {
                Err(ReserveError::Stock(TakeError::Shortfall { item, .. })) => {
                    if armed == Some(item) {
                        // Short on the item armed before this try began: the next units that
                        // arrive there wake this task.
                        return Poll::Pending;
                    }
                    // Arm, then try again: units given back between the try that failed and
                    // the arming are seen by the next try, later ones see the arming.
                    this.inventory.inner.stock.slot(item).arm_waiter();
                    armed = Some(item);
                }
                Err(ReserveError::Stock(TakeError::Busy { .. })) => {
                    // Undecided while other requests have units in flight: ask again after
                    // the executor ran other tasks (as `reserve_async` does).
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                result => return this.finish(result, cx),
            }
        }
    }
}

impl Drop for WaitForStock<'_> {
    fn drop(&mut self) {
        if let Waiting::Queued(registration) = std::mem::replace(&mut self.state, Waiting::Done) {
            registration.leave();
        }
    }
}
