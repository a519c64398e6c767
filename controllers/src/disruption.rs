//! Disruption controller (upstream `pkg/controller/disruption/disruption.go`): keeps each
//! PodDisruptionBudget's status — expectedPods, desiredHealthy, currentHealthy,
//! disruptionsAllowed, the `DisruptionAllowed` condition and observedGeneration.

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::{is_not_found, retry_soon, Error};
use crate::events::EventRecorder;
use crate::scheduler::selectors::selector_matches;
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

struct State {
    ctx: Arc<Context>,
    pods: Store<CachedPod>,
    events: EventRecorder,
}

/// Runs the controller until its watches end.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    ctx.wait_for_sync().await;
    let client = ctx.client.clone();
    let (pods, pod_events) = (ctx.pods.store(), ctx.pods.subscribe());
    let controller = Controller::new(Api::<PodDisruptionBudget>::all(client), watcher::Config::default()).with_config(crate::workers::workers(crate::workers::ONE));
    let budgets = controller.store();
    let state = Arc::new(State { events: ctx.recorder("controllermanager"), ctx, pods });
    controller
        .watches_shared_stream(pod_events, move |pod: Arc<CachedPod>| {
            let ns = pod.namespace();
            budgets
                .state_filter(|b| b.namespace() == ns && b.spec.as_ref().and_then(|s| s.selector.as_ref()).is_some_and(|s| selector_matches(Some(s), pod.labels())))
                .into_iter()
                .map(|b| ObjectRef::from_obj(&*b))
                .collect::<Vec<_>>()
        })
        .run(reconcile, retry_soon, state)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// Upstream `DeletionTimeout`: how long an eviction the API server granted (recorded
/// in `status.disruptedPods`) may take to turn into the pod's deletion.
const DELETION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Upstream `countHealthyPods`: ready, not being deleted, and not just evicted.
fn healthy(pod: &CachedPod, disrupted: &BTreeMap<String, Time>) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && !pod.metadata.name.as_ref().is_some_and(|n| disrupted.contains_key(n))
        && crate::pods::is_ready(pod)
}

/// Upstream `buildDisruptedPodMap`: the evictions still expected to end in a deletion.
/// An entry goes once its pod is being deleted or gone, or after [`DELETION_TIMEOUT`];
/// also returns when the next entry times out, to look again then.
fn pending_evictions(status: Option<&PodDisruptionBudgetStatus>, pods: &[Arc<CachedPod>], now: Timestamp) -> (BTreeMap<String, Time>, Option<Timestamp>) {
    let Some(recorded) = status.and_then(|s| s.disrupted_pods.as_ref()) else { return (BTreeMap::new(), None) };
    let mut pending = BTreeMap::new();
    let mut recheck: Option<Timestamp> = None;
    for pod in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let Some((name, at)) = pod.metadata.name.as_ref().and_then(|n| recorded.get_key_value(n)) else { continue };
        let Ok(expires) = at.0.checked_add(DELETION_TIMEOUT) else { continue };
        if expires > now {
            recheck = Some(recheck.map_or(expires, |r| r.min(expires)));
            pending.insert(name.clone(), at.clone());
        }
    }
    (pending, recheck)
}

/// `intstr.GetScaledValueFromIntOrPercent(v, total, roundUp=true)`.
pub fn scaled(value: &IntOrString, total: i32) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let pct: i64 = s.strip_suffix('%').and_then(|p| p.parse().ok()).ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            Ok(((pct * total as i64) as f64 / 100.0).ceil() as i32)
        }
    }
}

/// The budget arithmetic (upstream `getExpectedPodCount` + `updatePdbStatus`): returns
/// (expectedPods, desiredHealthy). `expected_scale` is the sum of the pods' controllers'
/// replicas, asked for only when the budget needs it.
pub fn expected_and_desired(pdb: &PodDisruptionBudget, pod_count: i32, expected_scale: impl FnOnce() -> Result<i32, String>) -> Result<(i32, i32), String> {
    let spec = pdb.spec.clone().unwrap_or_default();
    if let Some(max_unavailable) = &spec.max_unavailable {
        let expected = expected_scale()?;
        let unavailable = scaled(max_unavailable, expected)?;
        return Ok((expected, (expected - unavailable).max(0)));
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pod_count, *n)),
        Some(pct) => {
            let expected = expected_scale()?;
            Ok((expected, scaled(pct, expected)?))
        }
        None => Ok((pod_count, 0)),
    }
}

