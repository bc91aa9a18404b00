//! Edge values through the public API: deadlines beyond the timer wheel's reach, a restock on
//! top of units in flight near the stock limit, out-of-range builder settings, and a clock
//! driven to its end. One test per case; every case that used to hang runs under a watchdog
//! so that it fails instead.

use atomic_stock::limits::MAX_STOCK;
use atomic_stock::{
    BuildError, CartId, Inventory, ItemId, Line, ManualClock, ReservationError, ReservationState,
    Stock,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// How long a call may take before the test calls it hung.
const WATCHDOG: Duration = Duration::from_secs(10);

/// Runs `f` on its own thread and returns its result, or fails the test if it does not return
/// within [`WATCHDOG`] (the thread is then left behind; the test binary exits without it).
fn within_watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer after {WATCHDOG:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

fn setup(stock: i64) -> (Arc<Inventory>, Arc<ManualClock>, ItemId) {
    let clock = Arc::new(ManualClock::new());
    let inventory = Inventory::builder()
        .clock(clock.clone())
        .expected_carts(64)
        .finished_memory(1024)
        .build();
    let item = inventory.register_item(stock).unwrap();
    (Arc::new(inventory), clock, item)
}

// ---------------------------------------------------------------------------------------------
// Deadlines beyond the timing wheel's reach (2^56 ns, about 2.28 years).

const WHEEL_REACH: Duration = Duration::from_nanos(1 << 56);

#[test]
fn expire_due_returns_for_a_ttl_at_the_wheel_reach() {
    let clock = Arc::new(ManualClock::new());
    let inventory = Arc::new(
        Inventory::builder()
            .clock(clock.clone())
            .expected_carts(64)
            .finished_memory(1024)
            .max_ttl(WHEEL_REACH * 4)
            .build(),
    );
    let item = inventory.register_item(1).unwrap();
    let receipt = inventory
        .reserve(CartId::new(1), &[Line::new(item, 1)], WHEEL_REACH)
        .unwrap();
    // Drains the deadline into the wheel while it is far away.
    let inv = inventory.clone();
    assert_eq!(
        within_watchdog("expire_due (early)", move || inv.expire_due()),
        0
    );
    clock.advance(WHEEL_REACH + Duration::from_secs(1));
    let inv = inventory.clone();
    assert_eq!(
        within_watchdog("expire_due (due)", move || inv.expire_due()),
        1
    );
    assert_eq!(inventory.status(receipt.id), Ok(ReservationState::Expired));
    assert_eq!(inventory.item(item).unwrap().available, 1);
}

#[test]
fn expire_due_returns_after_a_clock_jump_past_the_wheel_reach() {
    let (inventory, clock, item) = setup(1);
    clock.advance(WHEEL_REACH + Duration::from_secs(7));
    let receipt = inventory
        .reserve(
            CartId::new(1),
            &[Line::new(item, 1)],
            Duration::from_secs(60),
        )
        .unwrap();
    clock.advance(Duration::from_secs(120));
    let inv = inventory.clone();
    assert_eq!(within_watchdog("expire_due", move || inv.expire_due()), 1);
    assert_eq!(inventory.status(receipt.id), Ok(ReservationState::Expired));
}

#[test]
fn reserve_expires_a_due_hold_after_a_clock_jump_past_the_wheel_reach() {
    let (inventory, clock, item) = setup(1);
    clock.advance(WHEEL_REACH + Duration::from_secs(7));
    let first = inventory
        .reserve(
            CartId::new(1),
            &[Line::new(item, 1)],
            Duration::from_secs(60),
        )
        .unwrap();
    clock.advance(Duration::from_secs(120));
    assert_eq!(inventory.status(first.id), Ok(ReservationState::Expired));
    // The expired hold must not turn the next buyer away, nor stall the reserve.
    let inv = inventory.clone();
    let second = within_watchdog("reserve", move || {
        inv.reserve(
            CartId::new(2),
            &[Line::new(item, 1)],
            Duration::from_secs(60),
        )
    });
    assert!(
        second.is_ok(),
        "buyer refused by an expired hold: {second:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Units in flight near the stock limit.
//
// A take of more than 16 lines keeps where each line came from inline for the first 16, and
// allocates (8 bytes, alignment 2) for the 17th. An armed thread stops at that allocation until
// the gate opens: its first 17 lines are then taken tentatively (in flight), its 18th not yet.

struct GatedAllocator;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

static GATE_OPEN: AtomicBool = AtomicBool::new(false);
static STOPPED_AT_GATE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every request is passed to `System` unchanged; the gate only delays it, and neither
// the thread-local nor the atomics allocate.
unsafe impl GlobalAlloc for GatedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() == 8
            && layout.align() == 2
            && ARMED
                .try_with(|armed| armed.replace(false))
                .unwrap_or(false)
        {
            // SeqCst: a plain handshake with the test's main thread; nothing to argue finely.
            STOPPED_AT_GATE.fetch_add(1, Ordering::SeqCst);
            while !GATE_OPEN.load(Ordering::SeqCst) {
                thread::yield_now();
            }
        }
        // SAFETY: forwarded as received, under the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: GatedAllocator = GatedAllocator;

/// Waits until `n` threads stopped at the gate, or `patience` passed; returns whether they did.
fn stopped_at_gate(n: usize, patience: Duration) -> bool {
    let start = Instant::now();
    while STOPPED_AT_GATE.load(Ordering::SeqCst) < n {
        if start.elapsed() > patience {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

#[test]
fn restock_on_top_of_units_in_flight_loses_nothing() {
    let stock = Arc::new(Stock::new());
    // `big` first, `short` last: lines are taken in ascending item order.
    let big = stock.register(MAX_STOCK).unwrap();
    let small: Vec<ItemId> = (0..16).map(|_| stock.register(2).unwrap()).collect();
    let short = stock.register(0).unwrap();
    let mut lines = vec![Line::new(big, MAX_STOCK)];
    lines.extend(small.iter().map(|&i| Line::new(i, 1)));
    lines.push(Line::new(short, 1));

    // A take that holds all of `big` in flight, stopped before it finds `short` empty.
    let spawn_take = |stock: &Arc<Stock>| {
        let (stock, lines) = (stock.clone(), lines.clone());
        thread::spawn(move || {
            ARMED.with(|armed| armed.set(true));
            let result = stock.take(&lines);
            ARMED.with(|armed| armed.set(false));
            result
        })
    };
    // A restock of the whole limit, answered on a channel (it may wait for the takes).
    let spawn_restock = |stock: &Arc<Stock>| {
        let stock = stock.clone();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(stock.restock(big, MAX_STOCK));
        });
        rx
    };

    let first = spawn_take(&stock);
    assert!(
        stopped_at_gate(1, WATCHDOG),
        "the take did not reach its 17th line's allocation"
    );
    let first_restock = spawn_restock(&stock);
    let early = first_restock.recv_timeout(Duration::from_millis(300)).ok();
    // A second take of `big` (it can stop at the gate only if the restock went through).
    let second = spawn_take(&stock);
    stopped_at_gate(2, Duration::from_millis(300));
    let second_restock = spawn_restock(&stock);
    let early_second = second_restock.recv_timeout(Duration::from_millis(300)).ok();

    GATE_OPEN.store(true, Ordering::SeqCst);
    let restocks = [
        early.unwrap_or_else(|| first_restock.recv_timeout(WATCHDOG).expect("restock hung")),
        early_second
            .unwrap_or_else(|| second_restock.recv_timeout(WATCHDOG).expect("restock hung")),
    ];
    for take in [first, second] {
        let result = within_watchdog("take", move || take.join());
        assert!(
            result.expect("take panicked").is_err(),
            "`short` has no stock"
        );
    }
    let restocked = restocks.iter().filter(|r| r.is_ok()).count() as i64;
    assert_eq!(
        stock.available(big),
        Some(MAX_STOCK + restocked * MAX_STOCK),
        "units lost ({restocks:?})"
    );
    assert_eq!(restocked, 0, "restocks went past the limit: {restocks:?}");
    for &i in &small {
        assert_eq!(stock.available(i), Some(2));
    }
    // Nothing is left in flight: the whole stock can be taken, and then a take is refused
    // rather than left waiting.
    let s = stock.clone();
    let all = within_watchdog("take all", move || s.take(&[Line::new(big, MAX_STOCK)]));
    assert_eq!(all, Ok(()));
    let s = stock.clone();
    let refused = within_watchdog("take one more", move || s.take(&[Line::new(big, 1)]));
    assert!(refused.is_err(), "everything of `big` was just taken");
}

// ---------------------------------------------------------------------------------------------
// Builder settings at and beyond their ranges.

#[test]
fn build_survives_finished_memory_beyond_its_limit() {
    for outcomes in [usize::MAX, 1 << 63, (1 << 63) + 1] {
        let inventory = Inventory::builder()
            .shards(1)
            .expected_carts(64)
            .finished_memory(outcomes)
            .build();
        let item = inventory.register_item(1).unwrap();
        let receipt = inventory
            .reserve(
                CartId::new(1),
                &[Line::new(item, 1)],
                Duration::from_secs(60),
            )
            .unwrap();
        assert!(inventory.confirm(receipt.id).is_ok());
    }
}

#[test]
fn build_survives_expected_carts_usize_max() {
    let inventory = Inventory::builder()
        .expected_carts(usize::MAX)
        .finished_memory(1024)
        .build();
    let item = inventory.register_item(1).unwrap();
    let receipt = inventory
        .reserve(
            CartId::new(1),
            &[Line::new(item, 1)],
            Duration::from_secs(60),
        )
        .unwrap();
    assert!(inventory.confirm(receipt.id).is_ok());
}

#[test]
fn try_build_refuses_every_out_of_range_setting() {
    let base = || {
        Inventory::builder()
            .expected_carts(64)
            .finished_memory(1024)
    };
    let cases: Vec<(&str, atomic_stock::InventoryBuilder)> = vec![
        ("shards 0", base().shards(0)),
        ("shards 257", base().shards(257)),
        ("expected_carts 0", base().expected_carts(0)),
        ("max_reservations 0", base().max_reservations(0)),
        ("finished_memory 0", base().finished_memory(0)),
        ("finished_memory 2^63", base().finished_memory(1 << 63)),
        ("finished_memory max", base().finished_memory(usize::MAX)),
        ("max_ttl zero", base().max_ttl(Duration::ZERO)),
        ("max_ttl max", base().max_ttl(Duration::MAX)),
        (
            "max_ttl beyond u64 ns",
            base().max_ttl(Duration::from_nanos(u64::MAX) + Duration::from_nanos(1)),
        ),
        ("reaper zero", base().reaper(Duration::ZERO)),
    ];
    for (what, builder) in cases {
        let error = match builder.clone().try_build() {
            Err(error) => error,
            Ok(_) => panic!("{what}: accepted"),
        };
        let message = error.to_string();
        assert!(!message.is_empty(), "{what}");
        let _: &dyn std::error::Error = &error;
        // `build` clamps instead of panicking.
        let inventory = builder.build();
        assert!(inventory.register_item(1).is_ok(), "{what}");
    }
    let error = base().shards(0).try_build().unwrap_err();
    assert!(
        matches!(error, BuildError::Shards { shards: 0, .. }),
        "{error:?}"
    );
    let error = base().max_reservations(0).try_build().unwrap_err();
    assert!(
        matches!(error, BuildError::MaxReservations { max: 0, .. }),
        "{error:?}"
    );
    let error = base().finished_memory(usize::MAX).try_build().unwrap_err();
    assert!(
        matches!(
            error,
            BuildError::FinishedMemory {
                outcomes: usize::MAX,
                ..
            }
        ),
        "{error:?}"
    );
    let error = base().max_ttl(Duration::ZERO).try_build().unwrap_err();
    assert!(matches!(error, BuildError::MaxTtl { .. }), "{error:?}");
    let error = base().reaper(Duration::ZERO).try_build().unwrap_err();
    assert!(matches!(error, BuildError::ReaperTick { .. }), "{error:?}");
    // In range is accepted.
    assert!(base()
        .shards(256)
        .max_ttl(atomic_stock::limits::MAX_TTL)
        .expected_carts(usize::MAX)
        .try_build()
        .is_ok());
}

#[test]
fn audit_survives_items_registered_while_it_runs() {
    let inventory = Arc::new(Inventory::builder().finished_memory(1024).build());
    let stop = Arc::new(AtomicBool::new(false));
    let registrar = {
        let (inventory, stop) = (inventory.clone(), stop.clone());
        thread::spawn(move || {
            let mut cart = 0;
            // SeqCst: a test's stop flag.
            while !stop.load(Ordering::SeqCst) && cart < 20_000 {
                cart += 1;
                let item = inventory.register_item(1).unwrap();
                inventory
                    .reserve(
                        CartId::new(cart),
                        &[Line::new(item, 1)],
                        Duration::from_secs(60),
                    )
                    .unwrap();
            }
        })
    };
    let start = Instant::now();
    while !registrar.is_finished() && start.elapsed() < Duration::from_secs(3) {
        // Not quiescent: an error report is fine, a panic is not.
        let _ = inventory.audit();
    }
    stop.store(true, Ordering::SeqCst);
    registrar.join().unwrap();
    assert!(inventory.audit().is_ok());
}

// ---------------------------------------------------------------------------------------------
// The manual clock at its end.

#[test]
fn manual_clock_saturates_instead_of_wrapping() {
    let (inventory, clock, item) = setup(1);
    let receipt = inventory
        .reserve(
            CartId::new(1),
            &[Line::new(item, 1)],
            Duration::from_secs(60),
        )
        .unwrap();
    clock.advance(Duration::MAX);
    assert_eq!(inventory.status(receipt.id), Ok(ReservationState::Expired));
    clock.advance(Duration::from_secs(1));
    assert_eq!(inventory.status(receipt.id), Ok(ReservationState::Expired));
    assert_eq!(
        inventory.confirm(receipt.id),
        Err(ReservationError::Expired)
    );
}
