#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for a bounded number of runs. Installs
# cargo-fuzz if missing. With the default run counts the three targets take about 3 minutes on
# 2 cores, build included; FUZZ_RUNS_SCALE multiplies every count (e.g. 10 for a longer
# session). A crash leaves its input in fuzz/artifacts/TARGET/ and fails the script; replay it
# with `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

scale=${FUZZ_RUNS_SCALE:-1}
# target:runs. Throughput here (2 cores, cold corpus): ops_vs_model ~1,000 runs/s,
# hostile_input ~2,000/s, concurrent ~300/s (each run spawns 2-4 threads); the build takes
# about 80 s cold.
targets=(
    "ops_vs_model:50000"
    "hostile_input:40000"
    "concurrent:8000"
)

cargo +nightly fuzz build
for entry in "${targets[@]}"; do
    target=${entry%%:*}
    runs=$((${entry##*:} * scale))
    echo "::: fuzz ${target}: ${runs} runs"
    start=$SECONDS
    log=$(mktemp)
    # -seed: reproducible mutation sequence; -timeout: a hang (a lost wake-up) fails the run.
    status=0
    cargo +nightly fuzz run "$target" -- \
        -runs="$runs" -seed=1 -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
    echo "::: fuzz ${target}: exit ${status} in $((SECONDS - start)) s"
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log"
        exit "$status"
    fi
    rm -f "$log"
done
