//! Binding a pod to a node: the `pods/binding` subresource and the older `bindings`
//! resource, both upstream `BindingREST` (`pkg/registry/core/pod/storage/storage.go`,
//! `assignPod`/`setPodNodeAndMetadata`). The write is one read-modify-write of the pod
//! through the generic store ([`Store::guaranteed_update`]).

use super::kinds::Kind;
use super::meta::{metadata_mut, now};
use super::store::{Store, Target, WriteOptions, BINDING};
use super::strategy::Cause;
use crate::error::ApiError;
use serde_json::{json, Value};

/// Binds the pod named by `binding.metadata.name` in `pods.namespace` to
/// `binding.target.name`. `url_name` is the pod name of a `pods/{name}/binding` URL
/// (`None` for `POST .../bindings`). Returns the `Success` Status upstream answers with.
pub async fn create(
    store: &Store,
    pods: Target<'_>,
    binding_kind: &Kind,
    url_name: Option<&str>,
    binding: Value,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let binding = binding_kind.typed.normalize(typed(binding_kind, binding)).map_err(|e| {
        ApiError::BadRequest(format!("Binding in version \"v1\" cannot be handled as a Binding: {e}"))
    })?;
    let text = |path: &str| binding.pointer(path).and_then(Value::as_str).unwrap_or_default().to_string();
    let name = text("/metadata/name");
    if url_name.is_some_and(|u| u != name) {
        return Err(ApiError::BadRequest("name in URL does not match name in Binding object".into()));
    }
    let binding_ns = text("/metadata/namespace");
    if !binding_ns.is_empty() && Some(binding_ns.as_str()) != pods.namespace {
        return Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request".into(),
        ));
    }
    let causes = validate(&binding);
    if !causes.is_empty() {
        return Err(ApiError::Invalid { kind: "Binding".into(), group: String::new(), name, causes });
    }
    let node = text("/target/name");
    let preconditions = Preconditions { uid: text("/metadata/uid"), resource_version: text("/metadata/resourceVersion") };
    let annotations = binding.pointer("/metadata/annotations").and_then(Value::as_object).cloned().unwrap_or_default();
    let result = store
        .guaranteed_update(pods, &name, Some(BINDING), opts, |pod| {
            preconditions.check(pods.kind, &name, pod)?;
            assign(pod, &node, &annotations).map_err(|reason| binding_conflict(&name, reason))
        })
        .await;
    result?;
    Ok(json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201 }))
}

fn typed(kind: &Kind, mut obj: Value) -> Value {
    if let Some(o) = obj.as_object_mut() {
        o.entry("apiVersion").or_insert(json!(kind.api_version()));
        o.entry("kind").or_insert(json!(kind.kind));
    }
    obj
}

/// Upstream `ValidatePodBinding`. Upstream returns these as a plain error (a 500 with
/// no reason); a 422 Invalid with causes tells the client more and nothing less.
fn validate(binding: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let kind = binding.pointer("/target/kind").cloned().unwrap_or(json!(""));
    if kind != json!("") && kind != json!("Node") {
        causes.push(Cause::not_supported("target.kind", &kind, &["Node", "<empty>"]));
    }
    if binding.pointer("/target/name").and_then(Value::as_str).unwrap_or_default().is_empty() {
        causes.push(Cause::required("target.name"));
    }
    causes
}

/// The binding's own uid and resourceVersion, when set, must match the pod's.
struct Preconditions {
    uid: String,
    resource_version: String,
}

impl Preconditions {
    fn check(&self, pods: &Kind, name: &str, pod: &Value) -> Result<(), ApiError> {
        let field = |p: &str| pod.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let conflict = |reason: String| ApiError::Conflict {
            resource: pods.group_resource(),
            group: String::new(),
            kind: pods.resource.into(),
            name: name.into(),
            reason,
        };
        let uid = field("/metadata/uid");
        if !self.uid.is_empty() && self.uid != uid {
            return Err(conflict(format!("Precondition failed: UID in precondition: {}, UID in object meta: {uid}", self.uid)));
        }
        let rv = field("/metadata/resourceVersion");
        if !self.resource_version.is_empty() && self.resource_version != rv {
            return Err(conflict(format!(
                "Precondition failed: ResourceVersion in precondition: {}, ResourceVersion in object meta: {rv}",
                self.resource_version
            )));
        }
        Ok(())
    }
}

