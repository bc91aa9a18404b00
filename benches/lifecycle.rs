//! Throughput of whole reservation lifecycles, for the lock-free `Inventory` and the two
//! lifecycle baselines side by side with the raw compare-and-swap loop that bounds them all.
//!
//! # Reproduce
//!
//! ```sh
//! cargo bench --bench lifecycle                              # everything: 36 groups of at most ~40 s here
//! cargo bench --bench lifecycle -- lifecycle/confirm/hot     # one lifecycle on one distribution
//! cargo bench --bench lifecycle -- '/4-lines/'               # one cart size
//! cargo bench --bench lifecycle -- '/256-threads'            # one thread count
//! cargo bench --bench lifecycle -- 'item-locks/'             # one engine (ids: lock-free,
//!                                                            #   item-locks, global-lock, raw-cas, floor)
//! cargo bench --bench lifecycle -- lifecycle/release/uniform/1-lines --warm-up-time 0.1 --measurement-time 0.3
//! ```
//!
//! Defaults: 0.3 s warm-up; 1 s measurement at 1 and 2 threads, 1.5 s at 16, 2 s at 256
//! (oversubscribed runs are the noisiest); 20 samples, 10 at 256 threads. The command line
//! overrides them all.
//! Filters are regular expressions over the benchmark id, and only the engines and catalogs
//! of the benchmarks that match are built, so a filtered run starts at once.
//!
//! # What a figure means
//!
//! A benchmark id reads `lifecycle/<lifecycle>/<items>/<n>-lines/<engine>/<threads>-threads`.
//! One element is one lifecycle of one cart. `iters` lifecycles are split evenly over the
//! threads, which are spawned first and released together by a barrier; the time runs from
//! the first thread's release to the last thread's finish (see `benches/common/mod.rs`).
//! Every run does at least 200 lifecycles per thread, so that no run times the wake-up of
//! 256 threads rather than the engine; when criterion asks for fewer, the time is scaled to the
//! number it asked for.
//! criterion's `thrpt` is lifecycles per second over all threads; its `time` is wall time per
//! lifecycle (at 2 threads, half of what one lifecycle costs its thread).
//!
//! Lifecycles (every thread uses its own carts, distinct `CartId`s, cycling through 256 of
//! them):
//!
//! * `confirm`: `reserve` then `confirm` (the stock is sold).
//! * `release`: `reserve` then `release` (the stock comes back).
//! * `expire`: `reserve`, and after every 32 reserves the thread advances the engine's
//!   `ManualClock` past their deadline and calls `expire_due`, which expires every due
//!   reservation (its own and other threads'). The bench checks that the `expire_due` calls of
//!   each run expired exactly as many reservations as were made. Its carts are never reused
//!   (a fresh `CartId` per reserve), so every reservation is expired by some `expire_due`.
//! * `set-cart`: each thread keeps 128 carts live and moves each between two line sets with
//!   `set_cart` (so each call takes the lines added and gives back the lines dropped).
//!
//! Items, in a catalog of 1,000,000 (lines of one cart are distinct items):
//!
//! * `uniform`: drawn uniformly: little contention, the cost of the path and of cache misses.
//! * `zipf`: Zipf(0.99) over item rank, item 0 the most popular (about 7% of all lines).
//! * `hot`: every cart has a line of item 0, asking 1 or 2 units alternately (so `set-cart`
//!   changes it every time); its other lines are uniform.
//!
//! Every item starts with 2^30 units, far more than any run can sell or hold, so no figure
//! times the refusal path: the bench panics if a reserve is refused. Shortfalls under contention
//! are the subject of `examples/lifecycle_report.rs`.
//!
//! Engines (each built afresh for each benchmark; on the system clock, except in `expire`, where
//! each has its own `ManualClock`):
//!
//! * `raw-cas`: the floor. One `AtomicI64` per item; a lifecycle is the cart's lines taken with
//!   one compare-and-swap loop each and given back with `fetch_add`: no validation, no
//!   reservation record, no cart, no deadline, no in-flight accounting ([`RawCas`]). It is the
//!   same in every lifecycle group, so each group reads as a ratio to it.
//! * `floor`: the least a reservation lifecycle with a record can cost ([`Floor`]): the same
//!   sorted compare-and-swap take as `raw-cas`, plus a preallocated record per reservation in
//!   the thread's own partition, an id made of the record's index and generation (a stale id is
//!   refused without a lookup), settlement by one compare-and-swap on the record's word, and
//!   expiry by scanning each partition's records in the order they were taken (deadlines are
//!   appended in order there, so the expiring side pays). No validation, no cart registry, no
//!   in-flight accounting (so no exact shortfall), no allocation, no epoch, no hashing. Not in
//!   `set-cart` (it has no carts).
//! * `lock-free`: `Inventory` (default settings but the clock).
//! * `item-locks`: `ItemLocksInventory`: per-item, per-cart and per-shard mutexes and one
//!   locked deadline index.
//! * `global-lock`: `GlobalLockInventory`: everything behind one mutex.
//!
//! Why not a `ManualClock` everywhere: a clock that never moves gives every `set_cart` of a
//! cart the same deadline, and the lock-free engine's expiry heap keeps one token per update
//! when deadlines are equal (compaction drops a token only if its deadline differs from the
//! live one), so the heap grows with every update and every drain compacts all of it. On a
//! frozen clock `set-cart` measured about 0.35 M/s for the lock-free engine against 2.3 M/s on
//! the system clock (uniform, 4 lines, 1 thread). That is worth fixing in the engine, not
//! measuring here.
//!
//! Threads: 1, 2, 16 and 256. This machine has 2 cores: 16 and 256 oversubscribe it, which is
//! where a preempted lock holder stalls everyone queued behind it. At 256 threads the system
//! allocator shows too: glibc's malloc has 16 arenas on 2 cores, each behind a mutex, and every
//! engine allocates per reservation (see `examples/lifecycle_report.rs`; run with
//! `GLIBC_TUNABLES=glibc.malloc.arena_max=1024` to take that out of the figures). Compare engines within one
//! group and thread count; absolute numbers belong to the machine. Report p99 and fairness
//! next to these figures (`examples/lifecycle_report.rs`): throughput alone flatters locks that
//! let one thread re-acquire in bursts.

