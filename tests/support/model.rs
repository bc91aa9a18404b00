//! The sequential specification of the reservation lifecycle, written from the documentation,
//! shared by every checker that needs one: the quickcheck model test
//! (`tests/lifecycle_model.rs`), the fuzz targets (`fuzz/fuzz_targets/`, which include this
//! file by path) and the linearizability checker (`tests/linearizability.rs`).
//!
//! [`Model`] is plain data (ordered maps, `Clone + Eq + Hash`), so a checker can copy it at
//! every branch of a search and memoize on it. [`Harness`] runs one [`Op`] against a real
//! [`Inventory`] (on a [`ManualClock`], one shard) and against the model, and compares the
//! answers and every item's counts.
//!
//! Reservations are named in the model by creation index (0, 1, 2, ...); [`Outcome::Receipt`]
//! carries that index, and the harness maps real [`ReservationId`]s to it.
// Each including test or fuzz target uses a different part of this file.
#![allow(dead_code)]

use atomic_stock::limits::{MAX_LINES, MAX_LINE_QUANTITY, MAX_STOCK};
use atomic_stock::{
    AdjustError, AuditError, AuditReport, CartId, Confirmation, Inventory, ItemId, Line,
    ManualClock, ReservationEngine, ReservationError, ReservationId, ReserveError, TakeError,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shape of the inventory a model stands for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Config {
    /// Items registered up front, ids `0..items`.
    pub items: u32,
    /// Initial units of each item.
    pub initial: i64,
    /// The inventory's `max_ttl`, in milliseconds.
    pub max_ttl_ms: u64,
}

/// Which reservation an operation names: one the test saw earlier (by index, modulo how many
/// there are), or one that was never issued.
#[derive(Clone, Debug)]
pub enum Ref {
    Seen(usize),
    Forged,
}

/// One operation of the lifecycle, with raw (possibly invalid) arguments. Lines are
/// `(item, quantity)`; times to live and clock advances are in milliseconds.
#[derive(Clone, Debug)]
pub enum Op {
    Reserve(u64, Vec<(u32, i64)>, u64),
    SetCart(u64, Vec<(u32, i64)>, u64),
    Confirm(Ref),
    ConfirmCart(u64),
    Release(Ref),
    ReleaseCart(u64),
    Extend(Ref, u64),
    ReleaseLines(Ref, Vec<(u32, i64)>),
    Restock(u32, i64),
    Shrink(u32, i64),
    Advance(u64),
    ExpireDue,
}

/// What an operation answered, in a form both sides can produce.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    Receipt {
        reservation: usize,
        deadline_ms: u64,
    },
    Confirmation(Confirmation),
    Unit,
    Count(usize),
    Reserve(ReserveError),
    Reservation(ReservationError),
    Adjust(AdjustError),
}

/// A live reservation of the model.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Hold {
    pub index: usize,
    pub lines: BTreeMap<u32, i64>,
    pub deadline: u64,
}

/// How a reservation of the model finished.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Finished {
    Confirmed,
    Released,
    Expired,
}

/// The sequential specification.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Model {
    pub config: Config,
    pub available: Vec<i64>,
    pub received: Vec<i64>,
    pub sold: Vec<i64>,
    /// The live reservation of each cart.
    pub carts: BTreeMap<u64, Hold>,
    pub finished: BTreeMap<usize, Finished>,
    /// Cart of every reservation created so far, by index.
    pub created: Vec<u64>,
    /// Milliseconds since the start.
    pub now: u64,
}

impl Model {
    pub fn new(config: Config) -> Self {
        let n = config.items as usize;
        Model {
            config,
            available: vec![config.initial; n],
            received: vec![config.initial; n],
            sold: vec![0; n],
            carts: BTreeMap::new(),
            finished: BTreeMap::new(),
            created: Vec::new(),
            now: 0,
        }
    }

