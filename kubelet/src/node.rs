//! The Node object and its heartbeats: registration with capacity read from this machine,
//! the Lease in `kube-node-lease` renewed every 10 s, a status heartbeat, and `NotReady`
//! on shutdown. Mirrors upstream `pkg/kubelet/kubelet_node_status.go` and
//! `pkg/kubelet/nodestatus/setters.go` (condition reasons and messages).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// How often the Lease is renewed (upstream: 10 s, a quarter of the 40 s duration).
pub const LEASE_RENEW: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the Lease is valid.
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// The kubelet version reported in `nodeInfo`.
pub const KUBELET_VERSION: &str = "v1.35.0-ironkube";

/// What the node reports about itself.
#[derive(Clone, Debug)]
pub struct NodeFacts {
    /// Node name.
    pub name: String,
    /// The InternalIP address.
    pub internal_ip: String,
    /// Pod CIDR assigned to this node.
    pub pod_cidr: Option<String>,
    /// The kubelet server's port (`daemonEndpoints.kubeletEndpoint.port`).
    pub kubelet_port: u16,
    /// `containerd://1.6.20` style.
    pub runtime_version: String,
    /// Capacity (cpu, memory, pods, ephemeral-storage).
    pub capacity: BTreeMap<String, Quantity>,
    /// /etc/machine-id and friends.
    pub system: NodeSystemInfo,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Machine capacity: logical CPUs, MemTotal, 110 pods, the filesystem holding `root_dir`.
pub fn machine_capacity(root_dir: &Path) -> BTreeMap<String, Quantity> {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0);
    let storage_kib = rustix::fs::statvfs(root_dir).map(|s| s.f_blocks * s.f_frsize / 1024).unwrap_or(0);
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpus.to_string())),
        ("ephemeral-storage".to_string(), Quantity(format!("{storage_kib}Ki"))),
        ("memory".to_string(), Quantity(format!("{mem_kib}Ki"))),
        ("pods".to_string(), Quantity("110".into())),
    ])
}

/// `nodeInfo` from /etc/os-release, uname and the runtime.
pub fn system_info(runtime_version: &str) -> NodeSystemInfo {
    let os_image = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_else(|| "Linux".into());
    let uname = rustix::system::uname();
    NodeSystemInfo {
        architecture: match std::env::consts::ARCH {
            "x86_64" => "amd64".into(),
            "aarch64" => "arm64".into(),
            a => a.into(),
        },
        boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
        container_runtime_version: runtime_version.into(),
        kernel_version: uname.release().to_string_lossy().into_owned(),
        kube_proxy_version: String::new(),
        kubelet_version: KUBELET_VERSION.into(),
        machine_id: read_trim("/etc/machine-id"),
        operating_system: "linux".into(),
        os_image,
        system_uuid: read_trim("/sys/class/dmi/id/product_uuid"),
        swap: None,
    }
}

fn condition(kind: &str, status: &str, reason: &str, message: &str, now: &Time) -> NodeCondition {
    NodeCondition {
        type_: kind.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    }
}

/// The four conditions upstream reports; `ready` false gives the shutdown shape.
pub fn conditions(ready: bool, now: &Time) -> Vec<NodeCondition> {
    let (rs, rr, rm) = if ready {
        ("True", "KubeletReady", "kubelet is posting ready status")
    } else {
        ("False", "KubeletNotReady", "kubelet is stopped")
    };
    vec![
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", now),
        condition("Ready", rs, rr, rm, now),
    ]
}

