//! InterPodAffinity: required pod affinity and anti-affinity by topology domain, in
//! both directions (upstream `interpodaffinity/filtering.go`).
//!
//! Limitation: a term's `namespaceSelector` is honoured only when empty (all
//! namespaces); a non-empty one would need namespace labels and matches nothing extra.

use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::{Cache, NodeInfo, PodInfo};
use crate::scheduler::selectors::selector_matches;
use k8s_openapi::api::core::v1::PodAffinityTerm;
use std::collections::HashMap;

/// Upstream `ErrReasonAffinityRulesNotMatch`.
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Upstream `ErrReasonAntiAffinityRulesNotMatch`.
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Upstream `ErrReasonExistingAntiAffinityRulesNotMatch`.
pub const REASON_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

type Pair = (String, String);

/// Whether `term` (declared by a pod in `owner_ns`) selects `pod`.
pub fn term_selects(term: &PodAffinityTerm, owner_ns: &str, pod: &PodInfo) -> bool {
    let listed = term.namespaces.as_deref().unwrap_or_default();
    let ns_ok = match (&term.namespace_selector, listed.is_empty()) {
        (Some(sel), _) if sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty()) => true,
        (_, false) => listed.iter().any(|n| n == pod.namespace()),
        (_, true) => pod.namespace() == owner_ns,
    };
    ns_ok && selector_matches(term.label_selector.as_ref(), pod.labels())
}

pub(crate) fn required_terms(pod: &PodInfo, anti: bool) -> &[PodAffinityTerm] {
    let affinity = pod.pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
    let terms = if anti {
        affinity.and_then(|a| a.pod_anti_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_deref())
    } else {
        affinity.and_then(|a| a.pod_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_deref())
    };
    terms.unwrap_or_default()
}

/// Counts per topology pair, computed once per attempt.
#[derive(Debug, Default)]
pub struct State {
    /// Pairs where pods matching all of the incoming pod's affinity terms run.
    affinity: HashMap<Pair, i64>,
    /// Pairs where pods matching one of the incoming pod's anti-affinity terms run.
    anti_affinity: HashMap<Pair, i64>,
    /// Pairs where a placed pod's anti-affinity term selects the incoming pod.
    existing_anti_affinity: HashMap<Pair, i64>,
}

impl State {
    /// Walks the placed pods once.
    pub fn new(pod: &PodInfo, cache: &Cache) -> Self {
        let affinity_terms = required_terms(pod, false);
        let anti_terms = required_terms(pod, true);
        let mut state = State::default();
        // Nothing to count: the pod has no terms and no placed pod has anti-affinity.
        if affinity_terms.is_empty() && anti_terms.is_empty() && cache.placed_with_anti_affinity() == 0 {
            return state;
        }
        for (node, placed) in cache.placed_pods() {
            let labels = node.labels();
            let bump = |map: &mut HashMap<Pair, i64>, key: &str| {
                if let Some(value) = labels.get(key) {
                    *map.entry((key.to_string(), value.clone())).or_default() += 1;
                }
            };
            if !affinity_terms.is_empty() && affinity_terms.iter().all(|t| term_selects(t, pod.namespace(), placed)) {
                for t in affinity_terms {
                    bump(&mut state.affinity, &t.topology_key);
                }
            }
            for t in anti_terms.iter().filter(|t| term_selects(t, pod.namespace(), placed)) {
                bump(&mut state.anti_affinity, &t.topology_key);
            }
            for t in required_terms(placed, true).iter().filter(|t| term_selects(t, placed.namespace(), pod)) {
                bump(&mut state.existing_anti_affinity, &t.topology_key);
            }
        }
        state
    }
}

fn present(map: &HashMap<Pair, i64>, key: &str, node: &NodeInfo) -> bool {
    node.labels().get(key).is_some_and(|v| map.get(&(key.to_string(), v.clone())).is_some_and(|n| *n > 0))
}

/// The filter.
pub fn filter(state: &State, pod: &PodInfo, node: &NodeInfo) -> Verdict {
    if !state.existing_anti_affinity.is_empty()
        && node.labels().iter().any(|(k, v)| state.existing_anti_affinity.get(&(k.clone(), v.clone())).is_some_and(|n| *n > 0)) {
        return Err(Rejection::new(Code::Unschedulable, REASON_EXISTING_ANTI_AFFINITY));
    }
    let affinity_terms = required_terms(pod, false);
    if !affinity_terms.is_empty() {
        if !affinity_terms.iter().all(|t| node.labels().contains_key(&t.topology_key)) {
            return Err(Rejection::new(Code::Unresolvable, REASON_AFFINITY));
        }
        let satisfied = affinity_terms.iter().all(|t| present(&state.affinity, &t.topology_key, node));
        // The first pod of a group with affinity to itself may go anywhere.
        let first_of_group = state.affinity.is_empty() && affinity_terms.iter().all(|t| term_selects(t, pod.namespace(), pod));
        if !satisfied && !first_of_group {
            return Err(Rejection::new(Code::Unresolvable, REASON_AFFINITY));
        }
    }
    if required_terms(pod, true).iter().any(|t| present(&state.anti_affinity, &t.topology_key, node)) {
        return Err(Rejection::new(Code::Unschedulable, REASON_ANTI_AFFINITY));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod_with};
    use serde_json::json;

    fn cache() -> Cache {
        let mut cache = Cache::default();
        cache.set_node(node("a1", "4", json!({"zone": "a"})));
        cache.set_node(node("b1", "4", json!({"zone": "b"})));
        cache
    }

    fn term(kind: &str, app: &str) -> serde_json::Value {
        json!({"affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": app}}}]}}})
    }

    #[test]
    fn affinity_follows_matching_pods_and_lets_the_first_one_in() {
        let mut cache = cache();
        let first = pod_with("c1", json!({"app": "cache"}), term("podAffinity", "cache"));
        let state = State::new(&first, &cache);
        assert!(filter(&state, &first, cache.node("a1").unwrap()).is_ok(), "first of its group");
        cache.assume(pod_with("db", json!({"app": "db"}), json!({})), "b1");
        let web = pod_with("w", json!({"app": "web"}), term("podAffinity", "db"));
        let state = State::new(&web, &cache);
        assert_eq!(filter(&state, &web, cache.node("a1").unwrap()).unwrap_err().reasons, [REASON_AFFINITY]);
        assert!(filter(&state, &web, cache.node("b1").unwrap()).is_ok());
    }

    #[test]
    fn anti_affinity_both_ways() {
        let mut cache = cache();
        cache.assume(pod_with("s1", json!({"app": "solo"}), term("podAntiAffinity", "solo")), "a1");
        let second = pod_with("s2", json!({"app": "solo"}), json!({}));
        let state = State::new(&second, &cache);
        assert_eq!(filter(&state, &second, cache.node("a1").unwrap()).unwrap_err().reasons, [REASON_EXISTING_ANTI_AFFINITY]);
        assert!(filter(&state, &second, cache.node("b1").unwrap()).is_ok());
        let avoider = pod_with("x", json!({}), term("podAntiAffinity", "solo"));
        let state = State::new(&avoider, &cache);
        assert_eq!(filter(&state, &avoider, cache.node("a1").unwrap()).unwrap_err().reasons, [REASON_ANTI_AFFINITY]);
    }
}
