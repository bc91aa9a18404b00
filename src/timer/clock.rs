//! Time, injectable: every deadline is computed from a [`Clock`], so tests drive expiry by
//! advancing a [`ManualClock`] instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of monotonic time for an [`Inventory`](crate::Inventory).
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant. Must never go backwards.
    fn now(&self) -> Instant;

    /// The current time in nanoseconds from a fixed origin of the clock's choosing, if the
    /// clock can tell it more cheaply than [`now`](Clock::now) (the engine then skips `Instant`
    /// arithmetic, about 150 instructions per reservation). Must advance exactly as `now()`
    /// does. The default, `None`, means "use `now()`".
    #[inline]
    fn nanos(&self) -> Option<u64> {
        None
    }
}

/// The system's monotonic clock at full precision ([`Instant::now`]).
///
/// About 20-25 ns per read on the x86_64 machine this crate is measured on; a reservation's
/// lifecycle reads the clock twice (reserve, confirm), which for short-lived reservations was
/// a sixth of the whole cost. [`CoarseClock`], the default, is cheaper.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The system's monotonic clock at its coarse resolution: the default clock.
///
/// On Linux it reads `CLOCK_MONOTONIC_COARSE` (no hardware counter read: about 5 ns against
/// [`SystemClock`]'s 20-25 ns here), which advances once per kernel tick, so deadlines are
/// accurate to that tick: 4 ms on the machine this crate is measured on (typically 1 to 4 ms;
/// [`CoarseClock::resolution`] tells). For reservations that live minutes that is immaterial;
/// use [`SystemClock`] for sub-millisecond deadlines. Elsewhere it is [`Instant::now`].
///
/// Its instants are [`Instant`]s consistent with `Instant::now()` to within the resolution.
#[derive(Clone, Copy, Debug)]
pub struct CoarseClock {
    /// An `Instant` and the coarse clock's reading taken together.
    base: Instant,
    base_coarse: Duration,
}

impl Default for CoarseClock {
    fn default() -> Self {
        CoarseClock::new()
    }
}

impl CoarseClock {
    /// A coarse clock.
    #[must_use]
    pub fn new() -> Self {
        CoarseClock {
            base: Instant::now(),
            base_coarse: coarse::now(),
        }
    }

    /// How far apart two distinct readings are at least (the kernel's tick for the coarse
    /// clock); zero where the clock is not coarse.
    #[must_use]
    pub fn resolution() -> Duration {
        coarse::resolution()
    }
}

impl Clock for CoarseClock {
    #[inline]
    fn now(&self) -> Instant {
        self.base + coarse::now().saturating_sub(self.base_coarse)
    }

    #[inline]
    fn nanos(&self) -> Option<u64> {
        Some(coarse::now_nanos())
    }
}

#[cfg(target_os = "linux")]
mod coarse {
    use std::time::Duration;

    fn read(
        clock: libc::clockid_t,
        f: unsafe extern "C" fn(libc::clockid_t, *mut libc::timespec) -> libc::c_int,
    ) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable `timespec` for the duration of the call, and the
        // clock id is a constant the kernel supports since Linux 2.6.32; on failure `ts` stays
        // zero, which only makes the reading coarser.
        unsafe { f(clock, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    #[inline]
    pub(super) fn now() -> Duration {
        read(libc::CLOCK_MONOTONIC_COARSE, libc::clock_gettime)
    }

    #[inline]
    pub(super) fn now_nanos() -> u64 {
        let now = now();
        // Saturating: a reading past `u64::MAX` nanoseconds (584 years of uptime) stands still
        // rather than wrapping back to a small value.
        now.as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(now.subsec_nanos()))
    }

    pub(super) fn resolution() -> Duration {
        read(libc::CLOCK_MONOTONIC_COARSE, libc::clock_getres)
    }
}

#[cfg(not(target_os = "linux"))]
mod coarse {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    static BASE: OnceLock<Instant> = OnceLock::new();

    pub(super) fn now() -> Duration {
        BASE.get_or_init(Instant::now).elapsed()
    }

    pub(super) fn now_nanos() -> u64 {
        u64::try_from(now().as_nanos()).unwrap_or(u64::MAX)
    }

    pub(super) fn resolution() -> Duration {
        Duration::ZERO
    }
}

/// A clock that moves only when told to: for tests and simulations.
///
/// ```
/// use atomic_stock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now() - start, Duration::from_secs(90));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    origin: Instant,
    elapsed_nanos: AtomicU64,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl ManualClock {
    /// A clock standing at an arbitrary origin.
    #[must_use]
    pub fn new() -> Self {
        ManualClock {
            origin: Instant::now(),
            elapsed_nanos: AtomicU64::new(0),
        }
    }

    /// Moves the clock forward by `by`, saturating: the clock counts up to `u64::MAX`
    /// nanoseconds (about 584 years) from its origin and then stands still, so it never goes
    /// backwards. Any `by` is accepted, [`Duration::MAX`] included.
    ///
    /// ```
    /// use atomic_stock::{Clock, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// clock.advance(Duration::MAX);
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(clock.nanos(), Some(u64::MAX));
    /// ```
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed (both): the clock orders nothing; a thread that must see the advance
        // synchronizes with the advancing thread by other means (a join, a channel). The
        // update closure never refuses, so the result is always `Ok`.
        let _ = self
            .elapsed_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |elapsed| {
                Some(elapsed.saturating_add(nanos))
            });
    }
}

impl Clock for ManualClock {
    /// The origin plus the nanoseconds advanced. Where the platform's `Instant` cannot
    /// represent that sum (not on Linux, Windows or macOS, whose `Instant` spans more than
    /// `u64::MAX` nanoseconds), the origin plus `i64::MAX` nanoseconds, or the origin itself.
    fn now(&self) -> Instant {
        // Relaxed: see `advance`.
        let elapsed = Duration::from_nanos(self.elapsed_nanos.load(Ordering::Relaxed));
        self.origin
            .checked_add(elapsed)
            .or_else(|| {
                self.origin
                    .checked_add(elapsed.min(Duration::from_nanos(i64::MAX as u64)))
            })
            .unwrap_or(self.origin)
    }

    fn nanos(&self) -> Option<u64> {
        // Relaxed: see `advance`.
        Some(self.elapsed_nanos.load(Ordering::Relaxed))
    }
}
