//! A flash sale, the crate's main demonstration: every engine side by side, first on
//! multi-item carts fighting over a few hot items, then on the sell-out of one hot item; every
//! run is audited.
//!
//! ```sh
//! cargo run --release --example flash_sale                    # both parts, about 1 minute here
//! cargo run --release --example flash_sale -- --sellout       # the sell-out only
//! cargo run --release --example flash_sale -- --mode carts --threads 2,8,64 --seconds 5 --items 8 --stock 100
//! cargo run --release --example flash_sale -- --sellout --units 100000 --reps 9 --csv sellout.csv
//! ```
//!
//! Options (each part uses its own default thread counts unless `--threads` is given):
//!
//! * `--mode all|carts|sellout` (`--sellout` is `--mode sellout`): which parts run.
//! * `--threads LIST`: buyer threads, for each part that runs. Defaults: carts `2,64`,
//!   sell-out `2,256`.
//! * Carts: `--seconds 3` per run, `--items 8`, `--stock 32` units per item.
//! * Sell-out: `--units 1000000`, `--reps 5` runs of each engine, `--csv PATH` to write every
//!   run as a row (columns as in the table, plus `rep`).
//!
//! A progress bar goes to stderr (redrawn in place on a terminal, one line per run otherwise);
//! the tables go to stdout. The program exits with status 1 if any run breaks an invariant.
//!
//! # Part 1: carts on hot items
//!
//! Take-level engines (`StockEngine`: the lock-free `Stock`, per-item locks with parking_lot and
//! with std mutexes, one global lock). Each buyer thread loops until the run's time is up: it
//! builds a cart of 1 to 4 lines of 1 or 2 units each, drawing items so that lower ids are more
//! popular (the smaller of two uniform draws: item 0, the headline deal, is in about a quarter
//! of the lines), and takes it all or nothing. Half of the successful carts are given back at
//! once; the other half are held for the buyer's next one or two takes, successful or not, and
//! then given back (held much longer when the buyer is preempted, which 64 threads on a 2-core
//! machine make frequent). Carts overlap heavily. The default stock is scarce on purpose: at 2
//! buyers every take succeeds, at 64 the popular items run short and many takes are refused, so
//! the refusal path (and, in the lock-free engine, waiting on units in flight) is measured too.
//!
//! * `takes ok/s`: successful takes per second, all buyers together.
//! * `success`: successful takes over all takes (the rest were refused for a shortfall).
//! * `p50 p99 p999`: latency of one `take` call, successful or refused, sampled on every 16th
//!   take of every buyer with `Instant`, merged over the buyers.
//! * `spread`: most successful takes of one buyer over fewest (1.00 is perfectly fair; `inf`
//!   when a buyer never succeeded). With more buyers than cores this mixes the engine's
//!   fairness with the OS scheduler's, and short runs exaggerate it: a buyer may barely be
//!   scheduled before the time is up.
//! * `invariants`: `OK` only if (1) after the run, with the buyers' held carts still out, every
//!   item has `initial = available + held`, held as counted by the buyers themselves; (2) once
//!   the held carts are given back, every item has `initial = available`; (3) no refused take
//!   reported a negative count or one that would have sufficed, and an observer polling every
//!   item's count during the run never saw it below zero or above the initial stock; (4) no
//!   operation failed for any other reason.
//!
//! Below the table, each engine's throughput and p99 are given as ratios to the lock-free
//! engine's at the same thread count.
//!
//! # Part 2: the sell-out
//!
//! Lifecycle engines (`ReservationEngine`: the lock-free `Inventory`, `ItemLocksInventory`,
//! `GlobalLockInventory`, default settings). One item with `--units` units; each buyer
//! reserves one unit for a fresh cart, confirms it, and starts again, until a reserve is refused
//! because the item is sold out. Stock only goes down: this is the honest hot-item case (a
//! take-and-give-back loop lets a thread reuse the unit it just returned). The loop, the warm-up,
//! the start gate and the checks are in `benches/common/sellout.rs`, shared with
//! `benches/sellout.rs`.
//!
//! Each engine runs `--reps` times, interleaved (lock-free, item-locks, global-lock, then again,
//! every thread count in each round), because this machine's speed drifts over minutes; the
//! table gives the **median** of each figure over an engine's runs:
//!
//! * `sold out in`: first buyer's first reserve to last buyer's refusal, timed by the buyers
//!   themselves (with 256 buyers on 2 cores the main thread can be descheduled for long).
//! * `sales/s`: successful reservations (each confirmed) per second over that span.
//! * `success`: successful reserves over reserves tried (every buyer ends with one refusal).
//! * `p50 p99 p999`: latency of one `reserve` call, every 8th of every buyer, recorded in the
//!   buyer's own histogram (one array increment, the same for every engine), to within 1%.
//! * `spread`: most units sold by one buyer over fewest (`inf` when a buyer sold none), and
//!   `idle`, the buyers that sold none. At 256 threads on 2 cores the OS scheduler decides who
//!   runs before the stock is gone: a buyer first scheduled after the sell-out sells nothing
//!   whatever the engine, so there the spread describes the scheduler as much as the engine.
//! * `oversold`, `unsold`: the largest over the runs (both must be 0): units sold beyond the
//!   stock, by the buyers' count of confirms or by the engine's, and units left unsold.
//!   `audit`: runs whose engine audit passed (every item's ledger adds up, nothing in flight,
//!   no reservation left) and whose buyers' and engine's sold counts agree.
//!
//! Below it, the lock-free engine against each baseline: the ratio of sales per second and of
//! p99 (baseline's over lock-free's, so above 1 means lock-free is better on both), computed
//! within each round (runs minutes apart are not compared) and then the median over rounds.
//!
//! Absolute numbers belong to the machine; compare engines within one thread count.

