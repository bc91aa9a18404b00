//! The reservation lifecycle through the public API, one behaviour per test, time driven by a
//! `ManualClock` (no test sleeps for expiry).

use atomic_stock::{
    CartId, Confirmation, Inventory, ItemId, Line, ManualClock, ReservationError, ReservationState,
    ReserveError, TakeError,
};
use std::sync::Arc;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

/// A builder with small tables under Miri, where initializing the default-sized bucket array
/// and outcome rings (65,536 atomics each) dominates the run time; the same code paths run.
fn builder() -> atomic_stock::InventoryBuilder {
    let builder = Inventory::builder();
    if cfg!(miri) {
        builder.expected_carts(64).finished_memory(1024)
    } else {
        builder
    }
}

fn setup(stock: &[i64]) -> (Inventory, Arc<ManualClock>, Vec<ItemId>) {
    let clock = Arc::new(ManualClock::new());
    let inventory = builder().clock(clock.clone()).build();
    let items = stock
        .iter()
        .map(|&s| inventory.register_item(s).unwrap())
        .collect();
    (inventory, clock, items)
}

fn cart(n: u64) -> CartId {
    CartId::new(n)
}

fn levels(inv: &Inventory, item: ItemId) -> (i64, i64, i64) {
    let l = inv.item(item).unwrap();
    (l.available, l.held, l.sold)
}

#[test]
fn reserve_then_confirm_sells_and_is_idempotent() {
    let (inv, _, items) = setup(&[5, 5]);
    let r = inv
        .reserve(
            cart(1),
            &[Line::new(items[0], 2), Line::new(items[1], 1)],
            TTL,
        )
        .unwrap();
    assert_eq!(levels(&inv, items[0]), (3, 2, 0));
    assert_eq!(inv.status(r.id), Ok(ReservationState::Held));
    assert_eq!(inv.confirm(r.id), Ok(Confirmation::Confirmed));
    assert_eq!(levels(&inv, items[0]), (3, 0, 2));
    assert_eq!(levels(&inv, items[1]), (4, 0, 1));
    assert_eq!(inv.confirm(r.id), Ok(Confirmation::AlreadyConfirmed));
    assert_eq!(inv.status(r.id), Ok(ReservationState::Confirmed));
    assert_eq!(inv.release(r.id), Err(ReservationError::Confirmed));
    assert_eq!(inv.extend(r.id, TTL), Err(ReservationError::Confirmed));
    assert_eq!(inv.live_reservations(), 0);
    assert!(
        inv.reservation(r.id).is_none(),
        "a finished cart leaves the registry at once"
    );
    inv.audit().unwrap();
}

#[test]
fn release_returns_stock_at_once_and_only_once() {
    let (inv, _, items) = setup(&[3]);
    let r = inv
        .reserve(cart(1), &[Line::new(items[0], 3)], TTL)
        .unwrap();
    assert_eq!(levels(&inv, items[0]), (0, 3, 0));
    inv.release(r.id).unwrap();
    assert_eq!(levels(&inv, items[0]), (3, 0, 0));
    assert_eq!(inv.release(r.id), Err(ReservationError::Released));
    assert_eq!(inv.confirm(r.id), Err(ReservationError::Released));
    assert_eq!(levels(&inv, items[0]), (3, 0, 0));
    inv.audit().unwrap();
}

#[test]
fn a_passed_deadline_fails_confirm_even_before_any_expiry_runs() {
    let (inv, clock, items) = setup(&[2]);
    let r = inv
        .reserve(cart(1), &[Line::new(items[0], 2)], TTL)
        .unwrap();
    clock.advance(TTL);
    assert_eq!(inv.status(r.id), Ok(ReservationState::Expired));
    assert_eq!(inv.confirm(r.id), Err(ReservationError::Expired));
    assert_eq!(
        levels(&inv, items[0]),
        (2, 0, 0),
        "the failed confirm expired it"
    );
    assert_eq!(inv.release(r.id), Err(ReservationError::Expired));
    assert_eq!(inv.stats().expiries, 1);
    inv.audit().unwrap();
}

