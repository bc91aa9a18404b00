//! Bounded memory when threads outnumber cores: 64 and 256 threads (on however few cores the
//! machine has) reserve fresh carts and release or confirm them, and the process's resident
//! memory after a warm-up must grow by less than [`BOUND_MB`] over the measured window; once
//! more while one thread stays pinned in the inventory's epoch for a second, every other second.
//!
//! Release builds only (CI: `cargo test --release --test memory_threads`); about 30 s. What the
//! bound is and what it depends on: DESIGN.md, "Bounded memory". `MEMORY_WARM_UP` and
//! `MEMORY_SECONDS` set the warm-up and the measured window in seconds (default 2 and 5), e.g.
//! `MEMORY_WARM_UP=10 MEMORY_SECONDS=60` for the one-minute runs quoted there.

use atomic_stock::{CartId, Inventory, ItemId, Line, ManualClock};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest growth of resident memory tolerated over the measured window.
const BOUND_MB: u64 = 64;

fn seconds(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[derive(Clone, Copy, Debug)]
enum Finish {
    Release,
    Confirm,
}

struct Outcome {
    grown_kb: u64,
    cycles: u64,
}

/// Runs `threads` threads of reserve-then-finish cycles on fresh carts for the warm-up and
/// the measured window; optionally stalls one extra thread pinned for `stall` in the middle.
fn run(
    threads: u64,
    lines: usize,
    items: usize,
    finish: Finish,
    stall: Option<Duration>,
) -> Outcome {
    let inventory = Arc::new(
        Inventory::builder()
            .clock(Arc::new(ManualClock::new()))
            .build(),
    );
    let ids: Arc<[ItemId]> = (0..items)
        .map(|_| inventory.register_item((1 << 31) - 1).unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let cycles = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (inventory, ids, stop, cycles) =
                (inventory.clone(), ids.clone(), stop.clone(), cycles.clone());
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                let mut n = 0u64;
                let mut cart_lines = Vec::with_capacity(lines);
                while !stop.load(Ordering::Relaxed) {
                    cart_lines.clear();
                    for _ in 0..lines {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        cart_lines.push(Line::new(ids[(x % ids.len() as u64) as usize], 1));
                    }
                    let cart = CartId::new(t << 40 | n);
                    n += 1;
                    let receipt = inventory
                        .reserve(cart, &cart_lines, Duration::from_secs(1000))
                        .unwrap();
                    match finish {
                        Finish::Release => inventory.release(receipt.id).unwrap(),
                        Finish::Confirm => drop(inventory.confirm(receipt.id).unwrap()),
                    }
                }
                cycles.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(seconds("MEMORY_WARM_UP", 2));
    let measured = seconds("MEMORY_SECONDS", 5);
    let before = rss_kb();
    let started = Instant::now();
    let mut peak = before;
    // Stalls one more thread, pinned, for `stall` every other second until the window ends.
    let staller = stall.map(|stall| {
        let (inventory, stop) = (inventory.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                inventory.stall_pinned(stall);
            }
        })
    });
    while started.elapsed() < measured {
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(rss_kb());
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    if let Some(staller) = staller {
        staller.join().unwrap();
    }
    Outcome {
        grown_kb: peak.saturating_sub(before),
        cycles: cycles.load(Ordering::Relaxed),
    }
}

fn check(threads: u64, lines: usize, items: usize, finish: Finish, stall: Option<Duration>) {
    let outcome = run(threads, lines, items, finish, stall);
    eprintln!(
        "{threads} threads, {lines}-line carts over {items} items, {finish:?}, stall {stall:?}: \
         {} cycles, resident memory grew by {} kB",
        outcome.cycles, outcome.grown_kb
    );
    assert!(outcome.cycles > 0, "no cycle completed");
    assert!(
        outcome.grown_kb < BOUND_MB * 1024,
        "resident memory grew by {} kB (bound {BOUND_MB} MB) with {threads} threads",
        outcome.grown_kb
    );
}

// One test function: the cases must not run at the same time, or each would see the others'
// memory.
#[test]
#[cfg_attr(debug_assertions, ignore = "release builds only: cargo test --release")]
fn memory_stays_bounded_when_threads_outnumber_cores() {
    check(64, 4, 10_000, Finish::Release, None);
    check(256, 1, 1, Finish::Release, None);
    check(256, 4, 10_000, Finish::Confirm, None);
    check(
        256,
        1,
        10_000,
        Finish::Release,
        Some(Duration::from_secs(1)),
    );
}
