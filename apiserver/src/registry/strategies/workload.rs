//! What every controller kind shares: selector + template validation
//! (`ValidatePodTemplateSpecForReplicaSet` and friends), int-or-percent fields, immutable
//! selectors, non-negative counters, and the Containers/Images/Selector printer cells.

use super::causes::go_label_selector;
use super::json::{child, int, s};
use super::pod_defaults::default_template;
use super::labels;
use super::pod_validation::{RestartRule, validate_template};
use crate::registry::strategy::Cause;
use crate::registry::table::Column;
use serde_json::{Value, json};

/// Wide `Containers` column.
pub const CONTAINERS: Column = Column::wide("Containers", "string", "Names of each container in the template.");
/// Wide `Images` column.
pub const IMAGES: Column = Column::wide("Images", "string", "Images referenced by each container in the template.");
/// Wide `Selector` column.
pub const SELECTOR: Column = Column::wide("Selector", "string", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.");

/// `layoutContainerCells` of a pod template: comma-joined names and images.
pub fn containers_cells(template: &Value) -> (Value, Value) {
    let containers = template.pointer("/spec/containers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let names: Vec<&str> = containers.iter().map(|c| s(c, "name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "image")).collect();
    (json!(names.join(",")), json!(images.join(",")))
}

/// `ValidateNonnegativeField` for an optional integer at `obj[key]`.
pub fn nonnegative(obj: &Value, key: &str, path: &str, causes: &mut Vec<Cause>) {
    if let Some(n) = int(obj, key).filter(|n| *n < 0) {
        causes.push(Cause::invalid(format!("{path}.{key}"), &json!(n), "must be greater than or equal to 0"));
    }
}

/// Validates `spec.selector` (a LabelSelector) and `spec.template` of a ReplicaSet-like
/// spec. `owner` names the kind in the "empty selector is invalid for …" message.
pub fn validate_selector_and_template(spec: &Value, path: &str, owner: &str, rule: RestartRule, causes: &mut Vec<Cause>) {
    let selector = spec.get("selector").filter(|v| v.is_object());
    match selector {
        None => causes.push(Cause::required(format!("{path}.selector"))),
        Some(sel) => {
            labels::validate_selector(sel, &format!("{path}.selector"), causes);
            if labels::selector_is_empty(sel) {
                causes.push(Cause::invalid_raw(format!("{path}.selector"), &go_label_selector(Some(sel)), &format!("empty selector is invalid for {owner}")));
            }
        }
    }
    let template = spec.get("template").unwrap_or(&Value::Null);
    let template_labels = template.pointer("/metadata/labels");
    // a missing selector matches nothing; an empty one matches everything
    let matches = selector.is_some_and(|sel| labels::selector_is_empty(sel) || labels::selector_matches(sel, template_labels));
    if !matches {
        causes.push(template_labels_mismatch(path, template_labels));
    }
    validate_template(template, &format!("{path}.template"), rule, causes);
    if rule == RestartRule::AlwaysOnly && template.pointer("/spec/activeDeadlineSeconds").is_some_and(|v| !v.is_null()) {
        causes.push(Cause::forbidden(format!("{path}.template.spec.activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"));
    }
}

/// `spec.template.metadata.labels: Invalid value: map[...]: `selector` does not match template `labels``.
pub fn template_labels_mismatch(path: &str, template_labels: Option<&Value>) -> Cause {
    Cause::invalid_raw(
        format!("{path}.template.metadata.labels"),
        &super::causes::go_string_map(template_labels),
        "`selector` does not match template `labels`",
    )
}

/// The selector of `spec` may not change (apps/v1 and batch/v1 rule).
pub fn immutable_selector(new: &Value, old: &Value, causes: &mut Vec<Cause>) {
    let (n, o) = (new.pointer("/spec/selector"), old.pointer("/spec/selector"));
    if n != o {
        causes.push(Cause::invalid_raw("spec.selector", &go_label_selector(n), "field is immutable"));
    }
}

/// Value of an int-or-percent for the "is zero" tests upstream does.
fn int_or_percent_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.strip_suffix('%').and_then(|p| p.parse().ok()),
        _ => None,
    }
}

/// How upstream prints an `intstr.IntOrString` inside a message (its `String()`).
fn render_int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent` for `obj[key]`.
pub fn validate_int_or_percent(obj: &Value, key: &str, path: &str, max_100: bool, causes: &mut Vec<Cause>) {
    let Some(v) = obj.get(key).filter(|v| !v.is_null()) else { return };
    let field = format!("{path}.{key}");
    match v {
        Value::String(s) => {
            let ok = s.strip_suffix('%').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                causes.push(Cause::invalid_raw(&field, s, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"));
            }
        }
        _ => {
            if let Some(n) = v.as_i64().filter(|n| *n < 0) {
                causes.push(Cause::invalid(&field, &json!(n), "must be greater than or equal to 0"));
            }
        }
    }
    if max_100 && v.is_string() && int_or_percent_value(v).is_some_and(|p| p > 100) {
        causes.push(Cause::invalid_raw(&field, &render_int_or_string(v), "must not be greater than 100%"));
    }
}

/// True when an int-or-percent field is zero (or absent).
pub fn int_or_percent_is_zero(obj: &Value, key: &str) -> bool {
    obj.get(key).and_then(int_or_percent_value).unwrap_or(0) == 0
}

/// Renders an int-or-percent field like upstream messages do.
pub fn int_or_percent_text(obj: &Value, key: &str) -> String {
    obj.get(key).map(render_int_or_string).unwrap_or_else(|| "null".into())
}

/// The object's `spec` (or null).
pub fn spec_of(obj: &Value) -> &Value {
    obj.get("spec").unwrap_or(&Value::Null)
}

/// An integer status counter as a cell (0 when absent).
pub fn status_int(obj: &Value, key: &str) -> Value {
    json!(obj.get("status").and_then(|st| int(st, key)).unwrap_or(0))
}

/// Containers/Images cells of `spec.template`.
pub fn template_cells(obj: &Value) -> (Value, Value) {
    containers_cells(spec_of(obj).get("template").unwrap_or(&Value::Null))
}

/// Defaults `spec.template` and returns `spec`.
pub fn default_spec_template(obj: &mut Value) -> Option<&mut Value> {
    let spec = child(obj, "spec")?;
    if let Some(t) = child(spec, "template") {
        default_template(t);
    }
    Some(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::strategies::pod_defaults::default_template;

    #[test]
    fn missing_selector_reports_both_causes() {
        let mut template = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        default_template(&mut template);
        let spec = json!({"template": template});
        let mut causes = Vec::new();
        validate_selector_and_template(&spec, "spec", "deployment", RestartRule::AlwaysOnly, &mut causes);
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0], Cause::required("spec.selector"));
        assert_eq!(causes[1].field, "spec.template.metadata.labels");
        assert_eq!(causes[1].message, "Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`");
    }

    #[test]
    fn percent_checks() {
        let mut causes = Vec::new();
        validate_int_or_percent(&json!({"m": "150%"}), "m", "x", true, &mut causes);
        validate_int_or_percent(&json!({"m": "abc"}), "m", "x", true, &mut causes);
        validate_int_or_percent(&json!({"m": -1}), "m", "x", true, &mut causes);
        let msgs: Vec<&str> = causes.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(msgs[0], "Invalid value: 150%: must not be greater than 100%");
        assert!(msgs[1].starts_with("Invalid value: abc: a valid percent string"));
        assert_eq!(msgs[2], "Invalid value: -1: must be greater than or equal to 0");
    }
}
