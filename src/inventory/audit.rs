//! Work over every item at once: the levels snapshot and the audit's per-item check, serial or
//! spread over rayon's pool.
//!
//! Each item is read independently (a few atomic loads of its slot), so the work splits into
//! chunks of consecutive ids without coordination. Whether the split pays has not been measured
//! yet, so [`Run::Auto`] stays on the calling thread (`DESIGN.md`, "7b. Bulk work"); the parallel
//! path is there, tested, for the measurement.

use crate::ids::ItemId;
use crate::inventory::{AuditError, ItemLevels};
use crate::stock::catalog::Catalog;
use crate::stock::slot::Slot;
use crate::stock::Stock;
use rayon::prelude::*;

/// Items per parallel task: large enough that splitting costs little against the reads.
const CHUNK: usize = 1 << 14;

/// How bulk work runs.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Run {
    /// The default: on the calling thread until a measurement shows where parallel pays.
    Auto,
    /// On the calling thread.
    Serial,
    /// On rayon's global pool.
    Parallel,
}

impl Run {
    fn parallel(self) -> bool {
        matches!(self, Run::Parallel)
    }
}

/// One item's counts (see [`ItemLevels`] for how exact they are).
pub(crate) fn item_levels(slot: &Slot) -> ItemLevels {
    let received = slot.received();
    let sold = slot.sold();
    let (available, in_flight) = (slot.available(), slot.in_flight());
    ItemLevels {
        available,
        in_flight,
        held: received - sold - available,
        sold,
        received,
    }
}

/// Every registered item's counts, by id.
pub(crate) fn levels(catalog: &Catalog, run: Run) -> Vec<ItemLevels> {
    let items = catalog.len();
    let read = |index: u32| {
        item_levels(
            catalog
                .slot(ItemId::new(index))
                .expect("below the length read first"),
        )
    };
    if run.parallel() {
        (0..items).into_par_iter().map(read).collect()
    } else {
        (0..items).map(read).collect()
    }
}

/// Units over the items an audit checked.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Totals {
    pub(crate) available: i64,
    pub(crate) held: i64,
    pub(crate) sold: i64,
}

/// Checks `received = available + held[i] + sold` and nothing in flight for every item
/// `i < held.len()`, and sums the counts; the error names the lowest failing item.
pub(crate) fn audit_items(stock: &Stock, held: &[i64], run: Run) -> Result<Totals, AuditError> {
    let check = |first: usize, held: &[i64]| -> Result<Totals, AuditError> {
        let mut totals = Totals::default();
        for (offset, &held) in held.iter().enumerate() {
            let item = ItemId::new((first + offset) as u32);
            let slot = stock.slot(item);
            let (available, in_flight) = (slot.available(), slot.in_flight());
            let (received, sold) = (slot.received(), slot.sold());
            if received != available + held + sold || in_flight != 0 {
                return Err(AuditError {
                    item,
                    received,
                    available,
                    in_flight,
                    held,
                    sold,
                });
            }
            totals.available += available;
            totals.held += held;
            totals.sold += sold;
        }
        Ok(totals)
    };
    if !run.parallel() {
        return check(0, held);
    }
    let chunks: Vec<Result<Totals, AuditError>> = held
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, chunk)| check(c * CHUNK, chunk))
        .collect();
    let mut totals = Totals::default();
    for chunk in chunks {
        let chunk = chunk?;
        totals.available += chunk.available;
        totals.held += chunk.held;
        totals.sold += chunk.sold;
    }
    Ok(totals)
}
