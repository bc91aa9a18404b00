//! The contract suite: async tests generic over a [`Backend`] factory (see the crate docs).

use crate::harness::Mirror;
use crate::spec::{self, Config, Op, Outcome, Ref};
use atomic_stock::limits::{MAX_LINES, MAX_LINE_QUANTITY, MAX_SKU_LEN, MAX_STOCK};
use atomic_stock::{
    AdjustError, Backend, CartId, CatalogError, Confirmation, Failure, ItemId, Line, ManualClock,
    ReservationError, ReservationId, ReserveError, TakeError,
};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What a factory gets to build a fresh backend.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The clock deadlines must be read from (ignored by a [`Time::Wall`] backend).
    pub clock: Arc<ManualClock>,
    /// The longest time to live the backend must accept; longer ones are refused with
    /// `InvalidTtl`.
    pub max_ttl: Duration,
}

/// Whether the tests can drive a backend's time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Time {
    /// Deadlines come from the [`Setup`]'s [`ManualClock`]: expiry cases run.
    Driven,
    /// Deadlines come from a clock the test cannot move (a server's): cases that need time to
    /// pass are skipped, and the model test compares no deadlines.
    Wall,
}

/// How much of the model test to run.
#[derive(Clone, Copy, Debug)]
pub struct Cases {
    /// Random sequences to run, each on a fresh backend.
    pub cases: usize,
    /// Operations per sequence.
    pub ops: usize,
    /// Seed of the first sequence (sequence `k` uses `seed + k`).
    pub seed: u64,
    /// Whether sequences change the lines of live reservations (`set_cart`,
    /// `release_lines`); off for a backend that does not offer them yet, whose sequences
    /// reserve and release instead.
    pub line_updates: bool,
}

