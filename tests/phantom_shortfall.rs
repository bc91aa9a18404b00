//! No phantom shortfall: a request is never refused for units that another
//! request holds only tentatively and is about to give back.
//!
//! Item A has 1 unit, item B has none. Thread 1 loops a reservation of `[A:1, B:1]`: it always
//! takes A (tentatively), finds B short, and gives A back. Thread 2 loops a reservation of
//! `[A:1]` followed by its release. In every sequential history A is free whenever thread 2
//! asks (thread 1 never succeeds, and thread 2 releases before asking again), so every refusal
//! of thread 2 is a phantom shortfall. With the in-flight count in the stock word, thread 2
//! waits for thread 1's compensation instead of answering "short"; the count must be zero.
//!
//! The same loop runs against the stock core (`Stock::take` / `give_back`), and, ignored by
//! default, against a naive engine without in-flight accounting, to show that the loop does see
//! phantoms when they exist (run with `--ignored`).

use atomic_stock::{CartId, Inventory, ItemId, Line, ReserveError, Stock, TakeError};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

/// Thread 2's attempts, from `PHANTOM_ITERATIONS` (default 200,000; fewer under Miri).
fn iterations() -> u64 {
    std::env::var("PHANTOM_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) { 50 } else { 200_000 })
}

/// The three moves of the scenario, on some engine.
trait Scenario: Sync {
    /// Thread 1: `[A:1, B:1]`, which must always be refused: for B, or for A while thread 2
    /// holds it.
    fn take_both(&self) -> Result<(), TakeError>;
    /// Thread 2: `[A:1]`; `Ok(false)` is a refusal for a shortfall.
    fn take_a(&self) -> bool;
    /// Thread 2: gives A back after a successful `take_a`.
    fn give_back_a(&self);
}

/// What the run saw.
#[derive(Debug)]
struct Counts {
    /// Thread 1's attempts refused for B, having taken A first (the others found A held by
    /// thread 2, legitimately).
    compensating: u64,
    /// Thread 2's attempts.
    attempts: u64,
    /// Thread 2's refusals: phantom shortfalls.
    refusals: u64,
}

/// Runs thread 1 and thread 2 together. Thread 2 makes at least `iterations()` attempts, and
/// goes on until thread 1 has compensated at least a quarter as many times, so the two loops
/// really overlapped however the threads were scheduled.
fn run(scenario: &dyn Scenario, a: ItemId, b: ItemId) -> Counts {
    let done = AtomicBool::new(false);
    let compensated = AtomicU64::new(0);
    let start = Barrier::new(2);
    let iterations = iterations();
    thread::scope(|s| {
        s.spawn(|| {
            start.wait();
            while !done.load(Ordering::Relaxed) {
                match scenario.take_both() {
                    Err(TakeError::Shortfall { item, .. }) if item == b => {
                        // Relaxed: a count read by thread 2 to pace itself, and after the join.
                        compensated.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TakeError::Shortfall { item, .. }) if item == a => {}
                    other => panic!("thread 1 must always be short: {other:?}"),
                }
            }
        });
        start.wait();
        let (mut attempts, mut refusals) = (0, 0);
        while attempts < iterations || compensated.load(Ordering::Relaxed) < iterations / 4 {
            attempts += 1;
            if scenario.take_a() {
                scenario.give_back_a();
            } else {
                refusals += 1;
            }
        }
        done.store(true, Ordering::Relaxed);
        Counts {
            compensating: 0,
            attempts,
            refusals,
        }
    })
    .with_compensating(compensated.into_inner())
}

impl Counts {
    fn with_compensating(mut self, n: u64) -> Self {
        self.compensating = n;
        self
    }
}

struct OnInventory {
    inventory: Inventory,
    a: ItemId,
    b: ItemId,
}

const TTL: Duration = Duration::from_secs(3_600);

impl Scenario for OnInventory {
    fn take_both(&self) -> Result<(), TakeError> {
        let lines = [Line::new(self.a, 1), Line::new(self.b, 1)];
        match self.inventory.reserve(CartId::new(1), &lines, TTL) {
            Ok(_) => Ok(()),
            Err(ReserveError::Stock(e)) => Err(e),
            Err(e) => panic!("{e:?}"),
        }
    }

    fn take_a(&self) -> bool {
        match self
            .inventory
            .reserve(CartId::new(2), &[Line::new(self.a, 1)], TTL)
        {
            Ok(_) => true,
            Err(ReserveError::Stock(TakeError::Shortfall { .. })) => false,
            Err(e) => panic!("{e:?}"),
        }
    }

    fn give_back_a(&self) {
        self.inventory.release_cart(CartId::new(2)).unwrap();
    }
}

#[test]
fn inventory_never_refuses_a_unit_that_is_only_being_compensated() {
    let inventory = Inventory::new();
    let a = inventory.register_item(1).unwrap();
    let b = inventory.register_item(0).unwrap();
    let scenario = OnInventory { inventory, a, b };
    let counts = run(&scenario, a, b);
    let stats = scenario.inventory.stats();
    println!(
        "Inventory: thread 2 attempts {}, refusals {}; thread 1 compensations {}; \
         stats.waits {} (waits that ended in a shortfall), stats.compensations {}",
        counts.attempts, counts.refusals, counts.compensating, stats.waits, stats.compensations
    );
    assert_eq!(counts.refusals, 0, "phantom shortfalls: {counts:?}");
    // A reserve that is short may expire what is due and try once more, so it can give A back
    // twice.
    assert!(
        stats.compensations >= counts.compensating,
        "every refusal of thread 1 for B gave A back"
    );
    let levels = scenario.inventory.item(a).unwrap();
    assert_eq!((levels.available, levels.in_flight, levels.held), (1, 0, 0));
    scenario.inventory.audit().unwrap();
}

struct OnStock {
    stock: Stock,
    a: ItemId,
    b: ItemId,
}

impl Scenario for OnStock {
    fn take_both(&self) -> Result<(), TakeError> {
        self.stock
            .take(&[Line::new(self.a, 1), Line::new(self.b, 1)])
    }

    fn take_a(&self) -> bool {
        match self.stock.take(&[Line::new(self.a, 1)]) {
            Ok(()) => true,
            Err(TakeError::Shortfall { .. }) => false,
            Err(e) => panic!("{e:?}"),
        }
    }

    fn give_back_a(&self) {
        self.stock.give_back(&[Line::new(self.a, 1)]).unwrap();
    }
}

#[test]
fn stock_never_refuses_a_unit_that_is_only_being_compensated() {
    let stock = Stock::new();
    let a = stock.register(1).unwrap();
    let b = stock.register(0).unwrap();
    let scenario = OnStock { stock, a, b };
    let counts = run(&scenario, a, b);
    let stats = scenario.stock.stats();
    println!(
        "Stock: thread 2 attempts {}, refusals {}; thread 1 compensations {}; \
         stats.waits {} (waits that ended in a shortfall), stats.compensations {}",
        counts.attempts, counts.refusals, counts.compensating, stats.waits, stats.compensations
    );
    assert_eq!(counts.refusals, 0, "phantom shortfalls: {counts:?}");
    assert_eq!(scenario.stock.available(a), Some(1));
}

/// A take without in-flight accounting: decrement A, find B short, increment A back. A
/// concurrent taker of A that lands in between sees 0 and is refused: the phantom shortfall
/// the real engines exist to avoid.
struct Naive {
    a: AtomicI64,
}

impl Naive {
    fn take_a_once(&self) -> bool {
        self.a
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v >= 1).then(|| v - 1)
            })
            .is_ok()
    }
}

