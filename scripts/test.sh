#!/usr/bin/env bash
# The one command that runs every test: formatting, lints, unit/property/integration tests (against a
# local moto server and osmem-server it starts and stops), the check that events/ matches its generator,
# the fuzz targets' build, and the template checks (sam validate --lint, cfn-lint, checkov).
set -euo pipefail
cd "$(dirname "$0")/.."

# The template tools install while cargo builds.
setup_log=$(mktemp)
scripts/setup.sh sam checkov > "$setup_log" 2>&1 &
setup_pid=$!

eval "$(scripts/services.sh start $$)"
trap 'scripts/services.sh stop' EXIT
export LOGPIPE_REQUIRE_SERVICES=1
echo "moto at $LOGPIPE_MOTO_URL, osmem-server at $LOGPIPE_SEARCH_URL"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
cargo run --quiet --locked -p logpipe-cli -- sample-events --check
# The fuzz targets are a workspace of their own (libFuzzer stays out of the main build): check that they
# still build against the crates they exercise.
(cd fuzz && cargo check --quiet --locked --bins)
if ! wait "$setup_pid"; then cat "$setup_log" >&2; exit 1; fi
rm -f "$setup_log"
scripts/check-template.sh
echo "all checks passed"
