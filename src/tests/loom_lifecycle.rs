//! loom models of the reservation lifecycle and the cart registry, run with
//! `RUSTFLAGS="--cfg loom --cfg crossbeam_loom" cargo test --release --lib` (see README).
//! crossbeam-epoch runs on loom's atomics, so retirement and reclamation are explored too.
//!
//! Three-thread models run with a preemption bound of 1 (every interleaving that preempts a
//! thread at most once), two-thread models with 2 (one, whose space is too large at 2, with 1);
//! `LOOM_MAX_PREEMPTIONS` overrides them all.

use crate::inventory::Inventory;
use crate::timer::Token;
use crate::{CartId, Clock, Confirmation, Line, ReservationError, ReservationState};
use loom::sync::Arc;
use loom::thread;
use std::cell::Cell;
use std::time::{Duration, Instant};

fn model(threads: usize, f: impl Fn() + Sync + Send + 'static) {
    model_bounded(if threads >= 3 { 1 } else { 2 }, f);
}

fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    builder.check(f);
}

loom::thread_local! {
    /// Whether the current thread reads the clock an hour late.
    static LATE: Cell<bool> = Cell::new(false);
}

/// A clock that reads "an hour later" on threads that asked to be late: lets one thread see a
/// deadline as passed while another does not, which is the real race (confirm read the clock
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

fn late() {
    LATE.with(|late| late.set(true));
}

const HOUR: u64 = 3600 * 1_000_000_000;
const TTL: Duration = Duration::from_secs(60);

fn inventory() -> Inventory {
    Inventory::builder()
        .clock(std::sync::Arc::new(ThreadClock(Instant::now())))
        .shards(1)
        .expected_carts(1)
        .finished_memory(16)
        .build()
}

/// Confirm, release and expiry race on one reservation: exactly one wins, the stock is settled
/// exactly once, and every caller's answer agrees with the winner. The expiring thread runs
/// the step `expire_due` runs for each due token.
#[test]
fn confirm_races_release_races_expiry() {
    model(3, || {
        let inv = Arc::new(inventory());
        let item = inv.register_item(1).unwrap();
        let r = inv
            .reserve(CartId::new(1), &[Line::new(item, 1)], TTL)
            .unwrap();
        let token = Token {
            deadline: 0,
            cart: r.id.cart.get(),
            seq: r.id.seq,
        };
        let confirm = {
            let inv = inv.clone();
            thread::spawn(move || inv.confirm(r.id))
        };
        let release = {
            let inv = inv.clone();
            thread::spawn(move || inv.release(r.id))
        };
        let expired = {
            let guard = inv.inner.epoch_pin();
            inv.inner.expire_token(token, HOUR, &guard).is_some()
        };
        let (c, rel) = (confirm.join().unwrap(), release.join().unwrap());
        let levels = inv.item(item).unwrap();
        match inv.status(r.id).unwrap() {
            ReservationState::Confirmed => {
                assert_eq!(
                    (c, rel.is_err(), expired),
                    (Ok(Confirmation::Confirmed), true, false)
                );
                assert_eq!((levels.available, levels.sold), (0, 1));
            }
            ReservationState::Released => {
                assert_eq!((c.is_err(), rel, expired), (true, Ok(()), false));
                assert_eq!((levels.available, levels.sold), (1, 0));
            }
            ReservationState::Expired => {
                assert!(expired && c.is_err() && rel.is_err());
                assert_eq!((levels.available, levels.sold), (1, 0));
            }
            ReservationState::Held => panic!("nobody won"),
        }
        assert_eq!(levels.held, 0);
        inv.audit().unwrap();
    });
}

