//! Label maps and label selectors: validation (`ValidateLabels`, `ValidateLabelSelector`),
//! matching, and the printed forms (`labels.FormatLabels`, `metav1.FormatLabelSelector`).

use super::causes::invalid_each;
use super::names;
use crate::registry::strategy::Cause;
use serde_json::Value;

/// Validates a label map at `field` (keys are qualified names, values label values).
pub fn validate_labels(map: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    let Some(m) = map.and_then(Value::as_object) else { return };
    for (k, v) in m {
        invalid_each(causes, field, &Value::String(k.clone()), names::qualified_name(k));
        let val = v.as_str().unwrap_or("");
        invalid_each(causes, field, v, names::label_value(val));
    }
}

/// Validates a `metav1.LabelSelector` at `field`.
pub fn validate_selector(sel: &Value, field: &str, causes: &mut Vec<Cause>) {
    validate_labels(sel.get("matchLabels"), &format!("{field}.matchLabels"), causes);
    for (i, req) in super::json::items(sel, "matchExpressions").iter().enumerate() {
        let path = format!("{field}.matchExpressions[{i}]");
        let op = super::json::s(req, "operator");
        let nvals = super::json::len_of(req, "values");
        match op {
            "In" | "NotIn" if nvals == 0 => causes.push(Cause::required_because(
                format!("{path}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if nvals > 0 => causes.push(Cause::forbidden(
                format!("{path}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            _ => causes.push(Cause::invalid(format!("{path}.operator"), &Value::String(op.into()), "not a valid selector operator")),
        }
        let key = super::json::s(req, "key");
        invalid_each(causes, &format!("{path}.key"), &Value::String(key.into()), names::qualified_name(key));
    }
}

/// True when the selector has neither matchLabels nor matchExpressions.
pub fn selector_is_empty(sel: &Value) -> bool {
    super::json::len_of(sel, "matchLabels") == 0 && super::json::len_of(sel, "matchExpressions") == 0
}

/// Whether a `metav1.LabelSelector` selects the given labels.
pub fn selector_matches(sel: &Value, labels: Option<&Value>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let labels_ok = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| get(k) == v.as_str()));
    labels_ok
        && super::json::items(sel, "matchExpressions").iter().all(|req| {
            let key = super::json::s(req, "key");
            let vals: Vec<&str> = super::json::items(req, "values").iter().filter_map(Value::as_str).collect();
            match super::json::s(req, "operator") {
                "In" => get(key).is_some_and(|v| vals.contains(&v)),
                "NotIn" => get(key).is_none_or(|v| !vals.contains(&v)),
                "Exists" => get(key).is_some(),
                "DoesNotExist" => get(key).is_none(),
                _ => false,
            }
        })
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted, `<none>` when empty.
pub fn format_labels(map: Option<&Value>) -> String {
    let pairs = map.map(|m| super::json::string_map(&serde_json::json!({ "m": m }), "m")).unwrap_or_default();
    if pairs.is_empty() {
        return "<none>".into();
    }
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// The selector as a string (`LabelSelectorAsSelector(...).String()`): requirements
/// sorted by key, values sorted. Empty selector gives "".
pub fn selector_string(sel: &Value) -> String {
    let mut reqs: Vec<(String, String)> = super::json::string_map(sel, "matchLabels")
        .into_iter()
        .map(|(k, v)| (k.clone(), format!("{k}={v}")))
        .collect();
    for req in super::json::items(sel, "matchExpressions") {
        let key = super::json::s(req, "key").to_string();
        let mut vals: Vec<&str> = super::json::items(req, "values").iter().filter_map(Value::as_str).collect();
        vals.sort();
        vals.dedup();
        let text = match super::json::s(req, "operator") {
            "In" => format!("{key} in ({})", vals.join(",")),
            "NotIn" => format!("{key} notin ({})", vals.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        reqs.push((key, text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(",")
}

/// `metav1.FormatLabelSelector`: `<none>` for nil or empty selectors.
pub fn format_selector(sel: Option<&Value>) -> String {
    match sel.filter(|v| v.is_object()).map(selector_string) {
        Some(s) if !s.is_empty() => s,
        _ => "<none>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matching_and_printing() {
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]});
        assert!(selector_matches(&sel, Some(&json!({"app": "web", "tier": "a"}))));
        assert!(!selector_matches(&sel, Some(&json!({"app": "web"}))));
        assert_eq!(selector_string(&sel), "app=web,tier in (a,b)");
        assert_eq!(format_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn selector_validation() {
        let mut causes = Vec::new();
        validate_selector(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]}), "spec.selector", &mut causes);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.selector.matchExpressions[0].values");
    }
}
