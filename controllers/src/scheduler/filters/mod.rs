//! Filter plugins: which nodes can run the pod at all (upstream
//! `pkg/scheduler/framework/plugins`, default profile order). Each plugin is a pure
//! function over the pod, one node and, where it needs the whole cluster, what
//! [`Cycle::prepare`] computed once per scheduling attempt.

pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;
pub mod volume_binding;

use super::cache::{Cache, NodeInfo, PodInfo};
use std::sync::Arc;

/// How final a rejection is (upstream status codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Could pass if other pods went away (preemption might help).
    Unschedulable,
    /// Removing pods would not help (`UnschedulableAndUnresolvable`).
    Unresolvable,
}

/// Why a node was rejected: the reasons upstream prints in its histogram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// How final it is.
    pub code: Code,
    /// Reasons, e.g. `Insufficient cpu`.
    pub reasons: Vec<String>,
}

impl Rejection {
    /// One reason.
    pub fn new(code: Code, reason: impl Into<String>) -> Self {
        Rejection { code, reasons: vec![reason.into()] }
    }
}

/// A filter's verdict on one node.
pub type Verdict = Result<(), Rejection>;

/// What the cluster-wide plugins computed for one pod in one scheduling attempt.
pub struct Cycle {
    /// The pod being scheduled.
    pub pod: Arc<PodInfo>,
    /// Topology spread counts.
    pub spread: pod_topology_spread::State,
    /// Inter-pod affinity counts.
    pub affinity: inter_pod_affinity::State,
    /// The node constraints of the pod's bound volumes.
    pub volumes: volume_binding::State,
}

impl Cycle {
    /// Prepares the per-attempt state (upstream PreFilter).
    pub fn prepare(pod: Arc<PodInfo>, cache: &Cache) -> Self {
        let spread = pod_topology_spread::State::new(&pod, cache);
        let affinity = inter_pod_affinity::State::new(&pod, cache);
        Cycle { pod, spread, affinity, volumes: Default::default() }
    }

    /// Runs the filters in upstream's order and stops at the first rejection.
    pub fn filter(&self, node: &NodeInfo) -> Verdict {
        node_unschedulable::filter(&self.pod, node)?;
        node_name::filter(&self.pod, node)?;
        taint_toleration::filter(&self.pod, node)?;
        node_affinity::filter(&self.pod, node)?;
        node_ports::filter(&self.pod, node)?;
        node_resources_fit::filter(&self.pod, node)?;
        volume_binding::filter(&self.volumes, node)?;
        pod_topology_spread::filter(&self.spread, node)?;
        inter_pod_affinity::filter(&self.affinity, &self.pod, node)?;
        Ok(())
    }
}
