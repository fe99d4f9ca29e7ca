#!/usr/bin/env bash
# Install what the tests need beyond the Rust toolchain, each group into its own virtualenv (idempotent; a
# no-op when up to date, so it costs nothing on a second run):
#   .venv          moto and osmem-server (local AWS and OpenSearch stand-ins)      scripts/requirements-test.txt
#   .venv-sam      aws-sam-cli and cfn-lint (template validation, sam build)        scripts/requirements-sam.txt
#   .venv-checkov  checkov (template security checks; its pins clash with sam's)    scripts/requirements-checkov.txt
#   .venv-build    cargo-lambda and zig (arm64 Lambda builds; only for sam-build.sh) scripts/requirements-build.txt
# Usage: scripts/setup.sh [test|sam|checkov|build ...]   (default: test, sam and checkov, in parallel)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v python3 >/dev/null || { echo "setup: python3 is required (for moto, osmem-server, sam, checkov)" >&2; exit 1; }

# install VENV REQUIREMENTS: create the venv and install the pinned requirements unless already done.
install() {
  local venv=$1 req=$2 stamp="$1/.requirements-installed"
  if [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
    return 0
  fi
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
  echo "setup: installed $req into $venv"
}

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(test sam checkov)
pids=()
for g in "${groups[@]}"; do
  case "$g" in
    test) install .venv scripts/requirements-test.txt & ;;
    sam) install .venv-sam scripts/requirements-sam.txt & ;;
    checkov) install .venv-checkov scripts/requirements-checkov.txt & ;;
    build) install .venv-build scripts/requirements-build.txt & ;;
    *) echo "setup: unknown group $g (test, sam, checkov, build)" >&2; exit 2 ;;
  esac
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
