//! NodeResourcesFit (`LeastAllocated`) and NodeResourcesBalancedAllocation scores
//! over CPU and memory, counting requests with upstream's non-zero defaults.

use super::MAX;
use crate::scheduler::cache::{NodeInfo, PodInfo};

/// Fraction of (cpu, memory) requested once the pod is placed.
fn fractions(pod: &PodInfo, node: &NodeInfo) -> [(i64, i64); 2] {
    let r = &node.non_zero_requested;
    let a = &node.allocatable;
    [(r.milli_cpu + pod.non_zero.milli_cpu, a.milli_cpu), (r.memory + pod.non_zero.memory, a.memory)]
}

/// `LeastAllocated`: the share of CPU and memory left free, averaged (equal weights).
pub fn least_allocated(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let per = fractions(pod, node).map(|(req, cap)| if cap == 0 || req > cap { 0 } else { (cap - req) * MAX / cap });
    per.iter().sum::<i64>() / per.len() as i64
}

/// `BalancedAllocation`: 100 when CPU and memory are equally used (1 - standard deviation).
pub fn balanced(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let [cpu, mem] = fractions(pod, node).map(|(req, cap)| if cap == 0 { 0.0 } else { (req as f64 / cap as f64).min(1.0) });
    let std = (cpu - mem).abs() / 2.0;
    ((1.0 - std) * MAX as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod};
    use serde_json::json;

    #[test]
    fn emptier_and_more_balanced_nodes_score_higher() {
        let req = |cpu: &str, mem: &str| pod("p", json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}));
        let empty = NodeInfo::with_node(node("n1", "4", json!({})));
        let mut busy = NodeInfo::with_node(node("n2", "4", json!({})));
        busy.add_pod(req("3", "1Gi"));
        let p = req("500m", "512Mi");
        assert!(least_allocated(&p, &empty) > least_allocated(&p, &busy));
        assert!(balanced(&p, &empty) > balanced(&p, &busy));
        assert_eq!(least_allocated(&req("4", "8Gi"), &empty), 0);
    }
}
