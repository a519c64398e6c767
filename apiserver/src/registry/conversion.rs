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