#[path = "../../benches/common/sellout.rs"]
mod sellout;

use atomic_stock::baseline::{GlobalLock, ItemLocks, StdItemLocks};
use atomic_stock::{ItemId, Line, Stock, StockEngine, TakeError};
use atomic_stock_measure::args::{self, Arg, Parser};
use atomic_stock_measure::figures::{grouped, latency, median, percentile, spread as spread_text};
use atomic_stock_measure::rng::XorShift;
use sellout::{sell_out, Engine, Sellout, SAMPLE_EVERY};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Lines per cart, at most.
const MAX_CART_LINES: usize = 4;
/// Units per line, at most.
const MAX_LINE_UNITS: i64 = 2;
/// Takes a held cart stays out for, at most (at least one).
const HOLD_TAKES: u64 = 2;
/// One take in this many is timed.
const LATENCY_EVERY: u64 = 16;
/// How often the main thread polls the counts and redraws the progress line.
const POLL: Duration = Duration::from_millis(100);
/// Bounds on the options, so a typo cannot ask for a million threads.
const MAX_THREADS: usize = 4096;
const MAX_ITEMS: usize = 1_000_000;
const MAX_SECONDS: f64 = 3600.0;

const USAGE: &str = "usage: flash_sale [--mode all|carts|sellout] [--sellout] [--threads LIST]\n\
                     \x20 carts:    [--seconds 3] [--items 8] [--stock 32]   (threads 2,64)\n\
                     \x20 sell-out: [--units 1000000] [--reps 5] [--csv PATH] (threads 2,256)";

/// Largest sell-out, in units, and most runs per engine.
const MAX_UNITS: i64 = 1_000_000_000;
const MAX_REPS: usize = 1000;

/// An engine under test: a label for the table (the two `ItemLocks` report the same
/// `name()`) and a way to build a fresh one for each run.
struct Contender {
    label: &'static str,
    build: fn() -> Box<dyn StockEngine>,
}

