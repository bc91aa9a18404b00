//! Model-based test: random sequences of reserve, cart update, confirm, release, extend,
//! partial release, restock, shrink, clock advance and `expire_due`, run against the real
//! `Inventory`, the two lifecycle baselines, and the sequential model of
//! `atomic_stock_contract::spec`. Every result and every per-item count must match after every
//! step.

use atomic_stock::baseline::{GlobalLockInventory, ItemLocksInventory};
use atomic_stock::Inventory;
use atomic_stock_contract::harness::{Engine, Harness};
use atomic_stock_contract::spec::{Config, Op, Ref};
use quickcheck::{Arbitrary, Gen, QuickCheck};

const ITEMS: u32 = 3;
const CARTS: u64 = 3;
const CONFIG: Config = Config {
    items: ITEMS,
    initial: 6,
    max_ttl_ms: MAX_TTL_MS,
};
const MAX_TTL_MS: u64 = 1_000;

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

/// One operation of a quickcheck sequence (the model's [`Op`], drawn from this test's ranges).
#[derive(Clone, Debug)]
struct Step(Op);

impl Arbitrary for Step {
    fn arbitrary(g: &mut Gen) -> Step {
        let cart = u64::arbitrary(g) % CARTS;
        Step(match u8::arbitrary(g) % 14 {
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
        })
    }
}

fn run<E: Engine>(steps: Vec<Step>) -> bool {
    let mut harness = Harness::<E>::new(CONFIG);
    for (step, Step(op)) in steps.iter().enumerate() {
        if let Err(difference) = harness.step(op) {
            eprintln!("step {step}: {difference}");
            return false;
        }
    }
    harness.inventory.audit().is_ok()
}

fn check<E: Engine>() {
    let cases = if cfg!(miri) { 5 } else { 2_000 };
    QuickCheck::new()
        .tests(cases)
        .rng(Gen::new(60))
        .quickcheck(run::<E> as fn(Vec<Step>) -> bool);
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
