#!/usr/bin/env bash
# ThreadSanitizer over the concurrent tests, the way crossbeam's CI runs it (ci/san.sh there):
# nightly, std rebuilt with the sanitizer (-Zbuild-std, needs rust-src), crossbeam's
# `--cfg crossbeam_sanitize` (crossbeam-epoch then collects garbage eagerly, so reclamation
# races show up), release mode, one test at a time. Exits non-zero on any report.
# Not part of .ci/run (takes a few minutes: it rebuilds std).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup component add rust-src --toolchain nightly

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
export RUSTFLAGS="-Zsanitizer=thread --cfg crossbeam_sanitize"
export RUSTDOCFLAGS="$RUSTFLAGS"
export CARGO_TARGET_DIR=target/tsan
# Fewer rounds than a normal run: TSan slows atomics down 5-15x.
export PHANTOM_ITERATIONS=${PHANTOM_ITERATIONS:-20000}
cargo +nightly test -Zbuild-std --release --target x86_64-unknown-linux-gnu \
    --test lifecycle_concurrent --test stock_concurrent --test phantom_shortfall \
    --test linearizability -- --test-threads=1
