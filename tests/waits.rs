//! Waits for requests in flight: bounded with `max_wait`, and never a park in
//! `reserve_async`. A request that finds an item short while another request has units of it
//! in flight cannot answer yet; these tests hold an operation in flight on purpose
//! (`with_in_flight`) and check what the caller gets meanwhile and afterwards.

use atomic_stock::{CartId, Inventory, Line, ReserveError, TakeError};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

/// An item whose only unit is held, so a second request for it finds it short.
fn sold_out(inventory: &Inventory) -> atomic_stock::ItemId {
    let item = inventory.register_item(1).unwrap();
    inventory
        .reserve(CartId::new(1), &[Line::new(item, 1)], TTL)
        .unwrap();
    item
}

#[test]
fn a_bounded_wait_gives_up_busy_having_taken_nothing() {
    let inventory = Inventory::builder()
        .max_wait(Duration::from_millis(20))
        .build();
    let item = sold_out(&inventory);
    let other = inventory.register_item(5).unwrap();
    let lines = [Line::new(other, 2), Line::new(item, 1)];
    let during = inventory
        .with_in_flight(item, || inventory.reserve(CartId::new(2), &lines, TTL))
        .unwrap();
    assert_eq!(
        during,
        Err(ReserveError::Stock(TakeError::Busy { item })),
        "undecided while a request is in flight, and not a shortfall"
    );
    assert_eq!(during.unwrap_err().shortfall(), None);
    // Nothing taken: the other line's units came back.
    assert_eq!(inventory.item(other).unwrap().available, 5);
    // Once nothing is in flight the answer is exact.
    let after = inventory.reserve(CartId::new(2), &lines, TTL);
    assert!(matches!(
        after,
        Err(ReserveError::Stock(TakeError::Shortfall {
            available: 0,
            ..
        }))
    ));
    inventory.audit().unwrap();
}

#[test]
fn reserve_async_yields_instead_of_parking() {
    let inventory = Inventory::new();
    let item = sold_out(&inventory);
    let lines = [Line::new(item, 1)];
    let mut context = Context::from_waker(Waker::noop());
    let mut future = pin!(inventory.reserve_async(CartId::new(2), &lines, TTL));
    // While a request is in flight, each poll returns at once, pending: the thread never
    // parks (a park here would hang this single-threaded test, no one being left to wake it).
    inventory
        .with_in_flight(item, || {
            for _ in 0..3 {
                assert!(future.as_mut().poll(&mut context).is_pending());
            }
        })
        .unwrap();
    // Then it decides, exactly.
    match future.as_mut().poll(&mut context) {
        Poll::Ready(result) => assert!(
            matches!(
                result,
                Err(ReserveError::Stock(TakeError::Shortfall { .. }))
            ),
            "{result:?}"
        ),
        Poll::Pending => panic!("nothing is in flight any more"),
    }
}

#[test]
fn a_dropped_reserve_async_leaves_nothing_taken() {
    let inventory = Inventory::new();
    let item = sold_out(&inventory);
    let other = inventory.register_item(3).unwrap();
    let lines = [Line::new(other, 3), Line::new(item, 1)];
    inventory
        .with_in_flight(item, || {
            let mut future = Box::pin(inventory.set_cart_async(CartId::new(2), &lines, TTL));
            assert!(future
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending());
            drop(future);
        })
        .unwrap();
    assert_eq!(inventory.item(other).unwrap().available, 3);
    assert!(inventory.cart(CartId::new(2)).is_none());
    inventory.audit().unwrap();
}
