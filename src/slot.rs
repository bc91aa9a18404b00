//! One item's stock: the packed stock word and the protocol every take, commit and give-back
//! follows on it.
//!
//! # The stock word
//!
//! ```text
//!  63       62 ........ 32   31     30 ........ 0
//! [WAITERS][  in flight   ][FLAG][  available   ]
//! ```
//!
//! * `available`: units anyone may take.
//! * `in flight`: units taken *tentatively* by requests that have not finished yet (a
//!   multi-item take still working through its lines, a reservation not yet published). Such
//!   units will either be committed (they become held) or given back.
//! * `FLAG`: reserved for the hot-item protocol.
//! * `WAITERS`: a thread is parked on the word (see [`crate::park`]).
//!
//! Both counts live in one word so that a take moves units from `available` to `in flight` in
//! a single compare-and-swap. That is what makes an exact shortfall possible: a take answers
//! "short" only when `available + in flight < requested`, that is, when even if every in-flight
//! request gave its units back there would not be enough. When `available < requested <=
//! available + in flight`, the answer depends on requests still running, so the take waits for
//! one of them to resolve (it never waits on a request that waits on it: requests take items in
//! ascending id order, so waits only ever point to higher ids).
//!
//! Invariants, for every word: `available + in flight <= MAX_STOCK`, so neither count can carry
//! into the flag bits; `in flight` only grows by a take and only shrinks by the commit or
//! give-back of that same take.

use crate::limits::MAX_STOCK;
use crate::park::{self, WAITERS};
use crate::sync::atomic::{AtomicI64, AtomicU64, Ordering};

const AVAILABLE_MASK: u64 = MAX_STOCK as u64;
const IN_FLIGHT_SHIFT: u32 = 32;
const IN_FLIGHT_MASK: u64 = (MAX_STOCK as u64) << IN_FLIGHT_SHIFT;

/// Units available in a stock word.
#[inline]
pub(crate) const fn available(word: u64) -> i64 {
    (word & AVAILABLE_MASK) as i64
}

/// Units in flight in a stock word.
#[inline]
pub(crate) const fn in_flight(word: u64) -> i64 {
    ((word & IN_FLIGHT_MASK) >> IN_FLIGHT_SHIFT) as i64
}

/// Whether a take is final or tentative.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hold {
    /// The units leave the item for good (the last line of a plain take).
    Final,
    /// The units are counted in flight until [`Slot::commit`] or [`Slot::give_back_tentative`].
    Tentative,
}

/// Outcome of a take on one slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Taken {
    /// Failed compare-and-swap attempts before the one that succeeded.
    pub(crate) retries: u32,
}

/// The take was refused: `available` units were available (counting none of the in-flight
/// ones) when the shortfall was decided.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Short {
    pub(crate) available: i64,
    pub(crate) retries: u32,
    /// Whether the decision had to wait for in-flight requests first.
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
            Hold::Tentative => q << IN_FLIGHT_SHIFT,
        };
        let mut retries = 0;
        let mut waited = false;
        // Acquire: pairs with the AcqRel read-modify-writes below and in `commit` and the
        // give-backs; a decision taken on this value happens-after the operations it reflects.
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let avail = available(word);
            if avail >= quantity {
                // Cannot underflow (avail >= q) or overflow (in flight + q <= available +
                // in flight <= MAX_STOCK before the move).
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
            if avail + in_flight(word) < quantity {
                return Err(Short {
                    available: avail,
                    retries,
                    waited,
                });
            }
            // Undecided: the answer depends on in-flight requests. Wait for the word to move.
            waited = true;
            word = park::wait_for_change(&self.word, word);
        }
    }

    /// Turns `quantity` tentatively taken units into held ones: they leave the in-flight count.
    #[inline]
    pub(crate) fn commit(&self, quantity: i64) {
        let q = quantity as u64;
        // AcqRel: Release publishes the committing request's effects (its reservation record)
        // to a decider that Acquire-loads this word and sees the in-flight count drop.
        let previous = self.word.fetch_sub(q << IN_FLIGHT_SHIFT, Ordering::AcqRel);
        debug_assert!(in_flight(previous) >= quantity);
        if previous & WAITERS != 0 {
            park::wake(&self.word);
        }
    }

    /// Gives back `quantity` tentatively taken units: they move from in flight to available.
    #[inline]
    pub(crate) fn give_back_tentative(&self, quantity: i64) {
        let q = quantity as u64;
        // One addition moves the units: +q available, -q in flight. In flight >= q, so the
        // high half does not borrow; available + q <= MAX_STOCK, so the low half does not carry.
        let delta = q.wrapping_sub(q << IN_FLIGHT_SHIFT);
        // AcqRel: as in `commit`; the Release half also orders this give-back before any take
        // that consumes the units.
        let previous = self.word.fetch_add(delta, Ordering::AcqRel);
        debug_assert!(in_flight(previous) >= quantity);
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
        debug_assert!(available(previous) + in_flight(previous) + quantity <= MAX_STOCK);
        if previous & WAITERS != 0 {
            park::wake(&self.word);
        }
    }

    /// Adds `quantity` units to available if `available + in flight + quantity` stays within
    /// `MAX_STOCK`; otherwise returns the units on hand in the word.
    pub(crate) fn add_checked(&self, quantity: i64) -> Result<(), i64> {
        // Relaxed: only a starting guess for the compare-and-swap, which validates it.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let on_hand = available(word) + in_flight(word);
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
