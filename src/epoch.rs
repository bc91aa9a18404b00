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
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

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