mod common;

use atomic_stock::baseline::{GlobalLockInventory, ItemLocksInventory};
use atomic_stock::{
    CartId, Clock, Inventory, ItemId, Line, ManualClock, ReservationEngine, SystemClock,
};
use common::{timed_threads, XorShift};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use criterion::{measurement::WallTime, Throughput};
use std::cell::OnceCell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Items in every catalog.
const ITEMS: usize = 1_000_000;
/// Units each item starts with (below `MAX_STOCK`, far above what a run can use).
const INITIAL: i64 = 1 << 30;
/// Thread counts measured.
const THREADS: [usize; 4] = [1, 2, 16, 256];
/// Cart sizes measured, in lines.
const CART_LINES: [usize; 3] = [1, 4, 16];
/// Line sets pre-generated per thread (a power of two), one per cart.
const RING: usize = 256;
/// Carts each thread keeps live in `set-cart`; cart `k` alternates between line sets `2k` and
/// `2k + 1`.
const SET_CARTS: usize = RING / 2;
/// Time to live of every reservation (on a manual clock, so it only passes when advanced).
const TTL: Duration = Duration::from_secs(3600);
/// Reserves between two `expire_due` calls of a thread in `expire`.
const EXPIRE_BATCH: u64 = 32;
/// Exponent of the Zipf distribution.
const ZIPF_EXPONENT: f64 = 0.99;
/// Least lifecycles each thread runs per timed run (see [`timed_run`]).
const MIN_OPS_PER_THREAD: u64 = 200;

