//! Reflectors over every Service, EndpointSlice and Namespace (CoreDNS watches the same
//! three), read by [`crate::records`] through [`Directory`].

use crate::records::Directory;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The reflected objects.
#[derive(Clone)]
pub struct Stores {
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    namespaces: Store<Namespace>,
    /// Unix seconds of the last change (the SOA serial).
    changed: Arc<AtomicU32>,
}

fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(1)
}

fn reflect<K>(api: Api<K>, changed: Arc<AtomicU32>) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + serde::de::DeserializeOwned + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|obj| obj.managed_fields_mut().clear())
        .reflect(writer);
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.store(now(), Ordering::Relaxed),
                Err(e) => tracing::warn!(kind = %K::kind(&()), error = %e, "cluster DNS watch failed; retrying"),
            }
        }
    });
    (reader, task)
}

/// Starts the three watches.
pub fn start(client: Client) -> (Stores, Vec<tokio::task::JoinHandle<()>>) {
    let changed = Arc::new(AtomicU32::new(now()));
    let (services, a) = reflect::<Service>(Api::all(client.clone()), changed.clone());
    let (slices, b) = reflect::<EndpointSlice>(Api::all(client.clone()), changed.clone());
    let (namespaces, c) = reflect::<Namespace>(Api::all(client), changed.clone());
    (Stores { services, slices, namespaces, changed }, vec![a, b, c])
}

impl Directory for Stores {
    fn synced(&self) -> bool {
        // A reflector store answers `Err` to `wait_until_ready` only when its writer is
        // gone; `is_ready` is not public, so read the readiness future without waiting.
        ready(&self.services) && ready(&self.slices) && ready(&self.namespaces)
    }

    fn serial(&self) -> u32 {
        self.changed.load(Ordering::Relaxed)
    }

    fn namespace_exists(&self, namespace: &str) -> bool {
        self.namespaces.get(&ObjectRef::new(namespace)).is_some()
    }

    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services.get(&ObjectRef::new(name).within(namespace))
    }

    fn services(&self) -> Vec<Arc<Service>> {
        self.services.state()
    }

    fn endpoint_slices(&self) -> Vec<Arc<EndpointSlice>> {
        self.slices.state()
    }
}

fn ready<K: Resource<DynamicType = ()> + Clone + 'static>(store: &Store<K>) -> bool {
    use futures::FutureExt;
    store.wait_until_ready().now_or_never().is_some()
}
