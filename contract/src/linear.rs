//! [`linearizability`]: concurrent histories of a backend, each explained by a sequential order.
//!
//! A few tasks run short random programs at once on a fresh backend with two items of small
//! stock: reserves of one or both items (each for a cart of its own), confirms and releases of
//! their own reservations, restocks. Every call takes a ticket from one counter just before it
//! is invoked and just after it returns, so "A returned before B was invoked" is exact. The
//! history is then searched (Wing & Gong) for an order of its operations that respects real
//! time and in which the sequential model of [`spec`](crate::spec) gives every answer the
//! backend gave: a depth-first search over the operations that may come next (invoked before
//! every pending operation returned), each applied to a copy of the model, memoized on (the set
//! linearized, the model, which model reservation each reserve made).
//!
//! Answers must equal the model's, except the `available` figure of a `Shortfall`, documented as
//! the count seen when the shortfall was decided (units held by reserves still in flight are not
//! in it): it must be at most the model's. Time is frozen (nothing expires).
//!
//! A refusal for units another reserve held only for a moment (a *phantom shortfall*: a
//! reserve spanning two shards takes one, finds the other short, and gives the first back) is
//! exactly what no sequential order explains: the model refuses a buyer only for units that are
//! taken.

use crate::spec::{Config, Model, Outcome};
use crate::suite::{Rng, Setup};
use atomic_stock::{
    Backend, CartId, Failure, ItemId, Line, ManualClock, ReservationError, ReservationId,
    ReserveError, TakeError,
};
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ITEMS: u32 = 2;
const TTL_MS: u64 = 600_000;
const MAX_TTL_MS: u64 = 3_600_000;

/// An operation as invoked. Confirms and releases name the reserve (by its position in the
/// history) whose reservation they act on.
#[derive(Clone, Debug)]
enum Call {
    Reserve(u64, Vec<(u32, i64)>),
    Confirm(usize),
    Release(usize),
    Restock(u32, i64),
}

/// What the backend answered, in the model's terms but for reservation ids (a reserve's
/// answer names no model index: which one it is depends on the order).
#[derive(Clone, Debug)]
enum Answer {
    Reserved,
    Outcome(Outcome),
}

/// One completed call: invoked at ticket `start`, returned at ticket `end`.
#[derive(Clone, Debug)]
struct Event {
    call: Call,
    answer: Answer,
    start: u64,
    end: u64,
}