    /// Validates and merges lines as `Inventory` documents it: no lines, too many lines, a
    /// bad quantity or an unknown item (the first offending line in input order, quantity
    /// checked before item), then a merge overflow (the first item in id order).
    pub fn validate(&self, raw: &[(u32, i64)]) -> Result<BTreeMap<u32, i64>, TakeError> {
        if raw.is_empty() {
            return Err(TakeError::EmptyCart);
        }
        if raw.len() > MAX_LINES {
            return Err(TakeError::TooManyLines {
                lines: raw.len(),
                max: MAX_LINES,
            });
        }
        for &(item, quantity) in raw {
            if !(1..=MAX_LINE_QUANTITY).contains(&quantity) {
                return Err(TakeError::InvalidQuantity {
                    item: ItemId::new(item),
                    quantity,
                });
            }
            if item >= self.config.items {
                return Err(TakeError::UnknownItem {
                    item: ItemId::new(item),
                });
            }
        }
        let mut merged = BTreeMap::new();
        for &(item, quantity) in raw {
            *merged.entry(item).or_insert(0) += quantity;
        }
        if let Some((&item, _)) = merged.iter().find(|(_, &q)| q > MAX_LINE_QUANTITY) {
            return Err(TakeError::QuantityOverflow {
                item: ItemId::new(item),
            });
        }
        Ok(merged)
    }

    fn ttl(&self, ttl_ms: u64) -> Option<u64> {
        (1..=self.config.max_ttl_ms)
            .contains(&ttl_ms)
            .then_some(ttl_ms)
    }

    fn settle(&mut self, cart: u64, how: Finished) {
        let hold = self.carts.remove(&cart).unwrap();
        for (&item, &q) in &hold.lines {
            match how {
                Finished::Confirmed => self.sold[item as usize] += q,
                _ => self.available[item as usize] += q,
            }
        }
        self.finished.insert(hold.index, how);
    }

    pub fn expire_due(&mut self) -> usize {
        let due: Vec<u64> = self
            .carts
            .iter()
            .filter(|(_, h)| h.deadline <= self.now)
            .map(|(&c, _)| c)
            .collect();
        for &cart in &due {
            self.settle(cart, Finished::Expired);
        }
        due.len()
    }

    /// The all-or-nothing take with expiry on shortfall.
    fn take(&mut self, lines: &BTreeMap<u32, i64>) -> Result<(), TakeError> {
        let short = |m: &Model| {
            lines
                .iter()
                .find(|(&i, &q)| m.available[i as usize] < q)
                .map(|(&i, &q)| TakeError::Shortfall {
                    item: ItemId::new(i),
                    requested: q,
                    available: m.available[i as usize],
                })
        };
        if short(self).is_some() {
            self.expire_due();
        }
        if let Some(e) = short(self) {
            return Err(e);
        }
        for (&i, &q) in lines {
            self.available[i as usize] -= q;
        }
        Ok(())
    }

    fn give_back(&mut self, lines: &BTreeMap<u32, i64>) {
        for (&i, &q) in lines {
            self.available[i as usize] += q;
        }
    }

    /// The live hold of `cart`, expiring it first if due.
    fn live(&mut self, cart: u64) -> Option<&mut Hold> {
        if self
            .carts
            .get(&cart)
            .is_some_and(|h| h.deadline <= self.now)
        {
            self.settle(cart, Finished::Expired);
        }
        self.carts.get_mut(&cart)
    }

