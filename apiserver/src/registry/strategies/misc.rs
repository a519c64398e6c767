//! Event, Lease, HorizontalPodAutoscaler (autoscaling/v2), PodDisruptionBudget,
//! ResourceQuota, LimitRange.

use super::causes::invalid_each;
use super::json::{child, existing, int, items, s, set_default, string_map};
use super::meta_table::{CREATED_AT, created_at, name};
use super::workload::{int_or_percent_text, validate_int_or_percent};
use super::{labels, names, quantity};
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, NAME, age, age_of};
use serde_json::{Value, json};

/// Event strategy (core/v1 events).
pub struct Event;
/// The Event strategy instance.
pub static EVENT: Event = Event;

static EVENT_COLUMNS: [Column; 10] = [
    Column::new("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    Column::new("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    Column::new("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    Column::new("Object", "string", "The object that this event is about."),
    Column::wide("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."),
    Column::wide("Source", "string", "The component reporting this event. Should be a short machine understandable string."),
    Column::new("Message", "string", "A human-readable description of the status of this operation."),
    Column::wide("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
    Column::wide("Count", "string", "The number of times this event has occurred."),
    Column { priority: 1, ..NAME },
];

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

impl Strategy for Event {
    fn includes_name_column(&self) -> bool {
        true
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        let involved_ns = obj.pointer("/involvedObject/namespace").and_then(Value::as_str).unwrap_or("");
        let ok = if involved_ns.is_empty() { ns.is_empty() || ns == "default" } else { ns == involved_ns };
        if !ok {
            causes.push(Cause::invalid("involvedObject.namespace", &json!(involved_ns), "does not match event.namespace"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &EVENT_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let ts = |k: &str| obj.get(k).and_then(Value::as_str).filter(|t| !t.is_empty());
        let first = match ts("firstTimestamp") {
            Some(t) => age_of(Some(t)),
            None => age_of(ts("eventTime")),
        };
        let mut last = match ts("lastTimestamp") {
            Some(t) => age_of(Some(t)),
            None => first.clone(),
        };
        let mut count = int(obj, "count").unwrap_or(0);
        if let Some(series) = obj.get("series").filter(|v| v.is_object()) {
            last = age_of(series.get("lastObservedTime").and_then(Value::as_str));
            count = int(series, "count").unwrap_or(0);
        } else if count == 0 {
            count = 1;
        }
        let involved = obj.get("involvedObject").unwrap_or(&Value::Null);
        let kind = s(involved, "kind").to_ascii_lowercase();
        let target = if s(involved, "name").is_empty() { kind } else { format!("{kind}/{}", s(involved, "name")) };
        let source = obj.get("source").unwrap_or(&Value::Null);
        let component = first_non_empty(s(source, "component"), s(obj, "reportingComponent"));
        let instance = first_non_empty(s(source, "host"), s(obj, "reportingInstance"));
        let source_cell = if instance.is_empty() { component.to_string() } else { format!("{component}, {instance}") };
        vec![
            json!(last),
            json!(s(obj, "type")),
            json!(s(obj, "reason")),
            json!(target),
            json!(s(involved, "fieldPath")),
            json!(source_cell),
            json!(s(obj, "message").trim()),
            json!(first),
            json!(count),
            json!(name(obj)),
        ]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let involved = obj.get("involvedObject").unwrap_or(&Value::Null);
        Some(match field {
            "involvedObject.kind" | "involvedObject.namespace" | "involvedObject.name" | "involvedObject.uid" | "involvedObject.apiVersion"
            | "involvedObject.resourceVersion" | "involvedObject.fieldPath" => s(involved, &field["involvedObject.".len()..]).to_string(),
            "reason" | "type" => s(obj, field).to_string(),
            "reportingComponent" => s(obj, "reportingComponent").to_string(),
            "source" => first_non_empty(obj.pointer("/source/component").and_then(Value::as_str).unwrap_or(""), s(obj, "reportingComponent")).to_string(),
            _ => return None,
        })
    }
}

/// Lease strategy.
pub struct Lease;
/// The Lease strategy instance.
pub static LEASE: Lease = Lease;

static LEASE_COLUMNS: [Column; 2] = [Column::new("Holder", "string", "holderIdentity contains the identity of the holder of a current lease."), AGE];

impl Strategy for Lease {
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        if let Some(d) = int(spec, "leaseDurationSeconds").filter(|d| *d <= 0) {
            causes.push(Cause::invalid("spec.leaseDurationSeconds", &json!(d), "must be greater than 0"));
        }
        if let Some(t) = int(spec, "leaseTransitions").filter(|t| *t < 0) {
            causes.push(Cause::invalid("spec.leaseTransitions", &json!(t), "must be greater than or equal to 0"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &LEASE_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(obj.pointer("/spec/holderIdentity").and_then(Value::as_str).unwrap_or("")), age(obj)]
    }
}

/// HorizontalPodAutoscaler strategy (autoscaling/v2).
pub struct Hpa;
/// The HorizontalPodAutoscaler strategy instance.
pub static HPA: Hpa = Hpa;

static HPA_COLUMNS: [Column; 6] = [
    Column::new("Reference", "string", "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count."),
    Column::new("Targets", "string", "metrics contains the specifications for which to use to calculate the desired replica count."),
    Column::new("MinPods", "string", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down."),
    Column::new("MaxPods", "string", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up."),
    Column::new("Replicas", "string", "currentReplicas is current number of replicas of pods managed by this autoscaler."),
    AGE,
];

fn default_scaling_rules(rules: &mut Value, window: i64, policies: Value) {
    set_default(rules, "stabilizationWindowSeconds", json!(window));
    set_default(rules, "selectPolicy", json!("Max"));
    set_default(rules, "policies", policies);
}

fn metric_target(target: &Value, current: Option<&Value>, name: &str) -> String {
    let prefix = if name.is_empty() { String::new() } else { format!("{name}: ") };
    if let Some(avg) = target.get("averageValue").and_then(Value::as_str) {
        let cur = current.and_then(|c| c.get("averageValue")).and_then(Value::as_str).unwrap_or("<unknown>");
        return format!("{prefix}{cur}/{avg}");
    }
    let cur = current.and_then(|c| int(c, "averageUtilization")).map(|u| format!("{u}%")).unwrap_or_else(|| "<unknown>".into());
    let want = int(target, "averageUtilization").map(|u| format!("{u}%")).unwrap_or_else(|| "<auto>".into());
    format!("{prefix}{cur}/{want}")
}

fn format_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".into();
    }
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let kind = s(spec, "type");
            let key = match kind {
                "Resource" => "resource",
                "ContainerResource" => "containerResource",
                "Pods" => "pods",
                "Object" => "object",
                "External" => "external",
                _ => return "<unknown type>".to_string(),
            };
            let source = spec.get(key).unwrap_or(&Value::Null);
            let target = source.get("target").unwrap_or(&Value::Null);
            let current = statuses.get(i).and_then(|st| st.get(key)).and_then(|st| st.get("current"));
            match kind {
                "Resource" | "ContainerResource" => metric_target(target, current, s(source, "name")),
                "Pods" => {
                    let cur = current.and_then(|c| c.get("averageValue")).and_then(Value::as_str).unwrap_or("<unknown>");
                    format!("{cur}/{}", s(target, "averageValue"))
                }
                _ => match target.get("averageValue").and_then(Value::as_str) {
                    Some(avg) => {
                        let cur = current.and_then(|c| c.get("averageValue")).and_then(Value::as_str).unwrap_or("<unknown>");
                        format!("{cur}/{avg} (avg)")
                    }
                    None => {
                        let cur = current.and_then(|c| c.get("value")).and_then(Value::as_str).unwrap_or("<unknown>");
                        format!("{cur}/{}", s(target, "value"))
                    }
                },
            }
        })
        .collect();
    if list.len() > 2 {
        format!("{} + {} more...", list[..2].join(", "), list.len() - 2)
    } else {
        list.join(", ")
    }
}

impl Strategy for Hpa {
    fn has_status(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        let Some(spec) = child(obj, "spec") else { return };
        set_default(spec, "minReplicas", json!(1));
        if super::json::len_of(spec, "metrics") == 0 {
            spec["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]);
        }
        if let Some(behavior) = existing(spec, "behavior") {
            if let Some(up) = child(behavior, "scaleUp") {
                default_scaling_rules(up, 0, json!([{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]));
            }
            if let Some(down) = child(behavior, "scaleDown") {
                default_scaling_rules(down, 300, json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]));
            }
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"desiredReplicas": 0});
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let min = int(spec, "minReplicas");
        let max = int(spec, "maxReplicas").unwrap_or(0);
        if let Some(m) = min.filter(|m| *m < 1) {
            causes.push(Cause::invalid("spec.minReplicas", &json!(m), "must be greater than or equal to 1"));
        }
        if max < 1 {
            causes.push(Cause::invalid("spec.maxReplicas", &json!(max), "must be greater than 0"));
        }
        if min.is_some_and(|m| max < m) {
            causes.push(Cause::invalid("spec.maxReplicas", &json!(max), "must be greater than or equal to `minReplicas`"));
        }
        let target = spec.get("scaleTargetRef").unwrap_or(&Value::Null);
        for key in ["kind", "name"] {
            let v = s(target, key);
            if v.is_empty() {
                causes.push(Cause::required(format!("spec.scaleTargetRef.{key}")));
            } else {
                invalid_each(causes, &format!("spec.scaleTargetRef.{key}"), &json!(v), names::path_segment(v));
            }
        }
        for (i, m) in items(spec, "metrics").iter().enumerate() {
            let kind = s(m, "type");
            if !["Object", "Pods", "Resource", "ContainerResource", "External"].contains(&kind) {
                causes.push(Cause::invalid(format!("spec.metrics[{i}].type"), &json!(kind), "must be either External, Object, Pods, Resource or ContainerResource"));
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        &HPA_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let target = spec.get("scaleTargetRef").unwrap_or(&Value::Null);
        let status = obj.get("status").unwrap_or(&Value::Null);
        vec![
            json!(format!("{}/{}", s(target, "kind"), s(target, "name"))),
            json!(format_metrics(items(spec, "metrics"), items(status, "currentMetrics"))),
            json!(int(spec, "minReplicas").map(|m| m.to_string()).unwrap_or_else(|| "<unset>".into())),
            json!(int(spec, "maxReplicas").unwrap_or(0)),
            json!(int(status, "currentReplicas").unwrap_or(0)),
            age(obj),
        ]
    }
}

/// PodDisruptionBudget strategy.
pub struct Pdb;
/// The PodDisruptionBudget strategy instance.
pub static PDB: Pdb = Pdb;

static PDB_COLUMNS: [Column; 4] = [
    Column::new("Min Available", "string", "The minimum number of pods that must be available."),
    Column::new("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
    Column::new("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
    AGE,
];

impl Strategy for Pdb {
    fn has_status(&self) -> bool {
        true
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0});
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let set = |k: &str| spec.get(k).is_some_and(|v| !v.is_null());
        if set("minAvailable") && set("maxUnavailable") {
            causes.push(Cause::invalid_raw("spec", "policy.PodDisruptionBudgetSpec{...}", "minAvailable and maxUnavailable cannot be both set"));
        }
        validate_int_or_percent(spec, "minAvailable", "spec", true, causes);
        validate_int_or_percent(spec, "maxUnavailable", "spec", true, causes);
        if let Some(sel) = spec.get("selector").filter(|v| v.is_object()) {
            labels::validate_selector(sel, "spec.selector", causes);
        }
        match spec.get("unhealthyPodEvictionPolicy").and_then(Value::as_str) {
            None | Some("IfHealthyBudget" | "AlwaysAllow") => {}
            Some(other) => causes.push(Cause::not_supported("spec.unhealthyPodEvictionPolicy", &json!(other), &["AlwaysAllow", "IfHealthyBudget"])),
        }
    }
    fn columns(&self) -> &'static [Column] {
        &PDB_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let cell = |k: &str| if spec.get(k).is_some_and(|v| !v.is_null()) { int_or_percent_text(spec, k) } else { "N/A".into() };
        vec![
            json!(cell("minAvailable")),
            json!(cell("maxUnavailable")),
            json!(obj.pointer("/status/disruptionsAllowed").and_then(Value::as_i64).unwrap_or(0)),
            age(obj),
        ]
    }
}

/// ResourceQuota strategy.
pub struct ResourceQuota;
/// The ResourceQuota strategy instance.
pub static RESOURCE_QUOTA: ResourceQuota = ResourceQuota;

static RESOURCE_QUOTA_COLUMNS: [Column; 3] = [
    Column::new("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
    Column::new("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
    AGE,
];

fn validate_resource_list(obj: &Value, key: &str, path: &str, causes: &mut Vec<Cause>) {
    for (name, q) in string_map(obj, key) {
        let field = format!("{path}[{name}]");
        match quantity::nanos(&q) {
            None => causes.push(Cause::invalid(&field, &json!(q), "must be a valid quantity")),
            Some(n) if n < 0 => causes.push(Cause::invalid(&field, &json!(q), "must be greater than or equal to 0")),
            Some(_) => {}
        }
        let bare = name.strip_prefix("requests.").or_else(|| name.strip_prefix("limits.")).unwrap_or(&name);
        invalid_each(causes, &field, &json!(name), names::qualified_name(bare));
    }
}

impl Strategy for ResourceQuota {
    fn has_status(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = existing(obj, "spec") {
            quantity::canonicalize_list(spec, "hard");
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({});
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        validate_resource_list(obj.get("spec").unwrap_or(&Value::Null), "hard", "spec.hard", causes);
        const SCOPES: &[&str] = &["BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass", "Terminating", "VolumeAttributesClass"];
        for (i, scope) in items(obj.get("spec").unwrap_or(&Value::Null), "scopes").iter().enumerate() {
            if !scope.as_str().is_some_and(|x| SCOPES.contains(&x)) {
                causes.push(Cause::not_supported(format!("spec.scopes[{i}]"), scope, SCOPES));
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        &RESOURCE_QUOTA_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let status = obj.get("status").unwrap_or(&Value::Null);
        let used: std::collections::HashMap<String, String> = string_map(status, "used").into_iter().collect();
        let (mut requests, mut limits) = (Vec::new(), Vec::new());
        for (name, hard) in string_map(status, "hard") {
            let text = format!("{name}: {}/{hard}", used.get(&name).map(String::as_str).unwrap_or("0"));
            if name.split('.').count() > 1 && name.starts_with("limits.") { limits.push(text) } else { requests.push(text) }
        }
        vec![json!(requests.join(", ")), json!(limits.join(", ")), age(obj)]
    }
}

/// LimitRange strategy (no printer upstream: Name and Created At).
pub struct LimitRange;
/// The LimitRange strategy instance.
pub static LIMIT_RANGE: LimitRange = LimitRange;

static CREATED_AT_ONLY: [Column; 1] = [CREATED_AT];

impl Strategy for LimitRange {
    fn default(&self, obj: &mut Value) {
        let Some(spec) = existing(obj, "spec") else { return };
        super::json::each_mut(spec, "limits", |item| {
            if s(item, "type") != "Container" {
                return;
            }
            for (from, to) in [("max", "default"), ("default", "defaultRequest"), ("min", "defaultRequest")] {
                let source = item.get(from).and_then(Value::as_object).cloned().unwrap_or_default();
                if let Some(target) = child(item, to).and_then(Value::as_object_mut) {
                    for (k, v) in source {
                        target.entry(k).or_insert(v);
                    }
                }
            }
        });
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        for (i, item) in items(obj.get("spec").unwrap_or(&Value::Null), "limits").iter().enumerate() {
            let t = s(item, "type");
            if t.is_empty() {
                causes.push(Cause::required(format!("spec.limits[{i}].type")));
            }
            for key in ["max", "min", "default", "defaultRequest", "maxLimitRequestRatio"] {
                validate_resource_list(item, key, &format!("spec.limits[{i}].{key}"), causes);
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        &CREATED_AT_ONLY
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![created_at(obj)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_row_puts_name_last() {
        let ev = json!({
            "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Scheduled", "type": "Normal", "message": " ok ", "source": {"component": "default-scheduler"}
        });
        let row = EVENT.row(&ev);
        assert_eq!(row.len(), EVENT.columns().len());
        assert_eq!(row[3], "pod/web");
        assert_eq!(row[5], "default-scheduler");
        assert_eq!(row[6], "ok");
        assert_eq!(row[8], 1);
        assert_eq!(row[9], "web.1");
        assert_eq!(EVENT.field_value(&ev, "involvedObject.name").as_deref(), Some("web"));
        let mut causes = Vec::new();
        EVENT.validate(&ev, &mut causes);
        assert!(causes.is_empty());
    }

    #[test]
    fn hpa_defaults_and_targets() {
        let mut hpa = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5, "behavior": {}}});
        HPA.default(&mut hpa);
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 300);
        let row = HPA.row(&hpa);
        assert_eq!(&row[..4], &[json!("Deployment/web"), json!("cpu: <unknown>/80%"), json!("1"), json!(5)]);
        let mut causes = Vec::new();
        hpa["spec"]["maxReplicas"] = json!(0);
        HPA.validate(&hpa, &mut causes);
        assert_eq!(causes.len(), 2);
    }

    #[test]
    fn pdb_cells() {
        let pdb = json!({"spec": {"minAvailable": "50%"}});
        assert_eq!(PDB.row(&pdb)[..3], [json!("50%"), json!("N/A"), json!(0)]);
    }
}
