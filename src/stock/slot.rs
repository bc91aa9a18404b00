//! One item's stock slot: its stock word (laid out in [`crate::stock::word`]), its ledger, and
//! the operations on them: take, commit, give back, delist, set a level, promote a hot item.
//!
//! # Delisting
//!
//! A delisted item refuses every take: the take's compare-and-swap compares the whole word, so
//! a take either completed before the bit was set or sees it and is refused. Units held before
//! go on as usual (confirmed, released, expired; released units return to `available`, where
//! nothing can take them). A promoted item's shard words are frozen and marked DELISTED
//! *before* the central word is (so every successful shard take precedes the delisting, and
//! a split, which unfreezes only shards without the mark, can never reopen one); refills refuse
//! a delisted central word. [`Slot::delist`] then waits until nothing is in flight on the item,
//! so that when it returns every take that began before it has committed or given back.
//!
//! # Absolute levels
//!
//! [`Slot::set_available`] compares and sets the available units as a whole: on a word with
//! nothing in flight (and, for a promoted item, with every shard frozen, empty and quiet: the
//! same instant a shortfall is decided at), so that neither the comparison nor the new level
//! is disturbed by units a take in flight may still give back.
//!
//! # Hot items
//!
//!
//! A contended item is *promoted*: it gets per-shard escrow words (see [`crate::stock::hot`]), each
//! with the same layout, and every operation here then goes through the thread's shard first.
//! A line remembers where it was taken ([`Source`]) so that its commit or compensation lands on
//! the same word.
//!
use crate::limits::MAX_STOCK;
use crate::stock::hot::HotStock;
use crate::stock::park::{self, WAITERS};
use crate::stock::word::{
    add_available, available, begin_in_flight, end_in_flight, give_back_in_flight, in_flight,
    is_delisted, try_take_word, Short, Source, TakeMode, Taken, DELISTED,
};
use crate::sync::atomic::{AtomicI64, AtomicPtr, AtomicU64, Ordering};

/// Failed compare-and-swaps on an item's central word after which the item is promoted to
/// per-shard stock (if it has enough stock to spread).
const PROMOTE_AFTER_RETRIES: u32 = 64;

/// Why [`Slot::set_available`] changed nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum LevelRefused {
    /// The available units, with nothing in flight, were `actual`.
    Mismatch { actual: i64 },
    /// The item is delisted.
    Delisted,
}

/// One item's stock slot.
///
/// `received` and `sold` are the item's ledger: `received` = initial + restocked − shrunk,
/// `sold` = units of confirmed reservations (plus the per-shard sold counters of a promoted
/// item). At quiescence, `received = available + held + sold`.
#[derive(Debug)]
pub(crate) struct Slot {
    word: AtomicU64,
    received: AtomicI64,
    sold: AtomicI64,
    /// Per-shard stock, once the item is promoted; set once, freed with the slot.
    hot: AtomicPtr<HotStock>,
    /// Failed compare-and-swaps on the central word since the last promotion (a plain std
    /// atomic even under loom: a heuristic, it orders nothing).
    contention: std::sync::atomic::AtomicU32,
}

