//! Deadlines: the timer that finds due reservations, and the expiry-lag histogram.
//!
//! Reserving must not take a lock, so a reservation's deadline goes into its shard's lock-free
//! inbox (a `crossbeam_queue::SegQueue`) and nowhere else. Whoever expires — a host calling
//! `expire_due`, the optional reaper thread, or a reserve that found too little stock — takes
//! the timer's mutex, moves every inbox into a hierarchical timing wheel ([`crate::timer::wheel`]),
//! and takes out what is due. So the lock is on the expiry path only, never on the reserve path.
//!
//! Tokens are not removed when a reservation finishes early (confirm, release) or moves its
//! deadline (extend, a cart update): a popped token is checked against the live reservation
//! and dropped if stale. To keep that bounded, the wheel is compacted (stale tokens dropped)
//! whenever it holds more than twice the live reservations plus [`COMPACT_SLACK`], and a
//! reserving thread whose shard's inbox holds [`DRAIN_EVERY`] tokens or more drains up to
//! [`DRAIN_BUDGET`] of them into the wheel once it has unpinned, if the timer is free
//! (`try_lock`: it never waits). If another thread holds the timer (perhaps preempted there),
//! pushers drop stale tokens from their inbox themselves once it holds more than
//! [`INBOX_SLACK`] beyond the live reservations. So inboxes stay bounded even when nothing ever
//! expires and whatever the scheduler does.
//!
//! # Knowing cheaply whether anything is due
//!
//! A reserve that finds too little stock first expires what is due, but must not take the
//! timer's lock on every shortfall (a sold-out item sees nothing but shortfalls). So the timer
//! keeps lower bounds on the earliest deadline: one for the wheel (written under the lock) and
//! one per inbox, lowered by pushers with `fetch_min` after pushing and reset by the drainer
//! with `swap` before draining. Every token not yet drained has a deadline at or above its
//! inbox's bound, so `min(bounds) > now` proves nothing is due.

pub(crate) mod clock;
pub(crate) mod reaper;
pub(crate) mod wheel;

use crate::sync::atomic::{fence, AtomicU64, Ordering};
use crate::sync::{lock, Mutex};
use crossbeam_epoch::Guard;
#[cfg(not(loom))]
use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;
use std::sync::atomic::AtomicU64 as PlainU64;
pub(crate) use wheel::Token;
use wheel::Wheel;

/// Stale tokens tolerated in the wheel beyond twice the live reservations.
pub(crate) const COMPACT_SLACK: usize = crate::limits::TIMER_SLACK;

/// An inbox this long is drained by the next thread that pushes to it and finds the timer free.
pub(crate) const DRAIN_EVERY: u64 = 1024;

/// A pushing thread checks its inbox's length every this many pushes to the shard.
pub(crate) const DRAIN_CHECK_EVERY: u64 = 64;

/// Most tokens one drain on the reserve path moves (bounds that reserve's extra work).
pub(crate) const DRAIN_BUDGET: usize = 4 * DRAIN_EVERY as usize;

/// Tokens an inbox may hold beyond the live reservations before pushers clean it themselves
/// while another thread holds the timer.
pub(crate) const INBOX_SLACK: usize = 4 * DRAIN_EVERY as usize;

/// Tokens one cleaning pass examines: twice the pushes between two length checks, so
/// cleaning outpaces pushing whenever at least half the examined tokens are stale.
pub(crate) const CLEAN_BATCH: usize = 2 * DRAIN_CHECK_EVERY as usize;

/// What the timer asks of the reservations whose deadlines it keeps. The inventory implements
/// it; the timer knows nothing else of reservations.
pub(crate) trait Reservations {
    /// Nanoseconds since the origin deadlines count from.
    fn now(&self) -> u64;
    /// Pins the current thread in the collector that reclaims reservation entries.
    fn pin(&self) -> Guard;
    /// Whether `token`'s reservation is known to have finished (a cheap check: a drained token
    /// that passes it may still be stale, and goes at the next compaction).
    fn is_finished(&self, token: Token) -> bool;
    /// Whether `token` no longer names a held reservation with that deadline.
    fn is_stale(&self, token: Token, guard: &Guard) -> bool;
    /// Expires `token`'s reservation if it is still held and due at `now`; returns its deadline
    /// if this call expired it.
    fn expire(&self, token: Token, now: u64, guard: &Guard) -> Option<u64>;
    /// Live reservations (to bound stale tokens against).
    fn live(&self) -> usize;
}

