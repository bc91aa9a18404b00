//! [`Inventory`]: the reservation engine an order service holds. It ties the stock core, the
//! cart registry and the timer together; every atomic and every lock stays inside.

pub(crate) mod audit;
pub(crate) mod engine;
pub(crate) mod outcomes;
pub(crate) mod trace;

use crate::carts::epoch::Epoch;
use crate::carts::registry::{Entry, Hold, Registry, Snapshot, State};
use crate::error::{AdjustError, BuildError, CatalogError, TakeError};
use crate::ids::{ItemId, Line};
use crate::inventory::outcomes::Outcomes;
use crate::limits::{self, MAX_STOCK};
use crate::reservation::instance_tag;
use crate::reservation::{
    CartId, Confirmation, Receipt, ReservationError, ReservationId, ReservationInfo,
    ReservationState, ReserveError,
};
use crate::stock::lines::{diff, merge, subtract};
use crate::stock::slot;
use crate::stock::stats::{bump, Stats};
use crate::stock::word::TakeMode;
use crate::stock::Stock;
use crate::sync::atomic::{fence, AtomicU64, Ordering};
use crate::sync::stripe;
use crate::timer::clock::{Clock, CoarseClock};
use crate::timer::reaper::Reaper;
use crate::timer::wheel::Wheel;
use crate::timer::{
    LagHistogram, Token, CLEAN_BATCH, COMPACT_SLACK, DRAIN_BUDGET, DRAIN_CHECK_EVERY, DRAIN_EVERY,
    INBOX_SLACK,
};
// Counters that order nothing (reservation numbers, live counts for the admission bound, push
// counts) are plain std atomics even under loom, so the models explore only the protocols.
use crate::stock::take::{self, Pending, Resolved, Sources};
use crate::sync::{lock, Mutex};
use crossbeam_epoch::{Guard, Owned};
#[cfg(not(loom))]
use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicI64 as PlainI64, AtomicU64 as PlainU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Bits of a reservation's sequence number that name the shard that created it.
const SHARD_BITS: u32 = 8;

/// Per-shard state of the lifecycle (see [`crate::sync::stripe`]).
#[derive(Debug)]
struct Shard {
    /// Next reservation number of this shard.
    counter: PlainU64,
    /// Reservations created by this shard and not yet finished.
    live: PlainI64,
    /// Deadlines of reservations created or changed by threads of this shard, not yet moved to
    /// the timer's wheel.
    inbox: SegQueue<Token>,
    /// Pushes to `inbox`, to drain it every `DRAIN_EVERY`.
    pushes: PlainU64,
    /// No token in `inbox` has an earlier deadline than this (see [`crate::timer`]).
    inbox_earliest: AtomicU64,
    /// Threads cleaning `inbox` without the timer (see `Inner::clean`): while one is, it may
    /// hold a live token that no bound covers, so `maybe_due` answers "maybe".
    cleaning: AtomicU64,
    /// Outcomes of the shard's finished reservations (see [`crate::inventory::outcomes`]).
    finished: Outcomes,
}

/// What the timer's mutex guards.
#[derive(Debug, Default)]
struct Timer {
    wheel: Wheel,
    lag: LagHistogram,
}

/// Where an operation on an existing reservation found it.
enum Found<'g> {
    /// Live, with stock held and its deadline not passed.
    Held(&'g Entry, Snapshot<'g>),
    /// Finished that way (still in the registry, or remembered).
    Finished(State),
}

/// A new entry not linked yet, with its admission (see `Inner::admit`); dropping it unlinked
/// gives the admission back.
struct Fresh<'a> {
    inner: &'a Inner,
    entry: Option<Owned<Entry>>,
}

impl Drop for Fresh<'_> {
    fn drop(&mut self) {
        if let Some(entry) = &self.entry {
            self.inner.unadmit(entry);
        }
    }
}

/// Timer upkeep owed by an operation, run when it is dropped.
///
/// Declared before the operation's epoch guard, it is dropped after it: the drain and
/// compaction it may run then happen unpinned, so they never hold back the reclamation of
/// other threads' retired entries (see DESIGN.md, "Bounded memory").
struct Upkeep<'a> {
    inner: &'a Inner,
    /// The shard whose inbox asked to be drained.
    shard: std::cell::Cell<Option<usize>>,
}

impl<'a> Upkeep<'a> {
    fn new(inner: &'a Inner) -> Self {
        Upkeep {
            inner,
            shard: std::cell::Cell::new(None),
        }
    }
}

impl Drop for Upkeep<'_> {
    fn drop(&mut self) {
        if let Some(index) = self.shard.get() {
            self.inner.maintain(index);
        }
    }
}

/// Which reservation an operation acts on.
#[derive(Clone, Copy)]
enum Target {
    Id(ReservationId),
    Cart(CartId),
}

/// Per-item counts, as [`Inventory::item`] shows them.
///
/// Read from several atomics one after the other: exact at quiescence, and while operations
/// run each field is a value it had during the call. `received = available + held + sold`
/// holds exactly at quiescence.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ItemLevels {
    /// Units anyone may reserve now.
    pub available: i64,
    /// Operations in flight on the item (reservations being made, releases returning stock);
    /// zero at quiescence.
    pub in_flight: i64,
    /// Units held by live reservations (including units a reservation still being made has
    /// taken tentatively).
    pub held: i64,
    /// Units sold (confirmed reservations).
    pub sold: i64,
    /// Initial + restocked − shrunk.
    pub received: i64,
}

/// Totals an [`Inventory::audit`] checked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AuditReport {
    /// Items checked.
    pub items: usize,
    /// Live reservations found in the cart registry.
    pub live_reservations: usize,
    /// Units available, over all items.
    pub available: i64,
    /// Units held by the live reservations, over all items.
    pub held: i64,
    /// Units sold, over all items.
    pub sold: i64,
}

/// An item whose ledger does not add up: `received != available + held + sold`, with `held`
/// counted from the live reservations themselves, or with operations still in flight. Never
/// expected at quiescence; reported by [`Inventory::audit`] so that tests can fail.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AuditError {
    /// The item.
    pub item: ItemId,
    /// Initial + restocked − shrunk.
    pub received: i64,
    /// Available units.
    pub available: i64,
    /// Operations in flight (must be 0 at quiescence).
    pub in_flight: i64,
    /// Units held, summed over live reservations.
    pub held: i64,
    /// Units sold.
    pub sold: i64,
}

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: received {} != available {} + held {} + sold {}, or in flight {} != 0",
            self.item, self.received, self.available, self.held, self.sold, self.in_flight
        )
    }
}

impl std::error::Error for AuditError {}

/// The engine's shared state (the reaper thread holds a reference too).
#[derive(Debug)]
pub(crate) struct Inner {
    stock: Stock,
    registry: Registry,
    epoch: Epoch,
    shards: Box<[CachePadded<Shard>]>,
    timer: Mutex<Timer>,
    /// No token in the wheel has an earlier deadline than this; written under `timer`.
    wheel_earliest: AtomicU64,
    /// Version of the deadline lower bounds (`wheel_earliest`, the inboxes' `inbox_earliest`):
    /// odd while a writer holding the timer rewrites them (a seqlock for `maybe_due`); every
    /// write that can raise a bound goes through it, so a changed version tells a reserve that
    /// an expiry may have returned units since it looked (see `Inner::take`).
    bounds_seq: AtomicU64,
    clock: Arc<dyn Clock>,
    /// The instant all deadlines count from, and the clock's `nanos()` reading at that
    /// instant (if it gives one).
    origin: Instant,
    origin_nanos: Option<u64>,
    instance: u32,
    /// The bound on live reservations, and each shard's share of it.
    max_live: u64,
    max_live_per_shard: i64,
    max_ttl: Duration,
}

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
    reaper: Option<Duration>,
}

