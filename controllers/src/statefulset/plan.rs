//! Pure decisions of the StatefulSet controller (upstream `stateful_set_control.go`):
//! pod states, status counts and which pods a rolling update replaces next.

use crate::cached_pod::CachedPod;
use super::identity::pod_revision;
use crate::pods::{self, Availability};
use jiff::Timestamp;

fn phase(pod: &CachedPod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).filter(|p| !p.is_empty())
}

/// The pod exists (upstream `isCreated`: it has a phase; placeholders have none).
pub fn is_created(pod: &CachedPod) -> bool {
    phase(pod).is_some()
}

/// The pod ended (`Failed` or `Succeeded`): it is replaced.
pub fn is_finished(pod: &CachedPod) -> bool {
    matches!(phase(pod), Some("Failed" | "Succeeded"))
}

/// `Pending`.
pub fn is_pending(pod: &CachedPod) -> bool {
    phase(pod) == Some("Pending")
}

/// Being deleted.
pub fn is_terminating(pod: &CachedPod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// `Running` with a true `Ready` condition.
pub fn is_running_and_ready(pod: &CachedPod) -> bool {
    phase(pod) == Some("Running") && pods::is_ready(pod)
}

/// Running and ready for `minReadySeconds`.
pub fn is_running_and_available(pod: &CachedPod, min_ready_seconds: i32, now: Timestamp) -> bool {
    phase(pod) == Some("Running") && pods::availability(pod, min_ready_seconds, now) == Availability::Yes
}

/// Running, ready and not terminating (upstream `isHealthy`).
pub fn is_healthy(pod: &CachedPod) -> bool {
    is_running_and_ready(pod) && !is_terminating(pod)
}

/// Pod counts of `status` (upstream `computeReplicaStatus`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Created pods.
    pub replicas: i32,
    /// Running and ready.
    pub ready: i32,
    /// Running and available.
    pub available: i32,
    /// Created, not terminating, at the current revision.
    pub current: i32,
    /// Created, not terminating, at the update revision.
    pub updated: i32,
}

/// Counts `pods` (placeholders included, they count nowhere).
pub fn count<'a>(pods: impl IntoIterator<Item = &'a CachedPod>, min_ready_seconds: i32, current: &str, update: &str, now: Timestamp) -> Counts {
    let mut c = Counts::default();
    for pod in pods {
        if is_created(pod) {
            c.replicas += 1;
        }
        if is_running_and_ready(pod) {
            c.ready += 1;
            if is_running_and_available(pod, min_ready_seconds, now) {
                c.available += 1;
            }
        }
        if is_created(pod) && !is_terminating(pod) {
            let rev = pod_revision(pod);
            if rev == Some(current) {
                c.current += 1;
            }
            if rev == Some(update) {
                c.updated += 1;
            }
        }
    }
    c
}

/// Indexes of `replicas` (in ordinal order) a RollingUpdate deletes now so they come back
/// at `update` (upstream `updateStatefulSetAfterInvariantEstablished`): with fewer than
/// `max_unavailable` unhealthy replicas, the highest ordinals at or above `partition` that
/// are not at the update revision, up to the allowance.
pub fn rolling_update_victims(replicas: &[CachedPod], update: &str, partition: usize, max_unavailable: usize) -> Vec<usize> {
    let unavailable = replicas.iter().filter(|p| !is_healthy(p)).count();
    if unavailable >= max_unavailable {
        return Vec::new();
    }
    (partition..replicas.len())
        .rev()
        .filter(|&i| is_created(&replicas[i]) && pod_revision(&replicas[i]) != Some(update) && !is_terminating(&replicas[i]))
        .take(max_unavailable - unavailable)
        .collect()
}

/// Whether a pod made at `ordinal` now starts at the current revision rather than the
/// update one (upstream `newVersionedStatefulSetPod`): below the partition of a
/// RollingUpdate, or (without `rollingUpdate`) among the first `currentReplicas`.
pub fn new_pod_at_current(rolling: bool, partition: Option<i32>, current_replicas: i32, start: i32, ordinal: i32) -> bool {
    match partition {
        Some(p) => ordinal < start + p,
        None => rolling && ordinal < start + current_replicas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, rev: &str, phase: &str, ready: bool) -> CachedPod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"controller-revision-hash": rev}},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
        }))
        .unwrap()
    }

    #[test]
    fn counts_by_state_and_revision() {
        let pods = [pod("w-0", "old", "Running", true), pod("w-1", "new", "Running", true), pod("w-2", "new", "Pending", false), CachedPod::default()];
        let c = count(pods.iter(), 0, "old", "new", Timestamp::now());
        assert_eq!(c, Counts { replicas: 3, ready: 2, available: 2, current: 1, updated: 2 });
        // Five seconds after becoming ready, minReadySeconds 10 is not over.
        let soon = Timestamp::from_second(1_577_836_805).unwrap();
        assert_eq!(count(pods.iter(), 10, "old", "new", soon), Counts { available: 0, ..c });
    }

    #[test]
    fn rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
        let all_old: Vec<CachedPod> = (0..4).map(|i| pod(&format!("w-{i}"), "old", "Running", true)).collect();
        assert_eq!(rolling_update_victims(&all_old, "new", 0, 1), [3]);
        assert_eq!(rolling_update_victims(&all_old, "new", 2, 5), [3, 2]);
        assert_eq!(rolling_update_victims(&all_old, "new", 4, 1), Vec::<usize>::new());
        // One replica unhealthy uses up maxUnavailable 1: wait.
        let mut waiting = all_old.clone();
        waiting[3] = pod("w-3", "new", "Pending", false);
        assert_eq!(rolling_update_victims(&waiting, "new", 0, 1), Vec::<usize>::new());
        // With 2 allowed, the next highest old pod goes.
        assert_eq!(rolling_update_victims(&waiting, "new", 0, 2), [2]);
        // Updated pods are skipped.
        let mut mixed = all_old.clone();
        mixed[3] = pod("w-3", "new", "Running", true);
        assert_eq!(rolling_update_victims(&mixed, "new", 0, 1), [2]);
    }

    #[test]
    fn new_pods_below_the_partition_stay_at_the_current_revision() {
        assert!(new_pod_at_current(true, Some(2), 0, 0, 1));
        assert!(!new_pod_at_current(true, Some(2), 0, 0, 2));
        assert!(new_pod_at_current(true, Some(2), 0, 10, 11));
        assert!(!new_pod_at_current(false, None, 3, 0, 0));
        assert!(new_pod_at_current(true, None, 3, 0, 2));
    }
}