impl Scenario for Naive {
    fn take_both(&self) -> Result<(), TakeError> {
        if !self.take_a_once() {
            return Err(TakeError::Shortfall {
                item: ItemId::new(0),
                requested: 1,
                available: 0,
            });
        }
        // Looking at B takes a moment (a real engine resolves and loads it); B (always 0) is
        // short: compensate.
        for _ in 0..64 {
            std::hint::spin_loop();
        }
        self.a.fetch_add(1, Ordering::AcqRel);
        Err(TakeError::Shortfall {
            item: ItemId::new(1),
            requested: 1,
            available: 0,
        })
    }

    fn take_a(&self) -> bool {
        self.take_a_once()
    }

    fn give_back_a(&self) {
        self.a.fetch_add(1, Ordering::AcqRel);
    }
}

/// The detector itself: against the naive engine the same loop does count phantom shortfalls.
/// Ignored by default because whether the window is hit depends on scheduling (it is, by far,
/// on every machine tried: run with `cargo test --test phantom_shortfall -- --ignored`).
#[test]
#[ignore = "demonstration: depends on the scheduler hitting a race window"]
fn the_loop_detects_phantoms_of_a_naive_engine() {
    let naive = Naive {
        a: AtomicI64::new(1),
    };
    let counts = run(&naive, ItemId::new(0), ItemId::new(1));
    println!(
        "Naive: thread 2 attempts {}, refusals {}",
        counts.attempts, counts.refusals
    );
    assert!(counts.refusals > 0, "{counts:?}");
}

