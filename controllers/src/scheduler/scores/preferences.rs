//! Preference scores: TaintToleration (fewer untolerated `PreferNoSchedule` taints is
//! better) and NodeAffinity (sum of matching preferred terms' weights).

use super::normalize;
use crate::scheduler::cache::{NodeInfo, PodInfo};
use crate::scheduler::selectors::{term_matches, tolerated};

/// TaintToleration score, normalised (reverse: fewer taints is better).
pub fn taint_toleration(pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    let tolerations: Vec<_> = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.effect.as_deref().is_none_or(|e| e.is_empty() || e == "PreferNoSchedule"))
        .collect();
    let mut raw: Vec<i64> = nodes
        .iter()
        .map(|n| {
            let taints = n.node.as_ref().and_then(|n| n.spec.as_ref()).and_then(|s| s.taints.as_deref()).unwrap_or_default();
            taints.iter().filter(|t| t.effect == "PreferNoSchedule" && !tolerated(&tolerations, t)).count() as i64
        })
        .collect();
    normalize(&mut raw, true);
    raw
}

/// NodeAffinity score, normalised.
pub fn node_affinity(pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    let preferred = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| na.preferred_during_scheduling_ignored_during_execution.as_deref())
        .unwrap_or_default();
    let mut raw: Vec<i64> = nodes
        .iter()
        .map(|n| preferred.iter().filter(|p| term_matches(&p.preference, n.name(), n.labels())).map(|p| i64::from(p.weight)).sum())
        .collect();
    normalize(&mut raw, false);
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod};
    use serde_json::json;

    #[test]
    fn preferences_order_nodes() {
        let mut soft = node("n1", "1", json!({"zone": "a"}));
        soft.spec = Some(serde_json::from_value(json!({"taints": [{"key": "k", "effect": "PreferNoSchedule"}]})).unwrap());
        let soft = NodeInfo::with_node(soft);
        let clean = NodeInfo::with_node(node("n2", "1", json!({"zone": "b"})));
        assert_eq!(taint_toleration(&pod("p", json!({})), &[&soft, &clean]), [0, 100]);
        let tolerating = pod("p", json!({"tolerations": [{"key": "k", "operator": "Exists"}]}));
        assert_eq!(taint_toleration(&tolerating, &[&soft, &clean]), [100, 100]);
        let prefers_a = pod("p", json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}}}));
        assert_eq!(node_affinity(&prefers_a, &[&soft, &clean]), [100, 0]);
    }
}
