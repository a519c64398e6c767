//! Controller references: which objects a controller owns, adopts or releases
//! (upstream `pkg/controller/controller_ref_manager.go`).

use crate::error::is_code;
use crate::cached_pod::CachedPod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

/// The object's managing controller, if any.
pub fn controller_of<K: Resource>(obj: &K) -> Option<&OwnerReference> {
    obj.meta().owner_references.as_ref()?.iter().find(|r| r.controller == Some(true))
}

/// `ownerReferences` entry marking `owner` as the controller that blocks owner deletion.
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// What a controller does with a candidate object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours and matching: manage it.
    Owned,
    /// An orphan matching our selector: take it.
    Adopt,
    /// Ours but no longer matching: let it go.
    Release,
    /// Someone else's, or not ours to touch now.
    Ignore,
}

/// Decides a [`Claim`] (upstream `BaseControllerRefManager.ClaimObject`).
pub fn claim<K: Resource>(obj: &K, owner_uid: &str, owner_deleting: bool, matches: bool) -> Claim {
    match controller_of(obj) {
        Some(r) if r.uid != owner_uid => Claim::Ignore,
        Some(_) if matches => Claim::Owned,
        Some(_) if owner_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if owner_deleting || !matches || obj.meta().deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

async fn patch_owner_refs<K>(api: &Api<K>, obj: &K, refs: Vec<OwnerReference>) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    // resourceVersion makes the patch conditional: a concurrent change fails with 409.
    let patch = serde_json::json!({"metadata": {"ownerReferences": refs, "resourceVersion": obj.resource_version()}});
    api.patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await
}

/// Makes `owner` the controller of the orphan `obj`.
pub async fn adopt<K, O>(api: &Api<K>, obj: &K, owner: &O) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    O: Resource<DynamicType = ()>,
{
    let mut refs = obj.meta().owner_references.clone().unwrap_or_default();
    refs.push(controller_ref(owner));
    patch_owner_refs(api, obj, refs).await
}

/// Removes `owner_uid` from `obj`'s owners.
pub async fn release<K>(api: &Api<K>, obj: &K, owner_uid: &str) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let refs: Vec<_> = obj.meta().owner_references.iter().flatten().filter(|r| r.uid != owner_uid).cloned().collect();
    match patch_owner_refs(api, obj, refs).await {
        // Already gone: nothing to release (upstream ignores NotFound too).
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(obj.clone()),
        other => other,
    }
}

/// Whether `labels` matches `selector`.
pub fn matches(selector: &Selector, labels: Option<&BTreeMap<String, String>>) -> bool {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    selector.matches(labels.unwrap_or(&EMPTY))
}

/// Which owners of kind `K` a pod event concerns: its controller if that is a `K`, else
/// every owner in its namespace whose selector matches it (candidates for adoption).
pub fn owners_of_pod<K>(owners: &Store<K>, pod: &CachedPod, selector: impl Fn(&K) -> Option<Selector>) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    if let Some(r) = controller_of(pod) {
        return if r.kind == K::kind(&()) { vec![ObjectRef::new(&r.name).within(&ns)] } else { vec![] };
    }
    owners
        .state()
        .iter()
        .filter(|o| o.namespace().as_deref() == Some(&ns))
        .filter(|o| selector(o).is_some_and(|s| matches(&s, pod.metadata.labels.as_ref())))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// The pods of `owner`'s namespace it controls after claiming (upstream
/// `PodControllerRefManager.ClaimPods`): its own matching pods plus adopted orphans;
/// its pods that stopped matching are released. `no_adoption` is upstream's "owner is
/// being deleted" (also used by Jobs that finished).
pub async fn claim_pods<O>(pods: &Store<CachedPod>, client: &kube::Client, owner: &O, selector: &Selector, no_adoption: bool) -> Result<Vec<Arc<CachedPod>>, kube::Error>
where
    O: Resource<DynamicType = ()>,
{
    let ns = owner.meta().namespace.clone().unwrap_or_default();
    let in_namespace = pods.state().into_iter().filter(|p| p.metadata.namespace.as_deref() == Some(&ns));
    let api = Api::namespaced(client.clone(), &ns);
    claim_objects(&api, in_namespace, owner, no_adoption, |pod| matches(selector, pod.metadata.labels.as_ref())).await
}

/// Claims candidates for `owner` (upstream `ClaimObject` over a list), adopting only while
/// the owner is not being deleted: see [`claim_objects`].
pub async fn claim_all<K, O>(api: &Api<K>, candidates: impl IntoIterator<Item = Arc<K>>, owner: &O, matches: impl Fn(&K) -> bool) -> Result<Vec<K>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    O: Resource<DynamicType = ()>,
{
    let deleting = owner.meta().deletion_timestamp.is_some();
    let owned = claim_objects(api, candidates, owner, deleting, matches).await?;
    Ok(owned.into_iter().map(|obj| obj.as_ref().clone()).collect())
}

/// Claims candidates for `owner`: owned matching objects are returned, matching orphans
/// adopted (unless `no_adoption`), owned objects that stopped matching released. Objects
/// that vanish or change meanwhile (404/409) are skipped.
async fn claim_objects<K, O>(
    api: &Api<K>,
    candidates: impl IntoIterator<Item = Arc<K>>,
    owner: &O,
    no_adoption: bool,
    matches: impl Fn(&K) -> bool,
) -> Result<Vec<Arc<K>>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    O: Resource<DynamicType = ()>,
{
    let uid = owner.meta().uid.clone().unwrap_or_default();
    let mut owned = Vec::new();
    for obj in candidates {
        match claim(obj.as_ref(), &uid, no_adoption, matches(obj.as_ref())) {
            Claim::Owned => owned.push(obj),
            Claim::Adopt => match adopt(api, obj.as_ref(), owner).await {
                Ok(adopted) => owned.push(Arc::new(adopted)),
                Err(e) if is_code(&e, 404) || is_code(&e, 409) => {}
                Err(e) => return Err(e),
            },
            Claim::Release => {
                release(api, obj.as_ref(), &uid).await?;
            }
            Claim::Ignore => {}
        }
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn pod_owned_by(uid: Option<&str>) -> Pod {
        let mut p = Pod::default();
        p.metadata.owner_references = uid.map(|u| vec![OwnerReference { uid: u.into(), controller: Some(true), ..Default::default() }]);
        p
    }

    #[test]
    fn claims_like_upstream() {
        assert_eq!(claim(&pod_owned_by(Some("me")), "me", false, true), Claim::Owned);
        assert_eq!(claim(&pod_owned_by(Some("me")), "me", false, false), Claim::Release);
        assert_eq!(claim(&pod_owned_by(Some("me")), "me", true, false), Claim::Ignore);
        assert_eq!(claim(&pod_owned_by(Some("other")), "me", false, true), Claim::Ignore);
        assert_eq!(claim(&pod_owned_by(None), "me", false, true), Claim::Adopt);
        assert_eq!(claim(&pod_owned_by(None), "me", false, false), Claim::Ignore);
        assert_eq!(claim(&pod_owned_by(None), "me", true, true), Claim::Ignore);
    }
}