#[derive(Clone, Copy, Debug)]
enum Lifecycle {
    Confirm,
    Release,
    Expire,
    SetCart,
}

impl Lifecycle {
    const ALL: [Lifecycle; 4] = [
        Lifecycle::Confirm,
        Lifecycle::Release,
        Lifecycle::Expire,
        Lifecycle::SetCart,
    ];

    fn name(self) -> &'static str {
        match self {
            Lifecycle::Confirm => "confirm",
            Lifecycle::Release => "release",
            Lifecycle::Expire => "expire",
            Lifecycle::SetCart => "set-cart",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Items {
    Uniform,
    Zipf,
    Hot,
}

impl Items {
    const ALL: [Items; 3] = [Items::Uniform, Items::Zipf, Items::Hot];

    fn name(self) -> &'static str {
        match self {
            Items::Uniform => "uniform",
            Items::Zipf => "zipf",
            Items::Hot => "hot",
        }
    }
}

/// Zipf over item ranks `0..n` by inverse transform on a precomputed CDF: a binary search per
/// draw, exact for any exponent, and only used to pre-generate carts (never timed). Hand-written
/// to keep the bench free of a distribution crate for one sampler.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, exponent: f64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|rank| {
                total += (rank as f64).powf(-exponent);
                total
            })
            .collect();
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    /// The shared sampler over the bench catalog, built on first use.
    fn catalog() -> &'static Zipf {
        static ZIPF: OnceLock<Zipf> = OnceLock::new();
        ZIPF.get_or_init(|| Zipf::new(ITEMS, ZIPF_EXPONENT))
    }

    fn sample(&self, rng: &mut XorShift) -> usize {
        // 53 random bits as a uniform number in [0, 1).
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// One thread's line sets, `lines` lines each, stored back to back.
struct Ring {
    lines: usize,
    flat: Vec<Line>,
}

impl Ring {
    fn new(items: Items, lines: usize, rng: &mut XorShift) -> Self {
        let mut flat = Vec::with_capacity(RING * lines);
        for index in 0..RING {
            let start = flat.len();
            if let Items::Hot = items {
                flat.push(Line::new(ItemId::new(0), 1 + (index & 1) as i64));
            }
            while flat.len() < start + lines {
                let item = ItemId::new(match items {
                    Items::Uniform | Items::Hot => rng.below(ITEMS as u64) as u32,
                    Items::Zipf => Zipf::catalog().sample(rng) as u32,
                });
                if !flat[start..].iter().any(|l: &Line| l.item == item) {
                    flat.push(Line::new(item, 1));
                }
            }
        }
        Ring { lines, flat }
    }

    #[inline]
    fn cart(&self, index: usize) -> &[Line] {
        let start = (index & (RING - 1)) * self.lines;
        &self.flat[start..start + self.lines]
    }
}

/// Thread `thread`'s cart number `index`: distinct across threads.
#[inline]
fn cart_id(thread: usize, index: usize) -> CartId {
    CartId::new((thread as u64) << 32 | index as u64)
}

/// What one thread's share of a run did.
#[derive(Default)]
struct Tally {
    refused: u64,
    reserved: u64,
    expired: u64,
}

/// Runs lifecycles `first..first + ops` of thread `thread` on `engine`.
fn lifecycles<E: ReservationEngine>(
    engine: &E,
    clock: &ManualClock,
    lifecycle: Lifecycle,
    ring: &Ring,
    thread: usize,
    first: u64,
    ops: u64,
) -> Tally {
    let mut tally = Tally::default();
    for op in first..first + ops {
        let index = op as usize;
        match lifecycle {
            Lifecycle::Confirm | Lifecycle::Release | Lifecycle::Expire => {
                // `expire` never reuses a cart: a reused cart whose last reservation is due,
                // but still being settled by another thread's `expire_due`, is expired by the
                // reserve itself, which that count would miss (seen under load).
                let cart = match lifecycle {
                    Lifecycle::Expire => cart_id(thread, index & 0xFFFF_FFFF),
                    _ => cart_id(thread, index & (RING - 1)),
                };
                match engine.reserve(cart, ring.cart(index), TTL) {
                    Ok(receipt) => match lifecycle {
                        Lifecycle::Confirm => {
                            engine.confirm(receipt.id).expect("confirming a fresh hold");
                        }
                        Lifecycle::Release => {
                            engine.release(receipt.id).expect("releasing a fresh hold");
                        }
                        _ => tally.reserved += 1,
                    },
                    Err(_) => tally.refused += 1,
                }
                if matches!(lifecycle, Lifecycle::Expire) && (op + 1) % EXPIRE_BATCH == 0 {
                    clock.advance(TTL);
                    tally.expired += engine.expire_due() as u64;
                }
            }
            Lifecycle::SetCart => {
                let k = index % SET_CARTS;
                let set = (index / SET_CARTS) & 1;
                let lines = ring.cart(2 * k + set);
                if engine.set_cart(cart_id(thread, k), lines, TTL).is_err() {
                    tally.refused += 1;
                }
            }
        }
    }
    if matches!(lifecycle, Lifecycle::Expire) && (first + ops) % EXPIRE_BATCH != 0 {
        // The run ends mid-batch: expire what this thread left, so no run leaves holds behind.
        clock.advance(TTL);
        tally.expired += engine.expire_due() as u64;
    }
    tally
}

/// [`timed_threads`] with at least [`MIN_OPS_PER_THREAD`] operations per thread, the time
/// scaled back to the `iters` criterion asked for.
///
/// Waking 256 threads from a barrier on 2 cores takes milliseconds. When criterion asks for a
/// few thousand iterations (it does, for short measurement times), each thread would do a few
/// operations and the span would time the wake-up, not the engine. Running more and scaling is
/// what `iter_custom` allows: the value returned is the time `iters` iterations take.
fn timed_run<R: Send>(
    threads: usize,
    iters: u64,
    work: impl Fn(usize, u64) -> R + Sync,
) -> (Duration, Vec<R>) {
    let ops = iters.max(threads as u64 * MIN_OPS_PER_THREAD);
    let (elapsed, results) = timed_threads(threads, ops, work);
    (elapsed.mul_f64(iters as f64 / ops as f64), results)
}

/// An engine under test, built on first use.
struct Bench<E> {
    engine: E,
    clock: Arc<ManualClock>,
    /// Lifecycles each thread has run so far, so that runs continue where the last one
    /// stopped (`set-cart` must keep alternating each cart's line sets).
    done: Vec<AtomicU64>,
}

fn catalog<E: ReservationEngine>(engine: E) -> E {
    for expected in 0..ITEMS {
        let item = engine
            .register_item(INITIAL)
            .expect("registering bench items");
        debug_assert_eq!(item.get() as usize, expected, "ids are dense and in order");
    }
    engine
}

fn bench_engine<E: ReservationEngine>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    build: impl Fn(Arc<dyn Clock>) -> E,
    lifecycle: Lifecycle,
    rings: &OnceCell<Vec<Ring>>,
    make_rings: &dyn Fn() -> Vec<Ring>,
    threads: usize,
) {
    let mut bench: Option<Bench<E>> = None;
    group.bench_function(BenchmarkId::new(label, format!("{threads}-threads")), |b| {
        let rings = rings.get_or_init(make_rings);
        let bench = bench.get_or_insert_with(|| {
            let clock = Arc::new(ManualClock::new());
            // Only `expire` drives time by hand; the others read the system clock, as a
            // deployment does (and a clock that never moves gives every update of a cart the
            // same deadline, which is not what an engine meets in service).
            let engine_clock: Arc<dyn Clock> = match lifecycle {
                Lifecycle::Expire => clock.clone(),
                _ => Arc::new(SystemClock),
            };
            Bench {
                engine: catalog(build(engine_clock)),
                clock,
                done: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            }
        });
        b.iter_custom(|iters| {
            let (elapsed, tallies) = timed_run(threads, iters, |thread, ops| {
                // Relaxed: runs are separated by thread joins, which order these.
                let first = bench.done[thread].fetch_add(ops, Ordering::Relaxed);
                lifecycles(
                    &bench.engine,
                    &bench.clock,
                    lifecycle,
                    &rings[thread],
                    thread,
                    first,
                    ops,
                )
            });
            let refused: u64 = tallies.iter().map(|t| t.refused).sum();
            assert_eq!(refused, 0, "{label}: a reserve was refused");
            let reserved: u64 = tallies.iter().map(|t| t.reserved).sum();
            let expired: u64 = tallies.iter().map(|t| t.expired).sum();
            assert_eq!(reserved, expired, "{label}: every reservation expires");
            elapsed
        });
    });
}