impl Default for InventoryBuilder {
    fn default() -> Self {
        InventoryBuilder {
            clock: Arc::new(CoarseClock::new()),
            shards: stripe::default_shards(),
            expected_carts: limits::DEFAULT_EXPECTED_CARTS,
            max_reservations: limits::DEFAULT_MAX_RESERVATIONS,
            finished_memory: limits::DEFAULT_FINISHED_MEMORY,
            max_ttl: limits::DEFAULT_MAX_TTL,
            reaper: None,
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
    /// [`ReserveError::TooManyReservations`]. Counted per shard without contention; a shard
    /// past its share sums all shards before refusing, so threads racing at the bound can
    /// overshoot it by at most one reservation each. Accepted: 1 and above. Default:
    /// 16,777,216.
    #[must_use]
    pub fn max_reservations(mut self, max: u64) -> Self {
        self.max_reservations = max;
        self
    }

    /// How many finished reservations' outcomes are remembered, so that a repeated confirm is
    /// answered [`Confirmation::AlreadyConfirmed`] and a late release is told what happened
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
    pub fn build(mut self) -> Inventory {
        self.shards = self.shards.clamp(1, limits::MAX_SHARDS);
        self.expected_carts = self.expected_carts.max(1);
        self.max_reservations = self.max_reservations.max(1);
        self.finished_memory = self.finished_memory.clamp(1, limits::MAX_FINISHED_MEMORY);
        self.max_ttl = self.max_ttl.clamp(Duration::from_nanos(1), limits::MAX_TTL);
        self.reaper = self.reaper.map(|tick| tick.max(limits::MIN_REAPER_TICK));
        self.assemble()
    }

    /// Builds the inventory from settings within their ranges (checked or clamped by the
    /// callers), so none of the arithmetic below can overflow.
    fn assemble(self) -> Inventory {
        debug_assert!((1..=limits::MAX_SHARDS).contains(&self.shards));
        debug_assert!((1..=limits::MAX_FINISHED_MEMORY).contains(&self.finished_memory));
        let shards = self.shards.next_power_of_two();
        let finished_per_shard = self.finished_memory.div_ceil(shards).next_power_of_two();
        let bucket_bits = self
            .expected_carts
            .clamp(1, limits::MAX_CART_BUCKETS)
            .next_power_of_two()
            .trailing_zeros();
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
                        inbox: SegQueue::new(),
                        pushes: PlainU64::new(0),
                        inbox_earliest: AtomicU64::new(u64::MAX),
                        cleaning: AtomicU64::new(0),
                        finished: Outcomes::new(finished_per_shard),
                    })
                })
                .collect(),
            timer: Mutex::new(Timer::default()),
            wheel_earliest: AtomicU64::new(u64::MAX),
            bounds_seq: AtomicU64::new(0),
            clock: self.clock,
            origin,
            origin_nanos,
            instance: instance_tag(),
            max_live: self.max_reservations,
            max_live_per_shard: i64::try_from(self.max_reservations.div_ceil(shards as u64))
                .unwrap_or(i64::MAX),
            max_ttl: self.max_ttl,
        });
        let reaper = self.reaper.map(|tick| {
            let inner = inner.clone();
            Reaper::start(tick, move || {
                inner.expire_due();
                inner.time_to_next_deadline()
            })
        });
        Inventory { inner, reaper }
    }
}

impl Inner {
    /// Nanoseconds since the origin.
    #[inline]
    fn now(&self) -> u64 {
        if let (Some(origin), Some(now)) = (self.origin_nanos, self.clock.nanos()) {
            return now.saturating_sub(origin);
        }
        let elapsed = self.clock.now().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.origin + Duration::from_nanos(nanos)
    }

    fn ttl(&self, ttl: Duration) -> Option<u64> {
        if ttl.is_zero() || ttl > self.max_ttl {
            return None;
        }
        u64::try_from(ttl.as_nanos()).ok()
    }

    #[inline]
    fn shard_index(&self) -> usize {
        stripe::thread_number() & (self.shards.len() - 1)
    }

    fn shard_of(&self, seq: u64) -> Option<&Shard> {
        self.shards
            .get((seq & ((1 << SHARD_BITS) - 1)) as usize)
            .map(|s| &**s)
    }

    fn id(&self, entry: &Entry) -> ReservationId {
        ReservationId {
            cart: CartId::new(entry.cart),
            seq: entry.seq,
            instance: self.instance,
        }
    }

    fn receipt(&self, entry: &Entry, deadline: u64) -> Receipt {
        Receipt {
            id: self.id(entry),
            deadline: self.instant(deadline),
        }
    }