#[test]
fn expire_due_returns_exactly_the_due_reservations() {
    let (inv, clock, items) = setup(&[10]);
    let early = inv
        .reserve(cart(1), &[Line::new(items[0], 1)], Duration::from_secs(10))
        .unwrap();
    let late = inv
        .reserve(cart(2), &[Line::new(items[0], 2)], Duration::from_secs(30))
        .unwrap();
    assert_eq!(inv.expire_due(), 0);
    clock.advance(Duration::from_secs(10));
    assert_eq!(inv.expire_due(), 1);
    assert_eq!(inv.status(early.id), Ok(ReservationState::Expired));
    assert_eq!(inv.status(late.id), Ok(ReservationState::Held));
    assert_eq!(levels(&inv, items[0]), (8, 2, 0));
    clock.advance(Duration::from_secs(20));
    assert_eq!(inv.expire_due(), 1);
    assert_eq!(levels(&inv, items[0]), (10, 0, 0));
    assert_eq!(inv.expire_due(), 0);
    assert_eq!(inv.expiry_lag().count(), 2);
    inv.audit().unwrap();
}

#[test]
fn extend_moves_the_deadline_while_held() {
    let (inv, clock, items) = setup(&[1]);
    let r = inv
        .reserve(cart(1), &[Line::new(items[0], 1)], TTL)
        .unwrap();
    clock.advance(Duration::from_secs(50));
    let extended = inv.extend(r.id, TTL).unwrap();
    assert_eq!(extended.id, r.id);
    assert_eq!(extended.deadline - r.deadline, Duration::from_secs(50));
    clock.advance(Duration::from_secs(30));
    assert_eq!(inv.expire_due(), 0, "the old deadline no longer applies");
    assert_eq!(inv.confirm(r.id), Ok(Confirmation::Confirmed));
    assert_eq!(
        inv.extend(r.id, Duration::ZERO),
        Err(ReservationError::InvalidTtl {
            ttl: Duration::ZERO
        })
    );
}

#[test]
fn partial_release_gives_back_some_lines() {
    let (inv, _, items) = setup(&[5, 5]);
    let (a, b) = (items[0], items[1]);
    let r = inv
        .reserve(cart(1), &[Line::new(a, 3), Line::new(b, 2)], TTL)
        .unwrap();
    inv.release_lines(r.id, &[Line::new(a, 1)]).unwrap();
    assert_eq!(levels(&inv, a), (3, 2, 0));
    assert_eq!(
        inv.release_lines(r.id, &[Line::new(b, 3)]),
        Err(ReservationError::NotHeld {
            item: b,
            requested: 3,
            held: 2
        })
    );
    let other = inv.register_item(1).unwrap();
    assert_eq!(
        inv.release_lines(r.id, &[Line::new(other, 1)]),
        Err(ReservationError::NotHeld {
            item: other,
            requested: 1,
            held: 0
        })
    );
    assert_eq!(
        inv.release_lines(r.id, &[Line::new(a, 0)]),
        Err(ReservationError::Lines(TakeError::InvalidQuantity {
            item: a,
            quantity: 0
        }))
    );
    assert_eq!(
        inv.reservation(r.id).unwrap().lines,
        vec![Line::new(a, 2), Line::new(b, 2)]
    );
    // Giving back the rest releases the reservation.
    inv.release_lines(r.id, &[Line::new(b, 2), Line::new(a, 2)])
        .unwrap();
    assert_eq!(inv.status(r.id), Ok(ReservationState::Released));
    assert_eq!(levels(&inv, a), (5, 0, 0));
    assert_eq!(levels(&inv, b), (5, 0, 0));
    inv.audit().unwrap();
}

