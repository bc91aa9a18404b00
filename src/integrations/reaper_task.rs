//! The reaper as a task of a tokio runtime (feature `tokio`): expiry driven by the runtime's
//! timer instead of a thread of its own, in bounded steps that yield between them, ending by
//! itself once the inventory is dropped. Dropping the inventory then never waits for anything.

use crate::inventory::Inventory;
use crate::sync::yield_now::YieldNow;
use std::future::Future;
use std::time::Duration;

/// Most reservations one step of the task expires before it yields to the runtime.
pub const REAPER_TASK_BATCH: usize = 1024;

impl Inventory {
    /// The reaper as a future to spawn on a tokio runtime (with its timer enabled): it expires
    /// due reservations at least every `tick`, and sooner when the earliest known deadline
    /// comes first; at most [`REAPER_TASK_BATCH`] per step, yielding to the runtime between
    /// steps, so no other task waits long for it. It holds the inventory weakly and ends once
    /// the inventory is dropped, so dropping it never blocks (the thread reaper of
    /// [`InventoryBuilder::reaper`](crate::InventoryBuilder::reaper) is joined instead).
    ///
    /// A `tick` of zero is taken as [`MIN_REAPER_TICK`](crate::limits::MIN_REAPER_TICK).
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line};
    /// use std::time::Duration;
    ///
    /// # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// # runtime.block_on(async {
    /// let inventory = Inventory::new();
    /// let reaper = tokio::spawn(inventory.reaper_task(Duration::from_millis(10)));
    /// let mug = inventory.register_item(1).unwrap();
    /// inventory
    ///     .reserve(CartId::new(1), &[Line::new(mug, 1)], Duration::from_millis(20))
    ///     .unwrap();
    /// tokio::time::sleep(Duration::from_millis(100)).await;
    /// assert_eq!(inventory.item(mug).unwrap().available, 1); // expired by the task
    /// drop(inventory);
    /// reaper.await.unwrap(); // the task ends by itself
    /// # });
    /// ```
    pub fn reaper_task(&self, tick: Duration) -> impl Future<Output = ()> + Send + 'static {
        let inner = std::sync::Arc::downgrade(&self.inner);
        let tick = tick.max(crate::limits::MIN_REAPER_TICK);
        async move {
            loop {
                let Some(inventory) = inner.upgrade() else {
                    return;
                };
                let expired = inventory.expire_due_at_most(REAPER_TASK_BATCH);
                let sleep = (expired < REAPER_TASK_BATCH).then(|| {
                    inventory
                        .time_to_next_deadline()
                        .map_or(tick, |d| d.min(tick))
                });
                drop(inventory);
                match sleep {
                    Some(sleep) => tokio::time::sleep(sleep).await,
                    None => YieldNow::default().await,
                }
            }
        }
    }
}
