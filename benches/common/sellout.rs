//! The sell-out: one item with `units` units; buyers on `threads` threads each
//! reserve one unit for a fresh cart and confirm it, again and again, until the item is sold
//! out. Stock only goes down, so nothing flatters an engine the way a take-and-give-back loop
//! can (a unit given back to the thread that just took it).
//!
//! Shared by `benches/sellout.rs` (criterion: time to sell out) and
//! `measure/examples/flash_sale.rs` (medians over interleaved runs: throughput, latency
//! percentiles, spread, invariants), which include this file with `#[path]`, so both time the
//! same loop.
//!
//! # One run
//!
//! A fresh engine with default settings gets the sold item (id 0) and a warm-up item (id 1).
//! The buyer threads are spawned; each first reserves and releases one unit of the warm-up item
//! (so that what a long-lived server thread pays once, such as registering with the engine's
//! epoch collector and its first allocations, is not timed), then waits at a gate: a
//! write-locked `RwLock` it tries to read, which the main thread unlocks once every buyer
//! waits. (A `Barrier` would make the main thread a party that must itself get out of it before
//! the buyers can start; with 256 buyers on 2 cores that hand-off took seconds.)
//!
//! Each buyer then loops: `reserve` one unit for a cart it never used before, `confirm` the
//! reservation, until a reserve is refused for a shortfall. Every engine's shortfall is exact
//! (the lock-free one never refuses for units another request may still give back), and no
//! unit ever comes back, so the first refusal means the item is sold out and the buyer stops.
//!
//! # What is measured, and how
//!
//! * The span runs from the first buyer's start (its first reserve) to the last buyer's finish
//!   (its refusal), both timestamps taken by the buyers themselves: with 256 buyers on 2 cores
//!   the main thread can be descheduled for a long time, so nothing here depends on when it
//!   runs. It does not include spawning, warm-up or the audit.
//! * Every [`SAMPLE_EVERY`]th reserve of every buyer (its 1st, its 9th, ...), successful or not,
//!   is timed with two `Instant::now()` calls around the call and recorded in the buyer's own
//!   [`Histogram`] (one array increment: no allocation, no shared write), the same code for
//!   every engine. Percentiles come from the merged histograms, to within 1%.
//! * Each buyer counts its reserves and the confirms that answered `Confirmed`; every 1024
//!   reserves it publishes its count into a cache line of its own for the progress display.
//!
//! # What is checked
//!
//! [`Sellout::problems`] lists every broken invariant: units sold (counted by the buyers and by
//! the engine, which must agree) above the initial stock (*oversold*), units neither sold nor
//! explained (*unsold*: anything left available or held), a refusal that reported units
//! available, a confirm that did not answer `Confirmed`, any other error, and the engine's own
//! `audit` (every item's `received = available + held + sold`, nothing in flight, no live
//! reservation left).

use atomic_stock::baseline::{GlobalLockInventory, ItemLocksInventory};
use atomic_stock::{
    AuditError, AuditReport, CartId, Confirmation, Inventory, ItemId, ItemLevels, Line,
    ReservationEngine, ReserveError, TakeError,
};
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};

/// One reserve in this many is timed (per buyer, starting with its first).
pub const SAMPLE_EVERY: u64 = 8;
/// Time to live of every reservation: far beyond any run, so nothing expires.
const TTL: Duration = Duration::from_secs(600);
/// A buyer publishes its sales count for the progress display every this many reserves.
const PUBLISH_EVERY: u64 = 1024;
/// How often the main thread reports progress while the buyers run.
const POLL: Duration = Duration::from_millis(100);
/// Descriptions of broken invariants kept per run (a systematic bug would repeat one).
const KEPT_PROBLEMS: usize = 10;

/// The lifecycle engines, each with its default settings.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Engine {
    /// [`Inventory`].
    LockFree,
    /// [`ItemLocksInventory`].
    ItemLocks,
    /// [`GlobalLockInventory`].
    GlobalLock,
}

impl Engine {
    /// Every engine, in the order runs interleave them.
    pub const ALL: [Engine; 3] = [Engine::LockFree, Engine::ItemLocks, Engine::GlobalLock];

    pub fn label(self) -> &'static str {
        match self {
            Engine::LockFree => "lock-free",
            Engine::ItemLocks => "item-locks",
            Engine::GlobalLock => "global-lock",
        }
    }
}

