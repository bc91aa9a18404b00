//! The seed's per-cart lock maps against the crate's cart registry, measured: what each design
//! costs in memory after millions of carts, how fast it runs, and whether it keeps one thread
//! at a time in a cart's critical section.
//!
//! ```sh
//! cargo run --release --example cart_locks                      # 10,000,000 carts, 2 threads
//! cargo run --release --example cart_locks -- --carts 2000000   # a shorter run
//! cargo run --release --example cart_locks -- --carts 100000 --race-seconds 0.5   # a quick check
//! ```
//!
//! Options: `--carts N` (carts per churn, default 10,000,000), `--threads N` (churn threads,
//! default 2), `--race-threads N` (default 4), `--race-seconds S` (per race, default 2).
//! Prints two Markdown tables on stdout; exits 1 if a design that claims mutual exclusion
//! lost it or the registry's books do not add up, 2 on bad options.
//!
//! # The designs
//!
//! The lock maps are 64 shards of `parking_lot::Mutex<HashMap<u64, Arc<parking_lot::Mutex<()>>>>`
//! (the seed's per-cart lock map); a cart operation gets or
//! creates its cart's lock under the shard's mutex, clones the `Arc`, and locks it.
//!
//! * `A: never removed`: the seed's Option A. Entries would go after a long expiry (24 h); no
//!   run of this example lasts that long, so none goes.
//! * `B naive`: the seed's Option B. After unlocking, the entry is removed if it is still the
//!   same `Arc` (Java's `ConcurrentHashMap.remove(key, value)`).
//! * `B re-check only`: as `B naive`, but after locking, the thread checks that the map still
//!   maps the cart to the `Arc` it locked, and starts over if not. Shown because it is not
//!   enough: a waiter can pass the check just before the late removal lets a third thread in.
//! * `B fixed`: the re-check, *and* the removal done while the mutex is still held, as
//!   a per-cart lock map must.
//! * `registry`: `atomic_stock::Inventory`. No lock: one registry entry per live cart, retired
//!   when its reservation finishes, freed through crossbeam-epoch; a cart has one writer at a
//!   time because every change is a compare-and-swap on the entry's hold.
//!
//! # Table 1: churn (`--carts` distinct carts, `--threads` threads)
//!
//! Thread `t` handles carts `t, t + threads, t + 2 * threads, ...`, each once.
//!
//! * Lock maps: per cart, get-or-create its lock, lock, a tiny critical section (bump a
//!   counter), unlock, and whatever removal the design does.
//! * Registry: per cart, `reserve(cart, [1 unit of one item], 600 s)` then `release(id)`, on
//!   an `Inventory` whose one item has 2^30 units.
//!
//! Columns:
//!
//! * `heap growth`: live heap bytes after the churn (all threads joined) minus before it (the
//!   empty structure built, its item registered). Counted by the global allocator,
//!   `atomic_stock_measure::heap::Counting` (bytes asked of `System`, so not the allocator's
//!   overhead nor memory it caches).
//! * `per cart`: `heap growth / carts`.
//! * `entries left`: lock-map entries, or the registry's live reservations, after the churn.
//! * `carts/s`: carts over wall time from the barrier that starts the threads to the last join.
//!   **Not like for like**: a lock map's cart is a lock round trip, the registry's is a whole
//!   reservation (take the stock, publish the hold, schedule its deadline, then release it and
//!   give the stock back). For the same lifecycle on both engines (the `item-locks` baseline
//!   uses `B fixed`), see `cargo bench --bench lifecycle`.
//!
//! The registry has two rows with the same churn: `after join` is the heap as soon as the
//! threads are joined (their epoch bags handed to the collector, not yet freed), `after
//! reclaim()` is after `Inventory::reclaim`, which frees every retired entry no thread can
//! still see. What remains is allocated once and kept whatever the number of carts
//! (the timer's queue blocks and wheel, the main thread's epoch participant and its cache of
//! spare entries, the item's escrow if contention promoted it).
//!
//! # Table 2: races (`--race-threads` threads on 4 carts for `--race-seconds`)
//!
//! * Lock maps: each thread picks one of 4 carts at random and runs the design's cart
//!   operation; its critical section adds 1 to the cart's `inside` counter, spins briefly,
//!   subtracts 1. `ops` counts critical sections; `violations` counts entries that found
//!   `inside` already non-zero, i.e. another thread in the same cart's critical section.
//! * Registry: each thread picks one of 4 carts at random and either reserves 1 more unit on
//!   it (5 in 8: a new reservation, or lines added to the cart's live one), gives back 1 unit
//!   of the reservation it last got for that cart (2 in 8, `release_lines`), or confirms the
//!   cart (1 in 8, `confirm_cart`, which retires the entry; the next reserve creates a fresh
//!   one). `ops` counts calls; the `check` is: `Inventory::audit` passes (every item's
//!   `received = available + held + sold`, `held` summed from the registry's live entries),
//!   nothing is in flight, the units the callers were told they reserved minus those they
//!   gave back equal `held + sold`, `held` equals the sum of the 4 carts' lines, and the
//!   inventory counted as many reserves and confirms as its callers saw succeed. A lost
//!   update (two writers on one cart both winning) breaks the first or the third.

