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

/// A reservation's deadline as the timer knows it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct Token {
    /// Nanoseconds since the inventory's origin.
    pub(crate) deadline: u64,
    pub(crate) cart: u64,
    pub(crate) seq: u64,
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