    pub fn reserve(&mut self, cart: u64, raw: &[(u32, i64)], ttl_ms: u64) -> Outcome {
        let Some(ttl) = self.ttl(ttl_ms) else {
            return Outcome::Reserve(ReserveError::InvalidTtl {
                ttl: Duration::from_millis(ttl_ms),
            });
        };
        let lines = match self.validate(raw) {
            Ok(l) => l,
            Err(e) => return Outcome::Reserve(ReserveError::Stock(e)),
        };
        if let Err(e) = self.take(&lines) {
            return Outcome::Reserve(ReserveError::Stock(e));
        }
        let deadline = self.now + ttl;
        if let Some(hold) = self.live(cart) {
            // The merged reservation must respect the line limits too (the first item in id
            // order whose sum overflows, then the number of lines).
            let mut merged = hold.lines.clone();
            for (&i, &q) in &lines {
                *merged.entry(i).or_insert(0) += q;
            }
            let error = if let Some((&i, _)) = merged.iter().find(|(_, &q)| q > MAX_LINE_QUANTITY) {
                Some(TakeError::QuantityOverflow {
                    item: ItemId::new(i),
                })
            } else if merged.len() > MAX_LINES {
                Some(TakeError::TooManyLines {
                    lines: merged.len(),
                    max: MAX_LINES,
                })
            } else {
                None
            };
            if let Some(e) = error {
                self.give_back(&lines);
                return Outcome::Reserve(ReserveError::Stock(e));
            }
            let hold = self.carts.get_mut(&cart).unwrap();
            hold.lines = merged;
            hold.deadline = deadline;
            return Outcome::Receipt {
                reservation: hold.index,
                deadline_ms: deadline,
            };
        }
        let index = self.created.len();
        self.created.push(cart);
        self.carts.insert(
            cart,
            Hold {
                index,
                lines,
                deadline,
            },
        );
        Outcome::Receipt {
            reservation: index,
            deadline_ms: deadline,
        }
    }

    pub fn set_cart(&mut self, cart: u64, raw: &[(u32, i64)], ttl_ms: u64) -> Outcome {
        let Some(ttl) = self.ttl(ttl_ms) else {
            return Outcome::Reserve(ReserveError::InvalidTtl {
                ttl: Duration::from_millis(ttl_ms),
            });
        };
        let wanted = match self.validate(raw) {
            Ok(l) => l,
            Err(e) => return Outcome::Reserve(ReserveError::Stock(e)),
        };
        let Some(hold) = self.live(cart) else {
            return self.reserve(cart, raw, ttl_ms);
        };
        let held = hold.lines.clone();
        let index = hold.index;
        let additions: BTreeMap<u32, i64> = wanted
            .iter()
            .filter_map(|(&i, &q)| {
                let h = held.get(&i).copied().unwrap_or(0);
                (q > h).then_some((i, q - h))
            })
            .collect();
        if !additions.is_empty() {
            if let Err(e) = self.take(&additions) {
                return Outcome::Reserve(ReserveError::Stock(e));
            }
        }
        for (&i, &h) in &held {
            let w = wanted.get(&i).copied().unwrap_or(0);
            if h > w {
                self.available[i as usize] += h - w;
            }
        }
        let deadline = self.now + ttl;
        self.carts.insert(
            cart,
            Hold {
                index,
                lines: wanted,
                deadline,
            },
        );
        Outcome::Receipt {
            reservation: index,
            deadline_ms: deadline,
        }
    }

    /// Resolves a reservation index to its live cart (`Some`), or to `None` if it was
    /// confirmed, or to the error naming how else it finished. `None` stands for an id that
    /// was never issued.
    pub fn resolve(&mut self, index: Option<usize>) -> Result<Option<u64>, ReservationError> {
        let Some(index) = index else {
            return Err(ReservationError::Unknown);
        };
        let cart = self.created[index];
        if self.carts.get(&cart).is_some_and(|h| h.index == index) && self.live(cart).is_some() {
            return Ok(Some(cart));
        }
        match self.finished.get(&index) {
            Some(Finished::Confirmed) => Ok(None),
            Some(Finished::Released) => Err(ReservationError::Released),
            Some(Finished::Expired) => Err(ReservationError::Expired),
            None => unreachable!("created reservations are live or finished"),
        }
    }

    pub fn resolve_cart(&mut self, cart: u64) -> Result<u64, ReservationError> {
        if self.carts.contains_key(&cart) {
            if self.live(cart).is_none() {
                return Err(ReservationError::Expired);
            }
            return Ok(cart);
        }
        Err(ReservationError::NoReservation {
            cart: CartId::new(cart),
        })
    }