const CONTENDERS: [Contender; 4] = [
    Contender {
        label: "lock-free",
        build: || Box::new(Stock::new()),
    },
    Contender {
        label: "item-locks/parking_lot",
        build: || Box::new(ItemLocks::new()),
    },
    Contender {
        label: "item-locks/std",
        build: || Box::new(StdItemLocks::new_std()),
    },
    Contender {
        label: "global-lock",
        build: || Box::new(GlobalLock::new()),
    },
];

struct Options {
    carts: bool,
    sellout: bool,
    /// `None`: each part's default.
    threads: Option<Vec<usize>>,
    duration: Duration,
    items: usize,
    stock: i64,
    units: i64,
    reps: usize,
    csv: Option<String>,
}

impl Options {
    const CARTS_THREADS: [usize; 2] = [2, 64];
    const SELLOUT_THREADS: [usize; 2] = [2, 256];

    fn read(parser: &mut Parser) -> Result<Options, args::Error> {
        let mut options = Options {
            carts: true,
            sellout: true,
            threads: None,
            duration: Duration::from_secs(3),
            items: 8,
            stock: 32,
            units: 1_000_000,
            reps: 5,
            csv: None,
        };
        while let Some(arg) = parser.next()? {
            match arg {
                Arg::Long("mode") => {
                    let mode = args::text(parser)?;
                    (options.carts, options.sellout) = match mode.as_str() {
                        "all" => (true, true),
                        "carts" => (true, false),
                        "sellout" | "sell-out" => (false, true),
                        _ => {
                            return Err(
                                format!("--mode: all, carts or sellout, not {mode:?}").into()
                            )
                        }
                    };
                }
                Arg::Long("sellout") => (options.carts, options.sellout) = (false, true),
                Arg::Long("threads") => {
                    options.threads = Some(args::numbers_in(parser, "--threads", 1..=MAX_THREADS)?);
                }
                Arg::Long("seconds") => {
                    let seconds: f64 = args::number_in(parser, "--seconds", 0.001..=MAX_SECONDS)?;
                    options.duration = Duration::from_secs_f64(seconds);
                }
                Arg::Long("items") => {
                    options.items = args::number_in(parser, "--items", 1..=MAX_ITEMS)?
                }
                Arg::Long("stock") => {
                    options.stock = args::number_in(parser, "--stock", 1..=1_000_000_000)?;
                }
                Arg::Long("units") => {
                    options.units = args::number_in(parser, "--units", 1..=MAX_UNITS)?
                }
                Arg::Long("reps") => {
                    options.reps = args::number_in(parser, "--reps", 1..=MAX_REPS)?
                }
                Arg::Long("csv") => options.csv = Some(args::text(parser)?),
                Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
                _ => return Err(arg.unexpected()),
            }
        }
        Ok(options)
    }

    fn carts_threads(&self) -> Vec<usize> {
        self.threads.clone().unwrap_or(Self::CARTS_THREADS.to_vec())
    }

    fn sellout_threads(&self) -> Vec<usize> {
        self.threads
            .clone()
            .unwrap_or(Self::SELLOUT_THREADS.to_vec())
    }
}

/// A cart on the stack: no allocation on the buyer's loop.
#[derive(Clone, Copy)]
struct Cart {
    lines: [Line; MAX_CART_LINES],
    len: usize,
}

impl Cart {
    fn random(rng: &mut XorShift, items: &[ItemId]) -> Cart {
        let mut cart = Cart {
            lines: [Line::new(items[0], 1); MAX_CART_LINES],
            len: 1 + rng.below(MAX_CART_LINES as u64) as usize,
        };
        let n = items.len() as u64;
        for line in &mut cart.lines[..cart.len] {
            // The smaller of two uniform draws: lower ids are more popular.
            let item = rng.below(n).min(rng.below(n));
            let units = 1 + rng.below(MAX_LINE_UNITS as u64) as i64;
            *line = Line::new(items[item as usize], units);
        }
        cart
    }

    fn lines(&self) -> &[Line] {
        &self.lines[..self.len]
    }
}

