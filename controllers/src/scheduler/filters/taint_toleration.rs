//! TaintToleration: a node's `NoSchedule` and `NoExecute` taints must be tolerated
//! (upstream `tainttoleration`; `PreferNoSchedule` only lowers the score, see
//! `scores`).

use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::{NodeInfo, PodInfo};
use crate::scheduler::selectors::tolerated;
use k8s_openapi::api::core::v1::{Taint, Toleration};

/// Upstream's reason since 1.35 (kubernetes#134740 took the taint key and value out
/// of pod statuses; 1.34 and older said `untolerated taint {key: value}`).
pub const REASON: &str = "node(s) had untolerated taint(s)";

/// Whether a taint whose effect `effects` accepts is not tolerated (upstream
/// `FindMatchingUntoleratedTaint`; also the DaemonSet controller's placement test).
pub fn has_untolerated(taints: &[Taint], tolerations: &[Toleration], effects: impl Fn(&str) -> bool) -> bool {
    taints.iter().filter(|t| effects(&t.effect)).any(|t| !tolerated(tolerations, t))
}

/// `NoSchedule` and `NoExecute`: the effects that keep new pods off a node.
pub fn blocks_scheduling(effect: &str) -> bool {
    effect == "NoSchedule" || effect == "NoExecute"
}

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Verdict {
    let taints = node.node.as_ref().and_then(|n| n.spec.as_ref()).and_then(|s| s.taints.as_deref()).unwrap_or_default();
    let tolerations = pod.pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
    if has_untolerated(taints, tolerations, blocks_scheduling) { Err(Rejection::new(Code::Unresolvable, REASON)) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod};
    use serde_json::json;

    #[test]
    fn untolerated_hard_taints_reject() {
        let tainted = |effect: &str| {
            let mut n = node("n1", "1", json!({}));
            n.spec = Some(serde_json::from_value(json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": effect}]})).unwrap());
            NodeInfo::with_node(n)
        };
        assert_eq!(filter(&pod("p", json!({})), &tainted("NoSchedule")).unwrap_err().reasons, [REASON]);
        assert!(filter(&pod("p", json!({})), &tainted("NoExecute")).is_err());
        assert!(filter(&pod("p", json!({})), &tainted("PreferNoSchedule")).is_ok());
        let tolerating = pod("p", json!({"tolerations": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}));
        assert!(filter(&tolerating, &tainted("NoSchedule")).is_ok());
        assert!(filter(&tolerating, &tainted("NoExecute")).is_err());
    }
}
