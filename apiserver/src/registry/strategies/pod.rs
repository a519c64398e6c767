//! Pods and PodTemplates: upstream `pkg/registry/core/pod/strategy.go` and
//! `pkg/registry/core/podtemplate/strategy.go`. The spec work itself lives in the shared
//! `pod_defaults`, `pod_validation`, `pod_qos` and `pod_printer` modules.

use super::json::{child, items, s};
use super::pod_validation::{RestartRule, validate_pod_spec, validate_template};
use super::{containers_cells, pod_admission, pod_defaults, pod_printer, pod_qos};
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::Column;
use serde_json::{Value, json};

/// Pod strategy.
pub struct Pod;
/// The Pod strategy instance.
pub static POD: Pod = Pod;

const POD_UPDATE_MSG: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// The spec with the fields a pod update may change blanked out.
fn frozen_spec(pod: &Value) -> Value {
    let mut spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    if let Some(map) = spec.as_object_mut() {
        for key in ["activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates"] {
            map.remove(key);
        }
    }
    for key in ["containers", "initContainers"] {
        super::json::each_mut(&mut spec, key, |c| {
            if let Some(m) = c.as_object_mut() {
                m.remove("image");
            }
        });
    }
    spec
}

impl Strategy for Pod {
    fn has_status(&self) -> bool {
        true
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = child(obj, "spec") {
            pod_defaults::default_pod_spec(spec);
            pod_defaults::default_pod_only(spec);
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(spec) = child(obj, "spec") {
            pod_admission::admit_pod_spec(spec);
        }
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let mut status = json!({"phase": "Pending", "qosClass": pod_qos::qos_class(spec)});
        if !items(spec, "schedulingGates").is_empty() {
            status["conditions"] = json!([{
                "type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
            }]);
        }
        obj["status"] = status;
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        validate_pod_spec(obj.get("spec").unwrap_or(&Value::Null), "spec", causes);
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        if frozen_spec(obj) != frozen_spec(old) {
            causes.push(Cause::forbidden("spec", POD_UPDATE_MSG));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &pod_printer::POD_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        pod_printer::pod_row(obj, jiff::Timestamp::now().as_second())
    }
    /// Upstream's `PodToSelectableFields`.
    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let status = obj.get("status").unwrap_or(&Value::Null);
        vec![
            ("spec.nodeName", s(spec, "nodeName").to_string()),
            ("spec.restartPolicy", s(spec, "restartPolicy").to_string()),
            ("spec.schedulerName", s(spec, "schedulerName").to_string()),
            ("spec.serviceAccountName", s(spec, "serviceAccountName").to_string()),
            ("spec.hostNetwork", spec.get("hostNetwork").and_then(Value::as_bool).unwrap_or(false).to_string()),
            ("status.phase", s(status, "phase").to_string()),
            ("status.nominatedNodeName", s(status, "nominatedNodeName").to_string()),
            ("status.podIP", items(status, "podIPs").first().map(|p| s(p, "ip")).unwrap_or("").to_string()),
        ]
    }
}

/// PodTemplate strategy.
pub struct PodTemplate;
/// The PodTemplate strategy instance.
pub static POD_TEMPLATE: PodTemplate = PodTemplate;

static POD_TEMPLATE_COLUMNS: [Column; 3] = [
    Column::new("Containers", "string", "Names of each container in the template."),
    Column::new("Images", "string", "Images referenced by each container in the template."),
    Column::new("Pod Labels", "string", "The labels for the pod template."),
];

impl Strategy for PodTemplate {
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        if let Some(t) = child(obj, "template") {
            pod_defaults::default_template(t);
        }
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        validate_template(obj.get("template").unwrap_or(&Value::Null), "template", RestartRule::Any, causes);
    }
    fn columns(&self) -> &'static [Column] {
        &POD_TEMPLATE_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let t = obj.get("template").unwrap_or(&Value::Null);
        let (names, images) = containers_cells(t);
        vec![names, images, json!(super::labels::format_labels(t.pointer("/metadata/labels")))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(pod: Value) -> Value {
        let mut pod = pod;
        POD.default(&mut pod);
        POD.prepare_for_create(&mut pod);
        pod
    }

    #[test]
    fn create_sets_pending_and_qos() {
        let pod = created(json!({"spec": {"containers": [{"name": "a", "image": "nginx", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}));
        assert_eq!(pod["status"], json!({"phase": "Pending", "qosClass": "Guaranteed"}));
        assert_eq!(pod["spec"]["enableServiceLinks"], true);
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
        let mut causes = Vec::new();
        POD.validate(&pod, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
    }

    #[test]
    fn update_may_change_image_only() {
        let old = created(json!({"spec": {"containers": [{"name": "a", "image": "nginx:1"}]}}));
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        let mut causes = Vec::new();
        POD.validate_update(&new, &old, &mut causes);
        assert!(causes.is_empty());
        new["spec"]["restartPolicy"] = json!("Never");
        POD.validate_update(&new, &old, &mut causes);
        assert_eq!(causes, vec![Cause::forbidden("spec", POD_UPDATE_MSG)]);
    }

    #[test]
    fn selectable_fields() {
        let pod = created(json!({"spec": {"containers": [{"name": "a", "image": "i"}], "nodeName": "n1"}}));
        assert_eq!(POD.field_value(&pod, "spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(POD.field_value(&pod, "status.phase").as_deref(), Some("Pending"));
        assert_eq!(POD.field_value(&pod, "spec.hostNetwork").as_deref(), Some("false"));
        assert_eq!(POD.field_value(&pod, "spec.serviceAccountName").as_deref(), Some("default"));
        assert_eq!(POD.field_value(&pod, "spec.image"), None);
    }
}
