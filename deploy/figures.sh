#!/bin/sh
# The issues' figures in one run, on a release build (see the README's figures).
# Run it on a quiet machine: it prints the load average before each benchmark, and
# figures taken at a load above ~2 on 2 cores are not comparable.
#
#   deploy/figures.sh [storage] [list] [watch] [scheduler] [controllers] [kubelet] [proxy]
#
# With no argument every benchmark runs except `kubelet` and `proxy` (they need root,
# containerd and iptables). `storage` is the full watch-cache bench (creates/s, GET,
# LIST, watch, RSS with IRONKUBE_BENCH_PODS pods, default 100,000, and cold start);
# `list` and `watch` are its LIST-only and watch-only modes.
set -eu
cd "$(dirname "$0")/.."
what="${*:-storage scheduler controllers}"

cargo build --release --quiet --bin ironkube --bin ironkube-kubelet
bin="$PWD/target/release/ironkube"
# The bench binaries, built once; cargo prints each executable's path.
benches=$(cargo bench -p ironkube-conformance --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])')
bench() { echo "$benches" | awk -v n="$1" '$1 == n { print $2 }'; }

header() { printf '\n== %s (load: %s)\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)"; }

for w in $what; do
  case "$w" in
    storage) header "watch cache (issue 5)"
      IRONKUBE_BIN="$bin" IRONKUBE_BENCH_WATCH_CLIENT=async "$(bench watch_cache)" --bench ;;
    list) header "LIST of 10,000 pods (issue 5)"
      IRONKUBE_BIN="$bin" IRONKUBE_BENCH_ONLY=list IRONKUBE_BENCH_MODES=cache IRONKUBE_BENCH_PODS=10000 "$(bench watch_cache)" --bench ;;
    watch) header "watch latency at 1,000 watchers (issue 5)"
      IRONKUBE_BIN="$bin" IRONKUBE_BENCH_ONLY=watch IRONKUBE_BENCH_MODES=cache IRONKUBE_BENCH_WATCH_CLIENT=async "$(bench watch_cache)" --bench ;;
    scheduler) header "scheduler (issue 7)"
      IRONKUBE_BIN="$bin" IRONKUBE_BENCH_REPEATS=3 "$(bench scheduler)" --bench ;;
    controllers) header "controller manager RSS with 10,000 pods (issue 7)"
      IRONKUBE_BIN="$bin" deploy/controllers-rss.py 10000 ;;
    kubelet) header "kubelet: pod start, RSS, up to Ready (issue 6)"
      IRONKUBE_BIN="$bin" "$(bench kubelet)" --bench ;;
    proxy) header "kube-proxy: API change to kernel rule"
      IRONKUBE_BIN="$bin" "$(bench proxy)" --bench ;;
    *) echo "unknown benchmark: $w" >&2; exit 2 ;;
  esac
done
