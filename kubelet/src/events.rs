//! core/v1 Events about pods, shaped like the kubelet's recorder: source `kubelet` on
//! this host, `involvedObject.fieldPath` `spec.containers{name}` for container events.
//! Posting is fire-and-forget: a lost event must never stall a pod. A repeat of the same
//! event (same object, field path, reason, message) bumps `count` and `lastTimestamp` of
//! the one already posted, like upstream's event correlator.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Remembered events (for aggregation); forgotten wholesale past this many.
const REMEMBERED: usize = 4096;

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

/// What makes two events the same one (counted, not posted twice): the object's uid,
/// the fieldPath, the reason and the message.
type EventKey = (String, String, String, String);

/// Posts events for one node.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    node: String,
    /// (uid, fieldPath, reason, message) -> (event name, count).
    seen: Arc<Mutex<HashMap<EventKey, (String, i32)>>>,
}

impl Recorder {
    /// A recorder reporting as the kubelet on `node`.
    pub fn new(client: Client, node: String) -> Recorder {
        Recorder { client, node, seen: Arc::default() }
    }

    /// Records an event about `pod` (and `container`, when given).
    pub fn pod(&self, pod: &Pod, container: Option<&str>, kind: Kind, reason: &str, message: String) {
        let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let now = jiff::Timestamp::now();
        let field_path = container.map(|c| {
            let init = pod.spec.as_ref().and_then(|s| s.init_containers.as_ref()).is_some_and(|i| i.iter().any(|x| x.name == c));
            format!("spec.{}{{{c}}}", if init { "initContainers" } else { "containers" })
        });
        let key = (pod.metadata.uid.clone().unwrap_or_default(), field_path.clone().unwrap_or_default(), reason.to_string(), message.clone());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let repeat = {
            let mut seen = self.seen.lock().expect("event cache");
            if seen.len() > REMEMBERED {
                seen.clear();
            }
            match seen.get_mut(&key) {
                Some((name, count)) => {
                    *count += 1;
                    Some((name.clone(), *count))
                }
                None => {
                    seen.insert(key, (format!("{name}.{:x}", now.as_nanosecond()), 1));
                    None
                }
            }
        };
        if let Some((event_name, count)) = repeat {
            let patch = serde_json::json!({"count": count, "lastTimestamp": Time(now)});
            tokio::spawn(async move {
                if let Err(e) = api.patch(&event_name, &PatchParams::default(), &Patch::Merge(patch)).await {
                    tracing::debug!("cannot update event: {e}");
                }
            });
            return;
        }
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name),
                namespace: Some(ns.clone()),
                uid: pod.metadata.uid.clone(),
                resource_version: pod.metadata.resource_version.clone(),
                field_path,
            },
            reason: Some(reason.into()),
            message: Some(message),
            source: Some(EventSource { component: Some("kubelet".into()), host: Some(self.node.clone()) }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None::<MicroTime>,
            count: Some(1),
            type_: Some(match kind {
                Kind::Normal => "Normal".into(),
                Kind::Warning => "Warning".into(),
            }),
            reporting_component: Some("kubelet".into()),
            reporting_instance: Some(self.node.clone()),
            ..Default::default()
        };
        tokio::spawn(async move {
            if let Err(e) = api.create(&PostParams::default(), &event).await {
                tracing::debug!("cannot post event: {e}");
            }
        });
    }
}
