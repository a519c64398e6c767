//! A StatefulSet pod's identity and storage (upstream `stateful_set_utils.go`): the name
//! `<set>-<ordinal>`, its labels, hostname and subdomain, the claims
//! `<template>-<set>-<ordinal>` and which objects own those claims under
//! `persistentVolumeClaimRetentionPolicy`.

use crate::cached_pod::CachedPod;
use crate::history::POD_REVISION_LABEL;
use crate::ownership;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

/// Label with the pod's name (upstream `StatefulSetPodNameLabel`).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Label with the pod's ordinal (upstream `PodIndexLabel`).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// `spec.replicas` (default 1).
pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0)
}

/// `spec.ordinals.start` (upstream `getStartOrdinal`).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0)
}

/// The last ordinal in range (upstream `getEndOrdinal`; below start when replicas is 0).
pub fn end_ordinal(set: &StatefulSet) -> i32 {
    start_ordinal(set) + replicas(set) - 1
}

/// `<set>-<ordinal>`.
pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set.name_any())
}

/// The ordinal in a pod name `<parent>-<ordinal>` (upstream `getParentNameAndOrdinal`).
pub fn parse_name(name: &str) -> Option<(&str, i32)> {
    let (parent, ordinal) = name.rsplit_once('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ordinal.parse().ok()?))
}

/// The pod's ordinal, None when its name is not `<something>-<number>`.
pub fn ordinal(pod: &CachedPod) -> Option<i32> {
    parse_name(pod.metadata.name.as_deref()?).map(|(_, o)| o)
}

/// Whether a pod belongs to the set by name (upstream `isMemberOf`).
pub fn is_member(set: &StatefulSet, pod: &CachedPod) -> bool {
    pod.metadata.name.as_deref().and_then(parse_name).is_some_and(|(parent, _)| parent == set.name_any())
}

/// Whether the ordinal is within `[start, end]`.
pub fn in_range(set: &StatefulSet, ordinal: i32) -> bool {
    ordinal >= start_ordinal(set) && ordinal <= end_ordinal(set)
}

/// The revision a pod was made from.
pub fn pod_revision(pod: &CachedPod) -> Option<&str> {
    pod.metadata.labels.as_ref()?.get(POD_REVISION_LABEL).map(String::as_str)
}

/// The claims a pod at `ordinal` uses, by volume name (upstream `getPersistentVolumeClaims`):
/// each template named `<template>-<set>-<ordinal>`, labelled with the selector's labels.
pub fn claims(set: &StatefulSet, ordinal: i32) -> BTreeMap<String, PersistentVolumeClaim> {
    let spec = set.spec.clone().unwrap_or_default();
    let selector_labels = spec.selector.match_labels.clone().unwrap_or_default();
    let mut out = BTreeMap::new();
    for template in spec.volume_claim_templates.into_iter().flatten() {
        let volume = template.name_any();
        let mut claim = PersistentVolumeClaim { metadata: template.metadata, spec: template.spec, status: None };
        claim.metadata.name = Some(format!("{volume}-{}-{ordinal}", set.name_any()));
        claim.metadata.namespace = set.metadata.namespace.clone();
        claim.metadata.resource_version = None;
        claim.metadata.uid = None;
        claim.metadata.creation_timestamp = None;
        let labels = claim.metadata.labels.get_or_insert_with(BTreeMap::new);
        labels.extend(selector_labels.clone());
        out.insert(volume, claim);
    }
    out
}

/// Sets the identity upstream gives every pod (`updateIdentity`): name, namespace and the
/// pod-name and pod-index labels.
fn set_identity(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let name = pod_name(set, ordinal);
    pod.metadata.namespace = set.metadata.namespace.clone();
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    pod.metadata.name = Some(name);
}

/// Points the pod's volumes at its claims (upstream `updateStorage`): one
/// `persistentVolumeClaim` volume per template, replacing a template volume of that name.
fn set_storage(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let claims = claims(set, ordinal);
    let Some(spec) = pod.spec.as_mut() else { return };
    let mut volumes: Vec<Volume> = claims
        .iter()
        .map(|(volume, claim)| Volume {
            name: volume.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim.name_any(), read_only: None }),
            ..Default::default()
        })
        .collect();
    volumes.extend(spec.volumes.take().into_iter().flatten().filter(|v| !claims.contains_key(&v.name)));
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
}

