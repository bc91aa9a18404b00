//! Measurements of the catalog: SKU resolution on the reserve path, bulk loads, and bulk work
//! over every item serial against parallel.
//!
//! ```text
//! cargo run --release --example catalog -- lookup [ROUNDS]   # reserve by id / SKU / mutex SKU,
//!                                                           # then the SKU resolution alone
//! cargo run --release --example catalog -- register [N]      # one-by-one registration cost
//! cargo run --release --example catalog -- load [ITEMS]      # bulk load: time, bytes per item
//! cargo run --release --example catalog -- bulk [ITEMS]      # levels and audit, serial/parallel
//! ```
//!
//! Every variant of a mode runs once per round, the variants interleaved (in `lookup`, each
//! round starting with the next variant), and each figure is the median over the rounds: on a
//! shared machine, noise then hits every variant alike.

use arc_swap::ArcSwap;
use atomic_stock::{CartId, Inventory, ItemId, Line, Run};
use atomic_stock_measure::args::{self, Arg, Parser, ValueExt};
use atomic_stock_measure::figures::median;
use atomic_stock_measure::heap::{self, Counting};
use atomic_stock_measure::rng::XorShift;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const USAGE: &str = "usage: catalog lookup [ROUNDS] | register [N] | load [ITEMS] | bulk [ITEMS]";

/// What to measure, and how much of it.
enum Mode {
    Lookup { rounds: usize },
    Register { skus: usize },
    Load { items: usize },
    Bulk { items: usize },
}

impl Mode {
    fn read(parser: &mut Parser) -> Result<Mode, args::Error> {
        let mut operands = Vec::new();
        while let Some(arg) = parser.next()? {
            match arg {
                Arg::Value(value) if operands.len() < 2 => operands.push(value.string()?),
                Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
                _ => return Err(arg.unexpected()),
            }
        }
        let number = |default: usize| match operands.get(1) {
            Some(text) => args::number(text, &operands[0], &(1..=100_000_000)),
            None => Ok(default),
        };
        match operands.first().map(String::as_str) {
            Some("lookup") => Ok(Mode::Lookup { rounds: number(5)? }),
            Some("register") => Ok(Mode::Register {
                skus: number(20_000)?,
            }),
            Some("load") => Ok(Mode::Load {
                items: number(1_000_000)?,
            }),
            Some("bulk") => Ok(Mode::Bulk {
                items: number(10_000_000)?,
            }),
            Some(other) => Err(format!("unknown mode {other:?}").into()),
            None => Err("a mode: lookup, register, load or bulk".into()),
        }
    }
}

const SKUS: usize = 10_000;
const OPS: usize = 200_000;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Resolve {
    /// The caller already has the id.
    ById,
    /// `Inventory::item_by_sku` (lock-free).
    BySku,
    /// One `Mutex<HashMap>` from SKU to id (std's SipHash): the plain design, for the comparison.
    MutexSku,
    /// A copy-on-write `HashMap` published in an `ArcSwap` (the read side only).
    CowSku,
}

/// The catalog every lookup round resolves SKUs against, in each variant's structure.
struct Lookups {
    inventory: Inventory,
    skus: Vec<String>,
    ids: Vec<ItemId>,
    cow: ArcSwap<HashMap<Box<str>, ItemId>>,
    locked: Mutex<HashMap<Box<str>, ItemId>>,
}

impl Lookups {
    fn new() -> Self {
        let inventory = Inventory::builder().max_reservations(1 << 22).build();
        let skus: Vec<String> = (0..SKUS).map(|i| format!("SKU-{i:06}")).collect();
        let loaded = inventory
            .load_catalog(skus.iter().map(|s| (s.as_str(), 1_000_000)))
            .unwrap();
        let ids: Vec<ItemId> = loaded.ids().collect();
        let map: HashMap<Box<str>, ItemId> = skus
            .iter()
            .map(|s| (s.as_str().into(), inventory.item_by_sku(s).unwrap()))
            .collect();
        Lookups {
            inventory,
            skus,
            ids,
            cow: ArcSwap::from_pointee(map.clone()),
            locked: Mutex::new(map),
        }
    }

    #[inline]
    fn resolve(&self, resolve: Resolve, pick: usize) -> ItemId {
        let sku = self.skus[pick].as_str();
        match resolve {
            Resolve::ById => self.ids[pick],
            Resolve::BySku => self.inventory.item_by_sku(sku).unwrap(),
            Resolve::MutexSku => *self.locked.lock().unwrap().get(sku).unwrap(),
            Resolve::CowSku => *self.cow.load().get(sku).unwrap(),
        }
    }
}

