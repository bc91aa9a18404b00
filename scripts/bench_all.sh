#!/usr/bin/env bash
# Every measurement behind README's tables and plot, in one run of the committed code.
#
#   scripts/bench_all.sh                   # about 40 minutes on 2 cores; results in docs/results/
#   OUT=/tmp/run2 scripts/bench_all.sh     # somewhere else
#   QUICK=1 OUT=/tmp/quick scripts/bench_all.sh   # a few minutes: shapes only, figures meaningless
#
# Steps, each writing its raw output to $OUT (nothing is summarized by hand):
#   sellout.{txt,csv}          flash_sale --sellout: one hot item sold out, 2 and 256 buyers,
#                              5 interleaved runs per engine, medians (issue #9)
#   take.txt                   cargo bench --bench take (issue #6.6: take targets)
#   lifecycle.txt              cargo bench --bench lifecycle (issue #6.1: whole lifecycles)
#   lifecycle_report.{txt,csv} latency, spread, success by cart size under a scarce hot item
#                              (issue #6.3)
#   scale.{txt,csv}, scale.png catalog 1,000 to 10,000,000 items, memory, expiry (issue #6.4)
#   expiry_lag.txt             expiry lag with 1,000,000 outstanding reservations (issue #3.5)
#   instructions.{txt,csv}     callgrind instruction counts of single-thread paths (issue #6.2)
#   machine.txt                what ran it: CPU, kernel, rustc, commit
# Then scripts/readme_tables.py "$OUT" writes $OUT/tables.md, the tables pasted in README.
#
# The machine is noisy: compare engines within one run (every step runs all engines
# back to back, the sell-out interleaves them), and read figures as ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-docs/results}
mkdir -p "$OUT"

declare -a TIMINGS=()
step() {
    local name=$1
    shift
    echo "::: ${name}" >&2
    local start=$SECONDS
    "$@"
    TIMINGS+=("$(printf '%5ds  %s' $((SECONDS - start)) "$name")")
}

if [ -n "${QUICK:-}" ]; then
    SELLOUT=(--units 100000 --reps 1)
    BENCH=(--warm-up-time 0.1 --measurement-time 0.2 --sample-size 10)
    REPORT=(--seconds 0.2)
    SCALE=(--max-items 100000 --seconds 0.1)
    LAG=(100000)
    export ITERATIONS=10000
else
    SELLOUT=(--reps 5)
    BENCH=()
    REPORT=()
    SCALE=()
    LAG=()
fi

machine() {
    {
        echo "commit: $(git rev-parse HEAD)$(git diff --quiet || echo ' (dirty)')"
        echo "date: $(date -u +%FT%TZ)"
        echo "kernel: $(uname -srm)"
        grep -m1 'model name' /proc/cpuinfo || true
        echo "cpus: $(nproc)"
        rustc --version
    } >"$OUT/machine.txt"
}
build() { cargo build --release --quiet --examples --benches; }
sellout() {
    cargo run --release --quiet --example flash_sale -- --sellout "${SELLOUT[@]}" \
        --csv "$OUT/sellout.csv" >"$OUT/sellout.txt"
}
take() { cargo bench --quiet --bench take -- "${BENCH[@]}" >"$OUT/take.txt"; }
lifecycle() { cargo bench --quiet --bench lifecycle -- "${BENCH[@]}" >"$OUT/lifecycle.txt"; }
report() {
    cargo run --release --quiet --example lifecycle_report -- "${REPORT[@]}" \
        --csv "$OUT/lifecycle_report.csv" >"$OUT/lifecycle_report.txt"
}
scale() {
    cargo run --release --quiet --example scale -- "${SCALE[@]}" --csv "$OUT/scale.csv" \
        >"$OUT/scale.txt"
    python3 scripts/plot_scale.py "$OUT/scale.csv" "$OUT/scale.png"
}
lag() { cargo run --release --quiet --example expiry_lag -- "${LAG[@]}" >"$OUT/expiry_lag.txt"; }
instructions() {
    if command -v valgrind >/dev/null; then
        CSV="$OUT/instructions.csv" scripts/callgrind.sh >"$OUT/instructions.txt"
    else
        echo "valgrind missing: no instruction counts" | tee "$OUT/instructions.txt" >&2
    fi
}

step "machine" machine
step "build" build
step "sell-out (flash_sale --sellout)" sellout
step "bench take" take
step "bench lifecycle" lifecycle
step "lifecycle_report" report
step "scale" scale
step "expiry lag" lag
step "instructions (callgrind)" instructions
python3 scripts/readme_tables.py "$OUT" >"$OUT/tables.md"

echo "::: timings" >&2
printf '%s\n' "${TIMINGS[@]}" | tee "$OUT/timings.txt" >&2
