#!/usr/bin/env python3
"""Resident memory of the controller manager (`ironkube controllers`: every controller,
leader-elected) with 10,000 pods in the cluster.

Starts `ironkube apiserver` (no controllers) on a free port with a temporary data dir,
creates 100 Services and 10,000 pods (100 per Service, Running + Ready with an IP, set
through pods/status), then runs `ironkube controllers` as its own process, waits until every Service's Endpoints
list its 100 pods, and prints the controllers' RSS (median of 10 samples over 5 s) and
peak RSS.

Env RSS_VARIANTS="A=1 B=2;C=3" measures one controllers process per `;`-separated
variant (extra environment, e.g. MALLOC_ARENA_MAX=2, and words without `=` as a
wrapper command, e.g. `heaptrack -o /tmp/ctl`) against the same pods, deleting
the Endpoints between runs so each one must rebuild them.

Usage: deploy/controllers-rss.py [pods]   (release build; env IRONKUBE_BIN skips it)
"""
import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time

from kubernetes import client, config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PODS = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
SERVICES = 100


def build():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ironkube = os.environ.get("IRONKUBE_BIN")
    if not ironkube:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "ironkube"], cwd=ROOT, check=True)
        ironkube = os.path.join(target, "release/ironkube")
    return ironkube


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")



def measure(core, controllers, variant):
    """Waits until every Service's Endpoints are complete, then prints the RSS."""
    t = time.time()
    per_service = PODS // SERVICES
    partial = set()  # Endpoints seen with fewer addresses than pods: written from a partial pod cache
    while True:
        eps = core.list_namespaced_endpoints("default").items
        counts = {e.metadata.name: sum(len(s.addresses or []) for s in (e.subsets or [])) for e in eps if e.metadata.name.startswith("svc-")}
        partial |= {name for name, n in counts.items() if n != per_service}
        full = sum(1 for n in counts.values() if n == per_service)
        if full == SERVICES:
            break
        if time.time() - t > 600:
            raise RuntimeError(f"only {full} of {SERVICES} Endpoints complete after 600 s")
        time.sleep(1)
    print(f"[{variant}] controllers converged in {time.time() - t:.1f} s; Endpoints seen incomplete meanwhile: {len(partial)}", flush=True)
    samples = []
    for _ in range(10):
        samples.append(rss_kib(controllers.pid))
        time.sleep(0.5)
    median = statistics.median(samples) / 1024
    peak = rss_kib(controllers.pid, "VmHWM") / 1024
    print(f"[{variant}] controllers RSS with {PODS} pods: median {median:.1f} MiB (min {min(samples) / 1024:.1f}, "
          f"max {max(samples) / 1024:.1f}), peak {peak:.1f} MiB (goal <= 128 MiB)", flush=True)


def main():
    ironkube = build()
    data = tempfile.mkdtemp(prefix="ironkube-rss-")
    server = subprocess.Popen([ironkube, "apiserver", "--secure-port", "0", "--bind-address", "127.0.0.1", "--data-dir", data],
                              stdout=subprocess.PIPE, text=True)
    controllers = None
    try:
        for line in server.stdout:
            if "API ready" in line:
                break
        kubeconfig = os.path.join(data, "admin.kubeconfig")
        config.load_kube_config(kubeconfig)
        core = client.CoreV1Api()
        for s in range(SERVICES):
            core.create_namespaced_service("default", {
                "metadata": {"name": f"svc-{s}"},
                "spec": {"selector": {"app": f"svc-{s}"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
            })

        def make(i):
            name = f"pod-{i}"
            core.create_namespaced_pod("default", {
                "metadata": {"name": name, "labels": {"app": f"svc-{i % SERVICES}", "pod-template-hash": "abcdef"}},
                "spec": {"containers": [{"name": "c", "image": "ironkube.local/busybox:1", "ports": [{"name": "http", "containerPort": 8080}]}]},
            })
            ip = f"10.{64 + i // 65536}.{(i // 256) % 256}.{i % 256}"
            core.patch_namespaced_pod_status(name, "default", {"status": {
                "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": "True"}]}})

        t = time.time()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(make, range(PODS)))
        print(f"created {PODS} ready pods behind {SERVICES} services in {time.time() - t:.0f} s", flush=True)

        for variant in os.environ.get("RSS_VARIANTS", "").split(";"):
            env = dict(os.environ, **dict(kv.split("=", 1) for kv in variant.split() if "=" in kv))
            wrapper = [w for w in variant.split() if "=" not in w]  # e.g. heaptrack -o FILE
            controllers = subprocess.Popen(wrapper + [ironkube, "controllers", "--kubeconfig", kubeconfig], stderr=subprocess.DEVNULL, env=env)
            measure(core, controllers, variant or "default")
            controllers.terminate()
            controllers.wait()
            controllers = None
            core.delete_collection_namespaced_endpoints("default", label_selector="endpoints.kubernetes.io/managed-by=endpoint-controller")
    finally:
        if controllers:
            controllers.kill()
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    main()
