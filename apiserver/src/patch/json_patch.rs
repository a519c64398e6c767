//! JSON patch (RFC 6902) through the `json-patch` crate, with upstream's limits
//! and status codes.

use super::PatchError;
use serde_json::Value;

/// Upstream `maxJSONPatchOperations`.
const MAX_OPERATIONS: usize = 10_000;

/// Applies a decoded JSON patch document to a copy of `original`.
pub(super) fn apply(original: &Value, patch: Value) -> Result<Value, PatchError> {
    let patch: ::json_patch::Patch = serde_json::from_value(patch)
        .map_err(|e| PatchError::Malformed(format!("error decoding patch: {e}")))?;
    if patch.0.len() > MAX_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            max: MAX_OPERATIONS,
            got: patch.0.len(),
        });
    }
    let mut doc = original.clone();
    ::json_patch::patch(&mut doc, &patch)
        .map_err(|e| PatchError::JsonPatchFailed(e.to_string()))?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replace_and_add() {
        let out = apply(
            &json!({"metadata": {"name": "a", "labels": {"x": "1"}}}),
            json!([
                {"op": "replace", "path": "/metadata/labels/x", "value": "2"},
                {"op": "add", "path": "/metadata/labels/y", "value": "3"}
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"name": "a", "labels": {"x": "2", "y": "3"}}})
        );
    }

    #[test]
    fn failing_test_op_is_422() {
        let err = apply(
            &json!({"spec": {"replicas": 1}}),
            json!([{"op": "test", "path": "/spec/replicas", "value": 2}]),
        )
        .unwrap_err();
        assert!(matches!(err, PatchError::JsonPatchFailed(_)));
        assert_eq!(err.status_code(), 422);
    }

    #[test]
    fn missing_path_is_422_and_object_is_400() {
        let err = apply(&json!({}), json!([{"op": "remove", "path": "/nope"}])).unwrap_err();
        assert_eq!(err.status_code(), 422);
        let err = apply(&json!({}), json!({"op": "remove"})).unwrap_err();
        assert_eq!(err.status_code(), 400);
    }

    #[test]
    fn too_many_operations_is_413() {
        let ops: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "/a", "value": 1}))
            .collect();
        let err = apply(&json!({"a": 1}), Value::Array(ops)).unwrap_err();
        assert_eq!(err.status_code(), 413);
    }
}