/// Under loom, a locked deque stands in for the inboxes' `SegQueue`, whose std atomics loom does
/// not see: the models then interleave pushes and pops with the protocol around them, and see
/// the happens-before a pop creates with the push or pop before it (stronger than the queue's:
/// every operation is ordered after the previous one, not only one that it reads).
#[cfg(loom)]
#[derive(Debug)]
struct SegQueue<T>(Mutex<std::collections::VecDeque<T>>);

#[cfg(loom)]
impl<T> SegQueue<T> {
    fn new() -> Self {
        SegQueue(Mutex::new(std::collections::VecDeque::new()))
    }

    fn push(&self, value: T) {
        lock(&self.0).push_back(value);
    }

    fn pop(&self) -> Option<T> {
        lock(&self.0).pop_front()
    }

    fn len(&self) -> usize {
        lock(&self.0).len()
    }
}

/// One shard's inbox: deadlines pushed by the threads of that shard, not yet in the wheel.
#[derive(Debug)]
struct Inbox {
    tokens: SegQueue<Token>,
    /// Pushes to `tokens`, to check its length every [`DRAIN_CHECK_EVERY`].
    pushes: PlainU64,
    /// No token in `tokens` has an earlier deadline than this (see the module docs).
    earliest: AtomicU64,
    /// Threads holding a live reservation whose token no bound of this timer covers: a cleaner
    /// between popping a token and pushing it back (`Timer::clean`), or an operation between
    /// moving a hold's deadline and scheduling its new token ([`Timer::unfile`]). While it is
    /// nonzero, `maybe_due` answers "maybe".
    unfiled: AtomicU64,
}

/// What the timer's mutex guards.
#[derive(Debug, Default)]
struct Wheeled {
    wheel: Wheel,
    lag: LagHistogram,
}

/// The timer: per-shard lock-free inboxes, the wheel behind a mutex, and the seqlock'd lower
/// bounds that tell a reserve cheaply whether anything may be due.
#[derive(Debug)]
pub(crate) struct Timer {
    inboxes: Box<[CachePadded<Inbox>]>,
    wheeled: Mutex<Wheeled>,
    /// No token in the wheel has an earlier deadline than this; written under `wheeled`.
    wheel_earliest: AtomicU64,
    /// Version of the deadline lower bounds (`wheel_earliest`, the inboxes' `earliest`): odd
    /// while a writer holding `wheeled` rewrites them (a seqlock for `maybe_due`); every write
    /// that can raise a bound goes through it, so a changed version tells a reserve that an
    /// expiry may have returned units since it looked (see [`Timer::bounds_version`]).
    bounds_seq: AtomicU64,
}

impl Timer {
    /// A timer with one inbox per shard.
    pub(crate) fn new(shards: usize) -> Self {
        Timer {
            inboxes: (0..shards)
                .map(|_| {
                    CachePadded::new(Inbox {
                        tokens: SegQueue::new(),
                        pushes: PlainU64::new(0),
                        earliest: AtomicU64::new(u64::MAX),
                        unfiled: AtomicU64::new(0),
                    })
                })
                .collect(),
            wheeled: Mutex::new(Wheeled::default()),
            wheel_earliest: AtomicU64::new(u64::MAX),
            bounds_seq: AtomicU64::new(0),
        }
    }

