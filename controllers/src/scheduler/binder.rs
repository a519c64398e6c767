//! Talking back to the API: the binding (`pods/{name}/binding`), the
//! `PodScheduled=False` condition of an unschedulable pod, and the `Scheduled` /
//! `FailedScheduling` events (events.k8s.io, reported by `default-scheduler`).

use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use serde_json::{json, Value};

/// Upstream's reporting controller name.
pub const REPORTER: &str = "default-scheduler";

/// Sends bindings, conditions and events for one scheduler.
#[derive(Clone)]
pub struct Binder {
    client: Client,
    recorder: Recorder,
}

fn namespace_of(pod: &Pod) -> String {
    pod.metadata.namespace.clone().unwrap_or_default()
}

fn name_of(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn reference(pod: &Pod) -> ObjectReference {
    pod.object_ref(&())
}

impl Binder {
    /// A binder reporting as `default-scheduler` from `instance`.
    pub fn new(client: Client, instance: String) -> Self {
        let reporter = Reporter { controller: REPORTER.into(), instance: Some(instance) };
        Binder { recorder: Recorder::new(client.clone(), reporter), client }
    }

    /// Binds the pod to the node, then records the `Scheduled` event.
    pub async fn bind(&self, pod: &Pod, node: &str) -> Result<(), kube::Error> {
        let (ns, name) = (namespace_of(pod), name_of(pod));
        let binding = Binding {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(ns.clone()), uid: pod.metadata.uid.clone(), ..Default::default() },
            target: ObjectReference { kind: Some("Node".into()), name: Some(node.into()), ..Default::default() },
        };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let _: Value = pods.create_subresource("binding", &name, &PostParams::default(), &binding).await?;
        let event = Event {
            type_: EventType::Normal,
            reason: "Scheduled".into(),
            note: Some(format!("Successfully assigned {ns}/{name} to {node}")),
            action: "Binding".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &reference(pod)).await {
            tracing::warn!(pod = %name, error = %e, "cannot record the Scheduled event");
        }
        Ok(())
    }

    /// Records why no node fits: the `PodScheduled=False` condition (when it changed)
    /// and a `FailedScheduling` event.
    pub async fn report_unschedulable(&self, pod: &Pod, message: &str) {
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
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            if let Err(e) = pods.patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch)).await {
                tracing::warn!(pod = %name, error = %e, "cannot set the PodScheduled condition");
            }
        }
        let event = Event {
            type_: EventType::Warning,
            reason: "FailedScheduling".into(),
            note: Some(message.to_string()),
            action: "Scheduling".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &reference(pod)).await {
            tracing::warn!(pod = %name, error = %e, "cannot record the FailedScheduling event");
        }
    }
}
