#!/usr/bin/env bash
# CI for the distributed backends (issue #10): the workspace members beyond the core crate.
# Installs Debian's redis-server, redis-tools and postgresql; builds the members; runs the
# contract suite against the in-process engine and a real Redis Cluster (started by the tests
# on 127.0.0.1, stopped by their guards; again, shorter, with every step waited for by a
# replica), the healing and failover tests (the latter with and without `WAIT`: about 50 s;
# FAILOVER_ALL=1 adds a fourth scenario), the TigerBeetle tests
# on a one-replica cluster they start from ../shared/tigerbeetle/tigerbeetle (the server is in no
# package registry; a missing binary fails the step), and a short side-by-side run.
# Bounded: under 6 minutes on 2 cores from a clean target directory (about 2 of them
# compiling the members in release). Meant to be called from .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
# The Redis tests fail rather than skip when no cluster can be started.
export ATOMIC_STOCK_REQUIRE_REDIS=1
# Model-test sequences per Redis configuration (each on a fresh namespace); raise for longer
# runs. The in-process suite keeps its own default (300 sequences, well under a second).
REDIS_CONTRACT_CASES=${REDIS_CONTRACT_CASES:-60}
# The member crates only: the core crate's own targets are .ci/run's business.
MEMBERS=(-p atomic-stock-contract -p atomic-stock-redis -p atomic-stock-tigerbeetle
    -p atomic-stock-compare)

declare -a TIMINGS=()
step() {
    local name=$1
    shift
    echo "::: ${name}"
    local start=$SECONDS
    "$@"
    TIMINGS+=("$(printf '%5ds  %s' $((SECONDS - start)) "$name")")
}

packages() {
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null \
        || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools postgresql >/dev/null
    fi
    # Debian starts a system Redis on 6379 when installed; the tests use their own ports, and
    # leave any system service alone.
    redis-server --version
}
build() { cargo build --release "${MEMBERS[@]}" --all-targets; }
contract_in_process() { cargo test --release -p atomic-stock-contract; }
redis_backend() {
    CONTRACT_CASES=$REDIS_CONTRACT_CASES timeout 240 \
        cargo test --release -p atomic-stock-redis -- --nocapture
}
# The contract suite and the regression tests, each test binary on a one-replica cluster on a
# free 127.0.0.1 port (about 1.4 GiB resident, 3-5 s to start), killed by pid at the end. Set,
# TIGERBEETLE_BIN is never skipped: a missing or failing binary fails. About 1 minute.
tigerbeetle_backend() {
    TIGERBEETLE_BIN=${TIGERBEETLE_BIN:-../shared/tigerbeetle/tigerbeetle} timeout 240 \
        cargo test --release -p atomic-stock-tigerbeetle -- --nocapture
}
side_by_side() {
    timeout 120 cargo run --release -q -p atomic-stock-compare -- \
        --seconds 2 --clients 50 --csv target/compare.csv
}

step "apt-get install redis-server redis-tools postgresql" packages
step "cargo build (release): contract, redis, tigerbeetle, compare" build
step "contract suite: in-process" contract_in_process
step "contract suite + healing + failover: Redis Cluster" redis_backend
step "contract suite + regressions: TigerBeetle (one replica)" tigerbeetle_backend
step "side by side (short run)" side_by_side

echo "::: timings"
printf '%s\n' "${TIMINGS[@]}"
