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
