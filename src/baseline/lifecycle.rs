//! What the two lifecycle baselines share: their settings, their time base, the per-item
//! ledger, the reservation record, and the memory of finished outcomes. The line arithmetic
//! (merging, diffing, partial release) is the lock-free engine's own, in `src/stock/lines.rs`.
//!
//! Every rule here is the one [`Inventory`](crate::Inventory) applies.
//! `tests/lifecycle_model.rs` checks all three engines against one sequential specification,
//! so a rule that drifted here would fail there.

use crate::error::{AdjustError, TakeError};
use crate::ids::{ItemId, Line};
use crate::inventory::ItemLevels;
use crate::limits::{self, MAX_STOCK};
use crate::reservation::{CartId, ReservationError, ReservationId, ReservationState};
use crate::timer::clock::{Clock, CoarseClock};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of a lifecycle baseline: the same knobs, defaults and meaning as the
/// [`InventoryBuilder`](crate::InventoryBuilder) settings of the same names.
///
/// ```
/// use atomic_stock::baseline::{ItemLocksInventory, LifecycleSettings};
/// use atomic_stock::ManualClock;
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let settings = LifecycleSettings::default()
///     .clock(Arc::new(ManualClock::new()))
///     .max_ttl(Duration::from_secs(3600));
/// let inventory = ItemLocksInventory::with_settings(settings);
/// assert_eq!(inventory.live_reservations(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) max_ttl: Duration,
    pub(crate) max_reservations: u64,
    pub(crate) finished_memory: usize,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            clock: Arc::new(CoarseClock::new()),
            max_ttl: limits::DEFAULT_MAX_TTL,
            max_reservations: limits::DEFAULT_MAX_RESERVATIONS,
            finished_memory: limits::DEFAULT_FINISHED_MEMORY,
        }
    }
}

impl LifecycleSettings {
    /// The clock deadlines are read from. Default: [`CoarseClock`], as for `Inventory`.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Longest time to live a reservation may ask for. Default: 30 days.
    #[must_use]
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Largest number of live reservations (kept per shard where the engine shards its
    /// reservations, as `Inventory` does). Default: 16,777,216.
    #[must_use]
    pub fn max_reservations(mut self, max: u64) -> Self {
        self.max_reservations = max.max(1);
        self
    }

    /// How many finished reservations' outcomes are remembered (per shard: `memory / shards`,
    /// rounded up to a power of two). Default: 65,536.
    #[must_use]
    pub fn finished_memory(mut self, outcomes: usize) -> Self {
        self.finished_memory = outcomes.max(1);
        self
    }
}

/// Nanoseconds since an origin read from the engine's clock, as `Inventory` counts them.
#[derive(Debug)]
pub(crate) struct Timebase {
    clock: Arc<dyn Clock>,
    origin: Instant,
    /// The clock's `nanos()` at the origin, if it gives one (the same fast path `Inventory`
    /// uses, so both pay the same for time).
    origin_nanos: Option<u64>,
    max_ttl: Duration,
}

impl Timebase {
    pub(crate) fn new(settings: &LifecycleSettings) -> Self {
        Timebase {
            clock: settings.clock.clone(),
            origin: settings.clock.now(),
            origin_nanos: settings.clock.nanos(),
            max_ttl: settings.max_ttl,
        }
    }

    /// Nanoseconds since the origin.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        if let (Some(origin), Some(now)) = (self.origin_nanos, self.clock.nanos()) {
            return now.saturating_sub(origin);
        }
        let elapsed = self.clock.now().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn instant(&self, nanos: u64) -> Instant {
        self.origin + Duration::from_nanos(nanos)
    }

    /// A valid time to live in nanoseconds: not zero, not above the maximum.
    pub(crate) fn ttl(&self, ttl: Duration) -> Option<u64> {
        if ttl.is_zero() || ttl > self.max_ttl {
            return None;
        }
        u64::try_from(ttl.as_nanos()).ok()
    }
}

/// One item's counts. `received = available + held + sold` always holds between operations:
/// every change below moves units between two of the counts, or changes `received` and
/// `available` together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ledger {
    pub(crate) available: i64,
    pub(crate) held: i64,
    pub(crate) sold: i64,
    pub(crate) received: i64,
}

impl Ledger {
    pub(crate) fn new(initial: i64) -> Self {
        Ledger {
            available: initial,
            held: 0,
            sold: 0,
            received: initial,
        }
    }

    pub(crate) fn levels(&self) -> ItemLevels {
        ItemLevels {
            available: self.available,
            in_flight: 0,
            held: self.held,
            sold: self.sold,
            received: self.received,
        }
    }

    /// The shortfall `line` would meet, if any.
    #[inline]
    pub(crate) fn shortfall(&self, line: Line) -> Option<TakeError> {
        (self.available < line.quantity).then_some(TakeError::Shortfall {
            item: line.item,
            requested: line.quantity,
            available: self.available,
        })
    }

    /// Available units become held (the caller checked there are enough).
    #[inline]
    pub(crate) fn hold(&mut self, quantity: i64) {
        debug_assert!(self.available >= quantity, "hold without stock");
        self.available -= quantity;
        self.held += quantity;
    }

    /// Held units become available again (release, expiry, a cart update dropping them).
    #[inline]
    pub(crate) fn give_back(&mut self, quantity: i64) {
        debug_assert!(self.held >= quantity, "giving back more than is held");
        self.held -= quantity;
        self.available += quantity;
    }

