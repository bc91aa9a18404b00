//! `Inventory::reserve_waiting`: a reserve that waits for stock, woken by a release, a restock
//! or an expiry, first come first served per item, cancel-safe. Most tests poll the future by
//! hand with a waker that counts its wake-ups, so "woken" and "not woken" are exact and no
//! assertion depends on timing.

use atomic_stock::{
    CartId, Inventory, ItemId, Line, ManualClock, Receipt, ReserveError, TakeError, WaitForStock,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waiting reserve polled by hand.
struct Waiter<'a> {
    future: Pin<Box<WaitForStock<'a>>>,
    count: Arc<Count>,
    waker: Waker,
}

impl<'a> Waiter<'a> {
    fn new(inventory: &'a Inventory, cart: u64, lines: &'a [Line]) -> Self {
        let count = Arc::new(Count::default());
        Waiter {
            future: Box::pin(inventory.reserve_waiting(CartId::new(cart), lines, TTL)),
            waker: Waker::from(count.clone()),
            count,
        }
    }

    fn poll(&mut self) -> Poll<Result<Receipt, ReserveError>> {
        self.future
            .as_mut()
            .poll(&mut Context::from_waker(&self.waker))
    }

    /// Wake-ups since the last call.
    fn woken(&self) -> usize {
        self.count.0.swap(0, Ordering::SeqCst)
    }

    fn receipt(&mut self) -> Receipt {
        match self.poll() {
            Poll::Ready(result) => result.expect("the waiter got its stock"),
            Poll::Pending => panic!("the waiter's stock is available"),
        }
    }
}

/// An item with `units`, all held by `cart`.
fn held(inventory: &Inventory, cart: u64, units: i64) -> (ItemId, Receipt) {
    let item = inventory.register_item(units).unwrap();
    let receipt = inventory
        .reserve(CartId::new(cart), &[Line::new(item, units)], TTL)
        .unwrap();
    (item, receipt)
}

#[test]
fn a_release_wakes_the_waiter_and_it_gets_the_stock() {
    let inventory = Inventory::new();
    let (mug, first) = held(&inventory, 1, 1);
    let lines = [Line::new(mug, 1)];
    let mut waiter = Waiter::new(&inventory, 2, &lines);
    assert!(waiter.poll().is_pending());
    assert_eq!(waiter.woken(), 0);
    inventory.release(first.id).unwrap();
    assert_eq!(waiter.woken(), 1, "the release woke the waiter");
    let receipt = waiter.receipt();
    assert_eq!(inventory.cart(CartId::new(2)).unwrap().id, receipt.id);
    assert_eq!(inventory.item(mug).unwrap().held, 1);
    inventory.audit().unwrap();
}

#[test]
fn a_restock_wakes_the_waiter() {
    let inventory = Inventory::new();
    let mug = inventory.register_item(0).unwrap();
    let lines = [Line::new(mug, 3)];
    let mut waiter = Waiter::new(&inventory, 2, &lines);
    assert!(waiter.poll().is_pending());
    inventory.restock(mug, 2).unwrap();
    // Woken, but two units are not three: it tries, and waits again.
    assert_eq!(waiter.woken(), 1);
    assert!(waiter.poll().is_pending());
    inventory.restock(mug, 1).unwrap();
    assert_eq!(waiter.woken(), 1);
    waiter.receipt();
    assert_eq!(inventory.item(mug).unwrap().held, 3);
    inventory.audit().unwrap();
}

#[test]
fn an_expiry_wakes_the_waiter() {
    let clock = Arc::new(ManualClock::new());
    let inventory = Inventory::builder().clock(clock.clone()).build();
    let (mug, _abandoned) = held(&inventory, 1, 1);
    let lines = [Line::new(mug, 1)];
    let mut waiter = Waiter::new(&inventory, 2, &lines);
    assert!(waiter.poll().is_pending());
    clock.advance(TTL);
    assert_eq!(inventory.expire_due(), 1);
    assert_eq!(waiter.woken(), 1);
    waiter.receipt();
    inventory.audit().unwrap();
}

