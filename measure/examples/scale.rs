//! How the lifecycle engines scale with the catalog and with live reservations: time per
//! reserve+confirm as the catalog grows, heap bytes per item and per live reservation, and
//! expiry throughput. Writes one CSV; `scripts/plot_scale.py` turns it into a PNG.
//!
//! ```sh
//! cargo run --release --example scale -- --csv scale.csv
//! python3 scripts/plot_scale.py scale.csv scale.png
//! cargo run --release --example scale -- --csv quick.csv --max-items 100000 --seconds 0.2   # a quick check
//! ```
//!
//! Defaults: catalogs of 1,000 to 10,000,000 items, 0.5 s per timed run; under a minute here
//! (42 s), with one engine's 10,000,000-item catalog (250 to 700 MB, see
//! `heap_per_item_bytes`) in memory at a time. Progress on stderr, a summary table on stdout.
//!
//! # Measures (the CSV's `measure` column; columns `engine,items,threads,cart_lines,n`
//! describe the run, `value` and `unit` the result)
//!
//! * `reserve_confirm_ns`: wall time of one `reserve` + `confirm` for one thread
//!   (`span * threads / lifecycles`), 1 and 2 threads, carts of 1 and 4 lines drawn uniformly
//!   from a catalog of `items` items (drawn on the fly, so a large catalog really is spread over
//!   memory), every item with 2^30 units. `n` is the number of lifecycles timed.
//! * `heap_per_item_bytes`: heap growth while registering `items` items, per item (the
//!   engine's empty structures excluded).
//! * `heap_empty_bytes`: heap of the empty engine (`n` = 0), for the record.
//! * `heap_per_reservation_bytes`: heap growth while `n` carts each reserve one cart of
//!   `cart_lines` lines (catalog of 100,000 items, nothing finished), per reservation. The
//!   lock-free engine's cart registry has a bucket array sized at construction (65,536 buckets
//!   by default), counted in `heap_empty_bytes`, not here.
//! * `expire_ns`: time of one `expire_due` call that expires `n` due reservations (1-line
//!   carts; the clock is a `ManualClock` moved past every deadline), per reservation.
//!
//! Heap is counted by `atomic_stock_measure::heap::Counting` as the `#[global_allocator]`,
//! switched on only around memory measurements (so the timed runs share no counter). It counts
//! bytes asked for, not the allocator's own overhead or freed-but-cached memory.

use atomic_stock::baseline::{GlobalLockInventory, ItemLocksInventory};
use atomic_stock::{CartId, Confirmation, Inventory, ItemId, Line, ManualClock, ReservationEngine};
use atomic_stock_measure::args::{self, Arg, Parser};
use atomic_stock_measure::heap::{self, Counting};
use atomic_stock_measure::rng::XorShift;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Units of every item.
const INITIAL: i64 = 1 << 30;
/// Catalog of the reservation-memory and expiry runs.
const RESERVATION_CATALOG: usize = 100_000;
/// Reservations counted for memory, and expired at once.
const RESERVATIONS: [usize; 2] = [100_000, 1_000_000];
const EXPIRIES: [usize; 3] = [10_000, 100_000, 1_000_000];
/// Time to live of every reservation.
const TTL: Duration = Duration::from_secs(60);
/// Carts each timing thread cycles through.
const CARTS_PER_THREAD: u64 = 1024;
const ENGINES: [&str; 3] = ["lock-free", "item-locks", "global-lock"];
const USAGE: &str =
    "usage: scale [--csv scale.csv] [--max-items 10000000] [--seconds 0.5] [--engines a,b]";

fn build(name: &str, clock: Arc<ManualClock>) -> Box<dyn ReservationEngine> {
    match name {
        "lock-free" => Box::new(Inventory::builder().clock(clock).build()),
        "item-locks" => Box::new(ItemLocksInventory::with_clock(clock)),
        _ => Box::new(GlobalLockInventory::with_clock(clock)),
    }
}

/// `len` distinct uniform items of a catalog of `items`.
fn random_cart(rng: &mut XorShift, items: usize, len: usize, lines: &mut [Line; 4]) {
    let mut filled = 0;
    while filled < len {
        let item = ItemId::new(rng.below(items as u64) as u32);
        if !lines[..filled].iter().any(|l| l.item == item) {
            lines[filled] = Line::new(item, 1);
            filled += 1;
        }
    }
}

/// One CSV row.
struct Row {
    measure: &'static str,
    engine: &'static str,
    items: usize,
    threads: usize,
    cart_lines: usize,
    n: u64,
    value: f64,
    unit: &'static str,
}