use atomic_stock::{CartId, Confirmation, Inventory, ItemId, Line, ReservationId};
use atomic_stock_measure::args::{self, Arg, Parser};
use atomic_stock_measure::figures::grouped;
use atomic_stock_measure::heap::{self, Counting};
use atomic_stock_measure::rng::XorShift;
use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const USAGE: &str = "usage: cart_locks [--carts 10000000] [--threads 2] [--race-threads 4] \
                     [--race-seconds 2]";

/// Largest `--carts`: Option A keeps every cart's lock, about 60 bytes each.
const MAX_CARTS: u64 = 100_000_000;
const MAX_THREADS: usize = 256;
const MAX_RACE_SECONDS: f64 = 600.0;

/// Shards of a lock map.
const SHARDS: usize = 64;
/// Carts the race tests hammer.
const RACE_CARTS: usize = 4;
/// Spins inside a race's critical section: long enough for another thread to arrive while
/// one is inside, short next to a lock round trip.
const CRITICAL_SPINS: u32 = 32;
/// Units of the registry's one item: enough for every cart of the largest churn and every
/// reserve of a race (`MAX_STOCK` is 2^31 - 1).
const INITIAL: i64 = 1 << 30;
/// Time to live of the registry's reservations: no deadline passes during a run.
const TTL: Duration = Duration::from_secs(600);

struct Options {
    carts: u64,
    threads: usize,
    race_threads: usize,
    race_seconds: Duration,
}

impl Options {
    fn read(parser: &mut Parser) -> Result<Options, args::Error> {
        let mut options = Options {
            carts: 10_000_000,
            threads: 2,
            race_threads: 4,
            race_seconds: Duration::from_secs(2),
        };
        while let Some(arg) = parser.next()? {
            match arg {
                Arg::Long("carts") => {
                    options.carts = args::number_in(parser, "--carts", 1..=MAX_CARTS)?
                }
                Arg::Long("threads") => {
                    options.threads = args::number_in(parser, "--threads", 1..=MAX_THREADS)?;
                }
                Arg::Long("race-threads") => {
                    options.race_threads =
                        args::number_in(parser, "--race-threads", 2..=MAX_THREADS)?;
                }
                Arg::Long("race-seconds") => {
                    let s: f64 =
                        args::number_in(parser, "--race-seconds", 0.01..=MAX_RACE_SECONDS)?;
                    options.race_seconds = Duration::from_secs_f64(s);
                }
                Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
                _ => return Err(arg.unexpected()),
            }
        }
        Ok(options)
    }
}

/// splitmix64's finalizer: spreads consecutive cart ids over buckets and shards.
fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The lock maps' hasher: `mix` of the `u64` key (a few cycles, where SipHash would add tens
/// of nanoseconds per operation to every lock-map design alike).
#[derive(Clone, Copy, Default)]
struct CartHash;

struct CartHasher(u64);

impl BuildHasher for CartHash {
    type Hasher = CartHasher;

    fn build_hasher(&self) -> CartHasher {
        CartHasher(0)
    }
}

