//! VolumeBinding (upstream `pkg/scheduler/framework/plugins/volumebinding`): PreFilter
//! rejects a pod whose claims are missing, being deleted or not yet bound while their
//! class binds immediately (the PersistentVolume controller binds those on its own; the
//! pod is retried when claims change). Filter keeps the pod off nodes its bound
//! volumes' nodeAffinity excludes, and, for claims of `WaitForFirstConsumer` classes,
//! off nodes where no available volume fits and the class cannot provision.
//!
//! Once a node is chosen, [`plan`] says what to do for each such claim before the pod
//! is bound (upstream `AssumePodVolumes` + `BindPodVolumes`): pre-bind the chosen
//! volume to the claim (its `claimRef`; the PersistentVolume controller completes the
//! binding), or name the node in the claim's `volume.kubernetes.io/selected-node` so
//! the provisioner makes a volume there. Unlike upstream the pod is bound without
//! waiting for the claims to be bound: its kubelet waits for them instead.

use crate::cached_pod::CachedPod;
use super::{Code, Rejection, Verdict};
use crate::scheduler::cache::NodeInfo;
use crate::persistent_volume::matching::{self, Binder};
use crate::scheduler::selectors::term_matches;
use k8s_openapi::api::core::v1::{NodeSelector, PersistentVolume, PersistentVolumeClaim};
use kube::ResourceExt;
use k8s_openapi::api::storage::v1::StorageClass;
use std::sync::Arc;

/// Upstream `ErrReasonBindConflict`'s sibling for immediate claims.
pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
/// Upstream `ErrReasonNodeConflict`.
pub const NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// Upstream `ErrReasonBindConflict`.
pub const BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
/// The provisioner name of classes that never provision (local volumes).
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// Where the plugin looks claims, volumes and classes up.
pub trait VolumeLookup {
    /// A claim by namespace and name.
    fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>>;
    /// A volume by name.
    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>>;
    /// A class by name.
    fn class(&self, name: &str) -> Option<Arc<StorageClass>>;
    /// Every volume.
    fn volumes(&self) -> Vec<Arc<PersistentVolume>>;
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
    fn volumes(&self) -> Vec<Arc<PersistentVolume>> {
        Vec::new()
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
    fn volumes(&self) -> Vec<Arc<PersistentVolume>> {
        self.volumes.state()
    }
}

/// A `WaitForFirstConsumer` claim of the pod that is not bound yet.
struct DelayedClaim {
    claim: Arc<PersistentVolumeClaim>,
    class: Option<Arc<StorageClass>>,
}

/// What PreFilter found: the node constraints of the pod's bound volumes and the
/// delayed claims to place with it.
#[derive(Default)]
pub struct State {
    node_affinity: Vec<NodeSelector>,
    delayed: Vec<DelayedClaim>,
    volumes: Vec<Arc<PersistentVolume>>,
}

/// What to do for one delayed claim once the pod's node is chosen.
#[derive(Debug, PartialEq)]
pub enum VolumeAction {
    /// Pre-bind this available volume to the claim.
    PreBind {
        /// The claim.
        claim: Arc<PersistentVolumeClaim>,
        /// The volume's name.
        volume: String,
    },
    /// Ask the claim's provisioner for a volume on the node.
    SelectNode {
        /// The claim.
        claim: Arc<PersistentVolumeClaim>,
    },
}

fn claim_names(pod: &CachedPod) -> Vec<String> {
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
pub fn pre_filter(pod: &CachedPod, lookup: &impl VolumeLookup) -> Result<State, String> {
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
        let class = lookup.class(&matching::claim_class(&claim));
        let delayed = class.as_deref().is_some_and(matching::binds_on_first_consumer);
        if delayed {
            state.delayed.push(DelayedClaim { claim, class });
        }
        unbound_immediate |= !delayed;
    }
    if unbound_immediate {
        return Err(UNBOUND_IMMEDIATE.into());
    }
    if !state.delayed.is_empty() {
        state.volumes = lookup.volumes();
    }
    Ok(state)
}

/// Upstream Filter: every bound volume's required nodeAffinity admits the node, and
/// every delayed claim can get a volume there.
pub fn filter(state: &State, node: &NodeInfo) -> Verdict {
    let fits = state.node_affinity.iter().all(|sel| sel.node_selector_terms.iter().any(|t| term_matches(t, node.name(), node.labels())));
    if !fits {
        return Err(Rejection::new(Code::Unresolvable, NODE_CONFLICT));
    }
    match plan(state, node) {
        Some(_) => Ok(()),
        None => Err(Rejection::new(Code::Unresolvable, BIND_CONFLICT)),
    }
}

/// The actions that give each delayed claim a volume on `node` (each volume used once),
/// or `None` when one of them cannot get any.
pub fn plan(state: &State, node: &NodeInfo) -> Option<Vec<VolumeAction>> {
    let mut actions = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    for delayed in &state.delayed {
        let on_node = |v: &PersistentVolume| reaches(v, node) && !taken.contains(&v.name_any());
        let found = matching::find_match(&delayed.claim, state.volumes.iter().map(AsRef::as_ref), Binder::Scheduler(&on_node)).map(|v| v.name_any());
        match found {
            Some(volume) => {
                taken.push(volume.clone());
                actions.push(VolumeAction::PreBind { claim: delayed.claim.clone(), volume });
            }
            None if delayed.class.as_ref().is_some_and(|c| can_provision_on(c, node)) => {
                actions.push(VolumeAction::SelectNode { claim: delayed.claim.clone() });
            }
            None => return None,
        }
    }
    Some(actions)
}

/// The volume's required nodeAffinity (if any) admits the node.
fn reaches(volume: &PersistentVolume, node: &NodeInfo) -> bool {
    let required = volume.spec.as_ref().and_then(|s| s.node_affinity.as_ref()).and_then(|a| a.required.as_ref());
    required.is_none_or(|sel| sel.node_selector_terms.iter().any(|t| term_matches(t, node.name(), node.labels())))
}

/// The class has a provisioner and its `allowedTopologies` (if any) admit the node.
fn can_provision_on(class: &StorageClass, node: &NodeInfo) -> bool {
    if class.provisioner == NO_PROVISIONER {
        return false;
    }
    let Some(terms) = class.allowed_topologies.as_ref().filter(|t| !t.is_empty()) else { return true };
    terms.iter().any(|term| {
        term.match_label_expressions.iter().flatten().all(|e| node.labels().get(&e.key).is_some_and(|v| e.values.contains(v)))
    })
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
        fn volumes(&self) -> Vec<Arc<PersistentVolume>> {
            self.volumes.values().cloned().collect()
        }
    }

