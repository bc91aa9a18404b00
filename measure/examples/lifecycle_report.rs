//! Latency and fairness of whole reservation lifecycles, for every lifecycle engine and the
//! raw compare-and-swap floor: what throughput alone hides.
//!
//! ```sh
//! cargo run --release --example lifecycle_report -- --csv lifecycle.csv
//! cargo run --release --example lifecycle_report -- --seconds 3 --threads 2,16,256 --csv out.csv
//! cargo run --release --example lifecycle_report -- --sections scarce --hot-stock 8
//! ```
//!
//! Defaults: `--seconds 1 --threads 2,256 --items 1000000 --sections plentiful,scarce`, hot
//! stock `threads / 4` (at least 1); about 70 s in all. Progress goes to stderr, tables to
//! stdout, and with `--csv PATH` every row also to a CSV file (columns below) for scripts that
//! build the README's tables.
//!
//! # Section `plentiful`: latency and spread when nobody is refused
//!
//! For each engine, workload (`hot`: every cart has a line of item 0 and its other lines
//! uniform; `uniform`: distinct items drawn uniformly from the catalog), thread count and cart
//! size (1, 4, 16 lines), each thread loops for the run's time over its own carts: `reserve`,
//! then `confirm` (even iterations) or `release` (odd). Every item starts with 2^30 units, so
//! nothing runs out and every reserve should succeed.
//!
//! # Section `scarce`: do large carts starve behind small ones?
//!
//! For each engine and thread count, one run mixes cart sizes: a thread's carts have 1, 4 and
//! 16 lines in turn, every cart one unit of the hot item 0 plus uniform lines of plentiful
//! items. Item 0 has only `--hot-stock` units, so most reserves are refused. A successful
//! reservation is held for the thread's next one or two attempts, then released. The table
//! gives the success rate of each cart size: equal rates mean the engine does not favour small
//! carts; a lower rate for 16-line carts means they starve (they hold their other lines, or
//! their locks, longer, and the hot unit is gone more often by the time they reach it).
//!
//! # Columns (table and CSV)
//!
//! * `section`, `engine`, `workload`, `threads`, `cart_lines` (`mixed` for a scarce run's
//!   totals), `seconds` (the run's span).
//! * `attempts`, `successes`, `success_rate`: reserves tried and succeeded.
//! * `per_s`: successful lifecycles per second, all threads together (in `scarce`, successful
//!   reserves per second of that cart size).
//! * `p50_ns`, `p99_ns`, `p999_ns`: latency of one `reserve` call, successful or refused,
//!   sampled on every 8th call of every thread (every 4th in `scarce`), merged over threads.
//! * `spread`: most successes of one thread over fewest (1.00 is perfectly fair; `inf` when a
//!   thread never succeeded). With more threads than cores this mixes the engine's fairness
//!   with the scheduler's, and short runs exaggerate it.
//!
//! After every run all holds are released and every item must be back to its initial stock
//! (minus what was sold): the program exits with status 1 if any run breaks that, or if any
//! call fails other than with a shortfall.
//!
//! # The allocator shows at 256 threads
//!
//! glibc's malloc gives 2 cores 16 arenas, each behind a mutex. The lock-free engine allocates
//! on every reserve (its registry entry and hold) and frees through its epoch collector, so at
//! 256 threads most of its threads queue on arena mutexes whose holder was preempted (seen with
//! gdb here: 239 of 256 threads in `__lll_lock_wait_private` under `malloc`, 15 growing an
//! arena with `mprotect`). The result is a `spread` of thousands or `inf` (threads that
//! finished one reserve in a second) and a p999 of hundreds of milliseconds for that engine,
//! none of it in the engine's own code. To see the engines without it, run with
//! `GLIBC_TUNABLES=glibc.malloc.arena_max=1024` (one arena per thread); measured here, that took
//! the lock-free 256-thread p999 from about 400 ms to about 10 µs and its spread to 14-100.
//!
//! `raw-cas` is the floor: one `AtomicI64` per item, a reserve is one compare-and-swap loop per
//! line and a confirm or release gives the units back (it has no sale, no record and no cart).

