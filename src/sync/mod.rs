//! Every synchronization primitive the crate touches, from `std` normally and from `loom` under
//! `--cfg loom`, so that the loom models in `tests/loom_*.rs` explore the real protocols.
//!
//! The rest of the crate imports atomics, `Mutex` and `thread_local!` from here and never from
//! `std` directly (the tokio and crossbeam convention).

pub(crate) mod segmented;
pub(crate) mod shard;
pub(crate) mod yield_now;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic;
#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(loom))]
pub(crate) use std::thread_local;

#[cfg(loom)]
pub(crate) use loom::sync::atomic;
#[cfg(loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(loom)]
pub(crate) use loom::thread_local;

/// Locks a mutex, shrugging off poisoning: every structure the crate guards with a mutex is
/// left consistent before any code that could panic runs, so a poisoned lock holds valid data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    #[cfg(not(loom))]
    {
        mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    #[cfg(loom)]
    {
        mutex.lock().unwrap()
    }
}
