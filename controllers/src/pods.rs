//! Pod helpers the workload controllers share (upstream `pkg/controller/controller_utils.go`
//! and `pkg/api/v1/pod/util.go`): activity, readiness, availability, deletion ranking and
//! building a pod from a template.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::cmp::Ordering;
use std::collections::HashMap;

/// Annotation that makes a pod cheaper (lower) or dearer to delete on scale-down.
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// What the controller manager keeps of each pod in its shared cache (10,000 pods: about
/// half the memory of full pods). Dropped, because no controller reads them: managedFields;
/// of each container everything but its name, image, ports, resources and restartPolicy
/// (env, command, probes, mounts, security context, ...); ephemeral containers; and every
/// volume except persistentVolumeClaim and ephemeral ones (the per-pod service-account
/// token volume alone is ~5 KB in memory). Everything else — metadata, the rest of the
/// spec (node, tolerations, affinity, hostname, ...) and the whole status — is kept. A
/// controller that starts reading a dropped field must keep it here.
pub fn slim_for_controllers(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    let Some(spec) = pod.spec.as_mut() else { return };
    let slim_container = |c: &mut Container| {
        *c = Container {
            name: std::mem::take(&mut c.name),
            image: c.image.take(),
            ports: c.ports.take(),
            resources: c.resources.take(),
            restart_policy: c.restart_policy.take(),
            ..Default::default()
        };
    };
    spec.containers.iter_mut().for_each(slim_container);
    spec.init_containers.iter_mut().flatten().for_each(slim_container);
    spec.ephemeral_containers = None;
    if let Some(volumes) = spec.volumes.as_mut() {
        volumes.retain(|v| v.persistent_volume_claim.is_some() || v.ephemeral.is_some());
        volumes.shrink_to_fit();
    }
}

/// Not terminated and not being deleted (upstream `IsPodActive`).
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed")) && pod.metadata.deletion_timestamp.is_none()
}

/// Since when the pod's `Ready` condition is true, if it is.
pub fn ready_since(pod: &Pod) -> Option<Option<Timestamp>> {
    let cond = pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")?;
    (cond.status == "True").then(|| cond.last_transition_time.as_ref().map(|t| t.0))
}

/// Whether the `Ready` condition is true.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Whether the pod has been ready for at least `min_ready_seconds` at `now`
/// (upstream `IsPodAvailable`), else how long until it will be (None: not ready at all).
pub fn availability(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Availability {
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

fn phase_ordinal(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 3,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata.annotations.as_ref().and_then(|a| a.get(DELETION_COST)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn max_restarts(pod: &Pod) -> i32 {
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
pub fn sort_for_deletion(pods: &mut [&Pod]) {
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for pod in pods.iter() {
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            *per_node.entry(node).or_default() += 1;
        }
    }
    let rank = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).map(|n| per_node[n]).unwrap_or(0);
    let assigned = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
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
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn the_cached_pod_keeps_what_controllers_read() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "labels": {"app": "a"}, "annotations": {DELETION_COST: "3"}, "managedFields": [{"manager": "m"}]},
            "spec": {
                "nodeName": "n1", "tolerations": [{"key": "k", "operator": "Exists"}],
                "containers": [{"name": "c", "image": "i", "env": [{"name": "E", "value": "v"}], "command": ["sh"],
                                "ports": [{"name": "http", "containerPort": 80}], "volumeMounts": [{"name": "token", "mountPath": "/t"}]}],
                "initContainers": [{"name": "sidecar", "image": "i", "restartPolicy": "Always", "args": ["x"]}],
                "volumes": [{"name": "token", "projected": {"sources": []}}, {"name": "data", "persistentVolumeClaim": {"claimName": "d"}}, {"name": "scratch", "ephemeral": {}}]
            },
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 2}]}
        }))
        .unwrap();
        let original = pod.clone();
        slim_for_controllers(&mut pod);
        let spec = pod.spec.as_ref().unwrap();
        let c = &spec.containers[0];
        assert_eq!((c.name.as_str(), c.image.as_deref(), c.ports.as_ref().unwrap()[0].container_port), ("c", Some("i"), 80));
        assert!(c.env.is_none() && c.command.is_none() && c.volume_mounts.is_none());
        let init = &spec.init_containers.as_ref().unwrap()[0];
        assert_eq!((init.restart_policy.as_deref(), init.args.as_ref()), (Some("Always"), None));
        let volumes: Vec<_> = spec.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
        assert_eq!(volumes, ["data", "scratch"]);
        assert_eq!((spec.node_name.as_deref(), spec.tolerations.as_ref().map(Vec::len)), (Some("n1"), Some(1)));
        assert!(pod.metadata.managed_fields.is_none());
        assert_eq!((pod.metadata.labels.as_ref(), pod.metadata.annotations.as_ref()), (original.metadata.labels.as_ref(), original.metadata.annotations.as_ref()));
        assert_eq!(pod.status, original.status);
        assert!(is_ready(&pod));
    }

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool, created: i64) -> Pod {
        Pod {
            metadata: ObjectMeta { name: Some(name.into()), creation_timestamp: Some(Time(Timestamp::from_second(created).unwrap())), ..Default::default() },
            spec: Some(PodSpec { node_name: node.map(Into::into), ..Default::default() }),
            status: Some(PodStatus {
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
