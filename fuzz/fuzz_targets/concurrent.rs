//! Two to four threads run operation lists decoded from the input on one `Inventory`, released
//! together by a barrier; afterwards the audit (which recounts held stock from the live
//! reservations) must pass, `sold` must equal what the successful confirms reported, and
//! `received` must equal the initial stock plus restocks minus shrinks.
//!
//! As in `tests/lifecycle_concurrent.rs`, only a cart's owner thread changes its lines, so a
//! confirm can record exactly what it sold: the owner reads the cart, then confirms; expiry may
//! end the reservation in between (the confirm then fails), but nobody else changes its lines.
//! Other threads may still release or extend any cart.
#![no_main]

use arbitrary::Arbitrary;
use atomic_stock::{CartId, Confirmation, Inventory, ItemId, Line, ManualClock, ReservationError};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

const ITEMS: usize = 3;
const CARTS_PER_THREAD: u64 = 3;

#[derive(Arbitrary, Debug)]
enum Op {
    Reserve(u8, Vec<(u8, u8)>, u8),
    SetCart(u8, Vec<(u8, u8)>, u8),
    Confirm(u8),
    ConfirmCart(u8),
    Release(u8),
    /// Any thread's cart.
    ReleaseCart(u8, u8),
    ReleaseLines(u8, u8),
    /// Any thread's cart.
    ExtendCart(u8, u8, u8),
    Restock(u8, u8),
    Shrink(u8, u8),
    Advance(u8),
    ExpireDue,
    Read(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    initial: u8,
    /// How many times each thread runs its list (1 to 4).
    repeats: u8,
    threads: Vec<Vec<Op>>,
}

/// What one thread did to the ledger.
#[derive(Default)]
struct Ledger {
    sold: [i64; ITEMS],
    restocked: [i64; ITEMS],
    shrunk: [i64; ITEMS],
}

fn item(i: u8) -> ItemId {
    ItemId::new(u32::from(i) % ITEMS as u32)
}

fn lines(raw: &[(u8, u8)]) -> Vec<Line> {
    raw.iter()
        .take(6)
        .map(|&(i, q)| Line::new(item(i), 1 + i64::from(q % 3)))
        .collect()
}

fn ttl(t: u8) -> Duration {
    Duration::from_millis(1 + u64::from(t % 20))
}

fn cart(thread: usize, c: u8) -> CartId {
    CartId::new(thread as u64 * 1_000 + u64::from(c) % CARTS_PER_THREAD)
}

fn confirmed(ledger: &mut Ledger, lines: &[Line], result: Result<Confirmation, ReservationError>) {
    match result {
        Ok(Confirmation::Confirmed) => {
            for l in lines {
                ledger.sold[l.item.get() as usize] += l.quantity;
            }
        }
        Ok(Confirmation::AlreadyConfirmed) => panic!("confirmed twice"),
        // Expiry (or another thread's release) got there first.
        Err(ReservationError::Expired | ReservationError::Released) => {}
        // The reservation finished and was unlinked between the read and the confirm.
        Err(ReservationError::NoReservation { .. }) => {}
        Err(e) => panic!("confirm: {e:?}"),
    }
}

fn worker(
    inv: &Inventory,
    clock: &ManualClock,
    threads: usize,
    me: usize,
    ops: &[Op],
    repeats: usize,
) -> Ledger {
    let mut ledger = Ledger::default();
    for _ in 0..repeats {
        for op in ops {
            match *op {
                Op::Reserve(c, ref l, t) if !l.is_empty() => {
                    let _ = inv.reserve(cart(me, c), &lines(l), ttl(t));
                }
                Op::SetCart(c, ref l, t) if !l.is_empty() => {
                    let _ = inv.set_cart(cart(me, c), &lines(l), ttl(t));
                }
                Op::Reserve(..) | Op::SetCart(..) => {}
                Op::Confirm(c) => {
                    if let Some(info) = inv.cart(cart(me, c)) {
                        confirmed(&mut ledger, &info.lines, inv.confirm(info.id));
                    }
                }
                Op::ConfirmCart(c) => {
                    if let Some(info) = inv.cart(cart(me, c)) {
                        confirmed(&mut ledger, &info.lines, inv.confirm_cart(cart(me, c)));
                    }
                }
                Op::Release(c) => {
                    if let Some(info) = inv.cart(cart(me, c)) {
                        let _ = inv.release(info.id);
                    }
                }
                Op::ReleaseCart(t, c) => {
                    let _ = inv.release_cart(cart(usize::from(t) % threads, c));
                }
                Op::ReleaseLines(c, n) => {
                    if let Some(info) = inv.cart(cart(me, c)) {
                        let n = 1 + usize::from(n) % info.lines.len();
                        let _ = inv.release_lines(info.id, &info.lines[..n]);
                    }
                }
                Op::ExtendCart(t, c, d) => {
                    let _ = inv.extend_cart(cart(usize::from(t) % threads, c), ttl(d));
                }
                Op::Restock(i, q) => {
                    let q = 1 + i64::from(q % 3);
                    inv.restock(item(i), q).unwrap();
                    ledger.restocked[item(i).get() as usize] += q;
                }
                Op::Shrink(i, q) => {
                    let q = 1 + i64::from(q % 3);
                    if inv.shrink(item(i), q).is_ok() {
                        ledger.shrunk[item(i).get() as usize] += q;
                    }
                }
                Op::Advance(ms) => clock.advance(Duration::from_millis(u64::from(ms % 4))),
                Op::ExpireDue => {
                    inv.expire_due();
                }
                Op::Read(i) => {
                    let levels = inv.item(item(i)).unwrap();
                    assert!(levels.available >= 0 && levels.in_flight >= 0, "{levels:?}");
                }
            }
        }
    }
    ledger
}

fuzz_target!(|input: Input| {
    let threads = input.threads.len().clamp(2, 4);
    let repeats = 1 + usize::from(input.repeats % 4);
    let initial = i64::from(input.initial % 8);
    let clock = Arc::new(ManualClock::new());
    let inv = Inventory::builder().clock(clock.clone()).shards(4).build();
    let items: Vec<ItemId> = (0..ITEMS)
        .map(|_| inv.register_item(initial).unwrap())
        .collect();
    let barrier = Barrier::new(threads);
    let empty = Vec::new();
    let ledgers: Vec<Ledger> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|me| {
                let ops = input.threads.get(me).unwrap_or(&empty);
                let (inv, clock, barrier) = (&inv, &*clock, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    worker(inv, clock, threads, me, ops, repeats)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let report = inv.audit().unwrap_or_else(|e| panic!("audit: {e}"));
    assert_eq!(report.live_reservations, inv.live_reservations());
    for (i, &id) in items.iter().enumerate() {
        let levels = inv.item(id).unwrap();
        let sold: i64 = ledgers.iter().map(|l| l.sold[i]).sum();
        let restocked: i64 = ledgers.iter().map(|l| l.restocked[i]).sum();
        let shrunk: i64 = ledgers.iter().map(|l| l.shrunk[i]).sum();
        assert_eq!(
            levels.sold, sold,
            "{id}: sold differs from successful confirms"
        );
        assert_eq!(
            levels.received,
            initial + restocked - shrunk,
            "{id}: received"
        );
        assert_eq!(levels.in_flight, 0);
    }
});
