//! Deployments (`pkg/apis/apps/v1/defaults.go`, `ValidateDeploymentSpec`, `printDeployment`).

use super::json::{child, int, s, set_default};
use super::labels;
use super::pod_validation::RestartRule;
use super::workload::*;
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

/// Deployment strategy.
pub struct Deployment;
/// The Deployment strategy instance.
pub static DEPLOYMENT: Deployment = Deployment;

static DEPLOYMENT_COLUMNS: [Column; 7] = [
    Column::new("Ready", "string", "Number of the pod with ready state"),
    Column::new("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    Column::new("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

impl Strategy for Deployment {
    fn has_status(&self) -> bool {
        true
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        let Some(spec) = default_spec_template(obj) else { return };
        set_default(spec, "replicas", json!(1));
        if let Some(strategy) = child(spec, "strategy") {
            set_default(strategy, "type", json!("RollingUpdate"));
            if s(strategy, "type") == "RollingUpdate"
                && let Some(ru) = child(strategy, "rollingUpdate")
            {
                set_default(ru, "maxUnavailable", json!("25%"));
                set_default(ru, "maxSurge", json!("25%"));
            }
        }
        set_default(spec, "revisionHistoryLimit", json!(10));
        set_default(spec, "progressDeadlineSeconds", json!(600));
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({});
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = spec_of(obj);
        nonnegative(spec, "replicas", "spec", causes);
        validate_selector_and_template(spec, "spec", "deployment", RestartRule::AlwaysOnly, causes);
        validate_deployment_strategy(spec.get("strategy").unwrap_or(&Value::Null), causes);
        nonnegative(spec, "minReadySeconds", "spec", causes);
        nonnegative(spec, "revisionHistoryLimit", "spec", causes);
        if let Some(pds) = int(spec, "progressDeadlineSeconds") {
            nonnegative(spec, "progressDeadlineSeconds", "spec", causes);
            if pds <= int(spec, "minReadySeconds").unwrap_or(0) {
                causes.push(Cause::invalid("spec.progressDeadlineSeconds", &json!(pds), "must be greater than minReadySeconds"));
            }
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        immutable_selector(obj, old, causes);
    }
    fn columns(&self) -> &'static [Column] {
        &DEPLOYMENT_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = spec_of(obj);
        let ready = status_int(obj, "readyReplicas");
        let (names, images) = template_cells(obj);
        let selector = spec.get("selector").filter(|v| v.is_object()).map(labels::selector_string).unwrap_or_default();
        vec![
            json!(format!("{}/{}", ready, int(spec, "replicas").unwrap_or(0))),
            status_int(obj, "updatedReplicas"),
            status_int(obj, "availableReplicas"),
            age(obj),
            names,
            images,
            json!(selector),
        ]
    }
}

fn validate_deployment_strategy(strategy: &Value, causes: &mut Vec<Cause>) {
    let path = "spec.strategy";
    let rolling = strategy.get("rollingUpdate").filter(|v| v.is_object());
    match s(strategy, "type") {
        "Recreate" => {
            if rolling.is_some() {
                causes.push(Cause::forbidden(format!("{path}.rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"));
            }
        }
        "RollingUpdate" => match rolling {
            None => causes.push(Cause::required_because(format!("{path}.rollingUpdate"), "this should be defaulted and never be nil")),
            Some(ru) => {
                let rp = format!("{path}.rollingUpdate");
                validate_int_or_percent(ru, "maxUnavailable", &rp, false, causes);
                validate_int_or_percent(ru, "maxSurge", &rp, false, causes);
                if int_or_percent_is_zero(ru, "maxUnavailable") && int_or_percent_is_zero(ru, "maxSurge") {
                    causes.push(Cause::invalid_raw(format!("{rp}.maxUnavailable"), &int_or_percent_text(ru, "maxUnavailable"), "may not be 0 when `maxSurge` is 0"));
                }
                let mut more = Vec::new();
                validate_int_or_percent(ru, "maxUnavailable", &rp, true, &mut more);
                causes.extend(more.into_iter().filter(|c| c.message.ends_with("100%")));
            }
        },
        other => {
            let rendered = format!("apps.DeploymentStrategy{{Type:{:?}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}", other);
            let mut c = Cause::not_supported(path, &Value::Null, &["Recreate", "RollingUpdate"]);
            c.message = c.message.replacen("null", &rendered, 1);
            causes.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;


    fn minimal_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}
            }
        })
    }

    #[test]
    fn deployment_defaults_match_a_real_cluster() {
        let mut d = minimal_deployment();
        DEPLOYMENT.default(&mut d);
        DEPLOYMENT.prepare_for_create(&mut d);
        let expected = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "progressDeadlineSeconds": 600,
                "replicas": 1,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "image": "nginx", "imagePullPolicy": "Always", "name": "nginx",
                            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                        }],
                        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                        "securityContext": {}, "terminationGracePeriodSeconds": 30
                    }
                }
            },
            "status": {}
        });
        assert_eq!(d, expected);
        let mut causes = Vec::new();
        DEPLOYMENT.validate(&d, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
    }

    #[test]
    fn deployment_selector_must_match_and_is_immutable() {
        let mut d = minimal_deployment();
        d["spec"]["selector"] = json!({"matchLabels": {"app": "other"}});
        DEPLOYMENT.default(&mut d);
        let mut causes = Vec::new();
        DEPLOYMENT.validate(&d, &mut causes);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.template.metadata.labels");
        let mut old = minimal_deployment();
        DEPLOYMENT.default(&mut old);
        let mut causes = Vec::new();
        let mut new = old.clone();
        new["spec"]["selector"]["matchLabels"]["tier"] = json!("x");
        new["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
        DEPLOYMENT.validate_update(&new, &old, &mut causes);
        assert_eq!(causes.len(), 1);
        assert_eq!(
            causes[0].message,
            "Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"tier\":\"x\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        );
    }

    #[test]
    fn deployment_row() {
        let mut d = minimal_deployment();
        DEPLOYMENT.default(&mut d);
        d["status"] = json!({"readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1});
        let row = DEPLOYMENT.row(&d);
        assert_eq!(row[0], "1/1");
        assert_eq!(row[1], 1);
        assert_eq!(&row[4..], &[json!("nginx"), json!("nginx"), json!("app=web")]);
    }
}
