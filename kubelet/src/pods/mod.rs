//! Pod lifecycle: a watch on the pods bound to this node feeding one worker task per pod
//! (`worker.rs`), plus clean-up of sandboxes whose pods no longer exist.

mod backoff;
pub mod dns;
pub mod env;
pub mod hosts;
pub mod runtime_config;
pub mod status;
mod worker;

use crate::cri::{Cri, api};
use crate::events::Recorder;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, ResourceExt};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// What every pod worker shares.
pub struct Ctx {
    /// The runtime.
    pub cri: Cri,
    /// The API.
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// This node's name.
    pub node: String,
    /// This node's IP.
    pub host_ip: String,
    /// Kubelet root directory (pods/, logs/).
    pub root: PathBuf,
    /// Cluster DNS, cluster domain and host resolver for the pods' resolv.conf.
    pub dns: dns::DnsSettings,
}

struct Handle {
    tx: watch::Sender<Option<Arc<Pod>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Runs until `stop` fires; workers are then dropped without touching their containers
/// (a restarted kubelet adopts them).
pub async fn run(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.node));
    // managedFields are never read here: dropped, so workers keep smaller pods.
    let mut stream = watcher::watcher(api, config).default_backoff().modify(|p| p.managed_fields_mut().clear()).boxed();
    let mut workers: HashMap<String, Handle> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut swept = false;
    loop {
        let event = tokio::select! {
            _ = stop.changed() => break,
            e = stream.next() => e,
        };
        let Some(event) = event else { break };
        workers.retain(|_, h| !h.task.is_finished());
        match event {
            Ok(Event::Init) => seen.clear(),
            Ok(Event::InitApply(pod)) | Ok(Event::Apply(pod)) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                seen.insert(uid.clone());
                let pod = Arc::new(pod);
                match workers.get(&uid) {
                    Some(h) => {
                        let _ = h.tx.send(Some(pod));
                    }
                    None => {
                        tracing::debug!(target: "ironkube_kubelet::timing", "pod {}/{}: seen", pod.metadata.namespace.as_deref().unwrap_or_default(), pod.metadata.name.as_deref().unwrap_or_default());
                        let (tx, rx) = watch::channel(Some(pod));
                        let task = tokio::spawn(worker::Worker::new(ctx.clone()).run(rx));
                        workers.insert(uid, Handle { tx, task });
                    }
                }
            }
            Ok(Event::Delete(pod)) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Some(h) = workers.get(&uid) {
                    let _ = h.tx.send(None);
                }
            }
            Ok(Event::InitDone) => {
                for (uid, h) in &workers {
                    if !seen.contains(uid) {
                        let _ = h.tx.send(None);
                    }
                }
                if !swept {
                    swept = true;
                    sweep_orphans(&ctx, &seen).await;
                }
            }
            Err(e) => tracing::warn!("pod watch: {e}"),
        }
    }
    for (_, h) in workers {
        h.task.abort();
    }
}

/// Removes sandboxes (and their containers) whose pods are gone from the API.
async fn sweep_orphans(ctx: &Ctx, live: &HashSet<String>) {
    let mut rt = ctx.cri.runtime.clone();
    let list = node_sandboxes(&ctx.cri, &ctx.node).await;
    for s in list {
        let Some(uid) = s.labels.get(runtime_config::LABEL_POD_UID) else { continue };
        if live.contains(uid) {
            continue;
        }
        let _ = rt.stop_pod_sandbox(api::StopPodSandboxRequest { pod_sandbox_id: s.id.clone() }).await;
        let _ = rt.remove_pod_sandbox(api::RemovePodSandboxRequest { pod_sandbox_id: s.id.clone() }).await;
        crate::volumes::cleanup(&ctx.root, uid);
    }
}

/// The sandboxes this node started.
async fn node_sandboxes(cri: &Cri, node: &str) -> Vec<api::PodSandbox> {
    let filter = api::PodSandboxFilter { label_selector: [(runtime_config::LABEL_NODE.to_string(), node.to_string())].into(), ..Default::default() };
    cri.runtime.clone().list_pod_sandbox(api::ListPodSandboxRequest { filter: Some(filter) }).await.map(|r| r.into_inner().items).unwrap_or_default()
}

/// Stops and removes every sandbox of this node (node shutdown under `up`).
pub async fn remove_all(cri: &Cri, node: &str, root: &std::path::Path) {
    let list = node_sandboxes(cri, node).await;
    let stops = list.iter().map(|s| {
        let mut rt = cri.runtime.clone();
        let id = s.id.clone();
        async move {
            // Containers first with a short grace, then the sandbox.
            let filter = api::ContainerFilter { pod_sandbox_id: id.clone(), ..Default::default() };
            let cs = rt.list_containers(api::ListContainersRequest { filter: Some(filter) }).await.map(|r| r.into_inner().containers).unwrap_or_default();
            for c in cs {
                let _ = rt.stop_container(api::StopContainerRequest { container_id: c.id, timeout: 2 }).await;
            }
            let _ = rt.stop_pod_sandbox(api::StopPodSandboxRequest { pod_sandbox_id: id.clone() }).await;
            let _ = rt.remove_pod_sandbox(api::RemovePodSandboxRequest { pod_sandbox_id: id }).await;
        }
    });
    futures::future::join_all(stops).await;
    for s in &list {
        if let Some(uid) = s.labels.get(runtime_config::LABEL_POD_UID) {
            crate::volumes::cleanup(root, uid);
        }
    }
}
