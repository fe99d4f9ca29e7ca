#!/usr/bin/env bash
# Build every function of template.yaml for Lambda (provided.al2023, arm64) with `sam build`, which runs
# Cargo Lambda (zig as the cross-linker) for each one; the artifacts land in .aws-sam/build, ready for
# `sam deploy --config-env <env>`. No Docker needed. Slow (release builds with fat LTO): not part of the
# test command. Extra arguments go to sam build (e.g. a function's logical id to build only that one).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh sam build
export PATH="$PWD/.venv-build/bin:$PWD/.venv-sam/bin:$PATH" SAM_CLI_TELEMETRY=0
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
# rust-cargolambda is a beta build method of SAM; Fn::ForEach (subscription filters) needs local expansion.
sam build --beta-features --language-extensions "$@"
for f in .aws-sam/build/*/bootstrap; do
  echo "$f: $(file -b "$f" | cut -d, -f1-2), $(du -h "$f" | cut -f1)"
done
