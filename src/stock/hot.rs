//! Hot items: stock split into per-shard escrow while it is plentiful, joined exactly into one
//! count when it runs low (the idea of Linux's `percpu_counter_limited_add`, perfbook's limit
//! counters and Doppel's phase reconciliation).
//!
//! One item, thousands of buyers: every take on one stock word is a compare-and-swap on one
//! cache line, which both cores fight over. A promoted item therefore keeps, beside its central
//! word, one cache-padded escrow word per shard, laid out like the central word (see
//! [`crate::stock::slot`]; the flag bit means FROZEN there). A thread takes from its own shard with an
//! uncontended compare-and-swap, and when the shard runs dry it *refills*: it moves a chunk
//! (`central / (2 × shards)`, at least what it needs) from the central word into its shard. The
//! chunk shrinks as stock runs low, so little stock is ever stranded in shards; when the central
//! word cannot refill, the take tries the other shards' escrow before anything is joined.
//!
//! # Exactness
//!
//! Splitting must not make shortfalls approximate: a take may answer "short" only if, at one
//! instant, the whole item (central word and every shard) had too little available and nothing
//! in flight. So a shortfall is decided only on a *joined* item:
//!
//! 1. *Join*: clear SPLIT on the central word (no refill starts after that), then freeze every
//!    shard (set FROZEN) and drain it: its units move to the central word, announced there first
//!    (in flight) so they are never invisible in transit.
//! 2. *Decide*: read every shard (each must be frozen, empty and quiet; otherwise help drain it,
//!    or wait for its in-flight operations), then the central word (still short, nothing in
//!    flight, not split), with the split *generation* unchanged across the reads. A frozen shard
//!    only ever shrinks (nothing deposits into it and nothing new starts on it: deposits,
//!    tentative takes and announcements check FROZEN in the same compare-and-swap), so what the
//!    shard reads showed still holds when the central word is read: that read is the instant.
//!    A split bumps the generation before it unfreezes anything, so a decision that overlapped
//!    a split notices and starts again.
//!
//! Units returned to a frozen shard (a compensation, a release) go to the central word instead,
//! and the shard's in-flight count drops only after they have arrived.
//!
//! The protocol is modelled in loom (`src/tests/loom_hot.rs`): split against join, a give-back
//! racing a drain, a shortfall decision racing a compensation.

use crate::stock::park::{self, WAITERS};
use crate::stock::word::{
    available, begin_in_flight, end_in_flight, give_back_in_flight, in_flight, is_delisted,
    try_take_word, Source, TakeMode, Taken, DELISTED, FLAG, IN_FLIGHT_ONE,
};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::shard;
use crossbeam_utils::CachePadded;

/// One shard's escrow.
#[derive(Debug)]
struct Cell {
    /// Stock word of the shard (flag bit: FROZEN).
    word: AtomicU64,
    /// Units sold through this shard (ledger only: a plain std atomic even under loom).
    sold: std::sync::atomic::AtomicI64,
}

/// A promoted item's per-shard stock.
#[derive(Debug)]
pub(crate) struct HotStock {
    cells: Box<[CachePadded<Cell>]>,
    /// Splits so far (see "Exactness").
    generation: AtomicU64,
}

/// What a shortfall check on a promoted item concluded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Decision {
    /// The item as a whole is short.
    Short,
    /// Something moved (a join, a drain, a wait): take again.
    Retry { waited: bool },
    /// A shard's operations in flight did not settle within the wait's bound: undecided.
    Busy,
}

impl HotStock {
    /// Shards frozen and empty: the item is not split until [`split`](HotStock::split).
    pub(crate) fn new(shards: usize) -> Self {
        HotStock {
            cells: (0..shards.max(1))
                .map(|_| {
                    CachePadded::new(Cell {
                        word: AtomicU64::new(FLAG),
                        sold: std::sync::atomic::AtomicI64::new(0),
                    })
                })
                .collect(),
            generation: AtomicU64::new(0),
        }
    }

    /// The current thread's shard.
    #[inline]
    fn my_shard(&self) -> usize {
        shard::thread_number() % self.cells.len()
    }

    /// A shard's stock word.
    #[inline]
    pub(crate) fn word(&self, shard: usize) -> &AtomicU64 {
        &self.cells[shard].word
    }