fn bench_raw(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rings: &OnceCell<Vec<Ring>>,
    make_rings: &dyn Fn() -> Vec<Ring>,
    threads: usize,
) {
    let mut raw: Option<RawCas> = None;
    group.bench_function(
        BenchmarkId::new("raw-cas", format!("{threads}-threads")),
        |b| {
            let rings = rings.get_or_init(make_rings);
            let raw = raw.get_or_insert_with(RawCas::new);
            b.iter_custom(|iters| {
                let (elapsed, refused) = timed_run(threads, iters, |thread, ops| {
                    let ring = &rings[thread];
                    (0..ops as usize)
                        .filter(|&op| {
                            let lines = ring.cart(op);
                            let taken = raw.take(lines);
                            raw.give_back(lines);
                            !taken
                        })
                        .count()
                });
                assert_eq!(
                    refused.iter().sum::<usize>(),
                    0,
                    "raw-cas: a take was refused"
                );
                elapsed
            });
        },
    );
}

fn bench_floor(
    group: &mut BenchmarkGroup<'_, WallTime>,
    lifecycle: Lifecycle,
    rings: &OnceCell<Vec<Ring>>,
    make_rings: &dyn Fn() -> Vec<Ring>,
    threads: usize,
) {
    let mut floor: Option<(Floor, Vec<AtomicU64>)> = None;
    group.bench_function(
        BenchmarkId::new("floor", format!("{threads}-threads")),
        |b| {
            let rings = rings.get_or_init(make_rings);
            let (floor, done) = floor.get_or_insert_with(|| {
                (
                    Floor::new(threads),
                    (0..threads).map(|_| AtomicU64::new(0)).collect(),
                )
            });
            b.iter_custom(|iters| {
                let (elapsed, tallies) = timed_run(threads, iters, |thread, ops| {
                    // Relaxed: runs are separated by thread joins, which order these.
                    let first = done[thread].fetch_add(ops, Ordering::Relaxed);
                    let mut tally = Tally::default();
                    for op in first..first + ops {
                        let Some(id) = floor.reserve(thread, ring_lines(rings, thread, op), TTL_NS)
                        else {
                            tally.refused += 1;
                            continue;
                        };
                        match lifecycle {
                            Lifecycle::Confirm => assert!(floor.settle(id, CONFIRMED)),
                            Lifecycle::Release => assert!(floor.settle(id, RELEASED)),
                            _ => {
                                tally.reserved += 1;
                                if (op + 1) % EXPIRE_BATCH == 0 {
                                    floor.advance(TTL_NS);
                                    tally.expired += floor.expire_due();
                                }
                            }
                        }
                    }
                    if matches!(lifecycle, Lifecycle::Expire) && (first + ops) % EXPIRE_BATCH != 0 {
                        floor.advance(TTL_NS);
                        tally.expired += floor.expire_due();
                    }
                    tally
                });
                assert_eq!(
                    tallies.iter().map(|t| t.refused).sum::<u64>(),
                    0,
                    "floor: refused"
                );
                let reserved: u64 = tallies.iter().map(|t| t.reserved).sum();
                let expired: u64 = tallies.iter().map(|t| t.expired).sum();
                assert_eq!(reserved, expired, "floor: every reservation expires");
                elapsed
            });
        },
    );
}

