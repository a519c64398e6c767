//! TaintToleration: a node's `NoSchedule` and `NoExecute` taints must be tolerated
//! (upstream `tainttoleration`; `PreferNoSchedule` only lowers the score, see
//! `scores`).

use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::{NodeInfo, PodInfo};
use crate::scheduler::selectors::tolerated;

/// Upstream's reason since 1.35 (kubernetes#134740 took the taint key and value out
/// of pod statuses; 1.34 and older said `untolerated taint {key: value}`).
pub const REASON: &str = "node(s) had untolerated taint(s)";

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Verdict {
    let taints = node.node.as_ref().and_then(|n| n.spec.as_ref()).and_then(|s| s.taints.as_deref()).unwrap_or_default();
    let tolerations = pod.pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
    let untolerated = taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .any(|t| !tolerated(tolerations, t));
    if untolerated { Err(Rejection::new(Code::Unresolvable, REASON)) } else { Ok(()) }
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
