//! Storage object in-use protection (upstream `pkg/controller/volume/pvcprotection` and
//! `pvprotection`): the API server adds `kubernetes.io/pvc-protection` to every new claim
//! and `kubernetes.io/pv-protection` to every new volume; a deleted claim keeps its
//! finalizer while a pod that is not finished uses it, a deleted volume while it is bound.

use crate::cached_pod::CachedPod;
use super::State;
use crate::error::{is_not_found, Error};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

/// The claims' finalizer.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// The volumes' finalizer.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// The claims a pod's volumes use: `persistentVolumeClaim` volumes and the claims of
/// generic ephemeral volumes (`<pod>-<volume>`).
pub fn claims_of(pod: &CachedPod) -> Vec<ObjectRef<PersistentVolumeClaim>> {
    let ns = pod.namespace().unwrap_or_default();
    let pod_name = pod.name_any();
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten();
    volumes
        .filter_map(|v| match (&v.persistent_volume_claim, &v.ephemeral) {
            (Some(c), _) => Some(c.claim_name.clone()),
            (None, Some(_)) => Some(format!("{pod_name}-{}", v.name)),
            _ => None,
        })
        .map(|name| ObjectRef::new(&name).within(&ns))
        .collect()
}

/// Whether a pod still counts as a user of its claims (not Succeeded or Failed).
fn pod_uses_claims(pod: &CachedPod) -> bool {
    !matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Whether any pod still uses the claim.
pub fn claim_in_use<'a>(claim: &PersistentVolumeClaim, pods: impl IntoIterator<Item = &'a CachedPod>) -> bool {
    let me = ObjectRef::from_obj(claim);
    pods.into_iter().filter(|p| pod_uses_claims(p)).any(|p| claims_of(p).contains(&me))
}

fn without<K: Resource>(obj: &K, finalizer: &str) -> Option<Vec<String>> {
    let list = obj.meta().finalizers.as_ref()?;
    list.iter().any(|f| f == finalizer).then(|| list.iter().filter(|f| *f != finalizer).cloned().collect())
}

/// Removes a deleted claim's protection once no pod uses it.
pub async fn release_claim(claim: &PersistentVolumeClaim, state: &State) -> Result<(), Error> {
    let Some(rest) = without(claim, PVC_PROTECTION) else { return Ok(()) };
    let pods = state.ctx.pods.store().state();
    if claim_in_use(claim, pods.iter().map(AsRef::as_ref)) {
        return Ok(());
    }
    let api: Api<PersistentVolumeClaim> = Api::namespaced(state.ctx.client.clone(), &claim.namespace().unwrap_or_default());
    remove(&api, &claim.name_any(), &claim.resource_version(), rest).await
}

/// Removes a deleted volume's protection once it is not bound.
pub async fn release_volume(api: &Api<PersistentVolume>, volume: &PersistentVolume) -> Result<(), Error> {
    let Some(rest) = without(volume, PV_PROTECTION) else { return Ok(()) };
    if volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound") {
        return Ok(());
    }
    remove(api, &volume.name_any(), &volume.resource_version(), rest).await
}

async fn remove<K>(api: &Api<K>, name: &str, rv: &Option<String>, rest: Vec<String>) -> Result<(), Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {"resourceVersion": rv, "finalizers": rest}});
    match api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Err(e) if !is_not_found(&e) => Err(e.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(phase: &str, volumes: serde_json::Value) -> CachedPod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [], "volumes": volumes}, "status": {"phase": phase}})).unwrap()
    }

    #[test]
    fn running_pods_keep_their_claims() {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({"metadata": {"name": "data", "namespace": "ns"}})).unwrap();
        let uses = json!([{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]);
        assert!(claim_in_use(&claim, [&pod("Running", uses.clone())]));
        assert!(claim_in_use(&claim, [&pod("Pending", uses.clone())]));
        assert!(!claim_in_use(&claim, [&pod("Succeeded", uses)]));
        assert!(!claim_in_use(&claim, [&pod("Running", json!([{"name": "v", "emptyDir": {}}]))]));
        let ephemeral: PersistentVolumeClaim = serde_json::from_value(json!({"metadata": {"name": "p-scratch", "namespace": "ns"}})).unwrap();
        assert!(claim_in_use(&ephemeral, [&pod("Running", json!([{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]))]));
    }
}