    pub fn confirm(&mut self, found: Result<Option<u64>, ReservationError>) -> Outcome {
        match found {
            Ok(Some(cart)) => {
                self.settle(cart, Finished::Confirmed);
                Outcome::Confirmation(Confirmation::Confirmed)
            }
            Ok(None) => Outcome::Confirmation(Confirmation::AlreadyConfirmed),
            Err(e) => Outcome::Reservation(e),
        }
    }

    pub fn release(&mut self, found: Result<Option<u64>, ReservationError>) -> Outcome {
        match found {
            Ok(Some(cart)) => {
                self.settle(cart, Finished::Released);
                Outcome::Unit
            }
            Ok(None) => Outcome::Reservation(ReservationError::Confirmed),
            Err(e) => Outcome::Reservation(e),
        }
    }

    pub fn extend(&mut self, index: Option<usize>, ttl_ms: u64) -> Outcome {
        let Some(ttl) = self.ttl(ttl_ms) else {
            return Outcome::Reservation(ReservationError::InvalidTtl {
                ttl: Duration::from_millis(ttl_ms),
            });
        };
        match self.resolve(index) {
            Ok(Some(cart)) => {
                let now = self.now;
                let hold = self.carts.get_mut(&cart).unwrap();
                hold.deadline = now + ttl;
                Outcome::Receipt {
                    reservation: hold.index,
                    deadline_ms: hold.deadline,
                }
            }
            Ok(None) => Outcome::Reservation(ReservationError::Confirmed),
            Err(e) => Outcome::Reservation(e),
        }
    }

    pub fn release_lines(&mut self, index: Option<usize>, raw: &[(u32, i64)]) -> Outcome {
        let released = match self.validate(raw) {
            Ok(l) => l,
            Err(e) => return Outcome::Reservation(ReservationError::Lines(e)),
        };
        let cart = match self.resolve(index) {
            Ok(Some(cart)) => cart,
            Ok(None) => return Outcome::Reservation(ReservationError::Confirmed),
            Err(e) => return Outcome::Reservation(e),
        };
        let hold = &self.carts[&cart];
        // The first offending line in item order.
        for (&i, &q) in &released {
            let held = hold.lines.get(&i).copied().unwrap_or(0);
            if q > held {
                return Outcome::Reservation(ReservationError::NotHeld {
                    item: ItemId::new(i),
                    requested: q,
                    held,
                });
            }
        }
        let hold = self.carts.get_mut(&cart).unwrap();
        for (&i, &q) in &released {
            let held = hold.lines.get_mut(&i).unwrap();
            *held -= q;
            if *held == 0 {
                hold.lines.remove(&i);
            }
        }
        if hold.lines.is_empty() {
            // Releasing everything releases the reservation; its lines were all given back.
            let index = hold.index;
            self.carts.remove(&cart);
            self.finished.insert(index, Finished::Released);
        }
        self.give_back(&released);
        Outcome::Unit
    }

    /// A restock (`restock = true`) or a shrink.
    pub fn adjust(&mut self, item: u32, quantity: i64, restock: bool) -> Outcome {
        let id = ItemId::new(item);
        if item >= self.config.items {
            return Outcome::Adjust(AdjustError::UnknownItem { item: id });
        }
        if !(1..=MAX_STOCK).contains(&quantity) {
            return Outcome::Adjust(AdjustError::InvalidQuantity { item: id, quantity });
        }
        let i = item as usize;
        if restock {
            // Everything on hand (available and held) must stay within MAX_STOCK.
            let on_hand = self.received[i] - self.sold[i];
            if on_hand + quantity > MAX_STOCK {
                return Outcome::Adjust(AdjustError::Overflow {
                    item: id,
                    on_hand,
                    quantity,
                });
            }
            self.available[i] += quantity;
            self.received[i] += quantity;
        } else {
            if self.available[i] < quantity {
                return Outcome::Adjust(AdjustError::Shortfall {
                    item: id,
                    requested: quantity,
                    available: self.available[i],
                });
            }
            self.available[i] -= quantity;
            self.received[i] -= quantity;
        }
        Outcome::Unit
    }