/// Broken invariants: how many, and the first few described.
#[derive(Default)]
struct Violations {
    count: u64,
    first: Vec<String>,
}

impl Violations {
    /// Descriptions kept; a systematic bug would otherwise fill memory with copies of one line.
    const KEPT: usize = 10;

    fn push(&mut self, description: String) {
        self.count += 1;
        if self.first.len() < Self::KEPT {
            self.first.push(description);
        }
    }

    fn merge(&mut self, other: Violations) {
        self.count += other.count;
        for description in other.first {
            if self.first.len() < Self::KEPT {
                self.first.push(description);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// What one buyer did and still holds.
struct Buyer {
    takes: u64,
    successes: u64,
    /// Sampled latencies of `take`, in nanoseconds.
    latencies_ns: Vec<u64>,
    /// Units held, per item index, by the buyer's own count.
    held: Vec<i64>,
    /// Carts taken and not given back yet, each with the take count at which it goes back.
    pocket: Vec<(Cart, u64)>,
    /// Refusals that reported an impossible count, and errors other than a shortfall.
    violations: Violations,
    started: Instant,
    finished: Instant,
}

impl Buyer {
    fn hold(&mut self, cart: &Cart, sign: i64) {
        for line in cart.lines() {
            self.held[line.item.get() as usize] += sign * line.quantity;
        }
    }

    /// Gives back the held carts whose time is up.
    fn give_back_due(&mut self, engine: &dyn StockEngine) {
        while let Some(index) = self.pocket.iter().position(|&(_, due)| due <= self.takes) {
            let (cart, _) = self.pocket.swap_remove(index);
            self.give_back(engine, cart);
        }
    }

    fn give_back(&mut self, engine: &dyn StockEngine, cart: Cart) {
        match engine.give_back(cart.lines()) {
            Ok(()) => self.hold(&cart, -1),
            Err(error) => self.violations.push(format!("give_back failed: {error}")),
        }
    }
}

fn shop(
    engine: &dyn StockEngine,
    items: &[ItemId],
    buyer: usize,
    start: &Barrier,
    stop: &AtomicBool,
) -> Buyer {
    let mut rng = XorShift::for_thread(buyer);
    start.wait();
    let mut me = Buyer {
        takes: 0,
        successes: 0,
        latencies_ns: Vec::new(),
        held: vec![0; items.len()],
        pocket: Vec::with_capacity(HOLD_TAKES as usize + 1),
        violations: Violations::default(),
        started: Instant::now(),
        finished: Instant::now(),
    };
    // Relaxed: the flag only says when to stop; what the buyer did reaches the main thread
    // through the join, which orders all of it.
    while !stop.load(Ordering::Relaxed) {
        me.give_back_due(engine);
        let cart = Cart::random(&mut rng, items);
        let result = if me.takes % LATENCY_EVERY == 0 {
            let before = Instant::now();
            let result = engine.take(cart.lines());
            me.latencies_ns.push(before.elapsed().as_nanos() as u64);
            result
        } else {
            engine.take(cart.lines())
        };
        me.takes += 1;
        match result {
            Ok(()) => {
                me.successes += 1;
                me.hold(&cart, 1);
                if rng.below(2) == 0 {
                    me.give_back(engine, cart);
                } else {
                    let due = me.takes + 1 + rng.below(HOLD_TAKES);
                    me.pocket.push((cart, due));
                }
            }
            Err(TakeError::Shortfall {
                item,
                requested,
                available,
            }) => {
                if !(0..requested).contains(&available) {
                    me.violations.push(format!(
                        "{item} refused with {available} available for {requested} requested"
                    ));
                }
            }
            Err(other) => me.violations.push(format!("take failed: {other}")),
        }
    }
    me.finished = Instant::now();
    me
}

/// One engine at one thread count.
struct Run {
    engine: &'static str,
    threads: usize,
    takes_per_second: f64,
    success_rate: f64,
    p50_ns: u64,
    p99_ns: u64,
    p999_ns: u64,
    spread: f64,
    violations: Violations,
}

fn run(contender: &Contender, threads: usize, options: &Options, progress: &mut Progress) -> Run {
    let engine = (contender.build)();
    let items: Vec<ItemId> = (0..options.items)
        .map(|index| {
            let item = engine.register(options.stock).expect("registering an item");
            // Buyers count what they hold in a vector indexed by item id.
            assert_eq!(item.get() as usize, index, "item ids are dense");
            item
        })
        .collect();
    let engine = &*engine;
    let start = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let mut observed = Violations::default();

    let buyers: Vec<Buyer> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|buyer| {
                let (items, start, stop) = (&items, &start, &stop);
                scope.spawn(move || shop(engine, items, buyer, start, stop))
            })
            .collect();
        start.wait();
        let began = Instant::now();
        loop {
            let elapsed = began.elapsed();
            progress.show(elapsed.as_secs_f64() / options.duration.as_secs_f64());
            if elapsed >= options.duration {
                break;
            }
            thread::sleep(POLL.min(options.duration - elapsed));
            for &item in &items {
                match engine.available(item) {
                    Some(count) if (0..=options.stock).contains(&count) => {}
                    count => observed.push(format!("observer saw {count:?} units of {item}")),
                }
            }
        }
        // Relaxed: as the load in `shop`.
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a buyer panicked"))
            .collect()
    });

    let mut violations = observed;
    violations.merge(audit(engine, &items, options.stock, buyers.iter()));
    let mut buyers = buyers;
    for buyer in &mut buyers {
        for (cart, _) in std::mem::take(&mut buyer.pocket) {
            buyer.give_back(engine, cart);
        }
    }
    violations.merge(audit(engine, &items, options.stock, buyers.iter()));
    for buyer in &mut buyers {
        violations.merge(std::mem::take(&mut buyer.violations));
    }

    summarize(contender.label, threads, buyers, violations)
}

/// `initial = available + held` for every item, held summed over the buyers' own counts.
fn audit<'a>(
    engine: &dyn StockEngine,
    items: &[ItemId],
    initial: i64,
    buyers: impl Iterator<Item = &'a Buyer> + Clone,
) -> Violations {
    let mut violations = Violations::default();
    for (index, &item) in items.iter().enumerate() {
        let held: i64 = buyers.clone().map(|buyer| buyer.held[index]).sum();
        let available = engine.available(item);
        if available.map(|available| available + held) != Some(initial) {
            violations.push(format!(
                "{item}: {available:?} available + {held} held != {initial} initial"
            ));
        }
    }
    violations
}

