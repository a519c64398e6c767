//! `metadata.managedFields`: one entry per manager and operation (and subresource),
//! recording the fields the manager's write set. An approximation of upstream's
//! structured-merge-diff field sets: the whole written object is attributed to the
//! writer; kubectl only displays these.

use super::meta::{metadata_mut, now};
use serde_json::{json, Map, Value};

/// Records a `managedFields` entry for `manager` covering the fields it set.
pub fn set_managed_fields(obj: &mut Value, old: Option<&Value>, manager: &str, operation: &str, api_version: &str, subresource: Option<&str>) {
    let mut entries: Vec<Value> = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .or_else(|| obj.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let manager = if manager.is_empty() { "unknown" } else { manager };
    let subresource = subresource.unwrap_or("");
    entries.retain(|e| {
        !(e.get("manager") == Some(&json!(manager))
            && e.get("operation") == Some(&json!(operation))
            && e.get("subresource").and_then(Value::as_str).unwrap_or("") == subresource)
    });
    let fields = if subresource == "status" {
        obj.get("status").map(|s| json!({ "f:status": field_set(s) })).unwrap_or_else(|| json!({}))
    } else {
        let mut set = Map::new();
        if let Some(o) = obj.as_object() {
            for (k, v) in o {
                match k.as_str() {
                    "apiVersion" | "kind" | "status" => {}
                    "metadata" => {
                        let mut md = Map::new();
                        for key in ["labels", "annotations", "finalizers", "ownerReferences"] {
                            if let Some(v) = v.get(key) {
                                md.insert(format!("f:{key}"), field_set(v));
                            }
                        }
                        if !md.is_empty() {
                            set.insert("f:metadata".into(), Value::Object(md));
                        }
                    }
                    _ => {
                        set.insert(format!("f:{k}"), field_set(v));
                    }
                }
            }
        }
        Value::Object(set)
    };
    let mut entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    if !subresource.is_empty() {
        entry["subresource"] = json!(subresource);
    }
    entries.push(entry);
    metadata_mut(obj).insert("managedFields".into(), Value::Array(entries));
}

/// The FieldsV1 set of a value: maps by `f:<key>`, lists of named items by `k:{...}`.
fn field_set(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (format!("f:{k}"), field_set(v))).collect()),
        Value::Array(items) => {
            let mut set = Map::new();
            for item in items {
                if let Some(name) = item.get("name").and_then(Value::as_str) {
                    set.insert(format!("k:{{\"name\":\"{name}\"}}"), json!({".": {}}));
                }
            }
            Value::Object(set)
        }
        _ => json!({}),
    }
}

