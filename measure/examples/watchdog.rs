//! Does the engine stall an async runtime? A ticker task on a current-thread tokio runtime
//! measures how late its 1 ms sleeps wake up, while other tasks on the same thread reserve and
//! release one unit of a hot item that OS threads beside the runtime keep taking and giving
//! back (so its units are often in flight when a task asks).
//!
//! ```sh
//! cargo run --release --example watchdog
//! cargo run --release --example watchdog -- --seconds 2 --rounds 5 --pushers 2 --tasks 4
//! ```
//!
//! Two modes, interleaved round by round: `blocking` (`Inventory::reserve`, which parks the
//! thread while the answer depends on requests in flight, stalling every task on it) and
//! `async` (`Inventory::reserve_async`, which yields to the runtime instead). The figures are
//! the ticker's lateness (p50, p99, max over all rounds of the mode), the time a task spends
//! inside the engine per poll (the whole call when blocking: what every other task on the
//! thread waits for), and the tasks' reserves per second. With more threads than cores, a pusher is often descheduled with units in
//! flight; that is what a blocked task waits for.

use atomic_stock::{CartId, Inventory, Line};
use atomic_stock_measure::args::{self, Arg, Parser};
use atomic_stock_measure::figures::{latency, percentile};
use std::future::Future;
use std::pin::{pin, Pin};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

struct Options {
    seconds: f64,
    rounds: usize,
    pushers: usize,
    tasks: usize,
}

const USAGE: &str = "usage: watchdog [--seconds 2] [--rounds 3] [--pushers 2] [--tasks 4]";

fn read(parser: &mut Parser) -> Result<Options, args::Error> {
    let mut o = Options {
        seconds: 2.0,
        rounds: 3,
        pushers: 2,
        tasks: 4,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Long("seconds") => o.seconds = args::number_in(parser, "--seconds", 0.01..=600.0)?,
            Arg::Long("rounds") => o.rounds = args::number_in(parser, "--rounds", 1..=100)?,
            Arg::Long("pushers") => o.pushers = args::number_in(parser, "--pushers", 0..=64)?,
            Arg::Long("tasks") => o.tasks = args::number_in(parser, "--tasks", 1..=10_000)?,
            Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(o)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Blocking,
    Async,
}

struct Round {
    lateness_ns: Vec<u64>,
    /// Time inside the engine per poll of a task's reserve (the whole call when blocking).
    poll_ns: Vec<u64>,
    reserves: u64,
}

/// Records how long each poll of the wrapped future takes.
struct Timed<'a, F> {
    future: Pin<&'a mut F>,
    polls: &'a mut Vec<u64>,
}

impl<F: Future> Future for Timed<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let start = Instant::now();
        let result = self.future.as_mut().poll(cx);
        let spent = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.polls.push(spent);
        result
    }
}

fn round(mode: Mode, o: &Options) -> Round {
    let inventory = Arc::new(Inventory::new());
    let hot = inventory.register_item(o.pushers as i64 + 1).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let pushers: Vec<_> = (0..o.pushers)
        .map(|p| {
            let (inventory, stop) = (inventory.clone(), stop.clone());
            std::thread::spawn(move || {
                let cart = CartId::new(1_000_000 + p as u64);
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(r) =
                        inventory.reserve(cart, &[Line::new(hot, 1)], Duration::from_secs(60))
                    {
                        let _ = inventory.release(r.id);
                    }
                }
            })
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let reserves = Arc::new(AtomicU64::new(0));
    let lateness_ns = runtime.block_on(async {
        let end = Instant::now() + Duration::from_secs_f64(o.seconds);
        let mut workers = Vec::new();
        for t in 0..o.tasks {
            let (inventory, reserves) = (inventory.clone(), reserves.clone());
            workers.push(tokio::spawn(async move {
                let cart = CartId::new(t as u64);
                let lines = [Line::new(hot, 1)];
                let ttl = Duration::from_secs(60);
                let mut polls = Vec::new();
                while Instant::now() < end {
                    let result = match mode {
                        Mode::Blocking => {
                            let start = Instant::now();
                            let result = inventory.reserve(cart, &lines, ttl);
                            polls.push(
                                u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
                            );
                            result
                        }
                        Mode::Async => {
                            let future = pin!(inventory.reserve_async(cart, &lines, ttl));
                            Timed {
                                future,
                                polls: &mut polls,
                            }
                            .await
                        }
                    };
                    if let Ok(r) = result {
                        reserves.fetch_add(1, Ordering::Relaxed);
                        let _ = inventory.release(r.id);
                    }
                    tokio::task::yield_now().await;
                }
                polls
            }));
        }
        let mut lateness = Vec::new();
        while Instant::now() < end {
            let start = Instant::now();
            tokio::time::sleep(Duration::from_millis(1)).await;
            let late = start.elapsed().saturating_sub(Duration::from_millis(1));
            lateness.push(u64::try_from(late.as_nanos()).unwrap_or(u64::MAX));
        }
        let mut polls = Vec::new();
        for w in workers {
            polls.extend(w.await.unwrap());
        }
        (lateness, polls)
    });
    let (lateness_ns, poll_ns) = lateness_ns;
    stop.store(true, Ordering::Relaxed);
    for p in pushers {
        p.join().unwrap();
    }
    inventory.audit().expect("books balance");
    Round {
        lateness_ns,
        poll_ns,
        reserves: reserves.load(Ordering::Relaxed),
    }
}

fn main() -> ExitCode {
    let o = match args::parse("watchdog", USAGE, read) {
        Ok(o) => o,
        Err(exit) => return exit,
    };
    let mut all = [
        (Mode::Blocking, Vec::new(), Vec::new(), 0u64),
        (Mode::Async, Vec::new(), Vec::new(), 0u64),
    ];
    for r in 0..o.rounds {
        for (mode, lateness, polls, reserves) in all.iter_mut() {
            let result = round(*mode, &o);
            eprintln!(
                "round {r}: {} {} ticks, {} reserves",
                if *mode == Mode::Blocking {
                    "blocking"
                } else {
                    "async"
                },
                result.lateness_ns.len(),
                result.reserves
            );
            lateness.extend(result.lateness_ns);
            polls.extend(result.poll_ns);
            *reserves += result.reserves;
        }
    }
    println!(
        "ticker lateness on a current-thread runtime, {} pushers, {} tasks, {} rounds of {} s",
        o.pushers, o.tasks, o.rounds, o.seconds
    );
    println!(
        "{:<10}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>12}",
        "mode",
        "late p50",
        "late p99",
        "late max",
        "poll p99",
        "poll p99.9",
        "poll max",
        "reserves/s"
    );
    for (mode, mut lateness, mut polls, reserves) in all {
        lateness.sort_unstable();
        polls.sort_unstable();
        let name = match mode {
            Mode::Blocking => "blocking",
            Mode::Async => "async",
        };
        println!(
            "{:<10}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>12.0}",
            name,
            latency(percentile(&lateness, 0.5)),
            latency(percentile(&lateness, 0.99)),
            latency(*lateness.last().unwrap_or(&0)),
            latency(percentile(&polls, 0.99)),
            latency(percentile(&polls, 0.999)),
            latency(*polls.last().unwrap_or(&0)),
            reserves as f64 / (o.seconds * o.rounds as f64)
        );
    }
    ExitCode::SUCCESS
}