/// Runs `work(thread)` on `threads` threads released together by a barrier and returns the
/// span from the first thread's start to the last one's end, as the threads themselves saw it
/// (a main thread descheduled after the barrier would start its clock late).
fn span(threads: usize, work: impl Fn(usize) + Sync) -> Duration {
    let barrier = Barrier::new(threads);
    let times: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    work(t);
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = times.iter().map(|t| t.0).min().unwrap();
    let last = times.iter().map(|t| t.1).max().unwrap();
    last - first
}

/// One round: `threads` threads share `OPS` reserves of one unit of a random SKU; returns
/// reserves per second.
fn lookup_round(threads: usize, resolve: Resolve) -> f64 {
    let lookups = Lookups::new();
    let per_thread = OPS / threads;
    let ttl = Duration::from_secs(600);
    let elapsed = span(threads, |t| {
        let mut rng = XorShift::for_thread(t);
        for k in 0..per_thread {
            let item = lookups.resolve(resolve, rng.below(SKUS as u64) as usize);
            let cart = CartId::new((t as u64) << 32 | k as u64);
            let line = [Line::new(item, 1)];
            lookups.inventory.reserve(cart, &line, ttl).unwrap();
        }
    });
    (per_thread * threads) as f64 / elapsed.as_secs_f64()
}

/// One round of resolution alone: `threads` threads share `OPS * 10` lookups of a random SKU;
/// returns lookups per second.
fn resolve_round(threads: usize, resolve: Resolve) -> f64 {
    let lookups = Lookups::new();
    let per_thread = OPS * 10 / threads;
    let elapsed = span(threads, |t| {
        let mut rng = XorShift::for_thread(t);
        let mut sum = 0u64;
        for _ in 0..per_thread {
            let item = lookups.resolve(resolve, rng.below(SKUS as u64) as usize);
            sum += u64::from(item.get());
        }
        std::hint::black_box(sum);
    });
    (per_thread * threads) as f64 / elapsed.as_secs_f64()
}

fn lookup(rounds: usize) {
    let variants = [
        Resolve::ById,
        Resolve::BySku,
        Resolve::MutexSku,
        Resolve::CowSku,
    ];
    println!("reserve of 1 unit of a random SKU of {SKUS}, {OPS} reserves per round, median of {rounds} rounds (Mops/s)");
    println!("threads  by-id  by-sku  mutex-sku  cow-sku   by-sku/by-id  by-sku/mutex");
    for threads in [1, 2, 16, 256] {
        let mut samples = vec![Vec::new(); variants.len()];
        for round in 0..rounds {
            // Each round starts with the next variant, so that none always runs first or
            // always follows the same one.
            for v in (0..variants.len()).map(|v| (v + round) % variants.len()) {
                samples[v].push(lookup_round(threads, variants[v]) / 1e6);
            }
        }
        let m: Vec<f64> = samples.into_iter().map(median).collect();
        println!(
            "{threads:>7}  {:>5.2}  {:>6.2}  {:>9.2}  {:>7.2}   {:>12.3}  {:>12.3}",
            m[0],
            m[1],
            m[2],
            m[3],
            m[1] / m[0],
            m[1] / m[2]
        );
    }
    println!(
        "resolution alone (no reserve), {} lookups per round, median of {rounds} rounds (Mlookups/s)",
        OPS * 10
    );
    println!("threads  by-id  by-sku  mutex-sku  cow-sku   by-sku/mutex");
    for threads in [1, 2, 16, 256] {
        let mut samples = vec![Vec::new(); variants.len()];
        for round in 0..rounds {
            for v in (0..variants.len()).map(|v| (v + round) % variants.len()) {
                samples[v].push(resolve_round(threads, variants[v]) / 1e6);
            }
        }
        let m: Vec<f64> = samples.into_iter().map(median).collect();
        println!(
            "{threads:>7}  {:>5.0}  {:>6.2}  {:>9.2}  {:>7.2}   {:>12.3}",
            m[0],
            m[1],
            m[2],
            m[3],
            m[1] / m[2]
        );
    }
}

/// One-by-one registration: the index against a copy-on-write map in an `ArcSwap`.
fn register(n: usize) {
    let skus: Vec<String> = (0..n).map(|i| format!("SKU-{i:08}")).collect();
    let mut index = Vec::new();
    let mut cow = Vec::new();
    for _ in 0..3 {
        let inventory = Inventory::new();
        let start = Instant::now();
        for sku in &skus {
            inventory.register_sku(sku, 1).unwrap();
        }
        index.push(start.elapsed().as_secs_f64());
        let map: ArcSwap<HashMap<Box<str>, u32>> = ArcSwap::from_pointee(HashMap::new());
        let start = Instant::now();
        for (i, sku) in skus.iter().enumerate() {
            let mut next = HashMap::clone(&map.load());
            next.insert(sku.as_str().into(), i as u32);
            map.store(Arc::new(next));
        }
        cow.push(start.elapsed().as_secs_f64());
    }
    let (index, cow) = (median(index), median(cow));
    println!(
        "{n} SKUs registered one by one, median of 3: index {:.1} ms ({:.0} ns/SKU), copy-on-write map {:.1} ms ({:.0} ns/SKU)",
        index * 1e3,
        index * 1e9 / n as f64,
        cow * 1e3,
        cow * 1e9 / n as f64
    );
}