/// Runs `histories` random histories of `tasks` concurrent tasks (`ops` calls each) on fresh
/// backends from `make`, and requires each to be linearizable. `CONTRACT_LIN_HISTORIES`
/// overrides `histories`; `CONTRACT_SEED` sets the first seed (history `k` uses `seed + k`).
/// Items 0 and 1 are the only ones registered, so a backend that spreads items by id (Redis
/// Cluster: item `i` on shard `i mod shards`) keeps them on different shards, and the two-item
/// reserves cross shards. Needs a multi-threaded runtime for the tasks to overlap.
pub async fn linearizability<B, F, Fut>(make: &F, histories: usize, tasks: usize, ops: usize)
where
    B: Backend + 'static,
    F: Fn(Setup) -> Fut,
    Fut: Future<Output = B>,
{
    let histories = std::env::var("CONTRACT_LIN_HISTORIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(histories);
    let seed = std::env::var("CONTRACT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let mut name = String::new();
    let (mut operations, mut refusals) = (0, 0);
    let mut failures = Vec::new();
    for k in 0..histories as u64 {
        let seed = seed.wrapping_add(k);
        let initial = 1 + (seed % 2) as i64;
        let backend = Arc::new(
            make(Setup {
                clock: Arc::new(ManualClock::new()),
                max_ttl: Duration::from_millis(MAX_TTL_MS),
            })
            .await,
        );
        name = backend.name().to_string();
        for expected in 0..ITEMS {
            match backend.register_item(initial).await {
                Ok(item) if item == ItemId::new(expected) => {}
                other => panic!("{name}: register: {other:?} (items are numbered from 0)"),
            }
        }
        let history = record(backend, seed, tasks, ops).await;
        operations += history.len();
        refusals += history
            .iter()
            .filter(|e| matches!(e.answer, Answer::Outcome(Outcome::Reserve(_))))
            .count();
        let config = Config {
            items: ITEMS,
            initial,
            max_ttl_ms: MAX_TTL_MS,
        };
        if !Search::new(&history).explains(config) {
            if failures.is_empty() {
                println!(
                    "{name}: history {k} (CONTRACT_SEED={seed}, {initial} units per item) is not \
                     linearizable:\n{}",
                    history
                        .iter()
                        .map(|e| format!(
                            "  [{:>3} .. {:>3}] {:?} -> {:?}",
                            e.start, e.end, e.call, e.answer
                        ))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            failures.push(seed);
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {histories} histories are not linearizable (seeds {failures:?}; the \
         first is printed above)",
        failures.len()
    );
    println!(
        "contract linearizability [{name}]: {histories} histories of {tasks} tasks, {operations} \
         operations ({refusals} reserves refused): all linearizable"
    );
}

/// Runs the tasks of one history together and returns what happened, in ticket order.
async fn record<B: Backend + 'static>(
    backend: Arc<B>,
    seed: u64,
    tasks: usize,
    ops: usize,
) -> Vec<Event> {
    let tickets = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let (backend, tickets, barrier) = (backend.clone(), tickets.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (task as u64) << 48);
                // The id each of this task's calls got (reserves that succeeded), and the
                // calls whose reservation is still to be confirmed or released.
                let mut ids: Vec<Option<ReservationId>> = Vec::new();
                let mut live: Vec<usize> = Vec::new();
                let mut events = Vec::new();
                barrier.wait().await;
                for n in 0..ops {
                    let call = match rng.below(8) {
                        0..=3 => {
                            let lines = match rng.below(3) {
                                0 => vec![(0, 1)],
                                1 => vec![(1, 1)],
                                _ => vec![(0, 1 + rng.below(2) as i64), (1, 1)],
                            };
                            Call::Reserve(((task as u64) << 32) | n as u64, lines)
                        }
                        4 | 5 if !live.is_empty() => {
                            Call::Confirm(live.swap_remove(rng.below(live.len() as u64) as usize))
                        }
                        6 if !live.is_empty() => {
                            Call::Release(live.swap_remove(rng.below(live.len() as u64) as usize))
                        }
                        _ => Call::Restock(rng.below(u64::from(ITEMS)) as u32, 1),
                    };
                    let mut id = None;
                    // Relaxed: the counter alone orders the tickets; one taken before the call
                    // is invoked and one after it returns bracket it.
                    let start = tickets.fetch_add(1, Ordering::Relaxed);
                    let answer = match &call {
                        Call::Reserve(cart, raw) => {
                            let lines: Vec<Line> = raw
                                .iter()
                                .map(|&(i, q)| Line::new(ItemId::new(i), q))
                                .collect();
                            let ttl = Duration::from_millis(TTL_MS);
                            match backend.reserve(CartId::new(*cart), &lines, ttl).await {
                                Ok(receipt) => {
                                    id = Some(receipt.id);
                                    Answer::Reserved
                                }
                                Err(Failure::Refused(e)) => Answer::Outcome(Outcome::Reserve(e)),
                                Err(Failure::Backend(e)) => failed("reserve", &e),
                            }
                        }
                        Call::Confirm(k) => match ids[*k] {
                            Some(id) => {
                                answer(backend.confirm(id).await.map(Outcome::Confirmation))
                            }
                            None => unreachable!("only reserves that succeeded are confirmed"),
                        },
                        Call::Release(k) => match ids[*k] {
                            Some(id) => answer(backend.release(id).await.map(|()| Outcome::Unit)),
                            None => unreachable!("only reserves that succeeded are released"),
                        },
                        Call::Restock(item, q) => {
                            match backend.restock(ItemId::new(*item), *q).await {
                                Ok(()) => Answer::Outcome(Outcome::Unit),
                                Err(Failure::Refused(e)) => Answer::Outcome(Outcome::Adjust(e)),
                                Err(Failure::Backend(e)) => failed("restock", &e),
                            }
                        }
                    };
                    let end = tickets.fetch_add(1, Ordering::Relaxed);
                    if id.is_some() {
                        live.push(n);
                    }
                    ids.push(id);
                    events.push(Event {
                        call,
                        answer,
                        start,
                        end,
                    });
                }
                events
            })
        })
        .collect();
    // Each task's confirms and releases name its reserves by their number in the task; in the
    // merged history they name them by position there.
    let mut merged: Vec<(usize, usize, Event)> = Vec::new();
    for (task, handle) in handles.into_iter().enumerate() {
        let events = handle.await.expect("a history task panicked");
        for (n, event) in events.into_iter().enumerate() {
            merged.push((task, n, event));
        }
    }
    merged.sort_by_key(|(_, _, e)| e.start);
    let position: HashMap<(usize, usize), usize> = merged
        .iter()
        .enumerate()
        .map(|(p, (task, n, _))| ((*task, *n), p))
        .collect();
    merged
        .into_iter()
        .map(|(task, _, mut event)| {
            event.call = match event.call {
                Call::Confirm(k) => Call::Confirm(position[&(task, k)]),
                Call::Release(k) => Call::Release(position[&(task, k)]),
                other => other,
            };
            event
        })
        .collect()
}

