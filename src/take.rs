//! The all-or-nothing take: validate, merge, sort into the canonical order, then take line by
//! line with compensation. This is the hot path; it reads top to bottom.
//!
//! 1. [`Canonical::new`] validates every line (quantity in range, item known), merges duplicate
//!    items and sorts by [`ItemId`]. Nothing is touched yet, so bad input changes nothing.
//! 2. [`take`] takes each line in ascending item order with a compare-and-swap on the item's
//!    stock word (see [`crate::slot`]). Every line but the last is taken *tentatively*: counted in
//!    flight, so that a concurrent request that finds the item short knows these units may come
//!    back and waits instead of answering "short" (no phantom shortfall).
//! 3. On the first shortfall the [`Pending`] guard gives back every line already taken, at once.
//!    The guard does the same if anything panics half-way: compensation is structural.
//! 4. On success the caller commits: tentative units leave the in-flight count.
//!
//! Ascending item order is what keeps waits acyclic: a request only ever waits on an item whose
//! in-flight units belong to requests that are already past every lower item, so the waits-for
//! relation follows item order and cannot close a cycle.

use crate::catalog::Catalog;
use crate::error::TakeError;
use crate::ids::{ItemId, Line};
use crate::limits::{MAX_LINES, MAX_LINE_QUANTITY};
use crate::slot::{Hold, Slot};
use crate::stats::{bump, Counters};

/// Lines kept inline (no allocation) in a [`Canonical`] set.
const INLINE_LINES: usize = 8;

/// Validated lines, one per item, sorted by item id.
#[derive(Clone, Debug)]
pub(crate) struct Canonical {
    len: usize,
    inline: [Line; INLINE_LINES],
    spilled: Vec<Line>,
}

impl Canonical {
    /// Validates, merges and sorts `input`. `known` says whether an item exists.
    pub(crate) fn new(input: &[Line], known: impl Fn(ItemId) -> bool) -> Result<Self, TakeError> {
        if input.is_empty() {
            return Err(TakeError::EmptyCart);
        }
        if input.len() > MAX_LINES {
            return Err(TakeError::TooManyLines {
                lines: input.len(),
                max: MAX_LINES,
            });
        }
        for line in input {
            if !(1..=MAX_LINE_QUANTITY).contains(&line.quantity) {
                return Err(TakeError::InvalidQuantity {
                    item: line.item,
                    quantity: line.quantity,
                });
            }
            if !known(line.item) {
                return Err(TakeError::UnknownItem { item: line.item });
            }
        }
        let mut canonical = Canonical {
            len: input.len(),
            inline: [Line::new(ItemId::new(0), 0); INLINE_LINES],
            spilled: Vec::new(),
        };
        let buffer: &mut [Line] = if input.len() <= INLINE_LINES {
            canonical.inline[..input.len()].copy_from_slice(input);
            &mut canonical.inline[..input.len()]
        } else {
            canonical.spilled.extend_from_slice(input);
            &mut canonical.spilled
        };
        buffer.sort_unstable_by_key(|line| line.item);
        // Merge runs of the same item in place.
        let mut merged = 0;
        for i in 0..buffer.len() {
            if merged > 0 && buffer[merged - 1].item == buffer[i].item {
                let sum = buffer[merged - 1].quantity + buffer[i].quantity;
                if sum > MAX_LINE_QUANTITY {
                    return Err(TakeError::QuantityOverflow {
                        item: buffer[i].item,
                    });
                }
                buffer[merged - 1].quantity = sum;
            } else {
                buffer[merged] = buffer[i];
                merged += 1;
            }
        }
        canonical.len = merged;
        canonical.spilled.truncate(merged);
        Ok(canonical)
    }

    /// The lines, in ascending item order, one per item.
    #[inline]
    pub(crate) fn lines(&self) -> &[Line] {
        if self.len <= INLINE_LINES && self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

/// Lines taken so far by a request that has not finished. Dropping it gives every tentative
/// line back; [`Pending::commit`] keeps them.
#[must_use = "dropping a Pending take gives its stock back"]
pub(crate) struct Pending<'a> {
    catalog: &'a Catalog,
    lines: &'a [Line],
    /// Lines taken tentatively (a prefix of `lines`).
    tentative: usize,
    /// Whether the line after the tentative prefix was taken for good (the last line of a
    /// plain take, which needs no in-flight accounting because nothing can fail after it).
    last_final: bool,
}

impl<'a> Pending<'a> {
    fn slot(&self, line: &Line) -> &'a Slot {
        // Every line was validated against this catalog, and items are never removed.
        self.catalog
            .slot(line.item)
            .expect("validated item disappeared from the catalog")
    }

    /// Keeps every line: tentative units become held.
    pub(crate) fn commit(mut self) {
        for line in &self.lines[..self.tentative] {
            self.slot(line).commit(line.quantity);
        }
        self.tentative = 0;
        self.last_final = false;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        // Compensation. Runs on a shortfall, on an abandoned request, and during unwinding if
        // anything between two takes panicked: no early return can leak stock.
        for line in self.lines[..self.tentative].iter().rev() {
            self.slot(line).give_back_tentative(line.quantity);
        }
        if self.last_final {
            let line = &self.lines[self.tentative];
            self.slot(line).give_back_held(line.quantity);
        }
    }
}