impl Hasher for CartHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = mix(self.0 ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = mix(n);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type CartLock = Arc<Mutex<()>>;

/// One shard of a [`CartLockMap`].
type CartLockShard = Mutex<HashMap<u64, CartLock, CartHash>>;

/// A map cart -> lock, sharded under mutexes.
struct CartLockMap {
    shards: Box<[CachePadded<CartLockShard>]>,
}

impl CartLockMap {
    fn new() -> Self {
        CartLockMap {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::new(HashMap::with_hasher(CartHash))))
                .collect(),
        }
    }

    /// From bits of the hash the shard's `HashMap` does not use (it takes the low bits for
    /// the bucket and the top seven for its control bytes).
    fn shard(&self, cart: u64) -> &CartLockShard {
        &self.shards[(mix(cart) >> 32) as usize % SHARDS]
    }

    fn get_or_create(&self, cart: u64) -> CartLock {
        Arc::clone(self.shard(cart).lock().entry(cart).or_default())
    }

    /// Whether `cart` still maps to the very lock `lock`.
    fn maps_to(&self, cart: u64, lock: &CartLock) -> bool {
        self.shard(cart)
            .lock()
            .get(&cart)
            .is_some_and(|mapped| Arc::ptr_eq(mapped, lock))
    }

    /// `ConcurrentHashMap.remove(key, value)`: removes `cart` if it still maps to `lock`.
    fn remove_if_same(&self, cart: u64, lock: &CartLock) {
        let mut map = self.shard(cart).lock();
        if map
            .get(&cart)
            .is_some_and(|mapped| Arc::ptr_eq(mapped, lock))
        {
            map.remove(&cart);
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().len()).sum()
    }
}

/// How a lock map's cart operation gets, holds and lets go of the cart's lock.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Design {
    NeverRemoved,
    RemoveAfterUnlock,
    RecheckRemoveAfterUnlock,
    RecheckRemoveWhileHeld,
}

impl Design {
    fn name(self) -> &'static str {
        match self {
            Design::NeverRemoved => "A: never removed",
            Design::RemoveAfterUnlock => "B naive: remove(key, value) after unlock",
            Design::RecheckRemoveAfterUnlock => "B re-check only: remove after unlock",
            Design::RecheckRemoveWhileHeld => "B fixed: re-check, remove while held",
        }
    }

    /// Whether the design claims one thread at a time per cart (a violation fails the run).
    fn claims_exclusion(self) -> bool {
        matches!(self, Design::NeverRemoved | Design::RecheckRemoveWhileHeld)
    }

    /// Runs `section` holding what the design takes to be `cart`'s lock. (`section` never
    /// panics here; a service would remove the entry in a drop guard, as the baseline does.)
    fn with<R>(self, map: &CartLockMap, cart: u64, section: impl FnOnce() -> R) -> R {
        match self {
            Design::NeverRemoved => {
                let lock = map.get_or_create(cart);
                let _held = lock.lock();
                section()
            }
            Design::RemoveAfterUnlock => {
                let lock = map.get_or_create(cart);
                let result = {
                    let _held = lock.lock();
                    section()
                };
                // The window: a thread that cloned `lock` before this removal now holds a lock
                // no longer in the map, while the next caller creates a fresh one.
                map.remove_if_same(cart, &lock);
                result
            }
            Design::RecheckRemoveAfterUnlock => loop {
                let lock = map.get_or_create(cart);
                let held = lock.lock();
                if !map.maps_to(cart, &lock) {
                    continue;
                }
                let result = section();
                drop(held);
                // The window: a waiter on `lock` passed its re-check before this removal.
                map.remove_if_same(cart, &lock);
                return result;
            },
            Design::RecheckRemoveWhileHeld => loop {
                let lock = map.get_or_create(cart);
                let held = lock.lock();
                if !map.maps_to(cart, &lock) {
                    // Removed (and perhaps re-created) while we waited: not the cart's lock.
                    continue;
                }
                let result = section();
                // Removed before unlocking: a waiter that wakes on `lock` finds it gone.
                map.remove_if_same(cart, &lock);
                drop(held);
                return result;
            },
        }
    }
}

