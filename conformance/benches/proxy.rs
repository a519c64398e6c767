//! kube-proxy benchmark (root: it programs this machine's iptables): time from an API
//! change to the rules being in the kernel, seen by polling `iptables-save`.
//! - a new EndpointSlice address of an existing Service -> its KUBE-SEP DNAT rule;
//! - a new Service without endpoints -> its REJECT rule in the filter table.
//!
//! Starts `ironkube up --no-kubelet` and a standalone `ironkube kube-proxy` (default
//! flags: `--iptables-min-sync-period 1`) with its own chain prefix; changes are 1.2 s
//! apart so each one meets an idle proxier, as a single user edit does.
//! Run with `cargo bench -p ironkube-conformance --bench proxy`
//! (`IRONKUBE_BIN=target/debug/ironkube` measures a built binary instead of a release build).

#[allow(dead_code)] // shared with the other benches
mod common;

use common::{median, ms, percentile, release_binary};
use ironkube_conformance::Cluster;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 20;
const PREFIX: &str = "IKBENCH";

/// Polls until `table` holds a line containing `needle`; the time since `since`.
fn wait_for_rule(table: &str, needle: &str, since: Instant) -> Duration {
    loop {
        let out = Command::new("iptables-save").args(["-t", table]).output().expect("iptables-save");
        if String::from_utf8_lossy(&out.stdout).contains(needle) {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(30), "rule {needle:?} never appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn main() {
    if ironkube_conformance::kubelet_unavailable().is_some_and(|why| why == "not root") {
        println!("kube-proxy benchmark skipped: needs root (it programs iptables)");
        return;
    }
    let bin = release_binary();
    let cluster = Cluster::start();
    let mut proxy = Command::new(&bin)
        .args(["kube-proxy", "--hostname-override", "bench-node", "--iptables-chain-prefix", PREFIX, "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .stdout(Stdio::null())
        .spawn()
        .expect("start kube-proxy");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (mut endpoint_latency, mut service_latency) = (Vec::new(), Vec::new());
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let services: Api<Service> = Api::namespaced(client.clone(), "default");
        let slices: Api<EndpointSlice> = Api::namespaced(client, "default");
        // The proxier is up once the kubernetes Service's rule is in.
        wait_for_rule("nat", &format!("-j {PREFIX}-SVC-"), Instant::now());
        for i in 0..ROUNDS {
            let name = format!("bench-{i}");
            let svc: Service = serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}})).unwrap();
            let created = services.create(&PostParams::default(), &svc).await.unwrap();
            let t0 = Instant::now();
            let ip = created.spec.and_then(|s| s.cluster_ip).unwrap();
            service_latency.push(wait_for_rule("filter", &format!("-d {ip}/32 -p tcp -m comment --comment \"default/{name} has no endpoints\""), t0));
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let address = format!("10.255.{}.{}", i / 200, 1 + i % 200);
            let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [address], "conditions": {"ready": true}}],
                "ports": [{"port": 80, "protocol": "TCP", "name": ""}],
            }))
            .unwrap();
            slices.create(&PostParams::default(), &slice).await.unwrap();
            let t0 = Instant::now();
            endpoint_latency.push(wait_for_rule("nat", &format!("--to-destination {address}:80"), t0));
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
    });
    let _ = Command::new("kill").args(["-TERM", &proxy.id().to_string()]).status();
    let _ = proxy.wait();
    let leftover = String::from_utf8_lossy(&Command::new("iptables-save").output().unwrap().stdout).matches(PREFIX).count();
    endpoint_latency.sort();
    service_latency.sort();
    println!("kube-proxy benchmark ({} rounds, {} binary)", ROUNDS, bin.display());
    println!("EndpointSlice created -> DNAT rule in the kernel: median {}, p90 {}", ms(median(endpoint_latency.clone())), ms(percentile(&endpoint_latency, 0.9)));
    println!("Service created -> REJECT rule in the kernel:     median {}, p90 {}", ms(median(service_latency.clone())), ms(percentile(&service_latency, 0.9)));
    println!("rules left after kube-proxy stopped: {leftover}");
}
