//! `metadata.managedFields` entries: decoding, identity and upstream's encoding order.

use super::fieldset::FieldSet;
use serde_json::{json, Value};

/// One `ManagedFieldsEntry`.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    /// "" for the main resource.
    pub subresource: String,
    pub set: FieldSet,
}

pub const APPLY: &str = "Apply";
pub const UPDATE: &str = "Update";

impl Entry {
    /// Whether `self` is the entry of this writer (upstream's manager identifier:
    /// manager, operation, subresource, and the apiVersion of updaters).
    pub fn is(&self, manager: &str, operation: &str, subresource: &str, api_version: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource == subresource
            && (operation == APPLY || self.api_version == api_version)
    }

    /// How upstream names the manager in conflict messages (`printManager`).
    pub fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == UPDATE {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut v = json!({ "manager": self.manager, "operation": self.operation, "apiVersion": self.api_version });
        if let Some(t) = &self.time {
            v["time"] = json!(t);
        }
        v["fieldsType"] = json!("FieldsV1");
        v["fieldsV1"] = self.set.to_fields_v1();
        if !self.subresource.is_empty() {
            v["subresource"] = json!(self.subresource);
        }
        v
    }

    fn from_json(v: &Value) -> Option<Entry> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        if v.get("fieldsType").and_then(Value::as_str).is_some_and(|t| t != "FieldsV1") {
            return None;
        }
        Some(Entry {
            manager: text("manager"),
            operation: text("operation"),
            api_version: text("apiVersion"),
            time: v.get("time").and_then(Value::as_str).map(str::to_string),
            subresource: text("subresource"),
            set: match v.get("fieldsV1") {
                Some(f) => FieldSet::from_fields_v1(f)?,
                None => FieldSet::default(),
            },
        })
    }
}

/// The entries of `obj`'s `metadata.managedFields`; `None` when absent, empty or not
/// decodable (upstream then falls back to the live object's).
pub fn decode(obj: &Value) -> Option<Vec<Entry>> {
    let list = obj.pointer("/metadata/managedFields")?.as_array()?;
    if list.is_empty() {
        return None;
    }
    list.iter().map(Entry::from_json).collect()
}

/// The `managedFields` list, in upstream's order (operation, time, manager,
/// apiVersion, subresource); entries without fields are dropped.
pub fn encode(entries: &[Entry]) -> Option<Value> {
    let mut kept: Vec<&Entry> = entries.iter().filter(|e| !e.set.is_empty()).collect();
    if kept.is_empty() {
        return None;
    }
    kept.sort_by(|a, b| {
        (&a.operation, &a.time, &a.manager, &a.api_version, &a.subresource).cmp(&(&b.operation, &b.time, &b.manager, &b.api_version, &b.subresource))
    });
    Some(Value::Array(kept.into_iter().map(Entry::to_json).collect()))
}
