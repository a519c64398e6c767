//! Pod helpers the workload controllers share (upstream `pkg/controller/controller_utils.go`
//! and `pkg/api/v1/pod/util.go`): activity, readiness, availability, deletion ranking and
//! building a pod from a template.

use jiff::Timestamp;
use crate::cached_pod::CachedPod;
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::cmp::Ordering;
use std::collections::HashMap;

/// Annotation that makes a pod cheaper (lower) or dearer to delete on scale-down.
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Not terminated and not being deleted (upstream `IsPodActive`).
pub fn is_active(pod: &CachedPod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed")) && pod.metadata.deletion_timestamp.is_none()
}

/// Since when the pod's `Ready` condition is true, if it is.
pub fn ready_since(pod: &CachedPod) -> Option<Option<Timestamp>> {
    ready_since_in(pod.status.as_ref()?.conditions.as_deref()?)
}

/// Since when the `Ready` condition among a pod's `conditions` is true, if it is (for
/// pods read in full rather than from the cache).
pub fn ready_since_in(conditions: &[PodCondition]) -> Option<Option<Timestamp>> {
    let cond = conditions.iter().find(|c| c.type_ == "Ready")?;
    (cond.status == "True").then(|| cond.last_transition_time.as_ref().map(|t| t.0))
}

/// Whether the `Ready` condition is true.
pub fn is_ready(pod: &CachedPod) -> bool {
    ready_since(pod).is_some()
}

/// Whether the pod has been ready for at least `min_ready_seconds` at `now`
/// (upstream `IsPodAvailable`), else how long until it will be (None: not ready at all).
pub fn availability(pod: &CachedPod, min_ready_seconds: i32, now: Timestamp) -> Availability {
    match ready_since(pod) {
        None => Availability::No,
        Some(_) if min_ready_seconds <= 0 => Availability::Yes,
        Some(None) => Availability::No,
        Some(Some(since)) => {
            let ready_at = since + jiff::SignedDuration::from_secs(min_ready_seconds.into());
            if ready_at <= now {
                Availability::Yes
            } else {
                Availability::After(now.duration_until(ready_at).unsigned_abs())
            }
        }
    }
}

/// Result of [`availability`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Available now.
    Yes,
    /// Not ready.
    No,
    /// Ready, available after this long (minReadySeconds).
    After(std::time::Duration),
}

fn phase_ordinal(pod: &CachedPod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 3,
    }
}

fn deletion_cost(pod: &CachedPod) -> i32 {
    pod.metadata.annotations.as_ref().and_then(|a| a.get(DELETION_COST)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn max_restarts(pod: &CachedPod) -> i32 {
    pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0)).unwrap_or(0)
}

/// `a` after `b`, where a missing time counts as the newest (upstream `afterOrZero`).
fn newer_first(a: Option<Timestamp>, b: Option<Timestamp>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

/// Orders pods so the ones to delete first come first (upstream `ActivePodsWithRanks.Less`):
/// unscheduled < scheduled; Pending < Unknown < Running; not ready < ready; lower
/// deletion cost; more pods of the owner on the same node; ready more recently; more
/// restarts; created more recently.
pub fn sort_for_deletion(pods: &mut [&CachedPod]) {
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for pod in pods.iter() {
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            *per_node.entry(node).or_default() += 1;
        }
    }
    let rank = |p: &CachedPod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).map(|n| per_node[n]).unwrap_or(0);
    let assigned = |p: &CachedPod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
    pods.sort_by(|a, b| {
        assigned(a)
            .cmp(&assigned(b))
            .then_with(|| phase_ordinal(a).cmp(&phase_ordinal(b)))
            .then_with(|| is_ready(a).cmp(&is_ready(b)))
            .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
            .then_with(|| rank(b).cmp(&rank(a)))
            .then_with(|| match (ready_since(a), ready_since(b)) {
                (Some(ta), Some(tb)) => newer_first(ta, tb),
                _ => Ordering::Equal,
            })
            .then_with(|| max_restarts(b).cmp(&max_restarts(a)))
            .then_with(|| newer_first(a.metadata.creation_timestamp.as_ref().map(|t| t.0), b.metadata.creation_timestamp.as_ref().map(|t| t.0)))
    });
}

/// A pod to create from `template` for `owner` (upstream `GetPodFromTemplate`):
/// `generateName: <owner>-`, the template's labels, annotations, finalizers and spec.
pub fn from_template(template: &PodTemplateSpec, namespace: &str, owner_name: &str, owner: OwnerReference) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name_prefix(owner_name)),
            namespace: Some(namespace.to_string()),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// `<name>-`, shortened so generated names stay valid (upstream `getPodsPrefix`).
fn generate_name_prefix(owner_name: &str) -> String {
    let prefix = format!("{owner_name}-");
    // Names are at most 63 characters; the API server appends 5 random ones.
    if prefix.len() > 58 { prefix[..58].to_string() } else { prefix }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cached_pod::{CachedPodSpec, CachedPodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool, created: i64) -> CachedPod {
        CachedPod {
            metadata: ObjectMeta { name: Some(name.into()), creation_timestamp: Some(Time(Timestamp::from_second(created).unwrap())), ..Default::default() },
            spec: Some(CachedPodSpec { node_name: node.map(Into::into), ..Default::default() }),
            status: Some(CachedPodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition { type_: "Ready".into(), status: if ready { "True" } else { "False" }.into(), ..Default::default() }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn deletion_prefers_unscheduled_pending_unready_newer() {
        let ready_old = pod("ready-old", Some("n"), "Running", true, 100);
        let ready_new = pod("ready-new", Some("n"), "Running", true, 200);
        let unready = pod("unready", Some("n"), "Running", false, 50);
        let pending = pod("pending", Some("n"), "Pending", false, 10);
        let unscheduled = pod("unscheduled", None, "Pending", false, 5);
        let mut pods = vec![&ready_old, &ready_new, &unready, &pending, &unscheduled];
        sort_for_deletion(&mut pods);
        let names: Vec<_> = pods.iter().map(|p| p.metadata.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["unscheduled", "pending", "unready", "ready-new", "ready-old"]);
    }

    #[test]
    fn available_after_min_ready_seconds() {
        let mut p = pod("p", None, "Running", true, 0);
        p.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].last_transition_time = Some(Time(Timestamp::from_second(100).unwrap()));
        assert_eq!(availability(&p, 0, Timestamp::from_second(100).unwrap()), Availability::Yes);
        assert_eq!(availability(&p, 10, Timestamp::from_second(105).unwrap()), Availability::After(std::time::Duration::from_secs(5)));
        assert_eq!(availability(&p, 10, Timestamp::from_second(110).unwrap()), Availability::Yes);
        assert_eq!(availability(&pod("q", None, "Running", false, 0), 0, Timestamp::now()), Availability::No);
    }
}
