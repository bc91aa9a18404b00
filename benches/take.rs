//! Throughput of an all-or-nothing take followed by its give-back, for every engine of the
//! crate side by side with the raw compare-and-swap loop that bounds them all.
//!
//! # Reproduce
//!
//! ```sh
//! cargo bench --bench take                       # everything, about 4 minutes on 2 cores
//! cargo bench --bench take -- take/hot           # one workload
//! cargo bench --bench take -- 64-threads         # one thread count
//! cargo bench --bench take -- --warm-up-time 0.2 --measurement-time 0.5   # a quick check
//! ```
//!
//! Defaults: 1 s warm-up, 3 s measurement, 50 samples per benchmark; the command line
//! overrides them.
//!
//! # What a figure means
//!
//! A benchmark id reads `take/<workload>/<engine>/<threads>-threads`. One element is one
//! operation: take a cart, then give it back, so stock stays steady. `iters` operations are
//! split evenly over the threads, which are spawned first and released together by a barrier;
//! the time runs from the first thread's release to the last thread's finish. criterion's
//! `thrpt` is therefore operations per second summed over all threads, and its `time` is wall
//! time divided by operations (at 2 threads, half of what one operation costs its thread).
//!
//! Every take succeeds: each item starts with far more units than all threads together can
//! have out at once, so no figure measures the refusal path (the bench panics if a take is
//! refused, rather than report a refusal as speed).
//!
//! Compare engines within one workload and thread count; the absolute numbers belong to the
//! machine. Engines:
//!
//! * `raw-cas`: the floor. One `AtomicI64` per item, one compare-and-swap loop per line, no
//!   validation, merging, ordering, in-flight accounting or statistics ([`RawCas`]).
//! * `lock-free`: [`Stock`].
//! * `item-locks-parking_lot`, `item-locks-std`: [`ItemLocks`] and [`StdItemLocks`], one mutex
//!   per item taken in ascending item order.
//! * `global-lock`: [`GlobalLock`], every item behind one mutex.
//!
//! Workloads, all quantities 1, items registered 10,000 per engine:
//!
//! * `uniform/1-line`: one item drawn uniformly: little contention, the cost of the path.
//! * `uniform/4-line`: four distinct items drawn uniformly: the multi-line path (validation,
//!   sorting, tentative takes and their commit in `Stock`; four locks held at once in
//!   `ItemLocks`).
//! * `hot/1-line`: every thread takes the same item: pure contention on one word or one lock.
//!
//! There is no `hot/4-line`: four lines on one item are merged by every engine but `raw-cas`
//! into one line of four units, so it would time the same single compare-and-swap (or lock) as
//! `hot/1-line` plus a merge. Contended multi-item carts are the subject of
//! `examples/flash_sale.rs`.
//!
//! Threads: 1, 2 and 64. On a 2-core machine 64 oversubscribes: threads are preempted in the
//! middle of an operation, which is where a lock holder stalls everyone behind it and a
//! lock-free take does not.
//!
//! Each thread cycles through its own ring of pre-generated carts, the same carts for every
//! engine, so the timed loop does no random number generation.

mod common;

use atomic_stock::baseline::{GlobalLock, ItemLocks, StdItemLocks};
use atomic_stock::{AdjustError, CatalogError, ItemId, Line, Stock, StockEngine, TakeError};
use common::{timed_threads, XorShift};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use criterion::{measurement::WallTime, Throughput};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

/// Items registered in every engine.
const ITEMS: usize = 10_000;
/// Units each item starts with: far above the 64 threads x 4 units that can be out at once.
const INITIAL: i64 = 1_000_000;
/// Thread counts measured.
const THREADS: [usize; 3] = [1, 2, 64];
/// Carts pre-generated per thread (a power of two, so the ring index is a mask).
const RING: usize = 1024;

/// How a workload picks its carts.
#[derive(Clone, Copy)]
enum Items {
    /// Distinct items drawn uniformly from all of them.
    Uniform,
    /// Item 0 only.
    Hot,
}

