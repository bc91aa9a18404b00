//! [`InventoryBuilder`]: every setting of an [`Inventory`], its accepted range, and the
//! assembly of the engine's shared state.

use crate::carts::epoch::Epoch;
use crate::carts::registry::Registry;
use crate::error::BuildError;
use crate::inventory::outcomes::Outcomes;
use crate::limits;
use crate::reservation::instance_tag;
use crate::stock::Stock;
use crate::sync::shard;
use crate::timer::clock::{Clock, CoarseClock};
use crate::timer::reaper::Reaper;
use crate::timer::Timer;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicI64 as PlainI64, AtomicU64 as PlainU64};
use std::sync::Arc;
use std::time::Duration;

use super::durable::{Journal, JournalSettings};
use super::shared::{Inner, Inventory, Shard};

/// Configures an [`Inventory`]. Every setting has a default and an accepted range; see each
/// method. The setters store what they are given: [`try_build`](InventoryBuilder::try_build)
/// refuses an out-of-range setting with a [`BuildError`], [`build`](InventoryBuilder::build)
/// clamps it to the nearest accepted value. Neither panics on any value.
#[derive(Debug, Clone)]
pub struct InventoryBuilder {
    clock: Arc<dyn Clock>,
    shards: usize,
    expected_carts: usize,
    max_reservations: u64,
    finished_memory: usize,
    max_ttl: Duration,
    max_wait: Option<Duration>,
    reaper: Option<Duration>,
    // The journal's directory and settings (see `durable.rs`, where `open` builds with them).
    pub(super) journal_dir: Option<std::path::PathBuf>,
    pub(super) journal: JournalSettings,
}

impl Default for InventoryBuilder {
    fn default() -> Self {
        InventoryBuilder {
            clock: Arc::new(CoarseClock::new()),
            shards: shard::default_shards(),
            expected_carts: limits::DEFAULT_EXPECTED_CARTS,
            max_reservations: limits::DEFAULT_MAX_RESERVATIONS,
            finished_memory: limits::DEFAULT_FINISHED_MEMORY,
            max_ttl: limits::DEFAULT_MAX_TTL,
            max_wait: None,
            reaper: None,
            journal_dir: None,
            journal: JournalSettings::default(),
        }
    }
}

impl InventoryBuilder {
    /// The clock deadlines are read from. Default: [`CoarseClock`] (accurate to the kernel's
    /// tick, a few milliseconds; [`SystemClock`](crate::SystemClock) for full precision).
    /// Tests pass a [`ManualClock`](crate::ManualClock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Number of shards for per-thread state: `1..=`[`MAX_SHARDS`](limits::MAX_SHARDS) (256),
    /// rounded up to a power of two. Default: twice the available parallelism.
    #[must_use]
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// How many carts are expected to be live at once (1 and above); sizes the cart registry's
    /// bucket array to the next power of two, at most
    /// [`MAX_CART_BUCKETS`](limits::MAX_CART_BUCKETS) (2^24): any larger value is accepted and
    /// gets that many. The array is fixed; a registry holding more carts still works, with
    /// longer bucket chains. Default: 65,536.
    #[must_use]
    pub fn expected_carts(mut self, carts: usize) -> Self {
        self.expected_carts = carts;
        self
    }

    /// Largest number of live reservations; beyond it a new cart's reserve is refused with
    /// [`ReserveError::TooManyReservations`](crate::ReserveError::TooManyReservations). Counted per shard without contention; a shard
    /// past its share sums all shards before refusing, so threads racing at the bound can
    /// overshoot it by at most one reservation each. Accepted: 1 and above. Default:
    /// 16,777,216.
    #[must_use]
    pub fn max_reservations(mut self, max: u64) -> Self {
        self.max_reservations = max;
        self
    }

    /// How many finished reservations' outcomes are remembered, so that a repeated confirm is
    /// answered [`Confirmation::AlreadyConfirmed`](crate::Confirmation::AlreadyConfirmed) and a late release is told what happened
    /// rather than "unknown". Memory is 16 bytes per remembered outcome, allocated up front.
    ///
    /// The outcomes are kept per shard, in rings indexed by reservation number (each rounded
    /// up to a power of two): a finished reservation is remembered until a newer reservation
    /// of the same shard that shares its slot finishes, so at least until `finished_memory /
    /// shards` newer reservations have been created by threads of the same shard. A
    /// reservation that finishes late never evicts a newer one's outcome.
    /// Accepted: `1..=`[`MAX_FINISHED_MEMORY`](limits::MAX_FINISHED_MEMORY) (2^24). Default:
    /// 65,536.
    #[must_use]
    pub fn finished_memory(mut self, outcomes: usize) -> Self {
        self.finished_memory = outcomes;
        self
    }

