//! core/v1 Events (`pkg/registry/core/event`, `printEvent`): the Name column comes last.

use super::json::{int, s};
use super::meta_table::name;
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{Column, NAME, age_of};
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

/// The `involvedObject` fields an Event's field selector can name.
const INVOLVED_OBJECT_FIELDS: [&str; 7] = [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
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
    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        let involved = obj.get("involvedObject").unwrap_or(&Value::Null);
        let mut fields: Vec<(&'static str, String)> = INVOLVED_OBJECT_FIELDS
            .iter()
            .map(|&field| (field, s(involved, &field["involvedObject.".len()..]).to_string()))
            .collect();
        fields.extend([
            ("reason", s(obj, "reason").to_string()),
            ("type", s(obj, "type").to_string()),
            ("reportingComponent", s(obj, "reportingComponent").to_string()),
            ("source", first_non_empty(obj.pointer("/source/component").and_then(Value::as_str).unwrap_or(""), s(obj, "reportingComponent")).to_string()),
        ]);
        fields
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
}
