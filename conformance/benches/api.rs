//! API benchmark (issue 4 figures): start time to `/readyz` over TLS (fresh and existing
//! data dir), idle RSS, GET latency over one kept-alive TLS connection, LIST of 1,000
//! ConfigMaps, and `kubectl get pods` with 1,000 pods against an empty list in the same
//! run. Prints medians and ratios; run with `cargo bench -p ironkube-conformance --bench api`.
//! `IRONKUBE_BENCH_IDLE_SECS` (default 60) sets how long to idle before reading RSS.

#[allow(dead_code)]
mod common;

use common::{free_port, ms, percentile, release_binary, rss_kib, wait_ready};
use ironkube_conformance::{ApiClient, Cluster};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Time from spawning `ironkube up` to `/readyz` answering over TLS, median of `runs`.
fn startup(bin: &Path, runs: usize, reuse: bool) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut times = Vec::new();
    for _ in 0..runs {
        if !reuse {
            let _ = std::fs::remove_dir_all(dir.path().join("pki"));
        }
        let port = free_port();
        let t0 = Instant::now();
        let mut child = Command::new(bin)
            .args(["up", "--no-kubelet", "--bind-address", "127.0.0.1", "--secure-port", &port.to_string(), "--data-dir"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        times.push(wait_ready(port, t0));
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
    }
    times.sort();
    times[times.len() / 2]
}

fn kubectl_median(c: &Cluster, args: &[&str], runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            c.ok(args);
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let bin = release_binary();

    println!("ironkube API benchmark (release build, medians)");
    println!("start to /readyz over TLS, fresh data dir:    {}", ms(startup(&bin, 7, false)));
    println!("start to /readyz over TLS, existing data dir: {}", ms(startup(&bin, 7, true)));

    let c = Cluster::start();
    let pki = c.dir.path().join("pki");
    let mut client = ApiClient::connect(c.port, &pki);
    client.request("POST", "/api/v1/namespaces/default/configmaps", Some(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"one"},"data":{"a":"b"}}"#));
    let mut gets = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        let (code, _) = client.request("GET", "/api/v1/namespaces/default/configmaps/one", None);
        gets.push(t.elapsed());
        assert_eq!(code, 200);
    }
    gets.sort();
    println!("GET one ConfigMap, kept-alive TLS, 1000 requests: p50 {} p99 {}", ms(percentile(&gets, 0.5)), ms(percentile(&gets, 0.99)));

    c.ok(&["create", "ns", "bench"]);
    for i in 0..1000 {
        let body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i}"}},"data":{{"key":"value-{i}"}}}}"#);
        let (code, _) = client.request("POST", "/api/v1/namespaces/bench/configmaps", Some(&body));
        assert_eq!(code, 201);
    }
    let mut lists = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        let (code, body) = client.request("GET", "/api/v1/namespaces/bench/configmaps", None);
        lists.push(t.elapsed());
        assert_eq!(code, 200);
        assert!(body.len() > 50_000);
    }
    lists.sort();
    println!("LIST 1000 ConfigMaps: median {}", ms(percentile(&lists, 0.5)));

    c.ok(&["create", "ns", "empty"]);
    c.ok(&["create", "ns", "pods"]);
    for i in 0..1000 {
        let body = format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p-{i}","labels":{{"app":"bench"}}}},"spec":{{"containers":[{{"name":"c","image":"ironkube.local/busybox"}}]}}}}"#
        );
        let (code, _) = client.request("POST", "/api/v1/namespaces/pods/pods", Some(&body));
        assert_eq!(code, 201);
    }
    let empty = kubectl_median(&c, &["get", "pods", "-n", "empty"], 9);
    let full = kubectl_median(&c, &["get", "pods", "-n", "pods"], 9);
    println!(
        "kubectl get pods: empty {} vs 1000 pods {} (ratio {:.2}x)",
        ms(empty),
        ms(full),
        full.as_secs_f64() / empty.as_secs_f64()
    );

    let idle: u64 = std::env::var("IRONKUBE_BENCH_IDLE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    drop(client);
    drop(c);
    let idle_cluster = Cluster::start();
    std::thread::sleep(Duration::from_secs(idle));
    let pid = idle_cluster_pid(&idle_cluster);
    println!("idle RSS after {idle} s (fresh cluster, no objects beyond bootstrap): {} KiB", rss_kib(pid));
}

fn idle_cluster_pid(c: &Cluster) -> u32 {
    c.pid().expect("running cluster")
}

