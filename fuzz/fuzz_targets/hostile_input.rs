//! Hostile input: unknown ids, zero, negative and huge quantities (`i64::MIN`, `i64::MAX`),
//! duplicate lines, enormous carts (thousands of lines), forged, finished and foreign
//! reservation ids, zero and huge times to live, hostile builder settings. Every call must
//! return (never panic), and every call that returns an error must leave the inventory exactly
//! as it was: every item's counts, the live reservation count, every cart the input touched and
//! the status of every id it saw are compared before and after.
//!
//! The clock never moves here, so no reservation can expire and an error has no excuse for a
//! side effect.
#![no_main]

use arbitrary::Arbitrary;
use atomic_stock::limits::{MAX_LINES, MAX_STOCK};
use atomic_stock::{
    CartId, Inventory, ItemId, ItemLevels, Line, ManualClock, ReservationError, ReservationId,
    ReservationInfo, ReservationState,
};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Quantity {
    Small(u8),
    Zero,
    MinusOne,
    Min,
    Max,
    MaxStock,
    AboveMaxStock,
    Raw(i64),
}

impl Quantity {
    fn get(&self) -> i64 {
        match *self {
            Quantity::Small(q) => i64::from(q % 8),
            Quantity::Zero => 0,
            Quantity::MinusOne => -1,
            Quantity::Min => i64::MIN,
            Quantity::Max => i64::MAX,
            Quantity::MaxStock => MAX_STOCK,
            Quantity::AboveMaxStock => MAX_STOCK + 1,
            Quantity::Raw(q) => q,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Item {
    Near(u8),
    Max,
    Raw(u32),
}

impl Item {
    fn get(&self) -> ItemId {
        ItemId::new(match *self {
            Item::Near(i) => u32::from(i % 6),
            Item::Max => u32::MAX,
            Item::Raw(i) => i,
        })
    }
}

#[derive(Arbitrary, Debug)]
enum Lines {
    Few(Vec<(Item, Quantity)>),
    /// One line repeated `count % 4096` times: duplicate merging, merge overflow, and
    /// enormous carts.
    Repeated(Item, Quantity, u16),
    /// `count % 4096` distinct lines over many item ids.
    Enormous(u16, Quantity),
    /// Exactly `MAX_LINES` or `MAX_LINES + 1` lines.
    AtTheBound(bool, Quantity),
}

impl Lines {
    fn get(&self) -> Vec<Line> {
        match self {
            Lines::Few(lines) => lines
                .iter()
                .map(|(i, q)| Line::new(i.get(), q.get()))
                .collect(),
            Lines::Repeated(i, q, n) => vec![Line::new(i.get(), q.get()); usize::from(*n % 4096)],
            Lines::Enormous(n, q) => (0..u32::from(*n % 4096))
                .map(|i| Line::new(ItemId::new(i % 8), q.get()))
                .collect(),
            Lines::AtTheBound(over, q) => (0..MAX_LINES + usize::from(*over))
                .map(|i| Line::new(ItemId::new(i as u32 % 4), q.get()))
                .collect(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Ttl {
    Zero,
    OneNano,
    Secs(u16),
    Max,
    /// Just above what fits in `u64` nanoseconds.
    AboveU64Nanos,
    Raw(u64, u32),
}

impl Ttl {
    fn get(&self) -> Duration {
        match *self {
            Ttl::Zero => Duration::ZERO,
            Ttl::OneNano => Duration::from_nanos(1),
            Ttl::Secs(s) => Duration::from_secs(u64::from(s)),
            Ttl::Max => Duration::MAX,
            Ttl::AboveU64Nanos => Duration::from_nanos(u64::MAX) + Duration::from_nanos(1),
            Ttl::Raw(s, n) => Duration::new(s, n % 1_000_000_000),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Id {
    /// An id this inventory issued (index modulo how many).
    Seen(u16),
    /// An id issued by another inventory.
    Foreign,
    /// Any 20 bytes.
    Forged([u8; 20]),
    /// An id this inventory issued, with one field altered.
    Altered(u16, u8, u64),
}

#[derive(Arbitrary, Debug)]
enum Cart {
    Near(u8),
    Raw(u64),
}

impl Cart {
    fn get(&self) -> CartId {
        CartId::new(match *self {
            Cart::Near(c) => u64::from(c % 4),
            Cart::Raw(c) => c,
        })
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Register(Quantity),
    RegisterSku(String, Quantity),
    Reserve(Cart, Lines, Ttl),
    SetCart(Cart, Lines, Ttl),
    Confirm(Id),
    ConfirmCart(Cart),
    Release(Id),
    ReleaseCart(Cart),
    ReleaseLines(Id, Lines),
    Extend(Id, Ttl),
    ExtendCart(Cart, Ttl),
    Restock(Item, Quantity),
    Shrink(Item, Quantity),
    Read(Id, Item),
    ExpireDue,
}

#[derive(Arbitrary, Debug)]
enum MaxTtl {
    Default,
    Max,
    OneNano,
    Secs(u32),
}

#[derive(Arbitrary, Debug)]
struct Input {
    shards: u16,
    max_reservations: u8,
    finished_memory: u8,
    expected_carts: u16,
    max_ttl: MaxTtl,
    items: Vec<Quantity>,
    ops: Vec<Op>,
}

/// Everything an error must leave unchanged.
#[derive(PartialEq, Debug)]
struct Snapshot {
    items: Vec<ItemLevels>,
    live: usize,
    carts: Vec<Option<ReservationInfo>>,
    statuses: Vec<Result<ReservationState, ReservationError>>,
}

struct World {
    inventory: Inventory,
    foreign: ReservationId,
    ids: Vec<ReservationId>,
    carts: BTreeSet<CartId>,
}

impl World {
    fn snapshot(&self) -> Snapshot {
        let inv = &self.inventory;
        Snapshot {
            items: (0..inv.items() as u32)
                .map(|i| inv.item(ItemId::new(i)).expect("registered item"))
                .collect(),
            live: inv.live_reservations(),
            carts: self.carts.iter().map(|&c| inv.cart(c)).collect(),
            statuses: self.ids.iter().map(|&id| inv.status(id)).collect(),
        }
    }

    fn id(&self, id: &Id) -> ReservationId {
        let seen =
            |i: u16| (!self.ids.is_empty()).then(|| self.ids[usize::from(i) % self.ids.len()]);
        match *id {
            Id::Seen(i) => seen(i).unwrap_or(self.foreign),
            Id::Foreign => self.foreign,
            Id::Forged(bytes) => ReservationId::from_bytes(bytes),
            Id::Altered(i, field, value) => {
                let mut bytes = seen(i).unwrap_or(self.foreign).to_bytes();
                let at = match field % 3 {
                    0 => 0..8,
                    1 => 8..16,
                    _ => 16..20,
                };
                let len = at.len();
                bytes[at].copy_from_slice(&value.to_le_bytes()[..len]);
                ReservationId::from_bytes(bytes)
            }
        }
    }

    fn remember(&mut self, id: ReservationId) {
        if self.ids.len() < 64 && !self.ids.contains(&id) {
            self.ids.push(id);
        }
    }

    fn touch(&mut self, cart: CartId) {
        if self.carts.len() < 64 {
            self.carts.insert(cart);
        }
    }

    /// Starts watching the cart `op` names, if any (before the snapshot that precedes it).
    fn watch(&mut self, op: &Op) {
        match op {
            Op::Reserve(cart, ..)
            | Op::SetCart(cart, ..)
            | Op::ConfirmCart(cart)
            | Op::ReleaseCart(cart)
            | Op::ExtendCart(cart, _) => self.touch(cart.get()),
            _ => {}
        }
    }

    /// Runs one operation; returns whether it failed.
    fn apply(&mut self, op: &Op) -> bool {
        let inv = &self.inventory;
        match op {
            Op::Register(q) => inv.register_item(q.get()).map(|_| ()).is_err(),
            Op::RegisterSku(sku, q) => inv.register_sku(sku, q.get()).map(|_| ()).is_err(),
            Op::Reserve(cart, lines, ttl) => {
                let cart = cart.get();
                match self.inventory.reserve(cart, &lines.get(), ttl.get()) {
                    Ok(receipt) => {
                        assert_eq!(receipt.id.cart(), cart);
                        self.remember(receipt.id);
                        false
                    }
                    Err(e) => {
                        let _ = e.to_string();
                        true
                    }
                }
            }
            Op::SetCart(cart, lines, ttl) => {
                let cart = cart.get();
                match self.inventory.set_cart(cart, &lines.get(), ttl.get()) {
                    Ok(receipt) => {
                        assert_eq!(receipt.id.cart(), cart);
                        self.remember(receipt.id);
                        false
                    }
                    Err(e) => {
                        let _ = e.to_string();
                        true
                    }
                }
            }
            Op::Confirm(id) => report(inv.confirm(self.id(id))),
            Op::ConfirmCart(cart) => report(inv.confirm_cart(cart.get())),
            Op::Release(id) => report(inv.release(self.id(id))),
            Op::ReleaseCart(cart) => report(inv.release_cart(cart.get())),
            Op::ReleaseLines(id, lines) => report(inv.release_lines(self.id(id), &lines.get())),
            Op::Extend(id, ttl) => report(inv.extend(self.id(id), ttl.get())),
            Op::ExtendCart(cart, ttl) => report(inv.extend_cart(cart.get(), ttl.get())),
            Op::Restock(item, q) => report(inv.restock(item.get(), q.get())),
            Op::Shrink(item, q) => report(inv.shrink(item.get(), q.get())),
            Op::Read(id, item) => {
                let id = self.id(id);
                let _ = inv.status(id);
                let _ = inv.reservation(id);
                let _ = inv.item(item.get());
                let _ = id.to_string();
                false
            }
            Op::ExpireDue => {
                assert_eq!(
                    inv.expire_due(),
                    0,
                    "nothing can be due: the clock never moves"
                );
                false
            }
        }
    }
}

fn report<T, E: std::fmt::Display>(result: Result<T, E>) -> bool {
    match result {
        Ok(_) => false,
        Err(e) => {
            let _ = e.to_string();
            true
        }
    }
}

fuzz_target!(|input: Input| {
    let clock = Arc::new(ManualClock::new());
    let builder = Inventory::builder()
        .clock(clock.clone())
        .shards(usize::from(input.shards))
        .max_reservations(u64::from(input.max_reservations))
        .finished_memory(usize::from(input.finished_memory))
        .expected_carts(usize::from(input.expected_carts));
    let builder = match input.max_ttl {
        MaxTtl::Default => builder,
        MaxTtl::Max => builder.max_ttl(Duration::MAX),
        MaxTtl::OneNano => builder.max_ttl(Duration::from_nanos(1)),
        MaxTtl::Secs(s) => builder.max_ttl(Duration::from_secs(u64::from(s))),
    };
    let inventory = builder.build();
    for q in input.items.iter().take(8) {
        let _ = inventory.register_item(q.get());
    }
    // A reservation of another inventory, for foreign ids.
    let other = Inventory::builder()
        .expected_carts(1)
        .finished_memory(1)
        .shards(1)
        .build();
    let item = other.register_item(1).unwrap();
    let foreign = other
        .reserve(
            CartId::new(1),
            &[Line::new(item, 1)],
            Duration::from_secs(1),
        )
        .unwrap()
        .id;
    let mut world = World {
        inventory,
        foreign,
        ids: Vec::new(),
        carts: BTreeSet::new(),
    };
    for op in &input.ops {
        world.watch(op);
        let before = world.snapshot();
        if world.apply(op) {
            let after = world.snapshot();
            assert_eq!(before, after, "{op:?} failed and changed the inventory");
        }
        world.inventory.audit().expect("audit");
    }
});
