//! Soak: a long mixed workload with a reaper thread and periodic quiescent audits.
//!
//! Worker threads run every lifecycle operation (reserve, cart update, confirm and release by
//! id and by cart, partial release, extend, restock, shrink, status and item reads,
//! `expire_due`) on a few hot items, while the inventory's own reaper thread expires due
//! reservations. Every `SOAK_AUDIT_MS` (default 250) the workers are paused at a barrier and,
//! with nothing running, the audit must pass (it recounts held stock from the live
//! reservations), nothing may be in flight, `sold` must equal what the successful confirms
//! reported, and `received` must equal the initial stock plus restocks minus shrinks.
//!
//! The clock is a `ManualClock` that the workers advance: a paused clock is what makes the
//! audit exact while the reaper keeps running (after one `expire_due` under the paused clock,
//! the reaper finds nothing due). As in `tests/lifecycle_concurrent.rs`, only a cart's owner
//! changes its lines, so a confirm knows what it sold.
//!
//! Ignored by default; `SOAK_SECONDS` sets the duration (default 10):
//! `SOAK_SECONDS=600 cargo test --release --test soak -- --ignored --nocapture`.

use atomic_stock::{
    CartId, Confirmation, Inventory, ItemId, Line, ManualClock, ReservationError, ReserveError,
    TakeError,
};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const ITEMS: usize = 6;
const INITIAL: i64 = 60;
const WORKERS: u64 = 4;
const CARTS_PER_WORKER: u64 = 16;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the workers did to the ledger; read only while they are paused.
#[derive(Default)]
struct Ledger {
    sold: [AtomicI64; ITEMS],
    restocked: [AtomicI64; ITEMS],
    shrunk: [AtomicI64; ITEMS],
    operations: AtomicU64,
}

