//! NodeName: a pod that names a node fits only there (upstream `nodename`).

use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::{NodeInfo, PodInfo};

/// Upstream `ErrReason`.
pub const REASON: &str = "node(s) didn't match the requested node name";

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Verdict {
    match pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        Some(name) if !name.is_empty() && name != node.name() => Err(Rejection::new(Code::Unresolvable, REASON)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod};
    use serde_json::json;

    #[test]
    fn only_the_named_node_fits() {
        let n1 = NodeInfo::with_node(node("n1", "1", json!({})));
        assert!(filter(&pod("p", json!({})), &n1).is_ok());
        assert!(filter(&pod("p", json!({"nodeName": "n1"})), &n1).is_ok());
        assert_eq!(filter(&pod("p", json!({"nodeName": "n2"})), &n1).unwrap_err().reasons, [REASON]);
    }
}
