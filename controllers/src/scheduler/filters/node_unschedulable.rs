//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that
//! tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint (upstream
//! `nodeunschedulable`).

use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::{NodeInfo, PodInfo};
use crate::scheduler::selectors::tolerated;
use k8s_openapi::api::core::v1::Taint;

/// Upstream `ErrReasonUnschedulable`.
pub const REASON: &str = "node(s) were unschedulable";

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Verdict {
    let cordoned = node.node.as_ref().and_then(|n| n.spec.as_ref()).and_then(|s| s.unschedulable).unwrap_or(false);
    if !cordoned {
        return Ok(());
    }
    let taint = Taint { key: "node.kubernetes.io/unschedulable".into(), effect: "NoSchedule".into(), ..Default::default() };
    let tolerations = pod.pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
    if tolerated(tolerations, &taint) { Ok(()) } else { Err(Rejection::new(Code::Unresolvable, REASON)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod};
    use serde_json::json;

    #[test]
    fn cordoned_nodes_take_only_tolerating_pods() {
        let mut cordoned = node("n1", "1", json!({}));
        cordoned.spec = Some(k8s_openapi::api::core::v1::NodeSpec { unschedulable: Some(true), ..Default::default() });
        let cordoned = NodeInfo::with_node(cordoned);
        assert_eq!(filter(&pod("p", json!({})), &cordoned).unwrap_err().reasons, [REASON]);
        let tolerating = pod("p", json!({"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}));
        assert!(filter(&tolerating, &cordoned).is_ok());
        assert!(filter(&pod("p", json!({})), &NodeInfo::with_node(node("n2", "1", json!({})))).is_ok());
    }
}
