//! StatefulSets (`SetDefaults_StatefulSet`, `ValidateStatefulSet`, `printStatefulSet`).

use super::json::{child, existing, int, s, set_default};
use super::pod_validation::RestartRule;
use super::workload::*;
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

/// StatefulSet strategy.
pub struct StatefulSet;
/// The StatefulSet strategy instance.
pub static STATEFUL_SET: StatefulSet = StatefulSet;

static STATEFUL_SET_COLUMNS: [Column; 4] = [Column::new("Ready", "string", "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES];

const STS_UPDATE_MSG: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

impl Strategy for StatefulSet {
    fn has_status(&self) -> bool {
        true
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        let Some(spec) = default_spec_template(obj) else { return };
        set_default(spec, "podManagementPolicy", json!("OrderedReady"));
        if let Some(us) = child(spec, "updateStrategy") {
            if s(us, "type").is_empty() {
                us["type"] = json!("RollingUpdate");
                child(us, "rollingUpdate");
            }
            if s(us, "type") == "RollingUpdate"
                && let Some(ru) = existing(us, "rollingUpdate")
            {
                set_default(ru, "partition", json!(0));
                set_default(ru, "maxUnavailable", json!(1));
            }
        }
        if let Some(policy) = child(spec, "persistentVolumeClaimRetentionPolicy") {
            set_default(policy, "whenDeleted", json!("Retain"));
            set_default(policy, "whenScaled", json!("Retain"));
        }
        set_default(spec, "replicas", json!(1));
        set_default(spec, "revisionHistoryLimit", json!(10));
        super::json::each_mut(spec, "volumeClaimTemplates", |pvc| {
            if let Some(pvc_spec) = child(pvc, "spec") {
                set_default(pvc_spec, "volumeMode", json!("Filesystem"));
            }
            if let Some(status) = child(pvc, "status") {
                set_default(status, "phase", json!("Pending"));
            }
        });
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"replicas": 0, "availableReplicas": 0});
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = spec_of(obj);
        match s(spec, "podManagementPolicy") {
            "OrderedReady" | "Parallel" => {}
            "" => causes.push(Cause::required("spec.podManagementPolicy")),
            other => causes.push(Cause::not_supported("spec.podManagementPolicy", &json!(other), &["OrderedReady", "Parallel"])),
        }
        let us = spec.get("updateStrategy").unwrap_or(&Value::Null);
        match s(us, "type") {
            "OnDelete" if us.get("rollingUpdate").is_some_and(Value::is_object) => causes.push(Cause::invalid(
                "spec.updateStrategy.rollingUpdate",
                &Value::Null,
                "only allowed for updateStrategy 'RollingUpdate'",
            )),
            "OnDelete" | "RollingUpdate" => {}
            "" => causes.push(Cause::required("spec.updateStrategy")),
            other => causes.push(Cause::not_supported("spec.updateStrategy.type", &json!(other), &["OnDelete", "RollingUpdate"])),
        }
        if let Some(ru) = us.get("rollingUpdate").filter(|v| v.is_object()) {
            nonnegative(ru, "partition", "spec.updateStrategy.rollingUpdate", causes);
        }
        nonnegative(spec, "replicas", "spec", causes);
        nonnegative(spec, "minReadySeconds", "spec", causes);
        validate_selector_and_template(spec, "spec", "statefulset", RestartRule::AlwaysOnly, causes);
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        let frozen = |o: &Value| {
            let mut spec = spec_of(o).clone();
            if let Some(m) = spec.as_object_mut() {
                for key in ["replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"] {
                    m.remove(key);
                }
            }
            spec
        };
        if frozen(obj) != frozen(old) {
            causes.push(Cause::forbidden("spec", STS_UPDATE_MSG));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &STATEFUL_SET_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let (names, images) = template_cells(obj);
        let ready = status_int(obj, "readyReplicas");
        vec![json!(format!("{}/{}", ready, int(spec_of(obj), "replicas").unwrap_or(0))), age(obj), names, images]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let mut sts = json!({"spec": {"template": {"spec": {"containers": []}}}});
        STATEFUL_SET.default(&mut sts);
        assert_eq!(sts["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}}));
        assert_eq!(sts["spec"]["persistentVolumeClaimRetentionPolicy"], json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
        assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(sts["spec"]["replicas"], 1);
    }
}
