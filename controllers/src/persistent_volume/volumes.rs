//! The volume side (upstream `syncVolume`, `reclaimVolume`, `deleteVolumeOperation`).

use super::matching::BOUND_BY_CONTROLLER;
use super::{now, protection, State, RESYNC};
use crate::error::{is_not_found, Error};
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;
use std::sync::Arc;

/// What the volume's phase should become, from its claim reference and the claim.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing refers to it (or only a user's UID-less pre-binding): `Available`.
    Available,
    /// Its claim is bound to it: `Bound`.
    Bound,
    /// Its claim exists but is not bound yet: the claim side finishes the binding.
    WaitForClaim,
    /// The controller bound it to a claim that now uses another volume: drop the reference.
    Unbind,
    /// A user bound it to a claim that uses another volume: forget the claim's UID.
    ForgetClaimUid,
    /// Its claim is gone: `Released`, then the reclaim policy applies.
    Released,
}

/// Upstream `syncVolume`'s decision table.
pub fn decide(volume: &PersistentVolume, claim: Option<&k8s_openapi::api::core::v1::PersistentVolumeClaim>) -> Decision {
    let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else { return Decision::Available };
    let ref_uid = r.uid.as_deref().unwrap_or("");
    if ref_uid.is_empty() {
        return Decision::Available;
    }
    let Some(claim) = claim.filter(|c| c.metadata.uid.as_deref() == Some(ref_uid)) else { return Decision::Released };
    let bound_to = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()).unwrap_or("");
    if bound_to.is_empty() {
        Decision::WaitForClaim
    } else if bound_to == volume.metadata.name.as_deref().unwrap_or("") {
        Decision::Bound
    } else if volume.annotations().contains_key(BOUND_BY_CONTROLLER) {
        Decision::Unbind
    } else {
        Decision::ForgetClaimUid
    }
}

fn phase(volume: &PersistentVolume) -> &str {
    volume.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// Syncs one volume.
pub async fn sync(volume: Arc<PersistentVolume>, state: Arc<State>) -> Result<Action, Error> {
    let api: Api<PersistentVolume> = Api::all(state.ctx.client.clone());
    let name = volume.name_any();
    let claim = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).and_then(|r| state.claim(r.namespace.as_deref().unwrap_or(""), r.name.as_deref().unwrap_or("")));
    match decide(&volume, claim.as_deref()) {
        Decision::Available => set_phase(&api, &volume, "Available", None).await?,
        Decision::Bound => set_phase(&api, &volume, "Bound", None).await?,
        Decision::WaitForClaim => {}
        Decision::Unbind => {
            let patch = json!({"metadata": {"resourceVersion": volume.resource_version(), "annotations": {BOUND_BY_CONTROLLER: null}}, "spec": {"claimRef": null}});
            let written = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
            set_phase(&api, &written, "Available", None).await?;
        }
        Decision::ForgetClaimUid => {
            let patch = json!({"metadata": {"resourceVersion": volume.resource_version()}, "spec": {"claimRef": {"uid": null, "resourceVersion": null}}});
            let written = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
            set_phase(&api, &written, "Available", None).await?;
        }
        Decision::Released => reclaim(&api, &volume, &state).await?,
    }
    if volume.metadata.deletion_timestamp.is_some() {
        protection::release_volume(&api, &volume).await?;
    }
    Ok(Action::requeue(RESYNC))
}

/// Upstream `reclaimVolume`: `Retain` keeps the data; `Delete` removes what this
/// controller's provisioner made; anything else fails (no recycler, no other deleters).
async fn reclaim(api: &Api<PersistentVolume>, volume: &PersistentVolume, state: &State) -> Result<(), Error> {
    if phase(volume) == "Failed" {
        return Ok(());
    }
    if phase(volume) != "Released" {
        set_phase(api, volume, "Released", None).await?;
    }
    let policy = volume.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()).unwrap_or("Retain");
    let name = volume.name_any();
    match policy {
        "Retain" => Ok(()),
        "Delete" => match state.provisioner().and_then(|p| p.owns(volume)) {
            Some(dir) => {
                if let Err(e) = std::fs::remove_dir_all(&dir)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    let message = format!("error deleting volume \"{name}\": {e}");
                    state.recorder.warning(volume, "VolumeFailedDelete", message.clone());
                    return Err(Error::Retry(message));
                }
                match api.delete(&name, &DeleteParams::default()).await {
                    Err(e) if !is_not_found(&e) => Err(e.into()),
                    _ => Ok(()),
                }
            }
            None => {
                let message = format!("error getting deleter volume plugin for volume \"{name}\": no deletable volume plugin matched");
                state.recorder.warning(volume, "VolumeFailedDelete", message.clone());
                set_phase(api, volume, "Failed", Some(message)).await
            }
        },
        _ => {
            let message = "No recycler plugin found for the volume!".to_string();
            state.recorder.warning(volume, "VolumeFailedRecycle", message.clone());
            set_phase(api, volume, "Failed", Some(message)).await
        }
    }
}

async fn set_phase(api: &Api<PersistentVolume>, volume: &PersistentVolume, phase_name: &str, message: Option<String>) -> Result<(), Error> {
    if phase(volume) == phase_name {
        return Ok(());
    }
    let patch = json!({"status": {"phase": phase_name, "message": message, "lastPhaseTransitionTime": now()}});
    api.patch_status(&volume.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;

    fn volume(claim_ref: serde_json::Value, by_controller: bool) -> PersistentVolume {
        let annotations = if by_controller { json!({BOUND_BY_CONTROLLER: "yes"}) } else { json!({}) };
        serde_json::from_value(json!({"metadata": {"name": "v", "annotations": annotations}, "spec": {"claimRef": claim_ref}})).unwrap()
    }

    fn claim(uid: &str, volume_name: &str) -> PersistentVolumeClaim {
        serde_json::from_value(json!({"metadata": {"name": "c", "namespace": "ns", "uid": uid}, "spec": {"volumeName": volume_name}})).unwrap()
    }

    #[test]
    fn decisions_follow_sync_volume() {
        let r = json!({"namespace": "ns", "name": "c", "uid": "u"});
        assert_eq!(decide(&volume(json!(null), false), None), Decision::Available);
        assert_eq!(decide(&volume(json!({"namespace": "ns", "name": "c"}), false), None), Decision::Available);
        assert_eq!(decide(&volume(r.clone(), true), None), Decision::Released);
        assert_eq!(decide(&volume(r.clone(), true), Some(&claim("other-uid", "v"))), Decision::Released);
        assert_eq!(decide(&volume(r.clone(), true), Some(&claim("u", ""))), Decision::WaitForClaim);
        assert_eq!(decide(&volume(r.clone(), true), Some(&claim("u", "v"))), Decision::Bound);
        assert_eq!(decide(&volume(r.clone(), true), Some(&claim("u", "w"))), Decision::Unbind);
        assert_eq!(decide(&volume(r, false), Some(&claim("u", "w"))), Decision::ForgetClaimUid);
    }
}
