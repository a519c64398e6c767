//! Kubelet benchmark (issue 6 figures), release build, real containerd and CNI, as root:
//! `ironkube up` from cold (containerd not running) to node Ready, fresh and existing data
//! dir; pod create → Running as seen by a watch for 30 pods created at once (median and
//! p99 over rounds); RSS of a standalone kubelet with 0 and 30 running pods, for the
//! kubelet-only binary `ironkube-kubelet` and, as the baseline, `ironkube kubelet` (the
//! all-in-one binary), in the same run.
//! Run with `cargo bench -p ironkube-conformance --bench kubelet`
//! (`IRONKUBE_BENCH_PROFILE=debug` measures the debug build instead, quicker to build).

use futures::StreamExt;
use ironkube_conformance::Cluster;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PODS: usize = 30;

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Spawn `up` with a kubelet and time until it prints "node Ready"; then stop it.
fn up_to_ready(bin: &Path, dir: &Path) -> Duration {
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .args(["up", "--bind-address", "127.0.0.1", "--secure-port", "0", "--pod-cidr", "10.244.253.0/24", "--hostname-override", "bench-up", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let took = loop {
        let line = lines.next().expect("up exited").unwrap();
        if line.trim().starts_with("node Ready") {
            break t0.elapsed();
        }
        assert!(!line.trim().starts_with("kubelet "), "{line}");
    };
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    took
}

fn pod(name: &str, node: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "1"}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "c", "image": "ironkube.local/busybox", "command": ["sleep", "3600"]}]}
    }))
    .unwrap()
}

/// Creates PODS pods at once; returns each one's create → Running-by-watch time.
async fn round(api: &Api<Pod>, node: &str, prefix: &str) -> Vec<Duration> {
    let mut stream = watcher::watcher(api.clone(), watcher::Config::default().labels("bench=1")).boxed();
    // Wait for the initial list so no event is missed.
    while let Some(Ok(e)) = stream.next().await {
        if matches!(e, watcher::Event::InitDone) {
            break;
        }
    }
    let mut started = HashMap::new();
    let creates = (0..PODS).map(|i| {
        let name = format!("{prefix}-{i}");
        let p = pod(&name, node);
        let api = api.clone();
        async move {
            let t = Instant::now();
            api.create(&PostParams::default(), &p).await.unwrap();
            (name, t)
        }
    });
    let watch = async {
        let mut running: HashMap<String, Instant> = HashMap::new();
        while running.len() < PODS {
            if let Some(Ok(watcher::Event::Apply(p))) = stream.next().await {
                let name = p.metadata.name.clone().unwrap_or_default();
                if name.starts_with(prefix) && p.status.and_then(|s| s.phase).as_deref() == Some("Running") {
                    running.entry(name).or_insert_with(Instant::now);
                }
            }
        }
        running
    };
    let (created, running) = tokio::join!(futures::future::join_all(creates), tokio::time::timeout(Duration::from_secs(120), watch));
    started.extend(created);
    let running = running.expect("pods did not all reach Running in 120 s");
    started.iter().map(|(n, t)| running[n].duration_since(*t)).collect()
}