#[test]
fn a_cart_update_giving_units_back_wakes_the_waiter() {
    let inventory = Inventory::new();
    let (mug, first) = held(&inventory, 1, 2);
    let lines = [Line::new(mug, 1)];
    let mut waiter = Waiter::new(&inventory, 2, &lines);
    assert!(waiter.poll().is_pending());
    inventory
        .release_lines(first.id, &[Line::new(mug, 1)])
        .unwrap();
    assert_eq!(waiter.woken(), 1);
    waiter.receipt();
    inventory.audit().unwrap();
}

#[test]
fn stock_available_at_once_is_taken_at_the_first_poll() {
    let inventory = Inventory::new();
    let mug = inventory.register_item(2).unwrap();
    let lines = [Line::new(mug, 2)];
    let mut waiter = Waiter::new(&inventory, 2, &lines);
    waiter.receipt();
    // Its queue is empty again: the next waiter is served at once too.
    inventory.restock(mug, 1).unwrap();
    let lines = [Line::new(mug, 1)];
    Waiter::new(&inventory, 3, &lines).receipt();
    inventory.audit().unwrap();
}

/// A 4-line cart waiting first is served before a 1-line cart that came later for one of its
/// items, even when the small cart is polled first.
#[test]
fn the_first_waiter_is_served_first_whatever_its_size() {
    let inventory = Inventory::new();
    let (a, holder) = held(&inventory, 1, 1);
    let others: Vec<ItemId> = (0..3)
        .map(|_| inventory.register_item(1).unwrap())
        .collect();
    let big_lines: Vec<Line> = std::iter::once(a)
        .chain(others.iter().copied())
        .map(|item| Line::new(item, 1))
        .collect();
    let small_lines = [Line::new(a, 1)];
    let mut big = Waiter::new(&inventory, 4, &big_lines);
    let mut small = Waiter::new(&inventory, 5, &small_lines);
    assert!(big.poll().is_pending());
    assert!(small.poll().is_pending());

    inventory.release(holder.id).unwrap();
    assert_eq!(big.woken(), 1, "the head of the item's queue is woken");
    assert_eq!(small.woken(), 0, "the waiter behind it is not");
    // Polled first, the small cart still does not overtake: it is not at the head.
    assert!(small.poll().is_pending());
    assert_eq!(inventory.item(a).unwrap().available, 1);
    let receipt = big.receipt();
    assert_eq!(
        small.woken(),
        1,
        "the big cart left the queue and woke the next"
    );
    assert!(small.poll().is_pending(), "the unit went to the big cart");

    inventory.release(receipt.id).unwrap();
    assert_eq!(small.woken(), 1);
    small.receipt();
    inventory.audit().unwrap();
}

/// A waiter behind the head does not take, even if its own stock is there: per item, first
/// come first served. Plain reserves do not queue.
#[test]
fn waiters_queue_behind_the_head_and_plain_reserves_do_not() {
    let inventory = Inventory::new();
    let (a, holder) = held(&inventory, 1, 1);
    let b = inventory.register_item(0).unwrap();
    let head_lines = [Line::new(a, 1), Line::new(b, 1)];
    let next_lines = [Line::new(a, 1)];
    let mut head = Waiter::new(&inventory, 2, &head_lines);
    let mut next = Waiter::new(&inventory, 3, &next_lines);
    assert!(head.poll().is_pending());
    assert!(next.poll().is_pending());
    inventory.release(holder.id).unwrap();
    assert_eq!(head.woken(), 1);
    assert_eq!(next.woken(), 0);
    // The head is still short of `b`, and the next waiter stays behind it.
    assert!(head.poll().is_pending());
    assert!(next.poll().is_pending());
    assert_eq!(inventory.item(a).unwrap().available, 1);
    // A plain reserve does not queue: it takes what is available.
    let plain = inventory
        .reserve(CartId::new(9), &[Line::new(a, 1)], TTL)
        .unwrap();
    inventory.release(plain.id).unwrap();
    inventory.restock(b, 1).unwrap();
    assert_eq!(head.woken(), 1);
    head.receipt();
    assert_eq!(next.woken(), 1);
    assert!(next.poll().is_pending());
    inventory.audit().unwrap();
}