/// Bulk load of `items` SKUs from CSV text and from an iterator.
fn load(items: usize) {
    let csv: String = (0..items)
        .map(|i| format!("SKU-{i:08},{}\n", i % 100))
        .collect();
    let mut csv_times = Vec::new();
    let mut iter_times = Vec::new();
    let mut bytes = Vec::new();
    let mut peaks = Vec::new();
    for _ in 0..5 {
        let before = heap::live();
        let ((inventory, elapsed), peak) = heap::peak_during(|| {
            let inventory = Inventory::new();
            let start = Instant::now();
            inventory.load_csv(csv.as_bytes()).unwrap();
            (inventory, start.elapsed())
        });
        csv_times.push(elapsed.as_secs_f64());
        bytes.push((heap::live() - before) as f64 / items as f64);
        peaks.push(peak as f64 / items as f64);
        drop(inventory);
        let inventory = Inventory::new();
        let start = Instant::now();
        inventory
            .load_catalog((0..items).map(|i| (format!("SKU-{i:08}"), (i % 100) as i64)))
            .unwrap();
        iter_times.push(start.elapsed().as_secs_f64());
    }
    println!(
        "bulk load of {items} items (SKUs of 12 bytes), median of 5: CSV {:.0} ms ({:.0} ns/item), iterator {:.0} ms; {:.1} bytes/item kept, {:.1} bytes/item at the peak",
        median(csv_times.clone()) * 1e3,
        median(csv_times) * 1e9 / items as f64,
        median(iter_times) * 1e3,
        median(bytes),
        median(peaks)
    );
}

/// Rounds of each bulk measurement.
const BULK_ROUNDS: usize = 7;

/// `levels()` and `audit()` over catalogs of up to `items` items (sizes growing tenfold from
/// 10,000), serial against parallel on rayon's pool, interleaved, with one live reservation
/// per 100 items so that the audit's registry walk has something to count.
fn bulk(items: usize) {
    println!(
        "levels() and audit() over every item, serial vs parallel on {} rayon threads, median of {BULK_ROUNDS} rounds (ms)",
        rayon_threads()
    );
    println!("    items  levels-serial  levels-parallel  audit-serial  audit-parallel");
    let mut size = 10_000.min(items);
    loop {
        let inventory = Inventory::builder().max_reservations(1 << 22).build();
        for _ in 0..size {
            inventory.register_item(1_000).unwrap();
        }
        let ttl = Duration::from_secs(600);
        for k in 0..size / 100 {
            let line = Line::new(ItemId::new((k * 100) as u32), 1);
            inventory
                .reserve(CartId::new(k as u64), &[line], ttl)
                .unwrap();
        }
        let mut samples = vec![Vec::new(); 4];
        for _ in 0..BULK_ROUNDS {
            for (v, run) in [Run::Serial, Run::Parallel].into_iter().enumerate() {
                let start = Instant::now();
                let levels = inventory.levels_with(run);
                samples[v].push(start.elapsed().as_secs_f64() * 1e3);
                assert_eq!(levels.len(), size);
                drop(levels);
                let start = Instant::now();
                let report = inventory.audit_with(run).unwrap();
                samples[2 + v].push(start.elapsed().as_secs_f64() * 1e3);
                assert_eq!(report.items, size);
            }
        }
        let m: Vec<f64> = samples.into_iter().map(median).collect();
        println!(
            "{size:>9}  {:>13.3}  {:>15.3}  {:>12.3}  {:>14.3}",
            m[0], m[1], m[2], m[3]
        );
        if size >= items {
            break;
        }
        size = (size * 10).min(items);
    }
}

/// Threads in rayon's global pool (what `Run::Parallel` uses).
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn main() -> ExitCode {
    match args::parse("catalog", USAGE, Mode::read) {
        Ok(Mode::Lookup { rounds }) => lookup(rounds),
        Ok(Mode::Register { skus }) => register(skus),
        Ok(Mode::Load { items }) => load(items),
        Ok(Mode::Bulk { items }) => bulk(items),
        Err(exit) => return exit,
    }
    ExitCode::SUCCESS
}