struct Workload {
    name: &'static str,
    items: Items,
    lines: usize,
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "uniform/1-line",
        items: Items::Uniform,
        lines: 1,
    },
    Workload {
        name: "uniform/4-line",
        items: Items::Uniform,
        lines: 4,
    },
    Workload {
        name: "hot/1-line",
        items: Items::Hot,
        lines: 1,
    },
];

/// One thread's carts, `lines` lines each, stored back to back.
struct Ring {
    lines: usize,
    flat: Vec<Line>,
}

impl Ring {
    fn new(workload: &Workload, rng: &mut XorShift) -> Self {
        let mut flat = Vec::with_capacity(RING * workload.lines);
        for _ in 0..RING {
            let cart_start = flat.len();
            while flat.len() < cart_start + workload.lines {
                let item = match workload.items {
                    Items::Uniform => ItemId::new(rng.below(ITEMS as u64) as u32),
                    Items::Hot => ItemId::new(0),
                };
                let repeated = flat[cart_start..].iter().any(|l: &Line| l.item == item);
                if !repeated || matches!(workload.items, Items::Hot) {
                    flat.push(Line::new(item, 1));
                }
            }
        }
        Ring {
            lines: workload.lines,
            flat,
        }
    }

    #[inline]
    fn cart(&self, op: u64) -> &[Line] {
        let start = (op as usize & (RING - 1)) * self.lines;
        &self.flat[start..start + self.lines]
    }
}

/// One thread's share of the work. Returns how many takes were refused (expected: none).
fn take_and_give_back<E: StockEngine>(engine: &E, ring: &Ring, ops: u64) -> u64 {
    let mut refused = 0;
    for op in 0..ops {
        let cart = ring.cart(op);
        match engine.take(cart) {
            Ok(()) => engine
                .give_back(cart)
                .expect("giving back a cart just taken"),
            Err(_) => refused += 1,
        }
    }
    refused
}

/// Registers the catalog every workload draws from; ids come out dense, 0 to `ITEMS - 1`.
fn stocked<E: StockEngine>(engine: E) -> E {
    for expected in 0..ITEMS {
        let item = engine.register(INITIAL).expect("registering bench items");
        assert_eq!(item.get() as usize, expected, "ids are dense and in order");
    }
    engine
}

fn bench_engine<E: StockEngine>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    engine: &E,
    rings: &[Ring],
) {
    let threads = rings.len();
    group.bench_function(BenchmarkId::new(label, format!("{threads}-threads")), |b| {
        b.iter_custom(|iters| {
            let (elapsed, refused) = timed_threads(threads, iters, |thread, ops| {
                take_and_give_back(engine, &rings[thread], ops)
            });
            assert_eq!(
                refused.iter().sum::<u64>(),
                0,
                "{label}: a take was refused; the figure would time refusals"
            );
            elapsed
        });
    });
}

fn take(c: &mut Criterion) {
    for workload in &WORKLOADS {
        let mut group = c.benchmark_group(format!("take/{}", workload.name));
        group.throughput(Throughput::Elements(1));
        let raw = stocked(RawCas::with_capacity(ITEMS));
        let lock_free = stocked(Stock::new());
        let parking_lot_locks = stocked(ItemLocks::new());
        let std_locks = stocked(StdItemLocks::new_std());
        let global = stocked(GlobalLock::new());
        for threads in THREADS {
            let rings: Vec<Ring> = (0..threads)
                .map(|thread| Ring::new(workload, &mut XorShift::for_thread(thread)))
                .collect();
            bench_engine(&mut group, "raw-cas", &raw, &rings);
            bench_engine(&mut group, "lock-free", &lock_free, &rings);
            bench_engine(
                &mut group,
                "item-locks-parking_lot",
                &parking_lot_locks,
                &rings,
            );
            bench_engine(&mut group, "item-locks-std", &std_locks, &rings);
            bench_engine(&mut group, "global-lock", &global, &rings);
        }
        group.finish();
    }
}

