#!/usr/bin/env bash
# Builds ironkube.local/busybox:latest and ironkube.local/pause:latest as OCI image
# archives from this machine's busybox-static (no registry) and, with a socket, imports
# them into that containerd's k8s.io namespace. `ironkube up` does the same by itself.
#   deploy/images.sh OUT_DIR [CONTAINERD_SOCKET]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.}"
bin="${IRONKUBE_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --quiet --bin ironkube
  bin="${CARGO_TARGET_DIR:-target}/debug/ironkube"
fi
if [ -n "${2:-}" ]; then
  exec "$bin" images --out "$out" --import-to "$2"
fi
exec "$bin" images --out "$out"