/// `audit` is an inherent method of each engine, not part of [`ReservationEngine`].
trait Audited: ReservationEngine {
    fn audit_ledger(&self) -> Result<AuditReport, AuditError>;
}

impl Audited for Inventory {
    fn audit_ledger(&self) -> Result<AuditReport, AuditError> {
        self.audit()
    }
}

impl Audited for ItemLocksInventory {
    fn audit_ledger(&self) -> Result<AuditReport, AuditError> {
        self.audit()
    }
}

impl Audited for GlobalLockInventory {
    fn audit_ledger(&self) -> Result<AuditReport, AuditError> {
        self.audit()
    }
}

/// Latencies in nanoseconds, log-linear: exact below 128 ns, then 64 buckets per power of two
/// (each at most 1/64 of its value wide), up to 2^40 ns (18 minutes). 18 KB, allocated before
/// the timed loop; recording is an index computation and one increment.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
}

impl Histogram {
    const SUB_BITS: u32 = 6;
    const SUB: u64 = 1 << Self::SUB_BITS;
    const MAX_NS: u64 = (1 << 40) - 1;
    const BUCKETS: usize = ((40 - Self::SUB_BITS + 1) as usize) * Self::SUB as usize;

    pub fn new() -> Self {
        Histogram {
            counts: vec![0; Self::BUCKETS].into_boxed_slice(),
        }
    }

    #[inline]
    fn index(ns: u64) -> usize {
        let ns = ns.min(Self::MAX_NS);
        if ns < 2 * Self::SUB {
            return ns as usize;
        }
        // The top SUB_BITS + 1 bits of `ns` pick the bucket: its power of two, then 64 steps.
        let shift = 63 - ns.leading_zeros() - Self::SUB_BITS;
        ((u64::from(shift) + 1) * Self::SUB + (ns >> shift) - Self::SUB) as usize
    }

    /// The middle of bucket `index`'s range.
    fn value(index: usize) -> u64 {
        let index = index as u64;
        if index < 2 * Self::SUB {
            return index;
        }
        let shift = index / Self::SUB - 1;
        let low = (index % Self::SUB + Self::SUB) << shift;
        low + ((1 << shift) - 1) / 2
    }

    #[inline]
    pub fn record(&mut self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.counts[Self::index(ns)] += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
    }

    pub fn samples(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value below which a fraction `p` of the samples fall (nearest rank), in ns; 0 when
    /// there are no samples.
    pub fn percentile(&self, p: f64) -> u64 {
        let total = self.samples();
        if total == 0 {
            return 0;
        }
        let rank = ((p * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::value(index);
            }
        }
        unreachable!("the rank is at most the number of samples")
    }
}

/// What one buyer did.
struct Buyer {
    reserves: u64,
    /// Confirms that answered `Confirmed`.
    sold: u64,
    latency: Histogram,
    problems: Vec<String>,
    problem_count: u64,
    started: Instant,
    finished: Instant,
}

impl Buyer {
    fn problem(&mut self, description: String) {
        self.problem_count += 1;
        if self.problems.len() < KEPT_PROBLEMS {
            self.problems.push(description);
        }
    }
}

/// One sell-out of one engine.
pub struct Sellout {
    pub engine: Engine,
    pub threads: usize,
    pub units: i64,
    /// First buyer's start to last buyer's finish.
    pub span: Duration,
    /// Reserves tried, all buyers.
    pub reserves: u64,
    /// Units sold per buyer, by the buyers' own count of confirms that answered `Confirmed`.
    pub sold_by: Vec<u64>,
    /// Reserve latencies, every buyer's samples merged.
    pub latency: Histogram,
    /// The sold item's counts after the run, as the engine reports them.
    pub levels: Option<ItemLevels>,
    /// The engine's audit after the run.
    pub audit: Result<AuditReport, AuditError>,
    problems: Vec<String>,
    problem_count: u64,
}

impl Sellout {
    /// Units sold, by the buyers' count.
    pub fn sold(&self) -> u64 {
        self.sold_by.iter().sum()
    }

    /// Successful reservations (each confirmed) per second over the span.
    pub fn per_second(&self) -> f64 {
        self.sold() as f64 / self.span.as_secs_f64().max(1e-9)
    }