fn ring_lines(rings: &[Ring], thread: usize, op: u64) -> &[Line] {
    rings[thread].cart(op as usize)
}

/// Sets the measurement time and sample count for `threads`, unless the command line sets them
/// (a group's setting would override the command line's).
///
/// Longer measurements where runs are noisier (oversubscribed). At 256 threads a sample is
/// rarely shorter than the per-thread floor of [`timed_run`] (51,200 lifecycles), and
/// criterion's warm-up estimate includes that floor, so there ten samples of about that size
/// are what is measured, whatever the measurement time.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, threads: usize) {
    let on_command_line = |flag: &str| std::env::args().any(|a| a.starts_with(flag));
    if !on_command_line("--measurement-time") {
        group.measurement_time(match threads {
            0..=2 => Duration::from_secs(1),
            3..=16 => Duration::from_millis(1500),
            _ => Duration::from_secs(2),
        });
    }
    if !on_command_line("--sample-size") {
        group.sample_size(if threads > 16 { 10 } else { 20 });
    }
}

fn lifecycle(c: &mut Criterion) {
    for lifecycle in Lifecycle::ALL {
        for items in Items::ALL {
            for lines in CART_LINES {
                let mut group = c.benchmark_group(format!(
                    "lifecycle/{}/{}/{lines}-lines",
                    lifecycle.name(),
                    items.name()
                ));
                group.throughput(Throughput::Elements(1));
                for threads in THREADS {
                    configure(&mut group, threads);
                    let rings = OnceCell::new();
                    let make_rings = || {
                        (0..threads)
                            .map(|t| Ring::new(items, lines, &mut XorShift::for_thread(t)))
                            .collect::<Vec<_>>()
                    };
                    bench_raw(&mut group, &rings, &make_rings, threads);
                    if !matches!(lifecycle, Lifecycle::SetCart) {
                        bench_floor(&mut group, lifecycle, &rings, &make_rings, threads);
                    }
                    bench_engine(
                        &mut group,
                        "lock-free",
                        |clock| Inventory::builder().clock(clock).build(),
                        lifecycle,
                        &rings,
                        &make_rings,
                        threads,
                    );
                    bench_engine(
                        &mut group,
                        "item-locks",
                        ItemLocksInventory::with_clock,
                        lifecycle,
                        &rings,
                        &make_rings,
                        threads,
                    );
                    bench_engine(
                        &mut group,
                        "global-lock",
                        GlobalLockInventory::with_clock,
                        lifecycle,
                        &rings,
                        &make_rings,
                        threads,
                    );
                }
                group.finish();
            }
        }
    }
}

