//! Work over every item at once: the levels snapshot and the audit's per-item check, serial or
//! spread over rayon's pool.
//!
//! Each item is read independently (a few atomic loads of its slot), so the work splits into
//! chunks of consecutive ids without coordination. Both are bound by memory rather than by
//! the loads: `levels` writes 40 bytes per item into a fresh vector (page faults, at millions
//! of items, cost more than the reads), the audit reads a vector of held units beside the
//! slots. So the split pays only at size: measured on 2 cores (`DESIGN.md`, "7b. Bulk work"),
//! [`Run::Auto`] spreads both over rayon's pool from [`PARALLEL_FROM`] items.

use crate::stock::catalog::Catalog;
use crate::stock::slot::Slot;
use rayon::prelude::*;

use crate::carts::registry::State;
use crate::ids::ItemId;
use crate::stock::Stock;

use super::shared::Inventory;

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

impl Inventory {
    /// Checks, for every item, that `received = available + held + sold`, counting
    /// `held` from the live reservations in the cart registry (not derived from the other
    /// counts, so the check can fail), and that nothing is in flight. Meaningful only at
    /// quiescence (no operation running); O(items + live reservations).
    ///
    /// Safe to call while items are registered: an item registered during the walk is
    /// audited too if a reservation of it was seen.
    pub fn audit(&self) -> Result<AuditReport, AuditError> {
        self.audit_with(Run::Auto)
    }

    /// [`audit`](Inventory::audit) with the per-item checks run as told (for the measurements
    /// behind [`crate::inventory::audit`]'s choice).
    #[doc(hidden)]
    pub fn audit_with(&self, run: Run) -> Result<AuditReport, AuditError> {
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

    /// Every item's counts, indexed by id (`levels()[i]` is item `i`'s), as
    /// [`item`](Inventory::item) reads them one by one: exact at quiescence, each item's fields
    /// values it had during the call otherwise.
    ///
    /// This is the export of every item's `available`, `held` and `sold` for a dashboard or a
    /// report (with the `serde` feature, [`ItemLevels`] serializes; pair an entry with its SKU
    /// through [`sku`](Inventory::sku)). For per-item metrics of the most active items only,
    /// see `export_item_metrics` (feature `metrics`). O(items); spread over rayon's pool for
    /// large catalogs (see `DESIGN.md`, "7b. Bulk work").
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
    ///
    /// // An export, one line per item: id, SKU, available, held, sold.
    /// let shop = Inventory::new();
    /// shop.load_csv("MUG-1,5\nTEA-9,2\n".as_bytes()).unwrap();
    /// let lines: Vec<String> = shop
    ///     .levels()
    ///     .iter()
    ///     .enumerate()
    ///     .map(|(id, l)| {
    ///         let sku = shop.sku(atomic_stock::ItemId::new(id as u32)).unwrap_or("");
    ///         format!("{id},{sku},{},{},{}", l.available, l.held, l.sold)
    ///     })
    ///     .collect();
    /// assert_eq!(lines, ["0,MUG-1,5,0,0", "1,TEA-9,2,0,0"]);
    /// ```
    #[must_use]
    pub fn levels(&self) -> Vec<ItemLevels> {
        self.levels_with(Run::Auto)
    }

    /// The `top` items of highest activity, `held + sold` (above zero), most active first,
    /// ties to the lower id, with their levels (read again for the `top` only). O(items) reads
    /// and O(top) memory: a min-heap of the best `top` seen.
    #[cfg(feature = "metrics")]
    pub(crate) fn most_active(&self, top: usize) -> Vec<(ItemId, ItemLevels)> {
        use std::cmp::Reverse;
        if top == 0 {
            return Vec::new();
        }
        let catalog = self.inner.stock.catalog();
        let mut hottest = std::collections::BinaryHeap::with_capacity(top + 1);
        for index in 0..catalog.len() {
            let item = ItemId::new(index);
            let levels = item_levels(catalog.slot(item).expect("below the length read first"));
            let activity = levels.held + levels.sold;
            if activity > 0 {
                // The heap's top is the least active kept (the higher id on a tie).
                hottest.push(Reverse((activity, Reverse(item))));
                if hottest.len() > top {
                    hottest.pop();
                }
            }
        }
        hottest
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse((_, Reverse(item)))| {
                let slot = catalog.slot(item).expect("registered: read above");
                (item, item_levels(slot))
            })
            .collect()
    }

    /// [`levels`](Inventory::levels) run as told (for the measurements).
    #[doc(hidden)]
    #[must_use]
    pub fn levels_with(&self, run: Run) -> Vec<ItemLevels> {
        crate::inventory::audit::levels(self.inner.stock.catalog(), run)
    }
}

/// Items per parallel task: large enough that splitting costs little against the reads.
const CHUNK: usize = 1 << 14;

/// Catalog size from which [`Run::Auto`] builds [`Inventory::levels`] and runs the audit on
/// rayon's pool: 2^19 (524,288) items, between the sizes measured on a quiet 2-core machine
/// where the split did not pay (10,000 items) and where both gained (1,000,000: `levels` 1.6-1.8x,
/// audit 1.5-1.6x; `DESIGN.md`, "7b. Bulk work").
const PARALLEL_FROM: usize = 1 << 19;

/// How bulk work runs.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Run {
    /// The default, as measured: in parallel from [`PARALLEL_FROM`] items, serial below.
    Auto,
    /// On the calling thread.
    Serial,
    /// On rayon's global pool.
    Parallel,
}

impl Run {
    /// Whether work over `items` items runs on rayon's pool.
    fn parallel(self, items: usize) -> bool {
        match self {
            Run::Serial => false,
            Run::Parallel => true,
            Run::Auto => items >= PARALLEL_FROM,
        }
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
    let parallel = run.parallel(items as usize);
    let read = |index: u32| {
        item_levels(
            catalog
                .slot(ItemId::new(index))
                .expect("below the length read first"),
        )
    };
    if parallel {
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
    if !run.parallel(held.len()) {
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn auto_runs_in_parallel_from_the_bound() {
        assert!(!Run::Auto.parallel(PARALLEL_FROM - 1));
        assert!(Run::Auto.parallel(PARALLEL_FROM));
        assert!(Run::Parallel.parallel(1) && !Run::Serial.parallel(usize::MAX));
    }
}
