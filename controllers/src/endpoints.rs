//! Endpoints controller (upstream `pkg/controller/endpoint/endpoints_controller.go`): keeps
//! one Endpoints object per Service with a selector, listing the selected pods' IPs as
//! ready `addresses` or `notReadyAddresses`, with each Service port resolved on each pod.
//! Services without a selector (like `default/kubernetes`, which the API server manages)
//! are left alone.

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::{is_conflict, is_not_found, retry_soon, Error};
use crate::service_pods::{self, Membership};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Service};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Api, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Label upstream puts on the Endpoints it manages.
const MANAGED_BY: (&str, &str) = ("endpoints.kubernetes.io/managed-by", "endpoint-controller");
/// Upstream `maxCapacity`: more addresses than this are truncated.
pub const MAX_CAPACITY: usize = 1000;
const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

struct State {
    ctx: Arc<Context>,
    pods: Store<CachedPod>,
    membership: Arc<Membership>,
}

/// Runs the controller until its watches end.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    ctx.wait_for_sync().await;
    let service_pods::ServiceWatches { controller, pods, mut deleted, membership } = service_pods::service_watches(&ctx);
    let state = Arc::new(State { ctx, pods, membership });
    // A deleted Service takes its Endpoints with it (upstream deletes them in syncService).
    let cleanup_state = state.clone();
    let cleanup = async move {
        while let Some(svc) = deleted.next().await {
            let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
            cleanup_state.membership.forget(&ns, &name);
            if service_pods::selector(&svc).is_none() {
                continue;
            }
            let api: Api<Endpoints> = Api::namespaced(cleanup_state.ctx.client.clone(), &ns);
            if let Err(e) = api.delete(&name, &DeleteParams::default()).await
                && !is_not_found(&e)
            {
                tracing::warn!("cannot delete endpoints {ns}/{name}: {e}");
            }
        }
    };
    // Both run in this task, so neither outlives the controller.
    tokio::join!(cleanup, controller.run(reconcile, retry_soon, state).for_each(|_| futures::future::ready(())));
    Ok(())
}

