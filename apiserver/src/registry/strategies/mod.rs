//! Per-kind strategies. Each file holds the kinds that share logic; the shared building
//! blocks (pod spec defaults/validation, names, labels, quantities, causes) have their own
//! files and serve every kind that embeds them. This module only names things.

mod apps;
mod batch;
mod causes;
mod cluster;
mod config;
mod cron;
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
mod service;
mod storage;
mod workload;

pub use super::strategy::Plain;
pub use apps::*;
pub use batch::*;
pub use cluster::*;
pub use config::*;
pub use extra::*;
pub use misc::*;
pub use networking::*;
pub use pod::*;
pub use rbac::*;
pub use service::*;
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
