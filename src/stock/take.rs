//! The all-or-nothing take: validate, merge, sort into the canonical order, then take line by
//! line with compensation. This is the hot path; it reads top to bottom.
//!
//! 1. [`Canonical::new`] validates every line (quantity in range, item known), merges duplicate
//!    items and sorts by [`ItemId`]. Nothing is touched yet, so bad input changes nothing.
//! 2. [`take_all`] takes each line in ascending item order with a compare-and-swap on the item's
//!    stock word (see [`crate::stock::slot`]). Every line but the last is taken *tentatively*: counted as
//!    an operation in flight, so that a concurrent request that finds the item short knows units
//!    may come back and waits instead of answering "short" (no phantom shortfall).
//! 3. On the first shortfall the [`Pending`] guard gives back every line already taken, at once.
//!    The guard does the same if anything panics half-way: compensation is structural.
//! 4. On success the caller commits: tentative units leave the in-flight count.
//!
//! Ascending item order is what keeps waits acyclic: a request only ever waits on an item whose
//! in-flight units belong to requests that are already past every lower item, so the waits-for
//! relation follows item order and cannot close a cycle.

use crate::error::TakeError;
use crate::ids::{ItemId, Line};
use crate::limits::{MAX_LINES, MAX_LINE_QUANTITY};
use crate::stock::inline::InlineVec;
use crate::stock::slot::Slot;
use crate::stock::stats::{bump, Counters};
use crate::stock::word::{Source, TakeMode};

/// Lines kept inline (no allocation) while validating.
const INLINE_LINES: usize = 8;

/// A line whose item was resolved to the engine's handle on it (a stock slot for the lock-free
/// engine, a mutex for the per-item-lock baseline), so the take never looks an item up twice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resolved<T> {
    pub(crate) line: Line,
    pub(crate) at: T,
}

/// Validated lines, one per item, sorted by item id: the canonical order.
pub(crate) struct Canonical<T: Copy> {
    inline: InlineVec<Resolved<T>, INLINE_LINES>,
    spilled: Vec<Resolved<T>>,
}

impl<T: Copy> Canonical<T> {
    /// Validates, merges and sorts `input`, resolving each item with `resolve` (`None` means
    /// unknown). The first invalid line in input order is reported; a merge overflow only if
    /// every line is valid.
    #[inline(always)]
    pub(crate) fn new(
        input: &[Line],
        resolve: impl Fn(ItemId) -> Option<T>,
    ) -> Result<Self, TakeError> {
        if input.is_empty() {
            return Err(TakeError::EmptyCart);
        }
        if input.len() > MAX_LINES {
            return Err(TakeError::TooManyLines {
                lines: input.len(),
                max: MAX_LINES,
            });
        }
        let mut canonical = Canonical {
            inline: InlineVec::new(),
            spilled: Vec::new(),
        };
        if input.len() > INLINE_LINES {
            canonical.spilled.reserve_exact(input.len());
            for &line in input {
                canonical.spilled.push(Resolved {
                    line,
                    at: check(line, &resolve)?,
                });
            }
            canonical.spilled.sort_unstable_by_key(|r| r.line.item);
            let merged = merge_sorted(&mut canonical.spilled)?;
            canonical.spilled.truncate(merged);
            return Ok(canonical);
        }
        // Small carts (the common case): resolve into a stack buffer, sort packed
        // `item << 3 | position` keys with a branchless sorting network (random item ids make
        // a comparison sort's branches unpredictable, and measured, the mispredictions cost more
        // than every atomic operation of the take together), then gather in order, merging
        // duplicates.
        let mut unsorted = InlineVec::<Resolved<T>, INLINE_LINES>::new();
        let mut keys = [u64::MAX; INLINE_LINES];
        for (position, &line) in input.iter().enumerate() {
            let at = check(line, &resolve)?;
            keys[position] = u64::from(line.item.get()) << 3 | position as u64;
            // Cannot be full: at most INLINE_LINES lines.
            let _ = unsorted.push(Resolved { line, at });
        }
        sort_keys(&mut keys, input.len());
        let unsorted = unsorted.as_slice();
        let mut previous = u64::MAX;
        for &key in &keys[..input.len()] {
            let entry = unsorted[(key & 7) as usize];
            if key >> 3 == previous {
                let last = canonical.inline.last_mut();
                let sum = last.line.quantity + entry.line.quantity;
                if sum > MAX_LINE_QUANTITY {
                    return Err(TakeError::QuantityOverflow {
                        item: entry.line.item,
                    });
                }
                last.line.quantity = sum;
            } else {
                let _ = canonical.inline.push(entry);
                previous = key >> 3;
            }
        }
        Ok(canonical)
    }

