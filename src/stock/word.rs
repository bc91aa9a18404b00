//! The stock word: its bit layout and the primitives every take, commit and give-back
//! performs on it, on an item's central word and on a hot item's escrow words alike.
//!
//! # The stock word
//!
//! ```text
//!  63        62       61      60 ............ 32   31 ............ 0
//! [WAITERS][FLAG][DELISTED][ operations in flight ][    available    ]
//! ```
//!
//! * `available`: units anyone may take (32 bits, bits 0-31; see "Bounds" below).
//! * `operations in flight`: how many unfinished operations may still put units of this item
//!   back into `available`: a multi-item take that took this line *tentatively* and may yet
//!   compensate, a reservation being published, or a release, expiry or cart update that has
//!   *announced* it may return units it holds. Each adds 1 before it can return units and
//!   removes its 1 in the same atomic operation that returns them (or withdraws it). 29 bits
//!   (bits 32-60): the count is bounded by the number of running threads.
//! * `DELISTED`: the item takes no new units out (see "Delisting"); set once, never cleared.
//! * `FLAG`: on an item's central word, SPLIT (its stock is spread over per-shard words, see
//!   [`crate::stock::hot`]); on a shard word, FROZEN (the shard takes no stock in).
//! * `WAITERS`: a thread is parked on the word (see [`crate::stock::park`]), or a waiting
//!   reserve at the head of the item's queue wants to hear of units arriving (see
//!   [`crate::stock::waitlist`]).
//!
//! # Exact shortfalls
//!
//! A take answers "short" only from a word whose in-flight count is zero: then every unit of
//! the item is either available or held by a reservation that will stay held, at the instant
//! of that read. When `available < requested` but operations are in flight, the answer depends
//! on them, so the take waits for the word to change (spinning briefly, then parking). It never
//! waits on an operation that waits on it: a take only waits while holding tentative units of
//! lower items, and in-flight operations on an item never wait on anything of a lower item
//! (takes go in ascending item order; finishers and publishers do not wait at all).
//!
//! Counting operations rather than units means racing finishers of the same reservation can
//! each announce without the count ever overflowing (it is bounded by the number of running
//! threads), at the price of a decider sometimes waiting for an operation whose units would not
//! have sufficed anyway.
//!
//! # Bounds
//!
//! Everything that can come back to an item, its available units plus the units operations in
//! flight took tentatively, stays at or below [`MAX_STOCK`](crate::limits::MAX_STOCK) = 2^31 - 1,
//! so no give-back can carry out of the 32-bit `available` field (the spare bit is headroom,
//! not capacity). Every addition is bounded so: the core [`Stock`](crate::Stock)'s restocks
//! and give-backs through [`Slot::add_checked`], which decides only on a word with nothing in
//! flight (the word counts operations, not their units), and the reservation engine's restocks
//! through its ledger ([`Slot::receive_within_bound`]: `received - sold` counts available,
//! in-flight and held units together).

use crate::limits::MAX_STOCK;
use crate::stock::park::{self, WAITERS};
use crate::sync::atomic::{AtomicU64, Ordering};

const AVAILABLE_MASK: u64 = 0xFFFF_FFFF;
const IN_FLIGHT_SHIFT: u32 = 32;
/// One operation in flight.
pub(crate) const IN_FLIGHT_ONE: u64 = 1 << IN_FLIGHT_SHIFT;
const IN_FLIGHT_MASK: u64 = ((1 << 29) - 1) << IN_FLIGHT_SHIFT;
/// The item is delisted (on a central word; on a shard word, with FLAG: frozen for good).
pub(crate) const DELISTED: u64 = 1 << 61;
/// SPLIT on a central word, FROZEN on a shard word.
pub(crate) const FLAG: u64 = 1 << 62;

// The layout's fields do not overlap, and `MAX_STOCK` (everything that can come back to an
// item) fits the available field with a spare bit, so a give-back never carries into the
// in-flight count.
const _: () = {
    assert!(AVAILABLE_MASK & IN_FLIGHT_MASK == 0);
    assert!((AVAILABLE_MASK | IN_FLIGHT_MASK) & (DELISTED | FLAG | WAITERS) == 0);
    assert!(DELISTED & FLAG == 0 && (DELISTED | FLAG) & WAITERS == 0);
    assert!(2 * MAX_STOCK as u64 <= AVAILABLE_MASK + 1);
};

/// Units available in a stock word.
#[inline]
pub(crate) const fn available(word: u64) -> i64 {
    (word & AVAILABLE_MASK) as i64
}

/// Operations in flight in a stock word.
#[inline]
pub(crate) const fn in_flight(word: u64) -> i64 {
    ((word & IN_FLIGHT_MASK) >> IN_FLIGHT_SHIFT) as i64
}

/// Whether a take is final or tentative.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TakeMode {
    /// The units leave the item for good (the last line of a plain take).
    Final,
    /// The take stays in flight until [`Slot::commit`](crate::stock::slot::Slot::commit) or [`Slot::give_back_tentative`](crate::stock::slot::Slot::give_back_tentative).
    Tentative,
}

impl TakeMode {
    /// What a take adds to the in-flight count.
    #[inline]
    pub(crate) const fn in_flight_delta(self) -> u64 {
        match self {
            TakeMode::Final => 0,
            TakeMode::Tentative => IN_FLIGHT_ONE,
        }
    }
}

/// Which word of an item an operation used: the central word, or a shard's escrow word.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Source(u16);

impl Source {
    pub(crate) const CENTRAL: Source = Source(0);