    /// Longest time to live a reservation may ask for. Accepted: above zero, up to
    /// [`MAX_TTL`](limits::MAX_TTL) (2^62 ns, about 146 years). Default: 30 days.
    #[must_use]
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Bounds how long a reserve or cart update waits, on a stock it finds short, for other
    /// requests whose units of it are in flight (they commit or give back within
    /// microseconds when they run; a descheduled one can take a scheduler's time slice or
    /// more). Past the bound the call gives up with
    /// [`TakeError::Busy`](crate::TakeError::Busy), having taken nothing, instead of deciding;
    /// it never answers a shortfall it could not decide. Any duration is accepted (zero: never
    /// park; a bound beyond the clock's range: none). Default: no bound, the call waits until
    /// the answer is exact. [`Inventory::reserve_async`] never parks, whatever this is.
    ///
    /// ```
    /// use atomic_stock::Inventory;
    /// use std::time::Duration;
    ///
    /// let inventory = Inventory::builder().max_wait(Duration::from_millis(5)).build();
    /// # let _ = inventory;
    /// ```
    #[must_use]
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// Runs a background reaper thread that expires due reservations, waking at least every
    /// `tick` (and at the earliest deadline when it is sooner). The thread stops when the
    /// inventory is dropped. Default: no reaper; expiry then happens when the host calls
    /// [`Inventory::expire_due`], or when a reserve finds too little stock. Accepted: at least
    /// [`MIN_REAPER_TICK`](limits::MIN_REAPER_TICK) (50 µs), up to [`Duration::MAX`].
    #[must_use]
    pub fn reaper(mut self, tick: Duration) -> Self {
        self.reaper = Some(tick);
        self
    }

    /// Builds the inventory, or says which setting is out of its accepted range (the first
    /// found, in the order shards, expected carts, max reservations, finished memory, max
    /// time to live, reaper tick).
    ///
    /// ```
    /// use atomic_stock::{BuildError, Inventory};
    ///
    /// let error = Inventory::builder().shards(0).try_build().unwrap_err();
    /// assert_eq!(error, BuildError::Shards { shards: 0, max: 256 });
    /// assert!(Inventory::builder().shards(3).try_build().is_ok()); // rounded up to 4
    /// ```
    pub fn try_build(self) -> Result<Inventory, BuildError> {
        if !(1..=limits::MAX_SHARDS).contains(&self.shards) {
            return Err(BuildError::Shards {
                shards: self.shards,
                max: limits::MAX_SHARDS,
            });
        }
        if self.expected_carts == 0 {
            return Err(BuildError::ExpectedCarts {
                carts: self.expected_carts,
            });
        }
        if self.max_reservations == 0 {
            return Err(BuildError::MaxReservations {
                max: self.max_reservations,
            });
        }
        if !(1..=limits::MAX_FINISHED_MEMORY).contains(&self.finished_memory) {
            return Err(BuildError::FinishedMemory {
                outcomes: self.finished_memory,
                max: limits::MAX_FINISHED_MEMORY,
            });
        }
        if self.max_ttl.is_zero() || self.max_ttl > limits::MAX_TTL {
            return Err(BuildError::MaxTtl {
                ttl: self.max_ttl,
                max: limits::MAX_TTL,
            });
        }
        if let Some(tick) = self.reaper.filter(|&tick| tick < limits::MIN_REAPER_TICK) {
            return Err(BuildError::ReaperTick {
                tick,
                min: limits::MIN_REAPER_TICK,
            });
        }
        Ok(self.assemble())
    }

    /// Builds the inventory: [`try_build`](InventoryBuilder::try_build) with every
    /// out-of-range setting clamped to the nearest accepted value (shards to `1..=256`,
    /// expected carts and max reservations to at least 1, finished memory to
    /// `1..=`[`MAX_FINISHED_MEMORY`](limits::MAX_FINISHED_MEMORY), max time to live to
    /// 1 ns..=[`MAX_TTL`](limits::MAX_TTL), the reaper tick to at least
    /// [`MIN_REAPER_TICK`](limits::MIN_REAPER_TICK)). Never panics.
    #[must_use]
    pub fn build(self) -> Inventory {
        self.clamped().assemble()
    }

