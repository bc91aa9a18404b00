//! loom model of a waiting reserve against the operation that makes its stock available: the
//! register / re-check / wake protocol of `crate::stock::waitlist`. A waiter that returned
//! `Pending` must have been woken once the release (or restock) is done, and then gets the
//! unit; one that did not wait got it at once. Removing the second try after arming the item
//! makes the model fail (the release lands between the failed try and the arming, sees no
//! WAITERS bit, and wakes no one); so does weakening the Acquire `fetch_and` in `park::wake`
//! to Relaxed (the giver's `waitlist::wake` may then read no waiter queued).
//!
//! Run with `RUSTFLAGS="--cfg loom --cfg crossbeam_loom" cargo test --release --lib loom_wait`;
//! preemption bound 2 (`LOOM_MAX_PREEMPTIONS` overrides it).

use crate::inventory::Inventory;
use crate::{CartId, Line};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

/// A waker that records that it was woken.
#[derive(Default)]
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

fn inventory() -> Inventory {
    Inventory::builder()
        .shards(1)
        .expected_carts(1)
        .finished_memory(16)
        .build()
}

/// Polls a waiting reserve for the one unit of an item while `give` makes a unit available on
/// another thread.
fn waiter_against(
    give: impl Fn(&Inventory, crate::ItemId, crate::ReservationId) + Send + Sync + 'static,
) {
    let give = std::sync::Arc::new(give);
    model(move || {
        let inventory = Arc::new(inventory());
        let item = inventory.register_item(1).unwrap();
        let held = inventory
            .reserve(CartId::new(1), &[Line::new(item, 1)], TTL)
            .unwrap();
        let giver = {
            let inventory = inventory.clone();
            let give = give.clone();
            thread::spawn(move || give(&inventory, item, held.id))
        };
        let woken = std::sync::Arc::new(Woken::default());
        let waker = Waker::from(woken.clone());
        let mut context = Context::from_waker(&waker);
        let lines = [Line::new(item, 1)];
        let mut waiting = Box::pin(inventory.reserve_waiting(CartId::new(2), &lines, TTL));
        let first = waiting.as_mut().poll(&mut context);
        giver.join().unwrap();
        match first {
            Poll::Ready(result) => {
                result.unwrap();
            }
            Poll::Pending => {
                assert!(
                    woken.0.load(Ordering::SeqCst),
                    "lost wake-up: the waiter sleeps while its unit is available"
                );
                match waiting.as_mut().poll(&mut context) {
                    Poll::Ready(result) => {
                        result.unwrap();
                    }
                    Poll::Pending => panic!("woken, and the unit is there"),
                }
            }
        }
        assert!(inventory.cart(CartId::new(2)).is_some());
    });
}

#[test]
fn loom_wait_release_wakes_the_waiter() {
    waiter_against(|inventory, _, id| inventory.release(id).unwrap());
}

#[test]
fn loom_wait_restock_wakes_the_waiter() {
    waiter_against(|inventory, item, _| inventory.restock(item, 1).unwrap());
}
