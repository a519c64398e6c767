//! The watch cache (upstream `apiserver/pkg/storage/cacher`): every resource's objects in
//! memory, fed by one initial list and one storage watch however many clients there are,
//! so reads and watches cost no storage round trip and every change is fanned out from here.
//!
//! Works over any [`Storage`]: one list of `/registry/` and one watch from its revision.
//! Watching the whole prefix (rather than one watch per resource) gives the cache a single
//! revision that means "everything up to here has been applied": a consistent read asks
//! storage for its current revision and waits until the cache has reached it (upstream's
//! consistent list from cache, which needs etcd progress notifications for the same fact).
//!
//! Objects are kept as storage gives them ([`KeyValue`], stored JSON in [`bytes::Bytes`]),
//! shared by `Arc` between the cache, list answers, the event window and every watcher.
//! If the storage watch breaks (e.g. it fell behind), the cache stops serving, relists,
//! terminates its watchers (they resume from their revision) and serves again.

mod resource;
#[cfg(test)]
mod tests;

pub use resource::{CachedEvent, Delivery, EventAttrs, EventType, Limits, Registration, TooOld};

use crate::storage::{Storage, StorageError};
use resource::Resource;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Tuning of the cache; `Default` is what the server uses.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Event window and watcher limits.
    pub limits: Limits,
    /// How long a read waits for the cache to reach a revision before giving up on it.
    pub fresh_timeout: Duration,
}

impl Default for CacheConfig {
    /// Upstream's numbers: a window of 100 to 102,400 events keeping 75 s of history,
    /// bookmarks every minute, 3 s to wait for freshness. Watchers buffer 1,000 events.
    fn default() -> Self {
        CacheConfig {
            limits: Limits {
                window_min: 100,
                window_max: 100 * 1024,
                window_fresh: Duration::from_secs(75),
                watcher_buffer: 1000,
                bookmark_interval: Duration::from_secs(60),
            },
            fresh_timeout: Duration::from_secs(3),
        }
    }
}

const ROOT: &str = "/registry/";

/// The watch cache of every resource. Cheap to clone; background tasks stop when the last
/// clone is dropped.
#[derive(Clone)]
pub struct WatchCache {
    inner: Arc<Inner>,
    _tasks: Arc<Tasks>,
}

struct Inner {
    storage: Arc<dyn Storage>,
    config: CacheConfig,
    resources: RwLock<HashMap<String, Arc<Resource>>>,
    /// Every storage change up to this revision has been applied.
    revision: watch::Sender<i64>,
    /// False while (re)listing: callers read storage instead.
    ready: AtomicBool,
    /// Revision of the last full list: a resource first seen later has had no change
    /// since, so its history is complete from here.
    listed_at: AtomicI64,
}

struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// The resource part of a key or key prefix: `/registry/pods/` for `/registry/pods/ns/x`.
pub fn resource_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(ROOT)?;
    let end = rest.find('/')?;
    Some(&key[..ROOT.len() + end + 1])
}

impl WatchCache {
    /// Starts filling the cache in the background and returns at once: until the first
    /// list is in, [`WatchCache::is_ready`] is false and callers read storage (upstream's
    /// resilient watch cache initialization), so a big store does not delay start-up.
    pub fn spawn(storage: Arc<dyn Storage>, config: CacheConfig) -> Self {
        let (revision, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            storage,
            config,
            resources: RwLock::new(HashMap::new()),
            revision,
            ready: AtomicBool::new(false),
            listed_at: AtomicI64::new(0),
        });
        let reflector = tokio::spawn(Inner::reflect(Arc::downgrade(&inner)));
        let ticker = tokio::spawn(Inner::tick(Arc::downgrade(&inner)));
        WatchCache { inner, _tasks: Arc::new(Tasks(vec![reflector, ticker])) }
    }

    /// [`WatchCache::spawn`], then waits until the cache serves.
    pub async fn start(storage: Arc<dyn Storage>, config: CacheConfig) -> Result<Self, StorageError> {
        let cache = Self::spawn(storage, config);
        let mut rx = cache.inner.revision.subscribe();
        while !cache.is_ready() {
            rx.changed().await.map_err(|_| StorageError::Backend("the watch cache stopped".into()))?;
        }
        Ok(cache)
    }

    /// Whether the cache is serving (false while it relists after losing its watch).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// Every change up to this revision has been applied.
    pub fn revision(&self) -> i64 {
        *self.inner.revision.borrow()
    }

    /// Waits (up to the fresh timeout) until the cache has applied `revision`.
    pub async fn wait_for(&self, revision: i64) -> bool {
        let mut rx = self.inner.revision.subscribe();
        tokio::time::timeout(self.inner.config.fresh_timeout, rx.wait_for(|r| *r >= revision)).await.is_ok_and(|r| r.is_ok())
    }

    /// Waits until the cache has applied everything storage has acknowledged so far (a
    /// consistent read); `false` when it did not get there in time.
    pub async fn wait_fresh(&self) -> Result<bool, StorageError> {
        let current = self.inner.storage.current_revision().await?;
        Ok(self.wait_for(current).await)
    }

    /// One object (by full key) and the revision the answer is current at.
    pub fn get(&self, key: &str) -> (Option<Arc<crate::storage::KeyValue>>, i64) {
        let resource = self.inner.resource(key);
        resource.get(key, self.revision())
    }

    /// The objects under `prefix` (after `start_after`), at the current revision or at
    /// `exact` when the cache can tell the state there (else `None`: ask storage).
    pub fn list(&self, prefix: &str, start_after: Option<&str>, exact: Option<i64>) -> Option<(Vec<Arc<crate::storage::KeyValue>>, i64)> {
        let resource = self.inner.resource(prefix);
        resource.list(prefix, start_after, exact, self.revision())
    }

    /// Starts a watch on keys under `prefix`: with the current objects first (`after` =
    /// `None`) or replaying the window after a revision.
    pub fn watch(&self, prefix: &str, after: Option<i64>, bookmarks: bool) -> Result<Registration, TooOld> {
        let resource = self.inner.resource(prefix);
        resource.watch(prefix, after, bookmarks, self.revision(), &self.inner.config.limits)
    }

    /// Watchers registered on the resource of `prefix` (for tests and metrics).
    pub fn watcher_count(&self, prefix: &str) -> usize {
        self.inner.resource(prefix).watcher_count()
    }

    /// Objects cached for the resource of `prefix`.
    pub fn object_count(&self, prefix: &str) -> usize {
        self.inner.resource(prefix).len()
    }
}

