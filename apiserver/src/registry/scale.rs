//! The `scale` subresource (autoscaling/v1 `Scale`) of every kind with `spec.replicas`
//! (upstream `pkg/registry/apps/deployment/storage` ScaleREST and its twins, as one).

use super::strategies::labels;
use super::store::{Store, Target, WriteOptions, Written};
use super::strategy::Cause;
use crate::error::ApiError;
use crate::patch::{self, PatchType};
use serde_json::{json, Value};

/// The Scale's `status.selector`: the object's selector as a string (upstream
/// `LabelSelectorAsSelector(...).String()`; a ReplicationController's plain map is the
/// same as `matchLabels`).
pub fn selector_of(obj: &Value) -> String {
    match obj.pointer("/spec/selector") {
        Some(sel) if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() => labels::selector_string(sel),
        Some(map) if map.is_object() => labels::selector_string(&json!({ "matchLabels": map })),
        _ => String::new(),
    }
}

/// The Scale view of an object.
pub fn to_scale(obj: &Value) -> Value {
    let md = obj.get("metadata").cloned().unwrap_or_default();
    let mut metadata = json!({});
    for key in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = md.get(key) {
            metadata[key] = v.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": { "replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0) },
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_of(obj),
        },
    })
}

/// GET scale.
pub async fn get(store: &Store, t: Target<'_>, name: &str) -> Result<Value, ApiError> {
    Ok(to_scale(&store.get(t, name).await?))
}

/// PUT scale: sets `spec.replicas`, honouring the Scale's resourceVersion.
pub async fn update(store: &Store, t: Target<'_>, name: &str, scale: Value, opts: &WriteOptions) -> Result<Value, ApiError> {
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    if replicas.as_i64().is_none_or(|r| r < 0) {
        return Err(ApiError::Invalid {
            kind: "Scale".into(),
            group: "autoscaling".into(),
            name: name.into(),
            causes: vec![Cause::invalid("spec.replicas", &replicas, "must be greater than or equal to 0")],
        });
    }
    let mut obj = store.get(t, name).await?;
    if let Some(rv) = scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|rv| !rv.is_empty()) {
        obj["metadata"]["resourceVersion"] = json!(rv);
    }
    obj["spec"]["replicas"] = replicas;
    let Written { object, .. } = store.update(t, name, obj, None, opts).await?;
    Ok(to_scale(&object))
}

/// PATCH scale: the patch applies to the Scale view. A server-side apply of a Scale
/// applies its `spec.replicas` to the object itself, owned by the manager with
/// subresource `scale` (upstream's scale field-manager conversion).
pub async fn patch(store: &Store, t: Target<'_>, name: &str, pt: PatchType, body: &[u8], opts: &WriteOptions) -> Result<Value, ApiError> {
    if pt == PatchType::Apply {
        let scale: Value = serde_yaml::from_slice(body).map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
        let text = |k: &str| scale.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        if text("apiVersion") != "autoscaling/v1" || text("kind") != "Scale" {
            return Err(ApiError::BadRequest(format!(
                "Incorrect version specified in apply patch. Specified patch version: {}, expected: autoscaling/v1",
                text("apiVersion")
            )));
        }
        let mut config = json!({ "apiVersion": t.kind.api_version(), "kind": t.kind.kind, "metadata": { "name": name } });
        if let Some(replicas) = scale.pointer("/spec/replicas") {
            config["spec"] = json!({ "replicas": replicas });
        }
        let Written { object, .. } = store.patch(t, name, pt, config.to_string().as_bytes(), Some("scale"), opts).await?;
        return Ok(to_scale(&object));
    }
    // Like upstream's patcher, a conflict with a concurrent writer (a controller's status
    // update) is retried on the fresh object, unless the patch itself names a version.
    let rv = |v: &Value| v.pointer("/metadata/resourceVersion").cloned();
    let mut attempts = 0;
    loop {
        let current = get(store, t, name).await?;
        let patched = patch::apply("io.k8s.api.autoscaling.v1.Scale", &current, pt, body)?;
        let pinned = rv(&patched) != rv(&current);
        match update(store, t, name, patched, opts).await {
            Err(ApiError::Conflict { .. }) if !pinned && attempts < 5 => attempts += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_render_like_upstream() {
        assert_eq!(selector_of(&json!({"spec": {"selector": {"matchLabels": {"app": "web"}}}})), "app=web");
        assert_eq!(
            selector_of(&json!({"spec": {"selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}}})),
            "tier in (a,b)"
        );
        assert_eq!(selector_of(&json!({"spec": {"selector": {"app": "rc"}}})), "app=rc");
    }
}
