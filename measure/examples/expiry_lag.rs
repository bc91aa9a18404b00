//! Expiry lag with a million outstanding reservations: how long after its
//! deadline a reservation's stock is available again, as a distribution.
//!
//! ```sh
//! cargo run --release --example expiry_lag            # 1,000,000 reservations
//! cargo run --release --example expiry_lag -- 200000  # fewer
//! ```
//!
//! 1,000 items of 1,000 units; one reservation of one unit per cart; deadlines spread
//! uniformly over two seconds, starting two seconds after the last reservation is made (so
//! reserving is not racing expiry); the background reaper ticks every millisecond. The lag is
//! the engine's own record, taken when each reservation's stock is returned: `now - deadline`
//! on the inventory's clock, in power-of-two buckets (the figures are the buckets' upper
//! bounds). It runs twice: with `SystemClock` (nanosecond readings: the lag is what it is)
//! and with the default `CoarseClock`, whose readings advance once per kernel tick, so a
//! deadline can pass up to one tick before the clock shows it; that extra lag is on top of
//! the figures below, which are measured in the clock's own time.

use atomic_stock::{CartId, Clock, CoarseClock, Inventory, LagHistogram, Line, SystemClock};
use atomic_stock_measure::args::{self, Arg, Parser, ValueExt};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn run(name: &str, clock: Arc<dyn Clock>, reservations: u64) -> LagHistogram {
    let inventory = Inventory::builder()
        .clock(clock)
        .expected_carts(reservations as usize)
        .max_reservations(reservations * 2)
        .reaper(Duration::from_millis(1))
        .build();
    let items: Vec<_> = (0..1_000)
        .map(|_| {
            inventory
                .register_item(1_000.max(reservations as i64 / 1_000 + 1))
                .unwrap()
        })
        .collect();
    // The reservations must all exist before the first deadline: estimate the time to make
    // them from a first batch, then spread the deadlines after it.
    let started = Instant::now();
    let spread = Duration::from_secs(std::env::var("SPREAD_S").map_or(2, |s| s.parse().unwrap()));
    let mut made = 0u64;
    let mut lead = Duration::from_secs(2);
    for n in 0..reservations {
        if n == 10_000 {
            lead += started.elapsed() * (reservations / 10_000) as u32;
        }
        let offset = spread
            .mul_f64((n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64);
        let ttl = lead.saturating_sub(started.elapsed()) + offset;
        inventory
            .reserve(
                CartId::new(n),
                &[Line::new(items[(n % 1_000) as usize], 1)],
                ttl,
            )
            .unwrap();
        made += 1;
    }
    let reserved_in = started.elapsed();
    eprintln!("{name}: {made} reservations made in {reserved_in:?}; waiting for the reaper");
    while inventory.live_reservations() > 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let lag = inventory.expiry_lag();
    let report = inventory.audit().expect("stock adds up");
    assert_eq!(report.held, 0);
    assert_eq!(lag.count(), made, "every reservation expired exactly once");
    lag
}

const USAGE: &str = "usage: expiry_lag [RESERVATIONS]   (default 1000000)";

/// The number of reservations: the one operand, if given.
fn read(parser: &mut Parser) -> Result<u64, args::Error> {
    let mut reservations = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Value(value) if reservations.is_none() => {
                let range = 1..=100_000_000;
                reservations = Some(args::number(&value.string()?, "RESERVATIONS", &range)?);
            }
            Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(reservations.unwrap_or(1_000_000))
}

fn main() -> ExitCode {
    let reservations = match args::parse("expiry_lag", USAGE, read) {
        Ok(reservations) => reservations,
        Err(exit) => return exit,
    };
    println!(
        "expiry lag, {reservations} outstanding reservations, reaper tick 1 ms \
         (upper bounds of power-of-two buckets)"
    );
    println!("| clock | p50 | p90 | p99 | p99.9 | max |");
    println!("|---|---|---|---|---|---|");
    let clocks: [(&str, Arc<dyn Clock>); 2] = [
        ("SystemClock", Arc::new(SystemClock)),
        ("CoarseClock", Arc::new(CoarseClock::new())),
    ];
    for (name, clock) in clocks {
        let lag = run(name, clock, reservations);
        let q = |q: f64| format!("{:?}", lag.quantile(q).unwrap());
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            q(1.0)
        );
    }
    println!(
        "CoarseClock resolution here: {:?} (add up to one tick of real lag to its row)",
        CoarseClock::resolution()
    );
    ExitCode::SUCCESS
}
