//! DaemonSets (`SetDefaults_DaemonSet`, `ValidateDaemonSet`, `printDaemonSet`).

use super::json::{child, s, set_default};
use super::labels;
use super::pod_validation::RestartRule;
use super::workload::*;
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

/// DaemonSet strategy.
pub struct DaemonSet;
/// The DaemonSet strategy instance.
pub static DAEMON_SET: DaemonSet = DaemonSet;

static DAEMON_SET_COLUMNS: [Column; 10] = [
    Column::new("Desired", "integer", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
    Column::new("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
    Column::new("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
    Column::new("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    Column::new("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
    Column::new("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

/// The annotation carrying `spec.templateGeneration` of the internal type (upstream
/// `deprecated.daemonset.template.generation`); daemon pods are labelled with it.
const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

fn set_template_generation(obj: &mut Value, generation: i64) {
    let Some(meta) = child(obj, "metadata") else { return };
    let Some(annotations) = child(meta, "annotations") else { return };
    if generation > 0 {
        annotations[TEMPLATE_GENERATION] = json!(generation.to_string());
    } else if let Some(m) = annotations.as_object_mut() {
        m.remove(TEMPLATE_GENERATION);
    }
}

impl Strategy for DaemonSet {
    fn has_status(&self) -> bool {
        true
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        let Some(spec) = default_spec_template(obj) else { return };
        if let Some(us) = child(spec, "updateStrategy") {
            set_default(us, "type", json!("RollingUpdate"));
            if s(us, "type") == "RollingUpdate"
                && let Some(ru) = child(us, "rollingUpdate")
            {
                set_default(ru, "maxUnavailable", json!(1));
                set_default(ru, "maxSurge", json!(0));
            }
        }
        set_default(spec, "revisionHistoryLimit", json!(10));
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0});
        set_template_generation(obj, 1);
    }
    /// Upstream `PrepareForUpdate`: the template generation is the server's, one up when the
    /// template changes.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_generation = old.pointer(&format!("/metadata/annotations/{}", TEMPLATE_GENERATION.replace('/', "~1"))).and_then(Value::as_str).and_then(|g| g.parse().ok()).unwrap_or(0);
        let changed = new.pointer("/spec/template") != old.pointer("/spec/template");
        set_template_generation(new, if changed { old_generation + 1 } else { old_generation });
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = spec_of(obj);
        validate_selector_and_template(spec, "spec", "daemonset", RestartRule::AlwaysOnly, causes);
        let us = spec.get("updateStrategy").unwrap_or(&Value::Null);
        match s(us, "type") {
            "OnDelete" => {}
            "RollingUpdate" => {
                let rp = "spec.updateStrategy.rollingUpdate";
                match us.get("rollingUpdate").filter(|v| v.is_object()) {
                    None => causes.push(Cause::required(rp)),
                    Some(ru) => {
                        validate_int_or_percent(ru, "maxUnavailable", rp, true, causes);
                        validate_int_or_percent(ru, "maxSurge", rp, true, causes);
                        let unavailable = !int_or_percent_is_zero(ru, "maxUnavailable");
                        let surge = !int_or_percent_is_zero(ru, "maxSurge");
                        if unavailable && surge {
                            causes.push(Cause::invalid_raw(format!("{rp}.maxSurge"), &int_or_percent_text(ru, "maxSurge"), "may not be set when maxUnavailable is non-zero"));
                        } else if !unavailable && !surge {
                            causes.push(Cause::required_because(format!("{rp}.maxUnavailable"), "cannot be 0 when maxSurge is 0"));
                        }
                    }
                }
            }
            "" => causes.push(Cause::required("spec.updateStrategy.type")),
            other => causes.push(Cause::not_supported("spec.updateStrategy.type", &json!(other), &["OnDelete", "RollingUpdate"])),
        }
        nonnegative(spec, "minReadySeconds", "spec", causes);
        nonnegative(spec, "revisionHistoryLimit", "spec", causes);
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        immutable_selector(obj, old, causes);
    }
    fn columns(&self) -> &'static [Column] {
        &DAEMON_SET_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let (names, images) = template_cells(obj);
        let node_selector = labels::format_labels(obj.pointer("/spec/template/spec/nodeSelector"));
        vec![
            status_int(obj, "desiredNumberScheduled"),
            status_int(obj, "currentNumberScheduled"),
            status_int(obj, "numberReady"),
            status_int(obj, "updatedNumberScheduled"),
            status_int(obj, "numberAvailable"),
            json!(node_selector),
            age(obj),
            names,
            images,
            json!(labels::format_selector(spec_of(obj).get("selector"))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_rolling_update_rule() {
        let mut ds = json!({"spec": {}});
        DAEMON_SET.default(&mut ds);
        assert_eq!(ds["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}));
        ds["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"] = json!(1);
        let mut causes = Vec::new();
        DAEMON_SET.validate(&ds, &mut causes);
        assert!(causes.iter().any(|c| c.field == "spec.updateStrategy.rollingUpdate.maxSurge" && c.message == "Invalid value: 1: may not be set when maxUnavailable is non-zero"));
    }

    #[test]
    fn template_generation_counts_template_changes() {
        let mut ds = json!({"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"image": "a"}]}}}});
        DAEMON_SET.prepare_for_create(&mut ds);
        assert_eq!(ds["metadata"]["annotations"][TEMPLATE_GENERATION], "1");
        let mut same = ds.clone();
        same["metadata"]["annotations"][TEMPLATE_GENERATION] = json!("7");
        DAEMON_SET.prepare_for_update(&mut same, &ds);
        assert_eq!(same["metadata"]["annotations"][TEMPLATE_GENERATION], "1");
        let mut changed = ds.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("b");
        DAEMON_SET.prepare_for_update(&mut changed, &ds);
        assert_eq!(changed["metadata"]["annotations"][TEMPLATE_GENERATION], "2");
    }
}