    /// The lines with their handles, in ascending item order, one per item.
    #[inline]
    pub(crate) fn entries(&self) -> &[Resolved<T>] {
        if self.spilled.is_empty() {
            self.inline.as_slice()
        } else {
            &self.spilled
        }
    }

    /// The lines, in ascending item order.
    pub(crate) fn lines(&self) -> impl ExactSizeIterator<Item = Line> + '_ {
        self.entries().iter().map(|r| r.line)
    }
}

/// Validates `lines` as every engine of this crate does before taking anything, and returns
/// them canonical: one line per item, quantities of an item's lines added up, in ascending
/// item order.
///
/// `known` says whether an item exists. The checks, and so which error a request with several
/// faults gets: no lines ([`EmptyCart`](TakeError::EmptyCart)); more than
/// [`MAX_LINES`](crate::limits::MAX_LINES) ([`TooManyLines`](TakeError::TooManyLines)); then
/// line by line in input order, a quantity outside `1..=`[`MAX_LINE_QUANTITY`]
/// ([`InvalidQuantity`](TakeError::InvalidQuantity)) before an item `known` refuses
/// ([`UnknownItem`](TakeError::UnknownItem)); last, an item whose lines add up to more than
/// [`MAX_LINE_QUANTITY`] ([`QuantityOverflow`](TakeError::QuantityOverflow), the first such
/// item in id order). A backend that keeps its stock elsewhere
/// calls this first, so that bad input gets the in-process engine's answer without a round
/// trip that could change anything.
///
/// ```
/// use atomic_stock::limits::MAX_LINE_QUANTITY;
/// use atomic_stock::{validate_lines, ItemId, Line, TakeError};
///
/// let (a, b) = (ItemId::new(0), ItemId::new(1));
/// let known = |item: ItemId| item.get() < 2;
/// let lines = [Line::new(b, 2), Line::new(a, 1), Line::new(b, 3)];
/// assert_eq!(
///     validate_lines(&lines, known),
///     Ok(vec![Line::new(a, 1), Line::new(b, 5)])
/// );
/// assert_eq!(
///     validate_lines(&[Line::new(ItemId::new(7), 1)], known),
///     Err(TakeError::UnknownItem { item: ItemId::new(7) })
/// );
/// let overflow = [Line::new(a, MAX_LINE_QUANTITY), Line::new(a, 1)];
/// assert_eq!(
///     validate_lines(&overflow, known),
///     Err(TakeError::QuantityOverflow { item: a })
/// );
/// ```
pub fn validate_lines(
    lines: &[Line],
    known: impl Fn(ItemId) -> bool,
) -> Result<Vec<Line>, TakeError> {
    Canonical::new(lines, |item| known(item).then_some(())).map(|c| c.lines().collect())
}

