//! What the default admission chain of a real cluster adds to every new Pod, so that
//! `kubectl get pod -o yaml` shows the same fields: `Priority` (priority and
//! preemptionPolicy from the built-in classes), `ServiceAccount` (serviceAccountName
//! `default`) and `DefaultTolerationSeconds` (not-ready/unreachable for 300s).
//!
//! Limits: user PriorityClasses (and a custom globalDefault) are not looked up, and the
//! projected service-account token volume is not injected.

use super::json::set_default;
use serde_json::{Value, json};

/// Value of the built-in priority classes (`system-cluster-critical`, `system-node-critical`).
pub fn builtin_priority(class: &str) -> Option<i64> {
    match class {
        "system-node-critical" => Some(2_000_001_000),
        "system-cluster-critical" => Some(2_000_000_000),
        _ => None,
    }
}

/// Applies the admission defaults to a Pod's spec.
pub fn admit_pod_spec(spec: &mut Value) {
    let class = spec.get("priorityClassName").and_then(Value::as_str).unwrap_or("");
    let priority = if class.is_empty() { Some(0) } else { builtin_priority(class) };
    if let Some(p) = priority
        && spec.get("priority").is_none_or(Value::is_null)
    {
        spec["priority"] = json!(p);
    }
    if priority.is_some() {
        set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
    set_default(spec, "serviceAccountName", json!("default"));
    let name = spec["serviceAccountName"].clone();
    spec["serviceAccount"] = name;
    add_default_tolerations(spec);
}

fn add_default_tolerations(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else { return };
    let list = map.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else { return };
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        let tolerated = list.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            let op = t.get("operator").and_then(Value::as_str).unwrap_or("Equal");
            (k == key || (k.is_empty() && op == "Exists")) && (effect.is_empty() || effect == "NoExecute")
        });
        if !tolerated {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_pod_gets_cluster_defaults() {
        let mut spec = json!({"containers": []});
        admit_pod_spec(&mut spec);
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(spec["tolerations"][1]["key"], "node.kubernetes.io/unreachable");
    }
}