use atomic_stock::baseline::{GlobalLockInventory, ItemLocksInventory};
use atomic_stock::{
    CartId, Inventory, ItemId, Line, ReservationEngine, ReservationId, ReserveError, TakeError,
};
use atomic_stock_measure::args::{self, Arg, Parser};
use atomic_stock_measure::figures::{latency, percentile, spread as spread_text};
use atomic_stock_measure::rng::XorShift;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};

/// Units of every plentiful item.
const INITIAL: i64 = 1 << 30;
/// Cart sizes, in lines.
const CART_LINES: [usize; 3] = [1, 4, 16];
/// Pre-generated carts per thread in `plentiful` (a power of two).
const RING: usize = 256;
/// Time to live of every reservation: far beyond any run.
const TTL: Duration = Duration::from_secs(600);
/// One reserve in this many is timed, in `plentiful` and in `scarce`.
const LATENCY_EVERY_PLENTIFUL: u64 = 8;
const LATENCY_EVERY_SCARCE: u64 = 4;
/// Attempts a successful scarce reservation stays out for, at most (at least one).
const HOLD_ATTEMPTS: u64 = 2;
/// Bounds on the options.
const MAX_THREADS: usize = 4096;
const MAX_ITEMS: usize = 10_000_000;
const MAX_SECONDS: f64 = 3600.0;

const USAGE: &str = "usage: lifecycle_report [--seconds 1] [--threads 2,256] [--items 1000000] \
                     [--hot-stock N] [--sections plentiful,scarce] [--csv PATH]";

const ENGINES: [&str; 4] = ["lock-free", "item-locks", "global-lock", "raw-cas"];

struct Options {
    seconds: Duration,
    threads: Vec<usize>,
    items: usize,
    hot_stock: Option<i64>,
    plentiful: bool,
    scarce: bool,
    csv: Option<String>,
}

impl Options {
    fn read(parser: &mut Parser) -> Result<Options, args::Error> {
        let mut options = Options {
            seconds: Duration::from_secs(1),
            threads: vec![2, 256],
            items: 1_000_000,
            hot_stock: None,
            plentiful: true,
            scarce: true,
            csv: None,
        };
        while let Some(arg) = parser.next()? {
            match arg {
                Arg::Long("seconds") => {
                    let s: f64 = args::number_in(parser, "--seconds", 0.001..=MAX_SECONDS)?;
                    options.seconds = Duration::from_secs_f64(s);
                }
                Arg::Long("threads") => {
                    options.threads = args::numbers_in(parser, "--threads", 1..=MAX_THREADS)?;
                }
                Arg::Long("items") => {
                    options.items = args::number_in(parser, "--items", 16..=MAX_ITEMS)?
                }
                Arg::Long("hot-stock") => {
                    options.hot_stock = Some(args::number_in(parser, "--hot-stock", 1..=1 << 30)?);
                }
                Arg::Long("sections") => {
                    let sections = args::text(parser)?;
                    options.plentiful = sections.split(',').any(|s| s == "plentiful");
                    options.scarce = sections.split(',').any(|s| s == "scarce");
                    if !options.plentiful && !options.scarce {
                        return Err(format!("--sections: unknown {sections:?}").into());
                    }
                }
                Arg::Long("csv") => options.csv = Some(args::text(parser)?),
                Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
                _ => return Err(arg.unexpected()),
            }
        }
        Ok(options)
    }
}