/// Waits until containerd at `socket` runs no task (container) any more: the kubelet tears
/// down deleted pods' sandboxes after their API objects are gone, and a round that starts
/// meanwhile would be measured against that teardown's CPU.
async fn wait_runtime_idle(socket: &Path) {
    for _ in 0..600 {
        let out = Command::new("ctr").arg("--address").arg(socket).args(["-n", "k8s.io", "tasks", "ls", "-q"]).output();
        if out.is_ok_and(|o| o.status.success() && o.stdout.iter().all(|b| b.is_ascii_whitespace())) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("  (containerd still runs tasks after 60 s)");
}

async fn delete_all(api: &Api<Pod>) {
    let _ = api.delete_collection(&DeleteParams::default(), &kube::api::ListParams::default().labels("bench=1")).await;
    for _ in 0..600 {
        if api.list(&kube::api::ListParams::default().labels("bench=1")).await.map(|l| l.items.is_empty()).unwrap_or(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn main() {
    if let Some(why) = ironkube_conformance::kubelet_unavailable() {
        println!("kubelet benchmark skipped: {why}");
        return;
    }
    let root = ironkube_conformance::workspace_root();
    let debug = std::env::var("IRONKUBE_BENCH_PROFILE").is_ok_and(|p| p == "debug");
    // `IRONKUBE_BIN` measures a given binary (e.g. one built from `main`, to compare).
    let bin = match std::env::var("IRONKUBE_BIN") {
        Ok(bin) => std::path::PathBuf::from(bin),
        Err(_) => {
            let mut build = Command::new("cargo");
            build.args(["build", "--quiet", "--bin", "ironkube", "--bin", "ironkube-kubelet"]).current_dir(&root);
            if !debug {
                build.arg("--release");
            }
            assert!(build.status().unwrap().success());
            let target = std::env::var("CARGO_TARGET_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| root.join("target"));
            target.join(if debug { "debug/ironkube" } else { "release/ironkube" })
        }
    };
    ironkube_conformance::set_bin(&bin);
    println!("ironkube kubelet benchmark ({}, medians)", bin.display());

    let (mut fresh, mut existing) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        fresh.push(up_to_ready(&bin, dir.path()));
        existing.push(up_to_ready(&bin, dir.path()));
    }
    println!("up from cold (containerd not running) to node Ready, fresh data dir:    {}", ms(median(&mut fresh)));
    println!("up from cold (containerd not running) to node Ready, existing data dir: {}", ms(median(&mut existing)));

    let cluster = Cluster::start_with_kubelet().expect("kubelet cluster");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let api: Api<Pod> = Api::namespaced(client, "default");
        let socket = cluster.dir.path().join("containerd/containerd.sock");
        let mut all = Vec::new();
        for r in 0..3 {
            let mut times = round(&api, cluster.node_name(), &format!("r{r}")).await;
            times.sort();
            println!("  round {r}: median {} p99 {}", ms(times[times.len() / 2]), ms(times[((times.len() - 1) as f64 * 0.99).round() as usize]));
            all.extend(times);
            delete_all(&api).await;
            wait_runtime_idle(&socket).await;
        }
        all.sort();
        println!("pod create -> Running by watch, {PODS} pods at once: median {} p99 {}", ms(all[all.len() / 2]), ms(all[((all.len() - 1) as f64 * 0.99).round() as usize]));

        // A standalone kubelet as a second node on the same containerd: the kubelet-only
        // binary and the all-in-one one, alternating.
        let kubelet_only = ironkube_conformance::kubelet_only_bin();
        let variants: [(&str, &Path, &[&str]); 2] = [("ironkube-kubelet", &kubelet_only, &[]), ("ironkube kubelet", &bin, &["kubelet"])];
        let mut rss: Vec<(Vec<u64>, Vec<u64>)> = vec![Default::default(); variants.len()];
        for r in 0..3 {
            for (v, (_, program, args)) in variants.iter().enumerate() {
                let node = format!("bench-standalone-{r}-{v}");
                let mut kubelet = Command::new(program)
                    .args(*args)
                    .args(["--hostname-override", &node, "--kubeconfig"])
                    .arg(&cluster.kubeconfig)
                    .arg("--container-runtime-endpoint")
                    .arg(&socket)
                    .arg("--root-dir")
                    .arg(cluster.dir.path().join(&node))
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap();
                tokio::time::sleep(Duration::from_secs(10)).await;
                rss[v].0.push(rss_kib(kubelet.id()));
                round(&api, &node, &format!("s{r}{v}")).await;
                tokio::time::sleep(Duration::from_secs(10)).await;
                rss[v].1.push(rss_kib(kubelet.id()));
                delete_all(&api).await;
                // Let the kubelet finish stopping the sandboxes of pods deleted without grace.
                wait_runtime_idle(&socket).await;
                let _ = Command::new("kill").args(["-TERM", &kubelet.id().to_string()]).status();
                let _ = kubelet.wait();
            }
        }
        let mib = |v: &mut Vec<u64>| {
            v.sort();
            v[v.len() / 2] as f64 / 1024.0
        };
        let mut idle = Vec::new();
        for ((name, _, _), (zero, busy)) in variants.iter().zip(&mut rss) {
            let (zero, busy) = (mib(zero), mib(busy));
            idle.push(zero);
            println!("standalone {name} RSS (median of 3): 0 pods {zero:.1} MiB, {PODS} running pods {busy:.1} MiB");
        }
        println!("kubelet-only / all-in-one binary, idle RSS: {:.2}x", idle[0] / idle[1]);
    });
    drop(cluster);
}
