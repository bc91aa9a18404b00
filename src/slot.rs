//! One item's stock: the packed stock word and the protocol every take, commit and give-back
//! follows on it.
//!
//! # The stock word
//!
//! ```text
//!  63        62     61 ............ 32   31 ............ 0
//! [WAITERS][FLAG][ operations in flight ][    available    ]
//! ```
//!
//! * `available`: units anyone may take (32 bits; see "Bounds" below).
//! * `operations in flight`: how many unfinished operations may still put units of this item
//!   back into `available`: a multi-item take that took this line *tentatively* and may yet
//!   compensate, a reservation being published, or a release, expiry or cart update that has
//!   *announced* it may return units it holds. Each adds 1 before it can return units and
//!   removes its 1 in the same atomic operation that returns them (or withdraws it).
//! * `FLAG`: reserved for the hot-item protocol.
//! * `WAITERS`: a thread is parked on the word (see [`crate::park`]).
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
//! `available` holds up to 2^32 - 1 while the crate keeps stock at or below
//! [`MAX_STOCK`](crate::limits::MAX_STOCK) = 2^31 - 1: a compensation returning units on top of
//! a restock that happened meanwhile can push `available` past `MAX_STOCK` for the core
//! [`Stock`](crate::Stock) (whose restock bound cannot see units in flight), but never out of
//! its field. The reservation engine bounds everything on hand through its ledger instead, so
//! there `available <= MAX_STOCK` always.

use crate::limits::MAX_STOCK;
use crate::park::{self, WAITERS};
use crate::sync::atomic::{AtomicI64, AtomicU64, Ordering};

const AVAILABLE_MASK: u64 = 0xFFFF_FFFF;
const IN_FLIGHT_SHIFT: u32 = 32;
const IN_FLIGHT_ONE: u64 = 1 << IN_FLIGHT_SHIFT;
const IN_FLIGHT_MASK: u64 = ((1 << 30) - 1) << IN_FLIGHT_SHIFT;

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
pub(crate) enum Hold {
    /// The units leave the item for good (the last line of a plain take).
    Final,
    /// The take stays in flight until [`Slot::commit`] or [`Slot::give_back_tentative`].
    Tentative,
}

/// Outcome of a take on one slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Taken {
    /// Failed compare-and-swap attempts before the one that succeeded.
    pub(crate) retries: u32,
}

/// The take was refused: `available` units were available, with nothing in flight, when the
/// shortfall was decided.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Short {
    pub(crate) available: i64,
    pub(crate) retries: u32,
    /// Whether the decision had to wait for in-flight operations first.
    pub(crate) waited: bool,
}

/// One item's stock slot.
///
/// `received` and `sold` are the item's ledger: `received` = initial + restocked − shrunk,
/// `sold` = units of confirmed reservations. At quiescence,
/// `received = available + held + sold` (with nothing in flight).
#[derive(Debug)]
pub(crate) struct Slot {
    word: AtomicU64,
    received: AtomicI64,
    sold: AtomicI64,
}

impl Slot {
    pub(crate) fn new(initial: i64) -> Self {
        debug_assert!((0..=MAX_STOCK).contains(&initial));
        Slot {
            word: AtomicU64::new(initial as u64),
            received: AtomicI64::new(initial),
            sold: AtomicI64::new(0),
        }
    }

    /// Sets a freshly allocated, not yet published slot to `initial` units.
    pub(crate) fn reset(&self, initial: i64) {
        debug_assert!((0..=MAX_STOCK).contains(&initial));
        // Relaxed: the slot is not published yet; the catalog's Release store of its length
        // publishes these values.
        self.word.store(initial as u64, Ordering::Relaxed);
        self.received.store(initial, Ordering::Relaxed);
        self.sold.store(0, Ordering::Relaxed);
    }

