//! VolumeBinding (upstream `pkg/scheduler/framework/plugins/volumebinding`), for the
//! claims this cluster can bind: PreFilter rejects a pod whose claims are missing, being
//! deleted or not yet bound while their class binds immediately (the PersistentVolume
//! controller binds those on its own; the pod is retried when claims change). Filter keeps
//! the pod off nodes its bound volumes' nodeAffinity excludes.
//!
//! Claims of `WaitForFirstConsumer` classes are not bound by the scheduler here (no
//! `volume.kubernetes.io/selected-node`): such a pod is scheduled and its kubelet waits
//! for the claim, which waits for a binding that never comes. The default class
//! `standard` binds immediately for that reason.

use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::NodeInfo;
use crate::scheduler::selectors::term_matches;
use k8s_openapi::api::core::v1::{NodeSelector, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use std::sync::Arc;

/// Upstream `ErrReasonBindConflict`'s sibling for immediate claims.
pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
/// Upstream `ErrReasonNodeConflict`.
pub const NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";

/// Where the plugin looks claims, volumes and classes up.
pub trait VolumeLookup {
    /// A claim by namespace and name.
    fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>>;
    /// A volume by name.
    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>>;
    /// A class by name.
    fn class(&self, name: &str) -> Option<Arc<StorageClass>>;
}

/// A cluster without claims (pods without claim volumes never look anything up).
pub struct NoVolumes;

impl VolumeLookup for NoVolumes {
    fn claim(&self, _: &str, _: &str) -> Option<Arc<PersistentVolumeClaim>> {
        None
    }
    fn volume(&self, _: &str) -> Option<Arc<PersistentVolume>> {
        None
    }
    fn class(&self, _: &str) -> Option<Arc<StorageClass>> {
        None
    }
}

/// The scheduler's reflector stores of claims, volumes and classes.
#[derive(Clone)]
pub struct Stores {
    /// Every claim.
    pub claims: kube::runtime::reflector::Store<PersistentVolumeClaim>,
    /// Every volume.
    pub volumes: kube::runtime::reflector::Store<PersistentVolume>,
    /// Every class.
    pub classes: kube::runtime::reflector::Store<StorageClass>,
}

impl VolumeLookup for Stores {
    fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.claims.get(&kube::runtime::reflector::ObjectRef::new(name).within(namespace))
    }
    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.volumes.get(&kube::runtime::reflector::ObjectRef::new(name))
    }
    fn class(&self, name: &str) -> Option<Arc<StorageClass>> {
        self.classes.get(&kube::runtime::reflector::ObjectRef::new(name))
    }
}

/// What PreFilter found: the node constraints of the pod's bound volumes.
#[derive(Default)]
pub struct State {
    node_affinity: Vec<NodeSelector>,
}

fn claim_names(pod: &Pod) -> Vec<String> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten();
    volumes
        .filter_map(|v| match (&v.persistent_volume_claim, &v.ephemeral) {
            (Some(c), _) => Some(c.claim_name.clone()),
            (None, Some(_)) => Some(format!("{pod_name}-{}", v.name)),
            _ => None,
        })
        .collect()
}

/// Upstream PreFilter: `Err` is the pod-wide reason (UnschedulableAndUnresolvable).
pub fn pre_filter(pod: &Pod, lookup: &impl VolumeLookup) -> Result<State, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let mut state = State::default();
    let mut unbound_immediate = false;
    for name in claim_names(pod) {
        let Some(claim) = lookup.claim(ns, &name) else { return Err(format!("persistentvolumeclaim \"{name}\" not found")) };
        if claim.metadata.deletion_timestamp.is_some() {
            return Err(format!("persistentvolumeclaim \"{name}\" is being deleted"));
        }
        let volume_name = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()).unwrap_or("");
        let completed = claim.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(crate::persistent_volume::matching::BIND_COMPLETED));
        if !volume_name.is_empty() && completed {
            let affinity = lookup.volume(volume_name).and_then(|v| v.spec.as_ref()?.node_affinity.as_ref()?.required.clone());
            state.node_affinity.extend(affinity);
            continue;
        }
        let class = crate::persistent_volume::matching::claim_class(&claim);
        let delayed = lookup.class(&class).is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"));
        unbound_immediate |= !delayed;
    }
    if unbound_immediate {
        return Err(UNBOUND_IMMEDIATE.into());
    }
    Ok(state)
}

/// Upstream Filter: every bound volume's required nodeAffinity admits the node.
pub fn filter(state: &State, node: &NodeInfo) -> Verdict {
    let fits = state.node_affinity.iter().all(|sel| sel.node_selector_terms.iter().any(|t| term_matches(t, node.name(), node.labels())));
    if fits { Ok(()) } else { Err(Rejection::new(Code::Unresolvable, NODE_CONFLICT)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        claims: HashMap<String, Arc<PersistentVolumeClaim>>,
        volumes: HashMap<String, Arc<PersistentVolume>>,
        classes: HashMap<String, Arc<StorageClass>>,
    }

    impl VolumeLookup for Fake {
        fn claim(&self, _: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
            self.claims.get(name).cloned()
        }
        fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>> {
            self.volumes.get(name).cloned()
        }
        fn class(&self, name: &str) -> Option<Arc<StorageClass>> {
            self.classes.get(name).cloned()
        }
    }

    fn pod_with_claim(claim: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [], "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]}})).unwrap()
    }

    fn claim(class: &str, volume: Option<&str>) -> Arc<PersistentVolumeClaim> {
        let annotations = if volume.is_some() { json!({"pv.kubernetes.io/bind-completed": "yes"}) } else { json!({}) };
        Arc::new(serde_json::from_value(json!({"metadata": {"name": "c", "namespace": "ns", "annotations": annotations}, "spec": {"storageClassName": class, "volumeName": volume}})).unwrap())
    }

    #[test]
    fn unbound_immediate_claims_block_the_pod() {
        let mut fake = Fake::default();
        assert_eq!(pre_filter(&pod_with_claim("c"), &fake).err(), Some("persistentvolumeclaim \"c\" not found".to_string()));
        fake.claims.insert("c".into(), claim("standard", None));
        assert_eq!(pre_filter(&pod_with_claim("c"), &fake).err(), Some(UNBOUND_IMMEDIATE.to_string()));
        fake.classes.insert("standard".into(), Arc::new(serde_json::from_value(json!({"metadata": {"name": "standard"}, "provisioner": "x", "volumeBindingMode": "WaitForFirstConsumer"})).unwrap()));
        assert!(pre_filter(&pod_with_claim("c"), &fake).is_ok());
    }

    #[test]
    fn bound_volumes_pin_the_pod_to_their_nodes() {
        let mut fake = Fake::default();
        fake.claims.insert("c".into(), claim("", Some("v")));
        let affinity = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}});
        fake.volumes.insert("v".into(), Arc::new(serde_json::from_value(json!({"metadata": {"name": "v"}, "spec": {"nodeAffinity": affinity}})).unwrap()));
        let state = pre_filter(&pod_with_claim("c"), &fake).unwrap();
        let node = |name: &str| NodeInfo::with_node(crate::scheduler::cache::tests::node(name, "1", json!({"kubernetes.io/hostname": name})));
        assert!(filter(&state, &node("n1")).is_ok());
        assert_eq!(filter(&state, &node("n2")).unwrap_err().reasons, [NODE_CONFLICT]);
    }
}
