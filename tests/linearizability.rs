//! Linearizability of the reservation lifecycle, checked on recorded concurrent histories.
//!
//! Several threads run random operations (multi-line reserves, confirms and releases by id and
//! by cart, partial releases, restocks, item reads and status reads) on an `Inventory` with 2
//! or 3 items of small stock. Every call is stamped with a ticket from one global counter just
//! before it is invoked and just after it returns, so "A returned before B was invoked" is
//! exact. Each history is then checked against the sequential model of
//! `atomic_stock_contract::spec` with a Wing & Gong search: a depth-first search over the orders
//! that respect real time (an operation may come next only if no pending operation returned
//! before it was invoked), applying each operation to a copy of the model and requiring the
//! same answer, memoizing (set of linearized operations, model state, id mapping) so that each
//! state is explored once.
//!
//! Time is frozen (a manual clock that never moves, times to live of an hour), so nothing
//! expires and the model needs no clock.
//!
//! Exactness of answers:
//! - every answer must be the model's exactly, except the `available` figure inside a
//!   `Shortfall`, documented as the count seen when the shortfall was decided (units held
//!   tentatively by requests still in flight are not in it): it must be at most the model's;
//! - an item read (`Inventory::item`) is documented as not atomic across fields, and its
//!   `available` leaves out units taken tentatively, so it is checked as a bound: `available`
//!   and `sold` never exceed the model's at the read's linearization point (a unit shown
//!   available is one a sequential history has free; nothing shows as sold that was not
//!   confirmed);
//! - a status read (`Inventory::status`) is exact;
//! - a by-cart confirm or release may answer with the outcome of the cart's latest reservation
//!   instead of `NoReservation` (see `finished_during_the_call`).
//!
//! `LIN_HISTORIES` sets how many histories to record and check (default 3,000, a few seconds);
//! `LIN_SEED` sets the first seed.

use atomic_stock::{
    CartId, Inventory, ItemId, ManualClock, ReservationError, ReservationId, ReservationState,
    ReserveError, TakeError,
};
use atomic_stock_contract::spec::{self, Config, Model, Outcome};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

const TTL_MS: u64 = 3_600_000;

/// An operation as invoked, with the real ids it names.
#[derive(Clone, Debug)]
enum Call {
    Reserve(u64, Vec<(u32, i64)>),
    SetCart(u64, Vec<(u32, i64)>),
    Confirm(ReservationId),
    ConfirmCart(u64),
    Release(ReservationId),
    ReleaseCart(u64),
    ReleaseLines(ReservationId, Vec<(u32, i64)>),
    Restock(u32, i64),
    Read(u32),
    Status(ReservationId),
}

/// What an operation answered.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    /// A reserve's receipt: the real id and the deadline in milliseconds from the start.
    Receipt(ReservationId, u64),
    /// Any other answer the model can give.
    Outcome(Outcome),
    /// An item read.
    Levels { available: i64, sold: i64 },
    /// A status read.
    Status(Result<ReservationState, ReservationError>),
}

/// One completed operation of a history.
#[derive(Clone, Debug)]
struct Event {
    thread: usize,
    call: Call,
    answer: Answer,
    invoked: u64,
    returned: u64,
}

// ---------------------------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------------------------

/// A search state: the model, and which model reservation index each real id (by its dense
/// number in the history) stands for.
#[derive(Clone, PartialEq, Eq, Hash)]
struct State {
    model: Model,
    index_of: Vec<Option<usize>>,
}

struct Checker<'h> {
    history: &'h [Event],
    /// Dense numbers of the real ids that occur in the history.
    ids: Vec<ReservationId>,
    visited: HashSet<(u64, State)>,
}

