//! The hostPath provisioner behind the default `standard` StorageClass (what kind's
//! rancher local-path and minikube's storage-provisioner do): a claim of a class whose
//! provisioner is `ironkube.io/hostpath` gets a directory `<dir>/<namespace>-<name>-<uid>`
//! and a `pvc-<uid>` hostPath PersistentVolume pinned (nodeAffinity) to the node whose
//! disk holds it; when such a volume's reclaim policy is `Delete`, the directory and the
//! volume go once the claim is gone.
//!
//! It runs inside the controller manager, so the directories are made on the machine the
//! controller manager runs on: right for `ironkube up` (one machine, `node` is its
//! kubelet's node). With more nodes every provisioned volume lives on that one node, and
//! pods using it are pinned there by its nodeAffinity.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The provisioner name a StorageClass names to use this provisioner.
pub const PROVISIONER: &str = "ironkube.io/hostpath";
/// Upstream `AnnDynamicallyProvisioned`: which provisioner made the volume.
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// Where provisioned volumes live.
#[derive(Clone, Debug)]
pub struct HostPathProvisioner {
    /// Parent directory of the volumes (absolute).
    pub dir: PathBuf,
    /// The node whose disk `dir` is on (the volumes' nodeAffinity).
    pub node: String,
}

impl HostPathProvisioner {
    /// The directory of a claim's volume.
    pub fn volume_dir(&self, claim: &PersistentVolumeClaim) -> PathBuf {
        let (ns, name, uid) = (claim.namespace().unwrap_or_default(), claim.name_any(), claim.uid().unwrap_or_default());
        self.dir.join(format!("{ns}-{name}-{uid}"))
    }

    /// The volume to create for a claim of `class` (pre-bound to the claim by UID).
    pub fn volume_for(&self, claim: &PersistentVolumeClaim, class: &StorageClass) -> PersistentVolume {
        let spec = claim.spec.clone().unwrap_or_default();
        let storage = spec.resources.as_ref().and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage")).cloned();
        let value = json!({
            "metadata": {
                "name": format!("pvc-{}", claim.uid().unwrap_or_default()),
                "annotations": { PROVISIONED_BY: PROVISIONER },
            },
            "spec": {
                "capacity": { "storage": storage },
                "accessModes": spec.access_modes,
                "persistentVolumeReclaimPolicy": class.reclaim_policy.as_deref().unwrap_or("Delete"),
                "storageClassName": class.name_any(),
                "volumeMode": spec.volume_mode.as_deref().unwrap_or("Filesystem"),
                "mountOptions": class.mount_options,
                "hostPath": { "path": self.volume_dir(claim).display().to_string(), "type": "DirectoryOrCreate" },
                "claimRef": {
                    "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                    "namespace": claim.namespace(), "name": claim.name_any(), "uid": claim.uid(),
                    "resourceVersion": claim.resource_version(),
                },
                "nodeAffinity": { "required": { "nodeSelectorTerms": [{ "matchExpressions": [
                    { "key": "kubernetes.io/hostname", "operator": "In", "values": [self.node] },
                ] }] } },
            },
        });
        serde_json::from_value(value).expect("a PersistentVolume")
    }

    /// Makes the claim's directory (world-writable, like local-path, so containers running
    /// as any user can write).
    pub fn create_dir(&self, claim: &PersistentVolumeClaim) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.volume_dir(claim);
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        Ok(dir)
    }

    /// Whether this provisioner made `volume` (and so may delete its directory).
    pub fn owns(&self, volume: &PersistentVolume) -> Option<PathBuf> {
        if volume.annotations().get(PROVISIONED_BY).map(String::as_str) != Some(PROVISIONER) {
            return None;
        }
        let path = PathBuf::from(&volume.spec.as_ref()?.host_path.as_ref()?.path);
        inside(&path, &self.dir).then_some(path)
    }
}

/// `path` is a direct child of `dir` (never `dir` itself, never outside it).
fn inside(path: &Path, dir: &Path) -> bool {
    path.parent() == Some(dir) && path.file_name().is_some_and(|n| n != ".." && n != ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioned_volume_is_prebound_pinned_and_owned() {
        let p = HostPathProvisioner { dir: "/data/volumes".into(), node: "n1".into() };
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "standard"},
        }))
        .unwrap();
        let class: StorageClass = serde_json::from_value(json!({"metadata": {"name": "standard"}, "provisioner": PROVISIONER, "reclaimPolicy": "Delete"})).unwrap();
        let pv = p.volume_for(&claim, &class);
        assert_eq!(pv.name_any(), "pvc-u-1");
        let spec = pv.spec.as_ref().unwrap();
        assert_eq!(spec.host_path.as_ref().unwrap().path, "/data/volumes/ns-data-u-1");
        assert_eq!(spec.claim_ref.as_ref().unwrap().uid.as_deref(), Some("u-1"));
        assert_eq!(spec.capacity.as_ref().unwrap()["storage"].0, "1Gi");
        assert_eq!(spec.persistent_volume_reclaim_policy.as_deref(), Some("Delete"));
        let term = &spec.node_affinity.as_ref().unwrap().required.as_ref().unwrap().node_selector_terms[0];
        assert_eq!(term.match_expressions.as_ref().unwrap()[0].values, Some(vec!["n1".to_string()]));
        assert_eq!(p.owns(&pv), Some(PathBuf::from("/data/volumes/ns-data-u-1")));
        let mut foreign = pv.clone();
        foreign.spec.as_mut().unwrap().host_path.as_mut().unwrap().path = "/etc".into();
        assert_eq!(p.owns(&foreign), None);
        foreign.spec.as_mut().unwrap().host_path.as_mut().unwrap().path = "/data/volumes/../x".into();
        assert_eq!(p.owns(&foreign), None);
    }
}