/// Runs `work(thread)` on `threads` threads released together; returns the wall time from
/// the release to the last join.
fn run_threads(threads: usize, work: impl Fn(usize) + Sync) -> Duration {
    let barrier = Barrier::new(threads + 1);
    let start = thread::scope(|scope| {
        for t in 0..threads {
            let (barrier, work) = (&barrier, &work);
            scope.spawn(move || {
                barrier.wait();
                work(t);
            });
        }
        barrier.wait();
        Instant::now()
        // The scope joins every thread before returning.
    });
    start.elapsed()
}

/// Runs `work(thread, stop)` on `threads` threads for `duration`.
fn run_for(threads: usize, duration: Duration, work: impl Fn(usize, &AtomicBool) + Sync) {
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        for t in 0..threads {
            let (stop, work) = (&stop, &work);
            scope.spawn(move || work(t, stop));
        }
        thread::sleep(duration);
        // Relaxed: a flag polled in a loop; the joins order everything the threads did.
        stop.store(true, Ordering::Relaxed);
    });
}

/// One row of the churn table.
struct Churn {
    design: &'static str,
    carts: u64,
    heap_growth: i64,
    entries_left: usize,
    elapsed: Duration,
}

impl Churn {
    fn row(&self) -> String {
        format!(
            "| {} | {} | {:.3} | {} | {} |",
            self.design,
            grouped(self.heap_growth),
            self.heap_growth as f64 / self.carts as f64,
            grouped(self.entries_left as i64),
            grouped((self.carts as f64 / self.elapsed.as_secs_f64()) as i64),
        )
    }
}

/// One row of the race table.
struct Race {
    design: &'static str,
    ops: u64,
    outcome: String,
    ok: bool,
}

/// Churns `map` (new and empty). The caller drops it once every timed run is over: with
/// Option A's ten million locks freed in between, whichever timed run came next was up to 4x
/// slower here (the allocator tidying millions of freed chunks, presumably), and which run
/// that was varied.
fn churn_locks(design: Design, map: &CartLockMap, options: &Options) -> Churn {
    let (carts, threads) = (options.carts, options.threads);
    let before = heap::live();
    let elapsed = run_threads(threads, |t| {
        let mut sections = 0u64;
        for cart in (t as u64..carts).step_by(threads) {
            design.with(map, cart, || {
                sections = std::hint::black_box(sections + 1);
            });
        }
    });
    let heap_growth = heap::live() - before;
    Churn {
        design: design.name(),
        carts,
        heap_growth,
        entries_left: map.len(),
        elapsed,
    }
}

/// The registry's churn: one row as soon as the threads are joined, one after `reclaim`.
fn churn_registry(options: &Options) -> Result<[Churn; 2], String> {
    let inventory = Inventory::new();
    let item = inventory
        .register_item(INITIAL)
        .map_err(|e| format!("register_item: {e}"))?;
    // Registers this thread with the inventory's collector now, so that the participant is
    // counted in the heap before the churn, not as growth.
    inventory.reclaim();
    let (carts, threads) = (options.carts, options.threads);
    let failures = AtomicU64::new(0);
    let before = heap::live();
    let elapsed = run_threads(threads, |t| {
        let line = [Line::new(item, 1)];
        let mut failed = 0;
        for cart in (t as u64..carts).step_by(threads) {
            match inventory.reserve(CartId::new(cart), &line, TTL) {
                Ok(receipt) => failed += u64::from(inventory.release(receipt.id).is_err()),
                Err(_) => failed += 1,
            }
        }
        // Relaxed: read after the joins.
        failures.fetch_add(failed, Ordering::Relaxed);
    });
    let after_join = heap::live() - before;
    inventory.reclaim();
    let after_reclaim = heap::live() - before;
    // Relaxed: the threads are joined.
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!(
            "registry churn: {failed} reserve or release calls failed"
        ));
    }
    let live = inventory.live_reservations();
    Ok([
        Churn {
            design: "registry (Inventory), after join",
            carts,
            heap_growth: after_join,
            entries_left: live,
            elapsed,
        },
        Churn {
            design: "registry (Inventory), after reclaim()",
            carts,
            heap_growth: after_reclaim,
            entries_left: live,
            elapsed,
        },
    ])
}