impl<'h> Checker<'h> {
    fn new(history: &'h [Event]) -> Self {
        assert!(history.len() <= 64, "the search tracks operations in a u64");
        let mut ids = Vec::new();
        for event in history {
            let named = match &event.call {
                Call::Confirm(id)
                | Call::Release(id)
                | Call::ReleaseLines(id, _)
                | Call::Status(id) => Some(*id),
                _ => None,
            };
            let issued = match &event.answer {
                Answer::Receipt(id, _) => Some(*id),
                _ => None,
            };
            for id in named.into_iter().chain(issued) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        Checker {
            history,
            ids,
            visited: HashSet::new(),
        }
    }

    fn number(&self, id: ReservationId) -> usize {
        self.ids.iter().position(|&i| i == id).unwrap()
    }

    /// The model index a real id stands for. The reserve that returned the id returned before
    /// this operation was invoked, so it is linearized already.
    fn index(&self, state: &State, id: ReservationId) -> usize {
        state.index_of[self.number(id)].expect("an id is used only after its reserve returned")
    }

    /// Applies `event` to `state`; whether the model answers as the real inventory did.
    fn step(&self, state: &mut State, event: &Event) -> bool {
        let index = match &event.call {
            Call::Confirm(id)
            | Call::Release(id)
            | Call::ReleaseLines(id, _)
            | Call::Status(id) => Some(self.index(state, *id)),
            _ => None,
        };
        let model = &mut state.model;
        let expected = match &event.call {
            Call::Reserve(cart, lines) => model.reserve(*cart, lines, TTL_MS),
            Call::SetCart(cart, lines) => model.set_cart(*cart, lines, TTL_MS),
            Call::Confirm(_) => {
                let found = model.resolve(index);
                model.confirm(found)
            }
            Call::ConfirmCart(cart) => {
                let found = model.resolve_cart(*cart).map(Some);
                model.confirm(found)
            }
            Call::Release(_) => {
                let found = model.resolve(index);
                model.release(found)
            }
            Call::ReleaseCart(cart) => {
                let found = model.resolve_cart(*cart).map(Some);
                model.release(found)
            }
            Call::ReleaseLines(_, lines) => model.release_lines(index, lines),
            Call::Restock(item, quantity) => model.adjust(*item, *quantity, true),
            Call::Read(item) => {
                let Answer::Levels { available, sold } = event.answer else {
                    return false;
                };
                let i = *item as usize;
                return available <= model.available[i] && sold <= model.sold[i];
            }
            Call::Status(_) => {
                let status = match model.resolve(index) {
                    Ok(Some(_)) => Ok(ReservationState::Held),
                    Ok(None) => Ok(ReservationState::Confirmed),
                    Err(ReservationError::Released) => Ok(ReservationState::Released),
                    Err(ReservationError::Expired) => Ok(ReservationState::Expired),
                    Err(e) => Err(e),
                };
                return event.answer == Answer::Status(status);
            }
        };
        if let (Call::ConfirmCart(cart) | Call::ReleaseCart(cart), Answer::Outcome(answer)) =
            (&event.call, &event.answer)
        {
            if let Outcome::Reservation(ReservationError::NoReservation { .. }) = expected {
                return *answer == expected || finished_during_the_call(model, *cart, answer);
            }
        }
        match (&event.answer, expected) {
            (
                Answer::Receipt(id, deadline_ms),
                Outcome::Receipt {
                    reservation,
                    deadline_ms: expected_deadline,
                },
            ) => {
                if *deadline_ms != expected_deadline {
                    return false;
                }
                let number = self.number(*id);
                match state.index_of[number] {
                    Some(index) => index == reservation,
                    // A new id must name a reservation no other id names.
                    None if !state.index_of.contains(&Some(reservation)) => {
                        state.index_of[number] = Some(reservation);
                        true
                    }
                    None => false,
                }
            }
            (
                Answer::Outcome(Outcome::Reserve(ReserveError::Stock(TakeError::Shortfall {
                    item,
                    requested,
                    available,
                }))),
                Outcome::Reserve(ReserveError::Stock(TakeError::Shortfall {
                    item: expected_item,
                    requested: expected_requested,
                    available: expected_available,
                })),
            ) => {
                *item == expected_item
                    && *requested == expected_requested
                    && *available <= expected_available
            }
            (Answer::Outcome(answer), expected) => *answer == expected,
            _ => false,
        }
    }

    /// Whether the operations not in `done` can be linearized from `state`.
    fn search(&mut self, done: u64, state: State) -> bool {
        let all = if self.history.len() == 64 {
            u64::MAX
        } else {
            (1u64 << self.history.len()) - 1
        };
        if done == all {
            return true;
        }
        if !self.visited.insert((done, state.clone())) {
            return false;
        }
        // An operation may come next only if it was invoked before every pending operation
        // returned.
        let pending = || (0..self.history.len()).filter(move |&i| done & (1 << i) == 0);
        let first_return = pending().map(|i| self.history[i].returned).min().unwrap();
        let candidates: Vec<usize> = pending()
            .filter(|&i| self.history[i].invoked < first_return)
            .collect();
        for i in candidates {
            let mut next = state.clone();
            if self.step(&mut next, &self.history[i]) && self.search(done | 1 << i, next) {
                return true;
            }
        }
        false
    }

    /// Whether `history`, run on an inventory with `config`, is linearizable.
    fn check(history: &[Event], config: Config) -> bool {
        let mut checker = Checker::new(history);
        let state = State {
            model: Model::new(config),
            index_of: vec![None; checker.ids.len()],
        };
        checker.search(0, state)
    }
}

/// A by-cart confirm or release that overlaps the call that finished the cart's reservation can
/// find the finished entry before it is unlinked, and answer with its outcome
/// (`AlreadyConfirmed`, `Confirmed`, `Released`, `Expired`) instead of `NoReservation`. The
/// sequential model always answers `NoReservation` once the reservation is gone; this accepts
/// the other answer when it names how the cart's latest reservation really finished.
fn finished_during_the_call(model: &Model, cart: u64, answer: &Outcome) -> bool {
    use spec::Finished;
    let Some(latest) = model.created.iter().rposition(|&c| c == cart) else {
        return false;
    };
    let finished = model.finished.get(&latest);
    matches!(
        (answer, finished),
        (
            Outcome::Confirmation(atomic_stock::Confirmation::AlreadyConfirmed),
            Some(Finished::Confirmed)
        ) | (
            Outcome::Reservation(ReservationError::Confirmed),
            Some(Finished::Confirmed)
        ) | (
            Outcome::Reservation(ReservationError::Released),
            Some(Finished::Released)
        ) | (
            Outcome::Reservation(ReservationError::Expired),
            Some(Finished::Expired)
        )
    )
}

// ---------------------------------------------------------------------------------------------
// Recording histories
// ---------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The shape of one random history.
#[derive(Clone, Copy, Debug)]
struct Shape {
    threads: usize,
    ops_per_thread: usize,
    items: u32,
    initial: i64,
    /// Only by-cart operations on two carts every thread shares (see `choose_by_cart`).
    by_cart: bool,
}

fn lines(rng: &mut Rng, items: u32, max_lines: u64) -> Vec<(u32, i64)> {
    (0..1 + rng.below(max_lines))
        .map(|_| (rng.below(u64::from(items)) as u32, 1 + rng.below(2) as i64))
        .collect()
}

/// Chooses the next call of thread `me`: ids are its own or published by other threads (only
/// after the reserve that issued them returned).
fn choose(rng: &mut Rng, shape: Shape, me: usize, board: &Mutex<Vec<ReservationId>>) -> Call {
    if shape.by_cart {
        return choose_by_cart(rng, shape);
    }
    let cart = |rng: &mut Rng, any: bool| {
        let owner = if any {
            rng.below(shape.threads as u64)
        } else {
            me as u64
        };
        owner * 10 + rng.below(2)
    };
    let seen = {
        let board = board.lock().unwrap();
        (!board.is_empty()).then(|| board[rng.below(board.len() as u64) as usize])
    };
    match (rng.below(16), seen) {
        (0..=5, _) | (6..=11, None) => Call::Reserve(cart(rng, false), lines(rng, shape.items, 3)),
        (6, Some(id)) => Call::Confirm(id),
        (7, Some(id)) => Call::Release(id),
        (8, Some(id)) => Call::ReleaseLines(id, lines(rng, shape.items, 2)),
        (9, Some(id)) => Call::Status(id),
        (10, _) => Call::ConfirmCart(cart(rng, true)),
        (11, _) => Call::ReleaseCart(cart(rng, true)),
        (12..=13, _) => Call::Read(rng.below(u64::from(shape.items)) as u32),
        _ => Call::Restock(rng.below(u64::from(shape.items)) as u32, 1),
    }
}

/// A by-cart call on one of two carts shared by every thread: reserve into the cart, set its
/// lines, confirm it or release it. Every by-cart operation races every other on the same
/// cart, including a cart's reuse right after its reservation finished.
fn choose_by_cart(rng: &mut Rng, shape: Shape) -> Call {
    let cart = 1 + rng.below(2);
    match rng.below(4) {
        0 => Call::Reserve(cart, lines(rng, shape.items, 2)),
        1 => Call::SetCart(cart, lines(rng, shape.items, 2)),
        2 => Call::ConfirmCart(cart),
        _ => Call::ReleaseCart(cart),
    }
}

fn invoke(inv: &Inventory, start: std::time::Instant, call: &Call) -> Answer {
    let item = |i: u32| ItemId::new(i);
    let outcome = |r: Result<(), ReservationError>| {
        Answer::Outcome(r.map_or_else(Outcome::Reservation, |()| Outcome::Unit))
    };
    match call {
        Call::Reserve(cart, raw) => {
            match inv.reserve(
                CartId::new(*cart),
                &spec::to_lines(raw),
                Duration::from_millis(TTL_MS),
            ) {
                Ok(r) => Answer::Receipt(r.id, (r.deadline - start).as_millis() as u64),
                Err(e) => Answer::Outcome(Outcome::Reserve(e)),
            }
        }
        Call::SetCart(cart, raw) => {
            match inv.set_cart(
                CartId::new(*cart),
                &spec::to_lines(raw),
                Duration::from_millis(TTL_MS),
            ) {
                Ok(r) => Answer::Receipt(r.id, (r.deadline - start).as_millis() as u64),
                Err(e) => Answer::Outcome(Outcome::Reserve(e)),
            }
        }
        Call::Confirm(id) => Answer::Outcome(
            inv.confirm(*id)
                .map_or_else(Outcome::Reservation, Outcome::Confirmation),
        ),
        Call::ConfirmCart(cart) => Answer::Outcome(
            inv.confirm_cart(CartId::new(*cart))
                .map_or_else(Outcome::Reservation, Outcome::Confirmation),
        ),
        Call::Release(id) => outcome(inv.release(*id)),
        Call::ReleaseCart(cart) => outcome(inv.release_cart(CartId::new(*cart))),
        Call::ReleaseLines(id, raw) => outcome(inv.release_lines(*id, &spec::to_lines(raw))),
        Call::Restock(i, q) => Answer::Outcome(
            inv.restock(item(*i), *q)
                .map_or_else(Outcome::Adjust, |()| Outcome::Unit),
        ),
        Call::Read(i) => {
            let levels = inv.item(item(*i)).unwrap();
            Answer::Levels {
                available: levels.available,
                sold: levels.sold,
            }
        }
        Call::Status(id) => Answer::Status(inv.status(*id)),
    }
}

/// Runs one random history and returns it, sorted by invocation.
fn record(shape: Shape, seed: u64) -> Vec<Event> {
    let clock = Arc::new(ManualClock::new());
    // A small cart table and outcome memory: building the default sizes dominated the run.
    let inv = Inventory::builder()
        .clock(clock.clone())
        .expected_carts(64)
        .finished_memory(1024)
        .build();
    for _ in 0..shape.items {
        inv.register_item(shape.initial).unwrap();
    }
    let start = atomic_stock::Clock::now(&*clock);
    let ticket = AtomicU64::new(0);
    let board = Mutex::new(Vec::new());
    let barrier = Barrier::new(shape.threads);
    let mut history: Vec<Event> = thread::scope(|s| {
        let workers: Vec<_> = (0..shape.threads)
            .map(|me| {
                let (inv, ticket, board, barrier) = (&inv, &ticket, &board, &barrier);
                s.spawn(move || {
                    let mut rng = Rng::new(seed ^ (me as u64 + 1) << 32);
                    let mut events = Vec::with_capacity(shape.ops_per_thread);
                    barrier.wait();
                    for _ in 0..shape.ops_per_thread {
                        let call = choose(&mut rng, shape, me, board);
                        // AcqRel on one counter: every ticket is ordered after the tickets
                        // before it, so a return ticket below an invocation ticket means the
                        // call returned before the other was invoked.
                        let invoked = ticket.fetch_add(1, Ordering::AcqRel);
                        let answer = invoke(inv, start, &call);
                        let returned = ticket.fetch_add(1, Ordering::AcqRel);
                        if let Answer::Receipt(id, _) = answer {
                            let mut board = board.lock().unwrap();
                            if !board.contains(&id) {
                                board.push(id);
                            }
                        }
                        events.push(Event {
                            thread: me,
                            call,
                            answer,
                            invoked,
                            returned,
                        });
                    }
                    events
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    history.sort_by_key(|e| e.invoked);
    inv.audit().unwrap();
    history
}

fn describe(history: &[Event]) -> String {
    history
        .iter()
        .map(|e| {
            format!(
                "  [{:>3}, {:>3}] thread {}: {:?} -> {:?}\n",
                e.invoked, e.returned, e.thread, e.call, e.answer
            )
        })
        .collect()
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_histories_are_linearizable() {
    let histories = env("LIN_HISTORIES", if cfg!(miri) { 3 } else { 3_000 });
    let first_seed = env("LIN_SEED", 1);
    let mut operations = 0;
    let (mut recording, mut checking) = (Duration::ZERO, Duration::ZERO);
    for n in 0..histories {
        let seed = first_seed + n;
        let mut rng = Rng::new(seed);
        let shape = Shape {
            threads: 2 + rng.below(3) as usize,
            ops_per_thread: 4 + rng.below(5) as usize,
            items: 2 + rng.below(2) as u32,
            initial: 1 + rng.below(2) as i64,
            by_cart: false,
        };
        let started = std::time::Instant::now();
        let history = record(shape, seed);
        recording += started.elapsed();
        operations += history.len();
        let config = Config {
            items: shape.items,
            initial: shape.initial,
            max_ttl_ms: TTL_MS,
        };
        let started = std::time::Instant::now();
        let linearizable = Checker::check(&history, config);
        checking += started.elapsed();
        assert!(
            linearizable,
            "history {n} (LIN_SEED={seed}, {shape:?}) is not linearizable:\n{}",
            describe(&history)
        );
    }
    println!(
        "{histories} histories, {operations} operations: all linearizable \
         (recording {recording:?}, checking {checking:?})"
    );
}

/// By-cart operations racing on shared carts (3 threads, 2 carts, 2 items of 1-3 units, 4
/// operations each): `LIN_CART_HISTORIES` histories (default 3,000).
#[test]
fn by_cart_histories_are_linearizable() {
    let histories = env("LIN_CART_HISTORIES", if cfg!(miri) { 3 } else { 3_000 });
    let first_seed = env("LIN_SEED", 1);
    for n in 0..histories {
        let seed = first_seed + n;
        let mut rng = Rng::new(seed ^ 0xC0FFEE);
        let shape = Shape {
            threads: 3,
            ops_per_thread: 4,
            items: 2,
            initial: 1 + rng.below(3) as i64,
            by_cart: true,
        };
        let history = record(shape, seed);
        let config = Config {
            items: shape.items,
            initial: shape.initial,
            max_ttl_ms: TTL_MS,
        };
        assert!(
            Checker::check(&history, config),
            "by-cart history {n} (LIN_SEED={seed}, {shape:?}) is not linearizable:\n{}",
            describe(&history)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The checker can fail
// ---------------------------------------------------------------------------------------------

const ONE_ITEM: Config = Config {
    items: 1,
    initial: 1,
    max_ttl_ms: TTL_MS,
};

fn id(n: u8) -> ReservationId {
    let mut bytes = [0; 20];
    bytes[0] = n;
    ReservationId::from_bytes(bytes)
}

fn event(thread: usize, invoked: u64, returned: u64, call: Call, answer: Answer) -> Event {
    Event {
        thread,
        call,
        answer,
        invoked,
        returned,
    }
}

fn short(item: u32, available: i64) -> Answer {
    Answer::Outcome(Outcome::Reserve(ReserveError::Stock(
        TakeError::Shortfall {
            item: ItemId::new(item),
            requested: 1,
            available,
        },
    )))
}

const UNIT: Answer = Answer::Outcome(Outcome::Unit);

/// The phantom shortfall after a release: the unit was released (and another thread saw the
/// release), then a reserve that started later is refused.
#[test]
fn checker_rejects_a_shortfall_after_a_completed_release() {
    let history = [
        event(
            0,
            0,
            1,
            Call::Reserve(0, vec![(0, 1)]),
            Answer::Receipt(id(1), TTL_MS),
        ),
        event(0, 2, 5, Call::Release(id(1)), UNIT),
        event(
            1,
            3,
            4,
            Call::Status(id(1)),
            Answer::Status(Ok(ReservationState::Released)),
        ),
        event(1, 6, 7, Call::Reserve(10, vec![(0, 1)]), short(0, 0)),
    ];
    assert!(!Checker::check(&history, ONE_ITEM));
    // The same refusal while the release is still running is fine: the reserve goes first.
    let mut overlapping = history.to_vec();
    overlapping.remove(2);
    overlapping[2].invoked = 3;
    overlapping[2].returned = 4;
    assert!(Checker::check(&overlapping, ONE_ITEM));
}

/// Two reservations of the only unit, one after the other, both granted: overselling.
#[test]
fn checker_rejects_overselling() {
    let history = [
        event(
            0,
            0,
            1,
            Call::Reserve(0, vec![(0, 1)]),
            Answer::Receipt(id(1), TTL_MS),
        ),
        event(
            1,
            2,
            3,
            Call::Reserve(10, vec![(0, 1)]),
            Answer::Receipt(id(2), TTL_MS),
        ),
    ];
    assert!(!Checker::check(&history, ONE_ITEM));
}

/// A read that sees a confirmed unit as available, after the confirm returned.
#[test]
fn checker_rejects_a_read_of_confirmed_stock_as_available() {
    let history = [
        event(
            0,
            0,
            1,
            Call::Reserve(0, vec![(0, 1)]),
            Answer::Receipt(id(1), TTL_MS),
        ),
        event(
            0,
            2,
            3,
            Call::Confirm(id(1)),
            Answer::Outcome(Outcome::Confirmation(atomic_stock::Confirmation::Confirmed)),
        ),
        event(
            1,
            4,
            5,
            Call::Read(0),
            Answer::Levels {
                available: 1,
                sold: 1,
            },
        ),
    ];
    assert!(!Checker::check(&history, ONE_ITEM));
}

/// Real-time order matters: a reserve that overlaps a confirm of the same cart may be refused or
/// granted, but two overlapping reserves of one unit cannot both be refused.
#[test]
fn checker_respects_overlap() {
    let both_refused = [
        event(0, 0, 3, Call::Reserve(0, vec![(0, 1)]), short(0, 0)),
        event(1, 1, 2, Call::Reserve(10, vec![(0, 1)]), short(0, 0)),
    ];
    assert!(!Checker::check(&both_refused, ONE_ITEM));
    let one_granted = [
        event(0, 0, 3, Call::Reserve(0, vec![(0, 1)]), short(0, 0)),
        event(
            1,
            1,
            2,
            Call::Reserve(10, vec![(0, 1)]),
            Answer::Receipt(id(2), TTL_MS),
        ),
    ];
    assert!(Checker::check(&one_granted, ONE_ITEM));
}