/// Validates `lines` and passes them to `f` in canonical order: a single line alone, with
/// [`check`] only (no sorting, no buffer: the one-line fast path of `Stock::take`), more
/// through [`Canonical::new`]. For engines whose take is the same code for one line and many
/// (the baselines).
#[cfg(feature = "baselines")]
#[inline(always)]
pub(crate) fn with_canonical<T: Copy, R>(
    lines: &[Line],
    resolve: impl Fn(ItemId) -> Option<T>,
    f: impl FnOnce(&[Resolved<T>]) -> Result<R, TakeError>,
) -> Result<R, TakeError> {
    if let [line] = *lines {
        let at = check(line, &resolve)?;
        return f(&[Resolved { line, at }]);
    }
    f(Canonical::new(lines, resolve)?.entries())
}

/// Validates one line's quantity and resolves its item: the whole validation of a one-line
/// request, which every engine's one-line fast path uses instead of [`Canonical::new`].
#[inline(always)]
pub(crate) fn check<T>(line: Line, resolve: &impl Fn(ItemId) -> Option<T>) -> Result<T, TakeError> {
    if !(1..=MAX_LINE_QUANTITY).contains(&line.quantity) {
        return Err(TakeError::InvalidQuantity {
            item: line.item,
            quantity: line.quantity,
        });
    }
    resolve(line.item).ok_or(TakeError::UnknownItem { item: line.item })
}

/// Merges runs of the same item in a sorted slice, in place; returns how many lines remain.
fn merge_sorted<T: Copy>(entries: &mut [Resolved<T>]) -> Result<usize, TakeError> {
    let mut merged = 0;
    for i in 0..entries.len() {
        if merged > 0 && entries[merged - 1].line.item == entries[i].line.item {
            let sum = entries[merged - 1].line.quantity + entries[i].line.quantity;
            if sum > MAX_LINE_QUANTITY {
                return Err(TakeError::QuantityOverflow {
                    item: entries[i].line.item,
                });
            }
            entries[merged - 1].line.quantity = sum;
        } else {
            entries[merged] = entries[i];
            merged += 1;
        }
    }
    Ok(merged)
}

/// Sorts the first `len` keys (the rest are `u64::MAX`) with an optimal sorting network: a
/// fixed sequence of compare-exchanges, each a `min` and a `max`, so no branch depends on the
/// data.
#[inline(always)]
fn sort_keys(keys: &mut [u64; INLINE_LINES], len: usize) {
    #[inline(always)]
    fn exchange(keys: &mut [u64; INLINE_LINES], a: usize, b: usize) {
        let (x, y) = (keys[a], keys[b]);
        keys[a] = x.min(y);
        keys[b] = x.max(y);
    }
    match len {
        0 | 1 => {}
        2 => exchange(keys, 0, 1),
        3 | 4 => {
            // 5 comparators, depth 3.
            for (a, b) in [(0, 1), (2, 3), (0, 2), (1, 3), (1, 2)] {
                exchange(keys, a, b);
            }
        }
        _ => {
            // 19 comparators, depth 6 (Batcher; optimal for 8 inputs).
            for (a, b) in [
                (0, 2),
                (1, 3),
                (4, 6),
                (5, 7),
                (0, 4),
                (1, 5),
                (2, 6),
                (3, 7),
                (0, 1),
                (2, 3),
                (4, 5),
                (6, 7),
                (2, 4),
                (3, 5),
                (1, 4),
                (3, 6),
                (1, 2),
                (3, 4),
                (5, 6),
            ] {
                exchange(keys, a, b);
            }
        }
    }
}

/// Where each line of a multi-line operation landed (see [`Source`]): inline for up to 16
/// lines, on the heap beyond.
pub(crate) struct Sources {
    inline: InlineVec<Source, 16>,
    spilled: Vec<Source>,
}

impl Sources {
    pub(crate) fn new() -> Self {
        Sources {
            inline: InlineVec::new(),
            spilled: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, source: Source) {
        if let Err(source) = self.inline.push(source) {
            self.spilled.push(source);
        }
    }

    /// The source of the `i`-th pushed line.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Source {
        let inline = self.inline.as_slice();
        inline
            .get(i)
            .copied()
            .unwrap_or_else(|| self.spilled[i - inline.len()])
    }
}

