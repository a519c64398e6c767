//! The scheduler's view of the cluster (upstream `pkg/scheduler/backend/cache`): nodes
//! with the pods placed on them, fed by the pod and node watches, plus *assumed* pods
//! the scheduler has placed but whose binding the watch has not shown yet. The
//! scheduling loop owns it, so a decision always sees the previous decisions.

use crate::cached_pod::CachedPod;
use super::resources::{allocatable, pod_requests, Resources};
use k8s_openapi::api::core::v1::Node;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// `namespace/name`.
pub fn pod_key(pod: &CachedPod) -> String {
    format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or_default(), pod.metadata.name.as_deref().unwrap_or_default())
}

/// A host port a container asks for (upstream `HostPortInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// Host IP (`0.0.0.0` when unset).
    pub ip: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// Port number.
    pub port: i32,
}

impl HostPort {
    /// Whether two host ports cannot coexist on one node.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// A pod with what the plugins ask of it computed once.
#[derive(Debug)]
pub struct PodInfo {
    /// The pod.
    pub pod: Arc<CachedPod>,
    /// `namespace/name`.
    pub key: String,
    /// Effective requests (for filtering).
    pub requests: Resources,
    /// Requests with non-zero CPU/memory defaults (for scoring).
    pub non_zero: Resources,
    /// Host ports of its containers (and sidecars).
    pub host_ports: Vec<HostPort>,
}

impl PodInfo {
    /// Computes the derived facts of `pod`.
    pub fn new(pod: Arc<CachedPod>) -> Self {
        let mut host_ports = Vec::new();
        if let Some(spec) = pod.spec.as_ref() {
            let sidecars = spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always"));
            for c in spec.containers.iter().chain(sidecars) {
                for p in c.ports.iter().flatten() {
                    if let Some(port) = p.host_port.filter(|p| *p > 0) {
                        host_ports.push(HostPort {
                            ip: p.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "0.0.0.0".into()),
                            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                            port,
                        });
                    }
                }
            }
        }
        PodInfo { key: pod_key(&pod), requests: pod_requests(&pod, false), non_zero: pod_requests(&pod, true), host_ports, pod }
    }

    /// The pod's namespace.
    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or_default()
    }

    /// The pod's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.pod.metadata.labels.as_ref().unwrap_or(&EMPTY)
    }
}

/// One node and the pods placed on it.
#[derive(Debug, Default)]
pub struct NodeInfo {
    /// The node (`None` while pods name a node the watch has not shown yet).
    pub node: Option<Arc<Node>>,
    /// Allocatable resources.
    pub allocatable: Resources,
    /// Sum of placed pods' requests.
    pub requested: Resources,
    /// Sum of placed pods' requests with non-zero defaults.
    pub non_zero_requested: Resources,
    /// Placed pods by key.
    pub pods: BTreeMap<String, Arc<PodInfo>>,
}

impl NodeInfo {
    /// A node with nothing placed on it (tests and new nodes).
    pub fn with_node(node: Node) -> Self {
        NodeInfo { allocatable: allocatable(&node), node: Some(Arc::new(node)), ..Default::default() }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        self.node.as_ref().and_then(|n| n.metadata.name.as_deref()).unwrap_or_default()
    }

    /// The node's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.node.as_ref().and_then(|n| n.metadata.labels.as_ref()).unwrap_or(&EMPTY)
    }

    /// Places a pod.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(&pod.non_zero);
        if let Some(old) = self.pods.insert(pod.key.clone(), pod) {
            self.requested.sub(&old.requests);
            self.non_zero_requested.sub(&old.non_zero);
        }
    }

    /// Removes a placed pod.
    pub fn remove_pod(&mut self, key: &str) {
        if let Some(old) = self.pods.remove(key) {
            self.requested.sub(&old.requests);
            self.non_zero_requested.sub(&old.non_zero);
        }
    }

    /// Host ports in use on the node.
    pub fn used_ports(&self) -> impl Iterator<Item = &HostPort> {
        self.pods.values().flat_map(|p| p.host_ports.iter())
    }
}

/// What happened to the cluster, for moving unschedulable pods back to the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterChange {
    /// Nothing that could help a pod fit.
    None,
    /// A node appeared or changed, or a placed pod went away or changed.
    Some,
}

/// All nodes and placed pods.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: BTreeMap<String, NodeInfo>,
    /// Where each placed pod is, and whether it is only assumed.
    placed: HashMap<String, (String, bool)>,
    /// Placed pods with required pod anti-affinity terms (upstream keeps the same list,
    /// `HavePodsWithRequiredAntiAffinityList`, so pods without terms skip the walk).
    with_anti_affinity: usize,
}

fn has_anti_affinity(pod: &PodInfo) -> bool {
    !super::filters::inter_pod_affinity::required_terms(pod, true).is_empty()
}