    pub(crate) const fn shard(index: usize) -> Source {
        Source(index as u16 + 1)
    }

    pub(crate) const fn shard_index(self) -> Option<usize> {
        match self.0 {
            0 => None,
            n => Some(n as usize - 1),
        }
    }
}

/// Outcome of a take on one slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Taken {
    /// Failed compare-and-swap attempts before the one that succeeded.
    pub(crate) retries: u32,
    /// Whether the take waited for in-flight operations first.
    pub(crate) waited: bool,
    /// Where the units came from (where a tentative take must be committed or returned).
    pub(crate) source: Source,
}

/// The take was refused: `available` units were available, with nothing in flight, when the
/// shortfall was decided.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Short {
    pub(crate) available: i64,
    /// Refused because the item is delisted, not for want of units.
    pub(crate) delisted: bool,
    /// Not decided: operations in flight did not settle within the wait's bound (see
    /// `park::bounded`); `available` is what the word held meanwhile.
    pub(crate) busy: bool,
    pub(crate) retries: u32,
    /// Whether the decision had to wait for in-flight operations first.
    pub(crate) waited: bool,
}

/// Takes `quantity` from `word` if its `available` allows, in one compare-and-swap loop.
/// Returns the word that refused (too little available) otherwise, with the failed attempts.
/// `refuse` may also veto a word (a frozen shard).
#[inline]
pub(crate) fn try_take_word(
    word: &AtomicU64,
    quantity: i64,
    mode: TakeMode,
    refuse: impl Fn(u64) -> bool,
) -> Result<u32, (u64, u32)> {
    let delta = mode.in_flight_delta();
    let mut retries = 0;
    // Acquire: pairs with the Release half of the read-modify-writes that change stock words
    // (`give_back_in_flight`, `end_in_flight`, `add_available`, other takes); a shortfall decided
    // on this value happens-after the state changes and give-backs it reflects.
    let mut current = word.load(Ordering::Acquire);
    loop {
        if refuse(current) || available(current) < quantity {
            return Err((current, retries));
        }
        // Cannot underflow (available >= quantity); the in-flight count is bounded by the
        // number of running operations, far below its 29 bits.
        let new = current - quantity as u64 + delta;
        // AcqRel on success: Acquire pairs with the Release of the give-back that put the units
        // here (`give_back_in_flight`, `add_available`), so they are taken only after the
        // giver's state change is visible; Release pairs with the Acquire load above in the
        // next taker or decider, which then sees what preceded this take. Acquire on failure:
        // the fresh value feeds the next decision (possibly a shortfall), as the load above.
        match word.compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(retries),
            Err(actual) => {
                current = actual;
                retries += 1;
            }
        }
    }
}

/// Whether a stock word carries the DELISTED mark (the take's veto on a central word).
#[inline(always)]
pub(crate) fn is_delisted(word: u64) -> bool {
    word & DELISTED != 0
}

/// Ends an in-flight operation on `word` that returns nothing (a commit, a withdrawal).
#[inline]
pub(crate) fn end_in_flight(word: &AtomicU64) {
    // Release: publishes the operation's effects (a reservation record, a final state) to a
    // decider whose Acquire load in `try_take_word`/`wait_for_change` sees the count drop.
    // Nothing is acquired: WAITERS is read from the returned value, the latest in any case.
    let previous = word.fetch_sub(IN_FLIGHT_ONE, Ordering::Release);
    debug_assert!(in_flight(previous) >= 1);
    if previous & WAITERS != 0 {
        park::wake(word);
    }
}

/// Ends an in-flight operation on `word` by returning `quantity` units: +`quantity`
/// available, -1 in flight, in one addition.
#[inline]
pub(crate) fn give_back_in_flight(word: &AtomicU64, quantity: i64) {
    // The count is >= 1, so the high half does not borrow; available units plus the units in
    // flight stay within `MAX_STOCK` < 2^32 (see "Bounds"), so the low half does not carry.
    let delta = (quantity as u64).wrapping_sub(IN_FLIGHT_ONE);
    // Release: as in `end_in_flight`; it also pairs with the Acquire of the take
    // (`try_take_word`) that consumes the units, so that take sees the giver's state change.
    let previous = word.fetch_add(delta, Ordering::Release);
    debug_assert!(in_flight(previous) >= 1);
    debug_assert!(available(previous) + quantity <= MAX_STOCK);
    if previous & WAITERS != 0 {
        park::wake(word);
    }
}

/// Adds `quantity` units to `word`'s available count (no in-flight change).
#[inline]
pub(crate) fn add_available(word: &AtomicU64, quantity: i64) {
    // Release: pairs with the Acquire of the take (`try_take_word`) that consumes these units,
    // so it sees the giver's state transition. Nothing is acquired (WAITERS is read from the
    // returned value).
    let previous = word.fetch_add(quantity as u64, Ordering::Release);
    debug_assert!(available(previous) + quantity <= AVAILABLE_MASK as i64);
    if previous & WAITERS != 0 {
        park::wake(word);
    }
}

/// Adds one operation in flight to `word`.
#[inline]
pub(crate) fn begin_in_flight(word: &AtomicU64) {
    // Relaxed: what orders the announcement before the deciding compare-and-swap that follows
    // it is that swap's own Release (`Entry::finish`/`replace`; `freeze_and_drain`'s shard
    // swap): a thread that Acquires the decision and then reads this word sees the
    // announcement (or its resolution). A Release here would order only what came *before*
    // the announcement.
    word.fetch_add(IN_FLIGHT_ONE, Ordering::Relaxed);
}