/// The physical limit: one `AtomicI64` per item, each line taken by its own compare-and-swap
/// loop and given back with `fetch_add` (the same floor as `benches/take.rs`).
struct RawCas {
    slots: Vec<AtomicI64>,
}

impl RawCas {
    fn new() -> Self {
        RawCas {
            slots: (0..ITEMS).map(|_| AtomicI64::new(INITIAL)).collect(),
        }
    }

    /// Takes every line or none; false if one was short.
    #[inline]
    fn take(&self, lines: &[Line]) -> bool {
        for (index, line) in lines.iter().enumerate() {
            let slot = &self.slots[line.item.get() as usize];
            // Relaxed: a first guess only; the compare-and-swap below checks it.
            let mut available = slot.load(Ordering::Relaxed);
            loop {
                if available < line.quantity {
                    self.give_back(&lines[..index]);
                    return false;
                }
                match slot.compare_exchange_weak(
                    available,
                    available - line.quantity,
                    // AcqRel, as the crate's slot uses: Acquire pairs with the Release
                    // `fetch_add` that returned these units, Release with the next taker.
                    Ordering::AcqRel,
                    // Relaxed: a failed attempt only learns the current count.
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(current) => available = current,
                }
            }
        }
        true
    }

    #[inline]
    fn give_back(&self, lines: &[Line]) {
        for line in lines {
            // Release: pairs with the Acquire half of the next compare-and-swap on the slot.
            self.slots[line.item.get() as usize].fetch_add(line.quantity, Ordering::Release);
        }
    }
}

