//! The lifecycle under contention, for every engine that implements `ReservationEngine`: the
//! lock-free `Inventory` and the two lifecycle baselines run the same concurrent workloads, and
//! each must conserve stock exactly. (The sequential contract is checked, for all three, by
//! `tests/lifecycle_model.rs`.)
//!
//! The workers drive the engines through the trait alone and keep their own books (each
//! thread owns its carts, so it knows what every reservation it holds contains); the engines'
//! audits recount held stock from their live reservations afterwards.

use atomic_stock::baseline::{GlobalLockInventory, ItemLocksInventory};
use atomic_stock::{
    AuditError, AuditReport, CartId, Confirmation, Inventory, ItemId, Line, ManualClock,
    ReservationEngine, ReservationError, ReservationId, ReserveError, TakeError,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const ITEMS: usize = 4;
const INITIAL: i64 = 40;
const THREADS: u64 = 4;
const ROUNDS: usize = if cfg!(miri) { 30 } else { 20_000 };

/// What the tests need beyond the trait: a constructor on a manual clock, and the audit.
trait Engine: ReservationEngine + Sized + 'static {
    fn build(clock: Arc<ManualClock>) -> Self;
    fn audit(&self) -> Result<AuditReport, AuditError>;
}

impl Engine for Inventory {
    fn build(clock: Arc<ManualClock>) -> Self {
        Inventory::builder().clock(clock).build()
    }
    fn audit(&self) -> Result<AuditReport, AuditError> {
        Inventory::audit(self)
    }
}

impl Engine for ItemLocksInventory {
    fn build(clock: Arc<ManualClock>) -> Self {
        ItemLocksInventory::with_clock(clock)
    }
    fn audit(&self) -> Result<AuditReport, AuditError> {
        ItemLocksInventory::audit(self)
    }
}