/// Takes every line of `lines` (canonical: sorted, merged, validated) or none.
///
/// With `last = Hold::Final`, the last line is taken for good and the others are committed
/// before returning: a plain take. With `last = Hold::Tentative`, every line stays in flight
/// until the returned guard is committed or dropped: the caller publishes a reservation in
/// between.
pub(crate) fn take<'a>(
    catalog: &'a Catalog,
    counters: &Counters,
    lines: &'a [Line],
    last: Hold,
) -> Result<Pending<'a>, TakeError> {
    debug_assert!(!lines.is_empty());
    let mut pending = Pending {
        catalog,
        lines,
        tentative: 0,
        last_final: false,
    };
    let mut retries = 0u64;
    for (i, line) in lines.iter().enumerate() {
        #[cfg(all(test, not(loom)))]
        fault::before_line(i);
        let hold = if i + 1 == lines.len() {
            last
        } else {
            Hold::Tentative
        };
        match pending.slot(line).take(line.quantity, hold) {
            Ok(taken) => {
                retries += u64::from(taken.retries);
                match hold {
                    Hold::Tentative => pending.tentative += 1,
                    Hold::Final => pending.last_final = true,
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
                // `pending` drops here and gives back lines[..i].
                return Err(TakeError::Shortfall {
                    item: line.item,
                    requested: line.quantity,
                    available: short.available,
                });
            }
        }
    }
    let local = counters.local();
    bump(&local.takes, 1);
    if retries > 0 {
        bump(&local.cas_retries, retries);
    }
    Ok(pending)
}

/// Commits a plain take whose last line was final: the earlier lines leave the in-flight count.
pub(crate) fn finish(pending: Pending<'_>) {
    debug_assert!(pending.last_final || pending.tentative == pending.lines.len());
    let mut pending = pending;
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

    fn id(n: u32) -> ItemId {
        ItemId::new(n)
    }

    #[test]
    fn canonical_merges_and_sorts() {
        let lines = [
            Line::new(id(3), 1),
            Line::new(id(1), 2),
            Line::new(id(3), 4),
            Line::new(id(2), 1),
        ];
        let canonical = Canonical::new(&lines, |_| true).unwrap();
        assert_eq!(
            canonical.lines(),
            &[
                Line::new(id(1), 2),
                Line::new(id(2), 1),
                Line::new(id(3), 5)
            ]
        );
    }

    #[test]
    fn canonical_spills_past_inline_capacity() {
        let lines: Vec<Line> = (0..20).rev().map(|i| Line::new(id(i % 10), 1)).collect();
        let canonical = Canonical::new(&lines, |_| true).unwrap();
        assert_eq!(canonical.lines().len(), 10);
        assert!(canonical.lines().iter().all(|l| l.quantity == 2));
        assert!(canonical.lines().windows(2).all(|w| w[0].item < w[1].item));
    }

    #[test]
    fn canonical_refuses_bad_input() {
        assert_eq!(
            Canonical::new(&[], |_| true).unwrap_err(),
            TakeError::EmptyCart
        );
        for quantity in [0, -1, i64::MIN, MAX_LINE_QUANTITY + 1, i64::MAX] {
            assert_eq!(
                Canonical::new(&[Line::new(id(0), quantity)], |_| true).unwrap_err(),
                TakeError::InvalidQuantity {
                    item: id(0),
                    quantity
                }
            );
        }
        assert_eq!(
            Canonical::new(&[Line::new(id(7), 1)], |i| i != id(7)).unwrap_err(),
            TakeError::UnknownItem { item: id(7) }
        );
        assert_eq!(
            Canonical::new(
                &[Line::new(id(1), MAX_LINE_QUANTITY), Line::new(id(1), 1)],
                |_| true
            )
            .unwrap_err(),
            TakeError::QuantityOverflow { item: id(1) }
        );
        let many = vec![Line::new(id(0), 1); MAX_LINES + 1];
        assert_eq!(
            Canonical::new(&many, |_| true).unwrap_err(),
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

    fn available(catalog: &Catalog, item: u32) -> i64 {
        crate::slot::available(catalog.slot(id(item)).unwrap().word())
    }

    fn in_flight(catalog: &Catalog, item: u32) -> i64 {
        crate::slot::in_flight(catalog.slot(id(item)).unwrap().word())
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
        let err = take(&catalog, &counters, &lines, Hold::Final)
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
        let pending = take(&catalog, &counters, &lines, Hold::Tentative).unwrap();
        assert_eq!((available(&catalog, 0), in_flight(&catalog, 0)), (3, 2));
        assert_eq!((available(&catalog, 1), in_flight(&catalog, 1)), (2, 3));
        pending.commit();
        assert_eq!((available(&catalog, 0), in_flight(&catalog, 0)), (3, 0));
        assert_eq!((available(&catalog, 1), in_flight(&catalog, 1)), (2, 0));
    }

    #[test]
    fn dropped_pending_gives_everything_back() {
        let catalog = catalog(&[5, 5]);
        let counters = Counters::new(2);
        let lines = [Line::new(id(0), 2), Line::new(id(1), 3)];
        drop(take(&catalog, &counters, &lines, Hold::Final).unwrap());
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
        for at in 0..3 {
            fault::panic_before_line(Some(at));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                take(&catalog, &counters, &lines, Hold::Final).map(finish)
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