/// Fills `lines` with a cart of `len` lines: with `hot`, one unit of item 0 then uniform
/// distinct items from `1..items`; without, uniform distinct items from the whole catalog.
fn random_cart(rng: &mut XorShift, items: usize, hot: bool, len: usize, lines: &mut Vec<Line>) {
    lines.clear();
    if hot {
        lines.push(Line::new(ItemId::new(0), 1));
    }
    while lines.len() < len {
        let item = if hot {
            1 + rng.below(items as u64 - 1)
        } else {
            rng.below(items as u64)
        };
        let item = ItemId::new(item as u32);
        if !lines.iter().any(|l| l.item == item) {
            lines.push(Line::new(item, 1));
        }
    }
}

/// The floor: one `AtomicI64` per item (see the module docs).
struct RawCas {
    slots: Vec<AtomicI64>,
}

impl RawCas {
    fn take(&self, lines: &[Line]) -> Result<(), ReserveError> {
        for (index, line) in lines.iter().enumerate() {
            let slot = &self.slots[line.item.get() as usize];
            // Relaxed: a first guess; the compare-and-swap checks it.
            let mut available = slot.load(Ordering::Relaxed);
            loop {
                if available < line.quantity {
                    self.give_back(&lines[..index]);
                    return Err(ReserveError::Stock(TakeError::Shortfall {
                        item: line.item,
                        requested: line.quantity,
                        available,
                    }));
                }
                // AcqRel / Relaxed: as the crate's slots (see benches/take.rs).
                match slot.compare_exchange_weak(
                    available,
                    available - line.quantity,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(current) => available = current,
                }
            }
        }
        Ok(())
    }

    fn give_back(&self, lines: &[Line]) {
        for line in lines {
            // Release: pairs with the next taker's Acquire.
            self.slots[line.item.get() as usize].fetch_add(line.quantity, Ordering::Release);
        }
    }
}

/// An engine under test.
enum Engine {
    Real(Box<dyn ReservationEngine>),
    Raw(RawCas),
}

/// What a successful reserve holds.
#[derive(Clone, Copy)]
enum Hold {
    Id(ReservationId),
    Raw,
}

impl Engine {
    /// A fresh engine with `stock[i]` units of item `i`.
    fn build(name: &str, stock: impl Iterator<Item = i64>) -> Engine {
        let real: Box<dyn ReservationEngine> = match name {
            "lock-free" => Box::new(Inventory::new()),
            "item-locks" => Box::new(ItemLocksInventory::new()),
            "global-lock" => Box::new(GlobalLockInventory::new()),
            _ => {
                return Engine::Raw(RawCas {
                    slots: stock.map(AtomicI64::new).collect(),
                })
            }
        };
        for units in stock {
            real.register_item(units).expect("registering an item");
        }
        Engine::Real(real)
    }

    fn reserve(&self, cart: CartId, lines: &[Line]) -> Result<Hold, ReserveError> {
        match self {
            Engine::Real(engine) => engine.reserve(cart, lines, TTL).map(|r| Hold::Id(r.id)),
            Engine::Raw(raw) => raw.take(lines).map(|()| Hold::Raw),
        }
    }

    fn finish(&self, hold: Hold, lines: &[Line], confirm: bool) -> Result<(), String> {
        match (self, hold) {
            (Engine::Real(engine), Hold::Id(id)) if confirm => engine
                .confirm(id)
                .map(drop)
                .map_err(|e| format!("confirm: {e}")),
            (Engine::Real(engine), Hold::Id(id)) => {
                engine.release(id).map_err(|e| format!("release: {e}"))
            }
            (Engine::Raw(raw), Hold::Raw) => {
                raw.give_back(lines);
                Ok(())
            }
            _ => unreachable!("holds come from the same engine"),
        }
    }

    /// Units available and held of `item`, and sold.
    fn levels(&self, item: ItemId) -> (i64, i64, i64) {
        match self {
            Engine::Real(engine) => {
                let l = engine.item(item).expect("a registered item");
                (l.available, l.held, l.sold)
            }
            Engine::Raw(raw) => (
                // Acquire: after the joins, the last give-back is visible anyway.
                raw.slots[item.get() as usize].load(Ordering::Acquire),
                0,
                0,
            ),
        }
    }
}

