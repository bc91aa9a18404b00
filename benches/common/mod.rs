//! What both benchmark files share: a tiny random generator and the multi-threaded timing
//! driver. Included with `mod common;`; not a bench target of its own.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// xorshift64: a few cycles per number, no dependency, reproducible from its seed. Its quality
/// does not matter here; it only spreads accesses over items.
pub struct XorShift(u64);

impl XorShift {
    /// A generator for thread number `thread`; distinct threads get unrelated streams.
    pub fn for_thread(thread: usize) -> Self {
        // Zero is xorshift's fixed point; an odd multiple of the golden ratio never is.
        XorShift((thread as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`, by multiply-shift rather than `%`: no division on the hot path, and
    /// the bias is below 2^-40 for the `n` used here.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Runs `total_ops` operations split as evenly as possible over `threads` threads and returns
/// the wall time from the first thread's release to the last thread's finish, with what each
/// thread's `work` returned.
///
/// The threads are spawned first and released together by a barrier, so spawning, joining and
/// any per-thread setup stay outside the figure. The span is measured by the threads
/// themselves (earliest start, latest end) rather than by the spawning thread, which on an
/// oversubscribed machine may be descheduled when the barrier opens.
///
/// `work(thread, ops)` runs `ops` operations as thread number `thread`.
pub fn timed_threads<R: Send>(
    threads: usize,
    total_ops: u64,
    work: impl Fn(usize, u64) -> R + Sync,
) -> (Duration, Vec<R>) {
    let barrier = Barrier::new(threads);
    let per_thread = total_ops / threads as u64;
    let extra = (total_ops % threads as u64) as usize;
    let (barrier, work) = (&barrier, &work);
    let runs: Vec<(Instant, Instant, R)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let ops = per_thread + u64::from(thread < extra);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let result = work(thread, ops);
                    (start, Instant::now(), result)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a benchmark thread panicked"))
            .collect()
    });
    let first_start = runs
        .iter()
        .map(|run| run.0)
        .min()
        .expect("at least one thread");
    let last_end = runs
        .iter()
        .map(|run| run.1)
        .max()
        .expect("at least one thread");
    let results = runs.into_iter().map(|run| run.2).collect();
    (last_end - first_start, results)
}