impl Inner {
    /// The resource a key belongs to, created empty on first use (its history is then
    /// complete: any change to it would have created it).
    fn resource(&self, key: &str) -> Arc<Resource> {
        let prefix = resource_prefix(key).unwrap_or(key);
        if let Some(r) = self.resources.read().unwrap_or_else(|p| p.into_inner()).get(prefix) {
            return r.clone();
        }
        let mut map = self.resources.write().unwrap_or_else(|p| p.into_inner());
        let start = self.listed_at.load(Ordering::Acquire);
        map.entry(prefix.to_string()).or_insert_with(|| Arc::new(Resource::new(start))).clone()
    }

    /// Lists every resource and replaces the cached state; returns the list revision.
    async fn relist(&self) -> Result<i64, StorageError> {
        self.ready.store(false, Ordering::Release);
        let list = self.storage.list(ROOT, None, 0, None).await?;
        let mut grouped: HashMap<String, Vec<crate::storage::KeyValue>> = HashMap::new();
        for kv in list.items {
            if let Some(prefix) = resource_prefix(&kv.key) {
                grouped.entry(prefix.to_string()).or_default().push(kv);
            }
        }
        {
            let mut map = self.resources.write().unwrap_or_else(|p| p.into_inner());
            self.listed_at.store(list.revision, Ordering::Release);
            for prefix in grouped.keys() {
                map.entry(prefix.clone()).or_insert_with(|| Arc::new(Resource::new(list.revision)));
            }
            for (prefix, resource) in map.iter() {
                resource.replace(grouped.remove(prefix).unwrap_or_default(), list.revision);
            }
        }
        // Ready first: the revision update below is what `start` waits for.
        self.ready.store(true, Ordering::Release);
        self.revision.send_replace(list.revision);
        Ok(list.revision)
    }

    /// Lists, then applies the storage watch, relisting whenever it breaks, until the
    /// cache is dropped.
    async fn reflect(inner: std::sync::Weak<Inner>) {
        loop {
            let from = loop {
                let Some(this) = inner.upgrade() else { return };
                let started = std::time::Instant::now();
                match this.relist().await {
                    Ok(revision) => {
                        tracing::info!(revision, ms = started.elapsed().as_millis() as u64, "watch cache filled");
                        break revision;
                    }
                    Err(e) => {
                        tracing::warn!("watch cache list failed: {e}");
                        drop(this);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            };
            let Some(this) = inner.upgrade() else { return };
            let stream = this.storage.watch(ROOT, from).await;
            drop(this);
            match stream {
                Ok(mut events) => {
                    while let Some(event) = events.next().await {
                        let Some(this) = inner.upgrade() else { return };
                        match event {
                            Ok(event) => {
                                let revision = event.revision();
                                if let Some(prefix) = resource_prefix(event.key()) {
                                    this.resource(prefix).apply(event, &this.config.limits);
                                }
                                this.revision.send_replace(revision);
                            }
                            Err(e) => {
                                tracing::warn!("watch cache lost its storage watch: {e}; relisting");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!("watch cache cannot watch storage: {e}; relisting"),
            }
        }
    }

    /// Bookmarks and cleanup of departed watchers.
    async fn tick(inner: std::sync::Weak<Inner>) {
        let period = {
            let Some(this) = inner.upgrade() else { return };
            this.config.limits.bookmark_interval.min(Duration::from_secs(1)).max(Duration::from_millis(10))
        };
        let mut interval = tokio::time::interval(period);
        loop {
            interval.tick().await;
            let Some(this) = inner.upgrade() else { return };
            let global = *this.revision.borrow();
            let resources: Vec<Arc<Resource>> = this.resources.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
            for r in resources {
                r.tick(global, &this.config.limits);
            }
        }
    }
}