    /// Tells the timer about a (new) deadline, from a thread of `shard`. Called after the hold
    /// is published and before its stock is committed (see the module docs for why this order
    /// matters). Returns whether the inbox has grown past [`DRAIN_EVERY`] tokens: the caller
    /// then owes [`Timer::maintain`] once it has unpinned.
    #[must_use]
    pub(crate) fn schedule(&self, shard: usize, token: Token) -> bool {
        let inbox = &self.inboxes[shard];
        inbox.tokens.push(token);
        // AcqRel: the Release half pairs with the drainer's AcqRel `swap` in `drain_inbox`
        // that reads this value (or a later one of the release sequence): its pops then see
        // the push above. A taker that Acquire-loads the stock word after the caller's commit
        // sees this bound (or a later one): the commit's Release, sequenced after, carries it.
        inbox.earliest.fetch_min(token.deadline, Ordering::AcqRel);
        // Relaxed: a count to pace the checks of the inbox's length.
        inbox.pushes.fetch_add(1, Ordering::Relaxed) % DRAIN_CHECK_EVERY == 0
            && inbox.tokens.len() >= DRAIN_EVERY as usize
    }

    /// Keeps `shard`'s inbox bounded. If the wheel is free (it never waits for it), drains up
    /// to [`DRAIN_BUDGET`] tokens into it and compacts it if stale tokens outnumber live ones.
    /// If another thread holds the wheel (and may be preempted there for as long as the
    /// scheduler likes) while the inbox holds more than [`INBOX_SLACK`] tokens beyond the live
    /// reservations, drops stale tokens without it (`clean`), so pushers, not one lock holder,
    /// pay for what they pushed.
    ///
    /// Called unpinned, so that a long compaction never holds back the reclamation of
    /// retired entries.
    pub(crate) fn maintain(&self, shard: usize, reservations: &impl Reservations) {
        let inbox = &self.inboxes[shard];
        if let Ok(mut wheeled) = self.wheeled.try_lock() {
            self.write_bounds(|| self.drain_inbox(&mut wheeled, inbox, DRAIN_BUDGET, reservations));
            self.compact(&mut wheeled, reservations);
        } else if inbox.tokens.len() > INBOX_SLACK + reservations.live() {
            self.clean(shard, CLEAN_BATCH, reservations);
        }
    }

    /// Pops up to `batch` tokens of `shard`'s inbox, drops the stale ones and pushes the
    /// others back, without the wheel's lock.
    ///
    /// A live token is out of the inbox between its pop and its push back, where a drainer's
    /// reset of the inbox bound (under the lock) may not cover it: the cleaner holds it
    /// [`unfiled`](Timer::unfile).
    pub(crate) fn clean(&self, shard: usize, batch: usize, reservations: &impl Reservations) {
        let inbox = &self.inboxes[shard];
        let unfiled = self.unfile(shard);
        let guard = reservations.pin();
        for _ in 0..batch {
            let Some(token) = inbox.tokens.pop() else {
                break;
            };
            if !reservations.is_stale(token, &guard) {
                inbox.tokens.push(token);
                // AcqRel: as in `schedule`.
                inbox.earliest.fetch_min(token.deadline, Ordering::AcqRel);
            }
        }
        drop(guard);
        drop(unfiled);
    }

