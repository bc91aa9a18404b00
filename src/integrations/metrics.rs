//! Exports an inventory's counters through the [`metrics`] facade (feature `metrics`), for
//! whatever exporter (Prometheus, StatsD, OpenTelemetry, ...) the host installed as its
//! recorder. The crate depends on the facade only, never on an exporter.
//!
//! Nothing is recorded on the hot path: the counters stay the engine's own sharded ones
//! ([`Stats`](crate::Stats)), and [`Inventory::export_metrics`] copies a snapshot of them to
//! the recorder when the host calls it, typically from the same periodic task that serves the
//! scrape or flushes the exporter. Counters are set with `absolute`, so calling it more or less
//! often changes only how fresh the values are.
//!
//! [`Inventory::export_item_metrics`] adds per-item gauges for the most active items, a number
//! bounded by [`MAX_EXPORTED_ITEMS`]: what a dashboard needs to watch a flash sale without a
//! series per item of the catalog. The activity it ranks by is read from counters every item
//! already keeps, so the reserve path does no extra work for it.
//!
//! The names are listed in the two methods' docs.

use crate::inventory::Inventory;
use crate::limits::MAX_EXPORTED_ITEMS;
use metrics::Unit;

/// The gauge of live reservations.
const LIVE_RESERVATIONS: &str = "atomic_stock_live_reservations";
/// The gauge of registered items.
const ITEMS: &str = "atomic_stock_items";
/// The per-item gauges of the most active items, and their help texts.
const ITEM_GAUGES: [(&str, &str); 3] = [
    (
        "atomic_stock_item_available",
        "Units of the item anyone may reserve now.",
    ),
    (
        "atomic_stock_item_held",
        "Units of the item held by live reservations.",
    ),
    ("atomic_stock_item_sold", "Units of the item sold."),
];