/// The status for these numbers, keeping transition times that did not change.
pub fn status_for(
    old: Option<&PodDisruptionBudgetStatus>,
    generation: Option<i64>,
    (current, desired, expected): (i32, i32, i32),
    disrupted: BTreeMap<String, Time>,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let allowed = if expected <= 0 { 0 } else { (current - desired).max(0) };
    let (status, reason) = if allowed > 0 { ("True", "SufficientPods") } else { ("False", "InsufficientPods") };
    let condition = disruption_condition(old, status, reason, "", generation, now);
    PodDisruptionBudgetStatus {
        current_healthy: current,
        desired_healthy: desired,
        disruptions_allowed: allowed,
        expected_pods: expected,
        observed_generation: generation,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        conditions: Some(vec![condition]),
    }
}

fn disruption_condition(old: Option<&PodDisruptionBudgetStatus>, status: &str, reason: &str, message: &str, generation: Option<i64>, now: Timestamp) -> Condition {
    let previous = old.and_then(|o| o.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionAllowed"));
    let since = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Time(now),
    };
    Condition { type_: "DisruptionAllowed".into(), status: status.into(), reason: reason.into(), message: message.into(), last_transition_time: since, observed_generation: generation }
}

async fn reconcile(pdb: Arc<PodDisruptionBudget>, state: Arc<State>) -> Result<Action, Error> {
    if pdb.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = pdb.namespace().unwrap_or_default();
    let selector = pdb.spec.as_ref().and_then(|s| s.selector.clone());
    let pods: Vec<Arc<CachedPod>> = match &selector {
        None => Vec::new(),
        Some(sel) => state.pods.state_filter(|p| p.namespace().as_deref() == Some(ns.as_str()) && selector_matches(Some(sel), p.labels())),
    };
    if pods.is_empty() {
        state.events.normal(pdb.as_ref(), "NoPods", "No matching pods found".into());
    }
    let spec = pdb.spec.clone().unwrap_or_default();
    let needs_scale = spec.max_unavailable.is_some() || matches!(spec.min_available, Some(IntOrString::String(_)));
    let scale = if needs_scale { expected_scale(&state.ctx.client, &ns, &pods).await } else { Ok(0) };
    let generation = pdb.metadata.generation;
    let now = Timestamp::now();
    let (disrupted, recheck) = pending_evictions(pdb.status.as_ref(), &pods, now);
    // Look again when the oldest eviction times out (upstream `enqueuePdbForRecheck`).
    let done = || match recheck {
        Some(at) => Action::requeue(at.duration_since(now).unsigned_abs() + std::time::Duration::from_millis(100)),
        None => Action::await_change(),
    };
    let status = match expected_and_desired(&pdb, pods.len() as i32, || scale) {
        Ok((expected, desired)) => {
            let current = pods.iter().filter(|p| healthy(p, &disrupted)).count() as i32;
            status_for(pdb.status.as_ref(), generation, (current, desired, expected), disrupted, now)
        }
        Err(message) => {
            state.events.warning(pdb.as_ref(), "CalculateExpectedPodCountFailed", format!("Failed to calculate the number of expected pods: {message}"));
            // Upstream `failSafe`: no disruptions while the budget cannot be computed.
            let mut status = pdb.status.clone().unwrap_or_default();
            status.disruptions_allowed = 0;
            status.conditions = Some(vec![disruption_condition(pdb.status.as_ref(), "False", "SyncFailed", &message, generation, now)]);
            status
        }
    };
    if pdb.status.as_ref() == Some(&status) {
        return Ok(done());
    }
    let mut updated = (*pdb).clone();
    updated.status = Some(status);
    updated.metadata.managed_fields = None;
    let api: Api<PodDisruptionBudget> = Api::namespaced(state.ctx.client.clone(), &ns);
    match api.replace_status(&pdb.name_any(), &PostParams::default(), &updated).await {
        Ok(_) => Ok(done()),
        Err(e) if is_not_found(&e) => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}

/// Sum of the replicas of the pods' controllers (upstream finders: a ReplicaSet owned by
/// a Deployment counts as the Deployment, then ReplicationControllers, StatefulSets and
/// anything else through its `scale` subresource's `spec.replicas`).
async fn expected_scale(client: &kube::Client, ns: &str, pods: &[Arc<CachedPod>]) -> Result<i32, String> {
    let mut controllers: HashMap<String, i32> = HashMap::new();
    for pod in pods {
        let Some(owner) = pod.owner_references().iter().find(|o| o.controller == Some(true)) else {
            return Err(format!("found no controller ref for pod {:?}", pod.name_any()));
        };
        let (mut api_version, mut kind, mut name, mut uid) = (owner.api_version.clone(), owner.kind.clone(), owner.name.clone(), owner.uid.clone());
        if controllers.contains_key(&uid) {
            continue;
        }
        let mut object = get(client, ns, &api_version, &kind, &name).await?;
        if kind == "ReplicaSet"
            && let Some(dep) = object.metadata.owner_references.iter().flatten().find(|o| o.controller == Some(true) && o.kind == "Deployment")
        {
            (api_version, kind, name, uid) = (dep.api_version.clone(), dep.kind.clone(), dep.name.clone(), dep.uid.clone());
            if controllers.contains_key(&uid) {
                continue;
            }
            object = get(client, ns, &api_version, &kind, &name).await?;
        }
        let replicas = object.data.pointer("/spec/replicas").and_then(|v| v.as_i64()).unwrap_or(1) as i32;
        controllers.insert(uid, replicas);
    }
    Ok(controllers.values().sum())
}

async fn get(client: &kube::Client, ns: &str, api_version: &str, kind: &str, name: &str) -> Result<DynamicObject, String> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await.map_err(|e| e.to_string())?;
    let ar: ApiResource = resource;
    Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar).get(name).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::collections::BTreeMap;
    use serde_json::json;

    fn pdb(spec: serde_json::Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": "b", "generation": 3}, "spec": spec})).unwrap()
    }

    #[test]
    fn min_available_integer_counts_selected_pods() {
        let b = pdb(json!({"minAvailable": 2}));
        assert_eq!(expected_and_desired(&b, 3, || panic!("no scale needed")), Ok((3, 2)));
        let s = status_for(None, Some(3), (3, 2, 3), BTreeMap::new(), Timestamp::now());
        assert_eq!((s.disruptions_allowed, s.observed_generation), (1, Some(3)));
        assert_eq!(s.conditions.as_ref().unwrap()[0].reason, "SufficientPods");
        let s = status_for(Some(&s), Some(3), (2, 2, 3), BTreeMap::new(), Timestamp::now());
        assert_eq!(s.disruptions_allowed, 0);
        assert_eq!(s.conditions.as_ref().unwrap()[0].reason, "InsufficientPods");
    }

    #[test]
    fn evicted_pods_stop_counting_until_deleted_or_timed_out() {
        let pod = |name: &str, deleting: bool| -> Arc<CachedPod> {
            let mut p: CachedPod = serde_json::from_value(json!({"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})).unwrap();
            if deleting {
                p.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
            }
            Arc::new(p)
        };
        let now = Timestamp::now();
        let recent = Time(now - jiff::SignedDuration::from_secs(10));
        let stale = Time(now - jiff::SignedDuration::from_secs(121));
        let status = PodDisruptionBudgetStatus {
            disrupted_pods: Some(BTreeMap::from([("a".into(), recent.clone()), ("b".into(), stale), ("c".into(), recent.clone()), ("gone".into(), recent)])),
            ..Default::default()
        };
        let pods = [pod("a", false), pod("b", false), pod("c", true), pod("d", false)];
        let (pending, recheck) = pending_evictions(Some(&status), &pods, now);
        assert_eq!(pending.keys().collect::<Vec<_>>(), ["a"], "b timed out, c is being deleted, gone is gone");
        assert!(recheck.is_some_and(|at| at > now));
        let healthy_pods: Vec<_> = pods.iter().filter(|p| healthy(p, &pending)).map(|p| p.name_any()).collect();
        assert_eq!(healthy_pods, ["b", "d"]);
    }

    #[test]
    fn percentages_and_max_unavailable_use_the_controllers_scale() {
        assert_eq!(expected_and_desired(&pdb(json!({"minAvailable": "50%"})), 3, || Ok(5)), Ok((5, 3)));
        assert_eq!(expected_and_desired(&pdb(json!({"maxUnavailable": 1})), 3, || Ok(4)), Ok((4, 3)));
        assert_eq!(expected_and_desired(&pdb(json!({"maxUnavailable": "30%"})), 3, || Ok(10)), Ok((10, 7)));
        assert!(expected_and_desired(&pdb(json!({"maxUnavailable": 1})), 3, || Err("no controller".into())).is_err());
    }

    #[test]
    fn selectors_with_expressions() {
        let sel: LabelSelector = serde_json::from_value(json!({"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]})).unwrap();
        let mut labels = BTreeMap::from([("app".to_string(), "a".to_string())]);
        assert!(!selector_matches(Some(&sel), &labels));
        labels.insert("tier".into(), "web".into());
        assert!(selector_matches(Some(&sel), &labels));
    }
}