    /// Marks a live reservation of a thread of `shard` as covered by no bound of this timer
    /// until the returned guard drops, so that `maybe_due` answers "maybe" meanwhile. Taken
    /// before a step that can make the reservation's filed token stale (popping it, moving
    /// the hold's deadline) and dropped once its current token is filed again (pushed, with
    /// its bound lowered).
    pub(crate) fn unfile(&self, shard: usize) -> Unfiled<'_> {
        let unfiled = &self.inboxes[shard].unfiled;
        // Relaxed: the caller's next step that can lead a drainer to drop the filed token or
        // raise a bound over it is sequenced after this increment and carries it to the
        // drainer: a pop (the queue head's compare-and-swap, SeqCst in crossbeam-queue, which
        // the drainer's pops acquire) or a hold replacement (a Release compare-and-swap whose
        // hold the drainer Acquire-loads before calling the token stale). The drainer's write
        // section ends with a Release that a reader's Acquire version load pairs with, so a
        // reader that sees the bound raised by that drainer sees this increment.
        unfiled.fetch_add(1, Ordering::Relaxed);
        Unfiled(unfiled)
    }

    /// Runs `write` as the writer side of the seqlock over the deadline bounds: readers
    /// (`maybe_due`) never use bounds read across a write, and notice (by a changed version)
    /// that one happened. Caller holds the wheel's lock.
    fn write_bounds<R>(&self, write: impl FnOnce() -> R) -> R {
        // Relaxed + Release fence (the classic seqlock writer): the fence pairs with the
        // Acquire fence in `maybe_due`; a reader that reads any bound written after the fence
        // then re-reads the version as odd or later, and discards what it read. Writers are
        // serialized by the wheel's lock, so the increment itself needs no ordering.
        let previous = self.bounds_seq.fetch_add(1, Ordering::Relaxed);
        debug_assert!(previous & 1 == 0, "a write section began inside another");
        fence(Ordering::Release);
        let result = write();
        // Release: pairs with the Acquire loads of the version in `maybe_due` and
        // `bounds_version`; a reader that reads this even version sees every write of the
        // section (and every give-back of the expiries before it).
        self.bounds_seq.fetch_add(1, Ordering::Release);
        result
    }

    /// Moves every inbox into the wheel, dropping tokens of finished reservations (which
    /// raises the bounds). Caller holds the wheel's lock.
    fn drain(&self, wheeled: &mut Wheeled, reservations: &impl Reservations) {
        self.write_bounds(|| {
            for inbox in self.inboxes.iter() {
                self.drain_inbox(wheeled, inbox, usize::MAX, reservations);
            }
        });
    }

    /// Moves tokens of one inbox into the wheel: those it held when the call began, at most
    /// `budget` of them. Never more: threads keep pushing meanwhile, and with more pushers
    /// than one drainer can keep up with, "until empty" would never end. Caller holds the
    /// wheel's lock, inside `write_bounds`.
    fn drain_inbox(
        &self,
        wheeled: &mut Wheeled,
        inbox: &Inbox,
        budget: usize,
        reservations: &impl Reservations,
    ) {
        // AcqRel: Acquire pairs with the pushers' Release `fetch_min` (see `schedule`): every
        // token whose bound we reset here is visible to the pops below. The Release half
        // publishes nothing the write section's Release fence does not.
        let bound = inbox.earliest.swap(u64::MAX, Ordering::AcqRel);
        // Every token pushed before the swap and still queued is counted here (a token popped
        // meanwhile by a cleaner is the cleaner's to cover, see `unfiled`), and comes out
        // before any pushed after it: popping this many moves them all to the wheel.
        let queued = inbox.tokens.len();
        let mut left = queued.min(budget);
        let mut emptied = false;
        while left > 0 {
            let Some(token) = inbox.tokens.pop() else {
                emptied = true;
                break;
            };
            left -= 1;
            // Most reservations finish long before their deadline (a flash sale confirms within
            // microseconds): a token whose outcome is known is stale, and is dropped here for
            // one load instead of living in the wheel. Others that are stale go at the next
            // compaction.
            if !reservations.is_finished(token) {
                wheeled.wheel.push(token);
            }
        }
        if queued > budget && !emptied {
            // Stopped at the budget: tokens pushed before the swap may still be queued, and the
            // old bound covers them (tokens pushed after it lowered the new value themselves).
            // Lowering a bound is always safe. Relaxed: inside the write section, published
            // like the store below.
            inbox.earliest.fetch_min(bound, Ordering::Relaxed);
        }
        // Relaxed: inside the write section; published by its Release fence (paired with the
        // Acquire fence in `maybe_due`) and its Release end (paired with the version loads).
        self.wheel_earliest
            .store(wheeled.wheel.earliest(), Ordering::Relaxed);
    }

    /// The version of the deadline bounds, for a reserve about to decide a shortfall: if
    /// [`Timer::bounds_unchanged`] later confirms it, no expiry returned units in between.
    pub(crate) fn bounds_version(&self) -> u64 {
        // Acquire: pairs with the Release increment that ends `write_bounds`, so an expiry
        // whose write section ended before this read has its give-backs seen by the caller's
        // stock-word reads that follow (and the Acquire keeps those reads after this one).
        self.bounds_seq.load(Ordering::Acquire)
    }

    /// Whether no write section began or ran since `version` was read (after a `maybe_due`
    /// that answered false).
    pub(crate) fn bounds_unchanged(&self, version: u64) -> bool {
        // Relaxed: nothing is read after this load, and `maybe_due` (which returned false, so
        // it ran its Acquire fence) orders it after the caller's stock and bound reads; by
        // coherence it reads at least the version `maybe_due` validated.
        version & 1 == 0 && self.bounds_seq.load(Ordering::Relaxed) == version
    }

    /// Whether some reservation may be due at `now`. False means none is.
    pub(crate) fn maybe_due(&self, now: u64) -> bool {
        // Reader side of the seqlock written by `write_bounds`.
        // Acquire: pairs with the Release increment that ended the last write section.
        let before = self.bounds_seq.load(Ordering::Acquire);
        if before & 1 == 1 {
            return true;
        }
        // Relaxed (the classic seqlock reader: atomic data loads, then an Acquire fence): the
        // fence below orders these loads before the version is read again, and pairs with the
        // writer's Release fence if one of them read a write of a section. A pusher's bound
        // needs no pairing here: a reserve whose held units the caller's stock read saw as
        // committed pushed its bound before that commit (Release), which the caller's Acquire
        // stock read acquired, so by coherence these loads read that bound or a later value.
        let mut earliest = self.wheel_earliest.load(Ordering::Relaxed);
        for inbox in self.inboxes.iter() {
            // Acquire: pairs with the Release decrement in `Unfiled::drop`; a zero read after a
            // holder finished makes the tokens it filed (and their bound) visible to the bound
            // load below. Loaded first, so that load cannot move before it.
            if inbox.unfiled.load(Ordering::Acquire) != 0 {
                return true;
            }
            // Relaxed: as above.
            earliest = earliest.min(inbox.earliest.load(Ordering::Relaxed));
        }
        // Acquire fence: pairs with the Release fence in `write_bounds`; the loads above
        // complete before the sequence is read again.
        fence(Ordering::Acquire);
        // Relaxed: ordered after the bound loads by the fence above.
        let after = self.bounds_seq.load(Ordering::Relaxed);
        before != after || earliest <= now
    }

    /// Expires reservations whose deadline has passed, at most `limit` of them (those due
    /// earliest first, by wheel slot); returns how many.
    pub(crate) fn expire_due_at_most(
        &self,
        limit: usize,
        reservations: &impl Reservations,
    ) -> usize {
        let mut wheeled = lock(&self.wheeled);
        let now = reservations.now();
        self.drain(&mut wheeled, reservations);
        let mut guard = reservations.pin();
        let mut expired = 0;
        let mut popped = 0u32;
        while expired < limit {
            let Some(token) = wheeled.wheel.pop_due(now) else {
                break;
            };
            if let Some(deadline) = reservations.expire(token, now, &guard) {
                expired += 1;
                wheeled.lag.record(now - deadline);
            }
            popped += 1;
            if popped % 1024 == 0 {
                // Let the epoch advance during long sweeps.
                guard.repin();
            }
        }
        // Only now, after the stock of every popped reservation is back, may a reader conclude
        // from a raised bound that nothing is due. Relaxed: published by the write section's
        // Release end (pairs with the Acquire loads of the version).
        let earliest = wheeled.wheel.earliest();
        self.write_bounds(|| self.wheel_earliest.store(earliest, Ordering::Relaxed));
        drop(guard);
        self.compact(&mut wheeled, reservations);
        wheeled.wheel.shrink_if_sparse();
        expired
    }

    /// Drops stale tokens when they outnumber live reservations (see the module docs): tokens
    /// of finished reservations, tokens whose deadline no longer matches the reservation's, and
    /// duplicates (a cart update that keeps the same deadline pushes the same token again).
    fn compact(&self, wheeled: &mut Wheeled, reservations: &impl Reservations) {
        let live = reservations.live();
        if wheeled.wheel.len() <= 2 * live + COMPACT_SLACK {
            return;
        }
        let mut guard = reservations.pin();
        let mut checked = 0u32;
        let mut kept = std::collections::HashSet::with_capacity(live.min(wheeled.wheel.len()));
        wheeled.wheel.retain(|token| {
            checked += 1;
            if checked % 1024 == 0 {
                guard.repin();
            }
            !reservations.is_stale(*token, &guard) && kept.insert((token.cart, token.seq))
        });
        wheeled.wheel.shrink_if_sparse();
        // As in `expire_due_at_most`: only stale tokens were dropped, so the raised bound is
        // still a bound for every live reservation; the write section tells readers it moved.
        let earliest = wheeled.wheel.earliest();
        self.write_bounds(|| self.wheel_earliest.store(earliest, Ordering::Relaxed));
    }

    /// Time from `now` until the earliest known deadline, if any (a hint for the reaper).
    pub(crate) fn time_to_next_deadline(&self, now: u64) -> Option<std::time::Duration> {
        // Relaxed: a hint that no decision depends on; a stale value only shortens or
        // lengthens one sleep, which the reaper's tick bounds.
        let mut earliest = self.wheel_earliest.load(Ordering::Relaxed);
        for inbox in self.inboxes.iter() {
            // Relaxed: as above.
            earliest = earliest.min(inbox.earliest.load(Ordering::Relaxed));
        }
        (earliest != u64::MAX)
            .then(|| std::time::Duration::from_nanos(earliest.saturating_sub(now)))
    }

    /// Deadline tokens held, in the wheel and in the inboxes not yet drained.
    pub(crate) fn tokens(&self) -> usize {
        let queued: usize = self.inboxes.iter().map(|i| i.tokens.len()).sum();
        lock(&self.wheeled).wheel.len() + queued
    }

    /// Distribution of expiry lag of every expiry so far.
    pub(crate) fn lag(&self) -> LagHistogram {
        lock(&self.wheeled).lag.clone()
    }

    /// The drainer's step of `expire_due_at_most` without the expiries: under the lock, every
    /// inbox into the wheel inside a write section (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn drain_inboxes(&self, reservations: &impl Reservations) {
        let mut wheeled = lock(&self.wheeled);
        self.drain(&mut wheeled, reservations);
    }
}

