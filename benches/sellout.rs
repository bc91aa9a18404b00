//! Time to sell out one hot item: buyers on 2 and on 256 threads each reserve one
//! unit for a fresh cart and confirm it until nothing is left, for the lock-free `Inventory` and
//! the two lifecycle baselines, all with their default settings.
//!
//! # Reproduce
//!
//! ```sh
//! cargo bench --bench sellout                         # 1,000,000 units; about 1-2 minutes here
//! cargo bench --bench sellout -- 256-threads          # one thread count
//! cargo bench --bench sellout -- global-lock/         # one engine (lock-free, item-locks, global-lock)
//! SELLOUT_UNITS=100000 cargo bench --bench sellout -- --warm-up-time 0.1 --measurement-time 1   # quick
//! ```
//!
//! # What a figure means
//!
//! A benchmark id reads `sellout/<engine>/<threads>-threads`. One iteration is one whole
//! sell-out of `SELLOUT_UNITS` units (default 1,000,000) on a fresh engine, and its time is the
//! span from the first buyer's first reserve to the last buyer's refusal, taken by the buyers
//! themselves (see `benches/common/sellout.rs`, shared with `examples/flash_sale.rs`, for the
//! loop, the warm-up and the start gate). criterion's `time` is the time to sell out, its
//! `thrpt` successful reservations (each confirmed) per second. Every iteration is checked: the
//! bench panics if a unit is oversold or left unsold, if the buyers' count of confirmed units
//! and the engine's disagree, or if the engine's audit fails.
//!
//! Throughput alone hides what a lock does to latency and fairness, and criterion runs each
//! engine's samples back to back, so a machine whose speed drifts over minutes biases the
//! comparison. `cargo run --release --example flash_sale -- --sellout` runs the same sell-out
//! interleaved (engine A, B, C, A, B, C, ...) and reports medians of throughput, reserve
//! latency p50/p99/p999 and the spread of sales between buyers; quote that for the README.
//!
//! Sampling is flat (every sample runs the same number of sell-outs), 10 samples, at least one
//! sell-out each: a sell-out is long enough to time on its own.

#[allow(dead_code)] // The percentiles and the spread serve the example; the bench times spans.
#[path = "common/sellout.rs"]
mod sellout;

use criterion::Throughput;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use sellout::{sell_out, Engine};
use std::time::Duration;

/// Thread counts measured: both cores, and oversubscribed 128 to one.
const THREADS: [usize; 2] = [2, 256];
/// Units of the sold item unless `SELLOUT_UNITS` says otherwise.
const DEFAULT_UNITS: i64 = 1_000_000;

fn units() -> i64 {
    match std::env::var("SELLOUT_UNITS") {
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|&units| (1_000..=1_000_000_000).contains(&units))
            .expect("SELLOUT_UNITS: a number of units from 1000 to 1000000000"),
        Err(_) => DEFAULT_UNITS,
    }
}

fn sellout(c: &mut Criterion) {
    let units = units();
    let mut group = c.benchmark_group("sellout");
    group.throughput(Throughput::Elements(units as u64));
    group.sampling_mode(SamplingMode::Flat);
    for threads in THREADS {
        for engine in Engine::ALL {
            let id = BenchmarkId::new(engine.label(), format!("{threads}-threads"));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let run = sell_out(engine, threads, units, &mut |_| {});
                        let problems = run.problems();
                        assert!(
                            problems.is_empty(),
                            "{} at {threads} threads: {problems:?}",
                            engine.label()
                        );
                        total += run.span;
                    }
                    total
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    targets = sellout
}
criterion_main!(benches);