async fn reconcile(svc: Arc<Service>, state: Arc<State>) -> Result<Action, Error> {
    if service_pods::selector(&svc).is_none() {
        return Ok(Action::await_change());
    }
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let pods = service_pods::selected_pods(&svc, &state.pods);
    state.membership.record(&ns, &name, &pods);
    let subsets = desired_subsets(&svc, &pods);
    let mut labels: BTreeMap<String, String> = svc.labels().clone();
    labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    if service_pods::headless(&svc) {
        labels.insert(service_pods::HEADLESS_LABEL.into(), String::new());
    } else {
        labels.remove(service_pods::HEADLESS_LABEL);
    }
    let api: Api<Endpoints> = Api::namespaced(state.ctx.client.clone(), &ns);
    let current = match api.get(&name).await {
        Ok(ep) => Some(ep),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(e.into()),
    };
    let (subsets, truncated) = truncate(subsets, MAX_CAPACITY);
    let wanted_subsets = (!subsets.is_empty()).then_some(subsets);
    let mut annotations = current.as_ref().and_then(|ep| ep.metadata.annotations.clone()).unwrap_or_default();
    if truncated {
        annotations.insert(OVER_CAPACITY.into(), "truncated".into());
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    let annotations = (!annotations.is_empty()).then_some(annotations);
    match current {
        Some(mut ep) => {
            if ep.subsets == wanted_subsets && ep.metadata.labels.as_ref() == Some(&labels) && ep.metadata.annotations == annotations {
                return Ok(Action::await_change());
            }
            ep.subsets = wanted_subsets;
            ep.metadata.labels = Some(labels);
            ep.metadata.annotations = annotations;
            ep.metadata.managed_fields = None;
            match api.replace(&name, &PostParams::default(), &ep).await {
                Ok(_) => {}
                Err(e) if is_conflict(&e) => return Ok(Action::requeue(std::time::Duration::from_millis(100))),
                Err(e) => return Err(e.into()),
            }
        }
        None => {
            let ep = Endpoints {
                metadata: ObjectMeta { name: Some(name), labels: Some(labels), annotations, ..Default::default() },
                subsets: wanted_subsets,
            };
            match api.create(&PostParams::default(), &ep).await {
                Ok(_) => {}
                Err(e) if is_conflict(&e) => return Ok(Action::requeue(std::time::Duration::from_millis(100))),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Action::await_change())
}

/// The pod reference an endpoint address carries.
pub fn target_ref(pod: &CachedPod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.namespace(),
        name: Some(pod.name_any()),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// A pod's (name, number, protocol) for each of a Service's ports, sorted: pods that
/// resolve the same ports share a subset.
type ResolvedPorts = Vec<(String, i32, String)>;

/// The subsets of `svc` given its selected `pods` (upstream `syncService` + `RepackSubsets`):
/// pods grouped by the ports they resolve, ready ones in `addresses`, others in
/// `notReadyAddresses`, all sorted so the result is stable.
pub fn desired_subsets(svc: &Service, pods: &[Arc<CachedPod>]) -> Vec<EndpointSubset> {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let ports = spec.ports.unwrap_or_default();
    // ports (sorted) -> (ready, not ready)
    let mut groups: BTreeMap<ResolvedPorts, (Vec<EndpointAddress>, Vec<EndpointAddress>)> = BTreeMap::new();
    for pod in pods {
        if !service_pods::should_be_in_endpoints(pod, publish_not_ready) {
            continue;
        }
        let address = EndpointAddress {
            ip: service_pods::pod_ip(pod).unwrap_or_default().to_string(),
            hostname: service_pods::hostname(pod, svc),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(target_ref(pod)),
        };
        let ready = publish_not_ready || crate::pods::is_ready(pod);
        let mut resolved: ResolvedPorts = Vec::new();
        if ports.is_empty() {
            // Headless services without ports still list their pods.
            if !service_pods::headless(svc) {
                continue;
            }
        }
        for port in &ports {
            if let Some(n) = service_pods::resolve_port(port, pod) {
                resolved.push((port.name.clone().unwrap_or_default(), n, port.protocol.clone().unwrap_or_else(|| "TCP".into())));
            }
        }
        if !ports.is_empty() && resolved.is_empty() {
            continue;
        }
        resolved.sort();
        let group = groups.entry(resolved).or_default();
        if ready { group.0.push(address) } else { group.1.push(address) }
    }
    let key = |a: &EndpointAddress| (a.ip.clone(), a.target_ref.as_ref().and_then(|r| r.uid.clone()));
    groups
        .into_iter()
        .map(|(ports, (mut ready, mut not_ready))| {
            ready.sort_by_key(key);
            not_ready.sort_by_key(key);
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then(|| {
                    ports
                        .into_iter()
                        .map(|(name, port, protocol)| EndpointPort {
                            name: (!name.is_empty()).then_some(name),
                            port,
                            protocol: Some(protocol),
                            app_protocol: None,
                        })
                        .collect()
                }),
            }
        })
        .collect()
}

/// Keeps at most `max` addresses, ready ones first (upstream `truncateEndpoints` keeps
/// them in proportion per subset; this keeps the first ones in subset order). Returns
/// whether anything was dropped.
pub fn truncate(mut subsets: Vec<EndpointSubset>, max: usize) -> (Vec<EndpointSubset>, bool) {
    let total: usize = subsets.iter().map(|s| s.addresses.as_ref().map_or(0, Vec::len) + s.not_ready_addresses.as_ref().map_or(0, Vec::len)).sum();
    if total <= max {
        return (subsets, false);
    }
    let mut budget = max;
    for field in [0, 1] {
        for s in &mut subsets {
            let list = if field == 0 { &mut s.addresses } else { &mut s.not_ready_addresses };
            if let Some(l) = list.as_mut() {
                l.truncate(budget);
                budget -= l.len();
                if l.is_empty() {
                    *list = None;
                }
            }
        }
    }
    subsets.retain(|s| s.addresses.is_some() || s.not_ready_addresses.is_some());
    (subsets, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ip: &str, ready: bool, port: i32) -> Arc<CachedPod> {
        Arc::new(serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": name, "labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        })).unwrap())
    }

    fn svc(extra: serde_json::Value) -> Service {
        let mut v = json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": {"selector": {"app": "a"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}});
        if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ready_and_not_ready_pods_split_and_named_ports_group() {
        let pods = [pod("a", "10.0.0.2", true, 8080), pod("b", "10.0.0.1", false, 8080), pod("c", "10.0.0.3", true, 9090)];
        let subsets = desired_subsets(&svc(json!({})), &pods);
        assert_eq!(subsets.len(), 2, "{subsets:?}");
        let s8080 = subsets.iter().find(|s| s.ports.as_ref().unwrap()[0].port == 8080).unwrap();
        assert_eq!(s8080.addresses.as_ref().unwrap()[0].ip, "10.0.0.2");
        assert_eq!(s8080.not_ready_addresses.as_ref().unwrap()[0].ip, "10.0.0.1");
        let s9090 = subsets.iter().find(|s| s.ports.as_ref().unwrap()[0].port == 9090).unwrap();
        assert_eq!(s9090.addresses.as_ref().unwrap()[0].ip, "10.0.0.3");
        assert_eq!(s9090.ports.as_ref().unwrap()[0].name.as_deref(), Some("web"));
    }

    #[test]
    fn more_than_max_capacity_addresses_are_truncated_ready_first() {
        let pods: Vec<_> = (0..5).map(|i| pod(&format!("p{i}"), &format!("10.0.0.{i}"), i % 2 == 0, 8080)).collect();
        let (subsets, truncated) = truncate(desired_subsets(&svc(json!({})), &pods), 3);
        assert!(truncated);
        assert_eq!(subsets[0].addresses.as_ref().unwrap().len(), 3);
        assert!(subsets[0].not_ready_addresses.is_none());
        let (_, truncated) = truncate(desired_subsets(&svc(json!({})), &pods), 5);
        assert!(!truncated);
    }

    #[test]
    fn publish_not_ready_addresses_makes_every_pod_ready() {
        let pods = [pod("b", "10.0.0.1", false, 8080)];
        let subsets = desired_subsets(&svc(json!({"publishNotReadyAddresses": true})), &pods);
        assert_eq!(subsets[0].addresses.as_ref().unwrap().len(), 1);
        assert!(subsets[0].not_ready_addresses.is_none());
    }

    #[test]
    fn headless_service_without_ports_lists_pods() {
        let pods = [pod("a", "10.0.0.2", true, 8080)];
        let s: Service = serde_json::from_value(json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": {"clusterIP": "None", "selector": {"app": "a"}}})).unwrap();
        let subsets = desired_subsets(&s, &pods);
        assert_eq!(subsets.len(), 1);
        assert!(subsets[0].ports.is_none());
    }
}