/// The whole `expire_due` (timer mutex, inbox drain, seqlock) against a confirm that still
/// sees the deadline ahead: exactly one of them wins.
#[test]
fn expire_due_races_confirm() {
    model(2, || {
        let inv = Arc::new(inventory());
        let item = inv.register_item(1).unwrap();
        let r = inv
            .reserve(CartId::new(1), &[Line::new(item, 1)], TTL)
            .unwrap();
        let confirm = {
            let inv = inv.clone();
            thread::spawn(move || inv.confirm(r.id))
        };
        late();
        let expired = inv.expire_due();
        let c = confirm.join().unwrap();
        match (c, expired) {
            (Ok(Confirmation::Confirmed), 0) => assert_eq!(inv.item(item).unwrap().sold, 1),
            (Err(ReservationError::Expired), 1) => {
                assert_eq!(inv.item(item).unwrap().available, 1)
            }
            other => panic!("{other:?}"),
        }
        inv.audit().unwrap();
    });
}

/// A reserve that finds the only unit held by a due (not yet expired) reservation must get it:
/// its shortfall path sees through the timer's lower bounds that something is due, even while
/// another thread is in the middle of draining the inboxes.
#[test]
fn shortfall_sees_a_due_hold_while_the_timer_drains() {
    model(2, || {
        let inv = Arc::new(inventory());
        let item = inv.register_item(1).unwrap();
        inv.reserve(CartId::new(1), &[Line::new(item, 1)], TTL)
            .unwrap();
        let expirer = {
            let inv = inv.clone();
            thread::spawn(move || {
                late();
                inv.expire_due()
            })
        };
        late();
        let r = inv.reserve(CartId::new(2), &[Line::new(item, 1)], TTL);
        let expired = expirer.join().unwrap();
        assert!(r.is_ok(), "an expired hold turned a buyer away: {r:?}");
        assert!(expired <= 1);
        inv.audit().unwrap();
    });
}

/// An update of a cart (adding a line) races the cart's retirement (confirm) and the
/// re-creation of the same cart id (a new reserve): no update is lost (every unit taken ends up
/// sold or held by the cart's live reservation), and the dead entry is never written (a unit
/// written into it would be neither sold nor held, and the audit would fail).
#[test]
fn cart_update_races_retirement_and_recreation() {
    model(3, || {
        let inv = Arc::new(inventory());
        let a = inv.register_item(2).unwrap();
        let b = inv.register_item(1).unwrap();
        let cart = CartId::new(7);
        inv.reserve(cart, &[Line::new(a, 1)], TTL).unwrap();
        let update = {
            let inv = inv.clone();
            thread::spawn(move || inv.reserve(cart, &[Line::new(b, 1)], TTL).is_ok())
        };
        let retire = {
            let inv = inv.clone();
            thread::spawn(move || inv.confirm_cart(cart))
        };
        let recreated = inv.reserve(cart, &[Line::new(a, 1)], TTL).is_ok();
        assert!(update.join().unwrap(), "stock of b was there");
        assert_eq!(retire.join().unwrap(), Ok(Confirmation::Confirmed));
        assert!(recreated, "stock of a was there");
        let (la, lb) = (inv.item(a).unwrap(), inv.item(b).unwrap());
        assert_eq!((la.available, la.held + la.sold), (0, 2), "{la:?}");
        assert_eq!((lb.available, lb.held + lb.sold), (0, 1), "{lb:?}");
        assert!(la.sold >= 1, "the original line was confirmed");
        let live = inv.cart(cart).map(|info| info.lines).unwrap_or_default();
        let held_in_cart: i64 = live.iter().map(|l| l.quantity).sum();
        assert_eq!(held_in_cart, la.held + lb.held);
        inv.audit().unwrap();
    });
}

/// Two cart updates race: each applies only its difference, the loser gives back what it took
/// for its attempt and retries on the winner's lines, so the cart ends holding exactly one of
/// the two line sets and the stock adds up.
#[test]
fn set_cart_races_set_cart() {
    model(2, || {
        let inv = Arc::new(inventory());
        let a = inv.register_item(2).unwrap();
        let b = inv.register_item(2).unwrap();
        let cart = CartId::new(3);
        inv.reserve(cart, &[Line::new(a, 1)], TTL).unwrap();
        let first = {
            let inv = inv.clone();
            thread::spawn(move || inv.set_cart(cart, &[Line::new(a, 2)], TTL))
        };
        let second = inv.set_cart(cart, &[Line::new(b, 1)], TTL);
        let first = first.join().unwrap();
        // Both succeed: a set_cart may not be refused while the other returns the units it
        // needs (the returning side announces itself before its deciding swap).
        assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
        let lines = inv.cart(cart).unwrap().lines;
        assert!(
            lines == [Line::new(a, 2)] || lines == [Line::new(b, 1)],
            "{lines:?}"
        );
        inv.audit().unwrap();
    });
}

