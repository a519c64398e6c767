//! Kinds served in one version and stored as another (upstream stores one "storage
//! version" per resource and converts on the way in and out). Today:
//! `events.k8s.io/v1` Events are stored as core `v1` Events, so both APIs see the same
//! objects (`pkg/apis/events/v1/conversion.go` names the field mapping).

use serde_json::{Map, Value};

/// How a served kind maps to the kind it is stored as.
#[derive(Clone, Copy)]
pub struct Conversion {
    /// The stored resource (its storage keys), e.g. `events`.
    pub storage_resource: &'static str,
    /// Served form → stored form.
    pub to_storage: fn(Value) -> Value,
    /// Stored form → served form.
    pub from_storage: fn(Value) -> Value,
}

/// Field renames between events.k8s.io/v1 (left) and core/v1 (right) Events.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn rename(value: Value, pairs: &[(&str, &str)], forward: bool) -> Value {
    let Value::Object(map) = value else { return value };
    let renamed: Map<String, Value> = map
        .into_iter()
        .map(|(k, v)| {
            let to = pairs.iter().find_map(|(a, b)| {
                let (from, to) = if forward { (a, b) } else { (b, a) };
                (*from == k).then(|| to.to_string())
            });
            (to.unwrap_or(k), v)
        })
        .collect();
    Value::Object(renamed)
}

/// events.k8s.io/v1 Events, stored as core Events.
pub const EVENTS_V1: Conversion = Conversion {
    storage_resource: "events",
    to_storage: |v| rename(v, EVENT_FIELDS, true),
    from_storage: |v| rename(v, EVENT_FIELDS, false),
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip_between_versions() {
        let v1 = json!({"metadata": {"name": "e"}, "regarding": {"kind": "Pod", "name": "p"}, "note": "hi", "reason": "Started", "reportingController": "kubelet", "deprecatedCount": 2});
        let core = (EVENTS_V1.to_storage)(v1.clone());
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "hi");
        assert_eq!(core["reportingComponent"], "kubelet");
        assert_eq!(core["count"], 2);
        assert_eq!((EVENTS_V1.from_storage)(core), v1);
    }
}

/// Annotations autoscaling/v1 uses to carry what only v2 can express (upstream
/// `pkg/apis/autoscaling/v1/conversion.go`), so a v1 read-modify-write loses nothing.
const HPA_METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
const HPA_BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";
const HPA_CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
const HPA_CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";

fn is_cpu_utilization(metric: &Value, target: &str) -> bool {
    metric.get("type").and_then(Value::as_str) == Some("Resource")
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
        && metric.pointer(&format!("/resource/{target}/averageUtilization")).is_some()
}

fn take_annotation(obj: &mut Value, key: &str) -> Option<Value> {
    let annotations = obj.pointer_mut("/metadata/annotations")?.as_object_mut()?;
    let raw = annotations.remove(key)?;
    if annotations.is_empty() {
        obj["metadata"].as_object_mut()?.remove("annotations");
    }
    serde_json::from_str(raw.as_str()?).ok()
}

fn put_annotation(obj: &mut Value, key: &str, value: &Value) {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = Value::Object(Map::new());
    }
    let md = obj["metadata"].as_object_mut().expect("metadata object");
    let annotations = md.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if let Some(a) = annotations.as_object_mut() {
        a.insert(key.into(), Value::String(value.to_string()));
    }
}

