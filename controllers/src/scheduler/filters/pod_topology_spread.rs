//! PodTopologySpread: `DoNotSchedule` constraints keep the skew of matching pods
//! between topology domains within `maxSkew` (upstream `podtopologyspread/filtering.go`);
//! `ScheduleAnyway` constraints only score (`scores::spread`), from the same counts.

use super::node_affinity::required_matches;
use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::{Cache, NodeInfo, PodInfo};
use crate::scheduler::selectors::{selector_matches, tolerated};
use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use std::collections::HashMap;

/// Upstream `ErrReasonConstraintsNotMatch`.
pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
/// Upstream `ErrReasonNodeLabelNotMatch`.
pub const REASON_MISSING_LABEL: &str = "node(s) didn't match pod topology spread constraints (missing required label)";

/// One constraint with its matching-pod count per domain.
#[derive(Debug)]
pub struct Counted {
    /// Node label naming the domain.
    pub key: String,
    /// Allowed skew.
    pub max_skew: i64,
    /// Pods per domain (every eligible node's domain is present, maybe with 0).
    pub counts: HashMap<String, i64>,
    /// `minDomains` (1 when unset).
    pub min_domains: usize,
    /// Whether the incoming pod itself matches the selector.
    pub self_match: bool,
}

impl Counted {
    /// The smallest domain count (0 while there are fewer domains than `minDomains`).
    pub fn min(&self) -> i64 {
        if self.counts.len() < self.min_domains { 0 } else { self.counts.values().copied().min().unwrap_or(0) }
    }
}

/// Counts for the hard and the soft constraints of one pod.
#[derive(Debug, Default)]
pub struct State {
    /// `DoNotSchedule` constraints.
    pub hard: Vec<Counted>,
    /// `ScheduleAnyway` constraints.
    pub soft: Vec<Counted>,
}

/// The constraint's selector with `matchLabelKeys` folded in (upstream does this at
/// pod creation since 1.34; doing it here too is harmless).
fn selector_of(c: &TopologySpreadConstraint, pod: &PodInfo) -> Option<LabelSelector> {
    let mut sel = c.label_selector.clone()?;
    for key in c.match_label_keys.iter().flatten() {
        if let Some(value) = pod.labels().get(key) {
            sel.match_expressions.get_or_insert_with(Vec::new).push(LabelSelectorRequirement {
                key: key.clone(),
                operator: "In".into(),
                values: Some(vec![value.clone()]),
            });
        }
    }
    Some(sel)
}

impl State {
    /// Counts matching pods per domain over the nodes the pod could use.
    pub fn new(pod: &PodInfo, cache: &Cache) -> Self {
        let constraints = pod.pod.spec.as_ref().and_then(|s| s.topology_spread_constraints.as_deref()).unwrap_or_default();
        if constraints.is_empty() {
            return State::default();
        }
        let tolerations = pod.pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
        let mut state = State::default();
        for c in constraints {
            let selector = selector_of(c, pod);
            let honor_affinity = c.node_affinity_policy.as_deref() != Some("Ignore");
            let honor_taints = c.node_taints_policy.as_deref() == Some("Honor");
            let mut counts: HashMap<String, i64> = HashMap::new();
            for node in cache.nodes() {
                let labels = node.labels();
                // Upstream counts only nodes carrying every key of the pod's constraints.
                if !constraints.iter().all(|other| labels.contains_key(&other.topology_key)) {
                    continue;
                }
                if honor_affinity && !required_matches(&pod.pod, node.name(), labels) {
                    continue;
                }
                if honor_taints {
                    let taints = node.node.as_ref().and_then(|n| n.spec.as_ref()).and_then(|s| s.taints.as_deref()).unwrap_or_default();
                    if taints.iter().filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute").any(|t| !tolerated(tolerations, t)) {
                        continue;
                    }
                }
                let matching = node
                    .pods
                    .values()
                    .filter(|p| p.namespace() == pod.namespace() && p.pod.metadata.deletion_timestamp.is_none())
                    .filter(|p| selector_matches(selector.as_ref(), p.labels()))
                    .count() as i64;
                *counts.entry(labels[&c.topology_key].clone()).or_default() += matching;
            }
            let counted = Counted {
                key: c.topology_key.clone(),
                max_skew: i64::from(c.max_skew),
                counts,
                min_domains: c.min_domains.map_or(1, |m| m.max(1) as usize),
                self_match: selector_matches(selector.as_ref(), pod.labels()),
            };
            if c.when_unsatisfiable == "DoNotSchedule" {
                state.hard.push(counted);
            } else {
                state.soft.push(counted);
            }
        }
        state
    }
}

/// The filter.
pub fn filter(state: &State, node: &NodeInfo) -> Verdict {
    let labels = node.labels();
    for c in &state.hard {
        let Some(domain) = labels.get(&c.key) else {
            return Err(Rejection::new(Code::Unresolvable, REASON_MISSING_LABEL));
        };
        let count = c.counts.get(domain).copied().unwrap_or(0);
        if count + i64::from(c.self_match) - c.min() > c.max_skew {
            return Err(Rejection::new(Code::Unschedulable, REASON));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod_with};
    use serde_json::json;

    #[test]
    fn hard_constraints_keep_the_skew() {
        let mut cache = Cache::default();
        cache.set_node(node("a1", "4", json!({"zone": "a"})));
        cache.set_node(node("b1", "4", json!({"zone": "b"})));
        cache.set_node(node("x", "4", json!({})));
        let spec = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]});
        cache.assume(pod_with("w1", json!({"app": "web"}), spec.clone()), "a1");
        let incoming = pod_with("w2", json!({"app": "web"}), spec);
        let state = State::new(&incoming, &cache);
        assert_eq!(filter(&state, cache.node("a1").unwrap()), Err(Rejection::new(Code::Unschedulable, REASON)));
        assert!(filter(&state, cache.node("b1").unwrap()).is_ok());
        assert_eq!(filter(&state, cache.node("x").unwrap()).unwrap_err().reasons, [REASON_MISSING_LABEL]);
        // Other apps do not count.
        let other = pod_with("o", json!({"app": "other"}), json!({}));
        cache.assume(other, "b1");
        assert!(filter(&State::new(&incoming, &cache), cache.node("b1").unwrap()).is_ok());
    }
}