/// Dropping a woken waiter before it took passes the wake-up on; nothing of it stays held or
/// queued.
#[test]
fn a_dropped_waiter_passes_its_wake_up_on_and_holds_nothing() {
    let inventory = Inventory::new();
    let (a, holder) = held(&inventory, 1, 1);
    let b = inventory.register_item(1).unwrap();
    let first_lines = [Line::new(a, 1), Line::new(b, 1)];
    let second_lines = [Line::new(a, 1)];
    let mut first = Waiter::new(&inventory, 2, &first_lines);
    let mut second = Waiter::new(&inventory, 3, &second_lines);
    assert!(first.poll().is_pending());
    assert!(second.poll().is_pending());
    inventory.release(holder.id).unwrap();
    assert_eq!(first.woken(), 1);
    assert_eq!(second.woken(), 0);
    drop(first);
    assert_eq!(second.woken(), 1, "the unused wake-up passed on");
    second.receipt();
    assert!(inventory.cart(CartId::new(2)).is_none());
    assert_eq!(inventory.item(b).unwrap().available, 1);
    inventory.audit().unwrap();
}

#[test]
fn bad_input_gets_the_plain_reserves_typed_errors_at_once() {
    let inventory = Inventory::new();
    let mug = inventory.register_item(0).unwrap();
    let unknown = ItemId::new(1000);
    let cases: [(&[Line], Duration); 4] = [
        (&[Line::new(mug, 1)], Duration::ZERO),
        (&[Line::new(unknown, 1)], TTL),
        (&[], TTL),
        (&[Line::new(mug, 0)], TTL),
    ];
    for (lines, ttl) in cases {
        let expected = inventory.reserve(CartId::new(1), lines, ttl).unwrap_err();
        let mut future = Box::pin(inventory.reserve_waiting(CartId::new(1), lines, ttl));
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(Err(e)) => assert_eq!(e, expected),
            other => panic!("{lines:?} {ttl:?}: {other:?}"),
        }
    }
    assert_eq!(
        inventory.reserve(CartId::new(1), &[], TTL),
        Err(ReserveError::Stock(TakeError::EmptyCart))
    );
}

#[test]
fn delisting_ends_the_wait_with_a_typed_error() {
    let inventory = Inventory::new();
    let mug = inventory.register_item(0).unwrap();
    let lines = [Line::new(mug, 1)];
    let mut waiter = Waiter::new(&inventory, 2, &lines);
    assert!(waiter.poll().is_pending());
    inventory.delist(mug).unwrap();
    assert_eq!(waiter.woken(), 1);
    assert_eq!(
        waiter.poll(),
        Poll::Ready(Err(ReserveError::Stock(TakeError::Delisted { item: mug })))
    );
}

#[test]
fn a_waiter_given_up_by_a_timeout_takes_nothing_and_leaves_no_queue() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let inventory = Inventory::new();
    let (mug, holder) = held(&inventory, 1, 1);
    let lines = [Line::new(mug, 1)];
    let gave_up = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_millis(5),
            inventory.reserve_waiting(CartId::new(2), &lines, TTL),
        )
        .await
    });
    assert!(gave_up.is_err());
    assert!(inventory.cart(CartId::new(2)).is_none());
    inventory.audit().unwrap();
    // Nothing of it is left queued ahead of the next waiter.
    let mut next = Waiter::new(&inventory, 3, &lines);
    assert!(next.poll().is_pending());
    inventory.release(holder.id).unwrap();
    assert_eq!(next.woken(), 1);
    next.receipt();
}

#[cfg(feature = "tokio")]
#[test]
fn reserve_waiting_until_answers_wait_timed_out_having_taken_nothing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let inventory = Inventory::new();
    let (mug, _holder) = held(&inventory, 1, 1);
    let other = inventory.register_item(5).unwrap();
    let lines = [Line::new(other, 2), Line::new(mug, 1)];
    let deadline = std::time::Instant::now() + Duration::from_millis(5);
    let result =
        runtime.block_on(inventory.reserve_waiting_until(CartId::new(2), &lines, TTL, deadline));
    assert_eq!(result, Err(ReserveError::WaitTimedOut));
    assert_eq!(inventory.item(other).unwrap().available, 5);
    assert!(inventory.cart(CartId::new(2)).is_none());
    inventory.audit().unwrap();
}

