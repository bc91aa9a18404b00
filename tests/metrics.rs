//! `Inventory::export_metrics` (feature `metrics`): the values a recorder sees after some
//! operations, through `metrics-util`'s debugging recorder.

use atomic_stock::{CartId, Inventory, Line, ManualClock};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Exports `inventory`'s metrics to a fresh debugging recorder and returns them by name.
fn exported(inventory: &Inventory) -> HashMap<String, (MetricKind, DebugValue, String)> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || inventory.export_metrics());
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _unit, description, value)| {
            let (kind, key) = key.into_parts();
            let description = description.map(|d| d.to_string()).unwrap_or_default();
            (key.name().to_owned(), (kind, value, description))
        })
        .collect()
}

fn counter(metrics: &HashMap<String, (MetricKind, DebugValue, String)>, name: &str) -> u64 {
    match &metrics[name] {
        (MetricKind::Counter, DebugValue::Counter(value), _) => *value,
        other => panic!("{name} is not a counter: {other:?}"),
    }
}

fn gauge(metrics: &HashMap<String, (MetricKind, DebugValue, String)>, name: &str) -> f64 {
    match &metrics[name] {
        (MetricKind::Gauge, DebugValue::Gauge(value), _) => value.into_inner(),
        other => panic!("{name} is not a gauge: {other:?}"),
    }
}

#[test]
fn counters_and_gauges_follow_the_operations() {
    let clock = Arc::new(ManualClock::new());
    let inventory = Inventory::builder().clock(clock.clone()).build();
    let ttl = Duration::from_secs(600);
    let mug = inventory.register_item(3).unwrap();
    inventory.register_item(1).unwrap();

    let metrics = exported(&inventory);
    assert_eq!(metrics.len(), 12, "{:?}", metrics.keys());
    assert_eq!(counter(&metrics, "atomic_stock_reserves_total"), 0);
    assert_eq!(gauge(&metrics, "atomic_stock_items"), 2.0);
    assert_eq!(
        metrics["atomic_stock_shortfalls_total"].2,
        "Takes refused for a shortfall."
    );

    let paid = inventory
        .reserve(CartId::new(1), &[Line::new(mug, 1)], ttl)
        .unwrap();
    inventory.confirm(paid.id).unwrap();
    let cancelled = inventory
        .reserve(CartId::new(2), &[Line::new(mug, 1)], ttl)
        .unwrap();
    inventory.release(cancelled.id).unwrap();
    inventory
        .reserve(CartId::new(3), &[Line::new(mug, 2)], ttl)
        .unwrap();
    assert!(inventory
        .reserve(CartId::new(4), &[Line::new(mug, 1)], ttl)
        .is_err());
    inventory
        .reserve(
            CartId::new(5),
            &[Line::new(atomic_stock::ItemId::new(1), 1)],
            ttl,
        )
        .unwrap();

    let metrics = exported(&inventory);
    assert_eq!(counter(&metrics, "atomic_stock_reserves_total"), 4);
    assert_eq!(counter(&metrics, "atomic_stock_confirms_total"), 1);
    assert_eq!(counter(&metrics, "atomic_stock_releases_total"), 1);
    assert_eq!(counter(&metrics, "atomic_stock_shortfalls_total"), 1);
    assert_eq!(counter(&metrics, "atomic_stock_expiries_total"), 0);
    assert_eq!(gauge(&metrics, "atomic_stock_live_reservations"), 2.0);

    clock.advance(ttl);
    assert_eq!(inventory.expire_due(), 2);
    let metrics = exported(&inventory);
    assert_eq!(counter(&metrics, "atomic_stock_expiries_total"), 2);
    assert_eq!(gauge(&metrics, "atomic_stock_live_reservations"), 0.0);
    // Every counter of `Stats` is there, with the same value.
    let stats = inventory.stats();
    assert_eq!(
        counter(&metrics, "atomic_stock_reserves_total"),
        stats.reserves
    );
    assert_eq!(
        counter(&metrics, "atomic_stock_cas_retries_total"),
        stats.cas_retries
    );
}

