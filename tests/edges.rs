//! Edge values through the public API: deadlines beyond the timer wheel's reach, a restock on
//! top of units in flight near the stock limit, out-of-range builder settings, and a clock
//! driven to its end. One test per case; every case that used to hang runs under a watchdog
//! so that it fails instead.

use atomic_stock::{
    CartId, Inventory, ItemId, Line, ManualClock, ReservationError, ReservationState,
};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// How long a call may take before the test calls it hung.
const WATCHDOG: Duration = Duration::from_secs(10);

/// Runs `f` on its own thread and returns its result, or fails the test if it does not return
/// within [`WATCHDOG`] (the thread is then left behind; the test binary exits without it).
fn within_watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer after {WATCHDOG:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

fn setup(stock: i64) -> (Arc<Inventory>, Arc<ManualClock>, ItemId) {
    let clock = Arc::new(ManualClock::new());
    let inventory = Inventory::builder()
        .clock(clock.clone())
        .expected_carts(64)
        .finished_memory(1024)
        .build();
    let item = inventory.register_item(stock).unwrap();
    (Arc::new(inventory), clock, item)
}

// ---------------------------------------------------------------------------------------------
// Deadlines beyond the timing wheel's reach (2^56 ns, about 2.28 years).

const WHEEL_REACH: Duration = Duration::from_nanos(1 << 56);

#[test]
fn expire_due_returns_for_a_ttl_at_the_wheel_reach() {
    let clock = Arc::new(ManualClock::new());
    let inventory = Arc::new(
        Inventory::builder()
            .clock(clock.clone())
            .expected_carts(64)
            .finished_memory(1024)
            .max_ttl(WHEEL_REACH * 4)
            .build(),
    );
    let item = inventory.register_item(1).unwrap();
    let receipt = inventory
        .reserve(CartId::new(1), &[Line::new(item, 1)], WHEEL_REACH)
        .unwrap();
    // Drains the deadline into the wheel while it is far away.
    let inv = inventory.clone();
    assert_eq!(
        within_watchdog("expire_due (early)", move || inv.expire_due()),
        0
    );
    clock.advance(WHEEL_REACH + Duration::from_secs(1));
    let inv = inventory.clone();
    assert_eq!(
        within_watchdog("expire_due (due)", move || inv.expire_due()),
        1
    );
    assert_eq!(inventory.status(receipt.id), Ok(ReservationState::Expired));
    assert_eq!(inventory.item(item).unwrap().available, 1);
}

#[test]
fn expire_due_returns_after_a_clock_jump_past_the_wheel_reach() {
    let (inventory, clock, item) = setup(1);
    clock.advance(WHEEL_REACH + Duration::from_secs(7));
    let receipt = inventory
        .reserve(
            CartId::new(1),
            &[Line::new(item, 1)],
            Duration::from_secs(60),
        )
        .unwrap();
    clock.advance(Duration::from_secs(120));
    let inv = inventory.clone();
    assert_eq!(within_watchdog("expire_due", move || inv.expire_due()), 1);
    assert_eq!(inventory.status(receipt.id), Ok(ReservationState::Expired));
}

#[test]
fn reserve_expires_a_due_hold_after_a_clock_jump_past_the_wheel_reach() {
    let (inventory, clock, item) = setup(1);
    clock.advance(WHEEL_REACH + Duration::from_secs(7));
    let first = inventory
        .reserve(
            CartId::new(1),
            &[Line::new(item, 1)],
            Duration::from_secs(60),
        )
        .unwrap();
    clock.advance(Duration::from_secs(120));
    assert_eq!(inventory.status(first.id), Ok(ReservationState::Expired));
    // The expired hold must not turn the next buyer away, nor stall the reserve.
    let inv = inventory.clone();
    let second = within_watchdog("reserve", move || {
        inv.reserve(
            CartId::new(2),
            &[Line::new(item, 1)],
            Duration::from_secs(60),
        )
    });
    assert!(
        second.is_ok(),
        "buyer refused by an expired hold: {second:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The manual clock at its end.

#[test]
fn manual_clock_saturates_instead_of_wrapping() {
    let (inventory, clock, item) = setup(1);
    let receipt = inventory
        .reserve(
            CartId::new(1),
            &[Line::new(item, 1)],
            Duration::from_secs(60),
        )
        .unwrap();
    clock.advance(Duration::MAX);
    assert_eq!(inventory.status(receipt.id), Ok(ReservationState::Expired));
    clock.advance(Duration::from_secs(1));
    assert_eq!(inventory.status(receipt.id), Ok(ReservationState::Expired));
    assert_eq!(
        inventory.confirm(receipt.id),
        Err(ReservationError::Expired)
    );
}