#[test]
fn while_requests_are_in_flight_the_waiter_asks_again_and_never_parks() {
    let inventory = Inventory::new();
    let (mug, _holder) = held(&inventory, 1, 1);
    let lines = [Line::new(mug, 1)];
    let mut waiter = Waiter::new(&inventory, 2, &lines);
    inventory
        .with_in_flight(mug, || {
            assert!(waiter.poll().is_pending());
            assert_eq!(waiter.woken(), 1, "undecided: it asks to be polled again");
        })
        .unwrap();
    assert!(waiter.poll().is_pending());
    assert_eq!(
        waiter.woken(),
        0,
        "decided short: it sleeps until stock arrives"
    );
}

/// Many waiting tasks on a multi-threaded runtime, stock arriving a unit at a time from
/// another thread: every waiter is served once, and the books balance.
#[test]
fn every_waiter_is_served_as_stock_arrives() {
    const WAITERS: u64 = 40;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let inventory = Arc::new(Inventory::new());
    let a = inventory.register_item(0).unwrap();
    let b = inventory.register_item(0).unwrap();
    let tasks: Vec<_> = (0..WAITERS)
        .map(|cart| {
            let inventory = inventory.clone();
            let lines = if cart % 4 == 0 {
                vec![Line::new(a, 1), Line::new(b, 1)]
            } else {
                vec![Line::new(if cart % 2 == 0 { a } else { b }, 1)]
            };
            runtime.spawn(async move {
                inventory
                    .reserve_waiting(CartId::new(cart), &lines, TTL)
                    .await
            })
        })
        .collect();
    for _ in 0..WAITERS {
        inventory.restock(a, 1).unwrap();
        inventory.restock(b, 1).unwrap();
        std::thread::yield_now();
    }
    for task in tasks {
        runtime.block_on(task).unwrap().unwrap();
    }
    assert_eq!(inventory.live_reservations(), WAITERS as usize);
    let levels = (inventory.item(a).unwrap(), inventory.item(b).unwrap());
    assert_eq!(
        levels.0.held + levels.1.held,
        WAITERS as i64 + WAITERS as i64 / 4
    );
    inventory.audit().unwrap();
}

/// Waiters on an item contended enough to be spread over per-shard stock (its units then come
/// back to shards rather than to the item's central word): all are served, and the stock is
/// whole at the end.
#[test]
fn waiters_on_a_contended_item_are_all_served() {
    const TASKS: u64 = 8;
    const ROUNDS: u64 = 20;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let inventory = Arc::new(Inventory::builder().shards(4).build());
    let hot = inventory.register_item(64).unwrap();
    let churn: Vec<_> = (0..2u64)
        .map(|thread| {
            let inventory = inventory.clone();
            std::thread::spawn(move || {
                for round in 0..20_000u64 {
                    let cart = CartId::new(1_000_000 + thread * 100_000 + round);
                    if let Ok(receipt) = inventory.reserve(cart, &[Line::new(hot, 1)], TTL) {
                        inventory.release(receipt.id).unwrap();
                    }
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let inventory = inventory.clone();
            runtime.spawn(async move {
                let lines = [Line::new(hot, 16)];
                for round in 0..ROUNDS {
                    let cart = CartId::new(task * ROUNDS + round);
                    let receipt = inventory.reserve_waiting(cart, &lines, TTL).await.unwrap();
                    tokio::task::yield_now().await;
                    inventory.release(receipt.id).unwrap();
                }
            })
        })
        .collect();
    for thread in churn {
        thread.join().unwrap();
    }
    for task in tasks {
        runtime.block_on(task).unwrap();
    }
    assert_eq!(inventory.item(hot).unwrap().available, 64);
    assert_eq!(inventory.live_reservations(), 0);
    inventory.audit().unwrap();
}
