//! The "why not" message of an unschedulable pod, in upstream's words
//! (`framework.FitError.Error()` plus the PostFilter plugins' messages of the 1.35
//! default profile: DynamicResources, then DefaultPreemption).
//!
//! `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint(s).
//! no new claims to deallocate, preemption: 0/3 nodes are available: 1 No preemption
//! victims found for incoming pod, 2 Preemption is not helpful for scheduling.`
//!
//! This scheduler does not preempt. For each rejected node it says what upstream's
//! preemption would report when it finds no victims; where evicting lower-priority
//! pods would have made room, it says that preemption is not supported here.

use super::cache::{Cache, NodeInfo, PodInfo};
use super::filters::{Code, Cycle, Rejection};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Upstream's reason for nodes where preemption cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Upstream's reason when a node has no lower-priority pods to evict.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// Said where upstream would preempt (this scheduler does not).
pub const NOT_SUPPORTED: &str = "Preemption is not supported by this scheduler";

/// `0/N nodes are available: <histogram>.`
fn fit_error(total: usize, rejections: &[Rejection]) -> String {
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    for r in rejections {
        for reason in &r.reasons {
            *histogram.entry(reason.clone()).or_default() += 1;
        }
    }
    // Upstream sorts the formatted "<count> <reason>" strings.
    let mut parts: Vec<String> = histogram.into_iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    parts.sort();
    let mut msg = format!("0/{total} nodes are available:");
    if !parts.is_empty() {
        msg.push_str(&format!(" {}.", parts.join(", ")));
    }
    msg
}

fn priority(pod: &PodInfo) -> i32 {
    pod.pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// What preemption would find on a node rejected with a resolvable reason.
fn preemption_reason(pod: &Arc<PodInfo>, node: &NodeInfo, cache: &Cache) -> Rejection {
    let lower: Vec<&String> = node.pods.iter().filter(|(_, p)| priority(p) < priority(pod)).map(|(k, _)| k).collect();
    if lower.is_empty() {
        return Rejection::new(Code::Unresolvable, NO_VICTIMS);
    }
    let mut without = NodeInfo { node: node.node.clone(), allocatable: node.allocatable.clone(), ..Default::default() };
    for (key, p) in &node.pods {
        if !lower.contains(&key) {
            without.add_pod(p.clone());
        }
    }
    match Cycle::prepare(pod.clone(), cache).filter(&without) {
        Err(rejection) => rejection,
        Ok(()) => Rejection::new(Code::Unresolvable, NOT_SUPPORTED),
    }
}

/// The full message for a pod no node accepted; `rejections` pairs each node with why.
pub fn unschedulable_message(pod: &Arc<PodInfo>, rejections: &[(&NodeInfo, Rejection)], cache: &Cache) -> String {
    let total = cache.node_count();
    let reasons: Vec<Rejection> = rejections.iter().map(|(_, r)| r.clone()).collect();
    let fit = fit_error(total, &reasons);
    with_post_filter(fit, pod, rejections, cache)
}

/// The message for a pod a PreFilter plugin rejected on every node (upstream puts the
/// plugin's reason where the histogram would be).
pub fn pre_filter_message(pod: &Arc<PodInfo>, reason: &str, cache: &Cache) -> String {
    let rejected: Vec<(&NodeInfo, Rejection)> = cache.nodes().map(|n| (n, Rejection::new(Code::Unresolvable, reason))).collect();
    let fit = format!("0/{} nodes are available: {reason}.", cache.node_count());
    with_post_filter(fit, pod, &rejected, cache)
}

fn with_post_filter(mut msg: String, pod: &Arc<PodInfo>, rejections: &[(&NodeInfo, Rejection)], cache: &Cache) -> String {
    let total = cache.node_count();
    let post_filter = if pod.pod.spec.as_ref().and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        "preemption: not eligible due to preemptionPolicy=Never.".to_string()
    } else {
        let per_node: Vec<Rejection> = rejections
            .iter()
            .map(|(node, r)| match r.code {
                Code::Unresolvable => Rejection::new(Code::Unresolvable, NOT_HELPFUL),
                Code::Unschedulable => preemption_reason(pod, node, cache),
            })
            .collect();
        format!("preemption: {}", fit_error(total, &per_node))
    };
    msg.push_str(&format!(" no new claims to deallocate, {post_filter}"));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod};
    use serde_json::json;

    #[test]
    fn message_matches_upstream_format() {
        let mut cache = Cache::default();
        for name in ["n1", "n2", "n3"] {
            cache.set_node(node(name, "1", json!({})));
        }
        let p = pod("p", json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "2"}}}]}));
        let nodes: Vec<&NodeInfo> = cache.nodes().collect();
        let rejections = vec![
            (nodes[0], Rejection::new(Code::Unresolvable, "Insufficient cpu")),
            (nodes[1], Rejection::new(Code::Unresolvable, "node(s) had untolerated taint(s)")),
            (nodes[2], Rejection::new(Code::Unresolvable, "node(s) had untolerated taint(s)")),
        ];
        assert_eq!(
            unschedulable_message(&p, &rejections, &cache),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint(s). no new claims to deallocate, \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        let resolvable = vec![(nodes[0], Rejection::new(Code::Unschedulable, "Insufficient cpu"))];
        assert!(unschedulable_message(&p, &resolvable, &cache).ends_with("preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod."));
        assert_eq!(fit_error(0, &[]), "0/0 nodes are available:");
        assert_eq!(
            pre_filter_message(&p, "pod has unbound immediate PersistentVolumeClaims", &cache),
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. no new claims to deallocate, \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }
}
