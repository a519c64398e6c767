//! JSON merge patch (RFC 7386): `null` deletes, objects merge recursively,
//! anything else replaces.

use serde_json::Value;

/// Applies a merge patch to a copy of `original`.
pub(super) fn apply(original: &Value, patch: &Value) -> Value {
    let mut doc = original.clone();
    merge(&mut doc, patch);
    doc
}

fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(map) = target else {
        unreachable!("made an object above")
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_examples() {
        let original = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        let patch = json!({"a": "z", "c": {"f": null, "n": {"x": null, "y": 1}}, "l": [3]});
        assert_eq!(
            apply(&original, &patch),
            json!({"a": "z", "c": {"d": "e", "n": {"y": 1}}, "l": [3]})
        );
        assert_eq!(apply(&json!({"a": 1}), &json!(["x"])), json!(["x"]));
        assert_eq!(
            apply(&json!({"a": [1]}), &json!({"a": {"b": 1}})),
            json!({"a": {"b": 1}})
        );
    }

    #[test]
    fn label_overwrite_like_kubectl() {
        let original = json!({"metadata": {"name": "n", "labels": {"app": "web", "tier": "a"}}});
        let patch = json!({"metadata": {"labels": {"tier": "b", "app": null}}});
        assert_eq!(
            apply(&original, &patch),
            json!({"metadata": {"name": "n", "labels": {"tier": "b"}}})
        );
    }
}
