//! What the Endpoints and EndpointSlice controllers share (upstream
//! `pkg/controller/util/endpoint`): the watches, which pods back a Service, how a
//! Service port resolves on a pod, and which Services to revisit when a pod changes.

use crate::cached_pod::CachedPod;
use crate::context::Context;
use futures::stream::BoxStream;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Label upstream puts on the Endpoints and EndpointSlices of a headless Service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// A Service controller that is also woken by the pods its Services select.
pub struct ServiceWatches {
    /// The controller over Services (with the pod trigger attached).
    pub controller: Controller<Service>,
    /// The shared pod cache.
    pub pods: Store<CachedPod>,
    /// Services as they are deleted.
    pub deleted: BoxStream<'static, Arc<Service>>,
    /// Which pods were last in which Service.
    pub membership: Arc<Membership>,
}

/// Builds the watches both endpoint controllers use, over the shared Service and pod
/// informers: Services (reconciled), pods (mapped to the Services to revisit) and
/// Service deletions.
pub fn service_watches(ctx: &Context) -> ServiceWatches {
    let services = ctx.services.store();
    let membership = Arc::new(Membership::default());
    let (m, s) = (membership.clone(), services.clone());
    let controller = Controller::for_shared_stream(ctx.services.subscribe(), services)
        .with_config(crate::workers::workers(crate::workers::FIVE))
        .watches_shared_stream(ctx.pods.subscribe(), move |pod: Arc<CachedPod>| m.services_for(&pod, &s));
    ServiceWatches { controller, pods: ctx.pods.store(), deleted: ctx.services.deletions().boxed(), membership }
}

/// The selector of a Service that has one (services without selectors are left alone).
pub fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec.as_ref()?.selector.as_ref().filter(|s| !s.is_empty())
}

/// Whether `labels` carry every key/value of `selector`.
pub fn matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The pods of `svc`'s namespace its selector picks.
pub fn selected_pods(svc: &Service, pods: &Store<CachedPod>) -> Vec<std::sync::Arc<CachedPod>> {
    let Some(sel) = selector(svc) else { return Vec::new() };
    let ns = svc.namespace();
    pods.state_filter(|p| p.namespace() == ns && matches(sel, p.labels()))
}

/// The pod's primary IP, if it has one.
pub fn pod_ip(pod: &CachedPod) -> Option<&str> {
    pod.status.as_ref()?.pod_ip.as_deref().filter(|ip| !ip.is_empty())
}

/// Upstream `ShouldPodBeInEndpoints`: pods with an IP that are not finished, and
/// (unless `include_terminating`) not being deleted.
pub fn should_be_in_endpoints(pod: &CachedPod, include_terminating: bool) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default();
    if phase == "Succeeded" || phase == "Failed" {
        return false;
    }
    if pod_ip(pod).is_none() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// Upstream `podutil.FindPort`: the container port a Service port targets on this pod.
pub fn resolve_port(port: &ServicePort, pod: &CachedPod) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            pod.spec.as_ref()?.containers.iter().flat_map(|c| c.ports.iter().flatten()).find_map(|cp| {
                (cp.name.as_deref() == Some(name.as_str()) && cp.protocol.as_deref().unwrap_or("TCP") == protocol).then_some(cp.container_port)
            })
        }
    }
}

/// The hostname a pod gets in a Service (upstream: only when its `subdomain` names the Service).
pub fn hostname(pod: &CachedPod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let host = spec.hostname.as_ref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == Some(svc.name_any().as_str()) && pod.namespace() == svc.namespace()).then(|| host.clone())
}

/// Whether the Service is headless (`clusterIP: None`).
pub fn headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// Remembers which Services a pod was last part of, so that a pod whose labels changed
/// also wakes the Services it has left.
#[derive(Default)]
pub struct Membership(Mutex<HashMap<(String, String), HashSet<String>>>);

impl Membership {
    /// Records that `svc` (namespace `ns`) now consists of `pods`.
    pub fn record(&self, ns: &str, svc: &str, pods: &[std::sync::Arc<CachedPod>]) {
        let mut map = self.0.lock().unwrap();
        let now: HashSet<String> = pods.iter().map(|p| p.name_any()).collect();
        map.retain(|(pns, pod), svcs| {
            if pns == ns && !now.contains(pod) {
                svcs.remove(svc);
            }
            !svcs.is_empty()
        });
        for pod in now {
            map.entry((ns.to_string(), pod)).or_default().insert(svc.to_string());
        }
    }

    /// Forgets a deleted Service.
    pub fn forget(&self, ns: &str, svc: &str) {
        let mut map = self.0.lock().unwrap();
        map.retain(|(pns, _), svcs| {
            if pns == ns {
                svcs.remove(svc);
            }
            !svcs.is_empty()
        });
    }

    /// The Services to revisit when `pod` changed: those selecting it now, and those it was in.
    pub fn services_for(&self, pod: &CachedPod, services: &Store<Service>) -> Vec<ObjectRef<Service>> {
        let ns = pod.namespace().unwrap_or_default();
        let mut names: HashSet<String> = self.0.lock().unwrap().get(&(ns.clone(), pod.name_any())).cloned().unwrap_or_default();
        for svc in services.state_filter(|s| s.namespace().as_deref() == Some(ns.as_str()) && selector(s).is_some_and(|sel| matches(sel, pod.labels()))) {
            names.insert(svc.name_any());
        }
        names.into_iter().map(|n| ObjectRef::new(&n).within(&ns)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> CachedPod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let port: ServicePort = serde_json::from_value(json!({"port": 80, "targetPort": "http"})).unwrap();
        let a = pod(json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]}}));
        let b = pod(json!({"metadata": {"name": "b"}, "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 9090}]}]}}));
        let c = pod(json!({"metadata": {"name": "c"}, "spec": {"containers": [{"name": "c"}]}}));
        assert_eq!(resolve_port(&port, &a), Some(8080));
        assert_eq!(resolve_port(&port, &b), Some(9090));
        assert_eq!(resolve_port(&port, &c), None);
        let udp: ServicePort = serde_json::from_value(json!({"port": 53, "targetPort": "http", "protocol": "UDP"})).unwrap();
        assert_eq!(resolve_port(&udp, &a), None, "protocol must match too");
    }

    #[test]
    fn finished_ipless_and_terminating_pods_are_excluded() {
        let running = pod(json!({"metadata": {"name": "a"}, "status": {"phase": "Running", "podIP": "10.0.0.1"}}));
        assert!(should_be_in_endpoints(&running, false));
        let no_ip = pod(json!({"metadata": {"name": "a"}, "status": {"phase": "Running"}}));
        assert!(!should_be_in_endpoints(&no_ip, true));
        let done = pod(json!({"metadata": {"name": "a"}, "status": {"phase": "Succeeded", "podIP": "10.0.0.1"}}));
        assert!(!should_be_in_endpoints(&done, true));
        let deleting = pod(json!({"metadata": {"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running", "podIP": "10.0.0.1"}}));
        assert!(!should_be_in_endpoints(&deleting, false));
        assert!(should_be_in_endpoints(&deleting, true));
    }
}