    /// Takes `quantity` units, all or nothing, or decides exactly that there are not enough.
    ///
    /// `quantity` must be in `1..=MAX_STOCK` (validated by the caller).
    #[inline]
    pub(crate) fn take(&self, quantity: i64, hold: Hold) -> Result<Taken, Short> {
        debug_assert!((1..=MAX_STOCK).contains(&quantity));
        let q = quantity as u64;
        let in_flight_delta = match hold {
            Hold::Final => 0,
            Hold::Tentative => IN_FLIGHT_ONE,
        };
        let mut retries = 0;
        let mut waited = false;
        // Acquire: pairs with the AcqRel read-modify-writes below and in `commit` and the
        // give-backs; a decision taken on this value happens-after the operations it reflects.
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let avail = available(word);
            if avail >= quantity {
                // Cannot underflow (avail >= q); the in-flight count is bounded by the number
                // of running operations, far below its 30 bits.
                let new = (word - q) + in_flight_delta;
                // AcqRel on success: Acquire so that units given back by a release or expiry
                // are taken only after that release's state change is visible; Release so that
                // a later taker or decider reading this word sees what happened before this
                // take. Acquire on failure: the fresh value feeds the next decision.
                match self.word.compare_exchange_weak(
                    word,
                    new,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        debug_assert!(available(new) >= 0);
                        return Ok(Taken { retries });
                    }
                    Err(current) => {
                        word = current;
                        retries += 1;
                        continue;
                    }
                }
            }
            if in_flight(word) == 0 {
                return Err(Short {
                    available: avail,
                    retries,
                    waited,
                });
            }
            // Undecided: the answer depends on operations in flight. Wait for the word to move.
            waited = true;
            word = park::wait_for_change(&self.word, word);
        }
    }

    /// Ends an in-flight operation that returns nothing: a tentative take becomes held, or an
    /// announced finisher lost its race and withdraws.
    #[inline]
    pub(crate) fn commit(&self) {
        // AcqRel: Release publishes the operation's effects (a reservation record, a final
        // state) to a decider that Acquire-loads this word and sees the count drop.
        let previous = self.word.fetch_sub(IN_FLIGHT_ONE, Ordering::AcqRel);
        debug_assert!(in_flight(previous) >= 1);
        if previous & WAITERS != 0 {
            park::wake(&self.word);
        }
    }

    /// Announces an operation that may return held units of this item (a release, an expiry, a
    /// cart update dropping lines). Must come before the compare-and-swap that decides whether
    /// it does, and be resolved by [`give_back_tentative`](Slot::give_back_tentative) (it won)
    /// or [`commit`](Slot::commit) (it did not).
    #[inline]
    pub(crate) fn announce(&self) {
        // AcqRel: the Release half orders the announcement before the deciding
        // compare-and-swap that follows it in program order (a thread that observes that
        // decision and then reads this word sees the announcement); nothing is acquired.
        self.word.fetch_add(IN_FLIGHT_ONE, Ordering::AcqRel);
    }

    /// Ends an in-flight operation by returning `quantity` units: +`quantity` available, -1 in
    /// flight, in one addition (a compensation, or an announced finisher that won).
    #[inline]
    pub(crate) fn give_back_tentative(&self, quantity: i64) {
        let q = quantity as u64;
        // The count is >= 1, so the high half does not borrow; `available` has a spare bit
        // (see "Bounds"), so the low half does not carry.
        let delta = q.wrapping_sub(IN_FLIGHT_ONE);
        // AcqRel: as in `commit`; the Release half also orders this give-back before any take
        // that consumes the units.
        let previous = self.word.fetch_add(delta, Ordering::AcqRel);
        debug_assert!(in_flight(previous) >= 1);
        if previous & WAITERS != 0 {
            park::wake(&self.word);
        }
    }

    /// Returns `quantity` held (committed) units to available. The caller guarantees they were
    /// taken from this slot and are given back once.
    #[inline]
    pub(crate) fn give_back_held(&self, quantity: i64) {
        // AcqRel: Release orders the giver's state transition (release, expiry) before a take
        // that Acquires these units; the Acquire half keeps the wake-up check below ordered.
        let previous = self.word.fetch_add(quantity as u64, Ordering::AcqRel);
        debug_assert!(available(previous) + quantity <= AVAILABLE_MASK as i64);
        if previous & WAITERS != 0 {
            park::wake(&self.word);
        }
    }

    /// Adds `quantity` units to available if `available + quantity` stays within `MAX_STOCK`;
    /// otherwise returns the units available.
    pub(crate) fn add_checked(&self, quantity: i64) -> Result<(), i64> {
        // Relaxed: only a starting guess for the compare-and-swap, which validates it.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let on_hand = available(word);
            if on_hand + quantity > MAX_STOCK {
                return Err(on_hand);
            }
            // AcqRel/Acquire: as in `give_back_held`.
            match self.word.compare_exchange_weak(
                word,
                word + quantity as u64,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(previous) => {
                    if previous & WAITERS != 0 {
                        park::wake(&self.word);
                    }
                    return Ok(());
                }
                Err(current) => word = current,
            }
        }
    }

    /// The raw stock word (for snapshots and audits).
    pub(crate) fn word(&self) -> u64 {
        // Acquire: a snapshot taken after a completed operation reflects it.
        self.word.load(Ordering::Acquire)
    }

    /// Records `quantity` units as received, once they are already in the word.
    pub(crate) fn record_received(&self, quantity: i64) {
        // Relaxed: ledger only (see `received`).
        self.received.fetch_add(quantity, Ordering::Relaxed);
    }

    /// Records `quantity` units removed by a shrink that already took them from available.
    pub(crate) fn unreceive(&self, quantity: i64) {
        // Relaxed: ledger only (see `received`).
        self.received.fetch_sub(quantity, Ordering::Relaxed);
    }

    /// Units received (initial + restocked - shrunk).
    pub(crate) fn received(&self) -> i64 {
        // Relaxed: a ledger figure; exact at quiescence, where thread joins order everything.
        self.received.load(Ordering::Relaxed)
    }

    /// Units sold.
    pub(crate) fn sold(&self) -> i64 {
        // Relaxed: as `received`.
        self.sold.load(Ordering::Relaxed)
    }

    /// Records `quantity` held units as sold.
    pub(crate) fn record_sold(&self, quantity: i64) {
        // Relaxed: ledger only (see `received`).
        self.sold.fetch_add(quantity, Ordering::Relaxed);
    }

    /// Reserves room for `quantity` more units in the ledger and records them as received:
    /// `received - sold + quantity` must stay within `MAX_STOCK`. Used by the reservation
    /// engine, where `received - sold` bounds everything on hand (available, in flight and
    /// held), so no later give-back of a held unit can overflow the word.
    pub(crate) fn receive_within_bound(&self, quantity: i64) -> Result<(), i64> {
        // Relaxed: the compare-and-swap on `received` serializes restocks; `sold` only grows,
        // so reading it late can only make the bound stricter than needed, never looser.
        let mut received = self.received.load(Ordering::Relaxed);
        loop {
            let on_hand = received - self.sold.load(Ordering::Relaxed);
            if on_hand + quantity > MAX_STOCK {
                return Err(on_hand);
            }
            match self.received.compare_exchange_weak(
                received,
                received + quantity,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => received = current,
            }
        }
    }
}
