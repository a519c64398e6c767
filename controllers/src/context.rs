//! What every controller gets: the API client, the tunables, the shared informers and event
//! recording.

use crate::cached_pod::CachedPod;
use crate::events::{EventQueue, EventRecorder, EventWriter};
use crate::expectations::Expectations;
use crate::informers::SharedInformer;
use k8s_openapi::api::apps::v1::{ControllerRevision, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Service};
use std::time::Duration;

/// Tunables of the controllers (upstream kube-controller-manager flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// `--node-monitor-grace-period`: how long a node's Lease may go unrenewed before
    /// the node is marked `Ready=Unknown` (upstream default 40 s).
    pub node_monitor_grace_period: Duration,
    /// `--node-monitor-period`: how often node health is checked (upstream default 5 s).
    pub node_monitor_period: Duration,
    /// How often the garbage collector re-runs discovery to find new kinds (upstream 30 s).
    pub discovery_period: Duration,
    /// The hostPath provisioner behind StorageClasses naming `ironkube.io/hostpath`
    /// (`None`: such claims wait for an external provisioner).
    pub hostpath_provisioner: Option<crate::persistent_volume::HostPathProvisioner>,
    /// The cluster CA (PEM) published as `kube-root-ca.crt` in every namespace
    /// (upstream `--root-ca-file`); None publishes nothing.
    pub root_ca: Option<String>,
    /// The HorizontalPodAutoscaler controller's tunables.
    pub hpa: crate::horizontal::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_monitor_grace_period: Duration::from_secs(40),
            node_monitor_period: Duration::from_secs(5),
            discovery_period: Duration::from_secs(30),
            hostpath_provisioner: None,
            root_ca: None,
            hpa: Default::default(),
        }
    }
}

impl Config {
    /// Sets the node monitor grace period (and checks at least four times per period).
    pub fn node_monitor_grace_period(mut self, d: Duration) -> Self {
        self.node_monitor_grace_period = d;
        self.node_monitor_period = self.node_monitor_period.min(d / 4).max(Duration::from_millis(100));
        self
    }
}

/// Shared state of one controller-manager run (rebuilt each time leadership is won).
pub struct Context {
    /// Client authenticated as `system:kube-controller-manager`.
    pub client: kube::Client,
    /// Tunables.
    pub config: Config,
    /// Every pod in the cluster (shared by all controllers), as [`CachedPod`]s.
    pub pods: SharedInformer<CachedPod>,
    /// Every Service (the Endpoints and EndpointSlice controllers).
    pub services: SharedInformer<Service>,
    /// Every ReplicaSet (shared by the ReplicaSet and Deployment controllers).
    pub replicasets: SharedInformer<ReplicaSet>,
    /// Every Job (shared by the Job, CronJob and TTL-after-finished controllers).
    pub jobs: SharedInformer<Job>,
    /// Every ControllerRevision (StatefulSet and DaemonSet history).
    pub controller_revisions: SharedInformer<ControllerRevision>,
    /// Every node (DaemonSets place one pod per eligible node).
    pub nodes: SharedInformer<Node>,
    /// Every PersistentVolumeClaim (StatefulSet volume claims).
    pub claims: SharedInformer<PersistentVolumeClaim>,
    /// Pod creations/deletions in flight, per owner (upstream `ControllerExpectations`).
    pub pod_expectations: Expectations,
    /// Where recorders queue events.
    events: EventQueue,
    /// Writes the queued events (taken when it starts).
    event_writer: std::sync::Mutex<Option<EventWriter>>,
}

impl Context {
    /// A context whose informers have not started yet.
    pub fn new(client: kube::Client, config: Config) -> Self {
        let (events, event_writer) = EventWriter::new(client.clone());
        Context {
            pods: SharedInformer::new(client.clone()),
            services: SharedInformer::new(client.clone()),
            replicasets: SharedInformer::new(client.clone()),
            jobs: SharedInformer::new(client.clone()),
            controller_revisions: SharedInformer::new(client.clone()),
            nodes: SharedInformer::with_api(kube::Api::all(client.clone())),
            claims: SharedInformer::new(client.clone()),
            pod_expectations: Expectations::default(),
            events,
            event_writer: std::sync::Mutex::new(Some(event_writer)),
            config,
            client,
        }
    }

    /// An event recorder reporting as `component` (e.g. `replicaset-controller`).
    pub fn recorder(&self, component: &str) -> EventRecorder {
        self.events.recorder(component)
    }

    /// Waits until every shared informer has listed its kind once (upstream controllers'
    /// `WaitForCacheSync` before their workers start). A controller reconciling earlier
    /// acts on a partial cache: after a restart with 10,000 pods, the Endpoints controller
    /// wrote most Services' Endpoints with a few or no addresses before the pod list was in.
    pub async fn wait_for_sync(&self) {
        tokio::join!(
            self.pods.synced(),
            self.services.synced(),
            self.replicasets.synced(),
            self.jobs.synced(),
            self.controller_revisions.synced(),
            self.nodes.synced(),
            self.claims.synced(),
        );
    }

    /// Runs the shared informers and the event writer.
    pub async fn run_informers(&self) {
        let events = self.event_writer.lock().expect("events lock").take();
        tokio::join!(
            self.pods.run(),
            self.services.run(),
            self.replicasets.run(),
            self.jobs.run(),
            self.controller_revisions.run(),
            self.nodes.run(),
            self.claims.run(),
            async {
                if let Some(writer) = events {
                    writer.run().await;
                }
            }
        );
    }
}
