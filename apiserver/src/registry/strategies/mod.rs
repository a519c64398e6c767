//! Per-kind strategies. Each file holds the kinds that share logic; the shared building
//! blocks (pod spec defaults/validation, names, labels, quantities, causes) have their own
//! files and serve every kind that embeds them. This module only names things.
//!
//! [`names`], [`labels`] and [`quantity`] are public so the store and other modules reuse
//! the same name formats, selector logic and quantity handling instead of copying them.

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
pub mod labels;
mod meta_table;
mod misc;
pub mod names;
mod networking;
mod pod;
mod pod_admission;
mod pod_defaults;
pub(crate) mod pod_printer;
mod pod_qos;
mod pod_validation;
pub mod quantity;
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

#[cfg(test)]
mod tests {
    use crate::registry::kinds::KINDS;
    use crate::registry::table::{cells_for, definitions_for};
    use serde_json::json;

    /// Every served kind: hooks never panic on sparse objects, and each row has exactly as
    /// many cells as the kind has columns (what kubectl relies on to line them up).
    #[test]
    fn every_kind_rows_match_columns() {
        for kind in KINDS.iter() {
            let s = kind.strategy;
            for sample in [json!({}), json!({"metadata": {"name": "x", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {}, "status": {}})] {
                let mut obj = sample.clone();
                s.default(&mut obj);
                s.prepare_for_create(&mut obj);
                let mut causes = Vec::new();
                s.validate(&obj, &mut causes);
                s.validate_update(&obj, &obj, &mut causes);
                let mut updated = obj.clone();
                s.prepare_for_update(&mut updated, &obj);
                assert_eq!(definitions_for(s).len(), cells_for(s, &obj).len(), "{}", kind.kind);
                assert_eq!(s.columns().len() + usize::from(!s.includes_name_column()), cells_for(s, &obj).len(), "{}", kind.kind);
            }
        }
    }
}