    /// Spreads stock: shards accept refills and the central word hands them out.
    pub(crate) fn split(&self, central: &AtomicU64) {
        // Relaxed: the bump reaches deciders through the Release of the unfreezing swaps and the
        // SPLIT `fetch_or` below (sequenced after it): a decider whose Acquire load of a shard or
        // of the central word sees either then reads this generation (or a later one) in
        // `decide_short`.
        self.generation.fetch_add(1, Ordering::Relaxed);
        for cell in self.cells.iter() {
            // Relaxed: the swap below validates the value, and skipping a shard read as unfrozen
            // or non-empty reads nothing further.
            let mut w = cell.word.load(Ordering::Relaxed);
            // Unfreeze only an empty shard: one with units is still being drained by a join.
            // Never a delisted one: the swap compares the whole word, mark included.
            while w & FLAG != 0 && available(w) == 0 && !is_delisted(w) {
                // AcqRel: Release publishes the generation bump above to a decider whose
                // Acquire shard load in `decide_short` sees the shard unfrozen. Acquire on
                // failure: the value decides whether to try again.
                match cell.word.compare_exchange_weak(
                    w,
                    w & !FLAG,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(actual) => w = actual,
                }
            }
        }
        // AcqRel: Release pairs with the Acquire loads of the central word in `refill` and
        // `decide_short`: refills that see SPLIT see the unfrozen shards, and a decider that
        // sees SPLIT (or any later value) sees the generation bump. Nothing is acquired.
        let previous = central.fetch_or(FLAG, Ordering::AcqRel);
        if previous & WAITERS != 0 {
            // Units may now come back to the open shards rather than to the central word, where
            // a waiting reserve armed after its shortfall watches for them: it tries again
            // (joining the item, if it is still short).
            park::wake(central);
        }
    }

    /// Takes from the current thread's shard, refilling it from the central word if needed.
    /// `None`: the shard is frozen or the central word cannot refill it; take centrally.
    #[inline]
    pub(crate) fn take_local(
        &self,
        central: &AtomicU64,
        quantity: i64,
        mode: TakeMode,
    ) -> Option<Taken> {
        self.take_at(self.my_shard(), central, quantity, mode)
    }

    /// [`take_local`](HotStock::take_local) on a given shard (the loom models pick shards).
    pub(crate) fn take_at(
        &self,
        shard: usize,
        central: &AtomicU64,
        quantity: i64,
        mode: TakeMode,
    ) -> Option<Taken> {
        let word = &self.cells[shard].word;
        let mut retries = 0;
        loop {
            match try_take_word(word, quantity, mode, |w| w & FLAG != 0) {
                Ok(r) => {
                    return Some(Taken {
                        retries: retries + r,
                        waited: false,
                        source: Source::shard(shard),
                    })
                }
                Err((seen, r)) => {
                    retries += r;
                    if seen & FLAG != 0 {
                        return None;
                    }
                    if !self.refill(central, word, quantity - available(seen)) {
                        return self.steal(shard, quantity, mode, retries);
                    }
                }
            }
        }
    }

    /// Takes from another shard's escrow when the own shard is dry and the central word cannot
    /// refill it: stock left in other shards is used before anything is joined.
    fn steal(
        &self,
        shard: usize,
        quantity: i64,
        mode: TakeMode,
        mut retries: u32,
    ) -> Option<Taken> {
        let shards = self.cells.len();
        for step in 1..shards {
            let victim = (shard + step) % shards;
            match try_take_word(&self.cells[victim].word, quantity, mode, |w| w & FLAG != 0) {
                Ok(r) => {
                    return Some(Taken {
                        retries: retries + r,
                        waited: false,
                        source: Source::shard(victim),
                    })
                }
                Err((_, r)) => retries += r,
            }
        }
        None
    }

