//! PodTopologySpread score for `ScheduleAnyway` constraints: fewer matching pods in
//! the node's domain is better, weighted by log(number of domains + 2) like upstream.

use super::MAX;
use crate::scheduler::cache::NodeInfo;
use crate::scheduler::filters::pod_topology_spread::State;

/// Normalised spreading score per node (nodes missing a constraint's key get 0).
pub fn score(state: &State, nodes: &[&NodeInfo]) -> Vec<i64> {
    if state.soft.is_empty() {
        return vec![0; nodes.len()];
    }
    let raw: Vec<Option<f64>> = nodes
        .iter()
        .map(|n| {
            let mut total = 0.0;
            for c in &state.soft {
                let domain = n.labels().get(&c.key)?;
                let weight = ((c.counts.len() + 2) as f64).ln();
                total += c.counts.get(domain).copied().unwrap_or(0) as f64 * weight + (c.max_skew - 1) as f64;
            }
            Some(total)
        })
        .collect();
    let known = raw.iter().flatten();
    let max = known.clone().copied().fold(f64::MIN, f64::max);
    let min = known.copied().fold(f64::MAX, f64::min);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max <= 0.0 => MAX,
            Some(s) => (MAX as f64 * (max + min - s) / max) as i64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod_with};
    use crate::scheduler::cache::Cache;
    use serde_json::json;

    #[test]
    fn emptier_domains_score_higher() {
        let mut cache = Cache::default();
        cache.set_node(node("a1", "4", json!({"zone": "a"})));
        cache.set_node(node("b1", "4", json!({"zone": "b"})));
        let spec = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}}]});
        cache.assume(pod_with("w1", json!({"app": "web"}), spec.clone()), "a1");
        let state = State::new(&pod_with("w2", json!({"app": "web"}), spec), &cache);
        let nodes = [cache.node("a1").unwrap(), cache.node("b1").unwrap()];
        let scores = score(&state, &nodes);
        assert!(scores[1] > scores[0], "{scores:?}");
    }
}