/// What one thread did in one run, per cart size (index into [`CART_LINES`]).
#[derive(Default, Clone)]
struct PerSize {
    attempts: u64,
    successes: u64,
    latencies_ns: Vec<u64>,
}

struct Worker {
    sizes: [PerSize; 3],
    errors: Vec<String>,
    started: Instant,
    finished: Instant,
}

/// Runs `work` on `threads` threads released together, until `duration` has passed. Each
/// thread first runs `prepare`, before the gate: its carts, and a first reserve and release
/// of its own, so that what a long-lived server thread pays once (registering with the
/// engine's epoch collector, its first allocations, touching its stack) is not timed.
///
/// The threads wait at a gate, a write-locked `RwLock` they try to read, and the main thread
/// opens it by unlocking. A `Barrier` would make the main thread a party that must itself get
/// out of the barrier (re-acquiring its mutex after every worker) before it can start the
/// clock; with 256 workers already spinning on 2 cores that hand-off took seconds here.
fn run_threads<S>(
    threads: usize,
    duration: Duration,
    prepare: impl Fn(usize) -> S + Sync,
    work: impl Fn(usize, S, &AtomicBool) -> ([PerSize; 3], Vec<String>) + Sync,
) -> Vec<Worker> {
    let gate = RwLock::new(());
    let closed = gate.write().unwrap_or_else(PoisonError::into_inner);
    let waiting = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (gate, waiting, stop) = (&gate, &waiting, &stop);
                let (prepare, work) = (&prepare, &work);
                scope.spawn(move || {
                    let prepared = prepare(t);
                    // Relaxed: a count the main thread polls; the gate orders the start.
                    waiting.fetch_add(1, Ordering::Relaxed);
                    drop(gate.read().unwrap_or_else(PoisonError::into_inner));
                    let started = Instant::now();
                    let (sizes, errors) = work(t, prepared, stop);
                    Worker {
                        sizes,
                        errors,
                        started,
                        finished: Instant::now(),
                    }
                })
            })
            .collect();
        // Relaxed: see above. Yielding lets the workers that still prepare run.
        while waiting.load(Ordering::Relaxed) < threads {
            thread::yield_now();
        }
        drop(closed);
        thread::sleep(duration);
        // Relaxed: the flag only says when to stop; the joins order everything else.
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker panicked"))
            .collect()
    })
}

/// A thread's first reserve and release, on a cart outside the measured ones and an item
/// other than the hot one (see [`run_threads`]).
fn warm_up(engine: &Engine, items: usize, t: usize) {
    let line = [Line::new(ItemId::new(1 + (t % (items - 1)) as u32), 1)];
    let cart = CartId::new(u64::MAX - t as u64);
    let hold = engine.reserve(cart, &line).expect("a warm-up reserve");
    engine
        .finish(hold, &line, false)
        .expect("a warm-up release");
}

/// A plentiful thread's carts, made before the gate, and its warm-up.
fn plentiful_carts(
    engine: &Engine,
    items: usize,
    hot: bool,
    len: usize,
    t: usize,
) -> Vec<Vec<Line>> {
    let mut rng = XorShift::new(t as u64 ^ ((len as u64) << 32));
    let mut cart = Vec::with_capacity(len);
    let ring = (0..RING)
        .map(|_| {
            random_cart(&mut rng, items, hot, len, &mut cart);
            cart.clone()
        })
        .collect();
    warm_up(engine, items, t);
    ring
}