fn race_locks(design: Design, options: &Options) -> Race {
    let map = CartLockMap::new();
    let inside: [AtomicU32; RACE_CARTS] = Default::default();
    let ops = AtomicU64::new(0);
    let violations = AtomicU64::new(0);
    run_for(options.race_threads, options.race_seconds, |t, stop| {
        let mut rng = XorShift::for_thread(t);
        let (mut done, mut seen) = (0u64, 0u64);
        // Relaxed: see `run_for`.
        while !stop.load(Ordering::Relaxed) {
            let cart = rng.below(RACE_CARTS as u64) as usize;
            design.with(&map, cart as u64, || {
                // Relaxed: the read-modify-writes on one counter are totally ordered whatever
                // the ordering, and a non-zero value read by one is another thread inside.
                if inside[cart].fetch_add(1, Ordering::Relaxed) != 0 {
                    seen += 1;
                }
                for _ in 0..CRITICAL_SPINS {
                    std::hint::spin_loop();
                }
                // Relaxed: as above.
                inside[cart].fetch_sub(1, Ordering::Relaxed);
            });
            done += 1;
        }
        // Relaxed: read after the joins.
        ops.fetch_add(done, Ordering::Relaxed);
        violations.fetch_add(seen, Ordering::Relaxed);
    });
    // Relaxed: the threads are joined.
    let violations = violations.load(Ordering::Relaxed);
    let ok = violations == 0 || !design.claims_exclusion();
    Race {
        design: design.name(),
        ops: ops.load(Ordering::Relaxed),
        outcome: format!("{} violations", grouped(violations as i64)),
        ok,
    }
}

/// What the registry race's callers were told.
#[derive(Default)]
struct Told {
    ops: u64,
    /// Units reserved (each successful reserve adds one).
    reserved: i64,
    /// Units given back by successful `release_lines`.
    given_back: i64,
    /// Successful reserves.
    reserves: u64,
    /// Confirms answered `Confirmed` (not `AlreadyConfirmed`).
    confirms: u64,
}

fn race_registry(options: &Options) -> Result<Race, String> {
    let inventory = Inventory::new();
    let item = inventory
        .register_item(INITIAL)
        .map_err(|e| format!("register_item: {e}"))?;
    let told = std::sync::Mutex::new(Told::default());
    run_for(options.race_threads, options.race_seconds, |t, stop| {
        let mut rng = XorShift::for_thread(t);
        let mut mine = Told::default();
        let mut last: [Option<ReservationId>; RACE_CARTS] = [None; RACE_CARTS];
        let line = [Line::new(item, 1)];
        // Relaxed: see `run_for`.
        while !stop.load(Ordering::Relaxed) {
            let cart = rng.below(RACE_CARTS as u64) as usize;
            let cart_id = CartId::new(cart as u64);
            match rng.below(8) {
                0..=4 => {
                    if let Ok(receipt) = inventory.reserve(cart_id, &line, TTL) {
                        mine.reserved += 1;
                        mine.reserves += 1;
                        last[cart] = Some(receipt.id);
                    }
                }
                5 | 6 => {
                    if let Some(id) = last[cart] {
                        if inventory.release_lines(id, &line).is_ok() {
                            mine.given_back += 1;
                        }
                    }
                }
                _ => {
                    if inventory.confirm_cart(cart_id) == Ok(Confirmation::Confirmed) {
                        mine.confirms += 1;
                    }
                }
            }
            mine.ops += 1;
        }
        let mut told = told
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        told.ops += mine.ops;
        told.reserved += mine.reserved;
        told.given_back += mine.given_back;
        told.reserves += mine.reserves;
        told.confirms += mine.confirms;
    });
    let told = told
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(registry_books(&inventory, item, &told))
}