    /// Moves a chunk of at least `need` units from the central word into a shard. Returns
    /// whether it did.
    fn refill(&self, central: &AtomicU64, shard_word: &AtomicU64, need: i64) -> bool {
        // Acquire: pairs with the Release of the central word's updates (SPLIT set in `split`,
        // give-backs); a refusal (not split, too little) is decided on this value alone.
        let mut c = central.load(Ordering::Acquire);
        let chunk = loop {
            // A delisted item hands out nothing (the swap below compares the mark too).
            if c & FLAG == 0 || is_delisted(c) || available(c) < need {
                return false;
            }
            let spread = available(c) / (2 * self.cells.len() as i64);
            let chunk = spread.max(need).min(available(c));
            // The chunk leaves `available` and is counted in flight on the central word until
            // it lands in the shard, so no decider can miss it. AcqRel as in `try_take_word`.
            match central.compare_exchange_weak(
                c,
                c - chunk as u64 + IN_FLIGHT_ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break chunk,
                Err(actual) => c = actual,
            }
        };
        // Acquire: pairs with the Release `fetch_or` of FROZEN in `freeze_and_drain`; a frozen
        // value sends the chunk back without a swap (any value is safe there: the central word
        // takes the chunk either way). Otherwise the swap below validates it.
        let mut w = shard_word.load(Ordering::Acquire);
        loop {
            if w & FLAG != 0 {
                // Frozen meanwhile (a join): the chunk goes back where it came from.
                give_back_in_flight(central, chunk);
                return false;
            }
            // AcqRel: Release pairs with the Acquire load in `try_take_word` of the shard's
            // takers (and `decide_short`), publishing the deposit after the central withdrawal
            // it follows; Acquire on failure: the value decides frozen-or-retry.
            match shard_word.compare_exchange_weak(
                w,
                w + chunk as u64,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(previous) => {
                    if previous & WAITERS != 0 {
                        park::wake(shard_word);
                    }
                    end_in_flight(central);
                    return true;
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// The exact path's check on a promoted item whose central word `seen` was short with
    /// nothing in flight (see "Exactness").
    pub(crate) fn decide_short(&self, central: &AtomicU64, seen: u64) -> Decision {
        if seen & FLAG != 0 {
            self.join(central);
            return Decision::Retry { waited: false };
        }
        // Acquire: pairs with the AcqRel increment in `split`; also keeps the shard and central
        // loads below after this one (the opening read of a seqlock-like validation).
        let generation = self.generation.load(Ordering::Acquire);
        for (shard, cell) in self.cells.iter().enumerate() {
            // Acquire: pairs with the Release of the shard's updates (`freeze_and_drain`'s
            // swap, the unfreezing in `split`, give-backs), as in `try_take_word`; being
            // Acquire, it also keeps the second generation load below after it.
            let w = cell.word.load(Ordering::Acquire);
            if w & FLAG == 0 || available(w) > 0 {
                self.freeze_and_drain(central, shard);
                return Decision::Retry { waited: false };
            }
            if in_flight(w) > 0 {
                return match park::wait_within_bound(&cell.word, w) {
                    Ok(_) => Decision::Retry { waited: true },
                    Err(park::Busy) => Decision::Busy,
                };
            }
        }
        // Acquire: pairs with the Release of the central word's updates (the `fetch_or` in
        // `split`, the drain's give-back), and keeps the generation load below after it. Every
        // shard was frozen, empty and quiet, and frozen shards only shrink; if the central word
        // still says what it said, this read is the instant at which the whole item was short.
        let now = central.load(Ordering::Acquire);
        // Acquire: pairs with the increment in `split` (a split that began since our first
        // read may have unfrozen a shard we read as frozen). The bump is seen if any load above
        // saw that split's unfreezing or SPLIT, both Release and sequenced after the bump.
        if now & !WAITERS != seen & !WAITERS
            || self.generation.load(Ordering::Acquire) != generation
        {
            return Decision::Retry { waited: false };
        }
        Decision::Short
    }

    /// Whether the central word `seen` (nothing in flight) held the whole item at one instant:
    /// every shard frozen, empty and quiet around that read (see "Exactness"). `false`:
    /// something moved (a join, a drain, a wait ran); read the central word again.
    pub(crate) fn settled(&self, central: &AtomicU64, seen: u64) -> bool {
        self.decide_short(central, seen) == Decision::Short
    }

    /// Freezes every shard for good (FROZEN and DELISTED) and drains it to the central word;
    /// called by `Slot::delist` before it marks the central word.
    pub(crate) fn delist(&self, central: &AtomicU64) {
        for shard in 0..self.cells.len() {
            self.seal_and_drain(central, shard, FLAG | DELISTED);
        }
    }

    /// Stops refills and moves every shard's units to the central word.
    pub(crate) fn join(&self, central: &AtomicU64) {
        // Relaxed: the swap below validates the value; a value without SPLIT skips to the
        // freezes, which are read-modify-writes (latest value) anyway.
        let mut c = central.load(Ordering::Relaxed);
        while c & FLAG != 0 {
            // AcqRel: Release pairs with the Acquire load in `refill` (a refill that sees SPLIT
            // clear starts nothing); Acquire on failure: the value decides whether to retry.
            match central.compare_exchange_weak(c, c & !FLAG, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(actual) => c = actual,
            }
        }
        for shard in 0..self.cells.len() {
            self.freeze_and_drain(central, shard);
        }
    }

    /// Freezes a shard and moves its units to the central word, announced there first.
    fn freeze_and_drain(&self, central: &AtomicU64, shard: usize) {
        self.seal_and_drain(central, shard, FLAG);
    }

    /// Sets `mark` (FROZEN, and DELISTED for a delisting) on a shard and drains it.
    fn seal_and_drain(&self, central: &AtomicU64, shard: usize, mark: u64) {
        let word = &self.cells[shard].word;
        // AcqRel: after this, every deposit, tentative take and announcement on the shard fails
        // (they compare the whole word, flag included). Release pairs with the Acquire shard
        // loads in `refill`, `give_back_to_shard`, `announce_local` and `decide_short`; Acquire
        // pairs with the Release of the shard's last deposits, so the drain moves their units.
        let mut w = word.fetch_or(mark, Ordering::AcqRel) | mark;
        while available(w) > 0 {
            let units = available(w);
            begin_in_flight(central);
            // AcqRel: as in `refill`'s deposit, in the other direction; its Release also carries
            // the central announcement above to a decider that Acquire-loads the emptied shard.
            // Acquire on failure: the value is the next attempt's units.
            match word.compare_exchange(w, w - units as u64, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    give_back_in_flight(central, units);
                    return;
                }
                Err(actual) => {
                    end_in_flight(central);
                    w = actual;
                }
            }
        }
    }

    /// Ends an in-flight operation at `shard` by returning `quantity` units there, or to the
    /// central word if the shard is frozen (then the shard's count drops after they arrive).
    pub(crate) fn give_back_to_shard(&self, central: &AtomicU64, shard: usize, quantity: i64) {
        let word = &self.cells[shard].word;
        // Relaxed: a frozen value sends the units to the central word (correct whatever the
        // shard does next), any other value is validated by the swap below.
        let mut w = word.load(Ordering::Relaxed);
        loop {
            if w & FLAG != 0 {
                crate::stock::word::add_available(central, quantity);
                end_in_flight(word);
                return;
            }
            // AcqRel: as in `give_back_in_flight` (Release pairs with the Acquire of the taker or
            // decider that reads this shard). Acquire on failure: the value decides the path.
            match word.compare_exchange_weak(
                w,
                (w + quantity as u64).wrapping_sub(IN_FLIGHT_ONE),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(previous) => {
                    if previous & WAITERS != 0 {
                        park::wake(word);
                    }
                    return;
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// Announces a finisher on the current thread's shard if it is not frozen.
    pub(crate) fn announce_local(&self) -> Option<Source> {
        let shard = self.my_shard();
        let word = &self.cells[shard].word;
        // Relaxed: a frozen value only moves the announcement to the central word, any other
        // value is validated by the swap below.
        let mut w = word.load(Ordering::Relaxed);
        loop {
            if w & FLAG != 0 {
                return None;
            }
            // Relaxed, both: as in `begin_in_flight`, the deciding swap's Release is what orders
            // the announcement; a failed swap's value only decides frozen-or-retry.
            match word.compare_exchange_weak(
                w,
                w + IN_FLIGHT_ONE,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Source::shard(shard)),
                Err(actual) => w = actual,
            }
        }
    }

    /// Records units sold on the current thread's shard.
    pub(crate) fn record_sold(&self, quantity: i64) {
        // Relaxed: ledger only; exact at quiescence.
        self.cells[self.my_shard()]
            .sold
            .fetch_add(quantity, std::sync::atomic::Ordering::Relaxed);
    }

    /// Units available in the shards.
    pub(crate) fn available(&self) -> i64 {
        self.cells
            .iter()
            // Acquire: pairs with the Release of the shard's updates, as in `Slot::available`.
            .map(|c| available(c.word.load(Ordering::Acquire)))
            .sum()
    }

    /// Units available in the shards, and the first shard with an operation in flight (its
    /// word and the value read), each shard's word read once.
    pub(crate) fn levels(&self) -> (i64, Option<(&AtomicU64, u64)>) {
        let mut units = 0;
        let mut busy = None;
        for cell in self.cells.iter() {
            // Acquire: pairs with the Release of the shard's updates, as in `available`; one
            // load per word, so a shard's units and its in-flight count are of one instant.
            let w = cell.word.load(Ordering::Acquire);
            units += available(w);
            if busy.is_none() && in_flight(w) > 0 {
                busy = Some((&cell.word, w));
            }
        }
        (units, busy)
    }

    /// Operations in flight in the shards.
    pub(crate) fn in_flight(&self) -> i64 {
        self.cells
            .iter()
            // Acquire: pairs with the Release of the shard's updates, as in `Slot::in_flight`.
            .map(|c| in_flight(c.word.load(Ordering::Acquire)))
            .sum()
    }

    /// Units sold through the shards.
    pub(crate) fn sold(&self) -> i64 {
        self.cells
            .iter()
            // Relaxed: ledger only, paired with nothing (see `record_sold`).
            .map(|c| c.sold.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }
}
