//! Pods and pod templates: upstream `pkg/registry/core/pod/strategy.go` and the pod
//! defaults of `pkg/apis/core/v1/defaults.go`, shared by every workload kind.

use crate::registry::strategy::Strategy;

/// Pod strategy.
pub struct Pod;
/// The Pod strategy instance.
pub static POD: Pod = Pod;
impl Strategy for Pod {
    fn has_status(&self) -> bool {
        true
    }
}

/// PodTemplate strategy.
pub struct PodTemplate;
/// The PodTemplate strategy instance.
pub static POD_TEMPLATE: PodTemplate = PodTemplate;
impl Strategy for PodTemplate {}
