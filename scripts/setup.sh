#!/usr/bin/env bash
# Install what the tests need beyond the Rust toolchain, into .venv (idempotent; a no-op when up to date).
set -euo pipefail
cd "$(dirname "$0")/.."

req=scripts/requirements-test.txt
stamp=.venv/.requirements-installed
if [ -x .venv/bin/moto_server ] && [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
  exit 0
fi
command -v python3 >/dev/null || { echo "setup: python3 is required (for moto and osmem-server)" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
echo "setup: installed $(.venv/bin/python -m pip show moto 2>/dev/null | grep '^Version' || echo moto) into .venv"
