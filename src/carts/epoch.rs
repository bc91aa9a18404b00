//! Memory reclamation for the cart registry: one crossbeam-epoch [`Collector`] per inventory,
//! and a small per-thread cache of the handles that pin it.
//!
//! Why a collector per inventory rather than the process-wide default: everything an inventory
//! retires is freed when the inventory (and every thread that touched it) is gone, so leak
//! checkers (Miri, the counting-allocator tests) see a clean heap, and one inventory's garbage
//! never waits on another's pinned threads.
//!
//! Pinning needs a registered [`LocalHandle`] per thread. Registering is costly (an allocation
//! and a list insertion), so each thread keeps the handles of the last few inventories it used,
//! keyed by the inventory's collector id; a handle of a dropped inventory is purged on the next
//! cache miss.

use crate::sync::thread_local;
use crossbeam_epoch::{Collector, Guard, LocalHandle};
use crossbeam_utils::CachePadded;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Retired allocations (registry entries and replaced holds) tolerated before operations that
/// allocate new ones wait for reclamation to catch up (see [`Epoch::throttle`]); about 150
/// bytes each with crossbeam's bookkeeping, so about 10 MB.
pub(crate) const MAX_PENDING: isize = 1 << 16;

/// Longest one call waits in [`Epoch::throttle`].
pub(crate) const MAX_THROTTLE: Duration = Duration::from_millis(10);

/// Set while [`pending`] was last found above [`MAX_PENDING`]: every allocating operation then
/// waits, not only the one that looked. Process-wide like [`PENDING`]; a plain std atomic.
static OVER: AtomicBool = AtomicBool::new(false);

/// Threads check [`pending`] every this many allocating operations.
const THROTTLE_CHECK_EVERY: u32 = 256;

/// Retired allocations not yet reclaimed, process-wide, split over cache lines by thread (a
/// retirement and its reclamation may count on different lines; only the sum means anything).
/// Plain std atomics even under loom: counters that order nothing.
static PENDING: [CachePadded<AtomicIsize>; 16] =
    [const { CachePadded::new(AtomicIsize::new(0)) }; 16];

/// Each thread counts here first and moves its count to [`PENDING`] once it reaches
/// [`COUNT_BATCH`] either way (and when the thread exits), so the hot path touches no shared
/// line; [`pending`] may miss up to that much per thread.
const COUNT_BATCH: isize = 32;

struct LocalCount(Cell<isize>);

impl LocalCount {
    fn add(&self, n: isize) {
        let count = self.0.get() + n;
        if count.abs() >= COUNT_BATCH {
            self.0.set(0);
            publish(count);
        } else {
            self.0.set(count);
        }
    }
}

impl Drop for LocalCount {
    fn drop(&mut self) {
        publish(self.0.get());
    }
}

fn publish(count: isize) {
    #[cfg(not(loom))]
    let line = crate::sync::shard::thread_number() % PENDING.len();
    // Under loom the thread number is a loom thread-local, and a thread's `LocalCount` may be
    // dropped after it, or outside the model (loom clears the last thread's locals there).
    #[cfg(loom)]
    let line = 0;
    // Relaxed: a count compared with a bound; it orders nothing.
    PENDING[line].fetch_add(count, Ordering::Relaxed);
}

#[cfg(not(loom))]
thread_local! {
    static LOCAL_COUNT: LocalCount = const { LocalCount(Cell::new(0)) };
}

// loom's `thread_local!` has no const form.
#[cfg(loom)]
thread_local! {
    static LOCAL_COUNT: LocalCount = LocalCount(Cell::new(0));
}

fn count(n: isize) {
    // A thread in its TLS destructors (collecting garbage as it unregisters) counts directly.
    if LOCAL_COUNT.try_with(|local| local.add(n)).is_err() {
        publish(n);
    }
}

/// Counts one allocation handed to the collector.
#[inline]
pub(crate) fn retired() {
    count(1);
}

/// Counts one retired allocation freed or recycled.
#[inline]
pub(crate) fn reclaimed() {
    count(-1);
}

