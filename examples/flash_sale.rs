//! A flash sale: many buyers grab small carts of a few hot items at once, against every stock
//! engine in turn, and the stock is audited after each run.
//!
//! ```sh
//! cargo run --release --example flash_sale
//! cargo run --release --example flash_sale -- --threads 2,8,64 --seconds 5 --items 8 --stock 100  # roomier
//! ```
//!
//! Defaults: `--threads 2,64 --seconds 3 --items 8 --stock 32`, about 25 s in all.
//!
//! # The workload
//!
//! Each buyer thread loops until the run's time is up: it builds a cart of 1 to 4 lines of 1 or
//! 2 units each, drawing items so that lower ids are more popular (the smaller of two uniform
//! draws: item 0, the headline deal, is in about a quarter of the lines), and takes it all or
//! nothing. Half of the successful carts are given back at once; the other half are held for
//! the buyer's next one or two takes, successful or not, and then given back (held much longer
//! when the buyer is preempted, which 64 threads on a 2-core machine make frequent). Carts
//! overlap heavily. The default stock is scarce on purpose: at 2 buyers every take succeeds,
//! at 64 the popular items run short and many takes are refused, so the
//! refusal path (and, in the lock-free engine, waiting on units in flight) is measured too.
//!
//! # The table
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
//!   operation failed for any other reason. The program exits with status 1 if any run fails.
//!
//! Absolute numbers depend on the machine; below the table, each engine's throughput and p99
//! are given as ratios to the lock-free engine's at the same thread count.

use atomic_stock::baseline::{GlobalLock, ItemLocks, StdItemLocks};
use atomic_stock::{ItemId, Line, Stock, StockEngine, TakeError};
use std::io::{IsTerminal, Write};
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

const USAGE: &str = "usage: flash_sale [--threads 2,64] [--seconds 3] [--items 8] [--stock 32]";

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
    threads: Vec<usize>,
    duration: Duration,
    items: usize,
    stock: i64,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            threads: vec![2, 64],
            duration: Duration::from_secs(3),
            items: 8,
            stock: 32,
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--threads" => {
                    options.threads = value()?
                        .split(',')
                        .map(|n| parse_in(n, 1..=MAX_THREADS, "--threads"))
                        .collect::<Result<_, _>>()?;
                }
                "--seconds" => {
                    let seconds: f64 = parse_in(&value()?, 0.001..=MAX_SECONDS, "--seconds")?;
                    options.duration = Duration::from_secs_f64(seconds);
                }
                "--items" => options.items = parse_in(&value()?, 1..=MAX_ITEMS, "--items")?,
                "--stock" => options.stock = parse_in(&value()?, 1..=1_000_000_000, "--stock")?,
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(options)
    }
}

fn parse_in<T>(text: &str, range: std::ops::RangeInclusive<T>, flag: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Debug,
{
    match text.trim().parse::<T>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(format!(
            "{flag}: expected a number in {range:?}, got {text:?}"
        )),
    }
}

/// xorshift64: a few cycles per number and no dependency. Its quality does not matter here.
struct XorShift(u64);

impl XorShift {
    fn for_buyer(buyer: usize) -> Self {
        // Zero is xorshift's fixed point; an odd multiple of the golden ratio never is.
        XorShift((buyer as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (multiply-shift: no division, negligible bias for small `n`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
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
    let mut rng = XorShift::for_buyer(buyer);
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

fn run(contender: &Contender, threads: usize, options: &Options, progress: &Progress) -> Run {
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

/// The value below which a fraction `p` of the sorted samples fall (nearest rank).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The progress line on stderr, redrawn in place on a terminal; one line per run otherwise.
struct Progress {
    prefix: String,
    terminal: bool,
}

impl Progress {
    fn new(run: usize, runs: usize, engine: &str, threads: usize) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let prefix = format!("[run {run}/{runs}: {engine}, {threads} threads]");
        if !terminal {
            eprintln!("{prefix}");
        }
        Progress { prefix, terminal }
    }

    fn show(&self, done: f64) {
        if self.terminal {
            let percent = (done * 100.0).min(100.0);
            eprint!("\r{} {percent:3.0}%   ", self.prefix);
            let _ = std::io::stderr().flush();
        }
    }

    fn clear(&self) {
        if self.terminal {
            eprint!("\r{:width$}\r", "", width = self.prefix.len() + 8);
        }
    }
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn latency(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns} ns"),
        10_000..=9_999_999 => format!("{:.1} µs", ns as f64 / 1e3),
        _ => format!("{:.1} ms", ns as f64 / 1e6),
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

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    println!(
        "flash sale: {} items x {} units; carts of 1-{MAX_CART_LINES} lines x 1-{MAX_LINE_UNITS} \
         units, lower ids more popular; {:.1} s per run; every {LATENCY_EVERY}th take timed",
        options.items,
        options.stock,
        options.duration.as_secs_f64(),
    );
    println!();

    let total = options.threads.len() * CONTENDERS.len();
    let mut runs = Vec::with_capacity(total);
    for &threads in &options.threads {
        for contender in &CONTENDERS {
            let progress = Progress::new(runs.len() + 1, total, contender.label, threads);
            runs.push(run(contender, threads, &options, &progress));
            progress.clear();
        }
    }

    print_table(&runs);
    print_ratios(&runs);

    let failures: Vec<&Run> = runs.iter().filter(|r| !r.violations.is_empty()).collect();
    if failures.is_empty() {
        return ExitCode::SUCCESS;
    }
    println!();
    for run in failures {
        println!("FAIL {} at {} threads:", run.engine, run.threads);
        for violation in &run.violations.first {
            println!("  {violation}");
        }
        let untold = run.violations.count - run.violations.first.len() as u64;
        if untold > 0 {
            println!("  ... and {untold} more");
        }
    }
    ExitCode::FAILURE
}