/// A confirm by id races a reserve on the same cart, which either merges into the held
/// reservation or finds it finished, helps retire it and creates a new one. A lookup by the old
/// id that no longer finds the entry must find the outcome, never `Unknown`: the finisher
/// remembers it right after its winning swap, and a helper remembers it before it marks the
/// entry deleted.
#[test]
fn old_id_lookup_races_confirm_and_recreation() {
    model(2, || {
        let inv = Arc::new(inventory());
        let item = inv.register_item(2).unwrap();
        let cart = CartId::new(5);
        let old = inv.reserve(cart, &[Line::new(item, 1)], TTL).unwrap().id;
        let confirm = {
            let inv = inv.clone();
            thread::spawn(move || inv.confirm(old))
        };
        let new = inv.reserve(cart, &[Line::new(item, 1)], TTL).unwrap().id;
        if new != old {
            assert_eq!(
                inv.status(old),
                Ok(ReservationState::Confirmed),
                "the old reservation is neither found nor remembered"
            );
        }
        assert_eq!(confirm.join().unwrap(), Ok(Confirmation::Confirmed));
        assert_eq!(inv.status(old), Ok(ReservationState::Confirmed));
        let levels = inv.item(item).unwrap();
        // Merged: both units were confirmed together; recreated: the new one is still held.
        let expected = if new == old { (0, 0, 2) } else { (0, 1, 1) };
        assert_eq!((levels.available, levels.held, levels.sold), expected);
        inv.audit().unwrap();
    });
}

/// A set_cart on an empty cart races the creation and the release of the same cart's
/// reservation by another thread. Under every sequential order the set_cart succeeds (before
/// the reserve it takes the free unit; between the two the cart already holds it; after the
/// release the unit is free again), so a shortfall of its take must not stand when the cart got
/// an entry after its `find`, even one already released again.
///
/// Preemption bound 1: with 2 its space takes about a minute.
#[test]
fn set_cart_on_an_empty_cart_races_creation_and_release() {
    model_bounded(1, || {
        let inv = Arc::new(inventory());
        let item = inv.register_item(1).unwrap();
        let cart = CartId::new(3);
        let set = {
            let inv = inv.clone();
            thread::spawn(move || inv.set_cart(cart, &[Line::new(item, 1)], TTL))
        };
        let reserved = inv.reserve(cart, &[Line::new(item, 1)], TTL);
        let released = inv.release_cart(cart);
        let set = set.join().unwrap();
        assert!(
            set.is_ok(),
            "set_cart refused a unit free under every order: {set:?}"
        );
        // If the reserve was refused, set_cart held the unit, and the release released it.
        assert_eq!(released, Ok(()), "{reserved:?}");
        let levels = inv.item(item).unwrap();
        assert_eq!((levels.available + levels.held, levels.sold), (1, 0));
        inv.audit().unwrap();
    });
}

/// A pusher cleaning its shard's inbox (`clean`, without the timer) races a drainer holding
/// the timer. The inbox holds the token of a confirmed reservation, then that of a live one due
/// at `now`. If the cleaner pops the live token while the drainer drops the stale one, the
/// drainer finds the inbox empty and leaves its bound reset: while the cleaner holds the token,
/// no bound covers it, and `maybe_due` must still answer true, through `cleaning`.
///
/// Under loom the inbox is a locked deque (see `SegQueue` in `inventory/mod.rs`): loom sees none of
/// crossbeam-queue's std atomics, and would neither interleave the pops nor see the
/// happens-before they create.
#[test]
fn maybe_due_races_inbox_cleaning_and_drain() {
    model(2, || {
        let inv = Arc::new(inventory());
        let item = inv.register_item(2).unwrap();
        let finished = inv
            .reserve(CartId::new(1), &[Line::new(item, 1)], TTL)
            .unwrap();
        inv.reserve(CartId::new(2), &[Line::new(item, 1)], TTL)
            .unwrap();
        inv.confirm(finished.id).unwrap();
        let cleaner = {
            let inv = inv.clone();
            thread::spawn(move || inv.inner.clean_shard(0, 1))
        };
        inv.inner.drain_inboxes();
        assert!(
            inv.inner.may_be_due(HOUR),
            "a held reservation due at now is covered by no bound"
        );
        cleaner.join().unwrap();
        assert!(inv.inner.may_be_due(HOUR));
    });
}

