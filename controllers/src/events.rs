//! Event recording like client-go's `record.EventRecorder` used by kube-controller-manager:
//! `v1` Events with `source.component`, `count`, first/last timestamps; a repeat of the same
//! reason and message on the same object bumps `count` instead of creating a new Event.
//! `kubectl describe` shows them. Failures to record are logged, never fatal (as upstream).
//!
//! kube-runtime's `Recorder` is not used: it folds every event with the same reason into one
//! series whatever the message, so "Created pod: a", "Created pod: b" would show as one.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Entries kept for deduplication before the cache is cleared.
const CACHE_LIMIT: usize = 4096;

/// (object uid, type, reason, message): what makes two Events the same.
type EventKey = (String, &'static str, String, String);
/// (event namespace, event name, count) of the Event recorded for a key.
type Recorded = (String, String, i32);

/// Records Events as one component (`source.component`, `reportingComponent`).
#[derive(Clone)]
pub struct EventRecorder {
    client: kube::Client,
    component: String,
    seen: Arc<Mutex<HashMap<EventKey, Recorded>>>,
}

impl EventRecorder {
    /// A recorder reporting as `component`.
    pub fn new(client: kube::Client, component: &str) -> Self {
        EventRecorder { client, component: component.to_string(), seen: Arc::default() }
    }

    /// Records a `Normal` event.
    pub async fn normal<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: String) {
        self.record(obj, "Normal", reason, message).await;
    }

    /// Records a `Warning` event.
    pub async fn warning<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: String) {
        self.record(obj, "Warning", reason, message).await;
    }

    async fn record<K: Resource<DynamicType = ()>>(&self, obj: &K, type_: &'static str, reason: &str, message: String) {
        let namespace = obj.namespace().unwrap_or_else(|| "default".into());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let now = Timestamp::now();
        let key = (obj.uid().unwrap_or_default(), type_, reason.to_string(), message.clone());
        let repeat = self.seen.lock().expect("events lock").get(&key).cloned();
        if let Some((ns, name, count)) = repeat {
            let patch = serde_json::json!({"count": count + 1, "lastTimestamp": Time(now)});
            if Api::<Event>::namespaced(self.client.clone(), &ns).patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok() {
                self.seen.lock().expect("events lock").insert(key, (ns, name, count + 1));
                return;
            }
        }
        let name = format!("{}.{:x}", obj.name_any(), now.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(namespace.clone()), ..Default::default() },
            involved_object: obj.object_ref(&()),
            reason: Some(reason.to_string()),
            message: Some(message),
            type_: Some(type_.to_string()),
            source: Some(EventSource { component: Some(self.component.clone()), host: None }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(crate::leader::identity().to_string()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None::<MicroTime>,
            count: Some(1),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                let mut seen = self.seen.lock().expect("events lock");
                if seen.len() >= CACHE_LIMIT {
                    seen.clear();
                }
                seen.insert(key, (namespace, name, 1));
            }
            Err(e) => tracing::warn!(reason, error = %e, "cannot record event"),
        }
    }
}
