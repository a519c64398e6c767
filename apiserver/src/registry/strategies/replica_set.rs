//! ReplicaSets and the core ReplicationController, which follows the same rules with a
//! map selector (`pkg/registry/apps/replicaset`, `pkg/registry/core/replicationcontroller`).

use super::json::{child, int, set_default};
use super::labels;
use super::pod_validation::{RestartRule, validate_template};
use super::workload::*;
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

/// ReplicaSet strategy.
pub struct ReplicaSet;
/// The ReplicaSet strategy instance.
pub static REPLICA_SET: ReplicaSet = ReplicaSet;

static REPLICA_SET_COLUMNS: [Column; 7] = [
    Column::new("Desired", "integer", "Replicas is the number of desired pods."),
    Column::new("Current", "integer", "Replicas is the most recently observed number of replicas."),
    Column::new("Ready", "integer", "The number of ready replicas for this replica set."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn replica_counts_row(obj: &Value, selector: String) -> Vec<Value> {
    let (names, images) = template_cells(obj);
    vec![
        json!(int(spec_of(obj), "replicas").unwrap_or(0)),
        status_int(obj, "replicas"),
        status_int(obj, "readyReplicas"),
        age(obj),
        names,
        images,
        json!(selector),
    ]
}

fn status_replicas_field(obj: &Value) -> Vec<(&'static str, String)> {
    vec![("status.replicas", status_int(obj, "replicas").to_string())]
}

impl Strategy for ReplicaSet {
    fn has_status(&self) -> bool {
        true
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = default_spec_template(obj) {
            set_default(spec, "replicas", json!(1));
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"replicas": 0});
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = spec_of(obj);
        nonnegative(spec, "replicas", "spec", causes);
        nonnegative(spec, "minReadySeconds", "spec", causes);
        validate_selector_and_template(spec, "spec", "deployment", RestartRule::AlwaysOnly, causes);
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        immutable_selector(obj, old, causes);
    }
    fn columns(&self) -> &'static [Column] {
        &REPLICA_SET_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        replica_counts_row(obj, labels::format_selector(spec_of(obj).get("selector")))
    }
    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        status_replicas_field(obj)
    }
}

/// ReplicationController strategy (core/v1, ReplicaSet rules with a map selector).
pub struct ReplicationController;
/// The ReplicationController strategy instance.
pub static REPLICATION_CONTROLLER: ReplicationController = ReplicationController;

impl Strategy for ReplicationController {
    fn has_status(&self) -> bool {
        true
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        let template_labels = obj.pointer("/spec/template/metadata/labels").filter(|l| l.is_object()).cloned();
        if let Some(spec) = default_spec_template(obj) {
            set_default(spec, "replicas", json!(1));
            if let Some(tl) = &template_labels
                && super::json::len_of(spec, "selector") == 0
            {
                spec["selector"] = tl.clone();
            }
        }
        if let Some(tl) = template_labels
            && let Some(meta) = child(obj, "metadata")
            && super::json::len_of(meta, "labels") == 0
        {
            meta["labels"] = tl;
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"replicas": 0});
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = spec_of(obj);
        nonnegative(spec, "replicas", "spec", causes);
        nonnegative(spec, "minReadySeconds", "spec", causes);
        let selector = spec.get("selector").filter(|v| v.as_object().is_some_and(|m| !m.is_empty()));
        match selector {
            None => causes.push(Cause::required("spec.selector")),
            Some(sel) => labels::validate_labels(Some(sel), "spec.selector", causes),
        }
        let Some(template) = spec.get("template").filter(|t| t.is_object()) else {
            causes.push(Cause::required("spec.template"));
            return;
        };
        let template_labels = template.pointer("/metadata/labels");
        if let Some(sel) = selector {
            let wanted = json!({ "matchLabels": sel });
            if !labels::selector_matches(&wanted, template_labels) {
                causes.push(template_labels_mismatch("spec", template_labels));
            }
        }
        validate_template(template, "spec.template", RestartRule::AlwaysOnly, causes);
    }
    fn columns(&self) -> &'static [Column] {
        &REPLICA_SET_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        replica_counts_row(obj, labels::format_labels(spec_of(obj).get("selector")))
    }
    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        status_replicas_field(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc_selector_and_labels_come_from_the_template() {
        let mut rc = json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}});
        REPLICATION_CONTROLLER.default(&mut rc);
        assert_eq!(rc["spec"]["selector"], json!({"a": "b"}));
        assert_eq!(rc["metadata"]["labels"], json!({"a": "b"}));
        assert_eq!(rc["spec"]["replicas"], 1);
        assert_eq!(REPLICATION_CONTROLLER.field_value(&rc, "status.replicas").as_deref(), Some("0"));
    }
}