    /// Takes `entries` (canonical) tentatively. On a shortfall, first expires whatever is due
    /// (an expired hold must never turn a buyer away), then tries once more.
    ///
    /// If nothing is due when checked, the shortfall stands unless the deadline bounds moved
    /// since the take began: an expiry may have returned the units between the take's read
    /// and the check (and then, rightly, left nothing due), and every such expiry raises a
    /// bound inside the seqlock's write section. Reservations created meanwhile are not due at
    /// `now`, so with the version unchanged no due hold was hiding units at the take's read.
    fn take<'a>(&self, entries: &'a [Resolved<&'a slot::Slot>]) -> Result<Pending<'a>, TakeError> {
        let counters = self.stock.counters();
        // Acquire, needed: pairs with the Release increment that ends `write_bounds`, so an
        // expiry whose write section ended before this read has its give-backs seen by the
        // stock-word reads below (and the Acquire keeps those reads after this one).
        let version = self.bounds_seq.load(Ordering::Acquire);
        match take::take(counters, entries, TakeMode::Tentative) {
            Err(short @ TakeError::Shortfall { .. }) => {
                if self.maybe_due(self.now()) {
                    self.expire_due();
                // Relaxed: nothing is read after this load, and `maybe_due` (which returned
                // false, so it ran its Acquire fence) orders it after the stock and bound
                // reads; by coherence it reads at least the version `maybe_due` validated.
                } else if version & 1 == 0 && self.bounds_seq.load(Ordering::Relaxed) == version {
                    return Err(short);
                }
                take::take(counters, entries, TakeMode::Tentative)
            }
            result => result,
        }
    }

    /// Admits one more live reservation on the current shard, or refuses at the bound.
    ///
    /// Counting is per shard so that it never contends; a shard past its share of the bound
    /// sums every shard before refusing, so one busy thread can use the whole bound.
    fn admit(&self, shard: &Shard) -> Result<(), ReserveError> {
        // Relaxed: a counter compared with a bound; it orders nothing.
        if shard.live.fetch_add(1, Ordering::Relaxed) >= self.max_live_per_shard
            && self.live_reservations() > self.max_live as usize
        {
            shard.live.fetch_sub(1, Ordering::Relaxed);
            return Err(ReserveError::TooManyReservations { max: self.max_live });
        }
        Ok(())
    }

    /// Tells the timer about a (new) deadline. Called after the hold is published and before
    /// its stock is committed: see [`crate::timer`] for why this order matters.
    ///
    /// When the shard's inbox has grown past [`DRAIN_EVERY`] tokens, asks `upkeep` to drain it
    /// once the caller has unpinned (see [`Upkeep`]).
    fn schedule(&self, entry: &Entry, deadline: u64, upkeep: &Upkeep<'_>) {
        let index = self.shard_index();
        let shard = &self.shards[index];
        shard.inbox.push(Token {
            deadline,
            cart: entry.cart,
            seq: entry.seq,
        });
        // AcqRel: the Release half pairs with the drainer's AcqRel `swap` in `drain_shard`
        // that reads this value (or a later one of the release sequence): its pops then see
        // the push above. The Acquire half is not needed by any argument; kept (an unmeasured
        // saving, and the reserve path's orderings are not worth a guess). A taker that
        // Acquire-loads the stock word after our commit sees this bound (or a later one): the
        // commit's Release, sequenced after, carries it.
        shard.inbox_earliest.fetch_min(deadline, Ordering::AcqRel);
        // Relaxed: a count to pace the checks of the inbox's length.
        if shard.pushes.fetch_add(1, Ordering::Relaxed) % DRAIN_CHECK_EVERY == 0
            && shard.inbox.len() >= DRAIN_EVERY as usize
        {
            upkeep.shard.set(Some(index));
        }
    }

    /// Keeps shard `index`'s inbox bounded. If the timer is free (it never waits for it),
    /// drains up to [`DRAIN_BUDGET`] tokens into the wheel and compacts the wheel if stale
    /// tokens outnumber live ones. If another thread holds the timer (and may be preempted
    /// there for as long as the scheduler likes) while the inbox holds more than
    /// [`INBOX_SLACK`] tokens beyond the live reservations, drops stale tokens without it
    /// (`clean`), so pushers, not one lock holder, pay for what they pushed.
    ///
    /// Called unpinned, so that a long compaction never holds back the reclamation of
    /// retired entries.
    fn maintain(&self, index: usize) {
        let shard = &self.shards[index];
        if let Ok(mut timer) = self.timer.try_lock() {
            self.write_bounds(|| self.drain_shard(&mut timer, shard, DRAIN_BUDGET));
            self.compact(&mut timer);
        } else if shard.inbox.len() > INBOX_SLACK + self.live_reservations() {
            self.clean(shard, CLEAN_BATCH);
        }
    }

    /// Pops up to `batch` tokens of `shard`'s inbox, drops the stale ones and pushes the
    /// others back, without the timer.
    ///
    /// A live token is out of the inbox between its pop and its push back, where a drainer's
    /// reset of the inbox bound (under the timer) may not cover it. `cleaning` tells readers:
    /// `maybe_due` answers "maybe" while it is nonzero.
    fn clean(&self, shard: &Shard, batch: usize) {
        // Relaxed: sequenced before the pops below, whose compare-and-swap on the queue's head
        // (SeqCst in crossbeam-queue) a drainer's pops acquire; the drainer's write section
        // then ends with a Release that a reader's Acquire version load pairs with, so a reader
        // that finds the inbox bound reset by that drainer sees this increment.
        shard.cleaning.fetch_add(1, Ordering::Relaxed);
        let guard = self.epoch.pin();
        for _ in 0..batch {
            let Some(token) = shard.inbox.pop() else {
                break;
            };
            if !self.is_stale(token, &guard) {
                shard.inbox.push(token);
                // AcqRel: as in `schedule`.
                shard
                    .inbox_earliest
                    .fetch_min(token.deadline, Ordering::AcqRel);
            }
        }
        drop(guard);
        // Release: pairs with the Acquire load in `maybe_due`: a reader that sees the count
        // back at zero sees every token pushed back and its bound.
        shard.cleaning.fetch_sub(1, Ordering::Release);
    }

    /// Whether `token` no longer names a held reservation with that deadline: its outcome is
    /// remembered, its cart holds another reservation (or none), or its deadline moved (the
    /// move pushed a token of its own).
    fn is_stale(&self, token: Token, guard: &Guard) -> bool {
        if self.recall(token.cart, token.seq).is_some() {
            return true;
        }
        !self
            .registry
            .get(token.cart, guard)
            .filter(|e| e.seq == token.seq)
            .map(|e| e.snapshot(guard))
            .is_some_and(|s| s.state == State::Held && s.hold().deadline == token.deadline)
    }

    /// Runs `write` as the writer side of the seqlock over the deadline bounds: readers
    /// (`maybe_due`) never use bounds read across a write, and notice (by a changed version)
    /// that one happened. Caller holds the timer.
    fn write_bounds<R>(&self, write: impl FnOnce() -> R) -> R {
        // Relaxed + Release fence (the classic seqlock writer): the fence pairs with the
        // Acquire fence in `maybe_due`; a reader that reads any bound written after the fence
        // then re-reads the version as odd or later, and discards what it read. Writers are
        // serialized by the timer mutex, so the increment itself needs no ordering.
        self.bounds_seq.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        let result = write();
        // Release: pairs with the Acquire loads of the version in `maybe_due` and `take`; a
        // reader that reads this even version sees every write of the section (and every
        // give-back of the expiries before it).
        self.bounds_seq.fetch_add(1, Ordering::Release);
        result
    }

    /// Moves every inbox into the wheel, dropping tokens of finished reservations (which
    /// raises the bounds). Caller holds the timer.
    fn drain(&self, timer: &mut Timer) {
        self.write_bounds(|| self.drain_bounds(timer));
    }

    fn drain_bounds(&self, timer: &mut Timer) {
        for shard in self.shards.iter() {
            self.drain_shard(timer, shard, usize::MAX);
        }
    }

    /// Moves tokens of one shard's inbox into the wheel: those it held when the call began,
    /// at most `budget` of them. Never more: threads keep pushing meanwhile, and with more
    /// pushers than one drainer can keep up with, "until empty" would never end. Caller holds
    /// the timer, inside `write_bounds`.
    fn drain_shard(&self, timer: &mut Timer, shard: &Shard, budget: usize) {
        // AcqRel: Acquire pairs with the pushers' Release `fetch_min` (see `schedule`): every
        // token whose bound we reset here is visible to the pops below. Release: not needed
        // (the write section's Release fence publishes this write to `maybe_due`); kept.
        let bound = shard.inbox_earliest.swap(u64::MAX, Ordering::AcqRel);
        let mut left = shard.inbox.len().min(budget);
        let mut emptied = false;
        while left > 0 {
            let Some(token) = shard.inbox.pop() else {
                emptied = true;
                break;
            };
            left -= 1;
            // Most reservations finish long before their deadline (a flash sale confirms within
            // microseconds): a token whose outcome is remembered is stale, and is dropped here
            // for one load instead of living in the wheel. Others that are stale go at the next
            // compaction.
            if self.recall(token.cart, token.seq).is_none() {
                timer.wheel.push(token);
            }
        }
        if !emptied {
            // Tokens pushed before the swap may still be queued: the old bound covers them
            // (tokens pushed after it lowered the new value themselves). Lowering a bound is
            // always safe. Relaxed: inside the write section, published like the store below.
            shard.inbox_earliest.fetch_min(bound, Ordering::Relaxed);
        }
        // Relaxed: inside the write section; published by its Release fence (paired with the
        // Acquire fence in `maybe_due`) and its Release end (paired with the version loads).
        self.wheel_earliest
            .store(timer.wheel.earliest(), Ordering::Relaxed);
    }

    /// Whether some reservation may be due at `now`. False means none is.
    fn maybe_due(&self, now: u64) -> bool {
        // Reader side of the seqlock written by `drain`.
        // Acquire: pairs with the Release increment that ended the last drain.
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
        for shard in self.shards.iter() {
            // Acquire: pairs with the Release decrement in `clean`; a zero read after a
            // cleaner finished makes the tokens it pushed back (and their bound) visible to the
            // bound load below. Loaded first, so that load cannot move before it.
            if shard.cleaning.load(Ordering::Acquire) != 0 {
                return true;
            }
            // Relaxed: as above.
            earliest = earliest.min(shard.inbox_earliest.load(Ordering::Relaxed));
        }
        // Acquire fence: pairs with the Release fence in `write_bounds`; the loads above
        // complete before the sequence is read again.
        fence(Ordering::Acquire);
        // Relaxed: ordered after the bound loads by the fence above.
        let after = self.bounds_seq.load(Ordering::Relaxed);
        before != after || earliest <= now
    }

    /// Expires every reservation whose deadline has passed; returns how many.
    pub(crate) fn expire_due(&self) -> usize {
        self.expire_due_at_most(usize::MAX)
    }

    /// Expires reservations whose deadline has passed, at most `limit` of them (those due
    /// earliest first, by timer slot); returns how many.
    pub(crate) fn expire_due_at_most(&self, limit: usize) -> usize {
        let mut timer = lock(&self.timer);
        let now = self.now();
        self.drain(&mut timer);
        let mut guard = self.epoch.pin();
        let mut expired = 0;
        let mut popped = 0u32;
        while expired < limit {
            let Some(token) = timer.wheel.pop_due(now) else {
                break;
            };
            if let Some(deadline) = self.expire_token(token, now, &guard) {
                expired += 1;
                timer.lag.record(now - deadline);
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
        let earliest = timer.wheel.earliest();
        self.write_bounds(|| self.wheel_earliest.store(earliest, Ordering::Relaxed));
        drop(guard);
        self.compact(&mut timer);
        timer.wheel.shrink_if_sparse();
        expired
    }

    /// Expires the reservation `token` names if it is still held and due at `now`; returns its
    /// deadline if this call expired it. A stale token (the reservation finished, or its
    /// deadline moved) does nothing.
    pub(crate) fn expire_token(&self, token: Token, now: u64, guard: &Guard) -> Option<u64> {
        let entry = self
            .registry
            .get(token.cart, guard)
            .filter(|e| e.seq == token.seq)?;
        let current = entry.snapshot(guard);
        let deadline = current.hold().deadline;
        (current.state == State::Held
            && deadline <= now
            && self.settle(entry, current, State::Expired, guard))
        .then_some(deadline)
    }

    /// Drops stale tokens when they outnumber live reservations (see [`crate::timer`]): tokens
    /// of finished reservations, tokens whose deadline no longer matches the reservation's, and
    /// duplicates (a cart update that keeps the same deadline pushes the same token again).
    fn compact(&self, timer: &mut Timer) {
        let live = self.live_reservations();
        if timer.wheel.len() <= 2 * live + COMPACT_SLACK {
            return;
        }
        let mut guard = self.epoch.pin();
        let mut checked = 0u32;
        let mut kept = std::collections::HashSet::with_capacity(live.min(timer.wheel.len()));
        timer.wheel.retain(|token| {
            checked += 1;
            if checked % 1024 == 0 {
                guard.repin();
            }
            !self.is_stale(*token, &guard) && kept.insert((token.cart, token.seq))
        });
        timer.wheel.shrink_if_sparse();
        // As in `expire_due`: only stale tokens were dropped, so the raised bound is still a
        // bound for every live reservation; the write section tells readers it moved.
        let earliest = timer.wheel.earliest();
        self.write_bounds(|| self.wheel_earliest.store(earliest, Ordering::Relaxed));
    }

    /// Finishes a reservation: the one compare-and-swap that decides between confirm, release
    /// and expiry. The winner settles the stock, remembers the outcome and retires the entry;
    /// returns whether this call won.
    fn settle(&self, entry: &Entry, current: Snapshot<'_>, to: State, guard: &Guard) -> bool {
        let lines = current.hold().lines();
        let returns_stock = to != State::Confirmed;
        let mut announced = Sources::new();
        if returns_stock {
            // Announce first: until the units are back, a take that finds the item short
            // must wait for us rather than answer "short" (see `crate::stock::slot`).
            for line in lines {
                announced.push(self.stock.slot(line.item).announce());
            }
        }
        if !entry.finish(current, to, guard) {
            if returns_stock {
                for (i, line) in lines.iter().enumerate() {
                    self.stock.slot(line.item).commit(announced.get(i));
                }
            }
            return false;
        }
        // Remembered before anything else: from the swap above, another thread may retire the
        // entry (`retire`, helping), and a lookup that then misses it must find the outcome.
        self.remember(entry, to);
        let counters = self.stock.counters().local();
        for (i, line) in lines.iter().enumerate() {
            let slot = self.stock.slot(line.item);
            if returns_stock {
                slot.give_back_tentative(line.quantity, announced.get(i));
            } else {
                slot.record_sold(line.quantity);
            }
        }
        self.registry.retire(entry, guard);
        if let Some(shard) = self.shard_of(entry.seq) {
            // Relaxed: see `admit`.
            shard.live.fetch_sub(1, Ordering::Relaxed);
        }
        bump(
            match to {
                State::Confirmed => &counters.confirms,
                State::Released => &counters.releases,
                _ => &counters.expiries,
            },
            1,
        );
        // Only the winner gets here, once per reservation; the stock is already settled.
        trace::finished!(
            to,
            cart = entry.cart,
            id = self.id(entry),
            lines = lines.len(),
            late_ns = self.now().saturating_sub(current.hold().deadline)
        );
        true
    }

    /// Remembers how `entry`'s reservation finished (see [`crate::inventory::outcomes`]). Called by the
    /// thread that finished it, and by any thread before it marks the entry deleted.
    fn remember(&self, entry: &Entry, state: State) {
        if let Some(shard) = self.shard_of(entry.seq) {
            shard
                .finished
                .remember(entry.seq >> SHARD_BITS, entry.cart, state);
        }
    }

    /// Retires an entry whose reservation reached a final state, found by a thread that did
    /// not finish it: remembers the outcome first (the finisher may not have yet), so that a
    /// lookup that misses the unlinked entry finds it.
    fn retire(&self, entry: &Entry, state: State, guard: &Guard) {
        self.remember(entry, state);
        self.registry.retire(entry, guard);
    }

    /// The remembered outcome of reservation `seq` of `cart`, if it finished recently.
    fn recall(&self, cart: u64, seq: u64) -> Option<State> {
        self.shard_of(seq)?.finished.recall(seq >> SHARD_BITS, cart)
    }

    /// Finds the reservation `target` names; expires it on the way if its deadline passed.
    fn resolve<'g>(
        &'g self,
        target: Target,
        now: u64,
        guard: &'g Guard,
    ) -> Result<Found<'g>, ReservationError> {
        let entry = match target {
            Target::Id(id) => {
                if id.instance != self.instance {
                    return Err(ReservationError::Unknown);
                }
                match self.registry.get(id.cart.get(), guard) {
                    Some(entry) if entry.seq == id.seq => entry,
                    _ => {
                        return self
                            .recall(id.cart.get(), id.seq)
                            .map(Found::Finished)
                            .ok_or(ReservationError::Unknown)
                    }
                }
            }
            Target::Cart(cart) => self
                .registry
                .get(cart.get(), guard)
                .ok_or(ReservationError::NoReservation { cart })?,
        };
        loop {
            let current = entry.snapshot(guard);
            match current.state {
                State::Held if current.hold().deadline <= now => {
                    // Due but not reaped yet: it is expired now, whoever settles it.
                    self.settle(entry, current, State::Expired, guard);
                }
                State::Held => return Ok(Found::Held(entry, current)),
                state => return Ok(Found::Finished(state)),
            }
        }
    }

    fn confirm(&self, target: Target) -> Result<Confirmation, ReservationError> {
        let now = self.now();
        let guard = self.epoch.pin();
        loop {
            match self.resolve(target, now, &guard)? {
                Found::Held(entry, current) => {
                    if self.settle(entry, current, State::Confirmed, &guard) {
                        return Ok(Confirmation::Confirmed);
                    }
                }
                Found::Finished(State::Confirmed) => return Ok(Confirmation::AlreadyConfirmed),
                Found::Finished(state) => return Err(finished_error(state)),
            }
        }
    }

    fn release(&self, target: Target) -> Result<(), ReservationError> {
        let now = self.now();
        let guard = self.epoch.pin();
        loop {
            match self.resolve(target, now, &guard)? {
                Found::Held(entry, current) => {
                    if self.settle(entry, current, State::Released, &guard) {
                        return Ok(());
                    }
                }
                Found::Finished(state) => return Err(finished_error(state)),
            }
        }
    }

    fn extend(&self, target: Target, ttl: Duration) -> Result<Receipt, ReservationError> {
        let ttl_nanos = self.ttl(ttl).ok_or(ReservationError::InvalidTtl { ttl })?;
        let now = self.now();
        let deadline = now.saturating_add(ttl_nanos);
        self.epoch.throttle();
        let upkeep = Upkeep::new(self);
        let guard = self.epoch.pin();
        loop {
            match self.resolve(target, now, &guard)? {
                Found::Held(entry, current) => {
                    let hold = Hold::new(deadline, current.hold().lines().iter().copied());
                    if entry.replace(current, Owned::new(hold), &guard).is_ok() {
                        self.schedule(entry, deadline, &upkeep);
                        bump(&self.stock.counters().local().extends, 1);
                        return Ok(self.receipt(entry, deadline));
                    }
                }
                Found::Finished(state) => return Err(finished_error(state)),
            }
        }
    }

    fn release_lines(&self, target: Target, lines: &[Line]) -> Result<(), ReservationError> {
        let released = self
            .stock
            .canonical(lines)
            .map_err(ReservationError::Lines)?;
        let now = self.now();
        self.epoch.throttle();
        let guard = self.epoch.pin();
        loop {
            match self.resolve(target, now, &guard)? {
                Found::Held(entry, current) => {
                    let remaining = subtract(current.hold().lines(), released.lines())?;
                    if remaining.is_empty() {
                        if self.settle(entry, current, State::Released, &guard) {
                            return Ok(());
                        }
                        continue;
                    }
                    let hold = Hold::new(current.hold().deadline, remaining.into_iter());
                    let mut announced = Sources::new();
                    for r in released.entries() {
                        announced.push(r.at.announce());
                    }
                    if entry.replace(current, Owned::new(hold), &guard).is_ok() {
                        // Only the thread whose compare-and-swap removed these lines returns
                        // them, so they come back exactly once.
                        for (i, r) in released.entries().iter().enumerate() {
                            r.at.give_back_tentative(r.line.quantity, announced.get(i));
                        }
                        bump(&self.stock.counters().local().partial_releases, 1);
                        return Ok(());
                    }
                    for (i, r) in released.entries().iter().enumerate() {
                        r.at.commit(announced.get(i));
                    }
                }
                Found::Finished(state) => return Err(finished_error(state)),
            }
        }
    }

    /// Reserves `lines` for `cart`, adding them to the cart's reservation if it has one.
    fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let ttl_nanos = self.ttl(ttl).ok_or(ReserveError::InvalidTtl { ttl })?;
        let added = self.stock.canonical(lines)?;
        let now = self.now();
        let deadline = now.saturating_add(ttl_nanos);
        // The stock is taken once, up front, and kept across retries: whether the lines end
        // up in a new reservation or merged into the cart's existing one, the same units are
        // needed. Until the hold is published they are in flight, so nobody is refused for
        // them in the meantime.
        self.epoch.throttle();
        let pending = self.take(added.entries())?;
        let upkeep = Upkeep::new(self);
        let guard = self.epoch.pin();
        let mut fresh = Fresh {
            inner: self,
            entry: None,
        };
        loop {
            let position = self.registry.find(cart.get(), &guard);
            if let Some(entry) = position.found(cart.get()) {
                let current = entry.snapshot(&guard);
                if current.state != State::Held {
                    // Finished, not yet unlinked: help, then look again.
                    self.retire(entry, current.state, &guard);
                    continue;
                }
                if current.hold().deadline <= now {
                    self.settle(entry, current, State::Expired, &guard);
                    continue;
                }
                let lines = merge(current.hold().lines(), added.lines())?;
                let hold = Owned::new(Hold::new(deadline, lines.into_iter()));
                if entry.replace(current, hold, &guard).is_ok() {
                    return Ok(self.publish(entry, deadline, pending, &upkeep));
                }
                continue;
            }
            let entry = match fresh.entry.take() {
                Some(entry) => entry,
                None => self.new_entry(cart, Hold::new(deadline, added.lines()))?,
            };
            match self.registry.insert(&position, entry, &guard) {
                Ok(entry) => return Ok(self.publish(entry, deadline, pending, &upkeep)),
                Err(entry) => fresh.entry = Some(entry),
            }
        }
    }

