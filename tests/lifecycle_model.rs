//! Model-based test: random sequences of reserve, cart update, confirm, release, extend,
//! partial release, restock, shrink, clock advance and `expire_due`, run against a real engine
//! and against a plain sequential model written from the documentation. Every result and every
//! per-item count must match after every step.
//!
//! The same operation sequences run against the lock-free `Inventory` and against the two
//! lifecycle baselines (`ItemLocksInventory`, `GlobalLockInventory`): one specification, so the
//! benchmarks compare engines that answer every call alike.

use atomic_stock::baseline::{GlobalLockInventory, ItemLocksInventory, LifecycleSettings};
use atomic_stock::{
    AdjustError, AuditError, AuditReport, CartId, Confirmation, Inventory, ItemId, Line,
    ManualClock, ReservationEngine, ReservationError, ReservationId, ReserveError, TakeError,
};
use quickcheck::{Arbitrary, Gen, QuickCheck};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ITEMS: u32 = 3;
const CARTS: u64 = 3;
const INITIAL: i64 = 6;
const MAX_TTL_MS: u64 = 1_000;

/// Which reservation an operation names: one the test saw earlier (by index, modulo how many
/// there are), or one that was never issued.
#[derive(Clone, Debug)]
enum Ref {
    Seen(usize),
    Forged,
}

#[derive(Clone, Debug)]
enum Op {
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

fn lines(g: &mut Gen) -> Vec<(u32, i64)> {
    let n = usize::arbitrary(g) % 4;
    (0..n)
        .map(|_| {
            // Mostly valid, sometimes an unknown item or a bad quantity.
            let item = u32::arbitrary(g) % (ITEMS + 1);
            let quantity = i64::arbitrary(g).rem_euclid(5) - i64::from(u8::arbitrary(g) % 8 == 0);
            (item, quantity)
        })
        .collect()
}

fn ttl(g: &mut Gen) -> u64 {
    // 0 and over-the-limit ttls are invalid; the rest are milliseconds.
    *g.choose(&[0, 5, 10, 20, 40, MAX_TTL_MS + 1]).unwrap()
}

fn reference(g: &mut Gen) -> Ref {
    if u8::arbitrary(g) % 10 == 0 {
        Ref::Forged
    } else {
        Ref::Seen(usize::arbitrary(g))
    }
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        let cart = u64::arbitrary(g) % CARTS;
        match u8::arbitrary(g) % 14 {
            0..=2 => Op::Reserve(cart, lines(g), ttl(g)),
            3 => Op::SetCart(cart, lines(g), ttl(g)),
            4 => Op::Confirm(reference(g)),
            5 => Op::ConfirmCart(cart),
            6 => Op::Release(reference(g)),
            7 => Op::ReleaseCart(cart),
            8 => Op::Extend(reference(g), ttl(g)),
            9 => Op::ReleaseLines(reference(g), lines(g)),
            10 => Op::Restock(
                u32::arbitrary(g) % (ITEMS + 1),
                i64::arbitrary(g).rem_euclid(4),
            ),
            11 => Op::Shrink(
                u32::arbitrary(g) % (ITEMS + 1),
                i64::arbitrary(g).rem_euclid(4),
            ),
            12 => Op::Advance(*g.choose(&[1, 5, 10, 25]).unwrap()),
            _ => Op::ExpireDue,
        }
    }
}

/// What an operation answered, in a form both sides can produce.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Outcome {
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

