//! The claim side (upstream `syncClaim`, `syncUnboundClaim`, `syncBoundClaim`, `bind`).

use super::matching::{self, BIND_COMPLETED, BOUND_BY_CONTROLLER};
use super::{now, protection, provisioner, State, RESYNC};
use crate::error::{is_conflict, Error};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;
use std::sync::Arc;

/// Upstream `AnnSelectedNode`: the node the scheduler placed a `WaitForFirstConsumer`
/// claim's first pod on; provisioning starts once it is set.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// Upstream `AnnStorageProvisioner` (and its beta twin): who is asked to provision.
const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
const BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";

/// Syncs one claim.
pub async fn sync(claim: Arc<PersistentVolumeClaim>, state: Arc<State>) -> Result<Action, Error> {
    if claim.metadata.deletion_timestamp.is_some() {
        protection::release_claim(&claim, &state).await?;
    }
    if !claim.annotations().contains_key(BIND_COMPLETED) {
        sync_unbound(&claim, &state).await?;
    } else {
        sync_bound(&claim, &state).await?;
    }
    Ok(Action::requeue(RESYNC))
}

fn volume_name(claim: &PersistentVolumeClaim) -> &str {
    claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()).unwrap_or("")
}

fn phase(claim: &PersistentVolumeClaim) -> &str {
    claim.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

async fn sync_unbound(claim: &PersistentVolumeClaim, state: &State) -> Result<(), Error> {
    let wanted = volume_name(claim);
    if wanted.is_empty() {
        let delayed = state.class(&matching::claim_class(claim)).is_some_and(|c| matching::binds_on_first_consumer(&c));
        let binder = if delayed { matching::Binder::ControllerDelayed } else { matching::Binder::Controller };
        let volumes = state.volumes.state();
        if let Some(volume) = matching::find_match(claim, volumes.iter().map(Arc::as_ref), binder) {
            return bind(volume, claim, state).await;
        }
        if delayed && !claim.annotations().contains_key(SELECTED_NODE) {
            set_phase(claim, "Pending", state).await?;
            state.recorder.normal(claim, "WaitForFirstConsumer", "waiting for first consumer to be created before binding".into());
            return Ok(());
        }
        return no_volume(claim, state).await;
    }
    // The user asked for a volume by name.
    let Some(volume) = state.volume(wanted) else {
        return set_phase(claim, "Pending", state).await;
    };
    let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    if claim_ref.is_none() {
        if let Err(why) = satisfies(claim, &volume) {
            state.recorder.warning(claim, "VolumeMismatch", format!("Cannot bind to requested volume \"{wanted}\": {why}"));
            return set_phase(claim, "Pending", state).await;
        }
        return bind(&volume, claim, state).await;
    }
    if matching::is_bound_to(&volume, claim) {
        return bind(&volume, claim, state).await;
    }
    state.recorder.warning(claim, "FailedBinding", format!("volume \"{wanted}\" already bound to a different claim."));
    set_phase(claim, "Pending", state).await
}

/// Upstream `checkVolumeSatisfyClaim`, for a claim that names its volume.
fn satisfies(claim: &PersistentVolumeClaim, volume: &PersistentVolume) -> Result<(), &'static str> {
    if matching::capacity_bytes(volume) < matching::requested_bytes(claim) {
        return Err("requested PV is too small");
    }
    if matching::volume_class(volume) != matching::claim_class(claim) {
        return Err("storageClassName does not match");
    }
    if matching::volume_mode_mismatch(claim, volume) {
        return Err("incompatible volumeMode");
    }
    if !matching::access_modes_fit(claim, volume) {
        return Err("incompatible accessMode");
    }
    Ok(())
}

