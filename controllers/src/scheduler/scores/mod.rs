//! Score plugins: which feasible node is best (upstream default profile and weights:
//! NodeResourcesFit 1, NodeResourcesBalancedAllocation 1, TaintToleration 3,
//! NodeAffinity 2, PodTopologySpread 2). Each plugin scores every node, is normalised
//! to 0..=100 and weighted; the highest sum wins.

pub mod preferences;
pub mod resources;
pub mod spread;

use super::cache::NodeInfo;
use super::filters::Cycle;

/// Upstream `MaxNodeScore`.
pub const MAX: i64 = 100;

/// Scales raw scores to 0..=MAX by the largest one (upstream `DefaultNormalizeScore`);
/// `reverse` makes the smallest raw score the best.
pub fn normalize(raw: &mut [i64], reverse: bool) {
    let max = raw.iter().copied().max().unwrap_or(0);
    for s in raw.iter_mut() {
        *s = match (max, reverse) {
            (0, true) => MAX,
            (0, false) => 0,
            (m, false) => MAX * *s / m,
            (m, true) => MAX - MAX * *s / m,
        };
    }
}

/// The weighted total score of each node, in the order given.
pub fn score(cycle: &Cycle, nodes: &[&NodeInfo]) -> Vec<i64> {
    let mut total: Vec<i64> = nodes.iter().map(|n| resources::least_allocated(&cycle.pod, n) + resources::balanced(&cycle.pod, n)).collect();
    let mut add = |weight: i64, scores: Vec<i64>| {
        for (t, s) in total.iter_mut().zip(scores) {
            *t += weight * s;
        }
    };
    add(3, preferences::taint_toleration(&cycle.pod, nodes));
    add(2, preferences::node_affinity(&cycle.pod, nodes));
    add(2, spread::score(&cycle.spread, nodes));
    total
}
