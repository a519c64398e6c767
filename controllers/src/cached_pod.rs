//! The pod as the controller manager and the scheduler cache it: only what some
//! controller or the scheduler reads.
//!
//! k8s-openapi's `Pod` is 2,440 bytes before any field is set and each `Container` 2,144,
//! because every optional field of the API is stored inline. With 10,000 pods that alone
//! was most of the controllers' memory. [`CachedPod`] has the same field names and shapes
//! as `Pod` for the fields it keeps, so code reads it the same way
//! (`pod.spec.as_ref()?.node_name`), and it is deserialized straight from the watch (the
//! other fields are skipped while parsing, never allocated; `managedFields` is read and
//! dropped). The scheduler holds every pending pod this way too: as full `Pod`s, 50,000
//! pods held 950 MiB of its heap (19 KiB each). It is also a
//! [`kube::Resource`] of kind `Pod`, so `Api<CachedPod>` can patch, delete and evict pods
//! and read back the cached form; creating a pod still takes a full `Pod`.
//!
//! A controller that needs a field not kept here adds it here (with the same name and
//! type as in k8s-openapi).

use k8s_openapi::api::core::v1::{
    Affinity, ContainerPort, ContainerState, EphemeralVolumeSource, PersistentVolumeClaimVolumeSource, PodCondition, PodSchedulingGate, ResourceRequirements, Toleration,
    TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A pod as cached by the controllers (see the module doc for what is kept).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[allow(missing_docs)] // The fields are k8s-openapi's, documented there.
pub struct CachedPod {
    #[serde(default, deserialize_with = "meta_without_managed_fields")]
    pub metadata: ObjectMeta,
    pub spec: Option<CachedPodSpec>,
    pub status: Option<CachedPodStatus>,
}

/// The kept part of `PodSpec`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[allow(missing_docs)] // The fields are k8s-openapi's, documented there.
#[serde(rename_all = "camelCase")]
pub struct CachedPodSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: Vec<CachedContainer>,
    pub init_containers: Option<Vec<CachedContainer>>,
    pub node_name: Option<String>,
    pub hostname: Option<String>,
    pub subdomain: Option<String>,
    /// Boxed: set on few pods (DaemonSet pods are pinned to their node with it).
    pub affinity: Option<Box<Affinity>>,
    /// Only the volumes backed by claims: `persistentVolumeClaim` and `ephemeral` ones.
    #[serde(default, deserialize_with = "claim_volumes")]
    pub volumes: Option<Vec<CachedVolume>>,
    // What the scheduler reads.
    pub node_selector: Option<BTreeMap<String, String>>,
    pub tolerations: Option<Vec<Toleration>>,
    pub priority: Option<i32>,
    pub preemption_policy: Option<String>,
    pub scheduler_name: Option<String>,
    pub scheduling_gates: Option<Vec<PodSchedulingGate>>,
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    pub overhead: Option<BTreeMap<String, Quantity>>,
}

/// The kept part of a `Container` (also of init containers).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[allow(missing_docs)] // The fields are k8s-openapi's, documented there.
#[serde(rename_all = "camelCase")]
pub struct CachedContainer {
    #[serde(default)]
    pub name: String,
    pub ports: Option<Vec<ContainerPort>>,
    /// Boxed: most pods set no requests or limits.
    pub resources: Option<Box<ResourceRequirements>>,
    /// `Always` makes an init container a sidecar.
    pub restart_policy: Option<String>,
}

/// The kept part of a `Volume`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[allow(missing_docs)] // The fields are k8s-openapi's, documented there.
#[serde(rename_all = "camelCase")]
pub struct CachedVolume {
    #[serde(default)]
    pub name: String,
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
    pub ephemeral: Option<EphemeralVolumeSource>,
}

/// The kept part of `PodStatus`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[allow(missing_docs)] // The fields are k8s-openapi's, documented there.
#[serde(rename_all = "camelCase")]
pub struct CachedPodStatus {
    pub phase: Option<String>,
    pub conditions: Option<Vec<PodCondition>>,
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    pub container_statuses: Option<Vec<CachedContainerStatus>>,
    pub init_container_statuses: Option<Vec<CachedContainerStatus>>,
}

/// The kept part of a `ContainerStatus`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[allow(missing_docs)] // The fields are k8s-openapi's, documented there.
#[serde(rename_all = "camelCase")]
pub struct CachedContainerStatus {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub restart_count: i32,
    pub state: Option<ContainerState>,
}

impl kube::Resource for CachedPod {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Pod".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "pods".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A JSON `null` reads as the type's default (the API may send `"containers": null`).
fn null_as_default<'de, D: serde::Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads `metadata` without `managedFields` (nothing in-process reads them, and as JSON
/// values they were the largest part of a cached pod's metadata).
fn meta_without_managed_fields<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let meta = Option::<ObjectMeta>::deserialize(d)?.unwrap_or_default();
    Ok(ObjectMeta { managed_fields: None, ..meta })
}

