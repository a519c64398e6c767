//! Controller benchmark (issue 7 figures), release build (or `IRONKUBE_BIN`), medians:
//! - time from creating a Deployment of 1,000 replicas until all 1,000 pods exist (no
//!   scheduler or kubelet: pods are counted once created, not bound or running);
//! - RSS of a standalone `ironkube controllers` process with 10,000 pods in the cluster.
//!
//! Runs `ironkube apiserver` plus `ironkube controllers --kubeconfig ...` as two processes
//! so the controllers' memory is measured alone.
//! Run with `cargo bench -p ironkube-conformance --bench controllers`;
//! `IRONKUBE_BENCH_RUNS` (default 5) sets the number of Deployments timed.

use ironkube_conformance::{ApiClient, Cluster};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

fn pod_count(client: &mut ApiClient, ns: &str) -> usize {
    let (code, body) = client.request("GET", &format!("/api/v1/namespaces/{ns}/pods"), None);
    assert_eq!(code, 200);
    let list: serde_json::Value = serde_json::from_slice(&body).expect("pod list");
    list["items"].as_array().map_or(0, Vec::len)
}

fn main() {
    // IRONKUBE_BIN runs an existing binary instead of building the release one.
    let bin = match std::env::var("IRONKUBE_BIN") {
        Ok(bin) => std::path::PathBuf::from(bin),
        Err(_) => {
            let root = ironkube_conformance::workspace_root();
            assert!(Command::new("cargo").args(["build", "--release", "--quiet", "--bin", "ironkube"]).current_dir(&root).status().unwrap().success());
            let target = std::env::var("CARGO_TARGET_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| root.join("target"));
            target.join("release/ironkube")
        }
    };
    ironkube_conformance::set_bin(&bin);
    let runs: usize = std::env::var("IRONKUBE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);

    let c = Cluster::start_apiserver_only();
    let mut controllers = Command::new(&bin).args(["controllers", "--kubeconfig"]).arg(&c.kubeconfig).stdout(Stdio::null()).spawn().expect("ironkube controllers");
    let pid = controllers.id();
    let mut client = ApiClient::connect(c.port, &c.dir.path().join("pki"));
    println!("ironkube controllers benchmark ({}, medians)", bin.display());
    std::thread::sleep(Duration::from_secs(1));
    println!("controllers RSS, empty cluster: {} MiB", rss_kib(pid) / 1024);

    let mut times = Vec::new();
    for run in 0..runs {
        let ns = format!("run-{run}");
        c.ok(&["create", "ns", &ns]);
        let body = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"big"},"spec":{"replicas":1000,"selector":{"matchLabels":{"app":"big"}},"template":{"metadata":{"labels":{"app":"big"}},"spec":{"containers":[{"name":"c","image":"ironkube.local/busybox"}]}}}}"#.to_string();
        let t0 = Instant::now();
        let (code, _) = client.request("POST", &format!("/apis/apps/v1/namespaces/{ns}/deployments"), Some(&body));
        assert_eq!(code, 201);
        while pod_count(&mut client, &ns) < 1000 {
            assert!(t0.elapsed() < Duration::from_secs(300), "1000 pods not created within 300 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let took = t0.elapsed();
        println!("  run {run}: 1000 pods in {:.3} s", took.as_secs_f64());
        times.push(took);
    }
    println!("Deployment of 1,000 replicas until 1,000 pods exist: median {:.3} s over {runs} runs", median(times.clone()).as_secs_f64());

    // Fill up to 10,000 pods with bare pods, then let the controllers settle.
    let existing = runs * 1000;
    c.ok(&["create", "ns", "filler"]);
    for i in existing..10_000 {
        let body = format!(r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p-{i}","labels":{{"app":"filler"}}}},"spec":{{"containers":[{{"name":"c","image":"ironkube.local/busybox"}}]}}}}"#);
        let (code, _) = client.request("POST", "/api/v1/namespaces/filler/pods", Some(&body));
        assert_eq!(code, 201);
    }
    std::thread::sleep(Duration::from_secs(5));
    let samples: Vec<u64> = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_secs(1));
            rss_kib(pid)
        })
        .collect();
    println!("controllers RSS with 10,000 pods: median {:.1} MiB (goal <= 128 MiB)", median(samples) as f64 / 1024.0);
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = controllers.wait();
}
