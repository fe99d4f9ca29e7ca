#!/usr/bin/env bash
# The end-to-end fault matrix at a larger size, in a release build, against moto it starts and stops:
#   scripts/soak.sh [EVENTS]      (default 500000 events per case; CI runs 100000 in tests)
# Each case prints its counts and time; any loss, duplicate or missed alert fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-500000}"
case "$events" in ''|*[!0-9]*) echo "usage: scripts/soak.sh [EVENTS]" >&2; exit 2 ;; esac

eval "$(scripts/services.sh start $$)"
trap 'scripts/services.sh stop' EXIT
export LOGPIPE_REQUIRE_SERVICES=1 LOGPIPE_E2E_EVENTS="$events"
# One case at a time: each holds its events, objects and index in memory.
cargo test --release --locked -p logpipe-e2e --test chain -- --nocapture --test-threads 1
