//! ControllerRevisions (`pkg/registry/apps/controllerrevision`, `printControllerRevision`).

use super::json::{int, s};
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

/// ControllerRevision strategy.
pub struct ControllerRevision;
/// The ControllerRevision strategy instance.
pub static CONTROLLER_REVISION: ControllerRevision = ControllerRevision;

static CONTROLLER_REVISION_COLUMNS: [Column; 3] = [
    Column::new("Controller", "string", "Controller of the object"),
    Column::new("Revision", "string", "Revision indicates the revision of the state represented by Data."),
    AGE,
];

impl Strategy for ControllerRevision {
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        if let Some(r) = int(obj, "revision").filter(|r| *r < 0) {
            causes.push(Cause::invalid("revision", &json!(r), "must be greater than or equal to 0"));
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        if obj.get("data") != old.get("data") {
            causes.push(Cause::invalid_raw("data", "runtime.RawExtension{...}", "field is immutable"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &CONTROLLER_REVISION_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let owner = super::json::items(obj.get("metadata").unwrap_or(&Value::Null), "ownerReferences")
            .iter()
            .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true));
        let controller = match owner {
            None => "<none>".to_string(),
            Some(r) => {
                let group = s(r, "apiVersion").rsplit_once('/').map(|(g, _)| g).unwrap_or("");
                let kind = s(r, "kind").to_ascii_lowercase();
                let gk = if group.is_empty() { kind } else { format!("{kind}.{group}") };
                format!("{gk}/{}", s(r, "name"))
            }
        };
        vec![json!(controller), json!(int(obj, "revision").unwrap_or(0)), age(obj)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_cell() {
        let cr = json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd", "controller": true}]}, "revision": 3});
        assert_eq!(CONTROLLER_REVISION.row(&cr)[..2], [json!("daemonset.apps/fluentd"), json!(3)]);
    }
}
