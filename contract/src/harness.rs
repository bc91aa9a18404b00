//! Stepping a real engine and the [`Model`] together, one [`Op`] at a time.
//!
//! [`Mirror`] is everything of a run but the engine: the model, the [`ManualClock`] both sides
//! read, and the map from the real [`ReservationId`]s to the model's reservation indices. It
//! gives the model's answer to an operation ([`Mirror::expect`]) and compares it with the real
//! one, so the two harnesses built on it differ only in how they call the engine:
//! - [`Harness`], synchronous, over an [`Engine`]: every verb of the lifecycle, for the core
//!   crate's model test and the fuzz target;
//! - the async model test of every [`Backend`](atomic_stock::Backend) (the `model` function of
//!   this crate, with the `suite` feature), for the verbs a backend has.

use crate::spec::{Config, Model, Op, Outcome, Ref};
use atomic_stock::{
    AuditError, AuditReport, CartId, Clock, Inventory, ItemId, ItemLevels, ManualClock, Receipt,
    ReservationEngine, ReservationId,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The model side of a run, and how real reservation ids map to model indices.
#[derive(Debug)]
pub struct Mirror {
    /// The sequential specification, stepped with the engine.
    pub model: Model,
    /// The clock the engine reads; [`Op::Advance`] moves it and the model's time together.
    pub clock: Arc<ManualClock>,
    start: Instant,
    /// Whether receipts' deadlines are compared: not for an engine whose time is a server's.
    deadlines: bool,
    /// Real ids by model index.
    ids: Vec<ReservationId>,
    index_of: HashMap<ReservationId, usize>,
    /// The id a [`Ref::Forged`] stands for: never issued by anyone.
    forged: ReservationId,
}

impl Mirror {
    /// A fresh model of `config`, its time starting at `clock`'s present; `deadlines` says
    /// whether receipts' deadlines are compared.
    #[must_use]
    pub fn new(config: Config, clock: Arc<ManualClock>, deadlines: bool) -> Self {
        let start = clock.now();
        Mirror {
            model: Model::new(config),
            clock,
            start,
            deadlines,
            ids: Vec::new(),
            index_of: HashMap::new(),
            forged: ReservationId::from_bytes([0xAB; 20]),
        }
    }

    /// A real receipt as the model states it: the index of its reservation (a new index for an
    /// id not seen before) and its deadline in milliseconds from the start.
    pub fn receipt(&mut self, r: Receipt) -> Outcome {
        let next = self.ids.len();
        let reservation = *self.index_of.entry(r.id).or_insert(next);
        if reservation == next {
            self.ids.push(r.id);
        }
        Outcome::Receipt {
            reservation,
            deadline_ms: self.deadline_ms(r.deadline),
        }
    }

    fn deadline_ms(&self, deadline: Instant) -> u64 {
        if self.deadlines {
            deadline.saturating_duration_since(self.start).as_millis() as u64
        } else {
            0
        }
    }

    /// The real id a reference names: one seen earlier, or the forged one.
    #[must_use]
    pub fn id(&self, r: &Ref) -> ReservationId {
        match r {
            Ref::Seen(i) if !self.ids.is_empty() => self.ids[i % self.ids.len()],
            _ => self.forged,
        }
    }

    /// The model index a reference resolves to (`None` for an id never issued).
    fn index(&self, r: &Ref) -> Option<usize> {
        match r {
            Ref::Seen(i) if !self.ids.is_empty() => Some(i % self.ids.len()),
            _ => None,
        }
    }

    /// Applies `op` to the model and returns its answer. Call it after the engine ran `op`:
    /// [`Op::Advance`] moves the shared clock here, and references resolve to the ids the
    /// engine has issued so far.
    pub fn expect(&mut self, op: &Op) -> Outcome {
        let index = match op {
            Op::Confirm(r)
            | Op::Release(r)
            | Op::Extend(r, _)
            | Op::ReleaseLines(r, _)
            | Op::Status(r) => self.index(r),
            _ => None,
        };
        let model = &mut self.model;
        let mut expected = match op {
            Op::Reserve(cart, raw, ttl) => model.reserve(*cart, raw, *ttl),
            Op::SetCart(cart, raw, ttl) => model.set_cart(*cart, raw, *ttl),
            Op::Confirm(_) => {
                let found = model.resolve(index);
                model.confirm(found)
            }
            Op::ConfirmCart(cart) => {
                let found = model.resolve_cart(*cart).map(Some);
                model.confirm(found)
            }
            Op::Release(_) => {
                let found = model.resolve(index);
                model.release(found)
            }
            Op::ReleaseCart(cart) => {
                let found = model.resolve_cart(*cart).map(Some);
                model.release(found)
            }
            Op::Extend(_, ttl) => model.extend(index, *ttl),
            Op::ExtendCart(cart, ttl) => model.extend_cart(*cart, *ttl),
            Op::Status(_) => model.status(index),
            Op::ReleaseLines(_, raw) => model.release_lines(index, raw),
            Op::Restock(item, q) => model.adjust(*item, *q, true),
            Op::Shrink(item, q) => model.adjust(*item, *q, false),
            Op::Advance(d) => {
                self.clock.advance(Duration::from_millis(*d));
                model.now += d;
                Outcome::Unit
            }
            Op::ExpireDue => Outcome::Count(model.expire_due()),
        };
        if !self.deadlines {
            if let Outcome::Receipt { deadline_ms, .. } = &mut expected {
                *deadline_ms = 0;
            }
        }
        expected
    }

    /// Runs the model's side of `op` and compares its answer with the engine's, `got`.
    pub fn check(&mut self, op: &Op, got: Outcome) -> Result<(), String> {
        let expected = self.expect(op);
        if got != expected {
            return Err(format!("{op:?}\n  real:  {got:?}\n  model: {expected:?}"));
        }
        Ok(())
    }

    /// Whether a real item's counts are the model's, with nothing in flight.
    pub fn check_item(&self, item: u32, levels: &ItemLevels) -> Result<(), String> {
        let i = item as usize;
        let want = (
            self.model.available[i],
            self.model.held(item),
            self.model.sold[i],
            self.model.received[i],
        );
        let have = (levels.available, levels.held, levels.sold, levels.received);
        if have != want || levels.in_flight != 0 {
            return Err(format!(
                "item {item}: real (available, held, sold, received) {have:?} (in flight {}), \
                 model {want:?}",
                levels.in_flight
            ));
        }
        Ok(())
    }
}

/// What the harness needs of an engine beyond [`ReservationEngine`]: building one on a manual
/// clock, and the counts and audit every engine offers as inherent methods. Implemented for [`Inventory`], and for the lifecycle baselines with the
/// `baselines` feature, so one specification checks every engine.
pub trait Engine: ReservationEngine + Sized {
    /// A fresh engine on `clock`, refusing times to live above `config.max_ttl_ms`.
    fn build(clock: Arc<ManualClock>, config: &Config) -> Self;
    /// How many reservations are live.
    fn live_reservations(&self) -> usize;
    /// The engine's own conservation audit.
    fn audit(&self) -> Result<AuditReport, AuditError>;
}

/// Implements [`Engine`] by the engine's inherent methods of the same names.
macro_rules! engine_by_inherent_methods {
    ($engine:ty, |$clock:ident, $config:ident| $build:expr) => {
        impl Engine for $engine {
            fn build($clock: Arc<ManualClock>, $config: &Config) -> Self {
                $build
            }
            fn live_reservations(&self) -> usize {
                <$engine>::live_reservations(self)
            }
            fn audit(&self) -> Result<AuditReport, AuditError> {
                <$engine>::audit(self)
            }
        }
    };
}

// Manual clock, one shard, every finished outcome remembered (the model remembers them all),
// and a small cart table so that buckets chain.
engine_by_inherent_methods!(Inventory, |clock, config| Inventory::builder()
    .clock(clock)
    .shards(1)
    .finished_memory(1 << 16)
    .expected_carts(64)
    .max_ttl(Duration::from_millis(config.max_ttl_ms))
    .build());

#[cfg(feature = "baselines")]
mod baselines {
    use super::Engine;
    use crate::spec::Config;
    use atomic_stock::baseline::{GlobalLockInventory, ItemLocksInventory, LifecycleSettings};
    use atomic_stock::{AuditError, AuditReport, ManualClock};
    use std::sync::Arc;
    use std::time::Duration;

    fn settings(clock: Arc<ManualClock>, config: &Config) -> LifecycleSettings {
        LifecycleSettings::default()
            .clock(clock)
            .finished_memory(1 << 16)
            .max_ttl(Duration::from_millis(config.max_ttl_ms))
    }

    engine_by_inherent_methods!(ItemLocksInventory, |clock, config| {
        ItemLocksInventory::with_settings(settings(clock, config))
    });
    engine_by_inherent_methods!(GlobalLockInventory, |clock, config| {
        GlobalLockInventory::with_settings(settings(clock, config))
    });
}

/// A real engine and the model side by side, stepped together.
#[derive(Debug)]
pub struct Harness<E: Engine = Inventory> {
    /// The engine under test.
    pub inventory: E,
    /// The model and the id map.
    pub mirror: Mirror,
}

impl<E: Engine> Harness<E> {
    /// A fresh engine (see [`Engine::build`]) with `config.items` items of `config.initial`
    /// units, and its model.
    pub fn new(config: Config) -> Self {
        let clock = Arc::new(ManualClock::new());
        let inventory = E::build(clock.clone(), &config);
        for _ in 0..config.items {
            inventory.register_item(config.initial).unwrap();
        }
        Harness {
            inventory,
            mirror: Mirror::new(config, clock, true),
        }
    }

    /// Runs `op` on both sides; `Err` describes the first difference (in the answer, an
    /// item's counts, or the number of live reservations).
    pub fn step(&mut self, op: &Op) -> Result<(), String> {
        let ms = Duration::from_millis;
        let (inventory, mirror) = (&self.inventory, &mut self.mirror);
        let got = match op {
            Op::Reserve(cart, raw, ttl) => {
                let lines = crate::spec::to_lines(raw);
                match inventory.reserve(CartId::new(*cart), &lines, ms(*ttl)) {
                    Ok(r) => mirror.receipt(r),
                    Err(e) => Outcome::Reserve(e),
                }
            }
            Op::SetCart(cart, raw, ttl) => {
                let lines = crate::spec::to_lines(raw);
                match inventory.set_cart(CartId::new(*cart), &lines, ms(*ttl)) {
                    Ok(r) => mirror.receipt(r),
                    Err(e) => Outcome::Reserve(e),
                }
            }
            Op::Confirm(r) => inventory
                .confirm(mirror.id(r))
                .map_or_else(Outcome::Reservation, Outcome::Confirmation),
            Op::ConfirmCart(cart) => inventory
                .confirm_cart(CartId::new(*cart))
                .map_or_else(Outcome::Reservation, Outcome::Confirmation),
            Op::Release(r) => inventory
                .release(mirror.id(r))
                .map_or_else(Outcome::Reservation, |()| Outcome::Unit),
            Op::ReleaseCart(cart) => inventory
                .release_cart(CartId::new(*cart))
                .map_or_else(Outcome::Reservation, |()| Outcome::Unit),
            Op::Extend(r, ttl) => match inventory.extend(mirror.id(r), ms(*ttl)) {
                Ok(receipt) => mirror.receipt(receipt),
                Err(e) => Outcome::Reservation(e),
            },
            Op::ExtendCart(cart, ttl) => {
                match inventory.extend_cart(CartId::new(*cart), ms(*ttl)) {
                    Ok(receipt) => mirror.receipt(receipt),
                    Err(e) => Outcome::Reservation(e),
                }
            }
            Op::Status(r) => inventory
                .status(mirror.id(r))
                .map_or_else(Outcome::Reservation, Outcome::State),
            Op::ReleaseLines(r, raw) => inventory
                .release_lines(mirror.id(r), &crate::spec::to_lines(raw))
                .map_or_else(Outcome::Reservation, |()| Outcome::Unit),
            Op::Restock(item, q) => inventory
                .restock(ItemId::new(*item), *q)
                .map_or_else(Outcome::Adjust, |()| Outcome::Unit),
            Op::Shrink(item, q) => inventory
                .shrink(ItemId::new(*item), *q)
                .map_or_else(Outcome::Adjust, |()| Outcome::Unit),
            Op::Advance(_) => Outcome::Unit,
            Op::ExpireDue => Outcome::Count(inventory.expire_due()),
        };
        mirror.check(op, got)?;
        self.check_levels().map_err(|e| format!("{op:?}\n  {e}"))
    }

    /// Every item's counts and the number of live reservations agree with the model.
    pub fn check_levels(&self) -> Result<(), String> {
        let model = &self.mirror.model;
        for item in 0..model.config.items {
            let levels = self.inventory.item(ItemId::new(item)).unwrap();
            self.mirror.check_item(item, &levels)?;
        }
        if self.inventory.live_reservations() != model.carts.len() {
            return Err(format!(
                "live reservations: real {}, model {}",
                self.inventory.live_reservations(),
                model.carts.len()
            ));
        }
        Ok(())
    }
}