fn is_terminal(pod: &CachedPod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

impl Cache {
    /// Nodes the watch has shown, in name order.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values().filter(|n| n.node.is_some())
    }

    /// Number of known nodes.
    pub fn node_count(&self) -> usize {
        self.nodes().count()
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name).filter(|n| n.node.is_some())
    }

    /// Whether the pod is placed (bound or assumed).
    pub fn is_placed(&self, key: &str) -> bool {
        self.placed.contains_key(key)
    }

    /// Adds or replaces a node.
    pub fn set_node(&mut self, node: Node) -> ClusterChange {
        let name = node.metadata.name.clone().unwrap_or_default();
        let info = self.nodes.entry(name).or_default();
        info.allocatable = allocatable(&node);
        info.node = Some(Arc::new(node));
        ClusterChange::Some
    }

    /// Removes a node (its pods stay accounted until their own deletes arrive).
    pub fn remove_node(&mut self, name: &str) {
        if let Some(info) = self.nodes.get_mut(name) {
            info.node = None;
            if info.pods.is_empty() {
                self.nodes.remove(name);
            }
        }
    }

    /// Number of placed pods with required pod anti-affinity.
    pub fn placed_with_anti_affinity(&self) -> usize {
        self.with_anti_affinity
    }

    fn place(&mut self, pod: Arc<PodInfo>, node: &str, assumed: bool) {
        self.unplace(&pod.key);
        self.placed.insert(pod.key.clone(), (node.to_string(), assumed));
        if has_anti_affinity(&pod) {
            self.with_anti_affinity += 1;
        }
        self.nodes.entry(node.to_string()).or_default().add_pod(pod);
    }

    fn unplace(&mut self, key: &str) -> bool {
        let Some((node, _)) = self.placed.remove(key) else { return false };
        if let Some(info) = self.nodes.get_mut(&node) {
            if info.pods.get(key).is_some_and(|p| has_anti_affinity(p)) {
                self.with_anti_affinity -= 1;
            }
            info.remove_pod(key);
            if info.node.is_none() && info.pods.is_empty() {
                self.nodes.remove(&node);
            }
        }
        true
    }

    /// Applies a pod from the watch. Returns whether it is waiting to be scheduled.
    pub fn apply_pod(&mut self, pod: Arc<CachedPod>) -> (bool, ClusterChange) {
        let key = pod_key(&pod);
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        if is_terminal(&pod) {
            let change = if self.unplace(&key) { ClusterChange::Some } else { ClusterChange::None };
            return (false, change);
        }
        if !node.is_empty() {
            self.place(Arc::new(PodInfo::new(pod)), &node, false);
            return (false, ClusterChange::Some);
        }
        // Unbound: an assumed placement stands until the binding's outcome is known.
        let assumed = self.placed.get(&key).is_some_and(|(_, assumed)| *assumed);
        (!assumed, ClusterChange::None)
    }

    /// Removes a deleted pod.
    pub fn delete_pod(&mut self, key: &str) -> ClusterChange {
        if self.unplace(key) { ClusterChange::Some } else { ClusterChange::None }
    }

    /// Keys of pods placed by the watch (not merely assumed).
    pub fn bound_keys(&self) -> impl Iterator<Item = &String> {
        self.placed.iter().filter(|(_, (_, assumed))| !assumed).map(|(k, _)| k)
    }

    /// Places a pod the scheduler chose a node for, before the binding is confirmed.
    pub fn assume(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.place(pod, node, true);
    }

    /// Drops an assumed placement whose binding failed.
    pub fn forget(&mut self, key: &str) {
        if self.placed.get(key).is_some_and(|(_, assumed)| *assumed) {
            self.unplace(key);
        }
    }

    /// Every placed pod (for inter-pod affinity and topology spreading).
    pub fn placed_pods(&self) -> impl Iterator<Item = (&NodeInfo, &Arc<PodInfo>)> {
        self.nodes().flat_map(|n| n.pods.values().map(move |p| (n, p)))
    }
}

#[cfg(test)]
/// Test fixtures shared with the other scheduler modules' tests.
pub mod tests {
    use super::*;
    use serde_json::json;

    /// A node with allocatable cpu/memory/pods and labels.
    pub fn node(name: &str, cpu: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}},
        }))
        .unwrap()
    }

    /// A pod from its spec.
    pub fn pod(name: &str, spec: serde_json::Value) -> Arc<PodInfo> {
        pod_with(name, json!({}), spec)
    }

    /// A pod from labels and spec.
    pub fn pod_with(name: &str, labels: serde_json::Value, mut spec: serde_json::Value) -> Arc<PodInfo> {
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{"name": "c"}]);
        }
        let pod: CachedPod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": spec,
        }))
        .unwrap();
        Arc::new(PodInfo::new(Arc::new(pod)))
    }

    #[test]
    fn assumed_pods_count_until_forgotten_and_bound_pods_replace_them() {
        let mut cache = Cache::default();
        cache.set_node(node("n1", "1", json!({})));
        let p = pod("p", json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "300m"}}}]}));
        cache.assume(p.clone(), "n1");
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 300);
        // The watch still shows the pod unbound: it stays assumed and is not queued.
        assert!(!cache.apply_pod(p.pod.clone()).0);
        cache.forget("default/p");
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 0);
        let mut bound = (*p.pod).clone();
        bound.spec.as_mut().unwrap().node_name = Some("n1".into());
        cache.apply_pod(Arc::new(bound));
        cache.forget("default/p");
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 300, "a bound pod is not forgotten");
        cache.delete_pod("default/p");
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 0);
    }
}