impl Engine for GlobalLockInventory {
    fn build(clock: Arc<ManualClock>) -> Self {
        GlobalLockInventory::with_clock(clock)
    }
    fn audit(&self) -> Result<AuditReport, AuditError> {
        GlobalLockInventory::audit(self)
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A reservation a worker believes live, with exactly what it holds (expiry may have ended it
/// since; the next operation on it says so).
struct Believed {
    id: ReservationId,
    lines: BTreeMap<ItemId, i64>,
}

fn canonical(lines: &[Line]) -> BTreeMap<ItemId, i64> {
    let mut merged = BTreeMap::new();
    for line in lines {
        *merged.entry(line.item).or_insert(0) += line.quantity;
    }
    merged
}

/// What one worker sold and restocked, per item index.
type Books = ([i64; ITEMS], [i64; ITEMS]);

fn work<E: Engine>(inv: &E, clock: &ManualClock, items: &[ItemId], t: u64) -> Books {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ ((t + 1) * 0x9E37_79B9));
    let mut sold = [0i64; ITEMS];
    let mut restocked = [0i64; ITEMS];
    let mut carts: Vec<Option<Believed>> = (0..8).map(|_| None).collect();
    for _ in 0..ROUNDS {
        let slot = rng.below(8) as usize;
        let cart = CartId::new(t * 1_000 + slot as u64);
        let random_lines = |rng: &mut Rng| -> Vec<Line> {
            (0..1 + rng.below(3))
                .map(|_| {
                    Line::new(
                        items[rng.below(ITEMS as u64) as usize],
                        1 + rng.below(2) as i64,
                    )
                })
                .collect()
        };
        let ttl = Duration::from_millis(1 + rng.below(20));
        if rng.below(16) == 0 {
            clock.advance(Duration::from_millis(1));
        }
        let believed = &mut carts[slot];
        match rng.below(8) {
            0..=2 => {
                let lines = random_lines(&mut rng);
                match inv.reserve(cart, &lines, ttl) {
                    Ok(receipt) => match believed {
                        Some(b) if b.id == receipt.id => {
                            for (item, q) in canonical(&lines) {
                                *b.lines.entry(item).or_insert(0) += q;
                            }
                        }
                        // The one believed live expired meanwhile; this is a new one.
                        _ => {
                            *believed = Some(Believed {
                                id: receipt.id,
                                lines: canonical(&lines),
                            })
                        }
                    },
                    Err(ReserveError::Stock(TakeError::Shortfall { .. })) => {}
                    Err(e) => panic!("{}: reserve: {e:?}", inv.name()),
                }
            }
            3 => {
                if let Some(b) = believed.take() {
                    match inv.confirm(b.id) {
                        Ok(Confirmation::Confirmed) => {
                            for (item, q) in b.lines {
                                sold[item.get() as usize] += q;
                                inv.restock(item, q).unwrap();
                                restocked[item.get() as usize] += q;
                            }
                        }
                        Ok(Confirmation::AlreadyConfirmed) => {
                            panic!("{}: confirmed twice", inv.name())
                        }
                        Err(ReservationError::Expired) => {}
                        Err(e) => panic!("{}: confirm: {e:?}", inv.name()),
                    }
                }
            }
            4 => {
                if let Some(b) = believed.take() {
                    match inv.release(b.id) {
                        Ok(()) | Err(ReservationError::Expired) => {}
                        Err(e) => panic!("{}: release: {e:?}", inv.name()),
                    }
                }
            }
            5 => {
                if let Some(b) = believed {
                    match inv.extend(b.id, ttl) {
                        Ok(receipt) => assert_eq!(receipt.id, b.id),
                        Err(ReservationError::Expired) => *believed = None,
                        Err(e) => panic!("{}: extend: {e:?}", inv.name()),
                    }
                }
            }
            6 => {
                if let Some(b) = believed {
                    let (&item, &q) = b.lines.iter().next().expect("a reservation has lines");
                    match inv.release_lines(b.id, &[Line::new(item, q)]) {
                        Ok(()) => {
                            b.lines.remove(&item);
                            if b.lines.is_empty() {
                                *believed = None;
                            }
                        }
                        Err(ReservationError::Expired) => *believed = None,
                        Err(e) => panic!("{}: release_lines: {e:?}", inv.name()),
                    }
                }
            }
            _ => {
                let lines = random_lines(&mut rng);
                match inv.set_cart(cart, &lines, ttl) {
                    Ok(receipt) => {
                        *believed = Some(Believed {
                            id: receipt.id,
                            lines: canonical(&lines),
                        })
                    }
                    Err(ReserveError::Stock(TakeError::Shortfall { .. })) => {}
                    Err(e) => panic!("{}: set_cart: {e:?}", inv.name()),
                }
            }
        }
    }
    (sold, restocked)
}

/// Each thread works on its own carts, so it knows exactly what each of its confirms sold; the
/// carts compete for a few items while expiry runs concurrently. Afterwards `sold` equals what
/// the confirms reported, the audit passes, and once everything has expired every unit is
/// available or sold.
fn conserves_stock<E: Engine>() {
    let clock = Arc::new(ManualClock::new());
    let inv = Arc::new(E::build(clock.clone()));
    let items: Vec<ItemId> = (0..ITEMS)
        .map(|_| inv.register_item(INITIAL).unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let expirer = {
        let (inv, stop) = (inv.clone(), stop.clone());
        thread::spawn(move || {
            // Relaxed: the flag only says when to stop; the join orders the rest.
            while !stop.load(Ordering::Relaxed) {
                inv.expire_due();
                thread::yield_now();
            }
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (inv, items, clock) = (inv.clone(), items.clone(), clock.clone());
            thread::spawn(move || work(&*inv, &clock, &items, t))
        })
        .collect();
    let books: Vec<Books> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    expirer.join().unwrap();

    let name = inv.name();
    inv.audit()
        .unwrap_or_else(|e| panic!("{name}: audit after the run: {e}"));
    for (i, &item) in items.iter().enumerate() {
        let sold: i64 = books.iter().map(|b| b.0[i]).sum();
        let restocked: i64 = books.iter().map(|b| b.1[i]).sum();
        let levels = inv.item(item).unwrap();
        assert_eq!(levels.sold, sold, "{name} {item}: sold != confirmed");
        assert_eq!(levels.received, INITIAL + restocked, "{name} {item}");
        assert_eq!(levels.in_flight, 0, "{name} {item}");
        assert_eq!(
            levels.available + levels.held + levels.sold,
            levels.received,
            "{name} {item}"
        );
    }
    clock.advance(Duration::from_secs(3600));
    inv.expire_due();
    let report = inv
        .audit()
        .unwrap_or_else(|e| panic!("{name}: audit after expiry: {e}"));
    assert_eq!(report.live_reservations, 0, "{name}");
    for &item in &items {
        let levels = inv.item(item).unwrap();
        assert_eq!(levels.held, 0, "{name} {item}");
        assert_eq!(levels.available + levels.sold, levels.received, "{name}");
    }
}

/// Many threads add to the same cart at once: every addition lands exactly once, all in one
/// reservation.
fn additions_to_one_cart_are_never_lost<E: Engine>() {
    let clock = Arc::new(ManualClock::new());
    let inv = Arc::new(E::build(clock));
    let a = inv.register_item(1_000_000).unwrap();
    let b = inv.register_item(1_000_000).unwrap();
    let cart = CartId::new(9);
    let per_thread = if cfg!(miri) { 5 } else { 2_000 };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let inv = inv.clone();
            thread::spawn(move || {
                let item = if t % 2 == 0 { a } else { b };
                (0..per_thread)
                    .map(|_| {
                        inv.reserve(cart, &[Line::new(item, 1)], Duration::from_secs(600))
                            .unwrap()
                            .id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<ReservationId> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let name = inv.name();
    assert!(
        ids.iter().all(|&id| id == ids[0]),
        "{name}: one reservation"
    );
    let expected = per_thread * THREADS as i64 / 2;
    for item in [a, b] {
        let levels = inv.item(item).unwrap();
        assert_eq!(
            (levels.available, levels.held),
            (1_000_000 - expected, expected)
        );
    }
    let report = inv.audit().unwrap();
    assert_eq!(report.live_reservations, 1, "{name}");
    assert_eq!(inv.confirm(ids[0]), Ok(Confirmation::Confirmed));
    assert_eq!(inv.item(a).unwrap().sold, expected);
}

/// Threads share two carts and interleave adding to them, releasing them, updating them and
/// giving back lines, so each cart's reservation (and, in `ItemLocksInventory`, each cart's
/// lock entry) is created and retired constantly under contention. A lost update would leave
/// a record that disagrees with the stock it holds, which the audit catches.
fn shared_carts_churn_without_losing_stock<E: Engine>() {
    let clock = Arc::new(ManualClock::new());
    let inv = Arc::new(E::build(clock));
    let items: Vec<ItemId> = (0..ITEMS)
        .map(|_| inv.register_item(1_000_000).unwrap())
        .collect();
    let rounds = if cfg!(miri) { 20 } else { 10_000 };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (inv, items) = (inv.clone(), items.clone());
            thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                let ttl = Duration::from_secs(600);
                for _ in 0..rounds {
                    let cart = CartId::new(rng.below(2));
                    let line = Line::new(items[rng.below(ITEMS as u64) as usize], 1);
                    match rng.below(4) {
                        0 | 1 => {
                            inv.reserve(cart, &[line], ttl).unwrap();
                        }
                        2 => {
                            let _ = inv.set_cart(cart, &[line], ttl).unwrap();
                        }
                        _ => {
                            // Another thread may have released it, or the line may be gone:
                            // both are refusals that change nothing.
                            if let Ok(receipt) = inv.set_cart(cart, &[line, line], ttl) {
                                let _ = inv.release_lines(receipt.id, &[line]);
                                let _ = inv.release(receipt.id);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let name = inv.name();
    let report = inv.audit().unwrap_or_else(|e| panic!("{name}: audit: {e}"));
    assert!(report.live_reservations <= 2, "{name}");
    let total: i64 = items
        .iter()
        .map(|&i| {
            let l = inv.item(i).unwrap();
            l.available + l.held
        })
        .sum();
    assert_eq!(total, ITEMS as i64 * 1_000_000, "{name}: nothing sold");
}

/// Confirm, release and expiry race on the same reservations: exactly one wins each, and the
/// stock is settled once.
fn exactly_one_of_confirm_release_expire_wins<E: Engine>() {
    let clock = Arc::new(ManualClock::new());
    let inv = Arc::new(E::build(clock.clone()));
    let item = inv.register_item(1_000).unwrap();
    let rounds = if cfg!(miri) { 3 } else { 300 };
    let name = inv.name();
    for round in 0..rounds {
        let r = inv
            .reserve(
                CartId::new(round),
                &[Line::new(item, 1)],
                Duration::from_millis(1),
            )
            .unwrap();
        let confirm = {
            let inv = inv.clone();
            thread::spawn(move || inv.confirm(r.id).is_ok())
        };
        let release = {
            let inv = inv.clone();
            thread::spawn(move || inv.release(r.id).is_ok())
        };
        let expire = {
            let (inv, clock) = (inv.clone(), clock.clone());
            thread::spawn(move || {
                clock.advance(Duration::from_millis(1));
                inv.expire_due();
            })
        };
        let wins = [confirm.join().unwrap(), release.join().unwrap()];
        expire.join().unwrap();
        // A second confirm names the final state.
        match inv.confirm(r.id) {
            Ok(Confirmation::AlreadyConfirmed) => assert_eq!(wins, [true, false], "{name}"),
            Err(ReservationError::Released) => assert_eq!(wins, [false, true], "{name}"),
            Err(ReservationError::Expired) => assert_eq!(wins, [false, false], "{name}"),
            other => panic!("{name} round {round}: {other:?}"),
        }
        let l = inv.item(item).unwrap();
        assert_eq!(l.available + l.sold, 1_000, "{name} round {round}");
        assert_eq!(l.held, 0, "{name} round {round}");
    }
    inv.audit().unwrap();
}

macro_rules! engine_tests {
    ($module:ident, $engine:ty) => {
        mod $module {
            use super::*;

            #[test]
            fn conserves_stock_under_a_concurrent_lifecycle() {
                super::conserves_stock::<$engine>();
            }

            #[test]
            fn concurrent_additions_to_one_cart_are_never_lost() {
                super::additions_to_one_cart_are_never_lost::<$engine>();
            }

            #[test]
            fn shared_carts_churn_without_losing_stock() {
                super::shared_carts_churn_without_losing_stock::<$engine>();
            }

            #[test]
            fn exactly_one_of_confirm_release_expire_wins() {
                super::exactly_one_of_confirm_release_expire_wins::<$engine>();
            }
        }
    };
}

engine_tests!(lock_free, Inventory);
engine_tests!(item_locks, ItemLocksInventory);
engine_tests!(global_lock, GlobalLockInventory);
