//! Which PersistentVolume a claim binds to (upstream `pkg/controller/volume/persistentvolume`
//! `findMatchingVolume` and `storage-helpers`): pure functions over the typed objects.

use crate::scheduler::selectors::selector_matches;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::ResourceExt;

/// Upstream `AnnBindCompleted`: the claim's binding finished.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Upstream `AnnBoundByController`: the controller (not the user) set the reference.
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// The beta annotation that still overrides `storageClassName` upstream.
const BETA_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// `GetPersistentVolumeClaimClass`: the annotation first, then the field, else `""`.
pub fn claim_class(claim: &PersistentVolumeClaim) -> String {
    claim
        .annotations()
        .get(BETA_CLASS)
        .cloned()
        .or_else(|| claim.spec.as_ref().and_then(|s| s.storage_class_name.clone()))
        .unwrap_or_default()
}

/// `GetPersistentVolumeClass`.
pub fn volume_class(volume: &PersistentVolume) -> String {
    volume
        .annotations()
        .get(BETA_CLASS)
        .cloned()
        .or_else(|| volume.spec.as_ref().and_then(|s| s.storage_class_name.clone()))
        .unwrap_or_default()
}

/// Requested storage of a claim in bytes (0 when absent).
pub fn requested_bytes(claim: &PersistentVolumeClaim) -> i64 {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| ironkube_quantity::value(&q.0))
        .unwrap_or(0)
}

/// Capacity of a volume in bytes (0 when absent).
pub fn capacity_bytes(volume: &PersistentVolume) -> i64 {
    volume.spec.as_ref().and_then(|s| s.capacity.as_ref()).and_then(|c| c.get("storage")).and_then(|q| ironkube_quantity::value(&q.0)).unwrap_or(0)
}

fn volume_mode_of(mode: Option<&String>) -> &str {
    mode.map_or("Filesystem", String::as_str)
}

/// `CheckVolumeModeMismatches`: true when the claim and the volume disagree.
pub fn volume_mode_mismatch(claim: &PersistentVolumeClaim, volume: &PersistentVolume) -> bool {
    let claim_mode = volume_mode_of(claim.spec.as_ref().and_then(|s| s.volume_mode.as_ref()));
    let volume_mode = volume_mode_of(volume.spec.as_ref().and_then(|s| s.volume_mode.as_ref()));
    claim_mode != volume_mode
}

/// `CheckAccessModes`: every mode the claim asks for is offered by the volume.
pub fn access_modes_fit(claim: &PersistentVolumeClaim, volume: &PersistentVolume) -> bool {
    let offered = volume.spec.as_ref().and_then(|s| s.access_modes.as_ref());
    claim.spec.as_ref().and_then(|s| s.access_modes.as_ref()).into_iter().flatten().all(|m| offered.is_some_and(|o| o.contains(m)))
}

/// Whether the volume's `claimRef` names this claim (by namespace and name, and by UID
/// when the reference has one: a UID-less reference is a user's pre-binding).
pub fn is_bound_to(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else { return false };
    r.name.as_deref() == claim.metadata.name.as_deref()
        && r.namespace.as_deref() == claim.metadata.namespace.as_deref()
        && r.uid.as_deref().is_none_or(|uid| uid.is_empty() || Some(uid) == claim.metadata.uid.as_deref())
}

fn phase(volume: &PersistentVolume) -> &str {
    volume.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// Whether the class delays binding until a pod uses the claim (`WaitForFirstConsumer`).
pub fn binds_on_first_consumer(class: &k8s_openapi::api::storage::v1::StorageClass) -> bool {
    class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")
}

/// Who binds: the PersistentVolume controller for claims of classes that bind at once,
/// the scheduler (for a node) for `WaitForFirstConsumer` claims.
#[derive(Clone, Copy)]
pub enum Binder<'n> {
    /// The controller, for an immediate claim: any fitting volume.
    Controller,
    /// The controller, for a delayed claim: only a volume the scheduler pre-bound to it
    /// (upstream's `node == nil && delayBinding`).
    ControllerDelayed,
    /// The scheduler, placing the claim's pod on a node: volumes that node can reach.
    Scheduler(&'n dyn Fn(&PersistentVolume) -> bool),
}

/// `findMatchingVolume`: a volume pre-bound to the claim wins; otherwise the smallest
/// Available, unclaimed volume of the claim's class whose labels fit the selector, whose
/// capacity covers the request and whose access modes and volume mode fit.
pub fn find_best_match<'a>(claim: &PersistentVolumeClaim, volumes: impl IntoIterator<Item = &'a PersistentVolume>) -> Option<&'a PersistentVolume> {
    find_match(claim, volumes, Binder::Controller)
}

