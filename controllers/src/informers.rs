//! Shared informers: one watch and one reflector store per kind, fanned out to every
//! controller that needs the kind.
//!
//! kube-runtime 5's own shared streams (`store_shared`, behind `unstable-runtime-subscribe`)
//! only fan out applied objects, never deletions, and must be subscribed before the watch
//! starts. Controllers need deletions (a deleted pod must make its ReplicaSet create a new
//! one), so this module fans out applied *and* deleted objects itself; the streams it hands
//! out plug into `Controller::for_shared_stream` / `watches_shared_stream` unchanged.

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

/// One kind's watch, store and subscribers.
pub struct SharedInformer<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    api: Api<K>,
    reader: Store<K>,
    /// Taken when the watch starts.
    writer: Mutex<Option<Writer<K>>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>,
    /// Subscribers to deletions only.
    deletion_subscribers: Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>,
}

/// Applied to every object before it is stored: managedFields, which controllers never
/// read and which are a large share of each object, are dropped. (Pods are cached as
/// [`crate::cached_pod::CachedPod`], which keeps only what controllers read.)
fn drop_managed_fields<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

impl<K> SharedInformer<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + serde::de::DeserializeOwned + 'static,
{
    /// An informer over every object of the kind, in all namespaces.
    pub fn new(client: kube::Client) -> Self
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Self::with_api(Api::all(client))
    }

    /// An informer over `api` (cluster-scoped kinds, or one namespace).
    pub fn with_api(api: Api<K>) -> Self {
        let (reader, writer) = reflector::store();
        SharedInformer { api, reader, writer: Mutex::new(Some(writer)), subscribers: Mutex::default(), deletion_subscribers: Mutex::default() }
    }

    /// The read-only store (complete once [`Store::wait_until_ready`] returns).
    pub fn store(&self) -> Store<K> {
        self.reader.clone()
    }

    /// Waits until the first list is in the store.
    pub async fn synced(&self) {
        let _ = self.reader.wait_until_ready().await;
    }

    /// Every object that is applied or deleted from now on, after the objects the store
    /// holds already (so subscribing late misses nothing). Deleted objects come with their
    /// last known state.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded();
        let mut subscribers = self.subscribers.lock().expect("informer lock");
        for obj in self.reader.state() {
            let _ = tx.unbounded_send(obj);
        }
        subscribers.push(tx);
        rx
    }

    /// Every object deleted from now on, with its last known state.
    pub fn deletions(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded();
        self.deletion_subscribers.lock().expect("informer lock").push(tx);
        rx
    }

    fn broadcast(&self, obj: Arc<K>) {
        self.subscribers.lock().expect("informer lock").retain(|tx| tx.unbounded_send(obj.clone()).is_ok());
    }

    /// Watches the kind, feeding the store and subscribers; runs while the API answers
    /// (the watcher retries with backoff). Objects lose their managedFields before they are stored.
    pub async fn run(&self) {
        let Some(writer) = self.writer.lock().expect("informer lock").take() else {
            return;
        };
        let stream = watcher(self.api.clone(), watcher::Config::default())
            .default_backoff()
            .modify(drop_managed_fields::<K>)
            .reflect(writer);
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            match item {
                // Subscribers get the store's own copy, so an object is held once. (During
                // a re-list the store still shows the old state until InitDone.)
                Ok(watcher::Event::Apply(obj)) => {
                    let stored = self.reader.get(&ObjectRef::from_obj(&obj));
                    self.broadcast(stored.unwrap_or_else(|| Arc::new(obj)));
                }
                // A listed object is sent once the list is complete, as the store's copy:
                // sending the watcher's own copy as it arrives would hold every object
                // twice while subscribers catch up (10,000 pods: ~100 MB more at peak).
                Ok(watcher::Event::InitDone) => {
                    let listed = self.reader.state();
                    self.subscribers.lock().expect("informer lock").retain(|tx| listed.iter().all(|obj| tx.unbounded_send(obj.clone()).is_ok()));
                }
                Ok(watcher::Event::Delete(obj)) => {
                    let obj = Arc::new(obj);
                    self.deletion_subscribers.lock().expect("informer lock").retain(|tx| tx.unbounded_send(obj.clone()).is_ok());
                    self.broadcast(obj);
                }
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Err(e) => tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying"),
            }
        }
    }
}