/// The physical limit: one `AtomicI64` per item, each line taken by its own compare-and-swap
/// loop, the lines already taken given back with `fetch_add` if a later one is short.
///
/// It skips everything an engine owes its callers: input validation, merging and sorting of
/// lines, in-flight accounting (a concurrent reader can see half a cart taken, and a take can
/// answer "short" while the units it needs are only out with a take about to give them back),
/// statistics. It implements [`StockEngine`] only to run through the same driver as the
/// engines it bounds. Items must be registered before the engine is shared between threads.
struct RawCas {
    slots: Vec<AtomicI64>,
    registered: AtomicUsize,
}

impl RawCas {
    fn with_capacity(items: usize) -> Self {
        RawCas {
            slots: (0..items).map(|_| AtomicI64::new(0)).collect(),
            registered: AtomicUsize::new(0),
        }
    }

    /// The item's slot. Slots not registered yet exist and hold zero units; the floor does not
    /// pay for telling them apart.
    #[inline]
    fn slot(&self, item: ItemId) -> Option<&AtomicI64> {
        self.slots.get(item.get() as usize)
    }

    /// Takes `quantity` units of one slot, or returns the units seen when it falls short.
    #[inline]
    fn take_units(slot: &AtomicI64, quantity: i64) -> Result<(), i64> {
        // Relaxed: a first guess only; the compare-and-swap below checks it.
        let mut available = slot.load(Ordering::Relaxed);
        loop {
            if available < quantity {
                return Err(available);
            }
            match slot.compare_exchange_weak(
                available,
                available - quantity,
                // AcqRel, as the crate's slot uses, so the floor pays the orderings a real
                // engine needs: Acquire pairs with the Release `fetch_add` of the give-back
                // that returned these units, Release with the next taker's Acquire.
                Ordering::AcqRel,
                // Relaxed: a failed attempt only learns the current count, which the next
                // compare-and-swap checks again.
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => available = current,
            }
        }
    }
}

impl StockEngine for RawCas {
    fn name(&self) -> &'static str {
        "raw-cas"
    }

    fn register(&self, initial: i64) -> Result<ItemId, CatalogError> {
        // Relaxed: registration happens before the threads that take are spawned, and the
        // spawn orders it; the count orders nothing.
        let index = self.registered.fetch_add(1, Ordering::Relaxed);
        let slot = self.slots.get(index).ok_or(CatalogError::CatalogFull {
            max: self.slots.len() as u32,
        })?;
        // Relaxed: as above, the spawn of the taking threads publishes the initial count.
        slot.store(initial, Ordering::Relaxed);
        Ok(ItemId::new(index as u32))
    }

    fn take(&self, lines: &[Line]) -> Result<(), TakeError> {
        for (index, line) in lines.iter().enumerate() {
            let slot = self
                .slot(line.item)
                .ok_or(TakeError::UnknownItem { item: line.item })?;
            if let Err(available) = Self::take_units(slot, line.quantity) {
                self.give_back(&lines[..index])?;
                return Err(TakeError::Shortfall {
                    item: line.item,
                    requested: line.quantity,
                    available,
                });
            }
        }
        Ok(())
    }

    fn give_back(&self, lines: &[Line]) -> Result<(), TakeError> {
        for line in lines {
            let slot = self
                .slot(line.item)
                .ok_or(TakeError::UnknownItem { item: line.item })?;
            // Release: pairs with the Acquire half of the compare-and-swap that takes these
            // units next.
            slot.fetch_add(line.quantity, Ordering::Release);
        }
        Ok(())
    }

    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let slot = self.slot(item).ok_or(AdjustError::UnknownItem { item })?;
        // Release: as in `give_back`.
        slot.fetch_add(quantity, Ordering::Release);
        Ok(())
    }

    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let slot = self.slot(item).ok_or(AdjustError::UnknownItem { item })?;
        Self::take_units(slot, quantity).map_err(|available| AdjustError::Shortfall {
            item,
            requested: quantity,
            available,
        })
    }

    fn available(&self, item: ItemId) -> Option<i64> {
        // Acquire: pairs with the Release of the last take or give-back, so a caller that
        // finished an operation sees its effect.
        self.slot(item).map(|slot| slot.load(Ordering::Acquire))
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = take
}
criterion_main!(benches);
