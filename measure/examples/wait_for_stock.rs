//! Waiting for stock (`Inventory::reserve_waiting`): how soon a waiting reserve completes once
//! its stock comes back, and how waiting carts of different sizes share scarce stock.
//!
//! ```sh
//! cargo run --release -p atomic-stock-measure --example wait_for_stock
//! cargo run --release -p atomic-stock-measure --example wait_for_stock -- --rounds 2000 --seconds 2 --tasks 8
//! ```
//!
//! **Wake-up latency.** One task on a one-worker tokio runtime waits for the one unit of an
//! item; once it is asleep (1 ms later), the main thread releases the reservation that holds
//! the unit (`release`) or restocks the item (`restock`) and the task records when its reserve
//! completed. The figure is the time from just before the release or restock to that
//! completion (p50, p99, max over `--rounds`): the give-back, the wake-up, the executor
//! scheduling the task, and the reserve. Both ends read the same monotonic clock.
//!
//! **Fairness across cart sizes.** Four items start empty; a feeder thread restocks one unit
//! of each every 200 µs. `--tasks` 1-line carts (one unit of one of the four, at random) and
//! as many 4-line carts (one unit of each) compete for them on a two-worker runtime, each task
//! reserving, confirming at once (the units are sold) and starting over with a new cart, for
//! `--seconds`. Two ways of waiting: `waiting` (`reserve_waiting`, first come first served
//! per item) and `retrying` (`reserve_async` again every millisecond after a shortfall, what a
//! caller without a waitlist does). The figures: reserves completed per class, the share of
//! units each class got, and the time from starting to wait to the reserve (p50, p99).

use atomic_stock::{CartId, Inventory, ItemId, Line};
use atomic_stock_measure::args::{self, Arg, Parser};
use atomic_stock_measure::figures::{grouped, latency, percentile};
use atomic_stock_measure::rng::XorShift;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Options {
    rounds: usize,
    seconds: f64,
    tasks: usize,
}

const USAGE: &str = "usage: wait_for_stock [--rounds 2000] [--seconds 2] [--tasks 8]";
const TTL: Duration = Duration::from_secs(600);

fn read(parser: &mut Parser) -> Result<Options, args::Error> {
    let mut o = Options {
        rounds: 2000,
        seconds: 2.0,
        tasks: 8,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Long("rounds") => o.rounds = args::number_in(parser, "--rounds", 1..=1_000_000)?,
            Arg::Long("seconds") => o.seconds = args::number_in(parser, "--seconds", 0.01..=600.0)?,
            Arg::Long("tasks") => o.tasks = args::number_in(parser, "--tasks", 1..=10_000)?,
            Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(o)
}

#[derive(Clone, Copy, PartialEq)]
enum Give {
    Release,
    Restock,
}

/// Wake-up latencies (ns) of `rounds` waits, each ended by `give`.
fn wake_up_latency(give: Give, rounds: usize) -> Vec<u64> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let inventory = Arc::new(Inventory::new());
    let item = inventory
        .register_item(if give == Give::Release { 1 } else { 0 })
        .unwrap();
    let origin = Instant::now();
    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..rounds as u64 {
        let holder = (give == Give::Release).then(|| {
            inventory
                .reserve(CartId::new(2 * round), &[Line::new(item, 1)], TTL)
                .unwrap()
        });
        let waiter = runtime.spawn({
            let inventory = inventory.clone();
            async move {
                let lines = [Line::new(item, 1)];
                let receipt = inventory
                    .reserve_waiting(CartId::new(2 * round + 1), &lines, TTL)
                    .await
                    .unwrap();
                (receipt, origin.elapsed())
            }
        });
        std::thread::sleep(Duration::from_millis(1));
        let given = origin.elapsed();
        match holder {
            Some(holder) => inventory.release(holder.id).unwrap(),
            None => inventory.restock(item, 1).unwrap(),
        }
        let (receipt, done) = runtime.block_on(waiter).unwrap();
        latencies.push((done - given).as_nanos() as u64);
        inventory.confirm(receipt.id).unwrap();
        if give == Give::Release {
            inventory.restock(item, 1).unwrap();
        }
    }
    inventory.audit().unwrap();
    latencies
}

#[derive(Clone, Copy, PartialEq)]
enum Wait {
    Waiting,
    Retrying,
}

#[derive(Default)]
struct Class {
    reserves: AtomicU64,
    units: AtomicU64,
    waits: Mutex<Vec<u64>>,
}