/// The other phantom: units a release has won but not yet given back. Thread 1 reserves one
/// unit of each of `MAX_LINES` items and releases the reservation; thread 2 polls the
/// reservation's status, and as soon as it reads `Released` (the release has won its state
/// swap: in every sequential history consistent with that answer the units are free) reserves
/// the last item's unit, which the release gives back last. Any refusal is a phantom shortfall.
/// Rounds are separated by a barrier, and thread 1 releases only once thread 2 is polling, so
/// nobody else holds the unit when thread 2 asks.
///
/// Without the finishers' announcements (a release announces itself on each item before the
/// deciding swap, see `src/slot.rs`) this refused 485 to 4,919 of 5,000 rounds: the release
/// decides before it returns the units, and nothing else tells a taker they are on their way.
#[test]
fn a_unit_whose_release_is_visible_is_never_refused() {
    use atomic_stock::limits::MAX_LINES;
    use atomic_stock::{ReservationId, ReservationState};
    use std::sync::Mutex;

    let rounds = std::env::var("PHANTOM_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) {
            3
        } else if cfg!(debug_assertions) {
            500
        } else {
            5_000u64
        });
    let inventory = Inventory::new();
    let items: Vec<ItemId> = (0..MAX_LINES)
        .map(|_| inventory.register_item(1).unwrap())
        .collect();
    let all: Vec<Line> = items.iter().map(|&i| Line::new(i, 1)).collect();
    let last = *items.last().unwrap();
    let current: Mutex<Option<ReservationId>> = Mutex::new(None);
    let (reserved, watching) = (AtomicBool::new(false), AtomicBool::new(false));
    let round_end = Barrier::new(2);
    let (mut seen_released, mut refusals) = (0u64, 0u64);
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..rounds {
                let id = inventory.reserve(CartId::new(1), &all, TTL).unwrap().id;
                *current.lock().unwrap() = Some(id);
                // Release/Acquire: the flags hand the id over and back (the mutex orders the
                // id itself; the flags only pace the two threads).
                reserved.store(true, Ordering::Release);
                while !watching.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                inventory.release(id).unwrap();
                round_end.wait();
            }
        });
        for _ in 0..rounds {
            while !reserved.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            reserved.store(false, Ordering::Relaxed);
            let id = current.lock().unwrap().unwrap();
            watching.store(true, Ordering::Release);
            while inventory.status(id) == Ok(ReservationState::Held) {}
            assert_eq!(inventory.status(id), Ok(ReservationState::Released));
            seen_released += 1;
            match inventory.reserve(CartId::new(2), &[Line::new(last, 1)], TTL) {
                Ok(_) => inventory.release_cart(CartId::new(2)).unwrap(),
                Err(ReserveError::Stock(TakeError::Shortfall { .. })) => refusals += 1,
                Err(e) => panic!("{e:?}"),
            }
            watching.store(false, Ordering::Relaxed);
            round_end.wait();
        }
    });
    println!("release window: {rounds} rounds, release seen {seen_released}, refusals {refusals}");
    assert_eq!(refusals, 0, "phantom shortfalls after a visible release");
    inventory.audit().unwrap();
}
