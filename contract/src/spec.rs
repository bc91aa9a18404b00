//! The sequential specification of the reservation lifecycle, written from the documentation:
//! what every engine and backend must answer, one operation at a time. One copy serves every
//! checker: the model test of the core crate (`tests/lifecycle_model.rs`), its linearizability
//! checker (`tests/linearizability.rs`), the fuzz target `ops_vs_model`, and this crate's
//! async `model` test of every [`Backend`](atomic_stock::Backend).
//!
//! [`Model`] is plain data (ordered maps, `Clone + Eq + Hash`), so a checker can copy it at
//! every branch of a search and memoize on it. Reservations are named in the model by creation
//! index (0, 1, 2, ...); [`Outcome::Receipt`] carries that index, and the harnesses
//! ([`crate::harness`]) map real [`ReservationId`](atomic_stock::ReservationId)s to it.
//!
//! The model validates lines itself rather than calling
//! [`validate_lines`](atomic_stock::validate_lines): it is the specification that validation is
//! checked against.

use atomic_stock::limits::{MAX_LINES, MAX_LINE_QUANTITY, MAX_STOCK};
use atomic_stock::{
    AdjustError, CartId, Confirmation, ItemId, Line, ReservationError, ReservationState,
    ReserveError, TakeError,
};
use std::collections::BTreeMap;
use std::time::Duration;

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
    /// The reservation of this index (modulo how many the test has seen).
    Seen(usize),
    /// An id no engine issued.
    Forged,
}

/// One operation of the lifecycle, with raw (possibly invalid) arguments. Lines are
/// `(item, quantity)`; times to live and clock advances are in milliseconds.
#[derive(Clone, Debug)]
pub enum Op {
    /// Reserve lines for a cart, with a time to live.
    Reserve(u64, Vec<(u32, i64)>, u64),
    /// Make a cart's reservation exactly these lines, with a time to live.
    SetCart(u64, Vec<(u32, i64)>, u64),
    /// Confirm a reservation by id.
    Confirm(Ref),
    /// Confirm a cart's live reservation.
    ConfirmCart(u64),
    /// Release a reservation by id.
    Release(Ref),
    /// Release a cart's live reservation.
    ReleaseCart(u64),
    /// Give a reservation a new time to live.
    Extend(Ref, u64),
    /// Give a cart's live reservation a new time to live.
    ExtendCart(u64, u64),
    /// Ask where a reservation stands.
    Status(Ref),
    /// Give back part of a reservation.
    ReleaseLines(Ref, Vec<(u32, i64)>),
    /// Add units of an item.
    Restock(u32, i64),
    /// Remove available units of an item.
    Shrink(u32, i64),
    /// Move the clock.
    Advance(u64),
    /// Expire every reservation due.
    ExpireDue,
}

/// What an operation answered, in a form both sides can produce.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// A reservation made, added to or extended: its model index and its deadline.
    Receipt {
        /// The reservation's creation index.
        reservation: usize,
        /// Milliseconds from the start (0 where deadlines are not compared).
        deadline_ms: u64,
    },
    /// A confirm's answer.
    Confirmation(Confirmation),
    /// A status query's answer.
    State(ReservationState),
    /// Success without a value.
    Unit,
    /// How many reservations `expire_due` ended.
    Count(usize),
    /// A reserve's or cart update's refusal.
    Reserve(ReserveError),
    /// A refusal by a verb on an existing reservation.
    Reservation(ReservationError),
    /// A restock's or shrink's refusal.
    Adjust(AdjustError),
}

/// A live reservation of the model.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Hold {
    /// Creation index.
    pub index: usize,
    /// Units held, by item.
    pub lines: BTreeMap<u32, i64>,
    /// Milliseconds from the start.
    pub deadline: u64,
}

/// How a reservation of the model finished.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Finished {
    /// Sold.
    Confirmed,
    /// Given back by a release (or by releasing all its lines).
    Released,
    /// Given back at its deadline.
    Expired,
}

/// The sequential specification.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Model {
    /// The inventory's shape.
    pub config: Config,
    /// Units free to reserve, by item.
    pub available: Vec<i64>,
    /// Units ever received (registered plus restocked, minus shrunk), by item.
    pub received: Vec<i64>,
    /// Units sold by confirms, by item.
    pub sold: Vec<i64>,
    /// The live reservation of each cart.
    pub carts: BTreeMap<u64, Hold>,
    /// How each finished reservation ended, by index.
    pub finished: BTreeMap<usize, Finished>,
    /// Cart of every reservation created so far, by index.
    pub created: Vec<u64>,
    /// Milliseconds since the start.
    pub now: u64,
}

impl Model {
    /// Every item at `config.initial` units, no reservation, time 0.
    #[must_use]
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

    /// Ends every reservation whose deadline has come; how many.
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

    /// A reserve for `cart`: a new reservation, or lines added to its live one.
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

    /// A cart update: `cart`'s reservation becomes exactly `raw` (a reserve if none is live).
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

    /// Resolves a cart to itself if it holds a live reservation, or to the error naming why
    /// not.
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

    /// A confirm of what [`resolve`](Model::resolve) or [`resolve_cart`](Model::resolve_cart)
    /// found.
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

    /// A release of what [`resolve`](Model::resolve) or [`resolve_cart`](Model::resolve_cart)
    /// found.
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

    /// A new deadline, `ttl_ms` from now, for reservation `index`.
    pub fn extend(&mut self, index: Option<usize>, ttl_ms: u64) -> Outcome {
        self.extend_found(ttl_ms, |model| model.resolve(index))
    }

    /// A new deadline, `ttl_ms` from now, for `cart`'s live reservation.
    pub fn extend_cart(&mut self, cart: u64, ttl_ms: u64) -> Outcome {
        self.extend_found(ttl_ms, |model| model.resolve_cart(cart).map(Some))
    }

    /// Where reservation `index` stands (a due one is expired by the query, as by any verb).
    pub fn status(&mut self, index: Option<usize>) -> Outcome {
        match self.resolve(index) {
            Ok(Some(_)) => Outcome::State(ReservationState::Held),
            Ok(None) => Outcome::State(ReservationState::Confirmed),
            Err(ReservationError::Released) => Outcome::State(ReservationState::Released),
            Err(ReservationError::Expired) => Outcome::State(ReservationState::Expired),
            Err(e) => Outcome::Reservation(e),
        }
    }

    /// An extend of what `find` resolves, once the time to live is checked.
    fn extend_found(
        &mut self,
        ttl_ms: u64,
        find: impl FnOnce(&mut Self) -> Result<Option<u64>, ReservationError>,
    ) -> Outcome {
        let Some(ttl) = self.ttl(ttl_ms) else {
            return Outcome::Reservation(ReservationError::InvalidTtl {
                ttl: Duration::from_millis(ttl_ms),
            });
        };
        match find(self) {
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

    /// Gives back part of reservation `index`; all of it releases the reservation.
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

/// Raw `(item, quantity)` pairs as the [`Line`]s an engine takes.
pub fn to_lines(raw: &[(u32, i64)]) -> Vec<Line> {
    raw.iter()
        .map(|&(i, q)| Line::new(ItemId::new(i), q))
        .collect()
}