    /// Held units are sold (confirm).
    #[inline]
    pub(crate) fn sell(&mut self, quantity: i64) {
        debug_assert!(self.held >= quantity, "selling more than is held");
        self.held -= quantity;
        self.sold += quantity;
    }

    /// `Inventory::restock`: refused if more than `MAX_STOCK` units would be on hand
    /// (`received - sold`, which is available + held).
    pub(crate) fn restock(&mut self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let on_hand = self.received - self.sold;
        if on_hand + quantity > MAX_STOCK {
            return Err(AdjustError::Overflow {
                item,
                on_hand,
                quantity,
            });
        }
        self.available += quantity;
        self.received += quantity;
        Ok(())
    }

    /// `Inventory::shrink`: removes available units.
    pub(crate) fn shrink(&mut self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        if self.available < quantity {
            return Err(AdjustError::Shortfall {
                item,
                requested: quantity,
                available: self.available,
            });
        }
        self.available -= quantity;
        self.received -= quantity;
        Ok(())
    }
}

/// Checks a restock or shrink quantity, after the item was found (the order of
/// `Inventory`'s checks: unknown item first, then quantity).
pub(crate) fn check_adjustment(item: ItemId, quantity: i64) -> Result<(), AdjustError> {
    if !(1..=MAX_STOCK).contains(&quantity) {
        return Err(AdjustError::InvalidQuantity { item, quantity });
    }
    Ok(())
}

/// A live reservation.
#[derive(Debug)]
pub(crate) struct Record {
    /// The reservation's sequence number (see `ReservationId`).
    pub(crate) seq: u64,
    /// Nanoseconds since the engine's origin.
    pub(crate) deadline: u64,
    /// One line per item, ascending by item id.
    pub(crate) lines: Box<[Line]>,
}

/// How a reservation finished.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Outcome {
    Confirmed = 1,
    Released = 2,
    Expired = 3,
}

impl Outcome {
    /// The error an operation that needs a held reservation answers.
    pub(crate) fn error(self) -> ReservationError {
        match self {
            Outcome::Confirmed => ReservationError::Confirmed,
            Outcome::Released => ReservationError::Released,
            Outcome::Expired => ReservationError::Expired,
        }
    }

    pub(crate) fn state(self) -> ReservationState {
        match self {
            Outcome::Confirmed => ReservationState::Confirmed,
            Outcome::Released => ReservationState::Released,
            Outcome::Expired => ReservationState::Expired,
        }
    }
}

/// Which reservation an operation acts on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Id(ReservationId),
    Cart(CartId),
}

impl Target {
    pub(crate) fn cart(self) -> CartId {
        match self {
            Target::Id(id) => id.cart,
            Target::Cart(cart) => cart,
        }
    }
}

/// Outcomes of finished reservations, by reservation number modulo the length, as
/// `number << 2 | outcome` (0 when empty): the same bounded memory as `Inventory`'s rings.
#[derive(Debug)]
pub(crate) struct FinishedRing {
    slots: Box<[u64]>,
}

impl FinishedRing {
    /// A ring of at least `len` slots (a power of two).
    pub(crate) fn new(len: usize) -> Self {
        FinishedRing {
            slots: vec![0; len.max(1).next_power_of_two()].into_boxed_slice(),
        }
    }

    pub(crate) fn remember(&mut self, number: u64, outcome: Outcome) {
        let mask = self.slots.len() - 1;
        self.slots[number as usize & mask] = number << 2 | outcome as u64;
    }

    pub(crate) fn recall(&self, number: u64) -> Option<Outcome> {
        let value = self.slots[number as usize & (self.slots.len() - 1)];
        if value == 0 || value >> 2 != number {
            return None;
        }
        Some(match value & 3 {
            1 => Outcome::Confirmed,
            2 => Outcome::Released,
            _ => Outcome::Expired,
        })
    }
}

/// Hashes cart ids for the baselines' maps: the splitmix64 finalizer, so every bit of the
/// hash depends on every bit of the id. Like the lock-free registry's Fibonacci hashing it is
/// unkeyed (cart ids come from the order service, not from shoppers), and it costs a few
/// cycles where std's SipHash costs tens of nanoseconds: the baselines should not lose on a
/// hash function.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CartHash;

impl BuildHasher for CartHash {
    type Hasher = CartHasher;

    fn build_hasher(&self) -> CartHasher {
        CartHasher(0)
    }
}

/// The hasher of [`CartHash`].
#[derive(Debug)]
pub(crate) struct CartHasher(u64);

impl Hasher for CartHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `CartId` (which writes one u64); correct for anything else.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// splitmix64's finalizer.
#[inline]
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_forgets_only_what_was_overwritten() {
        let mut ring = FinishedRing::new(4);
        ring.remember(1, Outcome::Confirmed);
        ring.remember(2, Outcome::Expired);
        assert_eq!(ring.recall(1), Some(Outcome::Confirmed));
        assert_eq!(ring.recall(5), None, "a number never finished");
        ring.remember(5, Outcome::Released);
        assert_eq!(ring.recall(1), None, "overwritten by number 5");
        assert_eq!(ring.recall(5), Some(Outcome::Released));
        assert_eq!(ring.recall(2), Some(Outcome::Expired));
    }
}
