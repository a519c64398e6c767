//! The pod QoS class (upstream `pkg/apis/core/helper/qos.GetPodQOS`), computed once at
//! create time into `status.qosClass`.

use super::json::{items, string_map};
use super::quantity;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const QOS_RESOURCES: &[&str] = &["cpu", "memory"];

/// `Guaranteed`, `Burstable` or `BestEffort` for a (defaulted) pod spec.
pub fn qos_class(spec: &Value) -> &'static str {
    let mut requests: BTreeMap<String, i128> = BTreeMap::new();
    let mut limits: BTreeMap<String, i128> = BTreeMap::new();
    let mut guaranteed = true;
    let mut add = |res: &Value, guaranteed: &mut bool| {
        for (name, q) in string_map(res, "requests") {
            if QOS_RESOURCES.contains(&name.as_str()) && quantity::is_nonzero(&q) {
                *requests.entry(name).or_insert(0) += quantity::nanos(&q).unwrap_or(0);
            }
        }
        let mut found = BTreeSet::new();
        for (name, q) in string_map(res, "limits") {
            if QOS_RESOURCES.contains(&name.as_str()) && quantity::is_nonzero(&q) {
                found.insert(name.clone());
                *limits.entry(name).or_insert(0) += quantity::nanos(&q).unwrap_or(0);
            }
        }
        if !QOS_RESOURCES.iter().all(|r| found.contains(*r)) {
            *guaranteed = false;
        }
    };
    match spec.get("resources").filter(|r| r.is_object()) {
        // pod-level resources decide alone when present
        Some(pod_level) => add(pod_level, &mut guaranteed),
        None => {
            for c in items(spec, "containers").iter().chain(items(spec, "initContainers")) {
                add(c.get("resources").unwrap_or(&Value::Null), &mut guaranteed);
            }
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests.iter().any(|(k, v)| limits.get(k) != Some(v)) {
        guaranteed = false;
    }
    if guaranteed && requests.len() == limits.len() { "Guaranteed" } else { "Burstable" }
}

#[cfg(test)]
mod tests {
    use super::qos_class;
    use serde_json::json;

    #[test]
    fn classes() {
        assert_eq!(qos_class(&json!({"containers": [{"name": "a"}]})), "BestEffort");
        let g = json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}}]});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"containers": [{"resources": {"requests": {"cpu": "100m"}}}]});
        assert_eq!(qos_class(&b), "Burstable");
        let partial = json!({"containers": [{"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}]});
        assert_eq!(qos_class(&partial), "Burstable");
    }
}
