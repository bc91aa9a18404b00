//! Answers that keep a documented guarantee under races: a finished reservation answered `Unknown` when its cart was reused at
//! once; `set_cart` racing the creation of the same cart; an `Expired` answer that a later call
//! contradicted; remembered outcomes answering for the wrong reservation. Each drives only the
//! public API; the racy ones repeat a bounded number of rounds.

use atomic_stock::{
    CartId, Clock, Confirmation, Inventory, ItemId, Line, ManualClock, ReservationError,
    ReservationId, ReservationState,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3600);

fn rounds(release: u32, debug: u32) -> u32 {
    if cfg!(miri) {
        2
    } else if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

/// Item 2: a reservation finished by one thread while another reuses its cart. The reusing
/// thread, once its own reserve created a new reservation (so it saw the old one finished),
/// asks for the old one by id: the answer is how it finished, never `Unknown`.
#[test]
fn a_finished_reservation_is_remembered_while_its_cart_is_reused() {
    let inventory = Inventory::builder()
        .clock(Arc::new(ManualClock::new()))
        .build();
    // Many lines: settling them takes long enough for the reuse to land in between.
    let items: Vec<ItemId> = (0..256)
        .map(|_| inventory.register_item(1 << 20).unwrap())
        .collect();
    let cart_lines: Vec<Line> = items.iter().map(|&item| Line::new(item, 1)).collect();
    let cart = CartId::new(7);
    for round in 0..rounds(400, 100) {
        let confirm = round % 2 == 0;
        let old = inventory.reserve(cart, &cart_lines, HOUR).unwrap().id;
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                if confirm {
                    assert_eq!(inventory.confirm(old), Ok(Confirmation::Confirmed));
                } else {
                    assert_eq!(inventory.release(old), Ok(()));
                }
            });
            barrier.wait();
            // Adds to the old reservation while it is held, creates a new one once it is not.
            let new = loop {
                let receipt = inventory.reserve(cart, &[Line::new(items[0], 1)], HOUR);
                let id = receipt.unwrap().id;
                if id != old {
                    break id;
                }
            };
            let finished = if confirm {
                ReservationState::Confirmed
            } else {
                ReservationState::Released
            };
            assert_eq!(
                inventory.status(old),
                Ok(finished),
                "round {round}: the old reservation, finished before {new:?} was created"
            );
            inventory.release(new).unwrap();
        });
    }
    inventory.audit().unwrap();
}

/// Item 3: `set_cart` and a reserve creating the same cart at once. Sequentially the cart ends
/// either with the set lines and `set_cart`'s deadline (reserve first) or with both requests'
/// lines and the reserve's deadline (`set_cart` first); never both lines with `set_cart`'s
/// deadline.
#[test]
fn set_cart_racing_the_creation_of_its_cart_is_linearizable() {
    let clock = Arc::new(ManualClock::new());
    let inventory = Inventory::builder().clock(clock.clone()).build();
    let x = inventory.register_item(1 << 20).unwrap();
    let y = inventory.register_item(1 << 20).unwrap();
    let (set_ttl, reserve_ttl) = (Duration::from_secs(100), Duration::from_secs(200));
    let start = clock.now();
    for round in 0..rounds(20_000, 2_000) {
        let cart = CartId::new(u64::from(round));
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                inventory
                    .reserve(cart, &[Line::new(y, 1)], reserve_ttl)
                    .unwrap();
            });
            barrier.wait();
            inventory
                .set_cart(cart, &[Line::new(x, 1)], set_ttl)
                .unwrap();
        });
        let info = inventory.cart(cart).unwrap();
        let deadline = info.deadline - start;
        let reserve_first = info.lines == [Line::new(x, 1)] && deadline == set_ttl;
        let set_first = info.lines == [Line::new(x, 1), Line::new(y, 1)] && deadline == reserve_ttl;
        assert!(
            reserve_first || set_first,
            "round {round}: lines {:?} with deadline {deadline:?}: no order of the two gives it",
            info.lines
        );
        inventory.release(info.id).unwrap();
    }
    inventory.audit().unwrap();
}

/// A manual clock that stops one chosen thread inside its next clock read, after the reading
/// was taken, until the test lets it go: "read the clock, then get preempted".
#[derive(Debug)]
struct GatedClock {
    inner: ManualClock,
    gated: Mutex<Option<thread::ThreadId>>,
    reached: AtomicBool,
    open: AtomicBool,
}

impl GatedClock {
    fn new() -> Self {
        GatedClock {
            inner: ManualClock::new(),
            gated: Mutex::new(None),
            reached: AtomicBool::new(false),
            open: AtomicBool::new(false),
        }
    }

    fn gate_next_read_of(&self, thread: thread::ThreadId) {
        *self.gated.lock().unwrap() = Some(thread);
    }

    fn wait_until_reached(&self) {
        while !self.reached.load(Ordering::Acquire) {
            thread::yield_now();
        }
    }

    fn release_gate(&self) {
        self.open.store(true, Ordering::Release);
    }