    /// Successful reserves over reserves tried. Every buyer ends with one refusal, so this is
    /// `sold / (sold + threads)` unless something else failed.
    pub fn success_rate(&self) -> f64 {
        self.sold() as f64 / self.reserves.max(1) as f64
    }

    /// Most units sold by one buyer over fewest (infinite when a buyer sold none).
    pub fn spread(&self) -> f64 {
        let most = self.sold_by.iter().copied().max().unwrap_or(0);
        let fewest = self.sold_by.iter().copied().min().unwrap_or(0);
        most as f64 / fewest as f64
    }

    /// Buyers that sold nothing: the item was gone before the scheduler ran them (or before
    /// they won a single reserve).
    pub fn idle_buyers(&self) -> usize {
        self.sold_by.iter().filter(|&&sold| sold == 0).count()
    }

    /// Units sold beyond the initial stock, by the buyers' count or the engine's, whichever is
    /// larger (must be 0).
    pub fn oversold(&self) -> i64 {
        let engine_sold = self.levels.map_or(0, |levels| levels.sold);
        ((self.sold() as i64).max(engine_sold) - self.units).max(0)
    }

    /// Units the buyers did not buy (must be 0: every buyer stops only when the item is gone).
    pub fn unsold(&self) -> i64 {
        (self.units - self.sold() as i64).max(0)
    }

    /// Every broken invariant, described; empty when the run is sound.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.problems.clone();
        let untold = self.problem_count - self.problems.len() as u64;
        if untold > 0 {
            problems.push(format!("... and {untold} more from the buyers"));
        }
        let sold = self.sold() as i64;
        if self.oversold() > 0 {
            problems.push(format!("oversold by {} units", self.oversold()));
        }
        if self.unsold() > 0 {
            problems.push(format!("{} units unsold", self.unsold()));
        }
        match self.levels {
            None => problems.push("the sold item is unknown to the engine".to_string()),
            Some(levels) => {
                if levels.sold != sold {
                    problems.push(format!(
                        "the engine counts {} units sold, the buyers {sold}",
                        levels.sold
                    ));
                }
                if levels.available != 0 || levels.held != 0 || levels.in_flight != 0 {
                    problems.push(format!("left after the sell-out: {levels:?}"));
                }
            }
        }
        match &self.audit {
            Err(error) => problems.push(format!("audit: {error}")),
            Ok(report) if report.live_reservations != 0 || report.held != 0 => {
                problems.push(format!("audit: reservations left: {report:?}"));
            }
            Ok(_) => {}
        }
        problems
    }
}

/// Sells out one item of `units` units on `threads` buyer threads with a fresh `engine`.
/// `progress` is called on the main thread about every 100 ms with the fraction sold so far
/// (as published by the buyers), and once with 1.0 at the end.
pub fn sell_out(
    engine: Engine,
    threads: usize,
    units: i64,
    progress: &mut dyn FnMut(f64),
) -> Sellout {
    match engine {
        Engine::LockFree => run(&Inventory::new(), engine, threads, units, progress),
        Engine::ItemLocks => run(&ItemLocksInventory::new(), engine, threads, units, progress),
        Engine::GlobalLock => run(
            &GlobalLockInventory::new(),
            engine,
            threads,
            units,
            progress,
        ),
    }
}

