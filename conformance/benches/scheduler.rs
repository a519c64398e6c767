//! Scheduler benchmark (issue 7 figures), medians over repeats:
//! - end to end: 1,000 pods created directly (64 concurrent creates, no Deployment
//!   controller on this branch) on 100 fake nodes, from the first create until every
//!   pod is bound, with the scheduler `ironkube up` runs;
//! - scheduler alone: 1,000 pods already pending for a second scheduler name, from
//!   starting that scheduler (in this process, same library) until all are bound:
//!   pods/s. The scheduler writes a `Scheduled` event for every pod during both, at
//!   most 8 at a time behind the bindings (the last events may land after the last
//!   binding);
//! - Deployment: a Deployment of 1,000 replicas (controllers and scheduler of `ironkube
//!   up`) from its create until every pod is bound.
//!
//! Run with `cargo bench -p ironkube-conformance --bench scheduler` (release build) or
//! add `--profile dev` for a debug build (`IRONKUBE_BENCH_REPEATS`, default 5).

use futures::{StreamExt, TryStreamExt};
use ironkube_conformance::Cluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

const NODES: usize = 100;
const PODS: usize = 1000;

async fn client(c: &Cluster) -> kube::Client {
    let file = kube::config::Kubeconfig::read_from(&c.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

async fn create_nodes(client: &kube::Client) {
    let nodes: Api<Node> = Api::all(client.clone());
    futures::stream::iter(0..NODES)
        .map(|i| {
            let nodes = nodes.clone();
            async move {
                let node: Node = serde_json::from_value(json!({
                    "metadata": {"name": format!("node-{i}"), "labels": {"topology.kubernetes.io/zone": format!("zone-{}", i % 3)}},
                    "status": {
                        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "110"},
                        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "110"},
                        "conditions": [{"type": "Ready", "status": "True"}],
                    },
                }))
                .unwrap();
                nodes.create(&PostParams::default(), &node).await.unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
}

async fn create_pods(client: &kube::Client, set: &str, scheduler: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    futures::stream::iter(0..PODS)
        .map(|i| {
            let pods = pods.clone();
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("{set}-{i}"), "labels": {"set": set}},
                    "spec": {"schedulerName": scheduler, "containers": [{"name": "c", "image": "ironkube.local/busybox:1",
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
                }))
                .unwrap();
                pods.create(&PostParams::default(), &pod).await.unwrap();
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
}

async fn create_deployment(client: &kube::Client, set: &str) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": set},
        "spec": {"replicas": PODS, "selector": {"matchLabels": {"set": set}}, "template": {
            "metadata": {"labels": {"set": set}},
            "spec": {"containers": [{"name": "c", "image": "ironkube.local/busybox:1",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
        }},
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &deployment).await.unwrap();
}

/// Waits until every pod of `set` has a node.
async fn all_bound(client: &kube::Client, set: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let config = watcher::Config::default().labels(&format!("set={set}"));
    let mut stream = watcher::watcher(pods, config).boxed();
    let mut bound = HashSet::new();
    while let Some(event) = stream.try_next().await.unwrap() {
        let (watcher::Event::Apply(p) | watcher::Event::InitApply(p)) = event else { continue };
        if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
            bound.insert(p.metadata.name.unwrap_or_default());
            if bound.len() == PODS {
                return;
            }
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let root = ironkube_conformance::workspace_root();
    // `cargo bench --profile dev` measures a debug build (much quicker to build on a busy
    // machine); the default bench profile measures the release build.
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let mut build = vec!["build", "--quiet", "--bin", "ironkube"];
    if profile == "release" {
        build.push("--release");
    }
    // IRONKUBE_BIN runs an existing binary (e.g. another commit's, for a comparison).
    let bin = match std::env::var("IRONKUBE_BIN") {
        Ok(bin) => std::path::PathBuf::from(bin),
        Err(_) => {
            assert!(Command::new("cargo").args(&build).current_dir(&root).status().unwrap().success());
            let target = std::env::var("CARGO_TARGET_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| root.join("target"));
            target.join(profile).join("ironkube")
        }
    };
    ironkube_conformance::set_bin(&bin);
    let repeats: usize = std::env::var("IRONKUBE_BENCH_REPEATS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (mut end_to_end, mut alone, mut deployment) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..repeats {
        let c = Cluster::start();
        rt.block_on(async {
            let client = client(&c).await;
            create_nodes(&client).await;
            let t0 = Instant::now();
            let waiting = tokio::spawn({
                let client = client.clone();
                async move { all_bound(&client, "a").await }
            });
            create_pods(&client, "a", "default-scheduler").await;
            waiting.await.unwrap();
            end_to_end.push(t0.elapsed());

            create_pods(&client, "b", "bench-scheduler").await;
            let t1 = Instant::now();
            let config = ironkube_controllers::scheduler::Config { scheduler_name: "bench-scheduler".into(), ..Default::default() };
            let scheduler = tokio::spawn(ironkube_controllers::scheduler::run(client.clone(), config));
            all_bound(&client, "b").await;
            alone.push(t1.elapsed());
            scheduler.abort();

            let t2 = Instant::now();
            let waiting = tokio::spawn({
                let client = client.clone();
                async move { all_bound(&client, "c").await }
            });
            create_deployment(&client, "c").await;
            waiting.await.unwrap();
            deployment.push(t2.elapsed());
        });
        println!(
            "run {run}: create+schedule {PODS} pods on {NODES} nodes {:.0} ms; scheduler alone {:.0} ms ({:.0} pods/s); Deployment until bound {:.0} ms",
            end_to_end[run].as_secs_f64() * 1e3,
            alone[run].as_secs_f64() * 1e3,
            PODS as f64 / alone[run].as_secs_f64(),
            deployment[run].as_secs_f64() * 1e3,
        );
    }
    let (e2e, solo, dep) = (median(end_to_end), median(alone), median(deployment));
    println!("ironkube scheduler benchmark ({profile} build, median of {repeats})");
    println!("{PODS} pods created directly on {NODES} fake nodes until all bound: {:.0} ms (goal <= 5000 ms)", e2e.as_secs_f64() * 1e3);
    println!("scheduler alone, {PODS} pending pods until all bound: {:.0} ms = {:.0} pods/s (goal >= 1000 pods/s)", solo.as_secs_f64() * 1e3, PODS as f64 / solo.as_secs_f64());
    println!("Deployment of {PODS} replicas on {NODES} fake nodes until all bound: {:.0} ms (goal <= 5000 ms)", dep.as_secs_f64() * 1e3);
}
