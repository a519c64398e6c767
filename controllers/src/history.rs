//! ControllerRevision history shared by the StatefulSet and DaemonSet controllers (upstream
//! `pkg/controller/history` and the `getPatch`/`Match`/`truncateHistory` helpers of both
//! controllers).
//!
//! A revision stores the owner's pod template as the strategic merge patch that restores it
//! (`{"spec":{"template":{...,"$patch":"replace"}}}`): `kubectl rollout history --revision`
//! applies it to show the template and `kubectl rollout undo` sends it back.

use crate::error::is_code;
use crate::ownership;
use crate::{Context, Error};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Label carrying the hash of a revision's data (upstream `ControllerRevisionHashLabel`).
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// Label on pods (and DaemonSet revisions) naming the revision they were made from
/// (upstream `ControllerRevisionHashLabelKey` / `DefaultDaemonSetUniqueLabelKey`).
pub const POD_REVISION_LABEL: &str = "controller-revision-hash";

/// The revision data for a pod template (upstream `getPatch` of both controllers).
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(map) = t.as_object_mut() {
        map.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The pod template a revision restores (the inverse of [`template_patch`]).
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    t.as_object_mut()?.remove("$patch");
    serde_json::from_value(t).ok()
}

/// 32-bit FNV-1 (Go's `fnv.New32`, which upstream's revision hash uses).
fn fnv32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, b| h.wrapping_mul(0x0100_0193) ^ u32::from(*b))
}

/// Upstream `HashControllerRevision`: FNV-1 over the data's bytes and the decimal probe
/// (collision count), safe-encoded. The bytes are this process's JSON encoding, so values
/// differ from a Go controller's while keeping their shape.
pub fn hash(data: &Value, probe: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(data).unwrap_or_default();
    if let Some(p) = probe {
        bytes.extend_from_slice(p.to_string().as_bytes());
    }
    crate::deployment::revision::safe_encode(&fnv32(&bytes).to_string())
}

/// `<prefix>-<hash>` with the prefix cut to 223 bytes (upstream `ControllerRevisionName`).
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut end = prefix.len().min(223);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", &prefix[..end])
}

/// A new revision of `parent` (upstream `NewControllerRevision` without the name, which
/// [`History::create`] picks): the template's labels, the parent's annotations, the data.
pub fn new_revision<P: Resource<DynamicType = ()>>(parent: &P, template: &PodTemplateSpec, revision: i64) -> ControllerRevision {
    let labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    ControllerRevision {
        metadata: ObjectMeta {
            namespace: parent.meta().namespace.clone(),
            labels: Some(labels),
            annotations: parent.meta().annotations.clone().filter(|a| !a.is_empty()),
            owner_references: Some(vec![ownership::controller_ref(parent)]),
            ..Default::default()
        },
        data: Some(RawExtension(template_patch(template))),
        revision,
    }
}

/// Whether two revisions hold the same data (upstream `EqualRevision`).
pub fn equal(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    a.data == b.data
}

/// Sorts by revision number, then creation time, then name (upstream `SortControllerRevisions`).
pub fn sort(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| a.metadata.creation_timestamp.as_ref().map(|t| t.0).cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0)))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// The number after the highest revision of sorted `revisions` (upstream `nextRevision`).
pub fn next_revision(sorted: &[ControllerRevision]) -> i64 {
    sorted.last().map_or(1, |r| r.revision + 1)
}

/// The revisions to delete to keep `limit` of history: the oldest ones not `live`
/// (upstream `truncateHistory`/`cleanupHistory`). `sorted` is in [`sort`] order.
pub fn excess(sorted: &[ControllerRevision], limit: i32, live: impl Fn(&ControllerRevision) -> bool) -> Vec<&ControllerRevision> {
    let history: Vec<&ControllerRevision> = sorted.iter().filter(|r| !live(r)).collect();
    let limit = usize::try_from(limit.max(0)).unwrap_or(0);
    let count = history.len().saturating_sub(limit);
    history.into_iter().take(count).collect()
}

/// Reads revisions from the shared informer and writes them through the API.
pub struct History {
    client: kube::Client,
    store: Store<ControllerRevision>,
}

impl History {
    /// History over the context's ControllerRevision informer.
    pub fn new(ctx: &Context) -> Self {
        History { client: ctx.client.clone(), store: ctx.controller_revisions.store() }
    }

    fn api(&self, ns: &str) -> Api<ControllerRevision> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// The revisions `parent` controls, adopting orphans its selector matches and releasing
    /// owned ones it no longer matches (upstream `ListRevisions` + `ClaimControllerRevisions`).
    /// Sorted with [`sort`].
    pub async fn claim<P: Resource<DynamicType = ()>>(&self, parent: &P, selector: &Selector) -> Result<Vec<ControllerRevision>, Error> {
        let ns = parent.meta().namespace.clone().unwrap_or_default();
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        let candidates = self.store.state().into_iter().filter(|c| c.metadata.namespace.as_deref() == Some(ns.as_str()));
        let mut owned = ownership::claim_all(&self.api(&ns), candidates, parent, |cr| selector.matches(cr.metadata.labels.as_ref().unwrap_or(&EMPTY))).await?;
        sort(&mut owned);
        Ok(owned)
    }

