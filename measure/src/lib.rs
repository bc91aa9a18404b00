//! What the measurement programs (`examples/`) share: one random generator ([`rng`]), one heap
//! counter ([`heap`]), one way to read a command line ([`args`]) and the order statistics and
//! number formats of their tables ([`figures`]).
//!
//! The programs measure `atomic-stock` and its baselines: throughput, latency, fairness, memory,
//! expiry lag and instruction counts. Each is an example of this package, run from the
//! workspace root with `cargo run --release --example NAME`; its header says what it measures
//! and how, and lists its options.

pub mod args;
pub mod figures;
pub mod heap;
pub mod rng;