#[test]
fn reserving_again_for_a_cart_adds_to_its_reservation() {
    let (inv, clock, items) = setup(&[5, 5]);
    let (a, b) = (items[0], items[1]);
    let first = inv.reserve(cart(7), &[Line::new(a, 1)], TTL).unwrap();
    clock.advance(Duration::from_secs(30));
    let second = inv
        .reserve(cart(7), &[Line::new(a, 1), Line::new(b, 2)], TTL)
        .unwrap();
    assert_eq!(second.id, first.id, "a cart holds one reservation");
    assert_eq!(
        second.deadline - first.deadline,
        Duration::from_secs(30),
        "deadline refreshed"
    );
    assert_eq!(
        inv.cart(cart(7)).unwrap().lines,
        vec![Line::new(a, 2), Line::new(b, 2)]
    );
    // All or nothing: b has 3 left, so asking 4 more changes nothing.
    assert_eq!(
        inv.reserve(cart(7), &[Line::new(a, 1), Line::new(b, 4)], TTL),
        Err(ReserveError::Stock(TakeError::Shortfall {
            item: b,
            requested: 4,
            available: 3
        }))
    );
    assert_eq!(
        inv.cart(cart(7)).unwrap().lines,
        vec![Line::new(a, 2), Line::new(b, 2)]
    );
    assert_eq!(levels(&inv, a), (3, 2, 0));
    assert_eq!(inv.confirm_cart(cart(7)), Ok(Confirmation::Confirmed));
    assert_eq!(
        inv.confirm_cart(cart(7)),
        Err(ReservationError::NoReservation { cart: cart(7) })
    );
    inv.audit().unwrap();
}

#[test]
fn set_cart_applies_only_the_difference() {
    let (inv, _, items) = setup(&[5, 5, 5]);
    let (a, b, c) = (items[0], items[1], items[2]);
    let r = inv
        .set_cart(cart(1), &[Line::new(a, 2), Line::new(b, 2)], TTL)
        .unwrap();
    let r2 = inv
        .set_cart(cart(1), &[Line::new(b, 3), Line::new(c, 1)], TTL)
        .unwrap();
    assert_eq!(r2.id, r.id);
    assert_eq!(levels(&inv, a), (5, 0, 0));
    assert_eq!(levels(&inv, b), (2, 3, 0));
    assert_eq!(levels(&inv, c), (4, 1, 0));
    // Additions that cannot be had leave the cart exactly as it was.
    assert!(inv
        .set_cart(cart(1), &[Line::new(b, 3), Line::new(c, 6)], TTL)
        .is_err());
    assert_eq!(
        inv.cart(cart(1)).unwrap().lines,
        vec![Line::new(b, 3), Line::new(c, 1)]
    );
    assert_eq!(levels(&inv, c), (4, 1, 0));
    assert_eq!(
        inv.set_cart(cart(1), &[], TTL),
        Err(ReserveError::Stock(TakeError::EmptyCart))
    );
    inv.release_cart(cart(1)).unwrap();
    inv.audit().unwrap();
}

#[test]
fn a_shortfall_first_expires_due_holds() {
    let (inv, clock, items) = setup(&[1]);
    inv.reserve(cart(1), &[Line::new(items[0], 1)], TTL)
        .unwrap();
    assert!(matches!(
        inv.reserve(cart(2), &[Line::new(items[0], 1)], TTL),
        Err(ReserveError::Stock(TakeError::Shortfall { .. }))
    ));
    clock.advance(TTL);
    // Nobody ran expire_due: the reserve must not be turned away by the expired hold.
    let r = inv
        .reserve(cart(2), &[Line::new(items[0], 1)], TTL)
        .unwrap();
    assert_eq!(inv.confirm(r.id), Ok(Confirmation::Confirmed));
    inv.audit().unwrap();
}

