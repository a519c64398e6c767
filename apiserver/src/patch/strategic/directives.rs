//! Strategic merge patch directives (`$patch`, `$retainKeys`,
//! `$setElementOrder/…`, `$deleteFromPrimitiveList/…`) and the helpers that keep
//! them out of the result.

use crate::patch::PatchError;
use crate::patch::error::messages;
use serde_json::{Map, Value};

/// `$patch`: `replace`, `delete` or `merge` for the enclosing map or list item.
pub(super) const PATCH: &str = "$patch";
/// `$retainKeys`: the keys the merged map keeps.
pub(super) const RETAIN_KEYS: &str = "$retainKeys";
/// `$setElementOrder/<field>`: final order of a merged list.
pub(super) const SET_ELEMENT_ORDER: &str = "$setElementOrder";
/// `$deleteFromPrimitiveList/<field>`: scalars to remove from a merged list.
pub(super) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Whether `key` is a directive rather than data.
pub(super) fn is_directive_key(key: &str) -> bool {
    key == PATCH
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// The field name in `$prefix/<field>`; a key that starts with the prefix but
/// has no `/` right after it is a 400 like upstream.
pub(super) fn field_of<'k>(key: &'k str, prefix: &str) -> Result<&'k str, PatchError> {
    match key.split_once('/') {
        Some((head, field)) if head == prefix => Ok(field),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => {
            Err(PatchError::BadStrategicPatch(messages::BAD_PRIMITIVE_LIST))
        }
        _ => Err(PatchError::BadStrategicPatch(
            messages::BAD_SET_ELEMENT_ORDER,
        )),
    }
}

/// Cleans a patch value that is taken as-is: drops maps carrying `$patch`
/// (returns `None` when `value` itself is one), other directive keys, and
/// `null` members (a `null` in new content means "absent").
pub(super) fn clean(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(PATCH) {
                return None;
            }
            Some(Value::Object(clean_map(map)))
        }
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(clean).collect())),
        other => Some(other),
    }
}

/// [`clean`] for the members of a map whose own `$patch` was already handled.
pub(super) fn clean_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
        .filter_map(|(k, v)| clean(v).map(|v| (k, v)))
        .collect()
}

/// Applies `$retainKeys` (removed from `patch`): every non-null data key of the
/// patch must be listed (else 400), and keys of `original` not listed are dropped.
pub(super) fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadStrategicPatch(messages::BAD_RETAIN_KEYS));
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(PatchError::BadStrategicPatch(messages::BAD_RETAIN_KEYS));
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// Go's name for the type of a JSON value, for upstream-like messages.
pub(super) fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "map[string]interface {}",
        Value::Array(_) => "[]interface {}",
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::Bool(_) => "bool",
        Value::Null => "<nil>",
    }
}

/// Upstream `mergepatch.ErrBadArgType` (a 500).
pub(super) fn bad_arg(expected: &str, actual: &Value) -> PatchError {
    PatchError::StrategicPatchFailed(format!(
        "expected a {expected}, but received a {}",
        go_type(actual)
    ))
}

/// Upstream `mergepatch.ErrNoMergeKey` (a 500).
pub(super) fn no_merge_key(item: &Value, key: &str) -> PatchError {
    PatchError::StrategicPatchFailed(format!(
        "map: {item} does not contain declared merge key: {key}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clean_drops_directives_and_nulls() {
        let v = json!({"a": 1, "b": null, "$retainKeys": ["a"], "$setElementOrder/l": [],
                       "l": [{"x": 1}, {"$patch": "delete", "x": 2}], "m": {"$patch": "replace"}});
        assert_eq!(clean(v), Some(json!({"a": 1, "l": [{"x": 1}]})));
        assert_eq!(clean(json!({"$patch": "delete"})), None);
    }

    #[test]
    fn retain_keys() {
        let mut original = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}});
        let mut patch = json!({"$retainKeys": ["type"], "type": "Recreate"});
        apply_retain_keys(
            original.as_object_mut().unwrap(),
            patch.as_object_mut().unwrap(),
        )
        .unwrap();
        assert_eq!(original, json!({"type": "RollingUpdate"}));
        assert_eq!(patch, json!({"type": "Recreate"}));

        let mut patch = json!({"$retainKeys": ["type"], "rollingUpdate": {}});
        let err = apply_retain_keys(&mut Map::new(), patch.as_object_mut().unwrap()).unwrap_err();
        assert_eq!(err.status_code(), 400);
        let mut patch = json!({"$retainKeys": "type"});
        assert!(apply_retain_keys(&mut Map::new(), patch.as_object_mut().unwrap()).is_err());
    }

    #[test]
    fn directive_field_names() {
        assert_eq!(
            field_of("$setElementOrder/containers", SET_ELEMENT_ORDER).unwrap(),
            "containers"
        );
        assert_eq!(
            field_of("$setElementOrderx", SET_ELEMENT_ORDER)
                .unwrap_err()
                .status_code(),
            400
        );
        assert_eq!(
            field_of("$deleteFromPrimitiveListx", DELETE_FROM_PRIMITIVE_LIST).unwrap_err(),
            PatchError::BadStrategicPatch(messages::BAD_PRIMITIVE_LIST)
        );
    }
}