/// Lines taken so far by a request that has not finished. Dropping it gives every line back;
/// [`Pending::commit`] keeps them.
#[must_use = "dropping a Pending take gives its stock back"]
pub(crate) struct Pending<'a> {
    entries: &'a [Resolved<&'a Slot>],
    /// Where each taken line came from.
    sources: Sources,
    /// Lines taken tentatively (a prefix of `entries`).
    tentative: usize,
    /// Whether the line after the tentative prefix was taken for good (the last line of a
    /// plain take, which needs no in-flight accounting because nothing can fail after it).
    last_final: bool,
}

impl Pending<'_> {
    /// Keeps every line: tentative units become held.
    #[inline]
    pub(crate) fn commit(mut self) {
        for (i, r) in self.entries[..self.tentative].iter().enumerate() {
            r.at.commit(self.sources.get(i));
        }
        self.tentative = 0;
        self.last_final = false;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        // Compensation. Runs on a shortfall, on an abandoned request, and during unwinding if
        // anything between two takes panicked: no early return can leak stock.
        for (i, r) in self.entries[..self.tentative].iter().enumerate().rev() {
            r.at.give_back_tentative(r.line.quantity, self.sources.get(i));
        }
        if self.last_final {
            let r = &self.entries[self.tentative];
            r.at.give_back_held(r.line.quantity);
        }
    }
}

/// Takes every line of `entries` (canonical: sorted, merged, validated) or none.
///
/// With `last = TakeMode::Final`, the last line is taken for good: a plain take, finished with
/// [`finish`]. With `last = TakeMode::Tentative`, every line stays in flight until the returned
/// guard is committed or dropped: the caller publishes a reservation in between.
#[inline]
pub(crate) fn take_all<'a>(
    counters: &Counters,
    entries: &'a [Resolved<&'a Slot>],
    last: TakeMode,
) -> Result<Pending<'a>, TakeError> {
    debug_assert!(!entries.is_empty());
    let mut pending = Pending {
        entries,
        sources: Sources::new(),
        tentative: 0,
        last_final: false,
    };
    let shards = counters.len();
    let mut retries = 0u64;
    for (i, r) in entries.iter().enumerate() {
        #[cfg(all(test, not(loom)))]
        fault::before_line(i);
        let mode = if i + 1 == entries.len() {
            last
        } else {
            TakeMode::Tentative
        };
        match r.at.take(r.line.quantity, mode, shards) {
            Ok(taken) => {
                retries += u64::from(taken.retries);
                pending.sources.push(taken.source);
                if taken.waited {
                    bump(&counters.local().waits, 1);
                }
                match mode {
                    TakeMode::Tentative => pending.tentative += 1,
                    TakeMode::Final => pending.last_final = true,
                }
            }
            Err(short) => {
                let local = counters.local();
                retries += u64::from(short.retries);
                bump(&local.shortfalls, 1);
                if short.waited {
                    bump(&local.waits, 1);
                }
                if pending.tentative > 0 {
                    bump(&local.compensations, 1);
                }
                if retries > 0 {
                    bump(&local.cas_retries, retries);
                }
                // `pending` drops here and gives back entries[..i].
                if short.delisted {
                    return Err(TakeError::Delisted { item: r.line.item });
                }
                if short.busy {
                    return Err(TakeError::Busy { item: r.line.item });
                }
                return Err(TakeError::Shortfall {
                    item: r.line.item,
                    requested: r.line.quantity,
                    available: short.available,
                });
            }
        }
    }
    if retries > 0 {
        bump(&counters.local().cas_retries, retries);
    }
    Ok(pending)
}

/// Commits a plain take whose last line was final: the earlier lines leave the in-flight count.
#[inline]
pub(crate) fn finish(mut pending: Pending<'_>) {
    debug_assert!(pending.last_final || pending.tentative == pending.entries.len());
    pending.last_final = false;
    pending.commit();
}

