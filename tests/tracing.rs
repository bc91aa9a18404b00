//! The `tracing` events (feature `tracing`): a hand-written subscriber counts the events of
//! target `atomic_stock` by name while a reserve, confirm, release, shortfall and expiry run.

use atomic_stock::{CartId, Inventory, Line, ManualClock};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Every event of target `atomic_stock`: its name, level and fields as text.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<(String, Level, String)>>>);

impl Recorded {
    fn count(&self, name: &str) -> usize {
        let events = self.0.lock().unwrap();
        events.iter().filter(|(n, _, _)| n == name).count()
    }

    fn names(&self) -> Vec<String> {
        let events = self.0.lock().unwrap();
        events.iter().map(|(n, _, _)| n.clone()).collect()
    }

    fn last(&self, name: &str) -> (Level, String) {
        let events = self.0.lock().unwrap();
        let (_, level, fields) = events.iter().rev().find(|(n, _, _)| n == name).unwrap();
        (*level, fields.clone())
    }
}

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Recorded {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        if meta.target() != "atomic_stock" {
            return;
        }
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let text = fields
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut events = self.0.lock().unwrap();
        events.push((meta.name().to_owned(), *meta.level(), text));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[test]
fn lifecycle_emits_one_event_per_outcome() {
    let recorded = Recorded::default();
    let clock = Arc::new(ManualClock::new());
    let ttl = Duration::from_secs(600);
    tracing::subscriber::with_default(recorded.clone(), || {
        let inventory = Inventory::builder().clock(clock.clone()).build();
        let mug = inventory.register_item(3).unwrap();

        let paid = inventory
            .reserve(CartId::new(1), &[Line::new(mug, 2)], ttl)
            .unwrap();
        inventory.confirm(paid.id).unwrap();
        // Idempotent confirm: no second event.
        inventory.confirm(paid.id).unwrap();

        let cancelled = inventory
            .reserve(CartId::new(2), &[Line::new(mug, 1)], ttl)
            .unwrap();
        inventory.release(cancelled.id).unwrap();

        let abandoned = inventory
            .reserve(CartId::new(3), &[Line::new(mug, 1)], ttl)
            .unwrap();
        // Nothing left: a shortfall.
        assert!(inventory
            .reserve(CartId::new(4), &[Line::new(mug, 1)], ttl)
            .is_err());
        // Bad input is the caller's bug, answered by a typed error, not an event.
        assert!(inventory.reserve(CartId::new(5), &[], ttl).is_err());

        clock.advance(ttl);
        assert_eq!(inventory.expire_due(), 1);
        assert!(inventory.confirm(abandoned.id).is_err());
    });

    assert_eq!(
        recorded.names(),
        [
            "reserve",
            "confirm",
            "reserve",
            "release",
            "reserve",
            "shortfall",
            "expire"
        ]
    );
    let (level, fields) = recorded.last("shortfall");
    assert_eq!(level, Level::DEBUG);
    assert_eq!(fields, "available=0 cart=4 item=0 requested=1");
    let (level, fields) = recorded.last("expire");
    assert_eq!(level, Level::DEBUG);
    assert!(fields.starts_with("cart=3 id="), "{fields}");
    assert!(fields.ends_with("late_ns=0 lines=1"), "{fields}");
    let (level, fields) = recorded.last("confirm");
    assert_eq!(level, Level::TRACE);
    assert!(fields.starts_with("cart=1 id="), "{fields}");
    assert_eq!(recorded.count("reserve"), 3);
}

#[test]
fn cart_updates_and_cart_releases_emit_the_same_events() {
    let recorded = Recorded::default();
    let ttl = Duration::from_secs(600);
    tracing::subscriber::with_default(recorded.clone(), || {
        let inventory = Inventory::new();
        let mug = inventory.register_item(3).unwrap();
        let tea = inventory.register_item(3).unwrap();
        let cart = CartId::new(7);
        inventory.set_cart(cart, &[Line::new(mug, 1)], ttl).unwrap();
        inventory
            .set_cart(cart, &[Line::new(mug, 2), Line::new(tea, 1)], ttl)
            .unwrap();
        assert!(inventory.set_cart(cart, &[Line::new(tea, 9)], ttl).is_err());
        inventory.release_cart(cart).unwrap();
    });
    assert_eq!(
        recorded.names(),
        ["reserve", "reserve", "shortfall", "release"]
    );
    let (_, fields) = recorded.last("release");
    assert!(fields.ends_with("lines=2"), "{fields}");
}