fn summarize(
    engine: &'static str,
    threads: usize,
    buyers: Vec<Buyer>,
    violations: Violations,
) -> Run {
    let started = buyers.iter().map(|b| b.started).min().expect("a buyer");
    let finished = buyers.iter().map(|b| b.finished).max().expect("a buyer");
    let seconds = (finished - started).as_secs_f64();
    let takes: u64 = buyers.iter().map(|b| b.takes).sum();
    let successes: u64 = buyers.iter().map(|b| b.successes).sum();
    let most = buyers.iter().map(|b| b.successes).max().unwrap_or(0);
    let fewest = buyers.iter().map(|b| b.successes).min().unwrap_or(0);
    let mut latencies: Vec<u64> = buyers.into_iter().flat_map(|b| b.latencies_ns).collect();
    latencies.sort_unstable();
    Run {
        engine,
        threads,
        takes_per_second: successes as f64 / seconds,
        success_rate: successes as f64 / takes.max(1) as f64,
        p50_ns: percentile(&latencies, 0.50),
        p99_ns: percentile(&latencies, 0.99),
        p999_ns: percentile(&latencies, 0.999),
        spread: most as f64 / fewest as f64,
        violations,
    }
}

/// The progress bar on stderr, one step per run of either part: on a terminal one line redrawn
/// in place (`\r`), with the whole job's progress and the current run's; otherwise one line per
/// run, so that a log stays readable.
struct Progress {
    total: usize,
    step: usize,
    label: String,
    terminal: bool,
    started: Instant,
    /// Characters of the line last drawn, to blank it.
    drawn: usize,
}