/// [`TTL`] in nanoseconds, for [`Floor`]'s clock.
const TTL_NS: u64 = 3_600_000_000_000;
/// Records per partition of [`Floor`] (a power of two).
const FLOOR_RECORDS: usize = 1024;
/// Most lines a [`Floor`] record holds.
const FLOOR_LINES: usize = 16;

/// A [`Floor`] record's state, in the low bits of its word (above them, the number of the
/// reservation that last used it).
const WRITING: u64 = 0;
const HELD: u64 = 1;
const CONFIRMED: u64 = 2;
const RELEASED: u64 = 3;
const EXPIRED: u64 = 4;
const FREE: u64 = 5;
const STATE_BITS: u32 = 3;

/// One reservation's record, reused once its reservation finished.
struct FloorRecord {
    /// `number << STATE_BITS | state`.
    word: AtomicU64,
    /// Nanoseconds on [`Floor`]'s clock.
    deadline: AtomicU64,
    len: AtomicU64,
    items: [AtomicU64; FLOOR_LINES],
    quantities: [AtomicI64; FLOOR_LINES],
}

/// One thread's records, taken in order: record `n % FLOOR_RECORDS` for its `n`-th
/// reservation, so the records' deadlines (one time to live) are in order too.
struct FloorPartition {
    next: AtomicU64,
    /// Every reservation numbered below this has finished (a hint for `expire_due`).
    finished_below: AtomicU64,
    records: Box<[FloorRecord]>,
}

/// The floor engine: see the module documentation ("Engines").
struct Floor {
    /// Its stock: the same words and take as `raw-cas`.
    stock: RawCas,
    partitions: Box<[FloorPartition]>,
    /// A manual clock in nanoseconds.
    now: AtomicU64,
}

impl Floor {
    fn new(threads: usize) -> Self {
        let record = || FloorRecord {
            word: AtomicU64::new(FREE),
            deadline: AtomicU64::new(0),
            len: AtomicU64::new(0),
            items: std::array::from_fn(|_| AtomicU64::new(0)),
            quantities: std::array::from_fn(|_| AtomicI64::new(0)),
        };
        Floor {
            stock: RawCas::new(),
            partitions: (0..threads)
                .map(|_| FloorPartition {
                    next: AtomicU64::new(1),
                    finished_below: AtomicU64::new(1),
                    records: (0..FLOOR_RECORDS).map(|_| record()).collect(),
                })
                .collect(),
            now: AtomicU64::new(0),
        }
    }