/// [`find_best_match`] for `binder`.
pub fn find_match<'a>(claim: &PersistentVolumeClaim, volumes: impl IntoIterator<Item = &'a PersistentVolume>, binder: Binder<'_>) -> Option<&'a PersistentVolume> {
    let requested = requested_bytes(claim);
    let class = claim_class(claim);
    let selector = claim.spec.as_ref().and_then(|s| s.selector.as_ref());
    let mut best: Option<(&PersistentVolume, i64)> = None;
    for volume in volumes {
        if volume.metadata.deletion_timestamp.is_some() || volume_mode_mismatch(claim, volume) {
            continue;
        }
        let capacity = capacity_bytes(volume);
        let reachable = match binder {
            Binder::Scheduler(on_node) => on_node(volume),
            _ => true,
        };
        if is_bound_to(volume, claim) {
            if capacity >= requested && access_modes_fit(claim, volume) && reachable {
                return Some(volume);
            }
            continue;
        }
        if matches!(binder, Binder::ControllerDelayed) || !reachable {
            continue;
        }
        let claimed = volume.spec.as_ref().is_some_and(|s| s.claim_ref.is_some());
        if claimed || phase(volume) != "Available" || volume_class(volume) != class {
            continue;
        }
        if selector.is_some() && !selector_matches(selector, volume.labels()) {
            continue;
        }
        if capacity < requested || !access_modes_fit(claim, volume) {
            continue;
        }
        if best.is_none_or(|(_, c)| capacity < c) {
            best = Some((volume, capacity));
        }
    }
    best.map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pv(name: &str, size: &str, class: &str, labels: serde_json::Value) -> PersistentVolume {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": class, "hostPath": {"path": "/x"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Available"},
        }))
        .unwrap()
    }

    fn pvc(size: &str, class: Option<&str>, selector: Option<serde_json::Value>) -> PersistentVolumeClaim {
        let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, "volumeMode": "Filesystem"});
        if let Some(c) = class {
            spec["storageClassName"] = json!(c);
        }
        if let Some(s) = selector {
            spec["selector"] = s;
        }
        serde_json::from_value(json!({"metadata": {"name": "c", "namespace": "ns", "uid": "u1"}, "spec": spec})).unwrap()
    }

    fn name(v: Option<&PersistentVolume>) -> Option<String> {
        v.map(|v| v.name_any())
    }

    #[test]
    fn smallest_sufficient_volume_of_the_class_wins() {
        let vols = [pv("big", "10Gi", "", json!({})), pv("small", "1Gi", "", json!({})), pv("tiny", "100Mi", "", json!({})), pv("other", "1Gi", "fast", json!({}))];
        assert_eq!(name(find_best_match(&pvc("500Mi", Some(""), None), &vols)), Some("small".into()));
        assert_eq!(name(find_best_match(&pvc("500Mi", None, None), &vols)), Some("small".into()));
        assert_eq!(name(find_best_match(&pvc("1Gi", Some("fast"), None), &vols)), Some("other".into()));
        assert_eq!(name(find_best_match(&pvc("20Gi", Some(""), None), &vols)), None);
        assert_eq!(name(find_best_match(&pvc("1Gi", Some("slow"), None), &vols)), None);
    }

    #[test]
    fn selector_access_modes_and_volume_mode_filter() {
        let vols = [pv("a", "1Gi", "", json!({"tier": "gold"})), pv("b", "1Gi", "", json!({"tier": "silver"}))];
        let gold = pvc("1Gi", Some(""), Some(json!({"matchLabels": {"tier": "gold"}})));
        assert_eq!(name(find_best_match(&gold, &vols)), Some("a".into()));
        let bronze = pvc("1Gi", Some(""), Some(json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["bronze"]}]})));
        assert_eq!(name(find_best_match(&bronze, &vols)), None);
        let mut rwx = pvc("1Gi", Some(""), None);
        rwx.spec.as_mut().unwrap().access_modes = Some(vec!["ReadWriteMany".into()]);
        assert_eq!(name(find_best_match(&rwx, &vols)), None);
        let mut block = pvc("1Gi", Some(""), None);
        block.spec.as_mut().unwrap().volume_mode = Some("Block".into());
        assert_eq!(name(find_best_match(&block, &vols)), None);
    }

    #[test]
    fn claimed_and_unavailable_volumes_are_skipped_unless_prebound_to_the_claim() {
        let mut released = pv("released", "1Gi", "", json!({}));
        released.status.as_mut().unwrap().phase = Some("Released".into());
        let mut other = pv("other", "1Gi", "", json!({}));
        other.spec.as_mut().unwrap().claim_ref = Some(serde_json::from_value(json!({"namespace": "ns", "name": "someone"})).unwrap());
        let claim = pvc("1Gi", Some(""), None);
        assert_eq!(name(find_best_match(&claim, [&released, &other])), None);
        // A user's claimRef (no UID) pre-binds the volume to this claim, class aside.
        let mut prebound = pv("prebound", "5Gi", "elsewhere", json!({}));
        prebound.spec.as_mut().unwrap().claim_ref = Some(serde_json::from_value(json!({"namespace": "ns", "name": "c"})).unwrap());
        let small = pv("small", "1Gi", "", json!({}));
        assert_eq!(name(find_best_match(&claim, [&small, &prebound])), Some("prebound".into()));
        // A claimRef with another UID is a previous claim of the same name.
        prebound.spec.as_mut().unwrap().claim_ref.as_mut().unwrap().uid = Some("old".into());
        assert_eq!(name(find_best_match(&claim, [&prebound])), None);
    }

    #[test]
    fn delayed_claims_take_only_prebound_volumes_until_the_scheduler_picks_a_node() {
        let claim = pvc("1Gi", Some(""), None);
        let (near, far) = (pv("near", "1Gi", "", json!({})), pv("far", "1Gi", "", json!({})));
        assert_eq!(name(find_match(&claim, [&near, &far], Binder::ControllerDelayed)), None);
        let on_node = |v: &PersistentVolume| v.name_any() == "far";
        assert_eq!(name(find_match(&claim, [&near, &far], Binder::Scheduler(&on_node))), Some("far".into()));
        let mut prebound = near.clone();
        prebound.spec.as_mut().unwrap().claim_ref = Some(serde_json::from_value(json!({"namespace": "ns", "name": "c", "uid": "u1"})).unwrap());
        assert_eq!(name(find_match(&claim, [&prebound], Binder::ControllerDelayed)), Some("near".into()));
    }
}
