#!/usr/bin/env bash
# Instructions per operation on single-thread paths, counted by callgrind.
#
#   scripts/callgrind.sh                 # every path and engine, 100,000 operations each
#   ITERATIONS=20000 scripts/callgrind.sh take-1 take-4     # some paths, fewer operations
#   CSV=instructions.csv scripts/callgrind.sh               # also write path,engine,iterations,ir,ir_per_op
#   ENGINES='lock-free journal' scripts/callgrind.sh reserve-confirm-1   # some engines (journal: buffered)
#
# Runs measure/examples/instructions.rs (release build) under `valgrind --tool=callgrind`, counting only
# its `measured` function (`--toggle-collect`): catalog and cart setup and a 1,000-operation
# warm-up are excluded. Prints instructions executed (callgrind's Ir) divided by operations.
# Instruction counts are deterministic for a given build and input, unlike times, so they
# compare paths and engines on a busy machine; they say nothing about cache misses or
# contention (see benches/ and measure/examples/lifecycle_report.rs for those).
set -euo pipefail

cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "callgrind.sh needs valgrind (apt-get install valgrind)" >&2; exit 2; }

ITERATIONS=${ITERATIONS:-100000}
PATHS=("$@")
if [ ${#PATHS[@]} -eq 0 ]; then
    PATHS=(take-1 take-4 reserve-confirm reserve-release set-cart)
fi
read -r -a ENGINES <<< "${ENGINES:-lock-free item-locks global-lock}"

cargo build --quiet --release --example instructions
BIN=${CARGO_TARGET_DIR:-target}/release/examples/instructions
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ -n "${CSV:-}" ]; then
    echo "path,engine,iterations,ir,ir_per_op" > "$CSV"
fi
printf '%-18s%-14s%14s%12s\n' path engine "Ir (total)" "Ir/op"
for path in "${PATHS[@]}"; do
    for engine in "${ENGINES[@]}"; do
        out="$WORK/$path.$engine.callgrind"
        if ! valgrind --tool=callgrind --callgrind-out-file="$out" \
            --toggle-collect='*measured*' "$BIN" "$path" "$engine" "$ITERATIONS" \
            >/dev/null 2>"$WORK/log"; then
            cat "$WORK/log" >&2
            exit 1
        fi
        ir=$(awk '/^totals:/ {print $2; exit}' "$out")
        per_op=$(awk -v ir="$ir" -v n="$ITERATIONS" 'BEGIN {printf "%.1f", ir / n}')
        printf '%-18s%-14s%14s%12s\n' "$path" "$engine" "$ir" "$per_op"
        if [ -n "${CSV:-}" ]; then
            echo "$path,$engine,$ITERATIONS,$ir,$per_op" >> "$CSV"
        fi
    done
done
