//! What one scrape round of the resource metrics API costs the API server: reading every
//! node's `/metrics/resource` text into points, then storing the round (rates are
//! computed on read). Simulates `METRICS_BENCH_NODES` nodes (default 10) of 110 pods (the
//! kubelet's default `maxPods`) with 2 containers each; no network.
//!
//! `cargo bench -p ironkube-apiserver --bench metrics_scrape` (release), or in the debug
//! profile: `cargo test -p ironkube-apiserver --bench metrics_scrape`. Prints medians over
//! `METRICS_BENCH_ROUNDS` rounds (default 9).

use ironkube_apiserver::metrics::points::{Batch, Points};
use ironkube_apiserver::metrics::prometheus;
use std::fmt::Write;
use std::time::{Duration, Instant};

const PODS_PER_NODE: usize = 110;
const CONTAINERS_PER_POD: usize = 2;

/// A kubelet answer in upstream's format for one node at `t_ms`.
fn kubelet_text(node: usize, t_ms: i64, round: u64) -> String {
    let mut out = format!("node_cpu_usage_seconds_total {} {t_ms}\nnode_memory_working_set_bytes 4.2e+09 {t_ms}\n", 1000 + round);
    for p in 0..PODS_PER_NODE {
        for c in 0..CONTAINERS_PER_POD {
            let labels = format!("container=\"c{c}\",namespace=\"ns{}\",pod=\"pod-{node}-{p}\"", p % 7);
            let _ = writeln!(out, "container_cpu_usage_seconds_total{{{labels}}} {} {t_ms}", 1.5 + round as f64 * 0.25);
            let _ = writeln!(out, "container_memory_working_set_bytes{{{labels}}} 1.2345e+07 {t_ms}");
            let _ = writeln!(out, "container_start_time_seconds{{{labels}}} 1.7e+09");
        }
    }
    out
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let nodes: usize = std::env::var("METRICS_BENCH_NODES").ok().and_then(|n| n.parse().ok()).unwrap_or(10).max(1);
    let rounds: u64 = std::env::var("METRICS_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(9).max(2);
    let mut points = Points::default();
    let (mut parse_times, mut store_times) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    for round in 0..rounds {
        let t_ms = 1_700_000_000_000 + round as i64 * 15_000;
        let texts: Vec<String> = (0..nodes).map(|n| kubelet_text(n, t_ms, round)).collect();
        bytes = texts.iter().map(String::len).sum::<usize>();
        let t = Instant::now();
        let mut batch = Batch::default();
        for (n, text) in texts.iter().enumerate() {
            batch.add_node(&format!("node-{n}"), &prometheus::parse(text).expect("valid text"), t_ms);
        }
        parse_times.push(t.elapsed());
        let t = Instant::now();
        points.store(batch, Duration::from_secs(15));
        store_times.push(t.elapsed());
    }
    assert!(points.pod("ns0", "pod-0-0").is_some_and(|p| p.containers.len() == CONTAINERS_PER_POD), "the rounds produced usage");
    let (parse, store) = (median(parse_times), median(store_times));
    let containers = nodes * PODS_PER_NODE * CONTAINERS_PER_POD;
    println!("metrics scrape round over {rounds} rounds (medians), {nodes} nodes, {containers} containers, {bytes} bytes of kubelet text:");
    println!("  parse + decode: {parse:?} ({:.2} µs per container)", parse.as_secs_f64() * 1e6 / containers as f64);
    println!("  store:          {store:?}");
}
