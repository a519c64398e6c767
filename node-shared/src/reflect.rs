//! One kind's reflector: a watch (managed fields dropped, backed off after errors) that
//! fills a [`Store`], and a task that drives it and shows every applied event to the
//! caller (who pokes whoever renders from the store).

use futures::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};

/// What a reflector can hold: a built-in kind (its type says its group, version and
/// kind) that lists, watches and clones.
pub trait Kind: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + serde::de::DeserializeOwned + 'static {}

impl<K> Kind for K where K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + serde::de::DeserializeOwned + 'static {}

/// Starts reflecting `api` (listed and watched with `config`) into a store. `on_event`
/// sees each event once the store holds it; a failed watch is logged as `component`'s
/// and retried. The task ends when the store's writer does (never, in practice).
pub fn reflect<K: Kind>(
    api: Api<K>,
    config: watcher::Config,
    component: &'static str,
    mut on_event: impl FnMut(&watcher::Event<K>) + Send + 'static,
) -> (Store<K>, tokio::task::JoinHandle<()>) {
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config).default_backoff().modify(|obj| obj.managed_fields_mut().clear()).reflect(writer);
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => on_event(&event),
                Err(e) => tracing::warn!(kind = %K::kind(&()), error = %e, "{component} watch failed; retrying"),
            }
        }
    });
    (reader, task)
}

/// Whether `store` has had its first complete list, without waiting (`Store::is_ready`
/// is not public; `wait_until_ready` answers `Err` only when the writer is gone).
pub fn is_ready<K: Resource<DynamicType = ()> + Clone + 'static>(store: &Store<K>) -> bool {
    use futures::FutureExt;
    store.wait_until_ready().now_or_never().is_some()
}
