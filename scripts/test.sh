#!/usr/bin/env bash
# The one command that runs every test: formatting, lints, unit/property/integration tests (against a
# local moto server it starts and stops), and the check that events/ matches its generator.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/moto.sh start)"
trap 'scripts/moto.sh stop' EXIT
export LOGPIPE_REQUIRE_SERVICES=1
echo "moto at $LOGPIPE_MOTO_URL"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
cargo run --quiet --locked -p logpipe-cli -- sample-events --check
echo "all checks passed"
