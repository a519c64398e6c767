//! Per-kind strategies. Each file holds the kinds that share logic (the pod template
//! defaults serve every workload kind, for example); this module only names them.

mod cluster;
mod config;
mod misc;
mod pod;
mod rbac;
mod service;
mod workloads;

pub use super::strategy::Plain;
pub use cluster::*;
pub use config::*;
pub use misc::*;
pub use pod::*;
pub use rbac::*;
pub use service::*;
pub use workloads::*;

use super::strategy::Strategy;

/// A kind with a status subresource and nothing else special.
pub struct StatusOnly;
impl Strategy for StatusOnly {
    fn has_status(&self) -> bool {
        true
    }
}
