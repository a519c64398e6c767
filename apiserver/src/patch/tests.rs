//! Dispatch tests for [`super::apply`] and [`super::PatchType`].

use super::{PatchError, PatchType, apply};
use serde_json::json;

#[test]
fn content_types() {
    assert_eq!(
        PatchType::from_content_type("application/json-patch+json"),
        Some(PatchType::Json)
    );
    assert_eq!(
        PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
        Some(PatchType::Merge)
    );
    assert_eq!(
        PatchType::from_content_type("application/strategic-merge-patch+json"),
        Some(PatchType::StrategicMerge)
    );
    assert_eq!(
        PatchType::from_content_type("application/apply-patch+yaml"),
        Some(PatchType::Apply)
    );
    assert_eq!(PatchType::from_content_type("application/json"), None);
    for t in [
        PatchType::Json,
        PatchType::Merge,
        PatchType::StrategicMerge,
        PatchType::Apply,
    ] {
        assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
    }
}

#[test]
fn apply_dispatches_each_type() {
    let cm = "io.k8s.api.core.v1.ConfigMap";
    let original = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
    let out = apply(cm, &original, PatchType::Merge, br#"{"data":{"b":"2"}}"#).unwrap();
    assert_eq!(out["data"], json!({"a": "1", "b": "2"}));
    let out = apply(
        cm,
        &original,
        PatchType::StrategicMerge,
        br#"{"data":{"a":null}}"#,
    )
    .unwrap();
    assert_eq!(out["data"], json!({}));
    let out = apply(
        cm,
        &original,
        PatchType::Json,
        br#"[{"op":"add","path":"/data/c","value":"3"}]"#,
    )
    .unwrap();
    assert_eq!(out["data"], json!({"a": "1", "c": "3"}));
}

#[test]
fn apply_errors() {
    let cm = "io.k8s.api.core.v1.ConfigMap";
    let original = json!({"data": {}});
    let err = apply(cm, &original, PatchType::Apply, b"data: {}").unwrap_err();
    assert_eq!(err, PatchError::ApplyNotSupported);
    assert_eq!(err.status_code(), 415);
    let err = apply(cm, &original, PatchType::Merge, b"{not json").unwrap_err();
    assert_eq!(
        (err.status_code(), err.to_string()),
        (400, "invalid JSON patch".to_string())
    );
    let err = apply(cm, &original, PatchType::Merge, b"[1]").unwrap_err();
    assert_eq!(err.status_code(), 422);
    let err = apply(
        cm,
        &original,
        PatchType::Json,
        br#"[{"op":"test","path":"/data","value":1}]"#,
    )
    .unwrap_err();
    assert_eq!(err.status_code(), 422);
}