    /// Units of `item` held by live reservations.
    pub fn held(&self, item: u32) -> i64 {
        self.carts
            .values()
            .map(|h| h.lines.get(&item).copied().unwrap_or(0))
            .sum()
    }
}

pub fn to_lines(raw: &[(u32, i64)]) -> Vec<Line> {
    raw.iter()
        .map(|&(i, q)| Line::new(ItemId::new(i), q))
        .collect()
}

/// What the harness needs of an engine beyond [`ReservationEngine`]: building one on a manual
/// clock, the cart-addressed verbs, shrink, and the counts and audit every engine offers as
/// inherent methods. Implemented here for [`Inventory`]; the model test implements it for the
/// lifecycle baselines too, so one specification checks every engine.
pub trait Engine: ReservationEngine + Sized {
    fn build(clock: Arc<ManualClock>, config: &Config) -> Self;
    fn confirm_cart(&self, cart: CartId) -> Result<Confirmation, ReservationError>;
    fn release_cart(&self, cart: CartId) -> Result<(), ReservationError>;
    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError>;
    fn live_reservations(&self) -> usize;
    fn audit(&self) -> Result<AuditReport, AuditError>;
}

impl Engine for Inventory {
    /// Manual clock, one shard, every finished outcome remembered, and a small cart table so
    /// that buckets chain.
    fn build(clock: Arc<ManualClock>, config: &Config) -> Self {
        Inventory::builder()
            .clock(clock)
            .shards(1)
            .finished_memory(1 << 16)
            .expected_carts(64)
            .max_ttl(Duration::from_millis(config.max_ttl_ms))
            .build()
    }
    fn confirm_cart(&self, cart: CartId) -> Result<Confirmation, ReservationError> {
        Inventory::confirm_cart(self, cart)
    }
    fn release_cart(&self, cart: CartId) -> Result<(), ReservationError> {
        Inventory::release_cart(self, cart)
    }
    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        Inventory::shrink(self, item, quantity)
    }
    fn live_reservations(&self) -> usize {
        Inventory::live_reservations(self)
    }
    fn audit(&self) -> Result<AuditReport, AuditError> {
        Inventory::audit(self)
    }
}

