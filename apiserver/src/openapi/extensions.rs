//! Property-level `x-kubernetes-*` extensions that k8s-openapi's schemas lack: list
//! types, list-map keys and strategic-merge-patch hints (kubectl apply and explain use them).
//!
//! The list facts come from [`crate::schema`] (generated from k8s-openapi and k8s-pb).

use serde_json::{Map, Value};

pub use crate::schema::ListStrategy;

/// The list strategy of property `json_name` of definition `definition`, if known
/// (from the tables generated from k8s-openapi and k8s-pb, see [`crate::schema`]).
pub fn list_strategy(definition: &str, json_name: &str) -> Option<ListStrategy> {
    match &crate::schema::field(definition, json_name)?.shape {
        crate::schema::Shape::List { strategy, .. } => Some(*strategy),
        _ => None,
    }
}

/// Adds the extensions of property `json_name` of `definition` to its schema `property`.
///
/// This is the one place that decides them: for lists, `x-kubernetes-list-type` and
/// (maps) `x-kubernetes-list-map-keys`; for strategic merge patch, map lists get
/// `x-kubernetes-patch-merge-key` (the first key) with `x-kubernetes-patch-strategy: merge`,
/// sets get `x-kubernetes-patch-strategy: merge`. Non-array properties are left alone.
pub fn add_property_extensions(definition: &str, json_name: &str, property: &mut Map<String, Value>) {
    if property.get("type").and_then(Value::as_str) != Some("array") {
        return;
    }
    let Some(strategy) = list_strategy(definition, json_name) else { return };
    match strategy {
        ListStrategy::Atomic => {
            property.insert("x-kubernetes-list-type".into(), "atomic".into());
        }
        ListStrategy::Set => {
            property.insert("x-kubernetes-list-type".into(), "set".into());
            property.insert("x-kubernetes-patch-strategy".into(), "merge".into());
        }
        ListStrategy::Map(keys) => {
            property.insert("x-kubernetes-list-map-keys".into(), keys.iter().map(|k| Value::from(*k)).collect());
            property.insert("x-kubernetes-list-type".into(), "map".into());
            if let Some(first) = keys.first() {
                property.insert("x-kubernetes-patch-merge-key".into(), (*first).into());
            }
            property.insert("x-kubernetes-patch-strategy".into(), "merge".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn map_list_gets_merge_key_and_map_keys() {
        let mut p = obj(json!({"type": "array", "items": {}}));
        add_property_extensions("io.k8s.api.core.v1.Container", "ports", &mut p);
        assert_eq!(p["x-kubernetes-list-type"], "map");
        assert_eq!(p["x-kubernetes-list-map-keys"], json!(["containerPort", "protocol"]));
        assert_eq!(p["x-kubernetes-patch-merge-key"], "containerPort");
        assert_eq!(p["x-kubernetes-patch-strategy"], "merge");
    }

    #[test]
    fn set_list_merges_without_key() {
        let mut p = obj(json!({"type": "array"}));
        add_property_extensions("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", &mut p);
        assert_eq!(p["x-kubernetes-list-type"], "set");
        assert_eq!(p["x-kubernetes-patch-strategy"], "merge");
        assert!(!p.contains_key("x-kubernetes-patch-merge-key"));
    }

    #[test]
    fn non_arrays_and_unknown_lists_untouched() {
        let mut p = obj(json!({"type": "string"}));
        add_property_extensions("io.k8s.api.core.v1.PodSpec", "containers", &mut p);
        assert_eq!(p.len(), 1);
        let mut p = obj(json!({"type": "array"}));
        add_property_extensions("io.k8s.api.core.v1.PodSpec", "noSuchField", &mut p);
        assert_eq!(p.len(), 1);
    }
}
