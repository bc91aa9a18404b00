//! Which shard the current thread uses.
//!
//! Per-thread state that would otherwise be one contended cache line (statistics counters,
//! reservation sequence numbers, expiry inboxes, hot-item stock) is split into shards, and each
//! thread sticks to one shard, chosen round-robin the first time it asks. Two threads on the
//! same shard are still correct (every shard is shared memory with atomic access); they merely
//! share a cache line again.

use crate::sync::thread_local;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicUsize, Ordering};

/// Next thread number. Not a loom atomic: it only spreads threads, it orders nothing.
#[cfg(not(loom))]
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

#[cfg(not(loom))]
thread_local! {
    // Relaxed: pairs with nothing; the read-modify-write alone makes the numbers distinct.
    static THREAD_NUMBER: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

// Under loom every execution of a model must be deterministic, so threads do not draw numbers
// from a process-wide counter: they start at 0 and a model assigns shards explicitly.
#[cfg(loom)]
thread_local! {
    static THREAD_NUMBER: std::cell::Cell<usize> = std::cell::Cell::new(0);
}

/// Makes the current thread use shard `number` (modulo the shard count): for loom models.
#[cfg(loom)]
#[allow(dead_code)] // only the models that pin shards call it
pub(crate) fn set_thread_number(number: usize) {
    THREAD_NUMBER.with(|n| n.set(number));
}

/// A number unique to the current thread (reused only after 2^64 threads).
#[inline]
pub(crate) fn thread_number() -> usize {
    // A thread in its TLS destructors may no longer have the slot; any number is correct there.
    #[cfg(not(loom))]
    return THREAD_NUMBER.try_with(|n| *n).unwrap_or(0);
    #[cfg(loom)]
    return THREAD_NUMBER.with(std::cell::Cell::get);
}

/// Default number of shards: a power of two at least twice the available parallelism, so that
/// threads running at the same time rarely share one.
pub(crate) fn default_shards() -> usize {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cores * 2).next_power_of_two().clamp(2, MAX_SHARDS)
}

/// Upper bound on shards (the shard index takes 8 bits in a reservation's sequence number).
pub(crate) const MAX_SHARDS: usize = 256;