fn run<E: Audited>(
    engine: &E,
    label: Engine,
    threads: usize,
    units: i64,
    progress: &mut dyn FnMut(f64),
) -> Sellout {
    assert!(
        threads > 0 && units > 0,
        "a sell-out needs buyers and stock"
    );
    let item = engine
        .register_item(units)
        .expect("registering the sold item");
    let warm_up_item = engine
        .register_item(threads as i64)
        .expect("registering the warm-up item");
    let gate = RwLock::new(());
    let closed = gate.write().unwrap_or_else(PoisonError::into_inner);
    let waiting = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let published: Vec<CachePadded<AtomicU64>> = (0..threads)
        .map(|_| CachePadded::new(AtomicU64::new(0)))
        .collect();
    let main = thread::current();

    let buyers: Vec<Buyer> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (gate, waiting, done, published, main) =
                    (&gate, &waiting, &done, &published[t], &main);
                scope.spawn(move || {
                    warm_up(engine, warm_up_item, t);
                    let latency = Histogram::new();
                    // Relaxed: a count the main thread polls; the gate orders the start.
                    waiting.fetch_add(1, Ordering::Relaxed);
                    drop(gate.read().unwrap_or_else(PoisonError::into_inner));
                    let buyer = buy(engine, item, t, units, latency, published);
                    // AcqRel: the last buyer to finish wakes the main thread; the join orders
                    // everything the buyers did before the main thread reads it.
                    if done.fetch_add(1, Ordering::AcqRel) + 1 == threads {
                        main.unpark();
                    }
                    buyer
                })
            })
            .collect();
        // Relaxed: see above. Yielding lets the buyers that still warm up run.
        while waiting.load(Ordering::Relaxed) < threads {
            thread::yield_now();
        }
        drop(closed);
        // Acquire: pairs with the buyers' AcqRel increments (only the count matters here).
        while done.load(Ordering::Acquire) < threads {
            thread::park_timeout(POLL);
            // Relaxed: a display; the joins order the real results.
            let sold: u64 = published.iter().map(|p| p.load(Ordering::Relaxed)).sum();
            progress(sold as f64 / units as f64);
        }
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a buyer panicked"))
            .collect()
    });
    progress(1.0);

    let started = buyers.iter().map(|b| b.started).min().expect("a buyer");
    let finished = buyers.iter().map(|b| b.finished).max().expect("a buyer");
    let mut latency = Histogram::new();
    let mut problems = Vec::new();
    let mut problem_count = 0;
    for buyer in &buyers {
        latency.merge(&buyer.latency);
        problem_count += buyer.problem_count;
        for problem in &buyer.problems {
            if problems.len() < KEPT_PROBLEMS {
                problems.push(problem.clone());
            }
        }
    }
    Sellout {
        engine: label,
        threads,
        units,
        span: finished - started,
        reserves: buyers.iter().map(|b| b.reserves).sum(),
        sold_by: buyers.iter().map(|b| b.sold).collect(),
        latency,
        levels: engine.item(item),
        audit: engine.audit_ledger(),
        problems,
        problem_count,
    }
}

/// A buyer's first reserve and release, on the warm-up item and a cart it never uses again.
fn warm_up<E: ReservationEngine>(engine: &E, item: ItemId, t: usize) {
    let cart = CartId::new(u64::MAX - t as u64);
    let receipt = engine
        .reserve(cart, &[Line::new(item, 1)], TTL)
        .expect("a warm-up reserve");
    engine.release(receipt.id).expect("a warm-up release");
}

/// Buyer `t`'s loop: reserve one unit for a fresh cart, confirm it, until refused.
fn buy<E: ReservationEngine>(
    engine: &E,
    item: ItemId,
    t: usize,
    units: i64,
    latency: Histogram,
    published: &AtomicU64,
) -> Buyer {
    let line = [Line::new(item, 1)];
    let mut me = Buyer {
        reserves: 0,
        sold: 0,
        latency,
        problems: Vec::new(),
        problem_count: 0,
        started: Instant::now(),
        finished: Instant::now(),
    };
    loop {
        // Carts are never reused: buyer number in the high bits, attempt in the low ones.
        let cart = CartId::new((t as u64) << 40 | me.reserves);
        let result = if me.reserves % SAMPLE_EVERY == 0 {
            let before = Instant::now();
            let result = engine.reserve(cart, &line, TTL);
            me.latency.record(before.elapsed());
            result
        } else {
            engine.reserve(cart, &line, TTL)
        };
        me.reserves += 1;
        match result {
            Ok(receipt) => match engine.confirm(receipt.id) {
                Ok(Confirmation::Confirmed) => me.sold += 1,
                other => me.problem(format!("confirm of a fresh reservation: {other:?}")),
            },
            Err(ReserveError::Stock(TakeError::Shortfall {
                available,
                requested,
                ..
            })) => {
                if !(0..requested).contains(&available) {
                    me.problem(format!(
                        "refused with {available} available for {requested} requested"
                    ));
                }
                break;
            }
            Err(other) => {
                me.problem(format!("reserve: {other}"));
                break;
            }
        }
        if me.sold as i64 > units {
            me.problem(format!("one buyer sold {} of {units} units", me.sold));
            break;
        }
        if me.reserves % PUBLISH_EVERY == 0 {
            // Relaxed: a display only (see `run`).
            published.store(me.sold, Ordering::Relaxed);
        }
    }
    me.finished = Instant::now();
    me
}