impl Row {
    const HEADER: &'static str = "measure,engine,items,threads,cart_lines,n,value,unit";

    fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{:.3},{}",
            self.measure,
            self.engine,
            self.items,
            self.threads,
            self.cart_lines,
            self.n,
            self.value,
            self.unit
        )
    }
}

/// Times reserve+confirm on `threads` threads for `duration`; returns (ns per lifecycle per
/// thread, lifecycles).
fn time_lifecycles(
    engine: &dyn ReservationEngine,
    items: usize,
    threads: usize,
    lines: usize,
    duration: Duration,
) -> (f64, u64) {
    let gate = RwLock::new(());
    let closed = gate.write().unwrap_or_else(PoisonError::into_inner);
    let waiting = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let runs: Vec<(Instant, Instant, u64)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (gate, waiting, stop) = (&gate, &waiting, &stop);
                scope.spawn(move || {
                    let mut rng = XorShift::new(t as u64 ^ ((items as u64) << 8));
                    let mut cart = [Line::new(ItemId::new(0), 1); 4];
                    // Warm-up: this thread's first reserve (registration, first allocations).
                    let warm = CartId::new(u64::MAX - t as u64);
                    let r = engine.reserve(warm, &cart[..1], TTL).expect("warm-up");
                    engine.release(r.id).expect("warm-up");
                    // Relaxed: a count polled by the main thread; the gate orders the start.
                    waiting.fetch_add(1, Ordering::Relaxed);
                    drop(gate.read().unwrap_or_else(PoisonError::into_inner));
                    let started = Instant::now();
                    let mut done = 0u64;
                    // Relaxed: only says when to stop; the joins order the rest.
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..64 {
                            random_cart(&mut rng, items, lines, &mut cart);
                            let id = CartId::new(((t as u64) << 32) | (done % CARTS_PER_THREAD));
                            let r = engine
                                .reserve(id, &cart[..lines], TTL)
                                .expect("stock never runs out here");
                            assert_eq!(engine.confirm(r.id), Ok(Confirmation::Confirmed));
                            done += 1;
                        }
                    }
                    (started, Instant::now(), done)
                })
            })
            .collect();
        // Relaxed: see above.
        while waiting.load(Ordering::Relaxed) < threads {
            thread::yield_now();
        }
        drop(closed);
        thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().expect("a timing thread panicked"))
            .collect()
    });
    let first = runs.iter().map(|r| r.0).min().expect("a thread");
    let last = runs.iter().map(|r| r.1).max().expect("a thread");
    let done: u64 = runs.iter().map(|r| r.2).sum();
    let ns = (last - first).as_nanos() as f64 * threads as f64 / done.max(1) as f64;
    (ns, done)
}

/// Registers `items` items; returns the heap growth.
fn register(engine: &dyn ReservationEngine, items: usize) -> i64 {
    let before = heap::live();
    for _ in 0..items {
        engine.register_item(INITIAL).expect("registering an item");
    }
    heap::live() - before
}

struct Options {
    csv: Option<String>,
    max_items: usize,
    seconds: Duration,
    engines: Vec<&'static str>,
}