/// A plentiful run: reserve then confirm or release, on carts of `len` lines.
fn plentiful(
    engine: &Engine,
    ring: Vec<Vec<Line>>,
    len: usize,
    t: usize,
    stop: &AtomicBool,
) -> ([PerSize; 3], Vec<String>) {
    let size = CART_LINES
        .iter()
        .position(|&n| n == len)
        .expect("a measured size");
    let mut sizes: [PerSize; 3] = Default::default();
    let me = &mut sizes[size];
    let mut errors = Vec::new();
    let mut op = 0u64;
    // Relaxed: see `run_threads`.
    while !stop.load(Ordering::Relaxed) {
        let lines = &ring[op as usize % RING];
        let cart = CartId::new(((t as u64) << 32) | (op % RING as u64));
        let result = if op % LATENCY_EVERY_PLENTIFUL == 0 {
            let before = Instant::now();
            let result = engine.reserve(cart, lines);
            me.latencies_ns.push(before.elapsed().as_nanos() as u64);
            result
        } else {
            engine.reserve(cart, lines)
        };
        me.attempts += 1;
        match result {
            Ok(hold) => match engine.finish(hold, lines, op % 2 == 0) {
                Ok(()) => me.successes += 1,
                Err(e) => errors.push(e),
            },
            Err(ReserveError::Stock(TakeError::Shortfall { .. })) => {}
            Err(e) => errors.push(format!("reserve: {e}")),
        }
        op += 1;
    }
    (sizes, errors)
}

/// A scarce run: mixed cart sizes, each with one unit of the scarce hot item, held for a
/// while when reserved.
fn scarce(
    engine: &Engine,
    items: usize,
    t: usize,
    stop: &AtomicBool,
) -> ([PerSize; 3], Vec<String>) {
    let mut rng = XorShift::new(t as u64 ^ (0x5CA2CE << 32));
    let mut sizes: [PerSize; 3] = Default::default();
    let mut errors = Vec::new();
    // Held reservations with the attempt count at which each goes back.
    let mut pocket: Vec<(Hold, Vec<Line>, u64)> = Vec::new();
    let mut lines = Vec::with_capacity(16);
    let mut attempt = 0u64;
    // Relaxed: see `run_threads`.
    while !stop.load(Ordering::Relaxed) {
        while let Some(i) = pocket.iter().position(|p| p.2 <= attempt) {
            let (hold, held, _) = pocket.swap_remove(i);
            if let Err(e) = engine.finish(hold, &held, false) {
                errors.push(e);
            }
        }
        let size = (attempt as usize + t) % CART_LINES.len();
        random_cart(&mut rng, items, true, CART_LINES[size], &mut lines);
        let cart = CartId::new((t as u64) << 32 | attempt);
        let me = &mut sizes[size];
        let result = if attempt % LATENCY_EVERY_SCARCE == 0 {
            let before = Instant::now();
            let result = engine.reserve(cart, &lines);
            me.latencies_ns.push(before.elapsed().as_nanos() as u64);
            result
        } else {
            engine.reserve(cart, &lines)
        };
        me.attempts += 1;
        attempt += 1;
        match result {
            Ok(hold) => {
                me.successes += 1;
                let due = attempt + 1 + rng.below(HOLD_ATTEMPTS);
                pocket.push((hold, lines.clone(), due));
            }
            Err(ReserveError::Stock(TakeError::Shortfall { .. })) => {}
            Err(e) => errors.push(format!("reserve: {e}")),
        }
    }
    for (hold, held, _) in pocket {
        if let Err(e) = engine.finish(hold, &held, false) {
            errors.push(e);
        }
    }
    (sizes, errors)
}

/// One row of the report.
struct Row {
    section: &'static str,
    engine: &'static str,
    workload: &'static str,
    threads: usize,
    cart_lines: String,
    seconds: f64,
    attempts: u64,
    successes: u64,
    per_s: f64,
    p50_ns: u64,
    p99_ns: u64,
    p999_ns: u64,
    spread: f64,
}

impl Row {
    const CSV_HEADER: &'static str = "section,engine,workload,threads,cart_lines,seconds,\
                                      attempts,successes,success_rate,per_s,p50_ns,p99_ns,\
                                      p999_ns,spread";

    fn success_rate(&self) -> f64 {
        self.successes as f64 / self.attempts.max(1) as f64
    }

    fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{:.4},{},{},{:.6},{:.1},{},{},{},{}",
            self.section,
            self.engine,
            self.workload,
            self.threads,
            self.cart_lines,
            self.seconds,
            self.attempts,
            self.successes,
            self.success_rate(),
            self.per_s,
            self.p50_ns,
            self.p99_ns,
            self.p999_ns,
            spread_text(self.spread),
        )
    }
}

/// A row summarizing `workers` over the cart sizes `sizes` (indices into [`CART_LINES`]).
fn summarize(
    (section, engine, workload, threads): (&'static str, &'static str, &'static str, usize),
    cart_lines: String,
    workers: &[Worker],
    sizes: &[usize],
) -> Row {
    let started = workers.iter().map(|w| w.started).min().expect("a worker");
    let finished = workers.iter().map(|w| w.finished).max().expect("a worker");
    let seconds = (finished - started).as_secs_f64();
    let of = |w: &Worker, f: fn(&PerSize) -> u64| sizes.iter().map(|&s| f(&w.sizes[s])).sum();
    let per_worker: Vec<u64> = workers.iter().map(|w| of(w, |p| p.successes)).collect();
    let attempts: u64 = workers.iter().map(|w| of(w, |p| p.attempts)).sum();
    let successes: u64 = per_worker.iter().sum();
    let most = per_worker.iter().copied().max().unwrap_or(0);
    let fewest = per_worker.iter().copied().min().unwrap_or(0);
    let mut latencies: Vec<u64> = workers
        .iter()
        .flat_map(|w| {
            sizes
                .iter()
                .flat_map(|&s| w.sizes[s].latencies_ns.iter().copied())
        })
        .collect();
    latencies.sort_unstable();
    Row {
        section,
        engine,
        workload,
        threads,
        cart_lines,
        seconds,
        attempts,
        successes,
        per_s: successes as f64 / seconds,
        p50_ns: percentile(&latencies, 0.50),
        p99_ns: percentile(&latencies, 0.99),
        p999_ns: percentile(&latencies, 0.999),
        spread: most as f64 / fewest as f64,
    }
}

/// Checks that every item of `stock` is back: available + sold = initial, nothing held.
fn audit(engine: &Engine, name: &str, stock: &[i64], problems: &mut Vec<String>) {
    for (index, &initial) in stock.iter().enumerate() {
        let item = ItemId::new(index as u32);
        let (available, held, sold) = engine.levels(item);
        if held != 0 || available + sold != initial {
            problems.push(format!(
                "{name}: {item}: available {available} + sold {sold} != {initial}, held {held}"
            ));
            return;
        }
    }
}

fn print_table(title: &str, rows: &[Row]) {
    println!("{title}");
    println!(
        "{:<12}{:<9}{:>8}{:>7}{:>14}{:>9}{:>11}{:>11}{:>11}{:>8}",
        "engine", "workload", "threads", "lines", "ok/s", "success", "p50", "p99", "p999", "spread"
    );
    for row in rows {
        println!(
            "{:<12}{:<9}{:>8}{:>7}{:>14.0}{:>8.1}%{:>11}{:>11}{:>11}{:>8}",
            row.engine,
            row.workload,
            row.threads,
            row.cart_lines,
            row.per_s,
            row.success_rate() * 100.0,
            latency(row.p50_ns),
            latency(row.p99_ns),
            latency(row.p999_ns),
            spread_text(row.spread),
        );
    }
    println!();
}

fn main() -> ExitCode {
    let options = match args::parse("lifecycle_report", USAGE, Options::read) {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    let mut csv = match &options.csv {
        Some(path) => match File::create(path) {
            Ok(file) => {
                let mut out = BufWriter::new(file);
                if let Err(e) = writeln!(out, "{}", Row::CSV_HEADER) {
                    eprintln!("{path}: {e}");
                    return ExitCode::from(2);
                }
                Some(out)
            }
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let plentiful_runs = if options.plentiful {
        ENGINES.len() * 2 * options.threads.len() * CART_LINES.len()
    } else {
        0
    };
    let scarce_runs = if options.scarce {
        ENGINES.len() * options.threads.len()
    } else {
        0
    };
    let total = plentiful_runs + scarce_runs;
    let mut done = 0;
    let mut problems = Vec::new();
    let mut plentiful_rows = Vec::new();
    let mut scarce_rows = Vec::new();
    let items = options.items;

    if options.plentiful {
        for workload in ["hot", "uniform"] {
            for &threads in &options.threads {
                for len in CART_LINES {
                    for engine_name in ENGINES {
                        done += 1;
                        eprintln!(
                            "[run {done}/{total}: plentiful, {engine_name}, {workload}, \
                             {threads} threads, {len} lines]"
                        );
                        let stock = vec![INITIAL; items];
                        let engine = Engine::build(engine_name, stock.iter().copied());
                        let hot = workload == "hot";
                        let workers = run_threads(
                            threads,
                            options.seconds,
                            |t| plentiful_carts(&engine, items, hot, len, t),
                            |t, ring, stop| plentiful(&engine, ring, len, t, stop),
                        );
                        for w in &workers {
                            problems.extend(w.errors.iter().map(|e| format!("{engine_name}: {e}")));
                        }
                        audit(&engine, engine_name, &stock, &mut problems);
                        let size = CART_LINES.iter().position(|&n| n == len).expect("a size");
                        plentiful_rows.push(summarize(
                            ("plentiful", engine_name, workload, threads),
                            len.to_string(),
                            &workers,
                            &[size],
                        ));
                    }
                }
            }
        }
        print_table(
            "plentiful: reserve then confirm or release, nothing runs out",
            &plentiful_rows,
        );
    }

    if options.scarce {
        for &threads in &options.threads {
            let hot_stock = options.hot_stock.unwrap_or((threads as i64 / 4).max(1));
            for engine_name in ENGINES {
                done += 1;
                eprintln!(
                    "[run {done}/{total}: scarce, {engine_name}, {threads} threads, \
                     hot stock {hot_stock}]"
                );
                let mut stock = vec![INITIAL; items];
                stock[0] = hot_stock;
                let engine = Engine::build(engine_name, stock.iter().copied());
                let workers = run_threads(
                    threads,
                    options.seconds,
                    |t| warm_up(&engine, items, t),
                    |t, (), stop| scarce(&engine, items, t, stop),
                );
                for w in &workers {
                    problems.extend(w.errors.iter().map(|e| format!("{engine_name}: {e}")));
                }
                audit(&engine, engine_name, &stock, &mut problems);
                let key = ("scarce", engine_name, "hot-mixed", threads);
                for (size, len) in CART_LINES.iter().enumerate() {
                    scarce_rows.push(summarize(key, len.to_string(), &workers, &[size]));
                }
                scarce_rows.push(summarize(key, "mixed".to_string(), &workers, &[0, 1, 2]));
            }
        }
        print_table(
            "scarce: mixed 1/4/16-line carts, each with one unit of a scarce hot item \
             (success rate per cart size)",
            &scarce_rows,
        );
    }

    if let Some(out) = &mut csv {
        for row in plentiful_rows.iter().chain(&scarce_rows) {
            if let Err(e) = writeln!(out, "{}", row.csv()) {
                eprintln!("writing the CSV: {e}");
                return ExitCode::from(2);
            }
        }
        if let Err(e) = out.flush() {
            eprintln!("writing the CSV: {e}");
            return ExitCode::from(2);
        }
    }
    if problems.is_empty() {
        return ExitCode::SUCCESS;
    }
    println!("FAIL: {} problems; the first ones:", problems.len());
    for problem in problems.iter().take(10) {
        println!("  {problem}");
    }
    ExitCode::FAILURE
}