/// Retired allocations not yet reclaimed, over all inventories of the process (give or take
/// [`COUNT_BATCH`] per thread).
pub(crate) fn pending() -> isize {
    // Relaxed: as in `publish`; the sum is approximate while threads work.
    PENDING.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

/// Handles a thread keeps cached (one per inventory it used recently).
const CACHED_HANDLES: usize = 8;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Cached {
    id: u64,
    alive: Arc<AtomicBool>,
    handle: LocalHandle,
}

#[cfg(not(loom))]
thread_local! {
    static CHECKS: Cell<u32> = const { Cell::new(0) };
}

// loom's `thread_local!` has no const form.
#[cfg(loom)]
thread_local! {
    static CHECKS: Cell<u32> = Cell::new(0);
}

#[cfg(not(loom))]
thread_local! {
    static HANDLES: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

// loom's `thread_local!` has no const form.
#[cfg(loom)]
thread_local! {
    static HANDLES: RefCell<Vec<Cached>> = RefCell::new(Vec::new());
}

/// An inventory's collector.
#[derive(Debug)]
pub(crate) struct Epoch {
    collector: Collector,
    id: u64,
    alive: Arc<AtomicBool>,
}

impl Epoch {
    pub(crate) fn new() -> Self {
        Epoch {
            collector: Collector::new(),
            // Relaxed: a unique number, nothing to order.
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Pins the current thread in this collector.
    #[inline]
    pub(crate) fn pin(&self) -> Guard {
        HANDLES
            .try_with(|handles| {
                let mut handles = handles.borrow_mut();
                if let Some(cached) = handles.iter().find(|c| c.id == self.id) {
                    return cached.handle.pin();
                }
                self.register(&mut handles)
            })
            // During thread teardown the cache is gone: pin through a fresh handle. The guard
            // keeps the participant alive until it is dropped.
            .unwrap_or_else(|_| self.collector.register().pin())
    }

    /// Pushes this thread's deferred garbage to the collector and collects what no pinned
    /// thread can still reach; repeated, it frees everything retired before the call once
    /// every thread has unpinned.
    pub(crate) fn flush(&self) {
        for _ in 0..64 {
            self.pin().flush();
        }
    }

    /// Bounds the memory waiting for reclamation. Called unpinned by operations that allocate
    /// (a new entry or hold): if more than [`MAX_PENDING`] retired allocations wait, pushes
    /// this thread's garbage, collects, and yields the processor, so that threads preempted
    /// while pinned (which hold the epoch back) get to run and unpin; for at most
    /// [`MAX_THROTTLE`]. Checked every [`THROTTLE_CHECK_EVERY`] calls per thread.
    ///
    /// See DESIGN.md, "Bounded memory", for why and for the bound this gives.
    #[inline]
    pub(crate) fn throttle(&self) {
        // Relaxed: a hint; the decision to wait is re-made from the counts below.
        if OVER.load(Ordering::Relaxed) {
            return self.wait_for_reclamation();
        }
        let due = CHECKS
            .try_with(|n| {
                let next = n.get().wrapping_add(1);
                n.set(next);
                next % THROTTLE_CHECK_EVERY == 0
            })
            .unwrap_or(false);
        if due && pending() > MAX_PENDING {
            // Relaxed: as above.
            OVER.store(true, Ordering::Relaxed);
            self.wait_for_reclamation();
        }
    }

    #[cold]
    fn wait_for_reclamation(&self) {
        let start = Instant::now();
        self.pin().flush();
        loop {
            std::thread::yield_now();
            if pending() <= MAX_PENDING {
                // Relaxed: as in `throttle`.
                OVER.store(false, Ordering::Relaxed);
                return;
            }
            if start.elapsed() >= MAX_THROTTLE {
                return;
            }
        }
    }

    #[cold]
    fn register(&self, handles: &mut Vec<Cached>) -> Guard {
        // Relaxed: a hint; a stale `true` only keeps a handle cached a little longer.
        handles.retain(|c| c.alive.load(Ordering::Relaxed));
        if handles.len() >= CACHED_HANDLES {
            handles.remove(0);
        }
        let handle = self.collector.register();
        let guard = handle.pin();
        handles.push(Cached {
            id: self.id,
            alive: self.alive.clone(),
            handle,
        });
        guard
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        // Relaxed: pairs with the load in `register` but orders nothing: the flag only decides
        // when a cached handle is dropped, and dropping a `LocalHandle` is safe at any time.
        self.alive.store(false, Ordering::Relaxed);
        // Let go of this thread's handle now, so the collector (and its garbage) can be freed
        // as soon as the other threads that used it have exited or moved on.
        let _ = HANDLES.try_with(|handles| {
            if let Ok(mut handles) = handles.try_borrow_mut() {
                handles.retain(|c| c.id != self.id);
            }
        });
    }
}