    fn advance(&self, nanos: u64) {
        // Relaxed: a test clock; threads that must agree on it are ordered by other means.
        self.now.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Takes `lines` (sorted by item first, into a stack copy) and records the reservation in
    /// thread `thread`'s partition; its id is `number << 8 | partition`.
    fn reserve(&self, thread: usize, lines: &[Line], ttl: u64) -> Option<u64> {
        let mut sorted = [Line::new(atomic_stock::ItemId::new(0), 0); FLOOR_LINES];
        let sorted = &mut sorted[..lines.len()];
        sorted.copy_from_slice(lines);
        sorted.sort_unstable_by_key(|line| line.item);
        if !self.stock.take(sorted) {
            return None;
        }
        let partition = &self.partitions[thread];
        // Relaxed: the partition is this thread's; the number only has to be unique.
        let number = partition.next.fetch_add(1, Ordering::Relaxed);
        let record = &partition.records[number as usize % FLOOR_RECORDS];
        // Relaxed: the record is this thread's; a finished record is not read by anyone who
        // could mistake the new number for the old one (ids carry the number).
        let word = record.word.load(Ordering::Relaxed);
        assert!(
            word & 7 != HELD,
            "floor: more than {FLOOR_RECORDS} live reservations"
        );
        record
            .word
            .store(number << STATE_BITS | WRITING, Ordering::Relaxed);
        // Relaxed (these stores): published by the Release store of the word below.
        record
            .deadline
            .store(self.now.load(Ordering::Relaxed) + ttl, Ordering::Relaxed);
        record.len.store(sorted.len() as u64, Ordering::Relaxed);
        for (i, line) in sorted.iter().enumerate() {
            record.items[i].store(u64::from(line.item.get()), Ordering::Relaxed);
            record.quantities[i].store(line.quantity, Ordering::Relaxed);
        }
        // Release: pairs with the Acquire loads in `settle` and `expire_due`.
        record
            .word
            .store(number << STATE_BITS | HELD, Ordering::Release);
        Some(number << 8 | thread as u64)
    }

    /// Moves reservation `id` from held to `to` with one compare-and-swap; gives its units back
    /// unless it was confirmed. False if the id is stale or the reservation already finished.
    fn settle(&self, id: u64, to: u64) -> bool {
        let (number, partition) = (id >> 8, &self.partitions[(id & 0xFF) as usize]);
        let record = &partition.records[number as usize % FLOOR_RECORDS];
        let held = number << STATE_BITS | HELD;
        // AcqRel: Acquire pairs with the Release store that published the record; Release is
        // for the next user of the record. Relaxed on failure: nothing is read.
        if record
            .word
            .compare_exchange(
                held,
                number << STATE_BITS | to,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return false;
        }
        if to != CONFIRMED {
            // Relaxed: ordered after the publication by the compare-and-swap's Acquire.
            for i in 0..record.len.load(Ordering::Relaxed) as usize {
                let item = record.items[i].load(Ordering::Relaxed) as usize;
                let quantity = record.quantities[i].load(Ordering::Relaxed);
                // Release: pairs with the Acquire half of the next take of the item.
                self.stock.slots[item].fetch_add(quantity, Ordering::Release);
            }
        }
        true
    }

    /// Expires every held reservation whose deadline passed, partition by partition, from the
    /// oldest unfinished record on; returns how many this call expired.
    fn expire_due(&self) -> u64 {
        let now = self.now.load(Ordering::Relaxed);
        let mut expired = 0;
        for (index, partition) in self.partitions.iter().enumerate() {
            // Relaxed: hints; every decision below is a compare-and-swap on a record.
            let end = partition.next.load(Ordering::Relaxed);
            let mut number = partition.finished_below.load(Ordering::Relaxed);
            while number < end {
                let record = &partition.records[number as usize % FLOOR_RECORDS];
                // Acquire: pairs with the Release store that published the record.
                let word = record.word.load(Ordering::Acquire);
                let seen = word >> STATE_BITS;
                // Not written yet (the number is taken before the record is), or being
                // written: nothing after it can be due before it.
                if seen < number || (seen == number && word & 7 == WRITING) {
                    break;
                }
                if seen == number && word & 7 == HELD {
                    // Relaxed: ordered after the publication by the Acquire load above.
                    if record.deadline.load(Ordering::Relaxed) > now {
                        break;
                    }
                    if self.settle(number << 8 | index as u64, EXPIRED) {
                        expired += 1;
                    }
                }
                // Finished (or reused by a later reservation, so finished).
                number += 1;
            }
            // Relaxed: a hint (see above).
            partition
                .finished_below
                .fetch_max(number, Ordering::Relaxed);
        }
        expired
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = lifecycle
}
criterion_main!(benches);
