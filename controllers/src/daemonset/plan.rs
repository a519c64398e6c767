//! Pure decisions of the DaemonSet controller (upstream `daemon_controller.go`
//! `podsShouldBeOnNode` and `update.go` `rollingUpdate`): which nodes need a pod, which
//! pods go, and how a rolling update trades availability (maxUnavailable) or extra pods
//! (maxSurge) for progress.

use crate::cached_pod::CachedPod;
use kube::ResourceExt;
use std::cmp::Ordering;

/// One node's view: placement verdicts and the daemon pods aimed at it.
pub struct NodePods<'a> {
    /// Node name.
    pub node: String,
    /// Should a new pod start here.
    pub should_run: bool,
    /// May a pod already here keep running.
    pub should_continue: bool,
    /// The DaemonSet's pods for this node.
    pub pods: Vec<&'a CachedPod>,
}

/// What to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Actions {
    /// Nodes that get a new pod.
    pub create_on: Vec<String>,
    /// Pods to delete.
    pub delete: Vec<String>,
    /// Failed pods among `delete` (they get a warning event).
    pub failed: Vec<String>,
}

fn phase(pod: &CachedPod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

/// Running pods first, then oldest first (upstream `podByCreationTimestampAndPhase`).
pub fn oldest_running_first(a: &&CachedPod, b: &&CachedPod) -> Ordering {
    let running = |p: &CachedPod| phase(p) == "Running";
    running(b).cmp(&running(a)).then_with(|| a.metadata.creation_timestamp.as_ref().map(|t| t.0).cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))).then_with(|| a.name_any().cmp(&b.name_any()))
}

/// Upstream `podsShouldBeOnNode` for every node: a node that should run a pod and has none
/// gets one; failed and succeeded pods are deleted (and replaced later); without surge,
/// only the oldest running pod stays; with surge, an old and a new pod may overlap until
/// the new one is available; nodes that may not keep pods lose them.
pub fn manage(nodes: &[NodePods], allow_surge: bool, is_updated: &dyn Fn(&CachedPod) -> bool, is_available: &dyn Fn(&CachedPod) -> bool) -> Actions {
    let mut out = Actions::default();
    for n in nodes {
        let exists = !n.pods.is_empty();
        if n.should_run && !exists {
            out.create_on.push(n.node.clone());
        } else if n.should_continue {
            let mut running = Vec::new();
            for pod in n.pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
                match phase(pod) {
                    "Failed" => {
                        out.delete.push(pod.name_any());
                        out.failed.push(pod.name_any());
                    }
                    "Succeeded" => out.delete.push(pod.name_any()),
                    _ => running.push(*pod),
                }
            }
            running.sort_by(oldest_running_first);
            if !allow_surge {
                out.delete.extend(running.iter().skip(1).map(|p| p.name_any()));
                continue;
            }
            if running.len() <= 1 {
                if running.is_empty() && n.should_run {
                    out.create_on.push(n.node.clone());
                }
                continue;
            }
            // Keep the oldest new and the oldest old pod; the old one goes once it is not
            // ready or the new one is available.
            let (mut oldest_new, mut oldest_old) = (None, None);
            for pod in running {
                let slot = if is_updated(pod) { &mut oldest_new } else { &mut oldest_old };
                if slot.is_none() {
                    *slot = Some(pod);
                } else {
                    out.delete.push(pod.name_any());
                }
            }
            if let (Some(new), Some(old)) = (oldest_new, oldest_old)
                && (!crate::pods::is_ready(old) || is_available(new))
            {
                out.delete.push(old.name_any());
            }
        } else if exists {
            out.delete.extend(n.pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).map(|p| p.name_any()));
        }
    }
    out
}

/// The node's live new and old pod (upstream `findUpdatedPodsOnNode`); None when it has
/// more than one of either (the manage step cleans that up first).
fn updated_and_old<'a>(pods: &[&'a CachedPod], is_updated: &dyn Fn(&CachedPod) -> bool) -> Option<(Option<&'a CachedPod>, Option<&'a CachedPod>)> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let slot = if is_updated(pod) { &mut new } else { &mut old };
        if slot.is_some() {
            return None;
        }
        *slot = Some(*pod);
    }
    Some((new, old))
}