fn read(parser: &mut Parser) -> Result<Options, args::Error> {
    let mut options = Options {
        csv: None,
        max_items: 10_000_000,
        seconds: Duration::from_millis(500),
        engines: ENGINES.to_vec(),
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Long("csv") => options.csv = Some(args::text(parser)?),
            Arg::Long("max-items") => {
                options.max_items = args::number_in(parser, "--max-items", 1_000..=100_000_000)?;
            }
            Arg::Long("seconds") => {
                let s: f64 = args::number_in(parser, "--seconds", 0.01..=600.0)?;
                options.seconds = Duration::from_secs_f64(s);
            }
            Arg::Long("engines") => {
                let list = args::text(parser)?;
                options.engines = ENGINES
                    .iter()
                    .copied()
                    .filter(|e| list.split(',').any(|l| l == *e))
                    .collect();
                if options.engines.is_empty() {
                    return Err(format!("--engines: none of {ENGINES:?} in {list:?}").into());
                }
            }
            Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match args::parse("scale", USAGE, read) {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    // Counted only around the memory measurements below.
    heap::set_counting(false);
    let mut rows = Vec::new();
    let catalogs: Vec<usize> = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
        .into_iter()
        .filter(|&n| n <= options.max_items)
        .collect();

    for &engine_name in &options.engines {
        // Catalog growth: memory per item, then the cost of a lifecycle on that catalog.
        for &items in &catalogs {
            eprintln!("[{engine_name}: catalog of {items} items]");
            heap::set_counting(true);
            let before = heap::live();
            let engine = build(engine_name, Arc::new(ManualClock::new()));
            let empty = heap::live() - before;
            let grown = register(&*engine, items);
            heap::set_counting(false);
            if items == catalogs[0] {
                rows.push(Row {
                    measure: "heap_empty_bytes",
                    engine: engine_name,
                    items: 0,
                    threads: 0,
                    cart_lines: 0,
                    n: 0,
                    value: empty as f64,
                    unit: "bytes",
                });
            }
            rows.push(Row {
                measure: "heap_per_item_bytes",
                engine: engine_name,
                items,
                threads: 0,
                cart_lines: 0,
                n: items as u64,
                value: grown as f64 / items as f64,
                unit: "bytes",
            });
            for threads in [1, 2] {
                for cart_lines in [1, 4] {
                    let (ns, done) =
                        time_lifecycles(&*engine, items, threads, cart_lines, options.seconds);
                    rows.push(Row {
                        measure: "reserve_confirm_ns",
                        engine: engine_name,
                        items,
                        threads,
                        cart_lines,
                        n: done,
                        value: ns,
                        unit: "ns",
                    });
                }
            }
        }

        // Memory per live reservation.
        for &n in &RESERVATIONS {
            for cart_lines in [1, 4] {
                eprintln!("[{engine_name}: {n} live reservations of {cart_lines} lines]");
                let engine = build(engine_name, Arc::new(ManualClock::new()));
                register(&*engine, RESERVATION_CATALOG);
                let mut rng = XorShift::new(n as u64);
                let mut cart = [Line::new(ItemId::new(0), 1); 4];
                heap::set_counting(true);
                let before = heap::live();
                for c in 0..n {
                    random_cart(&mut rng, RESERVATION_CATALOG, cart_lines, &mut cart);
                    engine
                        .reserve(CartId::new(c as u64), &cart[..cart_lines], TTL)
                        .expect("stock never runs out here");
                }
                let grown = heap::live() - before;
                heap::set_counting(false);
                rows.push(Row {
                    measure: "heap_per_reservation_bytes",
                    engine: engine_name,
                    items: RESERVATION_CATALOG,
                    threads: 1,
                    cart_lines,
                    n: n as u64,
                    value: grown as f64 / n as f64,
                    unit: "bytes",
                });
            }
        }

        // Expiry throughput.
        for &n in &EXPIRIES {
            eprintln!("[{engine_name}: expire_due over {n} due reservations]");
            let clock = Arc::new(ManualClock::new());
            let engine = build(engine_name, clock.clone());
            register(&*engine, RESERVATION_CATALOG);
            let mut rng = XorShift::new(n as u64 ^ 0xE);
            let mut cart = [Line::new(ItemId::new(0), 1); 4];
            for c in 0..n {
                random_cart(&mut rng, RESERVATION_CATALOG, 1, &mut cart);
                engine
                    .reserve(CartId::new(c as u64), &cart[..1], TTL)
                    .expect("stock never runs out here");
            }
            clock.advance(TTL * 2);
            let started = Instant::now();
            let expired = engine.expire_due();
            let elapsed = started.elapsed();
            assert_eq!(expired, n, "{engine_name}: every due reservation expires");
            rows.push(Row {
                measure: "expire_ns",
                engine: engine_name,
                items: RESERVATION_CATALOG,
                threads: 1,
                cart_lines: 1,
                n: n as u64,
                value: elapsed.as_nanos() as f64 / n as f64,
                unit: "ns",
            });
        }
    }

    println!(
        "{:<28}{:<12}{:>10}{:>8}{:>6}{:>10}{:>12}",
        "measure", "engine", "items", "threads", "lines", "n", "value"
    );
    for row in &rows {
        println!(
            "{:<28}{:<12}{:>10}{:>8}{:>6}{:>10}{:>12.1} {}",
            row.measure,
            row.engine,
            row.items,
            row.threads,
            row.cart_lines,
            row.n,
            row.value,
            row.unit
        );
    }
    if let Some(path) = &options.csv {
        let written = File::create(path).and_then(|file| {
            let mut out = BufWriter::new(file);
            writeln!(out, "{}", Row::HEADER)?;
            for row in &rows {
                writeln!(out, "{}", row.csv())?;
            }
            out.flush()
        });
        if let Err(e) = written {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
        eprintln!("wrote {path}");
    }
    ExitCode::SUCCESS
}
