//! Arbitrary operation sequences on a real `Inventory` (manual clock, one shard, every finished
//! outcome remembered) and on the sequential model of `atomic_stock_contract::spec`, stepped
//! together by its `Harness`: every answer, every item's counts and the number of live
//! reservations must agree after every step, and the audit must pass at the end.
//!
//! Arguments are mostly drawn from small ranges (so that stock runs out, carts collide and
//! reservations expire), sometimes raw (any item id, any quantity, any time to live).
#![no_main]

use arbitrary::Arbitrary;
use atomic_stock_contract::harness::Harness;
use atomic_stock_contract::spec::{Config, Op, Ref};
use libfuzzer_sys::fuzz_target;

const ITEMS: u32 = 4;
const CARTS: u64 = 4;
const MAX_TTL_MS: u64 = 1_000;

#[derive(Arbitrary, Debug)]
enum Item {
    /// One of the items, or the first unknown id.
    Near(u8),
    Raw(u32),
}

impl Item {
    fn get(&self) -> u32 {
        match *self {
            Item::Near(i) => u32::from(i) % (ITEMS + 1),
            Item::Raw(i) => i,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Quantity {
    /// 0 to 4.
    Small(u8),
    Raw(i64),
}

impl Quantity {
    fn get(&self) -> i64 {
        match *self {
            Quantity::Small(q) => i64::from(q % 5),
            Quantity::Raw(q) => q,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Ttl {
    Usual(u8),
    Raw(u64),
}

impl Ttl {
    fn get(&self) -> u64 {
        match *self {
            Ttl::Usual(t) => [0, 1, 5, 10, 20, 40, MAX_TTL_MS, MAX_TTL_MS + 1][usize::from(t % 8)],
            Ttl::Raw(t) => t,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Cart {
    Near(u8),
    Raw(u64),
}

impl Cart {
    fn get(&self) -> u64 {
        match *self {
            Cart::Near(c) => u64::from(c) % CARTS,
            Cart::Raw(c) => c,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Reference {
    Seen(u16),
    Forged,
}

impl Reference {
    fn get(&self) -> Ref {
        match *self {
            Reference::Seen(i) => Ref::Seen(usize::from(i)),
            Reference::Forged => Ref::Forged,
        }
    }
}

type Lines = Vec<(Item, Quantity)>;

fn lines(raw: &Lines) -> Vec<(u32, i64)> {
    raw.iter().map(|(i, q)| (i.get(), q.get())).collect()
}

#[derive(Arbitrary, Debug)]
enum FuzzOp {
    Reserve(Cart, Lines, Ttl),
    SetCart(Cart, Lines, Ttl),
    Confirm(Reference),
    ConfirmCart(Cart),
    Release(Reference),
    ReleaseCart(Cart),
    Extend(Reference, Ttl),
    ReleaseLines(Reference, Lines),
    Restock(Item, Quantity),
    Shrink(Item, Quantity),
    Advance(u8),
    ExpireDue,
}

impl FuzzOp {
    fn op(&self) -> Op {
        match self {
            FuzzOp::Reserve(c, l, t) => Op::Reserve(c.get(), lines(l), t.get()),
            FuzzOp::SetCart(c, l, t) => Op::SetCart(c.get(), lines(l), t.get()),
            FuzzOp::Confirm(r) => Op::Confirm(r.get()),
            FuzzOp::ConfirmCart(c) => Op::ConfirmCart(c.get()),
            FuzzOp::Release(r) => Op::Release(r.get()),
            FuzzOp::ReleaseCart(c) => Op::ReleaseCart(c.get()),
            FuzzOp::Extend(r, t) => Op::Extend(r.get(), t.get()),
            FuzzOp::ReleaseLines(r, l) => Op::ReleaseLines(r.get(), lines(l)),
            FuzzOp::Restock(i, q) => Op::Restock(i.get(), q.get()),
            FuzzOp::Shrink(i, q) => Op::Shrink(i.get(), q.get()),
            FuzzOp::Advance(ms) => Op::Advance(u64::from(*ms % 64)),
            FuzzOp::ExpireDue => Op::ExpireDue,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    initial: u8,
    ops: Vec<FuzzOp>,
}

fuzz_target!(|input: Input| {
    let mut harness: Harness = Harness::new(Config {
        items: ITEMS,
        initial: i64::from(input.initial % 16),
        max_ttl_ms: MAX_TTL_MS,
    });
    for (step, op) in input.ops.iter().enumerate() {
        if let Err(difference) = harness.step(&op.op()) {
            panic!("step {step}: {difference}");
        }
    }
    if let Err(e) = harness.inventory.audit() {
        panic!("audit: {e}");
    }
});