impl Inventory {
    /// Publishes the inventory's counters and gauges to the installed `metrics` recorder: each
    /// [`Stats`](crate::Stats) field as the counter `atomic_stock_<field>_total`, plus two
    /// gauges:
    ///
    /// | metric | kind | value |
    /// | --- | --- | --- |
    /// | `atomic_stock_shortfalls_total` | counter | takes refused for a shortfall |
    /// | `atomic_stock_compensations_total` | counter | takes that gave back lines already taken |
    /// | `atomic_stock_cas_retries_total` | counter | failed compare-and-swaps on stock words |
    /// | `atomic_stock_waits_total` | counter | takes that waited for operations in flight |
    /// | `atomic_stock_reserves_total` | counter | successful reservations and cart updates |
    /// | `atomic_stock_confirms_total` | counter | reservations confirmed |
    /// | `atomic_stock_releases_total` | counter | reservations released in full |
    /// | `atomic_stock_partial_releases_total` | counter | partial releases |
    /// | `atomic_stock_extends_total` | counter | deadlines extended |
    /// | `atomic_stock_expiries_total` | counter | reservations expired |
    /// | `atomic_stock_live_reservations` | gauge | live reservations now |
    /// | `atomic_stock_items` | gauge | registered items |
    ///
    /// A counter added to [`Stats`](crate::Stats) is exported under the same pattern; the
    /// names follow `Stats` (see `docs/STABILITY.md`).
    ///
    /// Reads one [`stats`](Inventory::stats) snapshot (a sum over the counter shards) and takes
    /// no lock that a reserve takes. Call it periodically, or right before a scrape. Each call
    /// also describes the metrics (unit, help text), so a recorder installed late still gets
    /// the descriptions. Without a recorder installed it does nothing.
    ///
    /// Per-item gauges, for the most active items only, come from
    /// [`export_item_metrics`](Inventory::export_item_metrics).
    ///
    /// These metrics carry no labels: an exporter's global labels (service, instance) identify the
    /// process. A process with several inventories should export only one of them, or wrap
    /// the recorder (for example with `metrics-util`'s layers) to tell them apart.
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line};
    /// use std::time::Duration;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_item(5).unwrap();
    /// inventory
    ///     .reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(600))
    ///     .unwrap();
    /// // In a service: every few seconds, or from the exporter's scrape handler.
    /// inventory.export_metrics();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn export_metrics(&self) {
        self.stats().for_each(|field, description, value| {
            // One small allocation per counter and call: this runs every few seconds, not per
            // operation.
            let name = format!("atomic_stock_{field}_total");
            metrics::describe_counter!(name.clone(), Unit::Count, description);
            metrics::counter!(name).absolute(value);
        });
        metrics::describe_gauge!(LIVE_RESERVATIONS, Unit::Count, "Live (held) reservations.");
        metrics::gauge!(LIVE_RESERVATIONS).set(self.live_reservations() as f64);
        metrics::describe_gauge!(ITEMS, Unit::Count, "Registered items.");
        metrics::gauge!(ITEMS).set(self.items() as f64);
    }

    /// Publishes per-item gauges for the `top` most active items (at most
    /// [`MAX_EXPORTED_ITEMS`]; a larger `top` is taken as that limit) to the installed
    /// `metrics` recorder, and returns how many items it exported.
    ///
    /// An item's *activity* is `held + sold`: units taken by live reservations plus units sold
    /// ever, counters each item already keeps (released and expired units are back in
    /// `available` and do not count; a restock does not count). The most active items are the
    /// ones a dashboard watches in a sale; items with no activity are not exported, and ties go
    /// to the lower id. Each exported item gets three gauges, labelled `item` (its id) and
    /// `sku` (empty for an item registered without one):
    ///
    /// | metric | kind | value |
    /// | --- | --- | --- |
    /// | `atomic_stock_item_available` | gauge | units anyone may reserve now |
    /// | `atomic_stock_item_held` | gauge | units held by live reservations |
    /// | `atomic_stock_item_sold` | gauge | units sold |
    ///
    /// Cardinality: one call updates at most `3 × top` series. An item that drops out of the
    /// top keeps its last values in the recorder, no longer updated; an exporter that expires
    /// idle series (for `metrics-exporter-prometheus`, `PrometheusBuilder::idle_timeout`) then
    /// drops it, so the series alive stay those of the items recently in the top. Every item's
    /// levels, for a full export, are in [`levels`](Inventory::levels).
    ///
    /// O(items) reads (four atomic loads per item, no allocation beyond the `top` kept) and
    /// no lock a reserve takes: a walk like the audit's, which took about 10 ns per item over
    /// 10 million items (`DESIGN.md`, "7b. Bulk work"), so call it every few seconds, not per
    /// operation. The levels are read one item at
    /// a time, as [`item`](Inventory::item) reads them.
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line};
    /// use std::time::Duration;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_sku("MUG-1", 5).unwrap();
    /// inventory.register_sku("TEA-9", 5).unwrap();
    /// inventory
    ///     .reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(600))
    ///     .unwrap();
    /// // Only the mug has activity: `atomic_stock_item_held{item="0",sku="MUG-1"}` is 2.
    /// assert_eq!(inventory.export_item_metrics(10), 1);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn export_item_metrics(&self, top: usize) -> usize {
        let top = top.min(MAX_EXPORTED_ITEMS);
        let hottest = self.most_active(top);
        for (name, help) in ITEM_GAUGES {
            metrics::describe_gauge!(name, Unit::Count, help);
        }
        for &(item, levels) in &hottest {
            let labels = [
                ("item", item.get().to_string()),
                ("sku", self.sku(item).unwrap_or_default().to_owned()),
            ];
            let values = [levels.available, levels.held, levels.sold];
            for ((name, _), value) in ITEM_GAUGES.into_iter().zip(values) {
                metrics::gauge!(name, &labels).set(value as f64);
            }
        }
        hottest.len()
    }
}