    /// Finishes a reserve whose hold is now in `entry`: tells the timer its deadline, commits
    /// the units taken for it (in that order, see [`crate::timer`]), counts it.
    fn publish(
        &self,
        entry: &Entry,
        deadline: u64,
        pending: Pending<'_>,
        upkeep: &Upkeep<'_>,
    ) -> Receipt {
        self.schedule(entry, deadline, upkeep);
        pending.commit();
        bump(&self.stock.counters().local().reserves, 1);
        self.receipt(entry, deadline)
    }

    /// Gives back the admission of an entry that was never linked.
    fn unadmit(&self, entry: &Entry) {
        if let Some(shard) = self.shard_of(entry.seq) {
            // Relaxed: see `admit`.
            shard.live.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Sets a cart's lines to exactly `lines`, taking only what is added and giving back only
    /// what is dropped, atomically.
    fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let ttl_nanos = self.ttl(ttl).ok_or(ReserveError::InvalidTtl { ttl })?;
        let wanted = self.stock.canonical(lines)?;
        let now = self.now();
        let deadline = now.saturating_add(ttl_nanos);
        self.epoch.throttle();
        let upkeep = Upkeep::new(self);
        let guard = self.epoch.pin();
        let mut fresh = Fresh {
            inner: self,
            entry: None,
        };
        loop {
            let creations = self.registry.creations(cart.get());
            let position = self.registry.find(cart.get(), &guard);
            let Some(entry) = position.found(cart.get()) else {
                // No reservation: a new one holding exactly `wanted`, linked only if the cart
                // is still empty at this position. If another call creates the cart's
                // reservation first, the units go back (still in flight: nobody was refused
                // for them) and this call replaces that reservation's lines instead; adding to
                // it would give the cart both requests' lines, which no order of the two gives.
                let pending = match self.take(wanted.entries()) {
                    Ok(pending) => pending,
                    // Another call may have created the cart's reservation meanwhile (and
                    // hold the units this call wants, or have held them and finished since):
                    // the shortfall stands only if the cart had no reservation throughout.
                    Err(_) if self.registry.creations(cart.get()) != creations => continue,
                    Err(short) => return Err(short.into()),
                };
                let entry = match fresh.entry.take() {
                    Some(entry) => entry,
                    None => self.new_entry(cart, Hold::new(deadline, wanted.lines()))?,
                };
                match self.registry.insert(&position, entry, &guard) {
                    Ok(entry) => return Ok(self.publish(entry, deadline, pending, &upkeep)),
                    Err(entry) => {
                        fresh.entry = Some(entry);
                        continue;
                    }
                }
            };
            let current = entry.snapshot(&guard);
            if current.state != State::Held {
                self.retire(entry, current.state, &guard);
                continue;
            }
            if current.hold().deadline <= now {
                self.settle(entry, current, State::Expired, &guard);
                continue;
            }
            let (additions, removals) = diff(current.hold().lines(), wanted.entries());
            // If the additions cannot be had, the error returns here and the cart keeps
            // exactly what it held.
            let pending = if additions.is_empty() {
                None
            } else {
                match self.take(&additions) {
                    Ok(pending) => Some(pending),
                    // The additions were computed from a hold that another call on this cart
                    // has replaced meanwhile (it may hold the units this call wants): decide
                    // again on what it left. The pointer cannot be reused while we are pinned.
                    Err(_) if entry.snapshot(&guard).ptr != current.ptr => continue,
                    Err(short) => return Err(short.into()),
                }
            };
            let hold = Owned::new(Hold::new(deadline, wanted.lines()));
            // Announced only now, after the additions were taken: an operation holding
            // announcements never waits (see `crate::stock::slot`).
            let mut announced = Sources::new();
            for line in &removals {
                announced.push(self.stock.slot(line.item).announce());
            }
            if entry.replace(current, hold, &guard).is_ok() {
                self.schedule(entry, deadline, &upkeep);
                if let Some(pending) = pending {
                    pending.commit();
                }
                // The replaced hold held these; only the winner of the swap returns them.
                for (i, line) in removals.iter().enumerate() {
                    self.stock
                        .slot(line.item)
                        .give_back_tentative(line.quantity, announced.get(i));
                }
                bump(&self.stock.counters().local().reserves, 1);
                return Ok(self.receipt(entry, deadline));
            }
            for (i, line) in removals.iter().enumerate() {
                self.stock.slot(line.item).commit(announced.get(i));
            }
            // Lost a race on this cart: `pending` drops here and gives the additions back
            // (they were only in flight); try again on what the winner left.
        }
    }

    /// A new entry for `cart`, admitted against the bound on live reservations, with a fresh
    /// sequence number from this thread's shard.
    fn new_entry(&self, cart: CartId, hold: Hold) -> Result<Owned<Entry>, ReserveError> {
        let index = self.shard_index();
        let shard = &self.shards[index];
        self.admit(shard)?;
        // Relaxed: a unique number; nothing to order.
        let number = shard.counter.fetch_add(1, Ordering::Relaxed);
        let seq = number << SHARD_BITS | index as u64;
        Ok(Entry::new(cart.get(), seq, hold))
    }

    /// Time until the earliest known deadline, if any (a hint for the reaper's sleep).
    pub(crate) fn time_to_next_deadline(&self) -> Option<Duration> {
        // Acquire, stronger than needed: a hint that no read depends on (a stale value only
        // shortens or lengthens one sleep, bounded by the reaper's tick). Relaxed would do;
        // kept because no loom model covers the reaper.
        let mut earliest = self.wheel_earliest.load(Ordering::Acquire);
        for shard in self.shards.iter() {
            earliest = earliest.min(shard.inbox_earliest.load(Ordering::Acquire));
        }
        (earliest != u64::MAX).then(|| Duration::from_nanos(earliest.saturating_sub(self.now())))
    }

    /// Pins the current thread in this inventory's collector (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn epoch_pin(&self) -> Guard {
        self.epoch.pin()
    }

