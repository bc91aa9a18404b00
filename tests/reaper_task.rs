//! The reaper as a tokio task (feature `tokio`): it expires what is due on an injected clock,
//! in batches that let other tasks run, and it ends by itself when the inventory is dropped.

use atomic_stock::{CartId, Inventory, Line, ManualClock, REAPER_TASK_BATCH};
use std::sync::Arc;
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Waits (on the runtime's timer) until `done` holds, at most about ten seconds: a liveness
/// bound for a machine under load, not a timing claim.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..10_000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    done()
}

#[test]
fn the_task_expires_more_than_a_batch_and_ends_with_the_inventory() {
    runtime().block_on(async {
        let clock = Arc::new(ManualClock::new());
        let inventory = Inventory::builder().clock(clock.clone()).build();
        let carts = 3 * REAPER_TASK_BATCH as u64 + 7;
        let item = inventory.register_item(carts as i64).unwrap();
        for cart in 0..carts {
            inventory
                .reserve(
                    CartId::new(cart),
                    &[Line::new(item, 1)],
                    Duration::from_secs(60),
                )
                .unwrap();
        }
        let reaper = tokio::spawn(inventory.reaper_task(Duration::from_millis(1)));
        // Another task keeps running while the reaper works: it is never starved.
        let ticks = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let ticker = {
            let ticks = ticks.clone();
            tokio::spawn(async move {
                loop {
                    ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            })
        };
        assert!(eventually(|| ticks.load(std::sync::atomic::Ordering::Relaxed) > 0).await);
        assert_eq!(
            inventory.item(item).unwrap().held,
            carts as i64,
            "nothing is due yet"
        );
        clock.advance(Duration::from_secs(61));
        assert!(
            eventually(|| inventory.item(item).unwrap().available == carts as i64).await,
            "the task did not expire what was due: {:?}",
            inventory.item(item)
        );
        assert_eq!(inventory.live_reservations(), 0);
        inventory.audit().unwrap();
        drop(inventory);
        tokio::time::timeout(Duration::from_secs(10), reaper)
            .await
            .expect("the task outlived its inventory")
            .unwrap();
        ticker.abort();
    });
}
