#!/usr/bin/env bash
# The project's test command (the README and CI run exactly this): makes sure stock
# kubectl 1.35 and helm 4 are present, then runs every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v kubectl >/dev/null 2>&1 || ! kubectl version --client 2>/dev/null | grep -q 'v1.35' \
  || ! command -v helm >/dev/null 2>&1; then
  bin="$PWD/target/tools"
  deploy/install-kubectl.sh "$bin"
  export PATH="$bin:$PATH"
fi
cargo test --workspace "$@"
