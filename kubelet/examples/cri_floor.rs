//! The machine's floor for issue 6's pod-start figure: N pod sandboxes and their containers
//! started at once directly on containerd's CRI (no API server, no kubelet), with the very
//! configs the kubelet sends. Compare with the kubelet bench's create -> Running times.
//!
//! `cargo run -p ironkube-kubelet --example cri_floor -- <containerd socket> [pods] [rounds]`
//! (as root, against a running node's containerd with `ironkube.local/busybox` imported,
//! e.g. `<data-dir>/containerd/containerd.sock` of a running `ironkube up`).

use ironkube_kubelet::cri::{api, Cri};
use ironkube_kubelet::pods::dns::DnsSettings;
use ironkube_kubelet::pods::runtime_config as rc;
use k8s_openapi::api::core::v1::Pod;
use std::time::{Duration, Instant};

const NODE: &str = "cri-floor";

fn pod(i: usize, round: usize) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("floor-{round}-{i}"), "namespace": "default", "uid": format!("floor-{}-{round}-{i}", std::process::id())},
        "spec": {"containers": [{"name": "c", "image": "ironkube.local/busybox", "command": ["sleep", "3600"]}]}
    }))
    .expect("pod")
}

/// Sandbox + create + start for one pod; returns the time and the sandbox id.
async fn start(cri: &Cri, root: &std::path::Path, pod: &Pod) -> (Duration, String) {
    let t = Instant::now();
    let mut rt = cri.runtime.clone();
    // The DNS settings of `ironkube up` with its default service CIDR.
    let dns = DnsSettings { cluster_dns: vec!["10.96.0.10".parse().expect("IP")], cluster_domain: "cluster.local".into(), resolv_conf: Some("/etc/resolv.conf".into()), node_ip: None };
    let config = rc::sandbox_config(root, NODE, pod, 0, &dns.for_pod(pod).expect("sandbox DNS"));
    std::fs::create_dir_all(&config.log_directory).expect("log dir");
    let id = rt.run_pod_sandbox(api::RunPodSandboxRequest { config: Some(config.clone()), runtime_handler: String::new() }).await.expect("RunPodSandbox").into_inner().pod_sandbox_id;
    let c = &pod.spec.as_ref().expect("spec").containers[0];
    let cc = rc::container_config(root, pod, c, 0, Vec::new(), Vec::new());
    let cid = rt.create_container(api::CreateContainerRequest { pod_sandbox_id: id.clone(), config: Some(cc), sandbox_config: Some(config) }).await.expect("CreateContainer").into_inner().container_id;
    rt.start_container(api::StartContainerRequest { container_id: cid }).await.expect("StartContainer");
    (t.elapsed(), id)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let socket = args.get(1).expect("usage: cri_floor <containerd socket> [pods] [rounds]");
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(30);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(3);
    let cri = Cri::connect(std::path::Path::new(socket)).await.expect("connect");
    let root = tempfile::tempdir().expect("temp dir");
    let mut all = Vec::new();
    for r in 0..rounds {
        let pods: Vec<Pod> = (0..n).map(|i| pod(i, r)).collect();
        let t = Instant::now();
        let results = futures::future::join_all(pods.iter().map(|p| start(&cri, root.path(), p))).await;
        let wall = t.elapsed();
        let mut times: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
        times.sort();
        println!("round {r}: {n} pods at once, sandbox+create+start: median {:.0} ms, max {:.0} ms (all started after {:.0} ms)", times[n / 2].as_secs_f64() * 1e3, times[n - 1].as_secs_f64() * 1e3, wall.as_secs_f64() * 1e3);
        all.extend(times);
        let removes = results.iter().map(|(_, id)| {
            let mut rt = cri.runtime.clone();
            let id = id.clone();
            async move {
                let _ = rt.stop_pod_sandbox(api::StopPodSandboxRequest { pod_sandbox_id: id.clone() }).await;
                let _ = rt.remove_pod_sandbox(api::RemovePodSandboxRequest { pod_sandbox_id: id }).await;
            }
        });
        futures::future::join_all(removes).await;
    }
    all.sort();
    let p99 = all[((all.len() - 1) as f64 * 0.99).round() as usize];
    println!("floor, {n} pods at once over {rounds} rounds: median {:.0} ms, p99 {:.0} ms", all[all.len() / 2].as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
}
