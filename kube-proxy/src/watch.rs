//! Service and EndpointSlice reflectors (upstream's informers with the same label
//! filter), each change poking the proxier.

use ironkube_node_shared::reflect::{self, Kind};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Client};
use std::sync::Arc;
use tokio::sync::Notify;

/// Objects other proxies own or that need no rules (upstream `server.go`'s selector).
const PROXIED: &str = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless";

/// The two stores the proxier renders from.
#[derive(Clone)]
pub struct Stores {
    /// Proxied Services.
    pub services: Store<Service>,
    /// Their EndpointSlices.
    pub slices: Store<EndpointSlice>,
}

impl Stores {
    /// Waits until both stores hold a complete list (upstream's `servicesSynced` and
    /// `endpointSlicesSynced`: no rules from partial data).
    pub async fn ready(&self) {
        let _ = self.services.wait_until_ready().await;
        let _ = self.slices.wait_until_ready().await;
    }
}

/// One kind's reflector, notifying `changed` after every change and the first list.
fn reflect<K: Kind>(client: Client, changed: &Arc<Notify>) -> (Store<K>, tokio::task::JoinHandle<()>) {
    let changed = changed.clone();
    let config = watcher::Config::default().labels(PROXIED);
    reflect::reflect(Api::<K>::all(client), config, "kube-proxy", move |event| {
        if matches!(event, watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) {
            changed.notify_one();
        }
    })
}

/// Starts both watches; `changed` is notified after every change.
pub fn start(client: Client, changed: Arc<Notify>) -> (Stores, Vec<tokio::task::JoinHandle<()>>) {
    let (services, a) = reflect::<Service>(client.clone(), &changed);
    let (slices, b) = reflect::<EndpointSlice>(client, &changed);
    (Stores { services, slices }, vec![a, b])
}
