#!/usr/bin/env bash
# The one command that runs every test: formatting, lints, unit/property/integration tests (against a
# local moto server and osmem-server it starts and stops), and the check that events/ matches its generator.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/services.sh start $$)"
trap 'scripts/services.sh stop' EXIT
export LOGPIPE_REQUIRE_SERVICES=1
echo "moto at $LOGPIPE_MOTO_URL, osmem-server at $LOGPIPE_SEARCH_URL"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
cargo run --quiet --locked -p logpipe-cli -- sample-events --check
echo "all checks passed"
