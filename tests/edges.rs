//! Edge values through the public API: deadlines beyond the timer wheel's reach, a restock on
//! top of units in flight near the stock limit, out-of-range builder settings, and a clock
//! driven to its end. One test per case; every case that used to hang runs under a watchdog
//! so that it fails instead.

use atomic_stock::{
    CartId, Inventory, ItemId, Line, ManualClock, ReservationError, ReservationState,
};
use std::sync::Arc;
use std::time::Duration;

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
