//! Waiting for a stock word to change, without spinning unboundedly.
//!
//! A take that finds too little available stock, while other requests hold some of it only
//! tentatively, may not answer "short" yet (that would be a phantom shortfall): it waits until
//! one of those in-flight requests commits or gives back. The wait is short when the in-flight
//! thread is running, and unbounded when it is descheduled, which on an oversubscribed machine
//! (256 threads on 2 cores) is the common case. So the waiter spins briefly, then yields, then
//! parks on the word's address with `parking_lot_core` after setting [`WAITERS`] in the word;
//! every operation that resolves in-flight units sees that bit and wakes the parked threads.
//!
//! Under loom, parking is replaced by `yield_now`, which loom treats as "this thread cannot
//! progress until another one does".

use crate::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Set in a stock word while at least one thread is parked on it, or a waiting reserve armed
/// it (see [`crate::stock::waitlist`]) (bit 63, never used by the counts: the in-flight count
/// tops out at bit 62).
pub(crate) const WAITERS: u64 = 1 << 63;

/// The wait of the current thread's operation ran past its bound (see [`bounded`]).
#[derive(Debug)]
pub(crate) struct Busy;

#[cfg(not(loom))]
std::thread_local! {
    /// The instant past which a take of the current thread's operation stops waiting for
    /// operations in flight (`None`: it waits until they settle).
    static WAIT_UNTIL: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with every wait of [`wait_within_bound`] on this thread ending at `until` at the
/// latest (`None`: no bound), and restores the previous bound afterwards, even on panic.
#[cfg(not(loom))]
pub(crate) fn bounded<R>(until: Option<Instant>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            WAIT_UNTIL.with(|w| w.set(self.0));
        }
    }
    let _restore = Restore(WAIT_UNTIL.with(|w| w.replace(until)));
    f()
}

/// Under loom a wait is a yield and time is not modelled: no bound.
#[cfg(loom)]
pub(crate) fn bounded<R>(_until: Option<Instant>, f: impl FnOnce() -> R) -> R {
    f()
}

/// As [`wait_for_change`], but gives up with [`Busy`] once the current thread's bound (see
/// [`bounded`]) has passed: the spinning and yielding before parking are short, and the park
/// itself ends at the bound. Without a bound it is `wait_for_change`.
pub(crate) fn wait_within_bound(word: &AtomicU64, seen: u64) -> Result<u64, Busy> {
    #[cfg(not(loom))]
    let until = WAIT_UNTIL.with(std::cell::Cell::get);
    #[cfg(loom)]
    let until = None;
    wait(word, seen, until)
}

/// Spins, then yields, then parks until `word` holds something other than `seen` (ignoring the
/// [`WAITERS`] bit), and returns the new value.
pub(crate) fn wait_for_change(word: &AtomicU64, seen: u64) -> u64 {
    match wait(word, seen, None) {
        Ok(current) => current,
        Err(Busy) => unreachable!("a wait without a bound never gives up"),
    }
}

fn wait(word: &AtomicU64, seen: u64, until: Option<Instant>) -> Result<u64, Busy> {
    let seen = seen & !WAITERS;
    #[cfg(not(loom))]
    let backoff = crossbeam_utils::Backoff::new();
    loop {
        // Acquire: pairs with the Release of the read-modify-write that changed the word (a
        // commit or give-back: `end_in_flight`, `give_back_in_flight`), so the caller's next
        // decision sees everything that preceded it.
        let current = word.load(Ordering::Acquire);
        if current & !WAITERS != seen {
            return Ok(current);
        }
        #[cfg(loom)]
        {
            let _ = until;
            loom::thread::yield_now();
        }
        #[cfg(not(loom))]
        {
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            if until.is_some_and(|until| Instant::now() >= until) {
                return Err(Busy);
            }
            // Under Miri, yield instead of parking: parking_lot_core 0.9.12 passes an
            // `&AtomicI32` to the futex syscall, which Miri rejects since rust-lang/rust#161734
            // type-checks c-variadic arguments. The announce/wake protocol is modelled by loom
            // (where parking is a yield too) and runs natively in every other test.
            #[cfg(miri)]
            std::thread::yield_now();
            #[cfg(not(miri))]
            park(word, current, until);
        }
    }
}

/// Announces a waiter in `word` (if not announced yet) and parks until woken, or returns at once
/// if the word moved on meanwhile.
#[cfg(not(loom))]
#[cfg_attr(miri, allow(dead_code))]
fn park(word: &AtomicU64, current: u64, until: Option<Instant>) {
    let announced = current | WAITERS;
    if current & WAITERS == 0 {
        // Relaxed: the bit carries no data and pairs with no load. The parking lot's bucket
        // lock orders this against the waker's `unpark_all`, and the validate callback below
        // re-reads the word under it. Being a read-modify-write, it does not break the release
        // sequence of the Release update it follows: a later Acquire load still pairs with it.
        if word
            .compare_exchange(current, announced, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
    }
    let key = word as *const AtomicU64 as usize;
    // SAFETY: `park` requires that the callbacks neither panic nor call into the parking lot;
    // `validate` is one atomic load and a comparison, the others do nothing. The key is the
    // address of a word that outlives the call (we hold a reference to it).
    unsafe {
        parking_lot_core::park(
            key,
            // Relaxed: runs under the bucket lock that `unpark_all` also takes; if a resolver
            // changed the word before we got here, we see it and do not sleep.
            || word.load(Ordering::Relaxed) == announced,
            || {},
            |_, _| {},
            parking_lot_core::DEFAULT_PARK_TOKEN,
            until,
        );
    }
}

/// Wakes every thread parked on `word`, and the head of the waiting reserves queued on it (see
/// [`crate::stock::waitlist`]). Called by an operation whose read-modify-write returned a
/// previous value with [`WAITERS`] set.
#[cold]
pub(crate) fn wake(word: &AtomicU64) {
    // Acquire: pairs with the Release `fetch_or` of `waitlist::arm` (this read-modify-write
    // reads a value in its release sequence), so the waiter's queue entry, inserted before it
    // armed the word, is visible to `waitlist::wake` below. Parked threads need nothing here:
    // as in `park`, the bucket lock inside `unpark_all` orders their hand-over. A
    // read-modify-write continues the release sequence of the resolver's Release update, so a
    // decider's Acquire load that reads this value still pairs with that update. A thread or
    // waiter that sets the bit again after this clears it is woken by the next resolver.
    word.fetch_and(!WAITERS, Ordering::Acquire);
    let key = word as *const AtomicU64 as usize;
    #[cfg(not(loom))]
    {
        // SAFETY: `unpark_all` has no preconditions beyond a key; parked threads re-validate.
        unsafe {
            parking_lot_core::unpark_all(key, parking_lot_core::DEFAULT_UNPARK_TOKEN);
        }
    }
    crate::stock::waitlist::wake(key);
}
