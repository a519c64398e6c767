//! Node lifecycle controller (upstream `pkg/controller/nodelifecycle/node_lifecycle_controller.go`
//! and `pkg/controller/tainteviction/taint_eviction.go`): a node whose Lease in
//! `kube-node-lease` (or Ready heartbeat) has not moved for the grace period goes
//! `Ready=Unknown`; nodes that are not ready get the `unreachable`/`not-ready` taints;
//! pods on a node with `NoExecute` taints are deleted once their tolerations run out.

use crate::context::Context;
use crate::error::{is_not_found, retry_soon, Error};
use crate::events::EventRecorder;
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodCondition, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Taint of a node whose Ready condition is Unknown.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Taint of a node whose Ready condition is False.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Conditions the kubelet posts, all set to Unknown when it goes silent.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

struct State {
    ctx: Arc<Context>,
    leases: Store<Lease>,
    /// node name -> (last heartbeat seen, when this controller saw it change)
    seen: Mutex<HashMap<String, (String, Instant)>>,
    node_events: EventRecorder,
    taint_events: EventRecorder,
}

/// Runs the controller until its watches end.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    let client = ctx.client.clone();
    let (leases, writer) = reflector::store();
    let lease_events = watcher(Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    let state = Arc::new(State {
        node_events: ctx.recorder("node-controller"),
        taint_events: ctx.recorder("taint-eviction-controller"),
        ctx,
        leases,
        seen: Mutex::new(HashMap::new()),
    });
    Controller::new(Api::<Node>::all(client), watcher::Config::default())
        .with_config(crate::workers::workers(crate::workers::ONE))
        .watches_stream(lease_events, |lease: Lease| Some(ObjectRef::new(&lease.name_any())))
        .run(reconcile, retry_soon, state)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

async fn reconcile(node: Arc<Node>, state: Arc<State>) -> Result<Action, Error> {
    let name = node.name_any();
    let config = &state.ctx.config;
    let api: Api<Node> = Api::all(state.ctx.client.clone());
    // The heartbeat: the Lease's renewTime and the Ready condition's lastHeartbeatTime.
    let lease = state.leases.get(&ObjectRef::new(&name).within(LEASE_NAMESPACE));
    let renew = lease.and_then(|l| l.spec.as_ref().and_then(|s| s.renew_time.clone())).map(|t| t.0.to_string()).unwrap_or_default();
    let beat = ready_condition(&node).and_then(|c| c.last_heartbeat_time.clone()).map(|t| t.0.to_string()).unwrap_or_default();
    let signal = format!("{renew}|{beat}");
    let observed = {
        let mut seen = state.seen.lock().unwrap();
        let entry = seen.entry(name.clone()).or_insert_with(|| (signal.clone(), Instant::now()));
        if entry.0 != signal {
            *entry = (signal, Instant::now());
        }
        entry.1
    };
    let mut node = (*node).clone();
    let silent = observed.elapsed() >= config.node_monitor_grace_period;
    let status = ready_condition(&node).map(|c| c.status.clone()).unwrap_or_else(|| "Unknown".into());
    if silent && status != "Unknown" {
        let now = Timestamp::now();
        mark_unknown(&mut node, now);
        node.metadata.managed_fields = None;
        node = api.replace_status(&name, &PostParams::default(), &node).await?;
        state.node_events.normal(&node, "NodeNotReady", format!("Node {name} status is now: NodeNotReady"));
        mark_pods_not_ready(&state, &name).await?;
    }
    // Taints follow the Ready condition (upstream `doNoExecuteTaintingPass` + TaintNodesByCondition).
    // A node that never posted a Ready condition gets one (Unknown) only after the grace period.
    let status = ready_condition(&node).map(|c| c.status.clone());
    let current = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let wanted = status.map(|s| desired_taints(&current, &s, Timestamp::now())).unwrap_or_else(|| current.clone());
    if wanted != current {
        let taints = if wanted.is_empty() { serde_json::Value::Null } else { json!(wanted) };
        let patch = json!({"metadata": {"resourceVersion": node.resource_version()}, "spec": {"taints": taints}});
        node = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let mut next = config.node_monitor_period;
    if taints.iter().any(|t| t.effect == "NoExecute") && let Some(wait) = evict_pods(&state, &name, &taints).await? {
        next = next.min(wait);
    }
    Ok(Action::requeue(next))
}

/// Sets every kubelet condition to Unknown (upstream `tryUpdateNodeHealth`).
pub fn mark_unknown(node: &mut Node, now: Timestamp) {
    let status = node.status.get_or_insert_with(Default::default);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    for type_ in KUBELET_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) => {
                if c.status != "Unknown" {
                    c.status = "Unknown".into();
                    c.reason = Some("NodeStatusUnknown".into());
                    c.message = Some("Kubelet stopped posting node status.".into());
                    c.last_transition_time = Some(Time(now));
                }
            }
            None => conditions.push(NodeCondition {
                type_: type_.into(),
                status: "Unknown".into(),
                reason: Some("NodeStatusNeverUpdated".into()),
                message: Some("Kubelet never posted node status.".into()),
                last_transition_time: Some(Time(now)),
                last_heartbeat_time: Some(Time(node.metadata.creation_timestamp.as_ref().map(|t| t.0).unwrap_or(now))),
            }),
        }
    }
}