/// Checks the registry race's books (see the module docs, table 2).
fn registry_books(inventory: &Inventory, item: ItemId, told: &Told) -> Race {
    let mut problems = Vec::new();
    let audit = inventory.audit();
    if let Err(e) = &audit {
        problems.push(format!("audit failed: {e}"));
    }
    let levels = inventory.item(item);
    let in_carts: i64 = (0..RACE_CARTS as u64)
        .filter_map(|cart| inventory.cart(CartId::new(cart)))
        .flat_map(|info| info.lines)
        .map(|line| line.quantity)
        .sum();
    let stats = inventory.stats();
    if let Some(levels) = levels {
        if levels.in_flight != 0 {
            problems.push(format!("{} units in flight", levels.in_flight));
        }
        if told.reserved - told.given_back != levels.held + levels.sold {
            problems.push(format!(
                "reserved {} - given back {} != held {} + sold {}",
                told.reserved, told.given_back, levels.held, levels.sold
            ));
        }
        if levels.held != in_carts {
            problems.push(format!("held {} != carts' lines {in_carts}", levels.held));
        }
    } else {
        problems.push("the item is gone".to_string());
    }
    if stats.reserves != told.reserves || stats.confirms != told.confirms {
        problems.push(format!(
            "inventory counted {} reserves and {} confirms, callers saw {} and {}",
            stats.reserves, stats.confirms, told.reserves, told.confirms
        ));
    }
    let outcome = match (&audit, levels) {
        (Ok(report), Some(levels)) if problems.is_empty() => format!(
            "books balance: audit ok; reserved {} - given back {} = held {} + sold {} \
             ({} confirms, {} live carts)",
            grouped(told.reserved),
            grouped(told.given_back),
            grouped(levels.held),
            grouped(levels.sold),
            grouped(told.confirms as i64),
            report.live_reservations
        ),
        _ => problems.join("; "),
    };
    Race {
        design: "registry (Inventory)",
        ops: told.ops,
        ok: problems.is_empty(),
        outcome,
    }
}

fn main() -> ExitCode {
    let options = match args::parse("cart_locks", USAGE, Options::read) {
        Ok(options) => options,
        Err(exit) => return exit,
    };

    let mut churns = Vec::new();
    let mut churned_maps = Vec::new();
    for design in [
        Design::NeverRemoved,
        Design::RemoveAfterUnlock,
        Design::RecheckRemoveWhileHeld,
    ] {
        eprintln!("churn: {}", design.name());
        let map = CartLockMap::new();
        churns.push(churn_locks(design, &map, &options));
        churned_maps.push(map);
    }
    eprintln!("churn: registry");
    match churn_registry(&options) {
        Ok(rows) => churns.extend(rows),
        Err(message) => {
            eprintln!("cart_locks: {message}");
            return ExitCode::FAILURE;
        }
    }

    let mut races = Vec::new();
    for design in [
        Design::NeverRemoved,
        Design::RemoveAfterUnlock,
        Design::RecheckRemoveAfterUnlock,
        Design::RecheckRemoveWhileHeld,
    ] {
        eprintln!("race: {}", design.name());
        races.push(race_locks(design, &options));
    }
    eprintln!("race: registry");
    match race_registry(&options) {
        Ok(race) => races.push(race),
        Err(message) => {
            eprintln!("cart_locks: {message}");
            return ExitCode::FAILURE;
        }
    }

    println!(
        "Churn: {} distinct carts on {} threads (lock maps: a lock round trip per cart; \
         registry: reserve + release per cart, more work, not like for like)\n",
        grouped(options.carts as i64),
        options.threads
    );
    println!("| design | heap growth (bytes) | per cart (bytes) | entries left | carts/s |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for churn in &churns {
        println!("{}", churn.row());
    }
    println!(
        "\nRaces: {} threads on {RACE_CARTS} carts for {:.1} s each\n",
        options.race_threads,
        options.race_seconds.as_secs_f64()
    );
    println!("| design | ops | mutual exclusion |");
    println!("| --- | ---: | --- |");
    for race in &races {
        println!(
            "| {} | {} | {} |",
            race.design,
            grouped(race.ops as i64),
            race.outcome
        );
    }

    drop(churned_maps);

    let failed: Vec<_> = races.iter().filter(|r| !r.ok).map(|r| r.design).collect();
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "cart_locks: exclusion or books failed for: {}",
            failed.join(", ")
        );
        ExitCode::FAILURE
    }
}