#[test]
fn a_shortfall_expires_only_what_it_needs_in_bounded_batches() {
    // Well above two reclaim batches either way; fewer under Miri, where each reserve is slow.
    const CARTS: u64 = if cfg!(miri) { 300 } else { 2_000 };
    let (inv, clock, items) = setup(&[CARTS as i64]);
    for c in 0..CARTS {
        inv.reserve(cart(c), &[Line::new(items[0], 1)], TTL)
            .unwrap();
    }
    clock.advance(TTL);
    // Every unit is held by a due reservation: the reserve needs one of them back, not all.
    inv.reserve(cart(CARTS), &[Line::new(items[0], 1)], TTL)
        .unwrap();
    let (available, held, sold) = levels(&inv, items[0]);
    assert_eq!(available + held + sold, CARTS as i64);
    assert!(
        held > CARTS as i64 / 2,
        "one reserve expired {} of {CARTS} due reservations to take one unit",
        CARTS as i64 + 1 - held
    );
    // The rest stay due and go at the next expiry pass.
    assert_eq!(inv.expire_due() as i64, held - 1);
    assert_eq!(levels(&inv, items[0]), (CARTS as i64 - 1, 1, 0));
    inv.audit().unwrap();
}

#[test]
fn ids_are_never_reused_for_a_new_reservation_of_the_same_cart() {
    let (inv, _, items) = setup(&[5]);
    let old = inv
        .reserve(cart(1), &[Line::new(items[0], 1)], TTL)
        .unwrap();
    inv.release(old.id).unwrap();
    let new = inv
        .reserve(cart(1), &[Line::new(items[0], 1)], TTL)
        .unwrap();
    assert_ne!(old.id, new.id);
    // A late confirm of the old id cannot confirm the new reservation.
    assert_eq!(inv.confirm(old.id), Err(ReservationError::Released));
    assert_eq!(inv.status(new.id), Ok(ReservationState::Held));
    // Ids from another inventory, or made up, are unknown.
    let (other, _, other_items) = setup(&[5]);
    let foreign = other
        .reserve(cart(1), &[Line::new(other_items[0], 1)], TTL)
        .unwrap();
    assert_eq!(inv.confirm(foreign.id), Err(ReservationError::Unknown));
    let forged = atomic_stock::ReservationId::from_bytes([7; 20]);
    assert_eq!(inv.release(forged), Err(ReservationError::Unknown));
    assert_eq!(
        atomic_stock::ReservationId::from_bytes(new.id.to_bytes()),
        new.id
    );
    assert_eq!(inv.status(new.id), Ok(ReservationState::Held));
}

#[test]
fn finished_outcomes_are_forgotten_after_the_documented_bound() {
    let clock = Arc::new(ManualClock::new());
    let inv = builder().clock(clock).shards(1).finished_memory(4).build();
    let item = inv.register_item(100).unwrap();
    let first = inv.reserve(cart(0), &[Line::new(item, 1)], TTL).unwrap();
    inv.confirm(first.id).unwrap();
    assert_eq!(inv.confirm(first.id), Ok(Confirmation::AlreadyConfirmed));
    for n in 1..=4 {
        let r = inv.reserve(cart(n), &[Line::new(item, 1)], TTL).unwrap();
        inv.release(r.id).unwrap();
    }
    assert_eq!(inv.confirm(first.id), Err(ReservationError::Unknown));
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let (inv, _, items) = setup(&[5]);
    let a = items[0];
    let before = inv.item(a).unwrap();
    let unknown = ItemId::new(42);
    for (lines, ttl, expected) in [
        (vec![], TTL, ReserveError::Stock(TakeError::EmptyCart)),
        (
            vec![Line::new(a, 0)],
            TTL,
            ReserveError::Stock(TakeError::InvalidQuantity {
                item: a,
                quantity: 0,
            }),
        ),
        (
            vec![Line::new(a, -5)],
            TTL,
            ReserveError::Stock(TakeError::InvalidQuantity {
                item: a,
                quantity: -5,
            }),
        ),
        (
            vec![Line::new(unknown, 1)],
            TTL,
            ReserveError::Stock(TakeError::UnknownItem { item: unknown }),
        ),
        (
            vec![Line::new(a, 1)],
            Duration::ZERO,
            ReserveError::InvalidTtl {
                ttl: Duration::ZERO,
            },
        ),
        (
            vec![Line::new(a, 1)],
            Duration::from_secs(400 * 24 * 3600),
            ReserveError::InvalidTtl {
                ttl: Duration::from_secs(400 * 24 * 3600),
            },
        ),
        (
            vec![Line::new(a, 3), Line::new(a, 3)],
            TTL,
            ReserveError::Stock(TakeError::Shortfall {
                item: a,
                requested: 6,
                available: 5,
            }),
        ),
    ] {
        assert_eq!(inv.reserve(cart(1), &lines, ttl), Err(expected));
        assert_eq!(inv.item(a).unwrap(), before);
        assert!(inv.cart(cart(1)).is_none());
    }
    assert_eq!(
        inv.release_cart(cart(1)),
        Err(ReservationError::NoReservation { cart: cart(1) })
    );
    inv.audit().unwrap();
}