#[derive(Clone, Debug)]
struct Hold {
    index: usize,
    lines: BTreeMap<u32, i64>,
    deadline: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Finished {
    Confirmed,
    Released,
    Expired,
}

/// The sequential specification.
#[derive(Default, Debug)]
struct Model {
    available: Vec<i64>,
    received: Vec<i64>,
    sold: Vec<i64>,
    carts: HashMap<u64, Hold>,
    finished: HashMap<usize, Finished>,
    /// Cart of every reservation created so far, by index.
    created: Vec<u64>,
    now: u64,
}

fn validate(raw: &[(u32, i64)]) -> Result<BTreeMap<u32, i64>, TakeError> {
    if raw.is_empty() {
        return Err(TakeError::EmptyCart);
    }
    for &(item, quantity) in raw {
        if quantity < 1 {
            return Err(TakeError::InvalidQuantity {
                item: ItemId::new(item),
                quantity,
            });
        }
        if item >= ITEMS {
            return Err(TakeError::UnknownItem {
                item: ItemId::new(item),
            });
        }
    }
    let mut merged = BTreeMap::new();
    for &(item, quantity) in raw {
        *merged.entry(item).or_insert(0) += quantity;
    }
    Ok(merged)
}

impl Model {
    fn new() -> Self {
        let n = ITEMS as usize;
        Model {
            available: vec![INITIAL; n],
            received: vec![INITIAL; n],
            sold: vec![0; n],
            ..Model::default()
        }
    }

