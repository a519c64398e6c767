//! Service and EndpointSlice reflectors (upstream's informers with the same label
//! filter), each change poking the proxier.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
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

fn reflect<K>(client: Client, changed: Arc<Notify>) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Clone + std::fmt::Debug + Send + Sync + serde::de::DeserializeOwned + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(Api::<K>::all(client), watcher::Config::default().labels(PROXIED))
        .default_backoff()
        .modify(|obj| obj.managed_fields_mut().clear())
        .reflect(writer);
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) => changed.notify_one(),
                Ok(_) => {}
                Err(e) => tracing::warn!(kind = %K::kind(&()), error = %e, "kube-proxy watch failed; retrying"),
            }
        }
    });
    (reader, task)
}

/// Starts both watches; `changed` is notified after every change.
pub fn start(client: Client, changed: Arc<Notify>) -> (Stores, Vec<tokio::task::JoinHandle<()>>) {
    let (services, a) = reflect::<Service>(client.clone(), changed.clone());
    let (slices, b) = reflect::<EndpointSlice>(client, changed);
    (Stores { services, slices }, vec![a, b])
}