impl Progress {
    const BAR: usize = 30;

    fn new(total: usize) -> Progress {
        Progress {
            total,
            step: 0,
            label: String::new(),
            terminal: std::io::stderr().is_terminal(),
            started: Instant::now(),
            drawn: 0,
        }
    }

    /// Starts the next run.
    fn begin(&mut self, label: String) {
        self.step += 1;
        self.label = label;
        if self.terminal {
            self.show(0.0);
        } else {
            eprintln!("[{}/{}] {}", self.step, self.total, self.label);
        }
    }

    /// `done`: the fraction of the current run done.
    fn show(&mut self, done: f64) {
        if !self.terminal {
            return;
        }
        let done = done.clamp(0.0, 1.0);
        let overall = ((self.step - 1) as f64 + done) / self.total as f64;
        let filled = (overall * Self::BAR as f64).round() as usize;
        let seconds = self.started.elapsed().as_secs();
        let line = format!(
            "[{}{}] {:3.0}% {}:{:02} run {}/{}: {} {:3.0}%",
            "#".repeat(filled),
            " ".repeat(Self::BAR - filled),
            overall * 100.0,
            seconds / 60,
            seconds % 60,
            self.step,
            self.total,
            self.label,
            done * 100.0,
        );
        let width = line.chars().count();
        eprint!(
            "\r{line}{:pad$}",
            "",
            pad = self.drawn.saturating_sub(width)
        );
        self.drawn = width;
        let _ = std::io::stderr().flush();
    }

    /// Blanks the line, before the tables are printed.
    fn clear(&mut self) {
        if self.terminal && self.drawn > 0 {
            eprint!("\r{:width$}\r", "", width = self.drawn);
            let _ = std::io::stderr().flush();
            self.drawn = 0;
        }
    }
}

fn print_table(runs: &[Run]) {
    println!(
        "{:<24}{:>8}{:>14}{:>9}{:>11}{:>11}{:>11}{:>10}  invariants",
        "engine", "threads", "takes ok/s", "success", "p50", "p99", "p999", "spread"
    );
    for run in runs {
        println!(
            "{:<24}{:>8}{:>14}{:>8.1}%{:>11}{:>11}{:>11}{:>10}  {}",
            run.engine,
            run.threads,
            grouped(run.takes_per_second.round() as u64),
            run.success_rate * 100.0,
            latency(run.p50_ns),
            latency(run.p99_ns),
            latency(run.p999_ns),
            if run.spread.is_finite() {
                format!("{:.2}", run.spread)
            } else {
                "inf".to_string()
            },
            if run.violations.is_empty() {
                "OK"
            } else {
                "FAIL"
            },
        );
    }
}

fn print_ratios(runs: &[Run]) {
    let baseline = CONTENDERS[0].label;
    println!();
    println!("ratios to {baseline} at the same thread count (throughput: higher is better; p99: lower is better)");
    println!(
        "{:<24}{:>8}{:>12}{:>8}",
        "engine", "threads", "throughput", "p99"
    );
    for run in runs {
        let Some(reference) = runs
            .iter()
            .find(|r| r.engine == baseline && r.threads == run.threads)
        else {
            continue;
        };
        println!(
            "{:<24}{:>8}{:>11.2}x{:>7.2}x",
            run.engine,
            run.threads,
            run.takes_per_second / reference.takes_per_second,
            run.p99_ns as f64 / reference.p99_ns.max(1) as f64,
        );
    }
}

/// One sell-out run, with the round it belongs to.
struct Round {
    rep: usize,
    run: Sellout,
}