/// A live reservation held unfiled (see [`Timer::unfile`]); dropping it files it again.
#[derive(Debug)]
pub(crate) struct Unfiled<'a>(&'a AtomicU64);

impl Drop for Unfiled<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire load in `maybe_due`: a reader that sees the count
        // back at zero sees the token filed meanwhile and its bound.
        self.0.fetch_sub(1, Ordering::Release);
    }
}

/// Distribution of expiry lag (deadline to stock available again), in power-of-two buckets of
/// nanoseconds: bucket `i` counts lags in `[2^(i-1), 2^i)` (bucket 0: zero lag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LagHistogram {
    buckets: [u64; 64],
}

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram { buckets: [0; 64] }
    }
}

impl LagHistogram {
    pub(crate) fn record(&mut self, lag_nanos: u64) {
        let bucket = (64 - lag_nanos.leading_zeros()) as usize;
        self.buckets[bucket.min(63)] += 1;
    }

    /// Expiries recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// An upper bound of the `q`-quantile of the lag (`q` in `0.0..=1.0`): the top of the
    /// power-of-two bucket holding it. `None` if nothing was recorded.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<std::time::Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let top = if i == 0 { 0 } else { (1u64 << i.min(63)) - 1 };
                return Some(std::time::Duration::from_nanos(top));
            }
        }
        None
    }

    /// `(upper bound in nanoseconds, count)` for every non-empty bucket.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (if i == 0 { 0 } else { (1u64 << i) - 1 }, n))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_bound_the_recorded_lags() {
        let mut h = LagHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for lag in [0, 1, 1000, 1000, 1_000_000] {
            h.record(lag);
        }
        assert_eq!(h.count(), 5);
        assert_eq!(h.quantile(0.0), Some(std::time::Duration::ZERO));
        let p50 = h.quantile(0.5).unwrap().as_nanos();
        assert!((1000..2048).contains(&p50), "{p50}");
        let max = h.quantile(1.0).unwrap().as_nanos();
        assert!((1_000_000..2_097_152).contains(&max), "{max}");
    }
}