    fn ttl(ttl_ms: u64) -> Option<u64> {
        (1..=MAX_TTL_MS).contains(&ttl_ms).then_some(ttl_ms)
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

    fn expire_due(&mut self) -> usize {
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

    fn reserve(&mut self, cart: u64, raw: &[(u32, i64)], ttl_ms: u64) -> Outcome {
        let Some(ttl) = Model::ttl(ttl_ms) else {
            return Outcome::Reserve(ReserveError::InvalidTtl {
                ttl: Duration::from_millis(ttl_ms),
            });
        };
        let lines = match validate(raw) {
            Ok(l) => l,
            Err(e) => return Outcome::Reserve(ReserveError::Stock(e)),
        };
        if let Err(e) = self.take(&lines) {
            return Outcome::Reserve(ReserveError::Stock(e));
        }
        let deadline = self.now + ttl;
        if let Some(hold) = self.live(cart) {
            for (i, q) in lines {
                *hold.lines.entry(i).or_insert(0) += q;
            }
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

    fn set_cart(&mut self, cart: u64, raw: &[(u32, i64)], ttl_ms: u64) -> Outcome {
        let Some(ttl) = Model::ttl(ttl_ms) else {
            return Outcome::Reserve(ReserveError::InvalidTtl {
                ttl: Duration::from_millis(ttl_ms),
            });
        };
        let wanted = match validate(raw) {
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

    /// Resolves a reservation index to its live cart, or how it finished.
    fn resolve(&mut self, index: Option<usize>) -> Result<Option<u64>, ReservationError> {
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

    fn resolve_cart(&mut self, cart: u64) -> Result<u64, ReservationError> {
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

    fn confirm(&mut self, found: Result<Option<u64>, ReservationError>) -> Outcome {
        match found {
            Ok(Some(cart)) => {
                self.settle(cart, Finished::Confirmed);
                Outcome::Confirmation(Confirmation::Confirmed)
            }
            Ok(None) => Outcome::Confirmation(Confirmation::AlreadyConfirmed),
            Err(e) => Outcome::Reservation(e),
        }
    }

    fn release(&mut self, found: Result<Option<u64>, ReservationError>) -> Outcome {
        match found {
            Ok(Some(cart)) => {
                self.settle(cart, Finished::Released);
                Outcome::Unit
            }
            Ok(None) => Outcome::Reservation(ReservationError::Confirmed),
            Err(e) => Outcome::Reservation(e),
        }
    }

    fn extend(&mut self, index: Option<usize>, ttl_ms: u64) -> Outcome {
        let Some(ttl) = Model::ttl(ttl_ms) else {
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

    fn release_lines(&mut self, index: Option<usize>, raw: &[(u32, i64)]) -> Outcome {
        let released = match validate(raw) {
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
        for (&i, &q) in &released {
            self.available[i as usize] += q;
        }
        Outcome::Unit
    }

    fn adjust(&mut self, item: u32, quantity: i64, restock: bool) -> Outcome {
        let id = ItemId::new(item);
        if item >= ITEMS {
            return Outcome::Adjust(AdjustError::UnknownItem { item: id });
        }
        if quantity < 1 {
            return Outcome::Adjust(AdjustError::InvalidQuantity { item: id, quantity });
        }
        let i = item as usize;
        if restock {
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

    fn held(&self, item: u32) -> i64 {
        self.carts
            .values()
            .map(|h| h.lines.get(&item).copied().unwrap_or(0))
            .sum()
    }
}

/// What the model test needs of an engine beyond [`ReservationEngine`]: the cart-addressed
/// verbs, shrink, and the counts and audit every engine offers as inherent methods.
trait Engine: ReservationEngine + Sized {
    fn build(clock: Arc<ManualClock>) -> Self;
    fn confirm_cart(&self, cart: CartId) -> Result<Confirmation, ReservationError>;
    fn release_cart(&self, cart: CartId) -> Result<(), ReservationError>;
    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError>;
    fn live_reservations(&self) -> usize;
    fn audit(&self) -> Result<AuditReport, AuditError>;
}

fn settings(clock: Arc<ManualClock>) -> LifecycleSettings {
    LifecycleSettings::default()
        .clock(clock)
        .finished_memory(1 << 16)
        .max_ttl(Duration::from_millis(MAX_TTL_MS))
}

/// Implements [`Engine`] for a type whose inherent methods have those names.
macro_rules! engine {
    ($engine:ty, $build:expr) => {
        impl Engine for $engine {
            fn build(clock: Arc<ManualClock>) -> Self {
                $build(clock)
            }
            fn confirm_cart(&self, cart: CartId) -> Result<Confirmation, ReservationError> {
                <$engine>::confirm_cart(self, cart)
            }
            fn release_cart(&self, cart: CartId) -> Result<(), ReservationError> {
                <$engine>::release_cart(self, cart)
            }
            fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
                <$engine>::shrink(self, item, quantity)
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

engine!(Inventory, |clock: Arc<ManualClock>| Inventory::builder()
    .clock(clock)
    .shards(1)
    .finished_memory(1 << 16)
    .max_ttl(Duration::from_millis(MAX_TTL_MS))
    .build());
engine!(ItemLocksInventory, |clock| {
    ItemLocksInventory::with_settings(settings(clock))
});
engine!(GlobalLockInventory, |clock| {
    GlobalLockInventory::with_settings(settings(clock))
});

/// The real engine, and the map from its ids to the model's reservation indices.
struct Real<E> {
    inventory: E,
    clock: Arc<ManualClock>,
    start: Instant,
    ids: Vec<ReservationId>,
    index_of: HashMap<ReservationId, usize>,
}

fn to_lines(raw: &[(u32, i64)]) -> Vec<Line> {
    raw.iter()
        .map(|&(i, q)| Line::new(ItemId::new(i), q))
        .collect()
}

impl<E> Real<E> {
    fn receipt(&mut self, r: atomic_stock::Receipt) -> Outcome {
        let next = self.ids.len();
        let reservation = *self.index_of.entry(r.id).or_insert_with(|| next);
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
            _ => ReservationId::from_bytes([0xAB; 20]),
        }
    }
}

fn run<E: Engine>(ops: Vec<Op>) -> bool {
    let clock = Arc::new(ManualClock::new());
    let inventory = E::build(clock.clone());
    for _ in 0..ITEMS {
        inventory.register_item(INITIAL).unwrap();
    }
    let start = atomic_stock::Clock::now(&*clock);
    let mut real = Real {
        inventory,
        clock,
        start,
        ids: Vec::new(),
        index_of: HashMap::new(),
    };
    let mut model = Model::new();
    let ms = Duration::from_millis;

    for (step, op) in ops.iter().enumerate() {
        // The model names reservations by index; a reference resolves to the same one on both.
        let index = |r: &Ref, real: &Real<E>| match r {
            Ref::Seen(i) if !real.ids.is_empty() => Some(i % real.ids.len()),
            _ => None,
        };
        let inv = &real.inventory;
        let (got, expected) = match op {
            Op::Reserve(cart, raw, ttl) => {
                let got = inv.reserve(CartId::new(*cart), &to_lines(raw), ms(*ttl));
                let got = match got {
                    Ok(r) => real.receipt(r),
                    Err(e) => Outcome::Reserve(e),
                };
                (got, model.reserve(*cart, raw, *ttl))
            }
            Op::SetCart(cart, raw, ttl) => {
                let got = inv.set_cart(CartId::new(*cart), &to_lines(raw), ms(*ttl));
                let got = match got {
                    Ok(r) => real.receipt(r),
                    Err(e) => Outcome::Reserve(e),
                };
                (got, model.set_cart(*cart, raw, *ttl))
            }
            Op::Confirm(r) => {
                let got = inv
                    .confirm(real.id(r))
                    .map_or_else(Outcome::Reservation, Outcome::Confirmation);
                let found = model.resolve(index(r, &real));
                (got, model.confirm(found))
            }
            Op::ConfirmCart(cart) => {
                let got = inv
                    .confirm_cart(CartId::new(*cart))
                    .map_or_else(Outcome::Reservation, Outcome::Confirmation);
                let found = model.resolve_cart(*cart).map(Some);
                (got, model.confirm(found))
            }
            Op::Release(r) => {
                let got = inv
                    .release(real.id(r))
                    .map_or_else(Outcome::Reservation, |()| Outcome::Unit);
                let found = model.resolve(index(r, &real));
                (got, model.release(found))
            }
            Op::ReleaseCart(cart) => {
                let got = inv
                    .release_cart(CartId::new(*cart))
                    .map_or_else(Outcome::Reservation, |()| Outcome::Unit);
                let found = model.resolve_cart(*cart).map(Some);
                (got, model.release(found))
            }
            Op::Extend(r, ttl) => {
                let got = match inv.extend(real.id(r), ms(*ttl)) {
                    Ok(receipt) => real.receipt(receipt),
                    Err(e) => Outcome::Reservation(e),
                };
                (got, model.extend(index(r, &real), *ttl))
            }
            Op::ReleaseLines(r, raw) => {
                let got = inv
                    .release_lines(real.id(r), &to_lines(raw))
                    .map_or_else(Outcome::Reservation, |()| Outcome::Unit);
                (got, model.release_lines(index(r, &real), raw))
            }
            Op::Restock(item, q) => {
                let got = inv
                    .restock(ItemId::new(*item), *q)
                    .map_or_else(Outcome::Adjust, |()| Outcome::Unit);
                (got, model.adjust(*item, *q, true))
            }
            Op::Shrink(item, q) => {
                let got = inv
                    .shrink(ItemId::new(*item), *q)
                    .map_or_else(Outcome::Adjust, |()| Outcome::Unit);
                (got, model.adjust(*item, *q, false))
            }
            Op::Advance(d) => {
                real.clock.advance(ms(*d));
                model.now += d;
                (Outcome::Unit, Outcome::Unit)
            }
            Op::ExpireDue => (
                Outcome::Count(inv.expire_due()),
                Outcome::Count(model.expire_due()),
            ),
        };
        if got != expected {
            eprintln!("step {step}: {op:?}\n  real:  {got:?}\n  model: {expected:?}");
            return false;
        }
        for item in 0..ITEMS {
            let levels = real.inventory.item(ItemId::new(item)).unwrap();
            let i = item as usize;
            let want = (
                model.available[i],
                model.held(item),
                model.sold[i],
                model.received[i],
            );
            let have = (levels.available, levels.held, levels.sold, levels.received);
            if have != want || levels.in_flight != 0 {
                eprintln!("step {step}: {op:?}\n  item {item}: real {have:?}, model {want:?}");
                return false;
            }
        }
        if real.inventory.live_reservations() != model.carts.len() {
            eprintln!("step {step}: live reservations differ");
            return false;
        }
    }
    real.inventory.audit().is_ok()
}

fn check<E: Engine>() {
    let cases = if cfg!(miri) { 5 } else { 2_000 };
    QuickCheck::new()
        .tests(cases)
        .rng(Gen::new(60))
        .quickcheck(run::<E> as fn(Vec<Op>) -> bool);
}

#[test]
fn inventory_matches_the_sequential_model() {
    check::<Inventory>();
}

#[test]
fn item_locks_inventory_matches_the_sequential_model() {
    check::<ItemLocksInventory>();
}

#[test]
fn global_lock_inventory_matches_the_sequential_model() {
    check::<GlobalLockInventory>();
}
