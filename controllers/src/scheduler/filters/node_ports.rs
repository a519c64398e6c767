//! NodePorts: a host port can be used once per node, protocol and IP (upstream
//! `nodeports`; `0.0.0.0` conflicts with every IP).

use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::{NodeInfo, PodInfo};

/// Upstream `ErrReason`.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// The filter.
pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Verdict {
    if pod.host_ports.is_empty() {
        return Ok(());
    }
    let conflict = node.used_ports().any(|used| pod.host_ports.iter().any(|want| want.conflicts(used)));
    if conflict { Err(Rejection::new(Code::Unschedulable, REASON)) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod};
    use serde_json::json;

    fn with_port(name: &str, port: serde_json::Value) -> std::sync::Arc<PodInfo> {
        pod(name, json!({"containers": [{"name": "c", "ports": [port]}]}))
    }

    #[test]
    fn host_ports_conflict_per_protocol_and_ip() {
        let mut n = NodeInfo::with_node(node("n1", "1", json!({})));
        n.add_pod(with_port("a", json!({"containerPort": 80, "hostPort": 8080})));
        assert_eq!(filter(&with_port("b", json!({"containerPort": 80, "hostPort": 8080})), &n).unwrap_err().reasons, [REASON]);
        assert!(filter(&with_port("b", json!({"containerPort": 80, "hostPort": 8080, "protocol": "UDP"})), &n).is_ok());
        assert!(filter(&with_port("b", json!({"containerPort": 80, "hostPort": 8081})), &n).is_ok());
        assert!(filter(&with_port("b", json!({"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"})), &n).is_err());
        assert!(filter(&with_port("b", json!({"containerPort": 80})), &n).is_ok());
    }
}