    /// `clean` on shard `index` (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn clean_shard(&self, index: usize, batch: usize) {
        self.clean(&self.shards[index], batch);
    }

    /// The drainer's step of `expire_due` without the expiries: under the timer, every inbox
    /// into the wheel inside a write section (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn drain_inboxes(&self) {
        let mut timer = lock(&self.timer);
        self.drain(&mut timer);
    }

    /// `maybe_due` (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn may_be_due(&self, now: u64) -> bool {
        self.maybe_due(now)
    }

    fn live_reservations(&self) -> usize {
        let live: i64 = self
            .shards
            .iter()
            // Relaxed: a count compared with a bound (see `admit`); pairs with nothing.
            .map(|s| s.live.load(Ordering::Relaxed))
            .sum();
        usize::try_from(live).unwrap_or(0)
    }
}

fn finished_error(state: State) -> ReservationError {
    match state {
        State::Confirmed => ReservationError::Confirmed,
        State::Released => ReservationError::Released,
        _ => ReservationError::Expired,
    }
}

fn public_state(state: State) -> ReservationState {
    match state {
        State::Held => ReservationState::Held,
        State::Confirmed => ReservationState::Confirmed,
        State::Released => ReservationState::Released,
        State::Expired => ReservationState::Expired,
    }
}

