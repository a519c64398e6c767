//! More `field.Error` kinds than `strategy.rs` offers, and Go `%#v` renderings of the few
//! composite values upstream prints inside messages (maps, label selectors, role refs).

use crate::registry::strategy::Cause;
use serde_json::Value;

impl Cause {
    /// `Required value: <detail>` at `field`.
    pub fn required_because(field: impl Into<String>, detail: &str) -> Self {
        Cause { reason: "FieldValueRequired", message: format!("Required value: {detail}"), field: field.into() }
    }
    /// `Not found: <value>` at `field`.
    pub fn not_found(field: impl Into<String>, value: &Value) -> Self {
        Cause {
            reason: "FieldValueNotFound",
            message: format!("Not found: {}", crate::registry::strategy::render_value(value)),
            field: field.into(),
        }
    }
    /// `Invalid value: <rendered>: <detail>` where the value is already rendered (Go `%#v`).
    pub fn invalid_raw(field: impl Into<String>, rendered: &str, detail: &str) -> Self {
        Cause { reason: "FieldValueInvalid", message: format!("Invalid value: {rendered}: {detail}"), field: field.into() }
    }
    /// `Too long: may not be more than <max> bytes` at `field`.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Cause { reason: "FieldValueTooLong", message: format!("Too long: may not be more than {max} bytes"), field: field.into() }
    }
}

/// Adds one `Invalid value` cause per message.
pub fn invalid_each(causes: &mut Vec<Cause>, field: &str, value: &Value, messages: Vec<String>) {
    for m in messages {
        causes.push(Cause::invalid(field, value, m));
    }
}

/// Go `%q`-quoted string.
pub fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// Go `%#v` of a `map[string]string` (keys sorted, as Go prints maps).
pub fn go_string_map(map: Option<&Value>) -> String {
    let Some(m) = map.and_then(Value::as_object) else {
        return "map[string]string(nil)".into();
    };
    let mut pairs: Vec<(&String, &str)> = m.iter().map(|(k, v)| (k, v.as_str().unwrap_or(""))).collect();
    pairs.sort();
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v))).collect();
    format!("map[string]string{{{}}}", body.join(", "))
}

fn go_string_slice(v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        None => "[]string(nil)".into(),
        Some(a) => {
            let body: Vec<String> = a.iter().map(|x| go_quote(x.as_str().unwrap_or(""))).collect();
            format!("[]string{{{}}}", body.join(", "))
        }
    }
}

/// Go `%#v` of a `metav1.LabelSelector` (nil pointer renders as `null`).
pub fn go_label_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|v| v.is_object()) else {
        return "null".into();
    };
    let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let body: Vec<String> = list
                .iter()
                .map(|r| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(r.get("key").and_then(Value::as_str).unwrap_or("")),
                        go_quote(r.get("operator").and_then(Value::as_str).unwrap_or("")),
                        go_string_slice(r.get("values"))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", body.join(", "))
        }
    };
    format!("v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}", go_string_map(sel.get("matchLabels")), exprs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_renderings() {
        assert_eq!(go_string_map(Some(&json!({"b": "2", "a": "1"}))), r#"map[string]string{"a":"1", "b":"2"}"#);
        assert_eq!(go_string_map(None), "map[string]string(nil)");
        assert_eq!(
            go_label_selector(Some(&json!({"matchLabels": {"app": "web"}}))),
            r#"v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
        );
    }
}
