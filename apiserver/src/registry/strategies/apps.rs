//! Replicated workloads: Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision
//! (`pkg/apis/apps/v1/defaults.go`, `pkg/apis/apps/validation`, `pkg/registry/apps/*`) and
//! the core ReplicationController, which follows the same rules.

use super::json::{child, existing, int, s, set_default};
use super::pod_defaults::default_template;
use super::pod_validation::{RestartRule, validate_template};
use super::workload::*;
use super::labels;
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

fn spec_of(obj: &Value) -> &Value {
    obj.get("spec").unwrap_or(&Value::Null)
}

fn status_int(obj: &Value, key: &str) -> Value {
    json!(obj.get("status").and_then(|st| int(st, key)).unwrap_or(0))
}

fn template_cells(obj: &Value) -> (Value, Value) {
    containers_cells(spec_of(obj).get("template").unwrap_or(&Value::Null))
}

fn default_spec_template(obj: &mut Value) -> Option<&mut Value> {
    let spec = child(obj, "spec")?;
    if let Some(t) = child(spec, "template") {
        default_template(t);
    }
    Some(spec)
}

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

fn status_replicas_field(obj: &Value, field: &str) -> Option<String> {
    (field == "status.replicas").then(|| status_int(obj, "replicas").to_string())
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
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        status_replicas_field(obj, field)
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
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        status_replicas_field(obj, field)
    }
}

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

    #[test]
    fn other_workload_defaults() {
        let mut sts = json!({"spec": {"template": {"spec": {"containers": []}}}});
        STATEFUL_SET.default(&mut sts);
        assert_eq!(sts["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}}));
        assert_eq!(sts["spec"]["persistentVolumeClaimRetentionPolicy"], json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
        assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
        let mut ds = json!({"spec": {}});
        DAEMON_SET.default(&mut ds);
        assert_eq!(ds["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}));
        let mut rc = json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}});
        REPLICATION_CONTROLLER.default(&mut rc);
        assert_eq!(rc["spec"]["selector"], json!({"a": "b"}));
        assert_eq!(rc["metadata"]["labels"], json!({"a": "b"}));
        assert_eq!(rc["spec"]["replicas"], 1);
    }
}