    fn gate(&self) {
        let mut gated = self.gated.lock().unwrap();
        if *gated == Some(thread::current().id()) {
            *gated = None;
            drop(gated);
            self.reached.store(true, Ordering::Release);
            while !self.open.load(Ordering::Acquire) {
                thread::yield_now();
            }
        }
    }
}

impl Clock for GatedClock {
    fn now(&self) -> Instant {
        let now = self.inner.now();
        self.gate();
        now
    }

    fn nanos(&self) -> Option<u64> {
        let nanos = self.inner.nanos();
        self.gate();
        nanos
    }
}

/// Item 5: a call that read the clock before the deadline and acts after another call has
/// answered `Expired` must agree with it: `op` runs on a thread stopped right after its clock
/// read, while the main thread moves the clock past the deadline and reads the status.
fn expired_is_final(
    op: impl FnOnce(&Inventory, ReservationId) -> Result<(), ReservationError> + Send,
) {
    let clock = Arc::new(GatedClock::new());
    let inventory = Inventory::builder().clock(clock.clone()).build();
    let item = inventory.register_item(1).unwrap();
    let ttl = Duration::from_secs(60);
    let id = inventory
        .reserve(CartId::new(1), &[Line::new(item, 1)], ttl)
        .unwrap()
        .id;
    let go = Barrier::new(2);
    let answer = thread::scope(|s| {
        let worker = s.spawn(|| {
            go.wait();
            op(&inventory, id)
        });
        clock.gate_next_read_of(worker.thread().id());
        go.wait();
        clock.wait_until_reached();
        clock.inner.advance(ttl);
        assert_eq!(inventory.status(id), Ok(ReservationState::Expired));
        clock.release_gate();
        worker.join().unwrap()
    });
    assert_eq!(
        answer,
        Err(ReservationError::Expired),
        "after status answered Expired"
    );
    assert_eq!(inventory.status(id), Ok(ReservationState::Expired));
    assert_eq!(inventory.item(item).unwrap().available, 1);
    inventory.audit().unwrap();
}

#[test]
fn an_extend_that_read_the_clock_before_the_deadline_agrees_with_expired() {
    expired_is_final(|inventory, id| inventory.extend(id, HOUR).map(drop));
}

#[test]
fn a_confirm_that_read_the_clock_before_the_deadline_agrees_with_expired() {
    expired_is_final(|inventory, id| inventory.confirm(id).map(drop));
}

/// Item 6: a late finisher must not evict the outcome of a newer reservation that shares its
/// slot in the outcome memory (one shard, one slot).
#[test]
fn a_late_finisher_never_evicts_a_newer_outcome() {
    let inventory = Inventory::builder()
        .clock(Arc::new(ManualClock::new()))
        .shards(1)
        .finished_memory(1)
        .build();
    let item = inventory.register_item(10).unwrap();
    let older = inventory
        .reserve(CartId::new(1), &[Line::new(item, 1)], HOUR)
        .unwrap()
        .id;
    let newer = inventory
        .reserve(CartId::new(2), &[Line::new(item, 1)], HOUR)
        .unwrap()
        .id;
    assert_eq!(inventory.confirm(newer), Ok(Confirmation::Confirmed));
    assert_eq!(inventory.confirm(older), Ok(Confirmation::Confirmed));
    assert_eq!(
        inventory.confirm(newer),
        Ok(Confirmation::AlreadyConfirmed),
        "the older reservation's late outcome evicted the newer one's"
    );
}

/// Item 6: outcomes are keyed by the whole id. An id naming another cart, with a finished
/// reservation's sequence number and the inventory's tag, names no reservation.
#[test]
fn a_remembered_outcome_answers_only_for_its_own_cart() {
    let inventory = Inventory::builder()
        .clock(Arc::new(ManualClock::new()))
        .build();
    let item = inventory.register_item(10).unwrap();
    let real = inventory
        .reserve(CartId::new(1), &[Line::new(item, 1)], HOUR)
        .unwrap()
        .id;
    assert_eq!(inventory.confirm(real), Ok(Confirmation::Confirmed));
    let forged = ReservationId::new(CartId::new(2), real.seq(), real.tag());
    assert_eq!(inventory.confirm(forged), Err(ReservationError::Unknown));
    assert_eq!(inventory.status(forged), Err(ReservationError::Unknown));
    assert_eq!(inventory.release(forged), Err(ReservationError::Unknown));
    assert_eq!(inventory.confirm(real), Ok(Confirmation::AlreadyConfirmed));
}

/// Reservation numbers seen by `a_finished_reservation_is_remembered_while_its_cart_is_reused`
/// never repeat (a sanity check of the ids the other tests rely on).
#[test]
fn reservation_ids_are_never_reused_for_a_cart() {
    let inventory = Inventory::new();
    let item = inventory.register_item(1).unwrap();
    let last = AtomicU64::new(0);
    for _ in 0..100 {
        let id = inventory
            .reserve(CartId::new(3), &[Line::new(item, 1)], HOUR)
            .unwrap()
            .id;
        assert_ne!(id.seq(), last.swap(id.seq(), Ordering::Relaxed));
        inventory.release(id).unwrap();
    }
}