/// Fault injection for the panic-safety test: panics before taking a chosen line.
#[cfg(all(test, not(loom)))]
pub(crate) mod fault {
    use std::cell::Cell;

    thread_local! {
        static PANIC_BEFORE_LINE: Cell<Option<usize>> = const { Cell::new(None) };
    }

    pub(crate) fn panic_before_line(line: Option<usize>) {
        PANIC_BEFORE_LINE.with(|c| c.set(line));
    }

    pub(crate) fn before_line(i: usize) {
        if PANIC_BEFORE_LINE.with(|c| c.get()) == Some(i) {
            panic!("injected fault before line {i}");
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::stock::catalog::Catalog;

    fn id(n: u32) -> ItemId {
        ItemId::new(n)
    }

    fn any(_: ItemId) -> Option<()> {
        Some(())
    }

    #[test]
    fn canonical_merges_and_sorts() {
        let lines = [
            Line::new(id(3), 1),
            Line::new(id(1), 2),
            Line::new(id(3), 4),
            Line::new(id(2), 1),
        ];
        let canonical = Canonical::new(&lines, |i| Some(i.get() * 10)).unwrap();
        assert_eq!(
            canonical.lines().collect::<Vec<_>>(),
            [
                Line::new(id(1), 2),
                Line::new(id(2), 1),
                Line::new(id(3), 5)
            ]
        );
        let handles: Vec<u32> = canonical.entries().iter().map(|r| r.at).collect();
        assert_eq!(
            handles,
            [10, 20, 30],
            "each line keeps its own item's handle"
        );
    }

    /// The 0-1 principle: a comparator network sorts every input iff it sorts every input of
    /// zeros and ones; check all of them for every length the networks serve.
    #[test]
    fn sorting_networks_sort_every_binary_input() {
        for len in 0..=INLINE_LINES {
            for bits in 0u32..(1 << len) {
                let mut keys = [u64::MAX; INLINE_LINES];
                for (i, key) in keys.iter_mut().enumerate().take(len) {
                    *key = u64::from(bits >> i & 1);
                }
                sort_keys(&mut keys, len);
                assert!(
                    keys.windows(2).all(|w| w[0] <= w[1]),
                    "len {len}, input {bits:b}"
                );
            }
        }
    }

    #[test]
    fn canonical_spills_past_inline_capacity() {
        let lines: Vec<Line> = (0..20).rev().map(|i| Line::new(id(i % 10), 1)).collect();
        let canonical = Canonical::new(&lines, any).unwrap();
        let merged: Vec<Line> = canonical.lines().collect();
        assert_eq!(merged.len(), 10);
        assert!(merged.iter().all(|l| l.quantity == 2));
        assert!(merged.windows(2).all(|w| w[0].item < w[1].item));
    }

    #[test]
    fn canonical_refuses_bad_input() {
        assert_eq!(
            Canonical::new(&[], any).err().unwrap(),
            TakeError::EmptyCart
        );
        for quantity in [0, -1, i64::MIN, MAX_LINE_QUANTITY + 1, i64::MAX] {
            assert_eq!(
                Canonical::new(&[Line::new(id(0), quantity)], any)
                    .err()
                    .unwrap(),
                TakeError::InvalidQuantity {
                    item: id(0),
                    quantity
                }
            );
        }
        assert_eq!(
            Canonical::new(&[Line::new(id(7), 1)], |i| (i != id(7)).then_some(()))
                .err()
                .unwrap(),
            TakeError::UnknownItem { item: id(7) }
        );
        assert_eq!(
            Canonical::new(
                &[Line::new(id(1), MAX_LINE_QUANTITY), Line::new(id(1), 1)],
                any
            )
            .err()
            .unwrap(),
            TakeError::QuantityOverflow { item: id(1) }
        );
        let many = vec![Line::new(id(0), 1); MAX_LINES + 1];
        assert_eq!(
            Canonical::new(&many, any).err().unwrap(),
            TakeError::TooManyLines {
                lines: MAX_LINES + 1,
                max: MAX_LINES
            }
        );
    }

    fn catalog(stock: &[i64]) -> Catalog {
        let catalog = Catalog::new();
        for &s in stock {
            catalog.register(s, None).unwrap();
        }
        catalog
    }

    fn resolve<'a>(catalog: &'a Catalog, lines: &[Line]) -> Canonical<&'a Slot> {
        Canonical::new(lines, |i| catalog.slot(i)).unwrap()
    }

