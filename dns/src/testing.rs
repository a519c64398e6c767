//! An in-memory [`Directory`] for tests and benchmarks (not part of the API: hidden from
//! the docs, public only so `benches/` can use it).

use crate::records::{Directory, Zone};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::sync::Arc;

/// Namespaces, Services and EndpointSlices held in vectors; the SOA serial is 42.
#[derive(Default)]
pub struct Data {
    /// Namespaces that exist.
    pub namespaces: Vec<&'static str>,
    /// Every Service.
    pub services: Vec<Arc<Service>>,
    /// Every EndpointSlice.
    pub slices: Vec<Arc<EndpointSlice>>,
    /// Answer as if the reflectors had not listed yet.
    pub unsynced: bool,
}

impl Directory for Data {
    fn synced(&self) -> bool {
        !self.unsynced
    }
    fn serial(&self) -> u32 {
        42
    }
    fn namespace_exists(&self, namespace: &str) -> bool {
        self.namespaces.contains(&namespace)
    }
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services.iter().find(|s| s.metadata.namespace.as_deref() == Some(namespace) && s.metadata.name.as_deref() == Some(name)).cloned()
    }
    fn services(&self) -> Vec<Arc<Service>> {
        self.services.clone()
    }
    fn endpoint_slices(&self) -> Vec<Arc<EndpointSlice>> {
        self.slices.clone()
    }
}

/// A Service from its JSON (panics on a bad one).
pub fn service(v: serde_json::Value) -> Arc<Service> {
    Arc::new(serde_json::from_value(v).unwrap())
}

/// An EndpointSlice from its JSON (panics on a bad one).
pub fn slice(v: serde_json::Value) -> Arc<EndpointSlice> {
    Arc::new(serde_json::from_value(v).unwrap())
}

/// The zone `cluster.local` with the kube-dns ClusterIP 10.96.0.10.
pub fn zone() -> Zone {
    Zone::new("cluster.local", "10.96.0.10".parse().unwrap()).unwrap()
}
