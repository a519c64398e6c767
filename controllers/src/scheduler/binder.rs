//! Talking back to the API: the binding (`pods/{name}/binding`) and, before it, the
//! delayed claims' volumes, the
//! `PodScheduled=False` condition of an unschedulable pod, and the `Scheduled` /
//! `FailedScheduling` events (events.k8s.io, reported by `default-scheduler`).

use crate::cached_pod::CachedPod;
use super::filters::volume_binding::VolumeAction;
use crate::persistent_volume::claims::SELECTED_NODE;
use crate::persistent_volume::matching::BOUND_BY_CONTROLLER;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::{json, Value};

/// Upstream's reporting controller name.
pub const REPORTER: &str = "default-scheduler";

/// Sends bindings, conditions and events for one scheduler.
#[derive(Clone)]
pub struct Binder {
    client: Client,
    instance: String,
}

fn namespace_of(pod: &CachedPod) -> String {
    pod.metadata.namespace.clone().unwrap_or_default()
}

fn name_of(pod: &CachedPod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn reference(pod: &CachedPod) -> ObjectReference {
    pod.object_ref(&())
}

impl Binder {
    /// A binder reporting as `default-scheduler` from `instance`.
    pub fn new(client: Client, instance: String) -> Self {
        Binder { client, instance }
    }

    /// Writes one events.k8s.io Event about the pod (upstream's recorder names it
    /// `<pod>.<unix nanos in hex>`). kube-runtime's `Recorder` is not used: it holds a
    /// lock across the API call, which serialises every binding behind event writes.
    async fn record(&self, pod: &CachedPod, type_: &str, reason: &str, action: &str, note: String) {
        let now = jiff::Timestamp::now();
        let ns = namespace_of(pod);
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{:x}", name_of(pod), now.as_nanosecond())),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(type_.into()),
            reason: Some(reason.into()),
            action: Some(action.into()),
            note: Some(note),
            regarding: Some(reference(pod)),
            reporting_controller: Some(REPORTER.into()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = events.create(&PostParams::default(), &event).await {
            tracing::warn!(pod = %name_of(pod), reason, error = %e, "cannot record an event");
        }
    }

    /// Binds the pod to the node.
    pub async fn bind(&self, pod: &CachedPod, node: &str) -> Result<(), kube::Error> {
        let (ns, name) = (namespace_of(pod), name_of(pod));
        let binding = Binding {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(ns.clone()), uid: pod.metadata.uid.clone(), ..Default::default() },
            target: ObjectReference { kind: Some("Node".into()), name: Some(node.into()), ..Default::default() },
        };
        let pods: Api<CachedPod> = Api::namespaced(self.client.clone(), &ns);
        let _: Value = pods.create_subresource("binding", &name, &PostParams::default(), &binding).await?;
        Ok(())
    }

    /// Gives the pod's delayed claims their volumes on `node` (upstream `BindPodVolumes`
    /// without the wait): a pre-bound volume's `claimRef`, or the claim's selected node.
    pub async fn bind_volumes(&self, node: &str, actions: &[VolumeAction]) -> Result<(), kube::Error> {
        for action in actions {
            match action {
                VolumeAction::PreBind { claim, volume } => {
                    let claim_ref = json!({
                        "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                        "namespace": claim.metadata.namespace, "name": claim.metadata.name,
                        "uid": claim.metadata.uid, "resourceVersion": claim.metadata.resource_version,
                    });
                    let patch = json!({"metadata": {"annotations": {BOUND_BY_CONTROLLER: "yes"}}, "spec": {"claimRef": claim_ref}});
                    let volumes: Api<PersistentVolume> = Api::all(self.client.clone());
                    volumes.patch(volume, &PatchParams::default(), &Patch::Merge(&patch)).await?;
                }
                VolumeAction::SelectNode { claim } => {
                    let patch = json!({"metadata": {"annotations": {SELECTED_NODE: node}}});
                    let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &claim.namespace().unwrap_or_default());
                    claims.patch(&claim.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
                }
            }
        }
        Ok(())
    }

    /// Records the `Scheduled` event of a bound pod.
    pub async fn record_scheduled(&self, pod: &CachedPod, node: &str) {
        let note = format!("Successfully assigned {}/{} to {node}", namespace_of(pod), name_of(pod));
        self.record(pod, "Normal", "Scheduled", "Binding", note).await;
    }

    /// Records why no node fits: the `PodScheduled=False` condition (when it changed)
    /// and a `FailedScheduling` event.
    pub async fn report_unschedulable(&self, pod: &CachedPod, message: &str) {
        let (ns, name) = (namespace_of(pod), name_of(pod));
        let current = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
        let same = current.is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable") && c.message.as_deref() == Some(message));
        if !same {
            let transition = match current {
                Some(c) if c.status == "False" => c.last_transition_time.as_ref().map(|t| json!(t)),
                _ => None,
            }
            .unwrap_or_else(|| json!(jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
            let patch = json!({"status": {"conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": null,
                "lastTransitionTime": transition,
                "observedGeneration": pod.metadata.generation,
            }]}});
            let pods: Api<CachedPod> = Api::namespaced(self.client.clone(), &ns);
            if let Err(e) = pods.patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch)).await {
                tracing::warn!(pod = %name, error = %e, "cannot set the PodScheduled condition");
            }
        }
        self.record(pod, "Warning", "FailedScheduling", "Scheduling", message.to_string()).await;
    }
}