/// Every engine `options.reps` times at every thread count, interleaved: round by round, and
/// in each round every thread count, engine after engine.
fn sellout_runs(options: &Options, progress: &mut Progress) -> Vec<Round> {
    let threads = options.sellout_threads();
    let mut rounds = Vec::with_capacity(options.reps * threads.len() * Engine::ALL.len());
    for rep in 1..=options.reps {
        for &threads in &threads {
            for engine in Engine::ALL {
                progress.begin(format!(
                    "sell-out, {}, {threads} threads, round {rep}/{}",
                    engine.label(),
                    options.reps
                ));
                let run = sell_out(engine, threads, options.units, &mut |done| {
                    progress.show(done)
                });
                rounds.push(Round { rep, run });
            }
        }
    }
    rounds
}

fn print_sellout(rounds: &[Round], options: &Options) {
    println!(
        "sell-out: 1 item x {} units; each buyer reserves 1 unit for a fresh cart, then confirms, \
         until sold out; {} runs per engine, interleaved; medians; every {SAMPLE_EVERY}th reserve \
         timed",
        grouped(options.units as u64),
        options.reps,
    );
    println!();
    println!(
        "{:<13}{:>7}{:>13}{:>13}{:>9}{:>10}{:>10}{:>11}{:>10}{:>6}{:>10}{:>8}{:>7}",
        "engine",
        "threads",
        "sold out in",
        "sales/s",
        "success",
        "p50",
        "p99",
        "p999",
        "spread",
        "idle",
        "oversold",
        "unsold",
        "audit"
    );
    for &threads in &options.sellout_threads() {
        for engine in Engine::ALL {
            let runs: Vec<&Sellout> = rounds
                .iter()
                .map(|r| &r.run)
                .filter(|r| r.engine == engine && r.threads == threads)
                .collect();
            let of = |figure: fn(&Sellout) -> f64| median(runs.iter().map(|r| figure(r)).collect());
            let sound = runs.iter().filter(|r| r.problems().is_empty()).count();
            println!(
                "{:<13}{:>7}{:>13}{:>13}{:>8.2}%{:>10}{:>10}{:>11}{:>10}{:>6}{:>10}{:>8}{:>7}",
                engine.label(),
                threads,
                latency(of(|r| r.span.as_nanos() as f64) as u64),
                grouped(of(Sellout::per_second).round() as u64),
                of(Sellout::success_rate) * 100.0,
                latency(of(|r| r.latency.percentile(0.50) as f64) as u64),
                latency(of(|r| r.latency.percentile(0.99) as f64) as u64),
                latency(of(|r| r.latency.percentile(0.999) as f64) as u64),
                spread_text(of(Sellout::spread)),
                of(|r| r.idle_buyers() as f64),
                runs.iter().map(|r| r.oversold()).max().unwrap_or(0),
                runs.iter().map(|r| r.unsold()).max().unwrap_or(0),
                format!("{sound}/{}", runs.len()),
            );
        }
    }
    println!();
    println!(
        "lock-free against each baseline: ratios within each round, median over rounds \
         (above 1: lock-free better)"
    );
    println!(
        "{:<13}{:>7}{:>22}{:>26}",
        "baseline", "threads", "sales/s (lf / base)", "p99 (base / lf)"
    );
    for &threads in &options.sellout_threads() {
        for baseline in [Engine::ItemLocks, Engine::GlobalLock] {
            let (throughput, p99) = paired_ratios(rounds, baseline, threads);
            println!(
                "{:<13}{:>7}{:>21.2}x{:>25.2}x",
                baseline.label(),
                threads,
                median(throughput),
                median(p99),
            );
        }
    }
}

