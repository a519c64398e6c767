//! NodeAffinity: `spec.nodeSelector` and required node affinity (upstream
//! `nodeaffinity`; the preferred terms are scored in `scores`).

use crate::cached_pod::CachedPod;
use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::{NodeInfo, PodInfo};
use crate::scheduler::selectors::term_matches;
use k8s_openapi::api::core::v1::Affinity;
use std::collections::BTreeMap;

/// Upstream `ErrReasonPod`.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// Whether the node satisfies the pod's selector and required affinity
/// (upstream `GetRequiredNodeAffinity(pod).Match(node)`; also used by topology spread).
pub fn required_matches(pod: &CachedPod, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return true };
    selector_and_affinity_match(spec.node_selector.as_ref(), spec.affinity.as_deref(), node_name, labels)
}

/// [`required_matches`] on the two fields it reads (a pod spec's `nodeSelector` and
/// `affinity`): for a pod template, as the DaemonSet controller has.
pub fn selector_and_affinity_match(node_selector: Option<&BTreeMap<String, String>>, affinity: Option<&Affinity>, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
    if !node_selector.into_iter().flatten().all(|(k, v)| labels.get(k) == Some(v)) {
        return false;
    }
    let required = affinity
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref());
    match required {
        Some(sel) => sel.node_selector_terms.iter().any(|t| term_matches(t, node_name, labels)),
        None => true,
    }
}

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Verdict {
    if required_matches(&pod.pod, node.name(), node.labels()) { Ok(()) } else { Err(Rejection::new(Code::Unresolvable, REASON)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod};
    use serde_json::json;

    #[test]
    fn selector_and_required_affinity() {
        let ssd = NodeInfo::with_node(node("n1", "1", json!({"disk": "ssd", "zone": "a"})));
        let hdd = NodeInfo::with_node(node("n2", "1", json!({"disk": "hdd", "zone": "b"})));
        let by_selector = pod("p", json!({"nodeSelector": {"disk": "ssd"}}));
        assert!(filter(&by_selector, &ssd).is_ok());
        assert_eq!(filter(&by_selector, &hdd).unwrap_err().reasons, [REASON]);
        let by_affinity = pod("p", json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}}}));
        assert!(filter(&by_affinity, &ssd).is_err());
        assert!(filter(&by_affinity, &hdd).is_ok());
    }
}
