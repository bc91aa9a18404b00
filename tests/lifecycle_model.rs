//! Model-based test: random sequences of reserve, cart update, confirm, release, extend,
//! partial release, restock, shrink, clock advance and `expire_due`, run against the real
//! `Inventory` and against the sequential model of `tests/support/model.rs`. Every result and
//! every per-item count must match after every step.

#[path = "support/model.rs"]
mod model;

use atomic_stock::baseline::{GlobalLockInventory, ItemLocksInventory, LifecycleSettings};
use atomic_stock::{
    AdjustError, AuditError, AuditReport, CartId, Confirmation, Inventory, ItemId, ManualClock,
    ReservationError,
};
use model::{Config, Engine, Harness, Op, Ref};
use quickcheck::{Arbitrary, Gen, QuickCheck};
use std::sync::Arc;
use std::time::Duration;

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

/// Implements [`Engine`] for a lifecycle baseline (its inherent methods have those names).
macro_rules! baseline_engine {
    ($engine:ty) => {
        impl Engine for $engine {
            fn build(clock: Arc<ManualClock>, config: &Config) -> Self {
                <$engine>::with_settings(
                    LifecycleSettings::default()
                        .clock(clock)
                        .finished_memory(1 << 16)
                        .max_ttl(Duration::from_millis(config.max_ttl_ms)),
                )
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

baseline_engine!(ItemLocksInventory);
baseline_engine!(GlobalLockInventory);

fn run<E: Engine>(ops: Vec<Op>) -> bool {
    let mut harness = Harness::<E>::new(CONFIG);
    for (step, op) in ops.iter().enumerate() {
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
