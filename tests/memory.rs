//! Bounded memory: millions of reserve/confirm and reserve/release cycles on distinct carts,
//! across threads, and the live heap (counted by this binary's global allocator, not guessed
//! from RSS) returns to where it was after a short warm-up.
//!
//! The warm-up allocates what is allocated once and kept (per-thread epoch participants,
//! queue blocks); everything the cycles allocate per reservation must be gone afterwards.
//! 10 million cycles in release builds (CI runs this test with `--release`), 1 million in
//! debug builds so that plain `cargo test` stays quick.

use atomic_stock::{CartId, Clock, Inventory, Line, ManualClock};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// the counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const THREADS: u64 = 4;
const ITEMS: usize = 64;

/// Runs `cycles` reserve-then-finish cycles split over threads, each on a fresh cart id; every
/// other cycle confirms, the rest release (a few also update the cart or release a line).
fn churn(inv: &Arc<Inventory>, items: &[atomic_stock::ItemId], first_cart: u64, cycles: u64) {
    let per_thread = cycles / THREADS;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (inv, items) = (inv.clone(), items.to_vec());
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                for n in 0..per_thread {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let cart = CartId::new(first_cart + t * per_thread + n);
                    let a = items[(x % ITEMS as u64) as usize];
                    let b = items[((x >> 20) % ITEMS as u64) as usize];
                    let lines = [Line::new(a, 1), Line::new(b, 1)];
                    let r = inv.reserve(cart, &lines, Duration::from_secs(60)).unwrap();
                    match n % 8 {
                        0 => {
                            inv.set_cart(cart, &[Line::new(a, 2)], Duration::from_secs(60))
                                .unwrap();
                            inv.release(r.id).unwrap();
                        }
                        1 => {
                            inv.release_lines(r.id, &[Line::new(a, 1)]).unwrap();
                            inv.confirm(r.id).unwrap();
                        }
                        2 | 4 | 6 => {
                            inv.confirm(r.id).unwrap();
                        }
                        _ => inv.release(r.id).unwrap(),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

/// Lets every deadline pass, expires what is due (nothing is held, so this only drops the
/// timer's stale tokens), and frees epoch garbage.
fn settle(inv: &Inventory, clock: &ManualClock) {
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        inv.expire_due(),
        0,
        "every reservation was confirmed or released"
    );
    inv.reclaim();
}

#[test]
fn churning_millions_of_carts_leaves_the_heap_where_it_was() {
    let cycles: u64 = if cfg!(debug_assertions) {
        1_000_000
    } else {
        10_000_000
    };
    let clock = Arc::new(ManualClock::new());
    let before_inventory = live();
    let inv = Arc::new(Inventory::builder().clock(clock.clone()).build());
    let items: Vec<_> = (0..ITEMS)
        .map(|_| inv.register_item(i64::from(i32::MAX)).unwrap())
        .collect();
    let empty = live();

    churn(&inv, &items, 0, 10_000);
    settle(&inv, &clock);
    let warm = live();

    churn(&inv, &items, 1 << 40, cycles);
    settle(&inv, &clock);
    let after = live();

    eprintln!(
        "heap: inventory {} B; after warm-up {} B (+{}); after {cycles} cycles {} B ({:+} vs warm)",
        empty - before_inventory,
        warm - before_inventory,
        warm - empty,
        after - before_inventory,
        after - warm
    );
    assert_eq!(inv.live_reservations(), 0);
    inv.audit().unwrap();
    // Nothing proportional to the cycles may remain. The slack covers what is legitimately
    // allocated once and kept: one block of a lock-free queue per shard, the timer heap's
    // minimum capacity, this thread's epoch participant.
    let slack = 256 * 1024;
    assert!(
        after - warm <= slack,
        "the heap grew by {} B over {cycles} cycles",
        after - warm
    );
    drop(inv);
    let _ = Clock::now(&*clock);
}
