//! The two kinds one ReplicaSet controller serves: `apps/v1` ReplicaSet and `v1`
//! ReplicationController (upstream runs the same code for both, `pkg/controller/replication`).

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use crate::Context;
use kube::core::Selector;
pub use crate::ownership::matches;
use kube::runtime::Controller;
use std::collections::BTreeMap;

/// What the controller reads from either kind.
pub trait Replicated:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + Send
    + Sync
    + serde::de::DeserializeOwned
    + serde::Serialize
    + 'static
{
    /// `reportingController` of its Events.
    const CONTROLLER: &'static str;
    /// A kube-runtime controller over this kind (on the shared informer if there is one).
    fn controller(ctx: &Context) -> Controller<Self>;
    /// `spec.replicas` (default 1).
    fn replicas(&self) -> i32;
    /// `spec.minReadySeconds`.
    fn min_ready_seconds(&self) -> i32;
    /// The pod selector; None when missing or invalid.
    fn selector(&self) -> Option<Selector>;
    /// The pod template.
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// `status.observedGeneration`, `status.replicas`: to tell when a write is needed.
    fn status_value(&self) -> serde_json::Value;
}

impl Replicated for ReplicaSet {
    const CONTROLLER: &'static str = "replicaset-controller";
    fn controller(ctx: &Context) -> Controller<Self> {
        Controller::for_shared_stream(ctx.replicasets.subscribe(), ctx.replicasets.store())
    }
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }
    fn selector(&self) -> Option<Selector> {
        let selector: Selector = self.spec.as_ref()?.selector.clone().try_into().ok()?;
        // An empty selector would match every pod in the namespace: upstream refuses it.
        (!selector.selects_all()).then_some(selector)
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn status_value(&self) -> serde_json::Value {
        serde_json::to_value(&self.status).unwrap_or_default()
    }
}

impl Replicated for ReplicationController {
    const CONTROLLER: &'static str = "replication-controller";
    fn controller(ctx: &Context) -> Controller<Self> {
        Controller::new(kube::Api::all(ctx.client.clone()), kube::runtime::watcher::Config::default())
    }
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }
    fn selector(&self) -> Option<Selector> {
        let spec = self.spec.as_ref()?;
        // An RC without selector selects its template's labels (API defaulting does the same).
        let labels: BTreeMap<String, String> = match &spec.selector {
            Some(s) if !s.is_empty() => s.clone(),
            _ => spec.template.as_ref()?.metadata.as_ref()?.labels.clone()?,
        };
        (!labels.is_empty()).then(|| labels.into_iter().collect())
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn status_value(&self) -> serde_json::Value {
        serde_json::to_value(&self.status).unwrap_or_default()
    }
}
