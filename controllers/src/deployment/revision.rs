//! ReplicaSet identity and history for Deployments: the `pod-template-hash` label, template
//! comparison and the `deployment.kubernetes.io/*` annotations that `kubectl rollout
//! history` / `undo` read (upstream `deployment_util.go`, `pkg/controller/controller_utils.go`).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;
use std::collections::BTreeMap;

/// Label (and selector key) that tells a Deployment's ReplicaSets apart.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Revision of a ReplicaSet (and of the Deployment: its newest ReplicaSet's).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet had (when it came back through `rollout undo`).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// `spec.replicas` of the Deployment when the ReplicaSet was last sized.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` of the Deployment when the ReplicaSet was last sized.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Deployment annotations never copied to its ReplicaSets (upstream `skipCopyAnnotation`).
fn skip_copy(key: &str) -> bool {
    matches!(key, "kubectl.kubernetes.io/last-applied-configuration" | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS | "deprecated.deployment.rollback.to")
}

/// 32-bit FNV-1a.
fn fnv32a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// Upstream `rand.SafeEncodeString`: maps each character to a consonant or digit so the
/// hash never spells words and is valid in names and label values.
pub(crate) fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes().map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char).collect()
}

/// A template as JSON without the `pod-template-hash` label and without empty objects,
/// arrays and nulls. Go serializes value structs such as a container's `resources` as `{}`
/// where other clients omit them; upstream compares typed structs, where both are the same.
fn normalized(template: &PodTemplateSpec) -> Value {
    fn prune(v: &mut Value) -> bool {
        match v {
            Value::Object(map) => {
                map.retain(|_, child| !prune(child));
                map.is_empty()
            }
            Value::Array(items) => {
                items.iter_mut().for_each(|i| {
                    prune(i);
                });
                items.is_empty()
            }
            Value::Null => true,
            _ => false,
        }
    }
    let mut v = serde_json::to_value(template).unwrap_or_default();
    if let Some(labels) = v.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    prune(&mut v);
    v
}

/// The `pod-template-hash` of a template (upstream `ComputeHash`: FNV-32a, then the
/// collision count, encoded with `SafeEncodeString`). Upstream hashes Go's `spew` dump of
/// the struct, which has no Rust equivalent; this hashes the normalized JSON instead, so
/// values differ from a real cluster's while keeping the same shape and properties.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(&normalized(template)).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// Whether two templates are equal ignoring `pod-template-hash` (upstream `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    normalized(a) == normalized(b)
}

/// A ReplicaSet's revision (0 when missing or invalid).
pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(&rs.metadata.annotations, REVISION).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// An annotation value.
pub fn annotation<'a>(annotations: &'a Option<BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    annotations.as_ref()?.get(key).map(String::as_str)
}

/// An integer annotation.
pub fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotation(&rs.metadata.annotations, key)?.parse().ok()
}

/// The annotations a new or current ReplicaSet should carry (upstream
/// `SetNewReplicaSetAnnotations`): the Deployment's copyable annotations, and the revision
/// `new_revision` unless it already has a higher one. A ReplicaSet brought back by
/// `rollout undo` gets the next revision and remembers its old one in `revision-history`.
pub fn new_rs_annotations(d: &Deployment, rs_annotations: &BTreeMap<String, String>, new_revision: i64) -> BTreeMap<String, String> {
    let mut out = rs_annotations.clone();
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if !skip_copy(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    let old: i64 = rs_annotations.get(REVISION).and_then(|v| v.parse().ok()).unwrap_or(0);
    if old < new_revision {
        if old > 0 {
            let history = match rs_annotations.get(REVISION_HISTORY) {
                Some(h) if !h.is_empty() => format!("{h},{old}"),
                _ => old.to_string(),
            };
            out.insert(REVISION_HISTORY.into(), history);
        }
        out.insert(REVISION.into(), new_revision.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn template(image: &str, hash: Option<&str>) -> PodTemplateSpec {
        let mut labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        if let Some(h) = hash {
            labels.insert(POD_TEMPLATE_HASH.into(), h.into());
        }
        let spec = serde_json::from_value(serde_json::json!({"containers": [{"name": "c", "image": image}]})).unwrap();
        PodTemplateSpec { metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }), spec: Some(spec) }
    }

    #[test]
    fn hash_ignores_its_own_label_and_changes_with_template_and_collisions() {
        let a = template_hash(&template("a", None), None);
        assert_eq!(a, template_hash(&template("a", Some("xyz")), None));
        assert_ne!(a, template_hash(&template("b", None), None));
        assert_ne!(a, template_hash(&template("a", None), Some(1)));
        assert!(a.bytes().all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)), "{a}");
        assert!(equal_ignore_hash(&template("a", None), &template("a", Some(&a))));
        assert!(!equal_ignore_hash(&template("a", None), &template("b", None)));
        // `resources: {}` (as Go clients send it) is the same template as no resources.
        let mut with_empty = template("a", None);
        with_empty.spec.as_mut().unwrap().containers[0].resources = Some(Default::default());
        assert!(equal_ignore_hash(&template("a", None), &with_empty));
        assert_eq!(a, template_hash(&with_empty, None));
    }

    #[test]
    fn undone_replica_set_gets_the_next_revision_and_keeps_history() {
        let d = Deployment { metadata: ObjectMeta { annotations: Some(BTreeMap::from([("kubernetes.io/change-cause".into(), "x".into())])), ..Default::default() }, ..Default::default() };
        let current = BTreeMap::from([(REVISION.to_string(), "1".to_string())]);
        let out = new_rs_annotations(&d, &current, 3);
        assert_eq!(out[REVISION], "3");
        assert_eq!(out[REVISION_HISTORY], "1");
        assert_eq!(out["kubernetes.io/change-cause"], "x");
        // Already the newest: unchanged revision.
        assert_eq!(new_rs_annotations(&d, &BTreeMap::from([(REVISION.to_string(), "3".to_string())]), 3)[REVISION], "3");
    }
}
