//! Matching helpers shared by the plugins: label selectors, node selector terms and
//! tolerations (upstream `k8s.io/apimachinery/pkg/labels`,
//! `component-helpers/scheduling/corev1/nodeaffinity` and `v1helper.TolerationsTolerateTaint`).

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

type Labels = BTreeMap<String, String>;

/// A `LabelSelector` match; `None` selects nothing (upstream: a nil selector matches
/// nothing, an empty one everything).
pub fn selector_matches(selector: Option<&LabelSelector>, labels: &Labels) -> bool {
    let Some(sel) = selector else { return false };
    let labels_ok = sel.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    labels_ok
        && sel.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            match e.operator.as_str() {
                "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
                "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
                "Exists" => labels.contains_key(&e.key),
                "DoesNotExist" => !labels.contains_key(&e.key),
                _ => false,
            }
        })
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(want)) = (value.and_then(|v| number(v)), values.first().and_then(|v| number(v))) else { return false };
            if r.operator == "Gt" { have > want } else { have < want }
        }
        _ => false,
    }
}

/// One node selector term: all its expressions and fields match. An empty term
/// matches nothing (upstream).
pub fn term_matches(term: &NodeSelectorTerm, node_name: &str, labels: &Labels) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let name = node_name.to_string();
    exprs.iter().all(|r| requirement_matches(r, labels.get(&r.key)))
        && fields.iter().all(|r| r.key == "metadata.name" && requirement_matches(r, Some(&name)))
}

/// Whether a toleration tolerates a taint.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect_ok = t.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
    let key_ok = t.key.as_deref().is_none_or(|k| k.is_empty() || k == taint.key);
    let value_ok = match t.operator.as_deref() {
        Some("Exists") => true,
        None | Some("") | Some("Equal") => t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default(),
        _ => false,
    };
    effect_ok && key_ok && value_ok
}

/// Whether any toleration tolerates the taint.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint { key: key.into(), value: Some(value.into()), effect: effect.into(), ..Default::default() }
    }

    #[test]
    fn tolerations_follow_upstream_rules() {
        let t = |v: serde_json::Value| -> Toleration { serde_json::from_value(v).unwrap() };
        let dedicated = taint("dedicated", "gpu", "NoSchedule");
        assert!(tolerates(&t(json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})), &dedicated));
        assert!(tolerates(&t(json!({"key": "dedicated", "operator": "Exists"})), &dedicated));
        assert!(tolerates(&t(json!({"operator": "Exists"})), &dedicated));
        assert!(!tolerates(&t(json!({"key": "dedicated", "value": "cpu"})), &dedicated));
        assert!(!tolerates(&t(json!({"key": "dedicated", "value": "gpu", "effect": "NoExecute"})), &dedicated));
        assert!(!tolerates(&t(json!({"key": "other", "operator": "Exists"})), &dedicated));
    }

    #[test]
    fn node_selector_terms() {
        let term: NodeSelectorTerm = serde_json::from_value(json!({"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a", "b"]},
            {"key": "cores", "operator": "Gt", "values": ["4"]}]})).unwrap();
        let labels = |z: &str, c: &str| Labels::from([("zone".into(), z.into()), ("cores".into(), c.into())]);
        assert!(term_matches(&term, "n", &labels("a", "8")));
        assert!(!term_matches(&term, "n", &labels("c", "8")));
        assert!(!term_matches(&term, "n", &labels("a", "2")));
        let by_name: NodeSelectorTerm = serde_json::from_value(json!({"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["n1"]}]})).unwrap();
        assert!(term_matches(&by_name, "n1", &Labels::new()));
        assert!(!term_matches(&by_name, "n2", &Labels::new()));
        assert!(!term_matches(&NodeSelectorTerm::default(), "n1", &Labels::new()));
    }

    #[test]
    fn label_selectors() {
        let sel: LabelSelector = serde_json::from_value(json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]})).unwrap();
        let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Labels>();
        assert!(selector_matches(Some(&sel), &labels(&[("app", "web")])));
        assert!(!selector_matches(Some(&sel), &labels(&[("app", "web"), ("tier", "db")])));
        assert!(!selector_matches(None, &labels(&[("app", "web")])));
        assert!(selector_matches(Some(&LabelSelector::default()), &labels(&[])));
    }
}