    fn pod_with_claim(claim: &str) -> CachedPod {
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

    #[test]
    fn delayed_claims_take_a_reachable_volume_or_the_provisioner() {
        let mut fake = Fake::default();
        fake.claims.insert("c".into(), Arc::new(serde_json::from_value(json!({"metadata": {"name": "c", "namespace": "ns", "uid": "u"},
            "spec": {"storageClassName": "local", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})).unwrap()));
        let class = |provisioner: &str| Arc::new(serde_json::from_value::<StorageClass>(json!({"metadata": {"name": "local"}, "provisioner": provisioner, "volumeBindingMode": "WaitForFirstConsumer"})).unwrap());
        fake.classes.insert("local".into(), class(NO_PROVISIONER));
        let on = |node: &str| json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}});
        fake.volumes.insert("v2".into(), Arc::new(serde_json::from_value(json!({"metadata": {"name": "v2"},
            "spec": {"storageClassName": "local", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"], "nodeAffinity": on("n2")},
            "status": {"phase": "Available"}})).unwrap()));
        let node = |name: &str| NodeInfo::with_node(crate::scheduler::cache::tests::node(name, "1", json!({"kubernetes.io/hostname": name})));
        let state = pre_filter(&pod_with_claim("c"), &fake).unwrap();
        assert_eq!(filter(&state, &node("n1")).unwrap_err().reasons, [BIND_CONFLICT], "no volume on n1 and no provisioner");
        assert!(filter(&state, &node("n2")).is_ok());
        assert!(matches!(plan(&state, &node("n2")).unwrap().as_slice(), [VolumeAction::PreBind { volume, .. }] if volume == "v2"));
        fake.classes.insert("local".into(), class("ironkube.io/hostpath"));
        let state = pre_filter(&pod_with_claim("c"), &fake).unwrap();
        assert!(matches!(plan(&state, &node("n1")).unwrap().as_slice(), [VolumeAction::SelectNode { .. }]));
    }
}
