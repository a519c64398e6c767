//! ironkube kubelet: runs the pods bound to this node on a CRI runtime (containerd),
//! reports the Node and its Lease, all through the API with kube-rs.
//!
//! Map: [`cri`] (the runtime connection), [`containerd`] and [`cni`] (the node's own
//! containerd and pod network, started by `ironkube up`), [`local_images`] (the
//! `ironkube.local/*` images), [`images`] (pull policy), [`node`] (Node, Lease,
//! heartbeats), [`pods`] (watch + one worker per pod, status), [`probes`], [`volumes`],
//! [`events`], [`server`] (logs, exec, attach, port-forward for the API server).

pub mod cni;
pub mod containerd;
pub mod cri;
pub mod events;
pub mod images;
pub mod local_images;
pub mod node;
pub mod pods;
pub mod probes;
pub mod server;
pub mod token;
pub mod volumes;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Kubelet settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Node name (default: the hostname).
    pub node_name: String,
    /// The CRI socket.
    pub cri_socket: PathBuf,
    /// Root directory for pod volumes and logs.
    pub root_dir: PathBuf,
    /// The node's pod CIDR (reported in `spec.podCIDR`).
    pub pod_cidr: Option<String>,
    /// The node's InternalIP.
    pub node_ip: String,
    /// Stop and remove every sandbox on shutdown (`ironkube up`, which also stops its
    /// containerd). A standalone kubelet leaves pods running and adopts them on restart.
    pub remove_pods_on_exit: bool,
    /// The port of the kubelet server, advertised in the Node's `daemonEndpoints`.
    pub kubelet_port: u16,
    /// Cluster DNS servers for `ClusterFirst` pods (`--cluster-dns`); empty: they fall
    /// back to `Default` with a `MissingClusterDNS` event.
    pub cluster_dns: Vec<std::net::IpAddr>,
    /// The cluster domain (`--cluster-domain`, e.g. `cluster.local`).
    pub cluster_domain: String,
    /// The host resolver file (`--resolv-conf`); None: none (upstream's `--resolv-conf=""`).
    pub resolv_conf: Option<PathBuf>,
}

/// Why the kubelet cannot run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime is unreachable.
    #[error(transparent)]
    Cri(#[from] cri::CriError),
    /// The API refused the Node registration.
    #[error("cannot register node {node}: {source}")]
    Register {
        /// Node name.
        node: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

/// This machine's hostname, lowercased (the default node name).
pub fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().to_lowercase()
}

/// The first non-loopback IPv4 address of this machine (the default node IP).
pub fn default_node_ip() -> String {
    // A UDP "connect" picks the outgoing interface without sending anything.
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("10.255.255.255:1")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .ok()
        .filter(|ip| ip != "0.0.0.0")
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// A registered kubelet, ready to run pods.
pub struct Kubelet {
    client: Client,
    config: Config,
    cri: cri::Cri,
    facts: node::NodeFacts,
    node: Node,
}

impl Kubelet {
    /// Connects to the runtime and registers the Node as Ready.
    pub async fn start(client: Client, config: Config) -> Result<Kubelet, Error> {
        let cri = cri::Cri::connect(&config.cri_socket).await?;
        let version = cri.version().await?;
        std::fs::create_dir_all(&config.root_dir).ok();
        let facts = node::NodeFacts {
            name: config.node_name.clone(),
            internal_ip: config.node_ip.clone(),
            pod_cidr: config.pod_cidr.clone(),
            kubelet_port: config.kubelet_port,
            runtime_version: format!("{}://{}", version.runtime_name, version.runtime_version),
            capacity: node::machine_capacity(&config.root_dir),
            system: node::system_info(&format!("{}://{}", version.runtime_name, version.runtime_version)),
        };
        let nodes: Api<Node> = Api::all(client.clone());
        let node = node::register(&nodes, &facts).await.map_err(|source| Error::Register { node: config.node_name.clone(), source })?;
        Ok(Kubelet { client, config, cri, facts, node })
    }

    /// The node name.
    pub fn node_name(&self) -> &str {
        &self.config.node_name
    }

    /// Runs pods, the Lease and heartbeats until `shutdown` resolves; then reports
    /// NotReady (and under `up` removes every pod sandbox).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), Error> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let ctx = Arc::new(pods::Ctx {
            cri: self.cri.clone(),
            client: self.client.clone(),
            recorder: events::Recorder::new(self.client.clone(), self.config.node_name.clone()),
            node: self.config.node_name.clone(),
            host_ip: self.config.node_ip.clone(),
            root: self.config.root_dir.clone(),
            dns: pods::dns::DnsSettings {
                cluster_dns: self.config.cluster_dns.clone(),
                cluster_domain: self.config.cluster_domain.clone(),
                resolv_conf: self.config.resolv_conf.clone(),
                node_ip: self.config.node_ip.parse().ok(),
            },
        });
        if let Some(problem) = ctx.dns.host_file_problem() {
            tracing::warn!("pods' DNS: {problem}");
        }
        let pods_task = tokio::spawn(pods::run(ctx, stop_rx.clone()));
        let heartbeat = tokio::spawn(heartbeat(self.client.clone(), self.facts.clone(), self.node.clone(), stop_rx));
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = pods_task.await;
        heartbeat.abort();
        if self.config.remove_pods_on_exit {
            pods::remove_all(&self.cri, &self.config.node_name, &self.config.root_dir).await;
        }
        let nodes: Api<Node> = Api::all(self.client.clone());
        let old = nodes.get_opt(&self.config.node_name).await.ok().flatten().and_then(|n| n.status);
        let _ = node::post_status(&nodes, &self.facts, false, old.as_ref()).await;
        Ok(())
    }
}

/// Renews the Lease every 10 s and re-posts the Ready status every minute (and at once
/// after an API outage, so a restarted API server sees the node again).
async fn heartbeat(client: Client, facts: node::NodeFacts, node: Node, mut stop: watch::Receiver<bool>) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let nodes: Api<Node> = Api::all(client);
    let mut ticks = 0u64;
    let mut healthy = true;
    loop {
        let lease_ok = node::renew_lease(&leases, &node).await.is_ok();
        if !lease_ok || !healthy || ticks % 6 == 5 {
            let old = nodes.get_opt(&facts.name).await.ok().flatten();
            let res = match old {
                Some(n) => node::post_status(&nodes, &facts, true, n.status.as_ref()).await.map(|_| ()),
                None => node::register(&nodes, &facts).await.map(|_| ()),
            };
            healthy = lease_ok && res.is_ok();
        }
        ticks += 1;
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(if healthy { node::LEASE_RENEW } else { Duration::from_secs(1) }) => {}
        }
    }
}