/// The reservation engine: items, stock, carts and their reservations, and expiry.
///
/// `Inventory` is `Send + Sync`; share it (in an `Arc`, or by reference in scoped threads)
/// between every thread of an order service. Nothing on the reserve, confirm, release or
/// extend paths takes a lock. See the crate documentation for the exact guarantees.
///
/// ```
/// use atomic_stock::{CartId, Confirmation, Inventory, Line};
/// use std::time::Duration;
///
/// let inventory = Inventory::new();
/// let mug = inventory.register_item(10).unwrap();
/// let receipt = inventory
///     .reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(600))
///     .unwrap();
/// assert_eq!(inventory.item(mug).unwrap().held, 2);
/// // Payment succeeded:
/// assert_eq!(inventory.confirm(receipt.id), Ok(Confirmation::Confirmed));
/// assert_eq!(inventory.item(mug).unwrap().sold, 2);
/// ```
#[derive(Debug)]
pub struct Inventory {
    pub(crate) inner: Arc<Inner>,
    reaper: Option<Reaper>,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::new()
    }
}

impl Inventory {
    /// An empty inventory with default settings ([`CoarseClock`], no reaper thread).
    #[must_use]
    pub fn new() -> Self {
        InventoryBuilder::default().build()
    }

    /// Configures an inventory.
    #[must_use]
    pub fn builder() -> InventoryBuilder {
        InventoryBuilder::default()
    }

    /// Registers an item with `initial` units and returns its dense id.
    pub fn register_item(&self, initial: i64) -> Result<ItemId, CatalogError> {
        self.inner.stock.register(initial)
    }

    /// Registers an item under a SKU, refusing a SKU already registered.
    pub fn register_sku(&self, sku: &str, initial: i64) -> Result<ItemId, CatalogError> {
        self.inner.stock.register_sku(sku, initial)
    }

    /// The item registered under `sku`. Lock-free: one arc-swap load of the SKU table, a
    /// SipHash of the SKU, one or two probes and one string comparison, with no write to shared
    /// memory. Measured on 2 cores it was still slower than the mutex-guarded map it replaced
    /// (see `DESIGN.md`, "7a. The catalog"): resolve SKUs once per request, not per line.
    ///
    /// ```
    /// use atomic_stock::Inventory;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_sku("MUG-1", 5).unwrap();
    /// assert_eq!(inventory.item_by_sku("MUG-1"), Some(mug));
    /// assert_eq!(inventory.item_by_sku("NOPE"), None);
    /// ```
    #[must_use]
    pub fn item_by_sku(&self, sku: &str) -> Option<ItemId> {
        self.inner.stock.item_by_sku(sku)
    }

    /// Number of registered items.
    #[must_use]
    pub fn items(&self) -> usize {
        self.inner.stock.len()
    }