/// 409 on `pods/binding`, as upstream wraps every refusal of `assignPod`.
fn binding_conflict(name: &str, reason: String) -> ApiError {
    ApiError::Conflict { resource: "pods/binding".into(), group: String::new(), kind: "pods/binding".into(), name: name.into(), reason }
}

/// The pod bound to `node` (upstream `setPodNodeAndMetadata`), or why it cannot be.
pub fn assign(pod: &Value, node: &str, annotations: &serde_json::Map<String, Value>) -> Result<Value, String> {
    let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    if pod.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        return Err(format!("pod {name} is being deleted, cannot be assigned to a host"));
    }
    let current = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
    if !current.is_empty() {
        return Err(format!("pod {name} is already assigned to node {current:?}"));
    }
    if pod.pointer("/spec/schedulingGates").and_then(Value::as_array).is_some_and(|g| !g.is_empty()) {
        return Err(format!("pod {name} has non-empty .spec.schedulingGates"));
    }
    let mut pod = pod.clone();
    pod["spec"]["nodeName"] = json!(node);
    if !annotations.is_empty() {
        let md = metadata_mut(&mut pod);
        let target = md.entry("annotations").or_insert_with(|| json!({}));
        if let Some(map) = target.as_object_mut() {
            map.extend(annotations.clone());
        }
    }
    let generation = pod.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    let status = pod["status"].as_object_mut().expect("status is an object");
    // Cleared once bound (upstream `ClearingNominatedNodeNameAfterBinding`).
    status.remove("nominatedNodeName");
    set_scheduled_condition(status, generation);
    Ok(pod)
}

/// Upstream `UpdatePodCondition` with `PodScheduled=True`: the transition time moves
/// only when the status changes; reason and message are cleared.
fn set_scheduled_condition(status: &mut serde_json::Map<String, Value>, generation: Value) {
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions.as_array_mut().expect("conditions is an array");
    let existing = list.iter().position(|c| c.get("type") == Some(&json!("PodScheduled")));
    let transition = match existing.map(|i| &list[i]) {
        Some(old) if old.get("status") == Some(&json!("True")) => old.get("lastTransitionTime").cloned().unwrap_or(json!(now())),
        _ => json!(now()),
    };
    let condition = json!({
        "type": "PodScheduled",
        "status": "True",
        "observedGeneration": generation,
        "lastTransitionTime": transition,
    });
    match existing {
        Some(i) => list[i] = condition,
        None => list.push(condition),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "generation": 1}, "spec": {"containers": []}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m"}]}})
    }

    #[test]
    fn assign_sets_node_annotations_and_condition() {
        let mut ann = serde_json::Map::new();
        ann.insert("a".into(), json!("b"));
        let bound = assign(&pod(), "n1", &ann).unwrap();
        assert_eq!(bound["spec"]["nodeName"], "n1");
        assert_eq!(bound["metadata"]["annotations"]["a"], "b");
        let conditions = bound["status"]["conditions"].as_array().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0]["status"], "True");
        assert!(conditions[0].get("reason").is_none());
    }

    #[test]
    fn assign_refuses_bound_deleting_and_gated_pods() {
        let none = serde_json::Map::new();
        let bound = assign(&pod(), "n1", &none).unwrap();
        assert_eq!(assign(&bound, "n2", &none).unwrap_err(), "pod p is already assigned to node \"n1\"");
        let mut deleting = pod();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(assign(&deleting, "n1", &none).unwrap_err(), "pod p is being deleted, cannot be assigned to a host");
        let mut gated = pod();
        gated["spec"]["schedulingGates"] = json!([{"name": "g"}]);
        assert_eq!(assign(&gated, "n1", &none).unwrap_err(), "pod p has non-empty .spec.schedulingGates");
    }

    #[test]
    fn validation_wants_a_node_target() {
        assert!(validate(&json!({"target": {"kind": "Node", "name": "n"}})).is_empty());
        assert!(validate(&json!({"target": {"name": "n"}})).is_empty());
        let causes = validate(&json!({"target": {"kind": "Pod"}}));
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0].field, "target.kind");
        assert_eq!(causes[1].field, "target.name");
    }
}