impl Cases {
    /// `cases` sequences of `ops` operations, seeded from `CONTRACT_SEED` if set (to replay a
    /// failure), else from the time; `CONTRACT_CASES` overrides `cases`.
    #[must_use]
    pub fn from_env(cases: usize, ops: usize) -> Self {
        let seed = std::env::var("CONTRACT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        let cases = std::env::var("CONTRACT_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(cases);
        Cases {
            cases,
            ops,
            seed,
            line_updates: true,
        }
    }

    /// The same cases without `set_cart` and `release_lines`.
    #[must_use]
    pub fn without_line_updates(self) -> Self {
        Cases {
            line_updates: false,
            ..self
        }
    }
}

/// Runs every contract test: [`model`], [`bad_input`], [`races`] and [`concurrent_audit`].
pub async fn run_all<B, F, Fut>(make: F, time: Time, cases: Cases)
where
    B: Backend + 'static,
    F: Fn(Setup) -> Fut,
    Fut: Future<Output = B>,
{
    model(&make, time, cases).await;
    bad_input(&make, time).await;
    races(&make, time, 20).await;
    concurrent_audit(&make, time, 8, 200).await;
}

fn expect_ok<T, E: Debug, X: Debug>(what: &str, r: Result<T, Failure<E, X>>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

fn backend_ok<T, X: Debug>(what: &str, r: Result<T, X>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: backend failure {e:?}"))
}

/// The answer of a refused operation, or a panic if it succeeded or the backend failed.
fn refused<T: Debug, E, X: Debug>(what: &str, r: Result<T, Failure<E, X>>) -> E {
    match r {
        Err(Failure::Refused(e)) => e,
        Err(Failure::Backend(b)) => panic!("{what}: backend failure {b:?}"),
        Ok(v) => panic!("{what}: expected a refusal, got {v:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Conservation audit
// ---------------------------------------------------------------------------------------------

/// Checks every item of `items`: `available + held + sold = received`, nothing in flight, and
/// `held` equal to the units of `live` (the reservations the caller knows to be live, as the
/// lines they hold). Call at quiescence.
pub async fn audit<B: Backend>(backend: &B, items: &[ItemId], live: &[Vec<Line>]) {
    let mut held: BTreeMap<ItemId, i64> = BTreeMap::new();
    for lines in live {
        for line in lines {
            *held.entry(line.item).or_insert(0) += line.quantity;
        }
    }
    for &item in items {
        let levels = backend_ok("audit: item", backend.item(item).await)
            .unwrap_or_else(|| panic!("audit: {item} unknown"));
        let expected_held = held.get(&item).copied().unwrap_or(0);
        assert!(
            levels.available + levels.held + levels.sold == levels.received
                && levels.in_flight == 0
                && levels.held == expected_held
                && levels.available >= 0,
            "{}: conservation audit failed for {item}: {levels:?}, held by live reservations \
             {expected_held}",
            backend.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Model test
// ---------------------------------------------------------------------------------------------

const ITEMS: u32 = 3;
const CARTS: u64 = 3;
const INITIAL: i64 = 6;
/// Times to live of a driven backend's model test, in milliseconds (the model's unit); 0 and
/// `MAX_TTL_MS + 1` are refused.
const DRIVEN_MAX_TTL_MS: u64 = 1_000;
const DRIVEN_TTLS_MS: [u64; 6] = [0, 5, 10, 20, 40, DRIVEN_MAX_TTL_MS + 1];
/// A wall-clock backend's: long enough that nothing expires during a test.
const WALL_MAX_TTL_MS: u64 = 3_600_000;
const WALL_TTLS_MS: [u64; 5] = [0, 600_000, 1_200_000, 1_800_000, WALL_MAX_TTL_MS + 1];

/// splitmix64: small, seedable, and good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random sequence of the [`Backend`] verbs, with raw (sometimes invalid) arguments, as the
/// in-process model test draws them.
fn sequence(seed: u64, ops: usize, time: Time, line_updates: bool) -> Vec<Op> {
    let mut rng = Rng(seed);
    let ttls: &[u64] = match time {
        Time::Driven => &DRIVEN_TTLS_MS,
        Time::Wall => &WALL_TTLS_MS,
    };
    let lines = |rng: &mut Rng| -> Vec<(u32, i64)> {
        let n = rng.below(4);
        (0..n)
            .map(|_| {
                // Mostly valid, sometimes an unknown item or a bad quantity.
                let item = rng.below(u64::from(ITEMS) + 1) as u32;
                let quantity = rng.below(5) as i64 - i64::from(rng.below(8) == 0);
                (item, quantity)
            })
            .collect()
    };
    let reference = |rng: &mut Rng| {
        if rng.below(10) == 0 {
            Ref::Forged
        } else {
            Ref::Seen(rng.below(1 << 16) as usize)
        }
    };
    (0..ops)
        .map(|_| {
            let cart = rng.below(CARTS);
            let ttl = ttls[rng.below(ttls.len() as u64) as usize];
            let kinds = if time == Time::Driven { 20 } else { 17 };
            match rng.below(kinds) {
                0..=2 => Op::Reserve(cart, lines(&mut rng), ttl),
                3 if line_updates => Op::SetCart(cart, lines(&mut rng), ttl),
                3 => Op::Reserve(cart, lines(&mut rng), ttl),
                4 | 5 => Op::Confirm(reference(&mut rng)),
                6 => Op::ConfirmCart(cart),
                7 | 8 => Op::Release(reference(&mut rng)),
                9 => Op::ReleaseCart(cart),
                10 => Op::Extend(reference(&mut rng), ttl),
                11 => Op::ExtendCart(cart, ttl),
                12 if line_updates => Op::ReleaseLines(reference(&mut rng), lines(&mut rng)),
                12 => Op::Release(reference(&mut rng)),
                13 => Op::Restock(
                    rng.below(u64::from(ITEMS) + 1) as u32,
                    rng.below(6) as i64 - 1,
                ),
                14 => Op::Shrink(
                    rng.below(u64::from(ITEMS) + 1) as u32,
                    rng.below(6) as i64 - 1,
                ),
                15 => Op::Status(reference(&mut rng)),
                16 => Op::ExpireDue,
                _ => Op::Advance(*[1, 5, 10, 20, 50].get(rng.below(5) as usize).unwrap()),
            }
        })
        .collect()
}

/// A backend and the model side by side, stepped together: the async counterpart of
/// [`Harness`](crate::harness::Harness), for every verb of [`Backend`].
struct Run<B> {
    backend: B,
    mirror: Mirror,
}

impl<B: Backend> Run<B> {
    async fn new<F, Fut>(make: &F, time: Time) -> Self
    where
        F: Fn(Setup) -> Fut,
        Fut: Future<Output = B>,
    {
        let max_ttl_ms = match time {
            Time::Driven => DRIVEN_MAX_TTL_MS,
            Time::Wall => WALL_MAX_TTL_MS,
        };
        let clock = Arc::new(ManualClock::new());
        let backend = make(Setup {
            clock: clock.clone(),
            max_ttl: Duration::from_millis(max_ttl_ms),
        })
        .await;
        for expected in 0..ITEMS {
            let item = expect_ok("register", backend.register_item(INITIAL).await);
            assert_eq!(
                item,
                ItemId::new(expected),
                "items are numbered densely from 0"
            );
        }
        let config = Config {
            items: ITEMS,
            initial: INITIAL,
            max_ttl_ms,
        };
        Run {
            backend,
            mirror: Mirror::new(config, clock, time == Time::Driven),
        }
    }

    /// Runs `op` on both sides; `Err` describes the first difference.
    async fn step(&mut self, op: &Op) -> Result<(), String> {
        let ms = Duration::from_millis;
        let backend_failure = |e: &dyn Debug| format!("{op:?}\n  backend failure: {e:?}");
        let (backend, mirror) = (&self.backend, &mut self.mirror);
        let got = match op {
            Op::Reserve(cart, raw, ttl) => {
                let lines = spec::to_lines(raw);
                match backend.reserve(CartId::new(*cart), &lines, ms(*ttl)).await {
                    Ok(r) => mirror.receipt(r),
                    Err(Failure::Refused(e)) => Outcome::Reserve(e),
                    Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
                }
            }
            Op::SetCart(cart, raw, ttl) => {
                let lines = spec::to_lines(raw);
                match backend.set_cart(CartId::new(*cart), &lines, ms(*ttl)).await {
                    Ok(r) => mirror.receipt(r),
                    Err(Failure::Refused(e)) => Outcome::Reserve(e),
                    Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
                }
            }
            Op::ConfirmCart(cart) => match backend.confirm_cart(CartId::new(*cart)).await {
                Ok(c) => Outcome::Confirmation(c),
                Err(Failure::Refused(e)) => Outcome::Reservation(e),
                Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
            },
            Op::ReleaseCart(cart) => match backend.release_cart(CartId::new(*cart)).await {
                Ok(()) => Outcome::Unit,
                Err(Failure::Refused(e)) => Outcome::Reservation(e),
                Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
            },
            Op::ExtendCart(cart, ttl) => {
                match backend.extend_cart(CartId::new(*cart), ms(*ttl)).await {
                    Ok(receipt) => mirror.receipt(receipt),
                    Err(Failure::Refused(e)) => Outcome::Reservation(e),
                    Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
                }
            }
            Op::ReleaseLines(r, raw) => {
                let lines = spec::to_lines(raw);
                match backend.release_lines(mirror.id(r), &lines).await {
                    Ok(()) => Outcome::Unit,
                    Err(Failure::Refused(e)) => Outcome::Reservation(e),
                    Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
                }
            }
            Op::Shrink(item, q) => match backend.shrink(ItemId::new(*item), *q).await {
                Ok(()) => Outcome::Unit,
                Err(Failure::Refused(e)) => Outcome::Adjust(e),
                Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
            },
            Op::Status(r) => match backend.status(mirror.id(r)).await {
                Ok(state) => Outcome::State(state),
                Err(Failure::Refused(e)) => Outcome::Reservation(e),
                Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
            },
            Op::Confirm(r) => match backend.confirm(mirror.id(r)).await {
                Ok(c) => Outcome::Confirmation(c),
                Err(Failure::Refused(e)) => Outcome::Reservation(e),
                Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
            },
            Op::Release(r) => match backend.release(mirror.id(r)).await {
                Ok(()) => Outcome::Unit,
                Err(Failure::Refused(e)) => Outcome::Reservation(e),
                Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
            },
            Op::Extend(r, ttl) => match backend.extend(mirror.id(r), ms(*ttl)).await {
                Ok(receipt) => mirror.receipt(receipt),
                Err(Failure::Refused(e)) => Outcome::Reservation(e),
                Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
            },
            Op::Restock(item, q) => match backend.restock(ItemId::new(*item), *q).await {
                Ok(()) => Outcome::Unit,
                Err(Failure::Refused(e)) => Outcome::Adjust(e),
                Err(Failure::Backend(e)) => return Err(backend_failure(&e)),
            },
            Op::Advance(_) => Outcome::Unit,
            Op::ExpireDue => match backend.expire_due().await {
                Ok(n) => Outcome::Count(n),
                Err(e) => return Err(backend_failure(&e)),
            },
        };
        mirror.check(op, got)?;
        self.check_levels()
            .await
            .map_err(|e| format!("{op:?}\n  {e}"))
    }

    /// Every item's counts agree with the model.
    async fn check_levels(&self) -> Result<(), String> {
        for item in 0..self.mirror.model.config.items {
            let levels = match self.backend.item(ItemId::new(item)).await {
                Ok(Some(levels)) => levels,
                Ok(None) => return Err(format!("item {item} unknown")),
                Err(e) => return Err(format!("item {item}: backend failure {e:?}")),
            };
            self.mirror.check_item(item, &levels)?;
        }
        Ok(())
    }

    /// The conservation audit against the model's live reservations.
    async fn audit(&self) {
        let live: Vec<Vec<Line>> = self
            .mirror
            .model
            .carts
            .values()
            .map(|h| {
                h.lines
                    .iter()
                    .map(|(&i, &q)| Line::new(ItemId::new(i), q))
                    .collect()
            })
            .collect();
        let items: Vec<ItemId> = (0..ITEMS).map(ItemId::new).collect();
        audit(&self.backend, &items, &live).await;
    }
}

/// Runs `ops` on a fresh backend and the model; the index of the failing step and why.
async fn replay<B, F, Fut>(make: &F, time: Time, ops: &[Op]) -> Result<(), (usize, String)>
where
    B: Backend,
    F: Fn(Setup) -> Fut,
    Fut: Future<Output = B>,
{
    let mut run = Run::new(make, time).await;
    for (i, op) in ops.iter().enumerate() {
        run.step(op).await.map_err(|e| (i, e))?;
    }
    run.audit().await;
    Ok(())
}

/// The sequential model test: `cases.cases` random sequences of `cases.ops` operations, each on
/// a fresh backend, every answer and every item's counts compared with the model after every
/// step, and the conservation audit at the end of each. A failure is shrunk (operations
/// removed one at a time while it still fails) and reported with its seed.
pub async fn model<B, F, Fut>(make: &F, time: Time, cases: Cases)
where
    B: Backend,
    F: Fn(Setup) -> Fut,
    Fut: Future<Output = B>,
{
    let mut steps = 0;
    let mut name = String::new();
    for case in 0..cases.cases {
        let seed = cases.seed.wrapping_add(case as u64);
        let ops = sequence(seed, cases.ops, time, cases.line_updates);
        let mut run = Run::new(make, time).await;
        if name.is_empty() {
            name = run.backend.name().to_string();
        }
        let mut failure = None;
        for (i, op) in ops.iter().enumerate() {
            if let Err(e) = run.step(op).await {
                failure = Some((i, e));
                break;
            }
            steps += 1;
        }
        let Some((at, first)) = failure else {
            run.audit().await;
            continue;
        };
        // Shrink: drop operations one at a time, keeping each removal that still fails.
        let mut ops = ops[..=at].to_vec();
        let mut last = first.clone();
        let mut i = ops.len();
        let mut budget = 400;
        while i > 0 && budget > 0 {
            i -= 1;
            budget -= 1;
            let mut shorter = ops.clone();
            shorter.remove(i);
            if let Err((at, e)) = replay(make, time, &shorter).await {
                shorter.truncate(at + 1);
                ops = shorter;
                last = e;
                i = i.min(ops.len());
            }
        }
        panic!(
            "{name}: model test failed (seed {seed}, rerun with CONTRACT_SEED={seed} \
             CONTRACT_CASES=1)\n  first failure: {first}\n  shrunk to {} operations:\n    \
             {}\n  failing step: {last}",
            ops.len(),
            ops.iter()
                .map(|op| format!("{op:?}"))
                .collect::<Vec<_>>()
                .join("\n    ")
        );
    }
    println!(
        "contract model [{name}]: {} sequences, {steps} steps match the model (seed {}, time \
         {time:?})",
        cases.cases, cases.seed
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

/// Every item's counts, to check that a refused operation changed nothing.
async fn levels<B: Backend>(backend: &B, items: &[ItemId]) -> Vec<(i64, i64, i64, i64)> {
    let mut all = Vec::new();
    for &item in items {
        let l = backend_ok("item", backend.item(item).await).expect("registered item");
        all.push((l.available, l.held, l.sold, l.received));
    }
    all
}

/// Every typed error of every verb, each followed by a check that no count changed, then the
/// conservation audit.
pub async fn bad_input<B, F, Fut>(make: &F, time: Time)
where
    B: Backend,
    F: Fn(Setup) -> Fut,
    Fut: Future<Output = B>,
{
    let max_ttl = Duration::from_secs(3_600);
    let clock = Arc::new(ManualClock::new());
    let backend = make(Setup {
        clock: clock.clone(),
        max_ttl,
    })
    .await;
    let name = backend.name().to_string();
    let a = expect_ok("register a", backend.register_item(5).await);
    let b = expect_ok("register b", backend.register_item(3).await);
    let items = [a, b];
    let mut checked = 0;
    let mut live: Vec<Vec<Line>> = Vec::new();
    let cart = CartId::new(1);
    let ttl = Duration::from_secs(600);

    macro_rules! unchanged {
        ($what:expr, $call:expr, $expected:expr) => {{
            let before = levels(&backend, &items).await;
            let got = refused($what, $call.await);
            assert_eq!(got, $expected, "{name}: {}", $what);
            assert_eq!(
                levels(&backend, &items).await,
                before,
                "{name}: {} changed the counts",
                $what
            );
            checked += 1;
        }};
    }

    // Catalog.
    unchanged!(
        "register a negative quantity",
        backend.register_item(-1),
        CatalogError::InvalidQuantity { quantity: -1 }
    );
    unchanged!(
        "register above MAX_STOCK",
        backend.register_item(MAX_STOCK + 1),
        CatalogError::InvalidQuantity {
            quantity: MAX_STOCK + 1
        }
    );
    // Restock.
    let unknown = ItemId::new(99);
    unchanged!(
        "restock an unknown item",
        backend.restock(unknown, 1),
        AdjustError::UnknownItem { item: unknown }
    );
    for quantity in [0, -3, MAX_STOCK + 1] {
        unchanged!(
            &format!("restock {quantity}"),
            backend.restock(a, quantity),
            AdjustError::InvalidQuantity { item: a, quantity }
        );
    }
    unchanged!(
        "restock past MAX_STOCK on hand",
        backend.restock(a, MAX_STOCK - 2),
        AdjustError::Overflow {
            item: a,
            on_hand: 5,
            quantity: MAX_STOCK - 2
        }
    );
    // Shrink.
    unchanged!(
        "shrink an unknown item",
        backend.shrink(unknown, 1),
        AdjustError::UnknownItem { item: unknown }
    );
    for quantity in [0, -3, MAX_STOCK + 1] {
        unchanged!(
            &format!("shrink {quantity}"),
            backend.shrink(a, quantity),
            AdjustError::InvalidQuantity { item: a, quantity }
        );
    }
    unchanged!(
        "shrink more than available",
        backend.shrink(b, 4),
        AdjustError::Shortfall {
            item: b,
            requested: 4,
            available: 3
        }
    );
    // SKUs.
    for sku in [String::new(), "X".repeat(MAX_SKU_LEN + 1)] {
        unchanged!(
            &format!("register a SKU of {} bytes", sku.len()),
            backend.register_sku(&sku, 1),
            CatalogError::InvalidSku { len: sku.len() }
        );
    }
    unchanged!(
        "register a SKU with a negative quantity",
        backend.register_sku("NEG", -1),
        CatalogError::InvalidQuantity { quantity: -1 }
    );
    assert_eq!(
        backend_ok("item_by_sku", backend.item_by_sku("NEG").await),
        None,
        "{name}: a refused SKU is not registered"
    );
    let mug = expect_ok("register a SKU", backend.register_sku("MUG-1", 4).await);
    assert_eq!(
        backend_ok("item_by_sku", backend.item_by_sku("MUG-1").await),
        Some(mug),
        "{name}: a SKU names the item registered under it"
    );
    unchanged!(
        "register a SKU twice",
        backend.register_sku("MUG-1", 1),
        CatalogError::DuplicateSku { existing: mug }
    );
    assert_eq!(
        backend_ok("SKU item", backend.item(mug).await).map(|l| l.available),
        Some(4),
        "{name}: the item registered under a SKU holds its initial units"
    );
    // Reserve: time to live, then lines, then stock.
    let one = [Line::new(a, 1)];
    for bad in [Duration::ZERO, max_ttl + Duration::from_millis(1)] {
        unchanged!(
            &format!("reserve with ttl {bad:?}"),
            backend.reserve(cart, &one, bad),
            ReserveError::InvalidTtl { ttl: bad }
        );
    }
    unchanged!(
        "reserve no lines",
        backend.reserve(cart, &[], ttl),
        ReserveError::Stock(TakeError::EmptyCart)
    );
    let many = vec![Line::new(a, 1); MAX_LINES + 1];
    unchanged!(
        "reserve too many lines",
        backend.reserve(cart, &many, ttl),
        ReserveError::Stock(TakeError::TooManyLines {
            lines: MAX_LINES + 1,
            max: MAX_LINES
        })
    );
    for quantity in [0, -1, MAX_LINE_QUANTITY + 1] {
        unchanged!(
            &format!("reserve quantity {quantity}"),
            backend.reserve(cart, &[Line::new(a, 1), Line::new(b, quantity)], ttl),
            ReserveError::Stock(TakeError::InvalidQuantity { item: b, quantity })
        );
    }
    unchanged!(
        "reserve an unknown item",
        backend.reserve(cart, &[Line::new(a, 1), Line::new(unknown, 1)], ttl),
        ReserveError::Stock(TakeError::UnknownItem { item: unknown })
    );
    unchanged!(
        "reserve lines that overflow when merged",
        backend.reserve(
            cart,
            &[Line::new(b, MAX_LINE_QUANTITY), Line::new(b, 1)],
            ttl
        ),
        ReserveError::Stock(TakeError::QuantityOverflow { item: b })
    );
    unchanged!(
        "reserve more than available (all or nothing)",
        backend.reserve(cart, &[Line::new(a, 2), Line::new(b, 4)], ttl),
        ReserveError::Stock(TakeError::Shortfall {
            item: b,
            requested: 4,
            available: 3
        })
    );

    // Operations on reservations.
    let held = expect_ok(
        "reserve",
        backend
            .reserve(cart, &[Line::new(a, 1), Line::new(b, 1)], ttl)
            .await,
    );
    live.push(vec![Line::new(a, 1), Line::new(b, 1)]);
    let r = held.id;
    let other_tag = ReservationId::new(r.cart(), r.seq(), r.tag() ^ 0x5A5A_5A5A);
    let other_seq = ReservationId::new(r.cart(), r.seq() ^ (1 << 62), r.tag());
    let other_cart = ReservationId::new(CartId::new(r.cart().get() + 77), r.seq(), r.tag());
    for (label, id) in [
        ("another backend's id", other_tag),
        ("a never issued sequence number", other_seq),
        ("another cart's id", other_cart),
    ] {
        unchanged!(
            &format!("confirm {label}"),
            backend.confirm(id),
            ReservationError::Unknown
        );
        unchanged!(
            &format!("release {label}"),
            backend.release(id),
            ReservationError::Unknown
        );
        unchanged!(
            &format!("extend {label}"),
            backend.extend(id, ttl),
            ReservationError::Unknown
        );
    }
    for bad in [Duration::ZERO, max_ttl + Duration::from_millis(1)] {
        unchanged!(
            &format!("extend with ttl {bad:?}"),
            backend.extend(r, bad),
            ReservationError::InvalidTtl { ttl: bad }
        );
    }
    assert_eq!(
        expect_ok("confirm", backend.confirm(r).await),
        Confirmation::Confirmed
    );
    live.clear();
    assert_eq!(
        expect_ok("confirm again", backend.confirm(r).await),
        Confirmation::AlreadyConfirmed,
        "{name}: a repeated confirm is idempotent"
    );
    unchanged!(
        "release a confirmed reservation",
        backend.release(r),
        ReservationError::Confirmed
    );
    unchanged!(
        "extend a confirmed reservation",
        backend.extend(r, ttl),
        ReservationError::Confirmed
    );
    let released = expect_ok(
        "reserve",
        backend
            .reserve(CartId::new(2), &[Line::new(a, 2)], ttl)
            .await,
    )
    .id;
    expect_ok("release", backend.release(released).await);
    for (label, result) in [
        ("confirm", backend.confirm(released).await.map(|_| ())),
        ("release", backend.release(released).await),
        ("extend", backend.extend(released, ttl).await.map(|_| ())),
    ] {
        let got = refused(label, result);
        assert_eq!(
            got,
            ReservationError::Released,
            "{name}: {label} a released reservation"
        );
        checked += 1;
    }
    if time == Time::Driven {
        let short = Duration::from_millis(10);
        let expiring = expect_ok(
            "reserve",
            backend
                .reserve(CartId::new(3), &[Line::new(b, 2)], short)
                .await,
        )
        .id;
        clock.advance(short);
        // Due but not expired by anyone yet: every verb sees it expired, and its stock comes
        // back exactly once.
        for (label, result) in [
            ("confirm", backend.confirm(expiring).await.map(|_| ())),
            ("release", backend.release(expiring).await),
            ("extend", backend.extend(expiring, ttl).await.map(|_| ())),
        ] {
            let got = refused(label, result);
            assert_eq!(
                got,
                ReservationError::Expired,
                "{name}: {label} past the deadline"
            );
            checked += 1;
        }
        assert_eq!(
            backend_ok("expire_due", backend.expire_due().await),
            0,
            "{name}: already expired by the confirm"
        );
    }
    audit(&backend, &items, &live).await;
    println!("contract bad input [{name}]: {checked} refusals typed and changed nothing");
}

// ---------------------------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------------------------

/// What one racing task did.
#[derive(Debug)]
enum Move {
    Confirm(Result<Confirmation, ReservationError>),
    Release(Result<(), ReservationError>),
    Expire(usize),
}

/// Races on one reservation per round, on a multi-threaded runtime (the caller's must be one):
/// two confirms, two releases and one `expire_due`, released together by a barrier. Before its
/// deadline exactly one of the confirms and releases wins and every other call is told who
/// did; past its deadline (driven clocks only) nobody confirms or releases, and the stock comes
/// back exactly once. A confirm-only round checks that exactly one confirm answers
/// `Confirmed`. The audit runs after every round.
pub async fn races<B, F, Fut>(make: &F, time: Time, rounds: usize)
where
    B: Backend + 'static,
    F: Fn(Setup) -> Fut,
    Fut: Future<Output = B>,
{
    let clock = Arc::new(ManualClock::new());
    let backend = Arc::new(
        make(Setup {
            clock: clock.clone(),
            max_ttl: Duration::from_secs(3_600),
        })
        .await,
    );
    let name = backend.name().to_string();
    let stock = 3 * rounds as i64 + 10;
    let a = expect_ok("register", backend.register_item(stock).await);
    let b = expect_ok("register", backend.register_item(2 * stock).await);
    let items = [a, b];
    let lines = [Line::new(a, 1), Line::new(b, 2)];
    let ttl = Duration::from_secs(60);
    let (mut confirmed, mut released, mut expired) = (0, 0, 0);
    for round in 0..rounds {
        let past_deadline = time == Time::Driven && round % 4 == 3;
        let confirms_only = round % 4 == 1;
        let id = expect_ok(
            "reserve",
            backend
                .reserve(CartId::new(1_000 + round as u64), &lines, ttl)
                .await,
        )
        .id;
        if past_deadline {
            clock.advance(ttl);
        }
        let plan: &[u8] = if confirms_only {
            &[0, 0, 0, 0]
        } else {
            &[0, 1, 0, 1, 2]
        };
        let barrier = Arc::new(tokio::sync::Barrier::new(plan.len()));
        let tasks: Vec<_> = plan
            .iter()
            .map(|&what| {
                let backend = backend.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let refusal = |f: Failure<ReservationError, B::Error>| match f {
                        Failure::Refused(e) => e,
                        Failure::Backend(b) => panic!("backend failure in a race: {b:?}"),
                    };
                    match what {
                        0 => Move::Confirm(backend.confirm(id).await.map_err(refusal)),
                        1 => Move::Release(backend.release(id).await.map_err(refusal)),
                        _ => Move::Expire(
                            backend
                                .expire_due()
                                .await
                                .unwrap_or_else(|e| panic!("backend failure: {e:?}")),
                        ),
                    }
                })
            })
            .collect();
        let mut moves = Vec::new();
        for task in tasks {
            moves.push(task.await.expect("racing task panicked"));
        }
        let confirms = moves
            .iter()
            .filter(|m| matches!(m, Move::Confirm(Ok(Confirmation::Confirmed))))
            .count();
        let releases = moves
            .iter()
            .filter(|m| matches!(m, Move::Release(Ok(()))))
            .count();
        let expiries: usize = moves
            .iter()
            .map(|m| match m {
                Move::Expire(n) => *n,
                _ => 0,
            })
            .sum();
        if past_deadline {
            assert!(
                confirms == 0 && releases == 0 && expiries <= 1,
                "{name}: round {round} past the deadline: {moves:?}"
            );
            for m in &moves {
                match m {
                    Move::Confirm(r) => assert_eq!(r, &Err(ReservationError::Expired), "{name}"),
                    Move::Release(r) => assert_eq!(r, &Err(ReservationError::Expired), "{name}"),
                    Move::Expire(_) => {}
                }
            }
            // Whoever expired it, a straggling expiry finds nothing left to do.
            let _ = backend_ok("expire_due", backend.expire_due().await);
            expired += 1;
        } else {
            assert_eq!(
                confirms + releases,
                1,
                "{name}: round {round}: exactly one confirm or release wins: {moves:?}"
            );
            assert_eq!(expiries, 0, "{name}: nothing was due: {moves:?}");
            let winner_confirmed = confirms == 1;
            for m in &moves {
                match m {
                    Move::Confirm(r) if winner_confirmed => {
                        assert!(r.is_ok(), "{name}: a confirm lost to a confirm: {r:?}")
                    }
                    Move::Confirm(r) => {
                        assert_eq!(r, &Err(ReservationError::Released), "{name}")
                    }
                    Move::Release(r) if winner_confirmed => {
                        assert_eq!(r, &Err(ReservationError::Confirmed), "{name}")
                    }
                    Move::Release(r) => assert!(
                        matches!(r, Ok(()) | Err(ReservationError::Released)),
                        "{name}: a release lost to a release: {r:?}"
                    ),
                    Move::Expire(_) => {}
                }
            }
            if winner_confirmed {
                confirmed += 1;
            } else {
                released += 1;
            }
        }
        audit(&*backend, &items, &[]).await;
        let l = backend_ok("item", backend.item(a).await).expect("registered");
        assert_eq!(
            (l.sold, l.available),
            (confirmed, stock - confirmed),
            "{name}: round {round}: the stock moved exactly once per reservation"
        );
    }
    println!(
        "contract races [{name}]: {rounds} rounds, one winner each ({confirmed} confirmed, \
         {released} released, {expired} past the deadline)"
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrent load, audited
// ---------------------------------------------------------------------------------------------

/// What one task of [`concurrent_audit`] knows at the end.
#[derive(Default)]
struct Ledger {
    /// Units of each item sold by this task's confirms.
    sold: BTreeMap<ItemId, i64>,
    /// Its reservations still live, as far as it knows (cart -> id and lines).
    live: BTreeMap<u64, (ReservationId, BTreeMap<ItemId, i64>)>,
    operations: usize,
}

/// Many tasks at once, each on carts of its own over a few scarce shared items: reserves (new
/// or added to the cart's live reservation, often refused for want of stock), confirms,
/// releases, extends, `expire_due`, restocks, and on a driven clock short times to live and clock
/// advances, so that reservations expire under the tasks' feet. Each task records what it was
/// told. At the end every live reservation is released (or, on a driven clock, left to
/// expire), and the audit requires for every item: nothing held, `available + sold =
/// received`, and `sold` equal to the units of the confirms the tasks were told succeeded:
/// no unit lost, sold twice, or returned twice.
pub async fn concurrent_audit<B, F, Fut>(make: &F, time: Time, tasks: usize, ops_per_task: usize)
where
    B: Backend + 'static,
    F: Fn(Setup) -> Fut,
    Fut: Future<Output = B>,
{
    const STOCK: i64 = 12;
    let clock = Arc::new(ManualClock::new());
    let backend = Arc::new(
        make(Setup {
            clock: clock.clone(),
            max_ttl: Duration::from_secs(3_600),
        })
        .await,
    );
    let name = backend.name().to_string();
    let mut items = Vec::new();
    for _ in 0..4 {
        items.push(expect_ok("register", backend.register_item(STOCK).await));
    }
    let items = Arc::new(items);
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let (backend, items, barrier, clock) = (
                backend.clone(),
                items.clone(),
                barrier.clone(),
                clock.clone(),
            );
            tokio::spawn(async move {
                let mut rng = Rng(0xC0FFEE ^ (task as u64) << 20);
                let mut ledger = Ledger::default();
                let ttl = |rng: &mut Rng| match time {
                    Time::Driven => Duration::from_millis(5 + rng.below(40)),
                    Time::Wall => Duration::from_secs(600),
                };
                let failed = |what: &str, e: &dyn Debug| -> ! {
                    panic!("task {task}: {what}: backend failure {e:?}")
                };
                barrier.wait().await;
                for _ in 0..ops_per_task {
                    ledger.operations += 1;
                    let cart = (task as u64) << 32 | rng.below(3);
                    match rng.below(12) {
                        0..=3 => {
                            let mut lines = Vec::new();
                            for _ in 0..1 + rng.below(3) {
                                let item = items[rng.below(items.len() as u64) as usize];
                                lines.push(Line::new(item, 1 + rng.below(3) as i64));
                            }
                            match backend
                                .reserve(CartId::new(cart), &lines, ttl(&mut rng))
                                .await
                            {
                                Ok(receipt) => {
                                    let entry = ledger
                                        .live
                                        .entry(cart)
                                        .or_insert((receipt.id, BTreeMap::new()));
                                    if entry.0 != receipt.id {
                                        // The cart's previous reservation expired meanwhile.
                                        *entry = (receipt.id, BTreeMap::new());
                                    }
                                    for line in lines {
                                        *entry.1.entry(line.item).or_insert(0) += line.quantity;
                                    }
                                }
                                Err(Failure::Refused(_)) => {}
                                Err(Failure::Backend(e)) => failed("reserve", &e),
                            }
                        }
                        4 | 5 => {
                            if let Some((id, lines)) = ledger.live.remove(&cart) {
                                match backend.confirm(id).await {
                                    Ok(Confirmation::Confirmed) => {
                                        for (item, q) in lines {
                                            *ledger.sold.entry(item).or_insert(0) += q;
                                        }
                                    }
                                    Ok(Confirmation::AlreadyConfirmed) => {
                                        panic!("{id}: confirmed by someone else")
                                    }
                                    Err(Failure::Refused(ReservationError::Expired)) => {}
                                    Err(Failure::Refused(e)) => panic!("confirm {id}: {e:?}"),
                                    Err(Failure::Backend(e)) => failed("confirm", &e),
                                }
                            }
                        }
                        6 => {
                            if let Some((id, _)) = ledger.live.remove(&cart) {
                                match backend.release(id).await {
                                    Ok(()) | Err(Failure::Refused(ReservationError::Expired)) => {}
                                    Err(Failure::Refused(e)) => panic!("release {id}: {e:?}"),
                                    Err(Failure::Backend(e)) => failed("release", &e),
                                }
                            }
                        }
                        7 => {
                            if let Some((id, _)) = ledger.live.get(&cart).cloned() {
                                match backend.extend(id, ttl(&mut rng)).await {
                                    Ok(_) => {}
                                    Err(Failure::Refused(ReservationError::Expired)) => {
                                        ledger.live.remove(&cart);
                                    }
                                    Err(Failure::Refused(e)) => panic!("extend {id}: {e:?}"),
                                    Err(Failure::Backend(e)) => failed("extend", &e),
                                }
                            }
                        }
                        8 => {
                            if let Err(e) = backend.expire_due().await {
                                failed("expire_due", &e);
                            }
                        }
                        9 => {
                            // Deliveries keep the items from selling out for good.
                            let item = items[rng.below(items.len() as u64) as usize];
                            match backend.restock(item, 1 + rng.below(3) as i64).await {
                                Ok(()) => {}
                                Err(e) => panic!("task {task}: restock {item}: {e:?}"),
                            }
                        }
                        _ => {
                            if time == Time::Driven {
                                clock.advance(Duration::from_millis(1 + rng.below(10)));
                            }
                        }
                    }
                }
                ledger
            })
        })
        .collect();
    let mut ledgers = Vec::new();
    for handle in handles {
        ledgers.push(handle.await.expect("task panicked"));
    }
    // Quiesce: end every reservation still live.
    match time {
        Time::Driven => {
            clock.advance(Duration::from_secs(3_600));
            backend_ok("expire_due", backend.expire_due().await);
        }
        Time::Wall => {
            for ledger in &ledgers {
                for (id, _) in ledger.live.values() {
                    match backend.release(*id).await {
                        Ok(()) | Err(Failure::Refused(ReservationError::Expired)) => {}
                        Err(e) => panic!("{name}: final release of {id}: {e:?}"),
                    }
                }
            }
        }
    }
    let mut sold: BTreeMap<ItemId, i64> = BTreeMap::new();
    let mut operations = 0;
    for ledger in &ledgers {
        operations += ledger.operations;
        for (&item, &q) in &ledger.sold {
            *sold.entry(item).or_insert(0) += q;
        }
    }
    audit(&*backend, &items, &[]).await;
    for &item in items.iter() {
        let levels = backend_ok("item", backend.item(item).await).expect("registered");
        assert_eq!(
            levels.sold,
            sold.get(&item).copied().unwrap_or(0),
            "{name}: {item}: units sold must be exactly the confirms acknowledged: {levels:?}"
        );
    }
    println!(
        "contract concurrent audit [{name}]: {tasks} tasks, {operations} operations, {} units \
         sold, every unit accounted for",
        sold.values().sum::<i64>()
    );
}
