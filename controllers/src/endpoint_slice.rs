//! EndpointSlice controller (upstream `pkg/controller/endpointslice`, reconciler in
//! `staging/src/k8s.io/endpointslice/reconciler.go`): keeps the discovery.k8s.io/v1
//! EndpointSlices of every Service with a selector, at most 100 endpoints each, grouped
//! by the ports the pods resolve, owned by the Service (so the garbage collector removes
//! them with it). Services without a selector are left alone.

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::{is_not_found, retry_soon, Error};
use crate::endpoints::target_ref;
use crate::service_pods::{self, Membership};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Api, Resource, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Upstream `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// Label naming the Service a slice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Label naming the controller managing a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

struct State {
    ctx: Arc<Context>,
    pods: Store<CachedPod>,
    membership: Arc<Membership>,
}

/// Runs the controller until its watches end.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    ctx.wait_for_sync().await;
    let service_pods::ServiceWatches { controller, pods, mut deleted, membership } = service_pods::service_watches(&ctx);
    let forget = membership.clone();
    // Slices of a deleted Service go with it through their owner reference.
    let cleanup = async move {
        while let Some(svc) = deleted.next().await {
            forget.forget(&svc.namespace().unwrap_or_default(), &svc.name_any());
        }
    };
    let state = Arc::new(State { ctx, pods, membership });
    // Both run in this task, so neither outlives the controller.
    tokio::join!(cleanup, controller.run(reconcile, retry_soon, state).for_each(|_| futures::future::ready(())));
    Ok(())
}

/// The endpoints of one slice and the ports they share.
#[derive(Debug, PartialEq)]
pub struct DesiredSlice {
    /// Ports, sorted.
    pub ports: Vec<EndpointPort>,
    /// Endpoints, sorted by address, at most [`MAX_ENDPOINTS_PER_SLICE`].
    pub endpoints: Vec<Endpoint>,
}

/// The slices `svc` should have for its selected `pods` (IPv4 addresses). A Service
/// that selects nothing still gets one empty slice, like upstream's placeholder.
pub fn desired_slices(svc: &Service, pods: &[Arc<CachedPod>]) -> Vec<DesiredSlice> {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let ports = spec.ports.unwrap_or_default();
    let mut groups: BTreeMap<Vec<(String, i32, String)>, Vec<Endpoint>> = BTreeMap::new();
    for pod in pods {
        if !service_pods::should_be_in_endpoints(pod, true) {
            continue;
        }
        let ip = service_pods::pod_ip(pod).unwrap_or_default();
        if ip.contains(':') {
            continue; // IPv6 pods belong in an IPv6 slice; this cluster serves IPv4 only.
        }
        let mut resolved: Vec<(String, i32, String)> = ports
            .iter()
            .filter_map(|p| service_pods::resolve_port(p, pod).map(|n| (p.name.clone().unwrap_or_default(), n, p.protocol.clone().unwrap_or_else(|| "TCP".into()))))
            .collect();
        resolved.sort();
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let serving = publish_not_ready || crate::pods::is_ready(pod);
        groups.entry(resolved).or_default().push(Endpoint {
            addresses: vec![ip.to_string()],
            conditions: Some(EndpointConditions { ready: Some(serving && !terminating), serving: Some(serving), terminating: Some(terminating) }),
            hostname: service_pods::hostname(pod, svc),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(target_ref(pod)),
            ..Default::default()
        });
    }
    let mut slices = Vec::new();
    for (ports, mut endpoints) in groups {
        endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
        let ports: Vec<EndpointPort> = ports
            .into_iter()
            .map(|(name, port, protocol)| EndpointPort { name: Some(name), port: Some(port), protocol: Some(protocol), app_protocol: None })
            .collect();
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            slices.push(DesiredSlice { ports: ports.clone(), endpoints: chunk.to_vec() });
        }
    }
    if slices.is_empty() {
        slices.push(DesiredSlice { ports: Vec::new(), endpoints: Vec::new() });
    }
    slices
}

async fn reconcile(svc: Arc<Service>, state: Arc<State>) -> Result<Action, Error> {
    if service_pods::selector(&svc).is_none() || svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let pods = service_pods::selected_pods(&svc, &state.pods);
    state.membership.record(&ns, &name, &pods);
    let desired = desired_slices(&svc, &pods);
    let api: Api<EndpointSlice> = Api::namespaced(state.ctx.client.clone(), &ns);
    let selector = format!("{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY}");
    let mut existing = api.list(&ListParams::default().labels(&selector)).await?.items;
    existing.sort_by_key(|s| s.name_any());
    let labels = slice_labels(&svc);
    let owner = svc.controller_owner_ref(&()).ok_or_else(|| Error::Retry("service without uid".into()))?;
    let mut unused: Vec<EndpointSlice> = Vec::new();
    let mut reusable = existing.into_iter();
    for want in desired {
        let slot = reusable.next();
        let mut slice = slot.unwrap_or_else(|| EndpointSlice {
            metadata: ObjectMeta { generate_name: Some(format!("{name}-")), ..Default::default() },
            address_type: "IPv4".into(),
            endpoints: Vec::new(),
            ports: None,
        });
        let ports = (!want.ports.is_empty()).then_some(want.ports);
        let fresh = slice.metadata.name.is_none();
        if !fresh && slice.endpoints == want.endpoints && slice.ports == ports && slice.metadata.labels.as_ref() == Some(&labels) && owned_by(&slice, &owner) {
            continue;
        }
        slice.endpoints = want.endpoints;
        slice.ports = ports;
        slice.metadata.labels = Some(labels.clone());
        slice.metadata.owner_references = Some(vec![owner.clone()]);
        slice.metadata.managed_fields = None;
        if fresh {
            api.create(&PostParams::default(), &slice).await?;
        } else {
            api.replace(&slice.name_any(), &PostParams::default(), &slice).await?;
        }
    }
    unused.extend(reusable);
    for slice in unused {
        match api.delete(&slice.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::await_change())
}

fn owned_by(slice: &EndpointSlice, owner: &OwnerReference) -> bool {
    slice.metadata.owner_references.as_ref().is_some_and(|o| o.len() == 1 && o[0] == *owner)
}

/// Upstream `setEndpointSliceLabels`: the Service's labels plus the two slice labels and
/// the headless marker.
fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc.labels().clone();
    labels.retain(|k, _| k != SERVICE_NAME_LABEL && k != MANAGED_BY_LABEL && k != service_pods::HEADLESS_LABEL);
    labels.insert(SERVICE_NAME_LABEL.into(), svc.name_any());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    if service_pods::headless(svc) {
        labels.insert(service_pods::HEADLESS_LABEL.into(), String::new());
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(i: usize, ready: bool, deleting: bool) -> Arc<CachedPod> {
        let mut md = json!({"name": format!("p{i}"), "namespace": "ns", "uid": format!("u{i}"), "labels": {"app": "a"}});
        if deleting {
            md["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        Arc::new(serde_json::from_value(json!({
            "metadata": md,
            "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": format!("10.0.{}.{}", i / 250, i % 250 + 1), "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        })).unwrap())
    }

    fn svc() -> Service {
        serde_json::from_value(json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": {"selector": {"app": "a"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}})).unwrap()
    }

    #[test]
    fn at_most_one_hundred_endpoints_per_slice() {
        let pods: Vec<_> = (0..250).map(|i| pod(i, true, false)).collect();
        let slices = desired_slices(&svc(), &pods);
        assert_eq!(slices.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>(), vec![100, 100, 50]);
        assert_eq!(slices[0].ports[0].port, Some(8080));
    }

    #[test]
    fn conditions_follow_readiness_and_termination() {
        let slices = desired_slices(&svc(), &[pod(0, true, false), pod(1, false, false), pod(2, true, true)]);
        let conds: Vec<_> = slices[0].endpoints.iter().map(|e| e.conditions.clone().unwrap()).collect();
        assert_eq!((conds[0].ready, conds[0].serving, conds[0].terminating), (Some(true), Some(true), Some(false)));
        assert_eq!((conds[1].ready, conds[1].serving, conds[1].terminating), (Some(false), Some(false), Some(false)));
        assert_eq!((conds[2].ready, conds[2].serving, conds[2].terminating), (Some(false), Some(true), Some(true)));
    }

    #[test]
    fn nothing_selected_gives_one_empty_slice() {
        let slices = desired_slices(&svc(), &[]);
        assert_eq!(slices, vec![DesiredSlice { ports: vec![], endpoints: vec![] }]);
    }
}