impl Slot {
    pub(crate) fn new(initial: i64) -> Self {
        debug_assert!((0..=MAX_STOCK).contains(&initial));
        Slot {
            word: AtomicU64::new(initial as u64),
            received: AtomicI64::new(initial),
            sold: AtomicI64::new(0),
            hot: AtomicPtr::new(std::ptr::null_mut()),
            contention: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Sets a freshly allocated, not yet published slot to `initial` units.
    pub(crate) fn reset(&self, initial: i64) {
        debug_assert!((0..=MAX_STOCK).contains(&initial));
        // Relaxed: the slot is not published yet; the Release store of the length in
        // `Segmented::push` publishes these values to the Acquire load in `Segmented::len`.
        self.word.store(initial as u64, Ordering::Relaxed);
        self.received.store(initial, Ordering::Relaxed);
        self.sold.store(0, Ordering::Relaxed);
    }

    /// The item's central word (for the loom models of the hot-item protocol).
    #[cfg(all(test, loom))]
    pub(crate) fn central(&self) -> &AtomicU64 {
        &self.word
    }

    /// The key of the item's queue of waiting reserves (see [`crate::stock::waitlist`]): the
    /// address of its central word, which never moves while the slot lives.
    pub(crate) fn wait_key(&self) -> usize {
        &self.word as *const AtomicU64 as usize
    }

    /// Arms the item's central word for the head of its queue of waiting reserves (see
    /// [`crate::stock::waitlist::arm`]). Units arriving after a shortfall was decided arrive
    /// there: a decided shortfall leaves a promoted item's shards frozen and empty, and a split
    /// that opens them again wakes the armed word's waiters itself (as a delisting does).
    pub(crate) fn arm_waiter(&self) {
        crate::stock::waitlist::arm(&self.word);
    }

    /// The item's per-shard stock, if it was promoted.
    #[inline]
    pub(crate) fn hot(&self) -> Option<&HotStock> {
        // Acquire: pairs with the Release compare-and-swap in `promote`, so the shard words
        // are initialized before they are used.
        let hot = self.hot.load(Ordering::Acquire);
        // SAFETY: a non-null pointer was created by `Box::into_raw` in `promote`, is never
        // changed again and is freed only in `Drop`, which has `&mut self`.
        unsafe { hot.as_ref() }
    }

    /// Takes `quantity` units, all or nothing, or decides exactly that there are not enough.
    /// `shards` is the engine's shard count (used if the item gets promoted).
    ///
    /// `quantity` must be in `1..=MAX_STOCK` (validated by the caller).
    #[inline(always)]
    pub(crate) fn take(
        &self,
        quantity: i64,
        mode: TakeMode,
        shards: usize,
    ) -> Result<Taken, Short> {
        debug_assert!((1..=MAX_STOCK).contains(&quantity));
        if let Some(hot) = self.hot() {
            if let Some(taken) = hot.take_local(&self.word, quantity, mode) {
                return Ok(taken);
            }
        }
        // The common case inline: enough stock on the central word, taken at the first try.
        // Anything else (contention, too little stock, waiting, delisted) goes the whole way.
        match try_take_word(&self.word, quantity, mode, is_delisted) {
            Ok(retries) => {
                if retries > 0 {
                    self.note_contention(retries, shards);
                }
                Ok(Taken {
                    retries,
                    waited: false,
                    source: Source::CENTRAL,
                })
            }
            Err(_) => self.take_central(quantity, mode, shards),
        }
    }

    /// The exact path: the central word, and for a promoted item, the join of every shard
    /// before any shortfall is decided.
    #[inline(never)]
    fn take_central(&self, quantity: i64, mode: TakeMode, shards: usize) -> Result<Taken, Short> {
        let mut retries = 0u32;
        let mut waited = false;
        loop {
            let word = match try_take_word(&self.word, quantity, mode, is_delisted) {
                Ok(r) => {
                    retries += r;
                    if r > 0 {
                        self.note_contention(r, shards);
                    }
                    return Ok(Taken {
                        retries,
                        waited,
                        source: Source::CENTRAL,
                    });
                }
                Err((word, r)) => {
                    retries += r;
                    word
                }
            };
            if is_delisted(word) {
                return Err(Short {
                    available: available(word),
                    delisted: true,
                    busy: false,
                    retries,
                    waited,
                });
            }
            if in_flight(word) > 0 {
                // Undecided: the answer depends on operations in flight. Wait for a change,
                // within the operation's bound if it has one.
                waited = true;
                if park::wait_within_bound(&self.word, word).is_err() {
                    return Err(Short {
                        available: available(word),
                        delisted: false,
                        busy: true,
                        retries,
                        waited,
                    });
                }
                continue;
            }
            let Some(hot) = self.hot() else {
                return Err(Short {
                    available: available(word),
                    delisted: false,
                    busy: false,
                    retries,
                    waited,
                });
            };
            // A promoted item's units may sit in shards: only a joined item, with every shard
            // frozen, empty and quiet, can be short.
            match hot.decide_short(&self.word, word) {
                crate::stock::hot::Decision::Short => {
                    return Err(Short {
                        available: available(word),
                        delisted: false,
                        busy: false,
                        retries,
                        waited,
                    })
                }
                crate::stock::hot::Decision::Retry { waited: w } => waited |= w,
                crate::stock::hot::Decision::Busy => {
                    return Err(Short {
                        available: available(word),
                        delisted: false,
                        busy: true,
                        retries,
                        waited: true,
                    })
                }
            }
        }
    }

    /// Counts contention on the central word; promotes the item once it is clearly hot and
    /// has enough stock to spread.
    #[cold]
    fn note_contention(&self, retries: u32, shards: usize) {
        // Relaxed: a heuristic counter (see the field).
        let seen = self
            .contention
            .fetch_add(retries, std::sync::atomic::Ordering::Relaxed);
        if seen + retries >= PROMOTE_AFTER_RETRIES && shards > 1 {
            self.contention
                .store(0, std::sync::atomic::Ordering::Relaxed);
            self.promote(shards);
        }
    }

    /// Spreads the item's stock over per-shard escrow words (allocating them the first time).
    /// A delisted item's shards stay frozen (see "Delisting").
    pub(crate) fn promote(&self, shards: usize) {
        let hot = self.hot_or_install(shards);
        if !self.is_delisted() {
            hot.split(&self.word);
        }
    }

    /// The item's per-shard stock, allocated (all shards frozen) if it has none yet.
    fn hot_or_install(&self, shards: usize) -> &HotStock {
        match self.hot() {
            Some(hot) => hot,
            None => {
                let fresh = Box::into_raw(Box::new(HotStock::new(shards)));
                // Release on success: publishes the initialized shards to `hot()`'s Acquire
                // load (the value replaced is null: nothing to acquire). Relaxed on failure:
                // `hot()` below Acquire-loads the winner's pointer again.
                match self.hot.compare_exchange(
                    std::ptr::null_mut(),
                    fresh,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {}
                    Err(_) => {
                        // SAFETY: `fresh` came from `Box::into_raw` just above and was never
                        // shared (the compare-and-swap failed).
                        drop(unsafe { Box::from_raw(fresh) });
                    }
                }
                self.hot().expect("published just above")
            }
        }
    }

    /// Commits a tentative take made at `source`: the operation leaves the in-flight count.
    #[inline]
    pub(crate) fn commit(&self, source: Source) {
        match source.shard_index().zip(self.hot()) {
            Some((shard, hot)) => end_in_flight(hot.word(shard)),
            None => end_in_flight(&self.word),
        }
    }

    /// Ends an in-flight operation at `source` by returning `quantity` units (a compensation,
    /// or an announced finisher that won its race). A frozen shard sends them to the central
    /// word instead.
    #[inline]
    pub(crate) fn give_back_tentative(&self, quantity: i64, source: Source) {
        match source.shard_index().zip(self.hot()) {
            Some((shard, hot)) => hot.give_back_to_shard(&self.word, shard, quantity),
            None => give_back_in_flight(&self.word, quantity),
        }
    }

    /// Announces an operation that may return held units of this item (a release, an expiry, a
    /// cart update dropping lines), on the word the units would go back to. Must come before
    /// the compare-and-swap that decides whether it does, and be resolved at the returned
    /// source by [`give_back_tentative`](Slot::give_back_tentative) (it won) or
    /// [`commit`](Slot::commit) (it did not).
    #[inline]
    pub(crate) fn announce(&self) -> Source {
        if let Some(hot) = self.hot() {
            if let Some(source) = hot.announce_local() {
                return source;
            }
        }
        begin_in_flight(&self.word);
        Source::CENTRAL
    }

    /// Returns `quantity` units to available outside any in-flight operation (a restock, the
    /// last line of an abandoned plain take).
    #[inline]
    pub(crate) fn give_back_held(&self, quantity: i64) {
        add_available(&self.word, quantity);
    }

    /// Adds `quantity` units (`1..=MAX_STOCK`) to available if everything that can come back
    /// to the item, available units and units taken tentatively by operations in flight,
    /// stays within `MAX_STOCK` with them; otherwise returns the units available and changes
    /// nothing.
    ///
    /// The word counts operations in flight, not their units, so while any is in flight
    /// (central word or a shard) the addition cannot be bounded exactly: it waits for them to
    /// finish, as a shortfall decision does (see "Exact shortfalls"), unless the available
    /// units alone already refuse it. It never waits on an operation that waits on it: it
    /// holds nothing.
    pub(crate) fn add_checked(&self, quantity: i64) -> Result<(), i64> {
        debug_assert!((1..=MAX_STOCK).contains(&quantity));
        // Acquire, not Relaxed: the value also decides a refusal without the compare-and-swap,
        // and gates the reads of the shard words in `HotStock::levels`. It pairs with the
        // Release of `give_back_in_flight` in `HotStock::freeze_and_drain`: having seen drained
        // units arrive here, the shard reads see the shard emptied, so those units are not
        // counted twice (which would refuse a restock or give-back that fits).
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (in_shards, busy_shard) = self.hot().map_or((0, None), HotStock::levels);
            let on_hand = available(word) + in_shards;
            if on_hand + quantity > MAX_STOCK {
                return Err(on_hand);
            }
            if in_flight(word) > 0 {
                // Units taken tentatively from this word may come back on top of the addition.
                word = park::wait_for_change(&self.word, word);
                continue;
            }
            if let Some((shard_word, seen)) = busy_shard {
                // Likewise for a shard (units returned to a frozen shard land here).
                park::wait_for_change(shard_word, seen);
                // Acquire: as the first load.
                word = self.word.load(Ordering::Acquire);
                continue;
            }
            // Deciding on `word` with nothing in flight: the swap succeeds only if the central
            // word still holds it, so no central operation is in flight at that instant and no
            // units arrived from a shard since; a shard operation that began after its shard
            // was read took units counted in `in_shards`. So `on_hand` bounds everything that
            // can come back, and the swap keeps it within `MAX_STOCK`.
            // AcqRel: as in `add_available`. Acquire on failure: as the load above.
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

    /// Whether the item is delisted.
    pub(crate) fn is_delisted(&self) -> bool {
        // Acquire: pairs with the Release `fetch_or` in `delist`, as a take's load does.
        is_delisted(self.word.load(Ordering::Acquire))
    }

    /// Delists the item (see "Delisting"): no take succeeds after this begins to return, and
    /// when it returns nothing is in flight on the item that began before. Returns whether
    /// this call delisted it (false: it was already).
    pub(crate) fn delist(&self) -> bool {
        // Shards first: a take that succeeds on a shard then precedes the central mark. An item
        // never promoted gets one frozen shard, sealed at once, so that no later promotion
        // can open shards that this call did not seal.
        self.hot_or_install(1).delist(&self.word);
        // AcqRel: Release pairs with the Acquire loads and compare-and-swaps of takes
        // (`try_take_word`), refills and `set_available`: a take that reads the mark sees the
        // shards sealed before it. Acquire: the in-flight reads below follow it.
        let previous = self.word.fetch_or(DELISTED, Ordering::AcqRel);
        if previous & WAITERS != 0 {
            // A waiting reserve armed the word: it learns that the item is delisted.
            park::wake(&self.word);
        }
        // Takes that took units before the mark are in flight until they commit or give them
        // back: wait for them, on the central word and on every shard.
        let mut word = previous | DELISTED;
        loop {
            if in_flight(word) > 0 {
                word = park::wait_for_change(&self.word, word);
                continue;
            }
            if let Some((shard_word, seen)) = self.hot().and_then(|hot| hot.levels().1) {
                park::wait_for_change(shard_word, seen);
                // Acquire: as the load in `is_delisted`.
                word = self.word.load(Ordering::Acquire);
                continue;
            }
            return previous & DELISTED == 0;
        }
    }

    /// Sets the available units to `new` if they are `expected` now (see "Absolute levels");
    /// otherwise changes nothing and says what was found. Both in `0..=MAX_STOCK`; the ledger
    /// is the caller's (and so is the bound on what can come back: see [`Slot::add_checked`]).
    pub(crate) fn set_available(&self, expected: i64, new: i64) -> Result<(), LevelRefused> {
        debug_assert!((0..=MAX_STOCK).contains(&expected) && (0..=MAX_STOCK).contains(&new));
        // Acquire: pairs with the Release of every stock-word update, as in `try_take_word`;
        // a mismatch is decided on this value (or a later one) alone.
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if is_delisted(word) {
                return Err(LevelRefused::Delisted);
            }
            if in_flight(word) > 0 {
                // Units taken tentatively may come back: the level is not decided yet.
                word = park::wait_for_change(&self.word, word);
                continue;
            }
            if let Some(hot) = self.hot() {
                if !hot.settled(&self.word, word) {
                    // Acquire: as the first load.
                    word = self.word.load(Ordering::Acquire);
                    continue;
                }
            }
            if available(word) != expected {
                return Err(LevelRefused::Mismatch {
                    actual: available(word),
                });
            }
            // `available(word) == expected`, so the subtraction does not borrow, and `new`
            // fits the 32-bit field without a carry. The swap succeeds only on the word just
            // validated: nothing in flight, not delisted, not split.
            let next = word - expected as u64 + new as u64;
            // AcqRel: Release pairs with the Acquire of the takes that consume the new units
            // (as `add_available`); Acquire on failure: the value is decided on again.
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
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

    /// Available units given the central word `word`, plus any in shards.
    fn available_with(&self, word: u64) -> i64 {
        available(word) + self.hot().map_or(0, HotStock::available)
    }

    /// Units available now, central and shards together. Not a snapshot while takes run,
    /// but never more than the item had: the central word is read again after the shards,
    /// and a change in between (a refill moving units from it to a shard, which the shard
    /// read may already show) means reading again, up to a bound.
    pub(crate) fn available(&self) -> i64 {
        // Acquire: pairs with the Release of every stock-word update; as in `add_checked`,
        // units drained from a shard to this word are then not also read in the shard.
        let mut word = self.word.load(Ordering::Acquire);
        if self.hot().is_none() {
            return available(word);
        }
        for _ in 0..64 {
            let total = self.available_with(word);
            // Acquire: as above. The shard loads before it are Acquire, so it is not read
            // before them.
            let again = self.word.load(Ordering::Acquire);
            if available(again) == available(word) {
                return total;
            }
            word = again;
        }
        self.available_with(word)
    }

    /// Operations in flight (central and shards).
    pub(crate) fn in_flight(&self) -> i64 {
        // Acquire: as in `available`.
        in_flight(self.word.load(Ordering::Acquire)) + self.hot().map_or(0, HotStock::in_flight)
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

    /// Units sold (including a promoted item's per-shard counts).
    pub(crate) fn sold(&self) -> i64 {
        // Relaxed: as `received`.
        self.sold.load(Ordering::Relaxed) + self.hot().map_or(0, HotStock::sold)
    }

    /// Records `quantity` held units as sold (on the thread's shard for a promoted item, so that
    /// confirms of a hot item do not all hit one cache line).
    pub(crate) fn record_sold(&self, quantity: i64) {
        match self.hot() {
            Some(hot) => hot.record_sold(quantity),
            // Relaxed: ledger only (see `received`).
            None => {
                self.sold.fetch_add(quantity, Ordering::Relaxed);
            }
        }
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
            let on_hand = received - self.sold();
            if on_hand + quantity > MAX_STOCK {
                return Err(on_hand);
            }
            // Relaxed: see the load above; the swap pairs with no other access.
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

impl Drop for Slot {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, no other thread can touch the slot.
        let hot = self.hot.load(Ordering::Relaxed);
        if !hot.is_null() {
            // SAFETY: set once from `Box::into_raw` in `promote`; `&mut self` means no other
            // reference to the slot (and so to its shards) exists.
            drop(unsafe { Box::from_raw(hot) });
        }
    }
}
