//! Per-kind strategies. Each file holds the kinds that share logic; the shared building
//! blocks (pod spec defaults/validation, names, labels, quantities, causes) have their own
//! files and serve every kind that embeds them. This module only names things.

mod autoscaling;
mod batch;
mod causes;
mod cluster;
mod config;
mod controller_revision;
mod cron;
mod daemon_set;
mod deployment;
mod endpoints;
mod events;
mod extra;
mod json;
mod labels;
mod meta_table;
mod misc;
mod names;
mod networking;
mod pod;
mod pod_admission;
mod pod_defaults;
mod pod_printer;
mod pod_qos;
mod pod_validation;
mod quantity;
mod rbac;
mod replica_set;
mod service;
mod stateful_set;
mod storage;
mod workload;

pub use super::strategy::Plain;
pub use autoscaling::*;
pub use batch::*;
pub use cluster::*;
pub use config::*;
pub use controller_revision::*;
pub use daemon_set::*;
pub use deployment::*;
pub use endpoints::*;
pub use events::*;
pub use extra::*;
pub use misc::*;
pub use networking::*;
pub use pod::*;
pub use rbac::*;
pub use replica_set::*;
pub use service::*;
pub use stateful_set::*;
pub use storage::*;

use super::strategy::Strategy;
use workload::containers_cells;

/// A kind with a status subresource and nothing else special.
pub struct StatusOnly;
impl Strategy for StatusOnly {
    fn has_status(&self) -> bool {
        true
    }
}