#[test]
fn the_live_reservation_bound_is_enforced() {
    let inv = builder().shards(1).max_reservations(2).build();
    let item = inv.register_item(10).unwrap();
    inv.reserve(cart(1), &[Line::new(item, 1)], TTL).unwrap();
    inv.reserve(cart(2), &[Line::new(item, 1)], TTL).unwrap();
    assert_eq!(
        inv.reserve(cart(3), &[Line::new(item, 1)], TTL),
        Err(ReserveError::TooManyReservations { max: 2 })
    );
    // Adding to an existing cart is not a new reservation.
    inv.reserve(cart(2), &[Line::new(item, 1)], TTL).unwrap();
    assert_eq!(inv.item(item).unwrap().available, 7);
    inv.release_cart(cart(1)).unwrap();
    inv.reserve(cart(3), &[Line::new(item, 1)], TTL).unwrap();
    inv.audit().unwrap();
}

#[test]
fn restock_and_shrink_keep_the_ledger() {
    let (inv, _, items) = setup(&[2]);
    let a = items[0];
    let r = inv.reserve(cart(1), &[Line::new(a, 2)], TTL).unwrap();
    inv.restock(a, 3).unwrap();
    inv.shrink(a, 1).unwrap();
    inv.confirm(r.id).unwrap();
    let l = inv.item(a).unwrap();
    assert_eq!((l.available, l.held, l.sold, l.received), (2, 0, 2, 4));
    inv.audit().unwrap();
}

#[test]
fn the_reaper_expires_in_the_background_and_stops_with_the_inventory() {
    let inv = builder().reaper(Duration::from_millis(1)).build();
    let a = inv.register_item(1).unwrap();
    let r = inv
        .reserve(cart(1), &[Line::new(a, 1)], Duration::from_millis(5))
        .unwrap();
    // Wait (bounded) for the reaper; this is a liveness check, not a timing assertion.
    let start = std::time::Instant::now();
    // The reaper returns the stock, then counts the expiry: wait for both.
    while inv.stats().expiries == 0 || inv.item(a).unwrap().available != 1 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the reaper never expired it"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(inv.status(r.id), Ok(ReservationState::Expired));
    assert_eq!(inv.stats().expiries, 1);
    drop(inv); // joins the reaper thread
}

#[test]
// 50,000 updates are needed to pass the compaction threshold; this checks bookkeeping, not
// unsafe code, so it is not worth the interpreter's time.
#[cfg_attr(miri, ignore)]
fn repeated_updates_with_the_same_deadline_do_not_grow_the_timer() {
    // A clock that does not move: every update computes the same deadline and pushes the same
    // token again; compaction must drop the duplicates, or the timer grows with every update.
    let (inv, _, items) = setup(&[1_000]);
    inv.reserve(cart(1), &[Line::new(items[0], 1)], TTL)
        .unwrap();
    let baseline = inv.stats();
    for n in 0..50_000 {
        inv.set_cart(cart(1), &[Line::new(items[0], 1 + n % 3)], TTL)
            .unwrap();
    }
    inv.expire_due();
    let timer_tokens = inv.timer_tokens();
    assert!(
        timer_tokens <= 2 + atomic_stock::limits::TIMER_SLACK,
        "{timer_tokens} tokens for one live reservation"
    );
    assert_eq!(inv.stats().reserves - baseline.reserves, 50_000);
    inv.audit().unwrap();
}