fn add(counter: &AtomicI64, n: i64) {
    // Relaxed: read only at a pause, after the barrier that orders every worker's updates.
    counter.fetch_add(n, Ordering::Relaxed);
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Shared {
    inv: Inventory,
    clock: Arc<ManualClock>,
    items: Vec<ItemId>,
    ledger: Ledger,
    pause: AtomicBool,
    stop: AtomicBool,
    barrier: Barrier,
}

fn record_confirm(
    shared: &Shared,
    lines: &[Line],
    result: Result<Confirmation, ReservationError>,
) -> Result<(), String> {
    match result {
        Ok(Confirmation::Confirmed) => {
            for l in lines {
                add(&shared.ledger.sold[l.item.get() as usize], l.quantity);
                // Keep the items flowing: put back what was sold.
                shared.inv.restock(l.item, l.quantity).unwrap();
                add(&shared.ledger.restocked[l.item.get() as usize], l.quantity);
            }
            Ok(())
        }
        Ok(Confirmation::AlreadyConfirmed) => Err("confirmed twice".into()),
        // Expiry, or another worker's release, finished it first.
        Err(
            ReservationError::Expired
            | ReservationError::Released
            | ReservationError::NoReservation { .. },
        ) => Ok(()),
        Err(e) => Err(format!("confirm: {e:?}")),
    }
}

fn worker(shared: &Shared, me: u64) {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ ((me + 1) * 0x9E37_79B9));
    let inv = &shared.inv;
    let items = &shared.items;
    // Relaxed: the flags only pace the loop; the barrier orders everything else.
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.pause.load(Ordering::Relaxed) {
            shared.barrier.wait(); // paused
            shared.barrier.wait(); // resumed
            continue;
        }
        let own = CartId::new(me * 1_000 + rng.below(CARTS_PER_WORKER));
        let any = CartId::new(rng.below(WORKERS) * 1_000 + rng.below(CARTS_PER_WORKER));
        let lines = |rng: &mut Rng| -> Vec<Line> {
            (0..1 + rng.below(4))
                .map(|_| {
                    Line::new(
                        items[rng.below(ITEMS as u64) as usize],
                        1 + rng.below(3) as i64,
                    )
                })
                .collect()
        };
        let ttl = Duration::from_millis(1 + rng.below(30));
        // About a millisecond per thousand operations: reservations live for thousands of
        // operations, and the reaper and inline expiry both have work.
        if rng.below(1024) == 0 {
            shared.clock.advance(Duration::from_millis(1));
        }
        match rng.below(20) {
            0..=4 => match inv.reserve(own, &lines(&mut rng), ttl) {
                Ok(_) | Err(ReserveError::Stock(TakeError::Shortfall { .. })) => {}
                Err(e) => panic!("reserve: {e:?}"),
            },
            5 => match inv.set_cart(own, &lines(&mut rng), ttl) {
                Ok(_) | Err(ReserveError::Stock(TakeError::Shortfall { .. })) => {}
                Err(e) => panic!("set_cart: {e:?}"),
            },
            6..=7 => {
                if let Some(info) = inv.cart(own) {
                    record_confirm(shared, &info.lines, inv.confirm(info.id)).unwrap();
                }
            }
            8 => {
                if let Some(info) = inv.cart(own) {
                    record_confirm(shared, &info.lines, inv.confirm_cart(own)).unwrap();
                }
            }
            9 => {
                if let Some(info) = inv.cart(own) {
                    let _ = inv.release(info.id);
                }
            }
            10 => {
                let _ = inv.release_cart(any);
            }
            11 => {
                if let Some(info) = inv.cart(own) {
                    let n = 1 + rng.below(info.lines.len() as u64) as usize;
                    let _ = inv.release_lines(info.id, &info.lines[..n]);
                }
            }
            12 => {
                let _ = inv.extend_cart(any, ttl);
            }
            13 => {
                if let Some(info) = inv.cart(own) {
                    let _ = inv.extend(info.id, ttl);
                    assert!(inv.status(info.id).is_ok());
                }
            }
            14 => {
                let i = rng.below(ITEMS as u64) as usize;
                let q = 1 + rng.below(2) as i64;
                if inv.shrink(items[i], q).is_ok() {
                    add(&shared.ledger.shrunk[i], q);
                }
            }
            15 => {
                let i = rng.below(ITEMS as u64) as usize;
                let q = 1 + rng.below(2) as i64;
                inv.restock(items[i], q).unwrap();
                add(&shared.ledger.restocked[i], q);
            }
            16 => {
                let levels = inv.item(items[rng.below(ITEMS as u64) as usize]).unwrap();
                assert!(levels.available >= 0 && levels.in_flight >= 0, "{levels:?}");
            }
            17 => {
                if let Some(info) = inv.cart(any) {
                    match inv.status(info.id) {
                        Ok(_) | Err(ReservationError::Unknown) => {}
                        Err(e) => panic!("status: {e:?}"),
                    }
                }
            }
            _ => {
                inv.expire_due();
            }
        }
        // Relaxed: a statistic.
        shared.ledger.operations.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs with every worker paused: settles what is due, then checks the books.
fn audit(shared: &Shared) -> usize {
    let inv = &shared.inv;
    // The clock is paused with the workers: after this, the reaper finds nothing due, and any
    // sweep it had started has finished (the timer's mutex serializes them).
    inv.expire_due();
    let report = inv.audit().unwrap_or_else(|e| panic!("audit: {e}"));
    assert_eq!(report.live_reservations, inv.live_reservations());
    for (i, &item) in shared.items.iter().enumerate() {
        let levels = inv.item(item).unwrap();
        let ledger = &shared.ledger;
        // Relaxed: see `add`.
        let sold = ledger.sold[i].load(Ordering::Relaxed);
        let received = INITIAL + ledger.restocked[i].load(Ordering::Relaxed)
            - ledger.shrunk[i].load(Ordering::Relaxed);
        assert_eq!(levels.sold, sold, "{item}: sold differs from confirms");
        assert_eq!(levels.received, received, "{item}: received");
        assert_eq!(levels.in_flight, 0, "{item}: in flight at quiescence");
    }
    report.live_reservations
}

#[test]
#[ignore = "long: SOAK_SECONDS (default 10)"]
fn soak_with_reaper_and_quiescent_audits() {
    let seconds = env("SOAK_SECONDS", 10);
    let audit_every = Duration::from_millis(env("SOAK_AUDIT_MS", 250));
    let clock = Arc::new(ManualClock::new());
    let inv = Inventory::builder()
        .clock(clock.clone())
        .reaper(Duration::from_millis(1))
        .build();
    let items = (0..ITEMS)
        .map(|_| inv.register_item(INITIAL).unwrap())
        .collect();
    let shared = Shared {
        inv,
        clock,
        items,
        ledger: Ledger::default(),
        pause: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        barrier: Barrier::new(WORKERS as usize + 1),
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut audits, mut peak_live) = (0u64, 0usize);
    thread::scope(|s| {
        for me in 0..WORKERS {
            let shared = &shared;
            s.spawn(move || worker(shared, me));
        }
        loop {
            thread::sleep(audit_every);
            shared.pause.store(true, Ordering::Relaxed);
            shared.barrier.wait(); // every worker is paused
            peak_live = peak_live.max(audit(&shared));
            audits += 1;
            let done = Instant::now() >= deadline;
            shared.stop.store(done, Ordering::Relaxed);
            shared.pause.store(false, Ordering::Relaxed);
            shared.barrier.wait(); // resume (or stop)
            if done {
                break;
            }
        }
    });
    audit(&shared);
    let stats = shared.inv.stats();
    println!(
        "soak: {seconds} s, {} operations, {audits} quiescent audits passed, peak live \
         reservations at an audit {peak_live}; {stats:?}",
        shared.ledger.operations.load(Ordering::Relaxed)
    );
    assert!(
        stats.confirms > 0 && stats.releases > 0 && stats.expiries > 0,
        "every path ran: {stats:?}"
    );
}