/// The node's taints given its Ready status: `unreachable` for Unknown, `not-ready` for
/// False (each as NoSchedule and NoExecute), neither for True. Other taints are kept, and
/// taints already present keep their `timeAdded`.
pub fn desired_taints(current: &[Taint], ready: &str, now: Timestamp) -> Vec<Taint> {
    let key = match ready {
        "True" => None,
        "False" => Some(NOT_READY),
        _ => Some(UNREACHABLE),
    };
    let mut out: Vec<Taint> = current.iter().filter(|t| !(t.key == UNREACHABLE || t.key == NOT_READY) || Some(t.key.as_str()) == key).cloned().collect();
    if let Some(key) = key {
        for effect in ["NoSchedule", "NoExecute"] {
            if !out.iter().any(|t| t.key == key && t.effect == effect) {
                let time_added = (effect == "NoExecute").then_some(Time(now));
                out.push(Taint { key: key.into(), effect: effect.into(), value: None, time_added });
            }
        }
    }
    out
}

/// Upstream `MarkPodsNotReady`: the pods of a silent node are no longer Ready.
async fn mark_pods_not_ready(state: &State, node: &str) -> Result<(), Error> {
    let api: Api<Pod> = Api::all(state.ctx.client.clone());
    for pod in api.list(&ListParams::default().fields(&format!("spec.nodeName={node}"))).await?.items {
        let mut pod = pod;
        let Some(status) = pod.status.as_mut() else { continue };
        let mut changed = false;
        for c in status.conditions.iter_mut().flatten() {
            if c.type_ == "Ready" && c.status != "False" {
                c.status = "False".into();
                c.last_transition_time = Some(Time(Timestamp::now()));
                changed = true;
            }
        }
        if !changed {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(state.ctx.client.clone(), &ns);
        pod.metadata.managed_fields = None;
        match pods.replace_status(&pod.name_any(), &PostParams::default(), &pod).await {
            Ok(p) => state.node_events.warning(&p, "NodeNotReady", "Node is not ready".into()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// When a pod must leave a node with these NoExecute taints: `None` never, otherwise the
/// time after the taint was added (upstream `getMinTolerationTime`).
pub fn eviction_delay(taints: &[Taint], tolerations: &[Toleration]) -> Option<Duration> {
    let mut min: Option<Option<i64>> = None; // Some(None) = tolerated forever
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let matching: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(Duration::ZERO);
        }
        for t in matching {
            let secs = t.toleration_seconds;
            min = Some(match (min, secs) {
                (None, s) => s,
                (Some(None), s) => s,
                (Some(Some(m)), Some(s)) => Some(m.min(s)),
                (Some(Some(m)), None) => Some(m),
            });
        }
    }
    match min {
        None | Some(None) => None,
        Some(Some(s)) => Some(Duration::from_secs(s.max(0) as u64)),
    }
}

/// Upstream `Toleration.ToleratesTaint`.
fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        _ => !key.is_empty() && t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default(),
    }
}

/// Deletes the pods whose tolerations ran out; returns when to look again.
async fn evict_pods(state: &State, node: &str, taints: &[Taint]) -> Result<Option<Duration>, Error> {
    let added = taints
        .iter()
        .filter(|t| t.effect == "NoExecute")
        .filter_map(|t| t.time_added.as_ref().map(|t| t.0))
        .max()
        .unwrap_or_else(Timestamp::now);
    let since = Timestamp::now().duration_since(added).unsigned_abs();
    let api: Api<Pod> = Api::all(state.ctx.client.clone());
    let mut next: Option<Duration> = None;
    for pod in api.list(&ListParams::default().fields(&format!("spec.nodeName={node}"))).await?.items {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
        let Some(delay) = eviction_delay(taints, &tolerations) else { continue };
        if delay > since {
            let wait = delay - since;
            next = Some(next.map_or(wait, |n| n.min(wait)));
            continue;
        }
        evict(state, &pod).await?;
    }
    Ok(next)
}

/// Upstream taint eviction: a `DisruptionTarget` condition, an event, then the delete.
async fn evict(state: &State, pod: &Pod) -> Result<(), Error> {
    let (ns, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
    let api: Api<Pod> = Api::namespaced(state.ctx.client.clone(), &ns);
    state.taint_events.normal(pod, "TaintManagerEviction", format!("Marking for deletion Pod {ns}/{name}"));
    let mut updated = pod.clone();
    if let Some(status) = updated.status.as_mut() {
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        conditions.retain(|c| c.type_ != "DisruptionTarget");
        conditions.push(PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            reason: Some("DeletionByTaintManager".into()),
            message: Some("Taint manager: deleting due to NoExecute taint".into()),
            last_transition_time: Some(Time(Timestamp::now())),
            ..Default::default()
        });
        updated.metadata.managed_fields = None;
        if let Err(e) = api.replace_status(&name, &PostParams::default(), &updated).await
            && !is_not_found(&e)
        {
            return Err(e.into());
        }
    }
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(key: &str, effect: &str) -> Taint {
        Taint { key: key.into(), effect: effect.into(), value: None, time_added: None }
    }

    fn tol(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn taints_follow_ready_status() {
        let now = Timestamp::now();
        let custom = taint("example.com/x", "NoSchedule");
        let unknown = desired_taints(std::slice::from_ref(&custom), "Unknown", now);
        assert_eq!(unknown.len(), 3);
        assert!(unknown.iter().any(|t| t.key == UNREACHABLE && t.effect == "NoExecute" && t.time_added.is_some()));
        let not_ready = desired_taints(&unknown, "False", now);
        assert!(not_ready.iter().all(|t| t.key != UNREACHABLE));
        assert!(not_ready.iter().any(|t| t.key == NOT_READY && t.effect == "NoExecute"));
        assert_eq!(desired_taints(&not_ready, "True", now), vec![custom]);
        // Already tainted: unchanged (timeAdded kept).
        assert_eq!(desired_taints(&unknown, "Unknown", Timestamp::now()), unknown);
    }

    #[test]
    fn eviction_waits_for_the_shortest_matching_toleration() {
        let taints = [taint(UNREACHABLE, "NoExecute")];
        assert_eq!(eviction_delay(&taints, &[]), Some(Duration::ZERO));
        let default = tol(json!({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        assert_eq!(eviction_delay(&taints, std::slice::from_ref(&default)), Some(Duration::from_secs(300)));
        let short = tol(json!({"operator": "Exists", "tolerationSeconds": 5}));
        assert_eq!(eviction_delay(&taints, &[default, short]), Some(Duration::from_secs(5)));
        let forever = tol(json!({"key": UNREACHABLE, "operator": "Exists"}));
        assert_eq!(eviction_delay(&taints, &[forever]), None);
        let other = tol(json!({"key": NOT_READY, "operator": "Exists"}));
        assert_eq!(eviction_delay(&taints, &[other]), Some(Duration::ZERO));
    }

    #[test]
    fn silent_node_conditions_become_unknown() {
        let mut node: Node = serde_json::from_value(json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})).unwrap();
        mark_unknown(&mut node, Timestamp::now());
        let ready = ready_condition(&node).unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("Unknown", Some("NodeStatusUnknown")));
        assert_eq!(ready.message.as_deref(), Some("Kubelet stopped posting node status."));
        let conds = node.status.unwrap().conditions.unwrap();
        let mem = conds.iter().find(|c| c.type_ == "MemoryPressure").unwrap();
        assert_eq!(mem.reason.as_deref(), Some("NodeStatusNeverUpdated"));
    }
}