/// A confirm's or release's answer.
fn answer<E: Debug>(result: Result<Outcome, Failure<ReservationError, E>>) -> Answer {
    match result {
        Ok(outcome) => Answer::Outcome(outcome),
        Err(Failure::Refused(e)) => Answer::Outcome(Outcome::Reservation(e)),
        Err(Failure::Backend(e)) => failed("confirm or release", &e),
    }
}

fn failed(what: &str, e: &dyn Debug) -> ! {
    panic!("{what}: backend failure {e:?}")
}

/// The Wing & Gong search over one history.
struct Search<'h> {
    history: &'h [Event],
    /// States already explored without success: (linearized set, model, model index of each
    /// reserve linearized).
    dead: HashSet<(Vec<bool>, Model, Vec<Option<usize>>)>,
}

impl<'h> Search<'h> {
    fn new(history: &'h [Event]) -> Self {
        Search {
            history,
            dead: HashSet::new(),
        }
    }

    fn explains(mut self, config: Config) -> bool {
        let n = self.history.len();
        self.go(&mut vec![false; n], &Model::new(config), &mut vec![None; n])
    }

    fn go(&mut self, done: &mut Vec<bool>, model: &Model, made: &mut Vec<Option<usize>>) -> bool {
        if done.iter().all(|&d| d) {
            return true;
        }
        if self
            .dead
            .contains(&(done.clone(), model.clone(), made.clone()))
        {
            return false;
        }
        // An operation may come next only if it was invoked before every pending operation
        // returned (none of them is entirely before it).
        let first_end = (0..done.len())
            .filter(|&i| !done[i])
            .map(|i| self.history[i].end)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..done.len() {
            if done[i] || self.history[i].start > first_end {
                continue;
            }
            let mut next = model.clone();
            let Some(index) = apply(&self.history[i], &mut next, made) else {
                continue;
            };
            done[i] = true;
            made[i] = index;
            if self.go(done, &next, made) {
                return true;
            }
            done[i] = false;
            made[i] = None;
        }
        self.dead
            .insert((done.clone(), model.clone(), made.clone()));
        false
    }
}

/// Applies `event` to `model`; `None` if the model answers otherwise, else `Some` of the model
/// index of the reservation a reserve made (`Some(None)` for anything else).
fn apply(event: &Event, model: &mut Model, made: &[Option<usize>]) -> Option<Option<usize>> {
    let expected = match &event.call {
        Call::Reserve(cart, raw) => model.reserve(*cart, raw, TTL_MS),
        Call::Confirm(k) => {
            let found = model.resolve(made[*k]);
            model.confirm(found)
        }
        Call::Release(k) => {
            let found = model.resolve(made[*k]);
            model.release(found)
        }
        Call::Restock(item, q) => model.adjust(*item, *q, true),
    };
    match (&event.answer, expected) {
        (Answer::Reserved, Outcome::Receipt { reservation, .. }) => Some(Some(reservation)),
        (
            Answer::Outcome(Outcome::Reserve(ReserveError::Stock(TakeError::Shortfall {
                item,
                requested,
                available,
            }))),
            Outcome::Reserve(ReserveError::Stock(TakeError::Shortfall {
                item: model_item,
                requested: model_requested,
                available: model_available,
            })),
        ) => {
            (*item == model_item && *requested == model_requested && *available <= model_available)
                .then_some(None)
        }
        (Answer::Outcome(got), expected) => (*got == expected).then_some(None),
        (Answer::Reserved, _) => None,
    }
}
