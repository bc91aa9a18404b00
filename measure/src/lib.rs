//! What the measurement programs (`examples/`) share.
//!
//! The programs measure `atomic-stock` and its baselines: throughput, latency, fairness, memory,
//! expiry lag and instruction counts. Each is an example of this package, run from the
//! workspace root with `cargo run --release --example NAME`; its header says what it measures
//! and how, and lists its options.