/// The per-item gauges `export_item_metrics` sends to a fresh debugging recorder, by
/// (name, item label, sku label); also returns the count the call reported.
fn exported_items(
    inventory: &Inventory,
    top: usize,
) -> (usize, HashMap<(String, String, String), f64>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let count = metrics::with_local_recorder(&recorder, || inventory.export_item_metrics(top));
    let gauges = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _unit, _description, value)| {
            let (kind, key) = key.into_parts();
            let label = |name: &str| {
                key.labels()
                    .find(|label| label.key() == name)
                    .map(|label| label.value().to_owned())
                    .unwrap_or_else(|| panic!("{} has no label {name}", key.name()))
            };
            let value = match (kind, value) {
                (MetricKind::Gauge, DebugValue::Gauge(value)) => value.into_inner(),
                other => panic!("{} is not a gauge: {other:?}", key.name()),
            };
            ((key.name().to_owned(), label("item"), label("sku")), value)
        })
        .collect();
    (count, gauges)
}

#[test]
fn item_gauges_cover_the_most_active_items_only() {
    let inventory = Inventory::new();
    let ttl = Duration::from_secs(600);
    let mug = inventory.register_sku("MUG-1", 10).unwrap();
    let tea = inventory.register_sku("TEA-9", 10).unwrap();
    let pot = inventory.register_sku("POT-3", 10).unwrap();
    let bare = inventory.register_item(10).unwrap();
    // The mug: 3 held. The tea: 2 sold. The pot: reserved and released, so no activity.
    // The item without a SKU: 1 held.
    inventory
        .reserve(CartId::new(1), &[Line::new(mug, 3)], ttl)
        .unwrap();
    let paid = inventory
        .reserve(CartId::new(2), &[Line::new(tea, 2)], ttl)
        .unwrap();
    inventory.confirm(paid.id).unwrap();
    let dropped = inventory
        .reserve(CartId::new(3), &[Line::new(pot, 4)], ttl)
        .unwrap();
    inventory.release(dropped.id).unwrap();
    inventory
        .reserve(CartId::new(4), &[Line::new(bare, 1)], ttl)
        .unwrap();

    let key = |name: &str, item: u32, sku: &str| {
        (
            format!("atomic_stock_item_{name}"),
            item.to_string(),
            sku.to_owned(),
        )
    };
    let (count, gauges) = exported_items(&inventory, 2);
    assert_eq!((count, gauges.len()), (2, 6), "{gauges:?}");
    assert_eq!(gauges[&key("held", 0, "MUG-1")], 3.0);
    assert_eq!(gauges[&key("available", 0, "MUG-1")], 7.0);
    assert_eq!(gauges[&key("sold", 0, "MUG-1")], 0.0);
    assert_eq!(gauges[&key("sold", 1, "TEA-9")], 2.0);
    assert_eq!(gauges[&key("available", 1, "TEA-9")], 8.0);

    // Every active item, the one without a SKU labelled with an empty one; never the pot.
    let (count, gauges) = exported_items(&inventory, usize::MAX);
    assert_eq!((count, gauges.len()), (3, 9), "{gauges:?}");
    assert_eq!(gauges[&key("held", 3, "")], 1.0);
    assert!(!gauges.keys().any(|(_, item, _)| item == "2"));

    let (count, gauges) = exported_items(&inventory, 0);
    assert_eq!((count, gauges.len()), (0, 0));
}

#[test]
fn item_gauges_are_bounded() {
    use atomic_stock::limits::MAX_EXPORTED_ITEMS;
    let inventory = Inventory::new();
    let ttl = Duration::from_secs(600);
    let items = MAX_EXPORTED_ITEMS + 50;
    for i in 0..items {
        let item = inventory.register_sku(&format!("SKU-{i}"), 1_000).unwrap();
        // Item i has i + 1 units held: the most active are the last ones registered.
        inventory
            .reserve(CartId::new(i as u64), &[Line::new(item, i as i64 + 1)], ttl)
            .unwrap();
    }
    let (count, gauges) = exported_items(&inventory, usize::MAX);
    assert_eq!(count, MAX_EXPORTED_ITEMS);
    assert_eq!(gauges.len(), 3 * MAX_EXPORTED_ITEMS);
    let lowest = (items - MAX_EXPORTED_ITEMS) as u32;
    assert!(gauges
        .keys()
        .all(|(_, item, _)| item.parse::<u32>().unwrap() >= lowest));
    let last = (items - 1) as u32;
    assert_eq!(
        gauges[&(
            "atomic_stock_item_held".to_owned(),
            last.to_string(),
            format!("SKU-{last}")
        )],
        items as f64
    );
}