/// autoscaling/v1 → stored autoscaling/v2.
fn hpa_v1_to_v2(mut v1: Value) -> Value {
    let mut metrics: Vec<Value> = take_annotation(&mut v1, HPA_METRICS).and_then(|m| m.as_array().cloned()).unwrap_or_default();
    let behavior = take_annotation(&mut v1, HPA_BEHAVIOR);
    let conditions = take_annotation(&mut v1, HPA_CONDITIONS);
    let mut current: Vec<Value> = take_annotation(&mut v1, HPA_CURRENT_METRICS).and_then(|m| m.as_array().cloned()).unwrap_or_default();
    if let Some(spec) = v1.get_mut("spec").and_then(Value::as_object_mut) {
        if let Some(cpu) = spec.remove("targetCPUUtilizationPercentage") {
            metrics.insert(0, serde_json::json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}));
        }
        if !metrics.is_empty() {
            spec.insert("metrics".into(), Value::Array(metrics));
        }
        if let Some(b) = behavior {
            spec.insert("behavior".into(), b);
        }
    }
    if let Some(status) = v1.get_mut("status").and_then(Value::as_object_mut) {
        if let Some(cpu) = status.remove("currentCPUUtilizationPercentage") {
            current.insert(0, serde_json::json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}}));
        }
        if !current.is_empty() {
            status.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(c) = conditions {
            status.insert("conditions".into(), c);
        }
    }
    v1
}

/// Stored autoscaling/v2 → autoscaling/v1.
fn hpa_v2_to_v1(mut v2: Value) -> Value {
    let mut extra_metrics = Vec::new();
    let mut behavior = None;
    if let Some(spec) = v2.get_mut("spec").and_then(Value::as_object_mut) {
        for m in spec.remove("metrics").and_then(|m| m.as_array().cloned()).unwrap_or_default() {
            if is_cpu_utilization(&m, "target") && !spec.contains_key("targetCPUUtilizationPercentage") {
                spec.insert("targetCPUUtilizationPercentage".into(), m["resource"]["target"]["averageUtilization"].clone());
            } else {
                extra_metrics.push(m);
            }
        }
        behavior = spec.remove("behavior");
    }
    let (mut extra_current, mut conditions) = (Vec::new(), None);
    if let Some(status) = v2.get_mut("status").and_then(Value::as_object_mut) {
        for m in status.remove("currentMetrics").and_then(|m| m.as_array().cloned()).unwrap_or_default() {
            if is_cpu_utilization(&m, "current") && !status.contains_key("currentCPUUtilizationPercentage") {
                status.insert("currentCPUUtilizationPercentage".into(), m["resource"]["current"]["averageUtilization"].clone());
            } else {
                extra_current.push(m);
            }
        }
        conditions = status.remove("conditions");
    }
    if !extra_metrics.is_empty() {
        put_annotation(&mut v2, HPA_METRICS, &Value::Array(extra_metrics));
    }
    if let Some(b) = behavior {
        put_annotation(&mut v2, HPA_BEHAVIOR, &b);
    }
    if let Some(c) = conditions {
        put_annotation(&mut v2, HPA_CONDITIONS, &c);
    }
    if !extra_current.is_empty() {
        put_annotation(&mut v2, HPA_CURRENT_METRICS, &Value::Array(extra_current));
    }
    v2
}

/// autoscaling/v1 HorizontalPodAutoscalers, stored as autoscaling/v2.
pub const HPA_V1: Conversion = Conversion { storage_resource: "horizontalpodautoscalers", to_storage: hpa_v1_to_v2, from_storage: hpa_v2_to_v1 };

#[cfg(test)]
mod hpa_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cpu_target_maps_both_ways_and_v2_only_fields_survive_a_v1_round_trip() {
        let v1 = json!({"metadata": {"name": "h"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 70}});
        let v2 = (HPA_V1.to_storage)(v1.clone());
        assert_eq!(v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 70);
        assert_eq!((HPA_V1.from_storage)(v2), v1);

        let v2 = json!({"metadata": {"name": "h"}, "spec": {"maxReplicas": 3, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}}
        ], "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}});
        let v1 = (HPA_V1.from_storage)(v2.clone());
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 50);
        assert!(v1["metadata"]["annotations"][HPA_METRICS].as_str().unwrap().contains("memory"));
        assert_eq!((HPA_V1.to_storage)(v1), v2);
    }
}