    /// The settings clamped to their accepted ranges (see [`build`](InventoryBuilder::build)).
    pub(super) fn clamped(mut self) -> Self {
        self.shards = self.shards.clamp(1, limits::MAX_SHARDS);
        self.expected_carts = self.expected_carts.max(1);
        self.max_reservations = self.max_reservations.max(1);
        self.finished_memory = self.finished_memory.clamp(1, limits::MAX_FINISHED_MEMORY);
        self.max_ttl = self.max_ttl.clamp(Duration::from_nanos(1), limits::MAX_TTL);
        self.reaper = self.reaper.map(|tick| tick.max(limits::MIN_REAPER_TICK));
        self
    }

    /// The number of shards the inventory will have (settings within range).
    pub(super) fn shard_count(&self) -> usize {
        self.shards.next_power_of_two()
    }

    /// Remembered outcomes of finished reservations (settings within range).
    pub(super) fn finished_setting(&self) -> usize {
        self.finished_memory
    }

    fn assemble(self) -> Inventory {
        self.assemble_with(instance_tag(), None)
    }

    /// Builds the inventory from settings within their ranges (checked or clamped by the
    /// callers), so none of the arithmetic below can overflow, with its tag and journal.
    pub(super) fn assemble_with(self, instance: u32, journal: Option<Box<Journal>>) -> Inventory {
        debug_assert!((1..=limits::MAX_SHARDS).contains(&self.shards));
        debug_assert!((1..=limits::MAX_FINISHED_MEMORY).contains(&self.finished_memory));
        let shards = self.shards.next_power_of_two();
        let finished_per_shard = self.finished_memory.div_ceil(shards).next_power_of_two();
        let bucket_bits = self
            .expected_carts
            .clamp(1, limits::MAX_CART_BUCKETS)
            .next_power_of_two()
            .trailing_zeros();
        let anchor_unix_ns = crate::journal::unix_now_ns();
        let origin = self.clock.now();
        let origin_nanos = self.clock.nanos();
        let inner = Arc::new(Inner {
            stock: Stock::with_shards(shards),
            registry: Registry::new(bucket_bits),
            epoch: Epoch::new(),
            shards: (0..shards)
                .map(|_| {
                    CachePadded::new(Shard {
                        counter: PlainU64::new(1),
                        live: PlainI64::new(0),
                        finished: Outcomes::new(finished_per_shard),
                    })
                })
                .collect(),
            timer: Timer::new(shards),
            clock: self.clock,
            origin,
            origin_nanos,
            instance,
            anchor_unix_ns,
            journal,
            keys: self.journal.keys(),
            max_live: self.max_reservations,
            max_live_per_shard: i64::try_from(self.max_reservations.div_ceil(shards as u64))
                .unwrap_or(i64::MAX),
            max_ttl: self.max_ttl,
            max_wait: self.max_wait,
        });
        let reaper = self.reaper.map(|tick| start_reaper(&inner, tick));
        Inventory {
            inner,
            reaper,
            snapshotter: None,
        }
    }

    /// The builder without its reaper setting, and that setting (recovery starts the reaper
    /// only once the inventory is rebuilt).
    pub(super) fn without_reaper(mut self) -> (Self, Option<Duration>) {
        let tick = self.reaper.take();
        (self, tick)
    }
}

/// Starts a reaper thread for `inner`.
pub(super) fn start_reaper(inner: &Arc<Inner>, tick: Duration) -> Reaper {
    let inner = inner.clone();
    Reaper::start(tick, move || {
        inner.expire_due();
        inner.time_to_next_deadline()
    })
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::new()
    }
}

impl Inventory {
    /// An empty inventory with default settings ([`CoarseClock`](crate::CoarseClock), no reaper thread).
    #[must_use]
    pub fn new() -> Self {
        InventoryBuilder::default().build()
    }

    /// Configures an inventory.
    #[must_use]
    pub fn builder() -> InventoryBuilder {
        InventoryBuilder::default()
    }
}