impl NodeFacts {
    /// The status the node reports, with transition times kept from `old` where a
    /// condition did not change.
    pub fn status(&self, ready: bool, old: Option<&NodeStatus>) -> NodeStatus {
        let now = Time(jiff::Timestamp::now());
        let mut conds = conditions(ready, &now);
        if let Some(old) = old.and_then(|s| s.conditions.as_ref()) {
            for c in &mut conds {
                if let Some(prev) = old.iter().find(|o| o.type_ == c.type_ && o.status == c.status) {
                    c.last_transition_time = prev.last_transition_time.clone();
                }
            }
        }
        NodeStatus {
            capacity: Some(self.capacity.clone()),
            allocatable: Some(self.capacity.clone()),
            addresses: Some(vec![
                NodeAddress { type_: "InternalIP".into(), address: self.internal_ip.clone() },
                NodeAddress { type_: "Hostname".into(), address: self.name.clone() },
            ]),
            conditions: Some(conds),
            node_info: Some(self.system.clone()),
            daemon_endpoints: Some(k8s_openapi::api::core::v1::NodeDaemonEndpoints {
                kubelet_endpoint: Some(k8s_openapi::api::core::v1::DaemonEndpoint { port: i32::from(self.kubelet_port) }),
            }),
            ..Default::default()
        }
    }
}

/// Creates the Node if missing, then writes its status; returns the stored Node.
pub async fn register(nodes: &Api<Node>, facts: &NodeFacts) -> kube::Result<Node> {
    let existing = nodes.get_opt(&facts.name).await?;
    let node = match existing {
        Some(n) => n,
        None => {
            let labels = BTreeMap::from([
                ("beta.kubernetes.io/arch".to_string(), facts.system.architecture.clone()),
                ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
                ("kubernetes.io/arch".to_string(), facts.system.architecture.clone()),
                ("kubernetes.io/hostname".to_string(), facts.name.clone()),
                ("kubernetes.io/os".to_string(), "linux".to_string()),
            ]);
            let node = Node {
                metadata: ObjectMeta {
                    name: Some(facts.name.clone()),
                    labels: Some(labels),
                    annotations: Some(BTreeMap::from([("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string())])),
                    ..Default::default()
                },
                spec: Some(NodeSpec {
                    pod_cidr: facts.pod_cidr.clone(),
                    pod_cidrs: facts.pod_cidr.clone().map(|c| vec![c]),
                    ..Default::default()
                }),
                status: None,
            };
            match nodes.create(&PostParams::default(), &node).await {
                Ok(n) => n,
                Err(kube::Error::Api(e)) if e.code == 409 => nodes.get(&facts.name).await?,
                Err(e) => return Err(e),
            }
        }
    };
    post_status(nodes, facts, true, node.status.as_ref()).await
}

/// Writes the node status (`ready` or the shutdown shape).
pub async fn post_status(nodes: &Api<Node>, facts: &NodeFacts, ready: bool, old: Option<&NodeStatus>) -> kube::Result<Node> {
    let status = facts.status(ready, old);
    nodes.patch_status(&facts.name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await
}

/// Creates or renews the node's Lease.
pub async fn renew_lease(leases: &Api<Lease>, node: &Node) -> kube::Result<()> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let spec = LeaseSpec {
        holder_identity: Some(name.clone()),
        lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
        renew_time: Some(MicroTime(jiff::Timestamp::now())),
        ..Default::default()
    };
    match leases.get_opt(&name).await? {
        Some(mut lease) => {
            lease.spec = Some(spec);
            leases.replace(&name, &PostParams::default(), &lease).await?;
        }
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some("kube-node-lease".into()),
                    owner_references: Some(vec![OwnerReference {
                        api_version: "v1".into(),
                        kind: "Node".into(),
                        name: name.clone(),
                        uid: node.metadata.uid.clone().unwrap_or_default(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                spec: Some(spec),
            };
            leases.create(&PostParams::default(), &lease).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_condition_shapes() {
        let now = Time(jiff::Timestamp::now());
        let c = conditions(true, &now);
        assert_eq!(c.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>(), ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]);
        assert_eq!(c[3].reason.as_deref(), Some("KubeletReady"));
        assert_eq!(conditions(false, &now)[3].status, "False");
    }

    #[test]
    fn capacity_has_the_four_resources() {
        let cap = machine_capacity(Path::new("/"));
        for k in ["cpu", "memory", "pods", "ephemeral-storage"] {
            assert!(cap.contains_key(k), "{k}");
        }
    }
}
