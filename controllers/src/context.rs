//! What every controller gets: the API client, the shared informers and event recording.

use crate::events::EventRecorder;
use crate::expectations::Expectations;
use crate::informers::SharedInformer;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;

/// Shared state of one controller-manager run (rebuilt each time leadership is won).
pub struct Context {
    /// Client authenticated as `system:kube-controller-manager`.
    pub client: kube::Client,
    /// Every pod in the cluster (shared by all controllers).
    pub pods: SharedInformer<Pod>,
    /// Every ReplicaSet (shared by the ReplicaSet and Deployment controllers).
    pub replicasets: SharedInformer<ReplicaSet>,
    /// Pod creations/deletions in flight, per owner (upstream `ControllerExpectations`).
    pub pod_expectations: Expectations,
}

impl Context {
    /// A context whose informers have not started yet.
    pub fn new(client: kube::Client) -> Self {
        Context {
            pods: SharedInformer::new(client.clone()),
            replicasets: SharedInformer::new(client.clone()),
            pod_expectations: Expectations::default(),
            client,
        }
    }

    /// An event recorder reporting as `component` (e.g. `replicaset-controller`).
    pub fn recorder(&self, component: &str) -> EventRecorder {
        EventRecorder::new(self.client.clone(), component)
    }

    /// Runs the shared informers (call after every controller subscribed).
    pub async fn run_informers(&self) {
        tokio::join!(self.pods.run(), self.replicasets.run());
    }
}