/// Upstream `rollingUpdate`. `nodes` holds every node with daemon pods and every node that
/// should run one; `desired` is the number of the latter.
pub fn rolling_update(nodes: &[NodePods], max_surge: usize, max_unavailable: usize, desired: usize, is_updated: &dyn Fn(&CachedPod) -> bool, is_available: &dyn Fn(&CachedPod) -> bool) -> Actions {
    let mut out = Actions::default();
    if max_surge == 0 {
        // Delete old pods while fewer than maxUnavailable pods are unavailable; the
        // manage step then creates their replacements.
        let mut unavailable = 0;
        let mut replace_now = Vec::new();
        let mut candidates = Vec::new();
        for n in nodes {
            match updated_and_old(&n.pods, is_updated) {
                None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                Some((Some(new), None)) => {
                    if !is_available(new) {
                        unavailable += 1;
                    }
                }
                Some((None, Some(old))) => {
                    if !is_available(old) {
                        replace_now.push(old.name_any());
                        unavailable += 1;
                    } else if unavailable < max_unavailable {
                        candidates.push(old.name_any());
                    }
                }
            }
        }
        let allowance = max_unavailable.saturating_sub(unavailable).min(candidates.len());
        out.delete = replace_now;
        out.delete.extend(candidates.into_iter().take(allowance));
        return out;
    }
    // Surge: start a new pod next to an old one (up to maxSurge at once), delete the old
    // one when the new one is available.
    let mut surging = 0;
    let mut available: usize = 0;
    let mut allowed_new = Vec::new();
    let mut candidate_new = Vec::new();
    let mut should_not_run = Vec::new();
    for n in nodes {
        let Some((new, old)) = updated_and_old(&n.pods, is_updated) else {
            surging += 1;
            continue;
        };
        if old.or(new).is_some_and(is_available) {
            available += 1;
        }
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) => {
                if !is_available(old) {
                    if n.should_run {
                        allowed_new.push(n.node.clone());
                    } else {
                        out.delete.push(old.name_any());
                    }
                } else if !n.should_run {
                    should_not_run.push(old.name_any());
                } else if surging < max_surge {
                    candidate_new.push(n.node.clone());
                }
            }
            (Some(new), Some(old)) => {
                if is_available(new) {
                    out.delete.push(old.name_any());
                } else {
                    surging += 1;
                }
            }
        }
    }
    // Pods on nodes that may no longer run them go only while others keep the set whole.
    let deletable = available.saturating_sub(desired).min(should_not_run.len());
    out.delete.extend(should_not_run.into_iter().take(deletable));
    let allowance = max_surge.saturating_sub(surging).min(candidate_new.len());
    out.create_on = allowed_new;
    out.create_on.extend(candidate_new.into_iter().take(allowance));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, rev: &str, ready: bool) -> CachedPod {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"rev": rev}, "creationTimestamp": "2020-01-01T00:00:00Z"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
        .unwrap()
    }

    fn updated(p: &CachedPod) -> bool {
        p.metadata.labels.as_ref().unwrap()["rev"] == "new"
    }

    fn available(p: &CachedPod) -> bool {
        crate::pods::is_ready(p)
    }

    fn node<'a>(name: &str, pods: Vec<&'a CachedPod>) -> NodePods<'a> {
        NodePods { node: name.into(), should_run: true, should_continue: true, pods }
    }

    #[test]
    fn manage_creates_missing_and_removes_excess_and_misplaced() {
        let (a, b, c) = (pod("a", "old", true), pod("b", "old", true), pod("c", "old", true));
        let mut failed = pod("f", "old", false);
        failed.status.as_mut().unwrap().phase = Some("Failed".into());
        let nodes = vec![
            node("empty", vec![]),
            node("two", vec![&a, &b]),
            node("failed", vec![&failed]),
            NodePods { node: "tainted".into(), should_run: false, should_continue: false, pods: vec![&c] },
            NodePods { node: "no-new".into(), should_run: false, should_continue: true, pods: vec![] },
        ];
        let actions = manage(&nodes, false, &updated, &available);
        assert_eq!(actions.create_on, ["empty"]);
        assert_eq!(actions.delete, ["b", "f", "c"]);
        assert_eq!(actions.failed, ["f"]);
    }

    #[test]
    fn rolling_update_without_surge_respects_max_unavailable() {
        let (a, b, c) = (pod("a", "old", true), pod("b", "old", true), pod("c", "old", true));
        let nodes = vec![node("n1", vec![&a]), node("n2", vec![&b]), node("n3", vec![&c])];
        assert_eq!(rolling_update(&nodes, 0, 1, 3, &updated, &available).delete, ["a"]);
        assert_eq!(rolling_update(&nodes, 0, 2, 3, &updated, &available).delete, ["a", "b"]);
        // n1 is being replaced (no pod yet): that uses up maxUnavailable 1.
        let nodes = vec![node("n1", vec![]), node("n2", vec![&b]), node("n3", vec![&c])];
        assert!(rolling_update(&nodes, 0, 1, 3, &updated, &available).delete.is_empty());
        // A new pod that is not ready yet also counts.
        let fresh = pod("n", "new", false);
        let nodes = vec![node("n1", vec![&fresh]), node("n2", vec![&b])];
        assert!(rolling_update(&nodes, 0, 1, 2, &updated, &available).delete.is_empty());
        // An unavailable old pod is replaced at once.
        let broken = pod("x", "old", false);
        let nodes = vec![node("n1", vec![&broken]), node("n2", vec![&b])];
        assert_eq!(rolling_update(&nodes, 0, 1, 2, &updated, &available).delete, ["x"]);
    }

    #[test]
    fn rolling_update_with_surge_creates_then_deletes() {
        let (a, b) = (pod("a", "old", true), pod("b", "old", true));
        let nodes = vec![node("n1", vec![&a]), node("n2", vec![&b])];
        let actions = rolling_update(&nodes, 1, 0, 2, &updated, &available);
        assert_eq!((actions.create_on, actions.delete), (vec!["n1".to_string()], vec![]));
        let new_ready = pod("a2", "new", true);
        let nodes = vec![node("n1", vec![&a, &new_ready]), node("n2", vec![&b])];
        let actions = rolling_update(&nodes, 1, 0, 2, &updated, &available);
        assert_eq!((actions.create_on, actions.delete), (vec!["n2".to_string()], vec!["a".to_string()]));
        let new_waiting = pod("a2", "new", false);
        let nodes = vec![node("n1", vec![&a, &new_waiting]), node("n2", vec![&b])];
        assert_eq!(rolling_update(&nodes, 1, 0, 2, &updated, &available), Actions::default());
    }
}