/// Reads `volumes`, keeping only those backed by claims.
fn claim_volumes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<CachedVolume>>, D::Error> {
    let volumes = Option::<Vec<CachedVolume>>::deserialize(d)?;
    Ok(volumes.map(|mut v| {
        v.retain(|v| v.persistent_volume_claim.is_some() || v.ephemeral.is_some());
        v.shrink_to_fit();
        v
    }))
}

/// The cached form of a full pod (for pods the controllers got from the API as `Pod`).
pub fn from_pod(pod: &k8s_openapi::api::core::v1::Pod) -> CachedPod {
    let value = serde_json::to_value(pod).expect("a Pod serializes");
    serde_json::from_value(value).expect("a serialized Pod reads as a CachedPod")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn full_pod() -> serde_json::Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "a"}, "annotations": {"x": "3"}, "managedFields": [{"manager": "m"}]},
            "spec": {
                "nodeName": "n1", "hostname": "h", "subdomain": "s", "restartPolicy": "Never",
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "nodeSelector": {"disk": "ssd"}, "priority": 7, "schedulerName": "s1", "overhead": {"cpu": "10m"},
                "containers": [{"name": "c", "image": "i", "env": [{"name": "E", "value": "v"}], "command": ["sh"],
                                "resources": {"requests": {"cpu": "250m"}},
                                "ports": [{"name": "http", "containerPort": 80}], "volumeMounts": [{"name": "token", "mountPath": "/t"}]}],
                "initContainers": [{"name": "sidecar", "image": "i", "restartPolicy": "Always", "args": ["x"]}],
                "volumes": [{"name": "token", "projected": {"sources": []}}, {"name": "data", "persistentVolumeClaim": {"claimName": "d"}}, {"name": "scratch", "ephemeral": {}}]
            },
            "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}],
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 2,
                                              "state": {"terminated": {"exitCode": 3}}}]}
        })
    }

    #[test]
    fn reads_what_controllers_and_the_scheduler_use_and_skips_the_rest() {
        let pod: CachedPod = serde_json::from_value(full_pod()).unwrap();
        assert_eq!(pod.metadata.labels.as_ref().unwrap()["app"], "a");
        assert_eq!(pod.metadata.annotations.as_ref().unwrap()["x"], "3");
        assert_eq!(pod.metadata.managed_fields, None, "managedFields are dropped");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!((spec.node_name.as_deref(), spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some("n1"), Some("h"), Some("s")));
        let c = &spec.containers[0];
        assert_eq!((c.name.as_str(), c.ports.as_ref().unwrap()[0].container_port), ("c", 80));
        assert_eq!(c.resources.as_ref().unwrap().requests.as_ref().unwrap()["cpu"].0, "250m");
        let sidecar = &spec.init_containers.as_ref().unwrap()[0];
        assert_eq!((sidecar.name.as_str(), sidecar.restart_policy.as_deref()), ("sidecar", Some("Always")));
        assert_eq!(spec.node_selector.as_ref().unwrap()["disk"], "ssd");
        assert_eq!(spec.tolerations.as_ref().unwrap()[0].key.as_deref(), Some("k"));
        assert_eq!((spec.priority, spec.scheduler_name.as_deref()), (Some(7), Some("s1")));
        assert_eq!(spec.overhead.as_ref().unwrap()["cpu"].0, "10m");
        let volumes: Vec<_> = spec.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
        assert_eq!(volumes, ["data", "scratch"]);
        let status = pod.status.as_ref().unwrap();
        assert_eq!((status.phase.as_deref(), status.pod_ip.as_deref()), (Some("Running"), Some("10.0.0.1")));
        let cs = &status.container_statuses.as_ref().unwrap()[0];
        assert_eq!((cs.name.as_str(), cs.restart_count), ("c", 2));
        assert_eq!(cs.state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 3);
        assert!(crate::pods::is_ready(&pod));
    }

    #[test]
    fn a_full_pod_converts_to_the_same_cached_pod() {
        let full: Pod = serde_json::from_value(full_pod()).unwrap();
        assert_eq!(from_pod(&full), serde_json::from_value::<CachedPod>(full_pod()).unwrap());
    }

    #[test]
    fn nulls_and_missing_fields_read_as_empty() {
        let pod: CachedPod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": null, "volumes": null}, "status": null})).unwrap();
        assert!(pod.spec.as_ref().unwrap().containers.is_empty() && pod.spec.as_ref().unwrap().volumes.is_none() && pod.status.is_none());
        assert_eq!(<CachedPod as kube::Resource>::plural(&()), "pods");
    }
}