/// Small and big carts competing for four items restocked one unit each every 200 µs.
fn fairness(wait: Wait, o: &Options) -> [Class; 2] {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let inventory = Arc::new(Inventory::new());
    let items: Vec<ItemId> = (0..4)
        .map(|_| inventory.register_item(0).unwrap())
        .collect();
    let classes = Arc::new([Class::default(), Class::default()]);
    let stop = Arc::new(AtomicBool::new(false));
    let carts = Arc::new(AtomicU64::new(0));
    for task in 0..2 * o.tasks {
        let big = task % 2 == 1;
        let (inventory, items, classes, stop, carts) = (
            inventory.clone(),
            items.clone(),
            classes.clone(),
            stop.clone(),
            carts.clone(),
        );
        runtime.spawn(async move {
            let mut rng = XorShift::for_thread(task);
            let class = &classes[usize::from(big)];
            while !stop.load(Ordering::Relaxed) {
                let lines: Vec<Line> = if big {
                    items.iter().map(|&item| Line::new(item, 1)).collect()
                } else {
                    vec![Line::new(items[rng.below(4) as usize], 1)]
                };
                let cart = CartId::new(carts.fetch_add(1, Ordering::Relaxed));
                let started = Instant::now();
                let receipt = match wait {
                    Wait::Waiting => inventory.reserve_waiting(cart, &lines, TTL).await.unwrap(),
                    Wait::Retrying => loop {
                        match inventory.reserve_async(cart, &lines, TTL).await {
                            Ok(receipt) => break receipt,
                            Err(e) if e.shortfall().is_some() => {
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    },
                };
                let waited = started.elapsed().as_nanos() as u64;
                inventory.confirm(receipt.id).unwrap();
                class.reserves.fetch_add(1, Ordering::Relaxed);
                class.units.fetch_add(lines.len() as u64, Ordering::Relaxed);
                class.waits.lock().unwrap().push(waited);
            }
        });
    }
    let until = Instant::now() + Duration::from_secs_f64(o.seconds);
    while Instant::now() < until {
        for &item in &items {
            inventory.restock(item, 1).unwrap();
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    // Dropping the runtime drops the tasks still waiting: nothing of theirs stays taken.
    drop(runtime);
    inventory.audit().unwrap();
    assert_eq!(inventory.live_reservations(), 0);
    Arc::try_unwrap(classes).ok().expect("the tasks are gone")
}

fn main() -> ExitCode {
    let o = match args::parse("wait_for_stock", USAGE, read) {
        Ok(o) => o,
        Err(exit) => return exit,
    };
    println!(
        "wake-up latency, give-back to the waiter's reserve completed ({} rounds)",
        o.rounds
    );
    println!("| ended by | p50 | p99 | max |");
    println!("|---|---:|---:|---:|");
    for (give, name) in [(Give::Release, "release"), (Give::Restock, "restock")] {
        let mut l = wake_up_latency(give, o.rounds);
        l.sort_unstable();
        println!(
            "| {name} | {} | {} | {} |",
            latency(percentile(&l, 0.5)),
            latency(percentile(&l, 0.99)),
            latency(*l.last().unwrap())
        );
    }
    println!();
    println!(
        "fairness: {} 1-line and {} 4-line carts, 4 items restocked 1 unit each every 200 µs, {} s",
        o.tasks, o.tasks, o.seconds
    );
    println!("| wait | reserves 1-line / 4-line | share of reserves | units sold | share of units | wait p50 / p99, 1-line | wait p50 / p99, 4-line |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (wait, name) in [(Wait::Waiting, "waiting"), (Wait::Retrying, "retrying")] {
        let [small, big] = fairness(wait, &o);
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let share = |a: u64, b: u64| {
            let total = (a + b).max(1) as f64;
            format!(
                "{:.0}% / {:.0}%",
                100.0 * a as f64 / total,
                100.0 * b as f64 / total
            )
        };
        let waits = |c: &Class| {
            let mut w = std::mem::take(&mut *c.waits.lock().unwrap());
            w.sort_unstable();
            if w.is_empty() {
                "-".to_string()
            } else {
                format!(
                    "{} / {}",
                    latency(percentile(&w, 0.5)),
                    latency(percentile(&w, 0.99))
                )
            }
        };
        let (reserves, units) = (
            (count(&small.reserves), count(&big.reserves)),
            (count(&small.units), count(&big.units)),
        );
        println!(
            "| {name} | {} / {} | {} | {} | {} | {} | {} |",
            grouped(reserves.0),
            grouped(reserves.1),
            share(reserves.0, reserves.1),
            grouped(units.0 + units.1),
            share(units.0, units.1),
            waits(&small),
            waits(&big),
        );
    }
    ExitCode::SUCCESS
}
