//! NodeResourcesFit: the pod's requests fit in allocatable minus what placed pods
//! request (upstream `noderesources/fit.go` `fitsRequest`). A request larger than the
//! whole node is unresolvable: evicting pods would not help.

use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::{NodeInfo, PodInfo};

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Verdict {
    let want = &pod.requests;
    let have = &node.allocatable;
    let used = &node.requested;
    let mut reasons = Vec::new();
    let mut unresolvable = false;
    if node.pods.len() as i64 + 1 > have.pods {
        reasons.push("Too many pods".to_string());
    }
    let mut check = |name: &str, want: i64, have: i64, used: i64| {
        if want > 0 && want > have - used {
            reasons.push(format!("Insufficient {name}"));
            unresolvable |= want > have;
        }
    };
    check("cpu", want.milli_cpu, have.milli_cpu, used.milli_cpu);
    check("memory", want.memory, have.memory, used.memory);
    check("ephemeral-storage", want.ephemeral_storage, have.ephemeral_storage, used.ephemeral_storage);
    for (name, amount) in &want.scalar {
        let cap = have.scalar.get(name).copied().unwrap_or(0);
        check(name, *amount, cap, used.scalar.get(name).copied().unwrap_or(0));
    }
    if reasons.is_empty() {
        return Ok(());
    }
    Err(Rejection { code: if unresolvable { Code::Unresolvable } else { Code::Unschedulable }, reasons })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod};
    use serde_json::json;

    fn cpu(name: &str, amount: &str) -> std::sync::Arc<PodInfo> {
        pod(name, json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": amount}}}]}))
    }

    #[test]
    fn requests_fit_in_what_is_left() {
        let mut n = NodeInfo::with_node(node("n1", "1", json!({})));
        assert!(filter(&cpu("a", "600m"), &n).is_ok());
        n.add_pod(cpu("a", "600m"));
        let err = filter(&cpu("b", "600m"), &n).unwrap_err();
        assert_eq!(err, Rejection::new(Code::Unschedulable, "Insufficient cpu"));
        assert_eq!(filter(&cpu("c", "2"), &n).unwrap_err().code, Code::Unresolvable);
        assert!(filter(&cpu("d", "400m"), &n).is_ok());
        let gpu = pod("g", json!({"containers": [{"name": "c", "resources": {"requests": {"example.com/gpu": "1"}}}]}));
        assert_eq!(filter(&gpu, &n).unwrap_err().reasons, ["Insufficient example.com/gpu"]);
    }

    #[test]
    fn pod_count_is_limited() {
        let mut n = NodeInfo::with_node(serde_json::from_value(json!({
            "metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "1", "pods": "1"}}})).unwrap());
        n.add_pod(cpu("a", "1m"));
        assert_eq!(filter(&cpu("b", "1m"), &n).unwrap_err().reasons, ["Too many pods"]);
    }
}
