//! Event recording like client-go's `record.EventRecorder` used by kube-controller-manager:
//! `v1` Events with `source.component`, `count`, first/last timestamps; a repeat of the same
//! reason and message on the same object bumps `count` instead of creating a new Event.
//! `kubectl describe` shows them. Failures to record are logged, never fatal (as upstream).
//!
//! Recording never waits for the API (upstream's broadcaster queues events too): a
//! recorder hands the event to the one [`EventWriter`] of the controller manager, which
//! writes them in the background. Events about distinct (object, reason, message) keys are
//! written concurrently; repeats of one key are written in order, so they fold into one
//! Event with a growing `count`.
//!
//! kube-runtime's `Recorder` is not used: it folds every event with the same reason into one
//! series whatever the message, so "Created pod: a", "Created pod: b" would show as one.

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Entries kept for deduplication before the cache is cleared.
const CACHE_LIMIT: usize = 4096;
/// Most events written to the API at once.
const CONCURRENCY: usize = 32;

/// (component, object uid, type, reason, message): what makes two Events the same.
type EventKey = (Arc<str>, String, &'static str, String, String);
/// (event namespace, event name, count) of the Event recorded for a key.
type Recorded = (String, String, i32);

/// One event to write.
struct Pending {
    key: EventKey,
    namespace: String,
    object_name: String,
    involved: ObjectReference,
    at: Timestamp,
}

/// Records Events as one component (`source.component`, `reportingComponent`).
#[derive(Clone)]
pub struct EventRecorder {
    queue: mpsc::UnboundedSender<Pending>,
    component: Arc<str>,
}

impl EventRecorder {
    /// Records a `Normal` event (queued; written in the background).
    pub fn normal<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: String) {
        self.record(obj, "Normal", reason, message);
    }

    /// Records a `Warning` event (queued; written in the background).
    pub fn warning<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: String) {
        self.record(obj, "Warning", reason, message);
    }

    fn record<K: Resource<DynamicType = ()>>(&self, obj: &K, type_: &'static str, reason: &str, message: String) {
        let pending = Pending {
            key: (self.component.clone(), obj.uid().unwrap_or_default(), type_, reason.to_string(), message),
            namespace: obj.namespace().unwrap_or_else(|| "default".into()),
            object_name: obj.name_any(),
            involved: obj.object_ref(&()),
            at: Timestamp::now(),
        };
        // Closed only when the writer stopped, i.e. the controllers are stopping.
        let _ = self.queue.send(pending);
    }
}

/// The queue recorders write into (one per controller manager).
#[derive(Clone)]
pub struct EventQueue(mpsc::UnboundedSender<Pending>);

impl EventQueue {
    /// A recorder reporting as `component` into this queue.
    pub fn recorder(&self, component: &str) -> EventRecorder {
        EventRecorder { queue: self.0.clone(), component: Arc::from(component) }
    }
}

/// Writes the events recorders queued.
pub struct EventWriter {
    client: kube::Client,
    queue: mpsc::UnboundedReceiver<Pending>,
    seen: Mutex<HashMap<EventKey, Recorded>>,
}

impl EventWriter {
    /// A writer and the queue it empties.
    pub fn new(client: kube::Client) -> (EventQueue, Self) {
        let (sender, queue) = mpsc::unbounded_channel();
        (EventQueue(sender), EventWriter { client, queue, seen: Mutex::default() })
    }

    /// Writes queued events until every recorder is gone (or this is dropped): takes what is queued, writes distinct keys
    /// concurrently and repeats of a key one after the other.
    pub async fn run(mut self) {
        let mut batch = Vec::new();
        while self.queue.recv_many(&mut batch, 256).await > 0 {
            let mut by_key: Vec<Vec<Pending>> = Vec::new();
            let mut index: HashMap<EventKey, usize> = HashMap::new();
            for pending in batch.drain(..) {
                match index.get(&pending.key) {
                    Some(&i) => by_key[i].push(pending),
                    None => {
                        index.insert(pending.key.clone(), by_key.len());
                        by_key.push(vec![pending]);
                    }
                }
            }
            let this = &self;
            futures::stream::iter(by_key)
                .for_each_concurrent(CONCURRENCY, |repeats| async move {
                    for pending in repeats {
                        this.write(pending).await;
                    }
                })
                .await;
        }
    }

    async fn write(&self, p: Pending) {
        let repeat = self.seen.lock().expect("events lock").get(&p.key).cloned();
        if let Some((ns, name, count)) = repeat {
            let patch = serde_json::json!({"count": count + 1, "lastTimestamp": Time(p.at)});
            if Api::<Event>::namespaced(self.client.clone(), &ns).patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok() {
                self.seen.lock().expect("events lock").insert(p.key, (ns, name, count + 1));
                return;
            }
        }
        let (component, _, type_, reason, message) = &p.key;
        let name = format!("{}.{:x}", p.object_name, p.at.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(p.namespace.clone()), ..Default::default() },
            involved_object: p.involved.clone(),
            reason: Some(reason.clone()),
            message: Some(message.clone()),
            type_: Some(type_.to_string()),
            source: Some(EventSource { component: Some(component.to_string()), host: None }),
            reporting_component: Some(component.to_string()),
            reporting_instance: Some(crate::leader::identity().to_string()),
            first_timestamp: Some(Time(p.at)),
            last_timestamp: Some(Time(p.at)),
            event_time: None::<MicroTime>,
            count: Some(1),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &p.namespace);
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                let mut seen = self.seen.lock().expect("events lock");
                if seen.len() >= CACHE_LIMIT {
                    seen.clear();
                }
                seen.insert(p.key, (p.namespace, name, 1));
            }
            Err(e) => tracing::warn!(reason = %reason, error = %e, "cannot record event"),
        }
    }
}