/// A real engine and the model side by side, stepped together.
pub struct Harness<E: Engine = Inventory> {
    pub inventory: E,
    pub clock: Arc<ManualClock>,
    pub start: Instant,
    /// Real ids by model index.
    pub ids: Vec<ReservationId>,
    pub index_of: HashMap<ReservationId, usize>,
    pub model: Model,
    /// The id a [`Ref::Forged`] stands for.
    pub forged: ReservationId,
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
        let start = atomic_stock::Clock::now(&*clock);
        Harness {
            inventory,
            clock,
            start,
            ids: Vec::new(),
            index_of: HashMap::new(),
            model: Model::new(config),
            forged: ReservationId::from_bytes([0xAB; 20]),
        }
    }

    fn receipt(&mut self, r: atomic_stock::Receipt) -> Outcome {
        let next = self.ids.len();
        let reservation = *self.index_of.entry(r.id).or_insert(next);
        if reservation == next {
            self.ids.push(r.id);
        }
        Outcome::Receipt {
            reservation,
            deadline_ms: (r.deadline - self.start).as_millis() as u64,
        }
    }

    fn id(&self, r: &Ref) -> ReservationId {
        match r {
            Ref::Seen(i) if !self.ids.is_empty() => self.ids[i % self.ids.len()],
            _ => self.forged,
        }
    }

    /// The model index a reference resolves to, on both sides.
    fn index(&self, r: &Ref) -> Option<usize> {
        match r {
            Ref::Seen(i) if !self.ids.is_empty() => Some(i % self.ids.len()),
            _ => None,
        }
    }

    /// Runs `op` on both sides; `Err` describes the first difference (in the answer, an
    /// item's counts, or the number of live reservations).
    pub fn step(&mut self, op: &Op) -> Result<(), String> {
        let ms = Duration::from_millis;
        let (got, expected) = match op {
            Op::Reserve(cart, raw, ttl) => {
                let got = match self
                    .inventory
                    .reserve(CartId::new(*cart), &to_lines(raw), ms(*ttl))
                {
                    Ok(r) => self.receipt(r),
                    Err(e) => Outcome::Reserve(e),
                };
                (got, self.model.reserve(*cart, raw, *ttl))
            }
            Op::SetCart(cart, raw, ttl) => {
                let got =
                    match self
                        .inventory
                        .set_cart(CartId::new(*cart), &to_lines(raw), ms(*ttl))
                    {
                        Ok(r) => self.receipt(r),
                        Err(e) => Outcome::Reserve(e),
                    };
                (got, self.model.set_cart(*cart, raw, *ttl))
            }
            Op::Confirm(r) => {
                let got = self
                    .inventory
                    .confirm(self.id(r))
                    .map_or_else(Outcome::Reservation, Outcome::Confirmation);
                let found = self.model.resolve(self.index(r));
                (got, self.model.confirm(found))
            }
            Op::ConfirmCart(cart) => {
                let got = self
                    .inventory
                    .confirm_cart(CartId::new(*cart))
                    .map_or_else(Outcome::Reservation, Outcome::Confirmation);
                let found = self.model.resolve_cart(*cart).map(Some);
                (got, self.model.confirm(found))
            }
            Op::Release(r) => {
                let got = self
                    .inventory
                    .release(self.id(r))
                    .map_or_else(Outcome::Reservation, |()| Outcome::Unit);
                let found = self.model.resolve(self.index(r));
                (got, self.model.release(found))
            }
            Op::ReleaseCart(cart) => {
                let got = self
                    .inventory
                    .release_cart(CartId::new(*cart))
                    .map_or_else(Outcome::Reservation, |()| Outcome::Unit);
                let found = self.model.resolve_cart(*cart).map(Some);
                (got, self.model.release(found))
            }
            Op::Extend(r, ttl) => {
                let got = match self.inventory.extend(self.id(r), ms(*ttl)) {
                    Ok(receipt) => self.receipt(receipt),
                    Err(e) => Outcome::Reservation(e),
                };
                (got, self.model.extend(self.index(r), *ttl))
            }
            Op::ReleaseLines(r, raw) => {
                let got = self
                    .inventory
                    .release_lines(self.id(r), &to_lines(raw))
                    .map_or_else(Outcome::Reservation, |()| Outcome::Unit);
                (got, self.model.release_lines(self.index(r), raw))
            }
            Op::Restock(item, q) => {
                let got = self
                    .inventory
                    .restock(ItemId::new(*item), *q)
                    .map_or_else(Outcome::Adjust, |()| Outcome::Unit);
                (got, self.model.adjust(*item, *q, true))
            }
            Op::Shrink(item, q) => {
                let got = self
                    .inventory
                    .shrink(ItemId::new(*item), *q)
                    .map_or_else(Outcome::Adjust, |()| Outcome::Unit);
                (got, self.model.adjust(*item, *q, false))
            }
            Op::Advance(d) => {
                self.clock.advance(ms(*d));
                self.model.now += d;
                (Outcome::Unit, Outcome::Unit)
            }
            Op::ExpireDue => (
                Outcome::Count(self.inventory.expire_due()),
                Outcome::Count(self.model.expire_due()),
            ),
        };
        if got != expected {
            return Err(format!("{op:?}\n  real:  {got:?}\n  model: {expected:?}"));
        }
        self.check_levels().map_err(|e| format!("{op:?}\n  {e}"))
    }

    /// Every item's counts and the number of live reservations agree with the model.
    pub fn check_levels(&self) -> Result<(), String> {
        for item in 0..self.model.config.items {
            let levels = self.inventory.item(ItemId::new(item)).unwrap();
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
                    "item {item}: real {have:?} (in flight {}), model {want:?}",
                    levels.in_flight
                ));
            }
        }
        if self.inventory.live_reservations() != self.model.carts.len() {
            return Err(format!(
                "live reservations: real {}, model {}",
                self.inventory.live_reservations(),
                self.model.carts.len()
            ));
        }
        Ok(())
    }
}
