//! Heap accounting for the programs that report memory: [`Counting`], a global allocator that
//! forwards every call to the system allocator and counts the bytes asked of it.
//!
//! A program opts in with `#[global_allocator] static ALLOCATOR: Counting = Counting;`. The
//! others keep the system allocator as it is: the instruction counts of `instructions`,
//! for one, must not include the counting.
//!
//! It counts bytes asked for, not the allocator's own overhead or memory it keeps cached after
//! a free. Threads add to one of [`SLOTS`] cache-padded counters each (assigned round robin),
//! so threads allocating at once do not contend on one cache line, which would slow every
//! measured churn alike. Counting can be switched off around timed runs ([`set_counting`]);
//! the peak, which needs one shared counter, is tracked only inside [`peak_during`].

use crossbeam_utils::CachePadded;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicUsize, Ordering};

/// Counters the live total is split over.
pub const SLOTS: usize = 16;

/// `STATE` bit: allocations are counted in `LIVE`.
const COUNT: u8 = 1;
/// `STATE` bit: allocations are also counted in `WATCHED`, whose maximum `PEAK` keeps.
const WATCH_PEAK: u8 = 2;

/// What is counted; one load per allocation reads it. Counting starts on.
static STATE: AtomicU8 = AtomicU8::new(COUNT);
static LIVE: [CachePadded<AtomicI64>; SLOTS] =
    [const { CachePadded::new(AtomicI64::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
/// Growth since `peak_during` started, in one counter so that its maximum is exact.
static WATCHED: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

thread_local! {
    /// This thread's counter in `LIVE` (`usize::MAX` until its first allocation). A `const`
    /// thread-local without a destructor: reading it never allocates, even during teardown.
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The system allocator, counting (see the module docs).
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as i64);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as i64);
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

#[inline]
fn count(bytes: i64) {
    // Relaxed: the switch is flipped by the measuring thread before it starts (or after it has
    // joined) the work it measures; spawns and joins order the flip with that work.
    let state = STATE.load(Ordering::Relaxed);
    if state & COUNT != 0 {
        let slot = SLOT
            .try_with(|slot| {
                if slot.get() == usize::MAX {
                    // Relaxed: hands out numbers; which thread gets which orders nothing.
                    slot.set(NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS);
                }
                slot.get()
            })
            .unwrap_or(0);
        // Relaxed: a statistic. The reader sums the slots after joining every thread that
        // allocated, and the joins order those threads' additions before the read.
        LIVE[slot].fetch_add(bytes, Ordering::Relaxed);
    }
    if state & WATCH_PEAK != 0 {
        // Relaxed: as above; one counter, so each addition sees every earlier one and the
        // maximum over the values it returns is the true peak.
        let watched = WATCHED.fetch_add(bytes, Ordering::Relaxed) + bytes;
        // Relaxed: as above.
        PEAK.fetch_max(watched, Ordering::Relaxed);
    }
}

/// Bytes allocated and not freed while counting was on: exact once every thread that
/// allocated is joined (or is not allocating).
pub fn live() -> i64 {
    // Relaxed: see `count`.
    LIVE.iter().map(|slot| slot.load(Ordering::Relaxed)).sum()
}

/// Switches counting on or off (it starts on). While it is off, [`live`] does not move, and
/// an allocation costs one more load than with the system allocator.
pub fn set_counting(on: bool) {
    // Relaxed: see `count`.
    if on {
        STATE.fetch_or(COUNT, Ordering::Relaxed);
    } else {
        STATE.fetch_and(!COUNT, Ordering::Relaxed);
    }
}

/// Runs `work` and returns what it returned with the heap's peak growth during it: the most
/// bytes that were live at once, over what was live when it started.
///
/// # Panics
///
/// If called inside another `peak_during` (there is one peak counter).
pub fn peak_during<R>(work: impl FnOnce() -> R) -> (R, i64) {
    // Relaxed (here and below): see `count`; `work` runs on this thread or on threads it
    // spawns and joins.
    let watching = STATE.load(Ordering::Relaxed) & WATCH_PEAK != 0;
    assert!(!watching, "peak_during does not nest");
    WATCHED.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    STATE.fetch_or(WATCH_PEAK, Ordering::Relaxed);
    let result = work();
    STATE.fetch_and(!WATCH_PEAK, Ordering::Relaxed);
    (result, PEAK.load(Ordering::Relaxed))
}
