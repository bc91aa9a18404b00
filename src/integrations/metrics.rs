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
//! The names are listed in [`Inventory::export_metrics`]'s docs.

use crate::inventory::Inventory;
use metrics::Unit;

/// The gauge of live reservations.
const LIVE_RESERVATIONS: &str = "atomic_stock_live_reservations";
/// The gauge of registered items.
const ITEMS: &str = "atomic_stock_items";

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
    /// Metrics carry no labels: an exporter's global labels (service, instance) identify the
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
}
