#!/usr/bin/env bash
# Packaging checks for the `atomic-stock` crate (issue #12): what `cargo publish` would upload,
# the declared MSRV, and every feature alone and all together. Installs what it needs (the
# MSRV toolchain, nightly for the docs.rs build, cargo-hack). Meant to run on a clean clone:
# `cargo publish --dry-run` refuses uncommitted changes, and that is on purpose.
#
# Budget: about 6 minutes from cold on 2 cores (most of it compiling the dev-dependencies
# twice, once per toolchain); step timings are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# The MSRV, read from Cargo.toml so that the check follows the declaration.
MSRV=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)

declare -a TIMINGS=()
step() {
    local name=$1
    shift
    echo "::: ${name}"
    local start=$SECONDS
    "$@"
    TIMINGS+=("$(printf '%5ds  %s' $((SECONDS - start)) "$name")")
}

tools() {
    rustup toolchain install "$MSRV" --profile minimal
    rustup toolchain install nightly --profile minimal
    if ! cargo hack --version > /dev/null 2>&1; then
        cargo install --locked cargo-hack
    fi
}

# Packages exactly what crates.io would get (the `include` list) and builds it on its own.
# Only the root crate is published; the workspace's other members are not.
publish() {
    local files
    files=$(cargo package --list -p atomic-stock)
    echo "${files}" | wc -l | xargs echo "files in the package:"
    if echo "${files}" | grep -Ev '^(\.cargo_vcs_info\.json|Cargo\.(toml|toml\.orig|lock)|README\.md|DESIGN\.md|CHANGELOG\.md|LICENSE-(MIT|APACHE)|docs/STABILITY\.md|(src|tests|benches|examples)/.*\.rs)$'; then
        echo "unexpected files in the package (see the include list in Cargo.toml)" >&2
        return 1
    fi
    cargo publish --dry-run -p atomic-stock
}

# The MSRV builds the library, and every target (tests, benches, examples) with every feature,
# on the committed Cargo.lock (--locked: the lock must resolve as is under the MSRV;
# `resolver = "3"` keeps it that way: metrics-util pulls ordered-float, whose 5.5 needs Rust
# 1.90, and the rust-version-aware resolver locked 5.4). Every dev-dependency supports the
# MSRV today (criterion 0.8 needs 1.86 itself), so nothing is left out. The suite itself runs
# with every feature on stable (`features_all`), not a second time here.
msrv() {
    CARGO_TARGET_DIR=target/msrv cargo "+$MSRV" check --lib --locked
    CARGO_TARGET_DIR=target/msrv cargo "+$MSRV" check --all-features --all-targets --locked
}

# Each feature alone (and none; the default set is empty, and all together is the step after
# these): the library builds without any dev-dependency, so a feature cannot lean on
# something only the tests pull in...
EACH_FEATURE=(--each-feature --exclude-features default --exclude-all-features)
features_build() { cargo hack "${EACH_FEATURE[@]}" --no-dev-deps check --lib; }
# ...its unit tests pass (with the tests' dev-dependencies, which turn `baselines` on: the
# crate's tests compare against the baselines, see the self dev-dependency in Cargo.toml)...
features_unit() { cargo hack "${EACH_FEATURE[@]}" test --lib; }
# ...and each integration's own tests pass with only that feature asked for.
features_own() {
    cargo test --features serde --test serde
    cargo test --features tracing --test tracing
    cargo test --features metrics --test metrics
    cargo test --features tokio --test reaper_task
}
# All together: the whole suite, the doc examples, clippy.
features_all() {
    cargo test --all-features
    cargo clippy --all-targets --all-features -- -D warnings
}
# The docs as docs.rs builds them (Cargo.toml's [package.metadata.docs.rs]).
docsrs() {
    RUSTDOCFLAGS="--cfg docsrs -D warnings" CARGO_TARGET_DIR=target/docsrs \
        cargo +nightly doc --no-deps --all-features -p atomic-stock
}

step "tools (toolchain ${MSRV}, nightly, cargo-hack)" tools
step "cargo publish --dry-run -p atomic-stock" publish
step "MSRV ${MSRV}: check lib, every target with every feature" msrv
step "each feature: check without dev-deps" features_build
step "each feature: test --lib" features_unit
step "each feature: its own integration tests" features_own
step "all features: test + clippy" features_all
step "docs.rs build (nightly, --cfg docsrs)" docsrs

echo "::: timings"
printf '%s\n' "${TIMINGS[@]}"
