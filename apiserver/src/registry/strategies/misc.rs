//! Lease, PodDisruptionBudget, ResourceQuota, LimitRange.

use super::causes::invalid_each;
use super::json::{child, existing, int, items, s, string_map};
use super::meta_table::{CREATED_AT, created_at};
use super::workload::{int_or_percent_text, validate_int_or_percent};
use super::{labels, names, quantity};
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

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
    fn pdb_cells() {
        let pdb = json!({"spec": {"minAvailable": "50%"}});
        assert_eq!(PDB.row(&pdb)[..3], [json!("50%"), json!("N/A"), json!(0)]);
    }
}