    fn available(catalog: &Catalog, item: u32) -> i64 {
        catalog.slot(id(item)).unwrap().available()
    }

    fn in_flight(catalog: &Catalog, item: u32) -> i64 {
        catalog.slot(id(item)).unwrap().in_flight()
    }

    #[test]
    fn shortfall_compensates_every_earlier_line() {
        let catalog = catalog(&[5, 5, 1]);
        let counters = Counters::new(2);
        let lines = [
            Line::new(id(0), 2),
            Line::new(id(1), 3),
            Line::new(id(2), 2),
        ];
        let canonical = resolve(&catalog, &lines);
        let err = take_all(&counters, canonical.entries(), TakeMode::Final)
            .err()
            .unwrap();
        assert_eq!(
            err,
            TakeError::Shortfall {
                item: id(2),
                requested: 2,
                available: 1
            }
        );
        for (item, expected) in [(0, 5), (1, 5), (2, 1)] {
            assert_eq!(available(&catalog, item), expected);
            assert_eq!(in_flight(&catalog, item), 0);
        }
        let stats = counters.snapshot();
        assert_eq!((stats.shortfalls, stats.compensations), (1, 1));
    }

    #[test]
    fn tentative_take_counts_in_flight_until_commit() {
        let catalog = catalog(&[5, 5]);
        let counters = Counters::new(2);
        let lines = [Line::new(id(0), 2), Line::new(id(1), 3)];
        let canonical = resolve(&catalog, &lines);
        let pending = take_all(&counters, canonical.entries(), TakeMode::Tentative).unwrap();
        assert_eq!((available(&catalog, 0), in_flight(&catalog, 0)), (3, 1));
        assert_eq!((available(&catalog, 1), in_flight(&catalog, 1)), (2, 1));
        pending.commit();
        assert_eq!((available(&catalog, 0), in_flight(&catalog, 0)), (3, 0));
        assert_eq!((available(&catalog, 1), in_flight(&catalog, 1)), (2, 0));
    }

    #[test]
    fn dropped_pending_gives_everything_back() {
        let catalog = catalog(&[5, 5]);
        let counters = Counters::new(2);
        let lines = [Line::new(id(0), 2), Line::new(id(1), 3)];
        let canonical = resolve(&catalog, &lines);
        drop(take_all(&counters, canonical.entries(), TakeMode::Final).unwrap());
        assert_eq!((available(&catalog, 0), in_flight(&catalog, 0)), (5, 0));
        assert_eq!((available(&catalog, 1), in_flight(&catalog, 1)), (5, 0));
    }

    #[test]
    fn panic_half_way_gives_back_what_was_taken() {
        let catalog = catalog(&[5, 5, 5]);
        let counters = Counters::new(2);
        let lines = [
            Line::new(id(0), 1),
            Line::new(id(1), 1),
            Line::new(id(2), 1),
        ];
        let canonical = resolve(&catalog, &lines);
        for at in 0..3 {
            fault::panic_before_line(Some(at));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                take_all(&counters, canonical.entries(), TakeMode::Final).map(finish)
            }));
            fault::panic_before_line(None);
            assert!(result.is_err(), "the injected fault must fire");
            for item in 0..3 {
                assert_eq!(
                    available(&catalog, item),
                    5,
                    "line {item} after panic at {at}"
                );
                assert_eq!(in_flight(&catalog, item), 0);
            }
        }
    }
}