/// No volume fits: provision one, or say why the claim waits.
async fn no_volume(claim: &PersistentVolumeClaim, state: &State) -> Result<(), Error> {
    let class_name = matching::claim_class(claim);
    if class_name.is_empty() {
        state.recorder.normal(claim, "FailedBinding", "no persistent volumes available for this claim and no storage class is set".into());
        return set_phase(claim, "Pending", state).await;
    }
    let Some(class) = state.class(&class_name) else {
        state.recorder.warning(claim, "ProvisioningFailed", format!("storageclass.storage.k8s.io \"{class_name}\" not found"));
        return set_phase(claim, "Pending", state).await;
    };
    set_phase(claim, "Pending", state).await?;
    let name = class.provisioner.as_str();
    if name == "kubernetes.io/no-provisioner" {
        return Ok(());
    }
    if !claim.annotations().contains_key(STORAGE_PROVISIONER) {
        let patch = json!({"metadata": {"annotations": {STORAGE_PROVISIONER: name, BETA_STORAGE_PROVISIONER: name}}});
        claims_api(claim, state).patch(&claim.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    match state.provisioner().filter(|_| name == provisioner::PROVISIONER) {
        Some(hostpath) => provision(claim, &class, hostpath, state).await,
        None => {
            let message = format!("Waiting for a volume to be created either by the external provisioner '{name}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.");
            state.recorder.normal(claim, "ExternalProvisioning", message);
            Ok(())
        }
    }
}

async fn provision(claim: &PersistentVolumeClaim, class: &k8s_openapi::api::storage::v1::StorageClass, hostpath: &provisioner::HostPathProvisioner, state: &State) -> Result<(), Error> {
    let volume = hostpath.volume_for(claim, class);
    if state.volume(&volume.name_any()).is_some() {
        return Ok(());
    }
    if let Some(selected) = claim.annotations().get(SELECTED_NODE).filter(|n| **n != hostpath.node) {
        let message = format!(
            "failed to provision volume with StorageClass \"{}\": {} makes volumes on node {}, not on the selected node {selected}",
            class.name_any(),
            provisioner::PROVISIONER,
            hostpath.node
        );
        state.provisioner_recorder.warning(claim, "ProvisioningFailed", message);
        return Ok(());
    }
    if claim.spec.as_ref().is_some_and(|s| s.selector.is_some()) {
        let message = "failed to provision volume: claim.Spec.Selector is not supported for dynamic provisioning".to_string();
        state.provisioner_recorder.warning(claim, "ProvisioningFailed", message);
        return Ok(());
    }
    if let Err(e) = hostpath.create_dir(claim) {
        state.provisioner_recorder.warning(claim, "ProvisioningFailed", format!("failed to provision volume with StorageClass \"{}\": {e}", class.name_any()));
        return Err(Error::Retry(format!("cannot create the volume directory: {e}")));
    }
    match Api::<PersistentVolume>::all(state.ctx.client.clone()).create(&PostParams::default(), &volume).await {
        Ok(_) => {}
        // Made by an earlier sync the volume store has not shown yet.
        Err(e) if is_conflict(&e) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    // Recorded once the volume exists, so a repeated sync does not repeat them.
    let key = format!("{}/{}", claim.namespace().unwrap_or_default(), claim.name_any());
    state.provisioner_recorder.normal(claim, "Provisioning", format!("External provisioner is provisioning volume for claim \"{key}\""));
    state.provisioner_recorder.normal(claim, "ProvisioningSucceeded", format!("Successfully provisioned volume {}", volume.name_any()));
    Ok(())
}

async fn sync_bound(claim: &PersistentVolumeClaim, state: &State) -> Result<(), Error> {
    let wanted = volume_name(claim);
    if wanted.is_empty() {
        // bind-completed without a volume: upstream treats it as lost.
        return lost(claim, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!", state).await;
    }
    let Some(volume) = state.volume(wanted) else {
        return lost(claim, "ClaimLost", "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!", state).await;
    };
    let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    if claim_ref.is_none() || matching::is_bound_to(&volume, claim) {
        return bind(&volume, claim, state).await;
    }
    lost(claim, "ClaimMisbound", "Two claims are bound to the same volume, this one is bound incorrectly", state).await
}

async fn lost(claim: &PersistentVolumeClaim, reason: &str, message: &str, state: &State) -> Result<(), Error> {
    if phase(claim) != "Lost" {
        state.recorder.warning(claim, reason, message.to_string());
    }
    set_phase(claim, "Lost", state).await
}

fn claims_api(claim: &PersistentVolumeClaim, state: &State) -> Api<PersistentVolumeClaim> {
    Api::namespaced(state.ctx.client.clone(), &claim.namespace().unwrap_or_default())
}

async fn set_phase(claim: &PersistentVolumeClaim, phase_name: &str, state: &State) -> Result<(), Error> {
    if phase(claim) == phase_name {
        return Ok(());
    }
    let patch = json!({"status": {"phase": phase_name}});
    claims_api(claim, state).patch_status(&claim.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// Upstream `bind`: volume `claimRef`, volume `Bound`, claim `volumeName` and annotations,
/// claim status; each step only when not done yet. Merge patches carry the
/// resourceVersion the decision was made on, so a concurrent change makes them conflict.
async fn bind(volume: &PersistentVolume, claim: &PersistentVolumeClaim, state: &State) -> Result<(), Error> {
    let volumes: Api<PersistentVolume> = Api::all(state.ctx.client.clone());
    let volume_name = volume.name_any();
    let ref_uid = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).and_then(|r| r.uid.clone()).unwrap_or_default();
    let mut volume_rv = volume.resource_version();
    if !matching::is_bound_to(volume, claim) || ref_uid.is_empty() {
        let mut metadata = json!({"resourceVersion": volume.resource_version()});
        if !matching::is_bound_to(volume, claim) {
            metadata["annotations"] = json!({BOUND_BY_CONTROLLER: "yes"});
        }
        let patch = json!({
            "metadata": metadata,
            "spec": {"claimRef": {
                "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                "namespace": claim.namespace(), "name": claim.name_any(), "uid": claim.uid(),
                "resourceVersion": claim.resource_version(),
            }},
        });
        let written = volumes.patch(&volume_name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        volume_rv = written.resource_version();
    }
    if volume.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
        let patch = json!({"metadata": {"resourceVersion": volume_rv}, "status": {"phase": "Bound", "lastPhaseTransitionTime": now()}});
        volumes.patch_status(&volume_name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    let api = claims_api(claim, state);
    let annotations = claim.annotations();
    let mut claim_rv = claim.resource_version();
    if volume_name_of(claim) != volume_name || !annotations.contains_key(BIND_COMPLETED) {
        let mut add = json!({BIND_COMPLETED: "yes"});
        if volume_name_of(claim) != volume_name {
            add[BOUND_BY_CONTROLLER] = json!("yes");
        }
        let patch = json!({"metadata": {"resourceVersion": claim.resource_version(), "annotations": add}, "spec": {"volumeName": volume_name}});
        let written = api.patch(&claim.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        claim_rv = written.resource_version();
    }
    let vspec = volume.spec.clone().unwrap_or_default();
    let status = claim.status.clone().unwrap_or_default();
    if status.phase.as_deref() != Some("Bound") || status.capacity != vspec.capacity || status.access_modes != vspec.access_modes {
        let patch = json!({"metadata": {"resourceVersion": claim_rv}, "status": {"phase": "Bound", "capacity": vspec.capacity, "accessModes": vspec.access_modes}});
        api.patch_status(&claim.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    Ok(())
}

fn volume_name_of(claim: &PersistentVolumeClaim) -> String {
    volume_name(claim).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_volume_must_satisfy_the_claim() {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}, "storageClassName": "", "volumeName": "v"},
        }))
        .unwrap();
        let volume = |size: &str, class: &str, modes: serde_json::Value| -> PersistentVolume {
            serde_json::from_value(json!({"metadata": {"name": "v"}, "spec": {"capacity": {"storage": size}, "accessModes": modes, "storageClassName": class}})).unwrap()
        };
        assert_eq!(satisfies(&claim, &volume("1Gi", "", json!(["ReadWriteOnce"]))), Err("requested PV is too small"));
        assert_eq!(satisfies(&claim, &volume("2Gi", "fast", json!(["ReadWriteOnce"]))), Err("storageClassName does not match"));
        assert_eq!(satisfies(&claim, &volume("2Gi", "", json!(["ReadOnlyMany"]))), Err("incompatible accessMode"));
        assert_eq!(satisfies(&claim, &volume("3Gi", "", json!(["ReadWriteOnce", "ReadOnlyMany"]))), Ok(()));
    }
}