    /// Adds `quantity` units of `item`. Refused if more than
    /// [`MAX_STOCK`](crate::limits::MAX_STOCK) units would be on hand (available, in flight
    /// and held).
    pub fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let slot = self.adjustable(item, quantity)?;
        slot.receive_within_bound(quantity)
            .map_err(|on_hand| AdjustError::Overflow {
                item,
                on_hand,
                quantity,
            })?;
        slot.give_back_held(quantity);
        Ok(())
    }

    /// Removes `quantity` available units of `item` (damage, loss).
    pub fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.inner.stock.shrink(item, quantity)
    }

    fn adjustable(&self, item: ItemId, quantity: i64) -> Result<&slot::Slot, AdjustError> {
        let slot = self
            .inner
            .stock
            .catalog()
            .slot(item)
            .ok_or(AdjustError::UnknownItem { item })?;
        if !(1..=MAX_STOCK).contains(&quantity) {
            return Err(AdjustError::InvalidQuantity { item, quantity });
        }
        Ok(slot)
    }

    /// Reserves `lines` for `cart` until `ttl` from now, all or nothing.
    ///
    /// If the cart already holds a reservation, the lines are added to it (all or nothing)
    /// and its deadline becomes `ttl` from now; the receipt then carries the same id. Lines
    /// are validated and merged first; bad input changes nothing.
    ///
    /// If stock is short, reservations already past their deadline are expired first, so an
    /// expired hold never turns a buyer away.
    pub fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let result = self.inner.reserve(cart, lines, ttl);
        trace::reserved!(cart, lines, &result);
        result
    }

    /// Sets `cart`'s reservation to exactly `lines`, with a deadline `ttl` from now: takes
    /// only what is added and gives back only what is dropped, atomically. If the additions
    /// cannot be had, the cart keeps exactly what it held. A cart without a reservation gets
    /// a new one. To empty a cart, [`release_cart`](Inventory::release_cart) it.
    pub fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let result = self.inner.set_cart(cart, lines, ttl);
        trace::reserved!(cart, lines, &result);
        result
    }

    /// Confirms a reservation (payment succeeded): its stock becomes sold.
    ///
    /// Idempotent: confirming again answers [`Confirmation::AlreadyConfirmed`] while the
    /// outcome is remembered. Fails if the reservation was released, has expired (its deadline
    /// passed, even if no expiry has run yet), or is unknown.
    pub fn confirm(&self, id: ReservationId) -> Result<Confirmation, ReservationError> {
        self.inner.confirm(Target::Id(id))
    }

    /// Confirms `cart`'s live reservation.
    ///
    /// Fails with [`ReservationError::NoReservation`] when the cart holds none. If the cart's
    /// reservation finishes concurrently (or finished an instant ago and its entry is still
    /// being retired), the answer names how it finished instead (`AlreadyConfirmed`,
    /// `Released`, `Expired`), as the by-id call would.
    pub fn confirm_cart(&self, cart: CartId) -> Result<Confirmation, ReservationError> {
        self.inner.confirm(Target::Cart(cart))
    }

    /// Releases (cancels) a reservation: its stock is available again at once.
    pub fn release(&self, id: ReservationId) -> Result<(), ReservationError> {
        self.inner.release(Target::Id(id))
    }

    /// Releases `cart`'s live reservation. Answers like
    /// [`confirm_cart`](Inventory::confirm_cart) when the reservation finishes concurrently.
    pub fn release_cart(&self, cart: CartId) -> Result<(), ReservationError> {
        self.inner.release(Target::Cart(cart))
    }

    /// Gives back some of a held reservation's stock: `lines` (validated and merged like a
    /// reserve's) must each be held in full. Giving back everything releases the reservation.
    pub fn release_lines(&self, id: ReservationId, lines: &[Line]) -> Result<(), ReservationError> {
        self.inner.release_lines(Target::Id(id), lines)
    }

    /// Moves a held reservation's deadline to `ttl` from now (a slow payment).
    pub fn extend(&self, id: ReservationId, ttl: Duration) -> Result<Receipt, ReservationError> {
        self.inner.extend(Target::Id(id), ttl)
    }

    /// Moves `cart`'s reservation deadline to `ttl` from now.
    pub fn extend_cart(&self, cart: CartId, ttl: Duration) -> Result<Receipt, ReservationError> {
        self.inner.extend(Target::Cart(cart), ttl)
    }

    /// Expires every reservation whose deadline has passed, and returns how many. For hosts
    /// that drive time themselves; takes the timer's mutex (see the crate docs, "Progress").
    pub fn expire_due(&self) -> usize {
        self.inner.expire_due()
    }

    /// Expires at most `limit` reservations whose deadline has passed (earliest deadlines
    /// first, to the timer's resolution of about a millisecond) and returns how many: for a
    /// host that spreads expiry over short steps, e.g. between the tasks of an async runtime.
    /// What is left stays due and goes at the next call, or when a reserve needs its stock.
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line, ManualClock};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let inventory = Inventory::builder().clock(clock.clone()).build();
    /// let mug = inventory.register_item(10).unwrap();
    /// for cart in 0..5 {
    ///     inventory
    ///         .reserve(CartId::new(cart), &[Line::new(mug, 1)], Duration::from_secs(60))
    ///         .unwrap();
    /// }
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(inventory.expire_due_at_most(2), 2);
    /// assert_eq!(inventory.expire_due_at_most(10), 3);
    /// assert_eq!(inventory.item(mug).unwrap().available, 10);
    /// ```
    pub fn expire_due_at_most(&self, limit: usize) -> usize {
        self.inner.expire_due_at_most(limit)
    }

    /// Where a reservation is in its lifecycle: live, or finished and still remembered.
    ///
    /// A held reservation whose deadline has passed (by the clock reading this call takes as
    /// it starts) is expired by this call, like by any other: once one call has answered
    /// `Expired`, every later call agrees, whatever clock readings they took.
    pub fn status(&self, id: ReservationId) -> Result<ReservationState, ReservationError> {
        let now = self.inner.now();
        let guard = self.inner.epoch.pin();
        Ok(match self.inner.resolve(Target::Id(id), now, &guard)? {
            Found::Held(..) => ReservationState::Held,
            Found::Finished(state) => public_state(state),
        })
    }

    /// A live reservation's lines and deadline; `None` once it finished (a due reservation is
    /// expired by this call, as by [`status`](Inventory::status)).
    #[must_use]
    pub fn reservation(&self, id: ReservationId) -> Option<ReservationInfo> {
        self.info(Target::Id(id))
    }

    /// `cart`'s live reservation (as [`reservation`](Inventory::reservation)).
    #[must_use]
    pub fn cart(&self, cart: CartId) -> Option<ReservationInfo> {
        self.info(Target::Cart(cart))
    }

    fn info(&self, target: Target) -> Option<ReservationInfo> {
        let now = self.inner.now();
        let guard = self.inner.epoch.pin();
        let Ok(Found::Held(entry, current)) = self.inner.resolve(target, now, &guard) else {
            return None;
        };
        let hold = current.hold();
        Some(ReservationInfo {
            id: self.inner.id(entry),
            state: ReservationState::Held,
            deadline: self.inner.instant(hold.deadline),
            lines: hold.lines().to_vec(),
        })
    }

    /// An item's counts (see [`ItemLevels`] for how exact they are).
    #[must_use]
    pub fn item(&self, item: ItemId) -> Option<ItemLevels> {
        Some(crate::inventory::audit::item_levels(
            self.inner.stock.catalog().slot(item)?,
        ))
    }

    /// Frees retired memory now rather than eventually: finished carts' entries and replaced
    /// holds are reclaimed through epochs, normally a little at a time as threads work. Call it
    /// at quiescence (tests, memory measurements); it is never needed for correctness.
    pub fn reclaim(&self) {
        self.inner.epoch.flush();
    }

    /// Live reservations (exact at quiescence).
    #[must_use]
    pub fn live_reservations(&self) -> usize {
        self.inner.live_reservations()
    }

    /// Operation counters since creation.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.inner.stock.stats()
    }

    /// Deadline tokens the timer holds (in its wheel, and in its inboxes not yet drained): at
    /// most about twice the live reservations plus [`TIMER_SLACK`](crate::limits::TIMER_SLACK)
    /// after an [`expire_due`](Inventory::expire_due), plus what threads pushed since. For
    /// memory monitoring.
    #[must_use]
    pub fn timer_tokens(&self) -> usize {
        let queued: usize = self.inner.shards.iter().map(|s| s.inbox.len()).sum();
        lock(&self.inner.timer).wheel.len() + queued
    }

    /// Pins the calling thread in this inventory's epoch for `duration`, as a thread
    /// preempted or stopped inside an operation would be: for tests of the memory bound.
    #[doc(hidden)]
    pub fn stall_pinned(&self, duration: Duration) {
        let _guard = self.inner.epoch.pin();
        std::thread::sleep(duration);
    }

    /// Distribution of expiry lag (deadline to stock returned) of every expiry so far.
    #[must_use]
    pub fn expiry_lag(&self) -> LagHistogram {
        lock(&self.inner.timer).lag.clone()
    }

    /// Checks, for every item, that `received = available + held + sold`, counting
    /// `held` from the live reservations in the cart registry (not derived from the other
    /// counts, so the check can fail), and that nothing is in flight. Meaningful only at
    /// quiescence (no operation running); O(items + live reservations).
    ///
    /// Safe to call while items are registered: an item registered during the walk is
    /// audited too if a reservation of it was seen.
    pub fn audit(&self) -> Result<AuditReport, AuditError> {
        self.audit_with(crate::Run::Auto)
    }

    /// [`audit`](Inventory::audit) with the per-item checks run as told (for the measurements
    /// behind [`crate::inventory::audit`]'s choice).
    #[doc(hidden)]
    pub fn audit_with(&self, run: crate::Run) -> Result<AuditReport, AuditError> {
        let mut held = vec![0i64; self.inner.stock.len()];
        let mut live = 0;
        let guard = self.inner.epoch.pin();
        self.inner.registry.for_each(&guard, |entry| {
            let current = entry.snapshot(&guard);
            if current.state == State::Held {
                live += 1;
                for line in current.hold().lines() {
                    let index = line.item.index();
                    // An item registered after the count above was read.
                    if index >= held.len() {
                        held.resize(index + 1, 0);
                    }
                    held[index] += line.quantity;
                }
            }
        });
        drop(guard);
        // Every item a held line names was registered before it was reserved.
        let totals = crate::inventory::audit::audit_items(&self.inner.stock, &held, run)?;
        Ok(AuditReport {
            items: held.len(),
            live_reservations: live,
            available: totals.available,
            held: totals.held,
            sold: totals.sold,
        })
    }

    /// The SKU `item` was registered under (for an error message or a log line); `None` for
    /// an unknown item or one registered without a SKU. Lock-free: two loads.
    ///
    /// ```
    /// use atomic_stock::Inventory;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_sku("MUG-1", 5).unwrap();
    /// assert_eq!(inventory.sku(mug), Some("MUG-1"));
    /// ```
    #[must_use]
    pub fn sku(&self, item: ItemId) -> Option<&str> {
        self.inner.stock.sku(item)
    }

    /// Registers a catalog of `(SKU, initial level)` entries with consecutive ids, in the
    /// order given, or registers nothing.
    ///
    /// Every entry is read and validated before any is registered: a bad SKU or level
    /// ([`LoadError::Invalid`](crate::LoadError::Invalid)), a SKU given twice ([`LoadError::DuplicateInLoad`](crate::LoadError::DuplicateInLoad)) or already
    /// registered ([`LoadError::AlreadyRegistered`](crate::LoadError::AlreadyRegistered)), more entries than the catalog has room
    /// for, or more than [`MAX_LOAD_ENTRIES`](crate::limits::MAX_LOAD_ENTRIES), refuses the
    /// whole load with an error naming the entry (its 1-based position). Registrations are
    /// serialized, so no other registration interleaves; items become visible to readers one
    /// by one while the load runs. O(entries): the SKU table grows once, to fit.
    ///
    /// ```
    /// use atomic_stock::{Inventory, LoadError};
    ///
    /// let inventory = Inventory::new();
    /// let loaded = inventory
    ///     .load_catalog((0..1000).map(|i| (format!("SKU-{i}"), 10)))
    ///     .unwrap();
    /// assert_eq!((loaded.count, inventory.items()), (1000, 1000));
    ///
    /// // One bad entry: nothing of the load is registered.
    /// let err = inventory.load_catalog([("NEW-1", 1), ("SKU-7", 1)]).unwrap_err();
    /// assert!(matches!(err, LoadError::AlreadyRegistered { line: 2, .. }));
    /// assert_eq!(inventory.item_by_sku("NEW-1"), None);
    /// ```
    pub fn load_catalog<I, S>(&self, entries: I) -> Result<crate::Loaded, crate::LoadError>
    where
        I: IntoIterator<Item = (S, i64)>,
        S: AsRef<str>,
    {
        self.inner.stock.load_catalog(entries)
    }

    /// Registers the `sku,initial` lines of CSV input, all or nothing, like
    /// [`load_catalog`](Inventory::load_catalog); errors name the input line. The format: one
    /// pair per line, split at the first comma, surrounding whitespace ignored, empty lines
    /// and a first line reading `sku,initial` skipped, no quoting.
    ///
    /// ```
    /// use atomic_stock::{Inventory, LoadError};
    ///
    /// let inventory = Inventory::new();
    /// let csv = "sku,initial\nMUG-1,5\nTEA-9,two\n";
    /// let err = inventory.load_csv(csv.as_bytes()).unwrap_err();
    /// assert!(matches!(err, LoadError::Malformed { line: 3, .. }));
    /// assert_eq!(inventory.items(), 0);
    ///
    /// inventory.load_csv("MUG-1,5\nTEA-9,2\n".as_bytes()).unwrap();
    /// assert_eq!(inventory.item(inventory.item_by_sku("TEA-9").unwrap()).unwrap().available, 2);
    /// ```
    pub fn load_csv(
        &self,
        input: impl std::io::BufRead,
    ) -> Result<crate::Loaded, crate::LoadError> {
        self.inner.stock.load_csv(input)
    }

    /// Sets the units of `item` available to `new` if they are `expected` now, as after a stock
    /// count ("set to 40 if it is still 37"); otherwise changes nothing and returns
    /// [`AdjustError::LevelMismatch`] with the level found.
    ///
    /// The comparison and the change are one atomic step on the item's stock word, taken
    /// when nothing is in flight on it (a reserve half-way through, a release returning units):
    /// the level compared is the one every other operation agrees on, never a transient one.
    /// So the call may wait, like a shortfall decision, for operations in flight on the item.
    ///
    /// Accounting: the difference is booked as a restock (`new > expected`) or a shrink
    /// (`new < expected`) in the item's `received`, so `received = available + held + sold`
    /// keeps holding and [`audit`](Inventory::audit) passes. Refused with
    /// [`AdjustError::Overflow`] if the raise would put more than
    /// [`MAX_STOCK`](crate::limits::MAX_STOCK) units on hand, with
    /// [`AdjustError::Delisted`] for a delisted item, with
    /// [`AdjustError::InvalidQuantity`] for a level outside `0..=MAX_STOCK`.
    ///
    /// ```
    /// use atomic_stock::{AdjustError, Inventory};
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_item(37).unwrap();
    /// assert_eq!(inventory.set_available(mug, 37, 40), Ok(()));
    /// assert_eq!(
    ///     inventory.set_available(mug, 37, 45),
    ///     Err(AdjustError::LevelMismatch { item: mug, expected: 37, actual: 40 })
    /// );
    /// assert_eq!(inventory.item(mug).unwrap().received, 40);
    /// assert!(inventory.audit().is_ok());
    /// ```
    pub fn set_available(&self, item: ItemId, expected: i64, new: i64) -> Result<(), AdjustError> {
        let slot = self
            .inner
            .stock
            .catalog()
            .slot(item)
            .ok_or(AdjustError::UnknownItem { item })?;
        for quantity in [expected, new] {
            if !(0..=MAX_STOCK).contains(&quantity) {
                return Err(AdjustError::InvalidQuantity { item, quantity });
            }
        }
        let raise = new - expected;
        if raise > 0 {
            // Room first, as a restock books it: `received - sold` bounds everything on hand.
            slot.receive_within_bound(raise)
                .map_err(|on_hand| AdjustError::Overflow {
                    item,
                    on_hand,
                    quantity: raise,
                })?;
        }
        match slot.set_available(expected, new) {
            Ok(()) => {
                if raise < 0 {
                    slot.unreceive(-raise);
                }
                Ok(())
            }
            Err(refused) => {
                if raise > 0 {
                    slot.unreceive(raise);
                }
                Err(match refused {
                    slot::LevelRefused::Mismatch { actual } => AdjustError::LevelMismatch {
                        item,
                        expected,
                        actual,
                    },
                    slot::LevelRefused::Delisted => AdjustError::Delisted { item },
                })
            }
        }
    }

    /// Delists `item`: from the instant this call takes effect, every reserve, cart update or
    /// shrink that needs units of it is refused with [`TakeError::Delisted`]
    /// (`AdjustError::Delisted` for a shrink), while the holds it already has go on as usual
    /// (confirmed, released, expired; released units are counted as available but cannot be
    /// taken). When the call returns, every reserve of the item that began before it has
    /// finished taking (so the holds are exactly the live reservations'). The id stays
    /// registered, with its SKU, and its levels stay readable; delisting is final. Idempotent:
    /// returns `Ok(true)` if this call delisted the item, `Ok(false)` if it already was.
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line, ReserveError, TakeError};
    /// use std::time::Duration;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_sku("MUG-1", 5).unwrap();
    /// let ttl = Duration::from_secs(600);
    /// let held = inventory.reserve(CartId::new(1), &[Line::new(mug, 2)], ttl).unwrap();
    /// assert_eq!(inventory.delist(mug), Ok(true));
    /// assert_eq!(
    ///     inventory.reserve(CartId::new(2), &[Line::new(mug, 1)], ttl),
    ///     Err(ReserveError::Stock(TakeError::Delisted { item: mug }))
    /// );
    /// // The live hold finishes as usual.
    /// assert!(inventory.confirm(held.id).is_ok());
    /// assert_eq!(inventory.is_delisted(mug), Some(true));
    /// assert!(inventory.audit().is_ok());
    /// ```
    pub fn delist(&self, item: ItemId) -> Result<bool, AdjustError> {
        let slot = self
            .inner
            .stock
            .catalog()
            .slot(item)
            .ok_or(AdjustError::UnknownItem { item })?;
        Ok(slot.delist())
    }

    /// Whether `item` is delisted; `None` for an unknown item.
    ///
    /// ```
    /// use atomic_stock::Inventory;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_item(1).unwrap();
    /// assert_eq!(inventory.is_delisted(mug), Some(false));
    /// ```
    #[must_use]
    pub fn is_delisted(&self, item: ItemId) -> Option<bool> {
        Some(self.inner.stock.catalog().slot(item)?.is_delisted())
    }

    /// Every item's counts, indexed by id (`levels()[i]` is item `i`'s), as
    /// [`item`](Inventory::item) reads them one by one: exact at quiescence, each item's fields
    /// values it had during the call otherwise. For a dashboard or an export; O(items), on the
    /// calling thread (see `DESIGN.md`, "7b. Bulk work").
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line};
    /// use std::time::Duration;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_item(5).unwrap();
    /// let tea = inventory.register_item(2).unwrap();
    /// inventory.reserve(CartId::new(1), &[Line::new(tea, 1)], Duration::from_secs(60)).unwrap();
    /// let levels = inventory.levels();
    /// assert_eq!((levels[0].available, levels[1].held), (5, 1));
    /// ```
    #[must_use]
    pub fn levels(&self) -> Vec<ItemLevels> {
        self.levels_with(crate::Run::Auto)
    }

    /// [`levels`](Inventory::levels) run as told (for the measurements).
    #[doc(hidden)]
    #[must_use]
    pub fn levels_with(&self, run: crate::Run) -> Vec<ItemLevels> {
        crate::inventory::audit::levels(self.inner.stock.catalog(), run)
    }
}

impl Drop for Inventory {
    fn drop(&mut self) {
        if let Some(reaper) = self.reaper.take() {
            reaper.stop();
        }
    }
}