/// A new pod for `ordinal` from the set's template at `revision` (upstream
/// `newVersionedStatefulSetPod` for one set): identity, hostname = name, subdomain =
/// `serviceName`, storage and the `controller-revision-hash` label.
pub fn new_pod(set: &StatefulSet, ordinal: i32, revision: &str) -> Pod {
    let template = set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let mut pod = crate::pods::from_template(&template, &set.namespace().unwrap_or_default(), &set.name_any(), ownership::controller_ref(set));
    pod.metadata.generate_name = None;
    set_identity(set, &mut pod, ordinal);
    if let Some(spec) = pod.spec.as_mut() {
        spec.hostname = pod.metadata.name.clone();
        spec.subdomain = set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty());
    }
    set_storage(set, &mut pod, ordinal);
    pod.metadata.labels.get_or_insert_with(BTreeMap::new).insert(POD_REVISION_LABEL.into(), revision.into());
    pod
}

/// Whether the pod has the identity its ordinal calls for (upstream `identityMatches`).
pub fn identity_matches(set: &StatefulSet, pod: &CachedPod) -> bool {
    let Some(ord) = ordinal(pod) else { return false };
    let labels = pod.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    pod.metadata.name.as_deref() == Some(pod_name(set, ord).as_str())
        && pod.metadata.namespace == set.metadata.namespace
        && label(POD_NAME_LABEL) == pod.metadata.name.as_deref()
        && label(POD_INDEX_LABEL) == Some(ord.to_string().as_str())
}

/// Re-applies identity labels to an existing pod (upstream `UpdateStatefulPod`'s identity
/// half); the merge patch for them.
pub fn identity_patch(set: &StatefulSet, pod: &CachedPod) -> Option<serde_json::Value> {
    let ord = ordinal(pod)?;
    Some(serde_json::json!({"metadata": {"labels": {POD_NAME_LABEL: pod_name(set, ord), POD_INDEX_LABEL: ord.to_string()}}}))
}

/// The retention policy as `(whenDeleted, whenScaled)` deletes.
fn retention(set: &StatefulSet) -> (bool, bool) {
    let policy = set.spec.as_ref().and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let delete = |v: Option<&String>| v.is_some_and(|v| v == "Delete");
    (delete(policy.and_then(|p| p.when_deleted.as_ref())), delete(policy.and_then(|p| p.when_scaled.as_ref())))
}

fn plain_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference { controller: None, block_owner_deletion: None, ..ownership::controller_ref(owner) }
}