/// `extend`, a reserve into a held cart and `set_cart` move a hold's deadline, then schedule
/// the new token: in between, the old token is stale (its deadline no longer matches) and no
/// token covers the hold. A late expiry pass that pops the old token then drops it and raises
/// the wheel's bound. While the mover has not pushed the new token, `maybe_due` at a time past
/// the new deadline must still answer true (`Timer::unfile`): a refusal there would turn a
/// buyer away for a due hold.
fn maybe_due_races_a_deadline_move_and_expiry(
    mover: fn(&Inventory, crate::ReservationId, crate::ItemId, crate::ItemId),
) {
    model(3, move || {
        let inv = Arc::new(inventory());
        let item = inv.register_item(1).unwrap();
        let other = inv.register_item(1).unwrap();
        let receipt = inv
            .reserve(CartId::new(1), &[Line::new(item, 1)], TTL)
            .unwrap();
        inv.inner.drain_inboxes();
        let moving = {
            let inv = inv.clone();
            thread::spawn(move || mover(&inv, receipt.id, item, other))
        };
        let expirer = {
            let inv = inv.clone();
            thread::spawn(move || {
                late();
                inv.expire_due()
            })
        };
        expirer.join().unwrap();
        let due = inv.inner.may_be_due(3 * HOUR);
        moving.join().unwrap();
        // Held now means held when `maybe_due` answered (a finished reservation stays so), and
        // every deadline it can have (60 s, 2 h) is due at 3 h.
        let held = inv.status(receipt.id) == Ok(ReservationState::Held);
        assert!(
            due || !held,
            "a held reservation due at 3 h is covered by no bound"
        );
    });
}

const TWO_HOURS: Duration = Duration::from_secs(2 * 3600);

#[test]
fn maybe_due_races_extend_and_expiry() {
    maybe_due_races_a_deadline_move_and_expiry(|inv, id, _, _| {
        let _ = inv.extend(id, TWO_HOURS);
    });
}

#[test]
fn maybe_due_races_reserve_into_the_cart_and_expiry() {
    maybe_due_races_a_deadline_move_and_expiry(|inv, id, _, other| {
        let _ = inv.reserve(id.cart(), &[Line::new(other, 1)], TWO_HOURS);
    });
}

#[test]
fn maybe_due_races_set_cart_and_expiry() {
    maybe_due_races_a_deadline_move_and_expiry(|inv, id, item, other| {
        let _ = inv.set_cart(
            id.cart(),
            &[Line::new(item, 1), Line::new(other, 1)],
            TWO_HOURS,
        );
    });
}

/// After a drain that moves every queued token to the wheel, the inbox's bound no longer holds
/// back `maybe_due`: with nothing held, nothing may be due, so a shortfall does not go to the
/// timer. (Restoring the old bound after every drain would keep every shortfall after the
/// first deadline on the timer's lock.)
#[test]
fn drained_inbox_bounds_nothing() {
    model(1, || {
        let inv = inventory();
        let item = inv.register_item(1).unwrap();
        let receipt = inv
            .reserve(CartId::new(1), &[Line::new(item, 1)], TTL)
            .unwrap();
        inv.confirm(receipt.id).unwrap();
        inv.inner.drain_inboxes();
        assert!(
            !inv.inner.may_be_due(HOUR),
            "a drained, finished token still bounds"
        );
    });
}