    /// Creates `revision` with the name and hash label `(name, (label, hash))` that
    /// `identity(collision_count)` gives; on a name taken by different data the count goes
    /// up and the next name is tried (upstream `CreateControllerRevision`). A revision with
    /// equal data under the name is returned.
    pub async fn create(&self, revision: ControllerRevision, collision_count: &mut i32, identity: impl Fn(i32) -> (String, (&'static str, String))) -> Result<ControllerRevision, Error> {
        let ns = revision.metadata.namespace.clone().unwrap_or_default();
        let api = self.api(&ns);
        let owner_uid = ownership::controller_of(&revision).map(|r| r.uid.clone());
        for _ in 0..100 {
            let mut candidate = revision.clone();
            let (name, (label, hash)) = identity(*collision_count);
            candidate.metadata.name = Some(name);
            candidate.metadata.labels.get_or_insert_with(BTreeMap::new).insert(label.into(), hash);
            match api.create(&PostParams::default(), &candidate).await {
                Ok(created) => return Ok(created),
                Err(e) if is_code(&e, 409) => {
                    let existing = api.get(&candidate.name_any()).await?;
                    let theirs = ownership::controller_of(&existing).map(|r| r.uid.clone());
                    if equal(&existing, &candidate) && (theirs.is_none() || theirs == owner_uid) {
                        return Ok(existing);
                    }
                    *collision_count = collision_count.saturating_add(1);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Retry(format!("no free ControllerRevision name after {collision_count} collisions")))
    }

    /// Gives `revision` the number `number` (upstream `UpdateControllerRevision`): how a
    /// rollback to an earlier template makes that revision the newest again.
    pub async fn renumber(&self, revision: &ControllerRevision, number: i64) -> Result<ControllerRevision, Error> {
        if revision.revision == number {
            return Ok(revision.clone());
        }
        let patch = json!({"revision": number});
        let api = self.api(&revision.namespace().unwrap_or_default());
        Ok(api.patch(&revision.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?)
    }

    /// Sets a label on a revision (DaemonSet revisions made before the label existed).
    pub async fn label(&self, revision: &ControllerRevision, key: &str, value: &str) -> Result<ControllerRevision, Error> {
        let patch = json!({"metadata": {"labels": {key: value}}});
        let api = self.api(&revision.namespace().unwrap_or_default());
        Ok(api.patch(&revision.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?)
    }

    /// Deletes a revision (already gone is fine).
    pub async fn delete(&self, revision: &ControllerRevision) -> Result<(), Error> {
        match self.api(&revision.namespace().unwrap_or_default()).delete(&revision.name_any(), &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, 404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::StatefulSet;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}})).unwrap()
    }

    fn rev(name: &str, number: i64, image: &str) -> ControllerRevision {
        let mut r = new_revision(&StatefulSet::default(), &template(image), number);
        r.metadata.name = Some(name.into());
        r
    }

    #[test]
    fn fnv1_matches_go() {
        // Go: fnv.New32().Write([]byte("hello")).Sum32() == 0xb6fa7167.
        assert_eq!(fnv32(b"hello"), 0xb6fa_7167);
        assert_eq!(fnv32(b""), 0x811c_9dc5);
    }

    #[test]
    fn patch_replaces_the_template_and_round_trips() {
        let t = template("a");
        let patch = template_patch(&t);
        assert_eq!(patch["spec"]["template"]["$patch"], "replace");
        assert_eq!(patch["spec"]["template"]["spec"]["containers"][0]["image"], "a");
        assert_eq!(template_of(&rev("r", 1, "a")), Some(t));
    }

    #[test]
    fn hash_depends_on_data_and_probe() {
        let a = template_patch(&template("a"));
        assert_eq!(hash(&a, Some(0)), hash(&a, Some(0)));
        assert_ne!(hash(&a, Some(0)), hash(&a, Some(1)));
        assert_ne!(hash(&a, None), hash(&template_patch(&template("b")), None));
        assert!(hash(&a, None).bytes().all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)));
        assert_eq!(revision_name(&"x".repeat(300), "h").len(), 225);
    }

    #[test]
    fn sorting_numbering_equality_and_excess() {
        let mut revs = vec![rev("c", 3, "c"), rev("a", 1, "a"), rev("b", 2, "b")];
        sort(&mut revs);
        assert_eq!(revs.iter().map(|r| r.revision).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(next_revision(&revs), 4);
        assert_eq!(next_revision(&[]), 1);
        assert!(equal(&revs[0], &rev("other", 9, "a")));
        assert!(!equal(&revs[0], &revs[1]));
        // Keep one historic revision; "b" is live (pods still run it), so "a" goes.
        let gone: Vec<_> = excess(&revs, 1, |r| r.name_any() == "b" || r.name_any() == "c").iter().map(|r| r.name_any()).collect();
        assert_eq!(gone, Vec::<String>::new());
        let gone: Vec<_> = excess(&revs, 0, |r| r.name_any() == "c").iter().map(|r| r.name_any()).collect();
        assert_eq!(gone, ["a", "b"]);
        let gone: Vec<_> = excess(&revs, 1, |r| r.name_any() == "c").iter().map(|r| r.name_any()).collect();
        assert_eq!(gone, ["a"]);
    }
}