/// The owner references a pod's claim should carry (upstream
/// `updateClaimOwnerRefForSetAndPod`): the set when `whenDeleted: Delete` (and the pod is in
/// range, or `whenScaled` is Retain), the pod when `whenScaled: Delete` and the pod was
/// scaled away. Other owners are kept. Returns None when nothing changes.
pub fn claim_owner_refs(set: &StatefulSet, pod: &CachedPod, claim: &PersistentVolumeClaim) -> Option<Vec<OwnerReference>> {
    let (when_deleted, when_scaled) = retention(set);
    let scaled_down = ordinal(pod).is_some_and(|o| !in_range(set, o));
    let want_set = when_deleted && !(when_scaled && scaled_down);
    let want_pod = when_scaled && scaled_down && pod.metadata.uid.is_some();
    let set_uid = set.metadata.uid.clone().unwrap_or_default();
    let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
    let current = claim.metadata.owner_references.clone().unwrap_or_default();
    let mut refs: Vec<OwnerReference> = current.iter().filter(|r| r.uid != set_uid && r.uid != pod_uid).cloned().collect();
    if want_set {
        refs.push(current.iter().find(|r| r.uid == set_uid).cloned().unwrap_or_else(|| plain_ref(set)));
    }
    if want_pod {
        refs.push(current.iter().find(|r| r.uid == pod_uid).cloned().unwrap_or_else(|| plain_ref(pod)));
    }
    let same = refs.len() == current.len() && refs.iter().all(|r| current.iter().any(|c| c.uid == r.uid));
    (!same).then_some(refs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn set(extra: serde_json::Value) -> StatefulSet {
        let mut v = json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid"},
            "spec": {"serviceName": "nginx", "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}],
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "emptyDir": {}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}
        });
        for (k, val) in extra.as_object().cloned().unwrap_or_default() {
            v["spec"][k] = val;
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn names_and_ordinals() {
        assert_eq!(parse_name("web-12"), Some(("web", 12)));
        assert_eq!(parse_name("my-web-0"), Some(("my-web", 0)));
        assert_eq!(parse_name("web"), None);
        assert_eq!(parse_name("web-x1"), None);
        let s = set(json!({"ordinals": {"start": 5}}));
        assert_eq!((start_ordinal(&s), end_ordinal(&s)), (5, 7));
        assert!(in_range(&s, 7) && !in_range(&s, 4) && !in_range(&s, 8));
    }

    #[test]
    fn new_pod_has_identity_storage_and_revision() {
        let s = set(json!({}));
        let p = new_pod(&s, 1, "web-abc");
        assert_eq!(p.metadata.name.as_deref(), Some("web-1"));
        let labels = p.metadata.labels.clone().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-1");
        assert_eq!(labels[POD_INDEX_LABEL], "1");
        assert_eq!(labels[POD_REVISION_LABEL], "web-abc");
        let spec = p.spec.as_ref().unwrap();
        assert_eq!((spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some("web-1"), Some("nginx")));
        let vols = spec.volumes.as_ref().unwrap();
        assert_eq!(vols.len(), 2);
        assert_eq!(vols[0].persistent_volume_claim.as_ref().unwrap().claim_name, "data-web-1");
        assert_eq!(vols[1].name, "cfg");
        assert!(identity_matches(&s, &crate::cached_pod::from_pod(&p)));
        let claim = &claims(&s, 1)["data"];
        assert_eq!(claim.metadata.labels.as_ref().unwrap()["app"], "web");
    }

    #[test]
    fn retention_policy_owner_refs() {
        let mut pod = crate::cached_pod::from_pod(&new_pod(&set(json!({})), 4, "r"));
        pod.metadata.uid = Some("pod-uid".into());
        let claim = PersistentVolumeClaim::default();
        let uids = |refs: Option<Vec<OwnerReference>>| refs.map(|r| r.into_iter().map(|r| r.uid).collect::<Vec<_>>());
        let policy = |d: &str, s: &str| set(json!({"persistentVolumeClaimRetentionPolicy": {"whenDeleted": d, "whenScaled": s}}));
        assert_eq!(uids(claim_owner_refs(&policy("Retain", "Retain"), &pod, &claim)), None);
        // Ordinal 4 is out of range (3 replicas): scaled away.
        assert_eq!(uids(claim_owner_refs(&policy("Retain", "Delete"), &pod, &claim)), Some(vec!["pod-uid".into()]));
        assert_eq!(uids(claim_owner_refs(&policy("Delete", "Delete"), &pod, &claim)), Some(vec!["pod-uid".into()]));
        assert_eq!(uids(claim_owner_refs(&policy("Delete", "Retain"), &pod, &claim)), Some(vec!["set-uid".into()]));
        pod.metadata.name = Some("web-0".into());
        assert_eq!(uids(claim_owner_refs(&policy("Delete", "Delete"), &pod, &claim)), Some(vec!["set-uid".into()]));
        assert_eq!(uids(claim_owner_refs(&policy("Retain", "Delete"), &pod, &claim)), None);
    }
}
