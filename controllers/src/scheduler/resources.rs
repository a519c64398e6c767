//! Resource arithmetic: quantities, a pod's effective requests (upstream
//! `k8s.io/component-helpers/resource` `PodRequests`) and node allocatable.

use crate::cached_pod::CachedPod;
use crate::cached_pod::CachedContainer;
use k8s_openapi::api::core::v1::{Node, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// Non-zero defaults the scoring plugins assume for a container that requests nothing
/// (upstream `DefaultMilliCPURequest` and `DefaultMemoryRequest`).
pub const DEFAULT_MILLI_CPU: i64 = 100;
/// 200 MiB.
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// An amount of every resource, CPU in millicores and the rest in base units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Millicores.
    pub milli_cpu: i64,
    /// Bytes.
    pub memory: i64,
    /// Bytes.
    pub ephemeral_storage: i64,
    /// Pod count (only meaningful for allocatable).
    pub pods: i64,
    /// Extended resources and hugepages, by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Adds `name: quantity`.
    fn add_named(&mut self, name: &str, q: &Quantity) {
        let value = |milli: bool| if milli { ironkube_quantity::milli_value(&q.0) } else { ironkube_quantity::value(&q.0) }.unwrap_or(0);
        match name {
            "cpu" => self.milli_cpu += value(true),
            "memory" => self.memory += value(false),
            "ephemeral-storage" => self.ephemeral_storage += value(false),
            "pods" => self.pods += value(false),
            other => *self.scalar.entry(other.to_string()).or_default() += value(false),
        }
    }

    /// From a resource list (`requests`, `allocatable`, `overhead`).
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        let mut r = Resources::default();
        for (name, q) in list.into_iter().flatten() {
            r.add_named(name, q);
        }
        r
    }

    /// `self += other`.
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += other.pods;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// `self -= other`.
    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.pods -= other.pods;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Per-resource maximum.
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
}

fn requests(c: &CachedContainer) -> Resources {
    Resources::from_list(c.resources.as_deref().and_then(|r: &ResourceRequirements| r.requests.as_ref()))
}

/// Requests with upstream's non-zero defaults for CPU and memory (for scoring).
fn non_zero(mut r: Resources) -> Resources {
    if r.milli_cpu == 0 {
        r.milli_cpu = DEFAULT_MILLI_CPU;
    }
    if r.memory == 0 {
        r.memory = DEFAULT_MEMORY;
    }
    r
}

/// What a pod needs from a node: the larger of its containers' sum and each init
/// container's request (restartable "sidecar" init containers keep running, so they
/// add to both), plus the pod overhead. `for_scoring` applies the non-zero defaults
/// per container, as upstream's scoring does.
pub fn pod_requests(pod: &CachedPod, for_scoring: bool) -> Resources {
    let Some(spec) = pod.spec.as_ref() else { return Resources::default() };
    let each = |c: &CachedContainer| if for_scoring { non_zero(requests(c)) } else { requests(c) };
    let mut total = Resources::default();
    for c in &spec.containers {
        total.add(&each(c));
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = each(c);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
            init_max.max_with(&sidecars);
        } else {
            let mut during = sidecars.clone();
            during.add(&r);
            init_max.max_with(&during);
        }
    }
    total.add(&sidecars);
    total.max_with(&init_max);
    total.add(&Resources::from_list(spec.overhead.as_ref()));
    total
}

/// The node's allocatable resources (capacity when allocatable is absent).
pub fn allocatable(node: &Node) -> Resources {
    let status = node.status.as_ref();
    let list = status.and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()));
    Resources::from_list(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn init_containers_take_the_max_and_sidecars_add_up() {
        let pod: CachedPod = serde_json::from_value(json!({
            "spec": {
                "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}},
                               {"name": "b", "resources": {"requests": {"cpu": "200m"}}}],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}],
                "overhead": {"cpu": "10m"},
            }
        }))
        .unwrap();
        let r = pod_requests(&pod, false);
        assert_eq!(r.milli_cpu, 510);
        assert_eq!(r.memory, 1024 * 1024 * 1024);
        let sidecar: CachedPod = serde_json::from_value(json!({
            "spec": {
                "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
                "initContainers": [{"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}}],
            }
        }))
        .unwrap();
        assert_eq!(pod_requests(&sidecar, false).milli_cpu, 150);
        let empty: CachedPod = serde_json::from_value(json!({"spec": {"containers": [{"name": "a"}]}})).unwrap();
        assert_eq!(pod_requests(&empty, false).milli_cpu, 0);
        assert_eq!(pod_requests(&empty, true).milli_cpu, DEFAULT_MILLI_CPU);
    }
}