/// Per round: lock-free's sales per second over `baseline`'s, and `baseline`'s p99 over
/// lock-free's.
fn paired_ratios(rounds: &[Round], baseline: Engine, threads: usize) -> (Vec<f64>, Vec<f64>) {
    let find = |rep: usize, engine: Engine| {
        rounds
            .iter()
            .find(|r| r.rep == rep && r.run.engine == engine && r.run.threads == threads)
            .map(|r| &r.run)
    };
    rounds
        .iter()
        .filter(|r| r.run.engine == Engine::LockFree && r.run.threads == threads)
        .filter_map(|r| Some((&r.run, find(r.rep, baseline)?)))
        .map(|(lock_free, base)| {
            (
                lock_free.per_second() / base.per_second(),
                base.latency.percentile(0.99) as f64
                    / lock_free.latency.percentile(0.99).max(1) as f64,
            )
        })
        .unzip()
}

const SELLOUT_CSV_HEADER: &str = "rep,engine,threads,units,seconds,reserves,sold,per_s,\
                                  success_rate,p50_ns,p99_ns,p999_ns,samples,spread,\
                                  idle_buyers,oversold,unsold,sound";

fn write_sellout_csv(path: &str, rounds: &[Round]) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(out, "{SELLOUT_CSV_HEADER}")?;
    for Round { rep, run } in rounds {
        writeln!(
            out,
            "{rep},{},{},{},{:.6},{},{},{:.1},{:.6},{},{},{},{},{},{},{},{},{}",
            run.engine.label(),
            run.threads,
            run.units,
            run.span.as_secs_f64(),
            run.reserves,
            run.sold(),
            run.per_second(),
            run.success_rate(),
            run.latency.percentile(0.50),
            run.latency.percentile(0.99),
            run.latency.percentile(0.999),
            run.latency.samples(),
            spread_text(run.spread()),
            run.idle_buyers(),
            run.oversold(),
            run.unsold(),
            run.problems().is_empty(),
        )?;
    }
    out.flush()
}

fn main() -> ExitCode {
    let options = match args::parse("flash_sale", USAGE, Options::read) {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    let carts_runs = if options.carts {
        options.carts_threads().len() * CONTENDERS.len()
    } else {
        0
    };
    let sellout_runs_total = if options.sellout {
        options.reps * options.sellout_threads().len() * Engine::ALL.len()
    } else {
        0
    };
    let mut progress = Progress::new(carts_runs + sellout_runs_total);
    let mut failed = false;

    if options.carts {
        let mut runs = Vec::with_capacity(carts_runs);
        for &threads in &options.carts_threads() {
            for contender in &CONTENDERS {
                progress.begin(format!("carts, {}, {threads} threads", contender.label));
                runs.push(run(contender, threads, &options, &mut progress));
            }
        }
        progress.clear();
        println!(
            "carts on hot items: {} items x {} units; carts of 1-{MAX_CART_LINES} lines x \
             1-{MAX_LINE_UNITS} units, lower ids more popular; {:.1} s per run; every \
             {LATENCY_EVERY}th take timed",
            options.items,
            options.stock,
            options.duration.as_secs_f64(),
        );
        println!();
        print_table(&runs);
        print_ratios(&runs);
        println!();
        for run in runs.iter().filter(|r| !r.violations.is_empty()) {
            failed = true;
            println!("FAIL {} at {} threads:", run.engine, run.threads);
            for violation in &run.violations.first {
                println!("  {violation}");
            }
            let untold = run.violations.count - run.violations.first.len() as u64;
            if untold > 0 {
                println!("  ... and {untold} more");
            }
        }
    }

    if options.sellout {
        let rounds = sellout_runs(&options, &mut progress);
        progress.clear();
        print_sellout(&rounds, &options);
        if let Some(path) = &options.csv {
            if let Err(e) = write_sellout_csv(path, &rounds) {
                eprintln!("{path}: {e}");
                return ExitCode::from(2);
            }
        }
        for Round { rep, run } in &rounds {
            let problems = run.problems();
            if !problems.is_empty() {
                failed = true;
                println!(
                    "FAIL sell-out, {} at {} threads, round {rep}:",
                    run.engine.label(),
                    run.threads
                );
                for problem in problems {
                    println!("  {problem}");
                }
            }
        }
    }

    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
