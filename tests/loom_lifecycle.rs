//! loom models of the reservation lifecycle and the cart registry (run with
//! `RUSTFLAGS="--cfg loom --cfg crossbeam_loom"`, see README). crossbeam-epoch runs on loom's
//! atomics too, so retirement and reclamation are part of what is explored.
#![cfg(loom)]

use atomic_stock::{CartId, Clock, Confirmation, Inventory, Line, ReservationState};
use loom::sync::Arc;
use loom::thread;
use std::cell::Cell;
use std::time::{Duration, Instant};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(1);
    }
    builder.check(f);
}

loom::thread_local! {
    /// Whether the current thread sees the clock past every deadline.
    static LATE: Cell<bool> = Cell::new(false);
}

/// A clock that reads "an hour later" on threads that asked to be late: lets one thread see a
/// deadline as passed while the others do not, which is the real race (confirm read the clock
/// just before the deadline, the reaper just after).
#[derive(Debug)]
struct ThreadClock(Instant);

impl Clock for ThreadClock {
    fn now(&self) -> Instant {
        if LATE.with(Cell::get) {
            self.0 + Duration::from_secs(3600)
        } else {
            self.0
        }
    }
}

fn inventory() -> Inventory {
    Inventory::builder()
        .clock(std::sync::Arc::new(ThreadClock(Instant::now())))
        .shards(1)
        .expected_carts(1)
        .finished_memory(16)
        .build()
}

/// Confirm, release and expiry race on one reservation: exactly one wins, the stock is settled
/// exactly once, and every caller's answer agrees with the winner.
#[test]
fn confirm_races_release_races_expiry() {
    model(|| {
        let inv = Arc::new(inventory());
        let item = inv.register_item(1).unwrap();
        let r = inv
            .reserve(
                CartId::new(1),
                &[Line::new(item, 1)],
                Duration::from_secs(60),
            )
            .unwrap();
        let confirm = {
            let inv = inv.clone();
            thread::spawn(move || inv.confirm(r.id))
        };
        let release = {
            let inv = inv.clone();
            thread::spawn(move || inv.release(r.id))
        };
        let expire = {
            let inv = inv.clone();
            thread::spawn(move || {
                LATE.with(|late| late.set(true));
                inv.expire_due()
            })
        };
        let (c, rel, e) = (
            confirm.join().unwrap(),
            release.join().unwrap(),
            expire.join().unwrap(),
        );
        let levels = inv.item(item).unwrap();
        match inv.status(r.id).unwrap() {
            ReservationState::Confirmed => {
                assert_eq!(c, Ok(Confirmation::Confirmed));
                assert!(rel.is_err());
                assert_eq!(e, 0);
                assert_eq!((levels.available, levels.sold), (0, 1));
            }
            ReservationState::Released => {
                assert!(c.is_err());
                assert_eq!(rel, Ok(()));
                assert_eq!(e, 0);
                assert_eq!((levels.available, levels.sold), (1, 0));
            }
            ReservationState::Expired => {
                assert!(c.is_err() && rel.is_err());
                assert_eq!(e, 1);
                assert_eq!((levels.available, levels.sold), (1, 0));
            }
            ReservationState::Held => panic!("nobody won"),
        }
        assert_eq!(levels.held, 0);
        inv.audit().unwrap();
    });
}

/// An update of a cart (adding a line) races the cart's retirement (confirm) and the
/// re-creation of the same cart id (a new reserve): no update is lost (every unit taken ends up
/// sold or held by the cart's live reservation), and the dead entry is never written (a unit
/// written into it would be neither sold nor held, and the audit would fail).
#[test]
fn cart_update_races_retirement_and_recreation() {
    model(|| {
        let inv = Arc::new(inventory());
        let a = inv.register_item(2).unwrap();
        let b = inv.register_item(1).unwrap();
        let cart = CartId::new(7);
        let ttl = Duration::from_secs(60);
        inv.reserve(cart, &[Line::new(a, 1)], ttl).unwrap();
        let update = {
            let inv = inv.clone();
            thread::spawn(move || inv.reserve(cart, &[Line::new(b, 1)], ttl).is_ok())
        };
        let retire = {
            let inv = inv.clone();
            thread::spawn(move || inv.confirm_cart(cart))
        };
        let recreate = {
            let inv = inv.clone();
            thread::spawn(move || inv.reserve(cart, &[Line::new(a, 1)], ttl).is_ok())
        };
        assert!(update.join().unwrap(), "stock of b was there");
        assert_eq!(retire.join().unwrap(), Ok(Confirmation::Confirmed));
        assert!(recreate.join().unwrap(), "stock of a was there");
        let (la, lb) = (inv.item(a).unwrap(), inv.item(b).unwrap());
        assert_eq!((la.available, la.held + la.sold), (0, 2), "{la:?}");
        assert_eq!((lb.available, lb.held + lb.sold), (0, 1), "{lb:?}");
        assert!(la.sold >= 1, "the original line was confirmed");
        // Whatever was not sold is held by the cart's one live reservation.
        let live = inv.cart(cart).map(|info| info.lines).unwrap_or_default();
        let held_in_cart: i64 = live.iter().map(|l| l.quantity).sum();
        assert_eq!(held_in_cart, la.held + lb.held);
        inv.audit().unwrap();
    });
}
