//! Reflectors over every Service, EndpointSlice and Namespace (CoreDNS watches the same
//! three), read by [`crate::records`] through [`Directory`].

use crate::records::Directory;
use ironkube_node_shared::reflect::{self, Kind, is_ready};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client};
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

/// One kind's reflector; every event moves the serial to now.
fn reflect<K: Kind>(api: Api<K>, changed: &Arc<AtomicU32>) -> (Store<K>, tokio::task::JoinHandle<()>) {
    let changed = changed.clone();
    reflect::reflect(api, watcher::Config::default(), "cluster DNS", move |_| changed.store(now(), Ordering::Relaxed))
}

/// Starts the three watches.
pub fn start(client: Client) -> (Stores, Vec<tokio::task::JoinHandle<()>>) {
    let changed = Arc::new(AtomicU32::new(now()));
    let (services, a) = reflect::<Service>(Api::all(client.clone()), &changed);
    let (slices, b) = reflect::<EndpointSlice>(Api::all(client.clone()), &changed);
    let (namespaces, c) = reflect::<Namespace>(Api::all(client), &changed);
    (Stores { services, slices, namespaces, changed }, vec![a, b, c])
}

impl Directory for Stores {
    fn synced(&self) -> bool {
        is_ready(&self.services) && is_ready(&self.slices) && is_ready(&self.namespaces)
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
