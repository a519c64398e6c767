//! What every controller of this crate gets: the API client, an event recorder named
//! after the controller, the tunables, and the one reconcile error type.

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::controller::Action;
use k8s_openapi::api::core::v1::ObjectReference;
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_monitor_grace_period: Duration::from_secs(40),
            node_monitor_period: Duration::from_secs(5),
            discovery_period: Duration::from_secs(30),
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

/// Shared by the controllers: the client, the config and a recorder per controller.
#[derive(Clone)]
pub struct Context {
    /// The API client (all state goes through the API).
    pub client: kube::Client,
    /// Tunables.
    pub config: Config,
}

impl Context {
    /// A new context.
    pub fn new(client: kube::Client, config: Config) -> Self {
        Context { client, config }
    }

    /// An event recorder reporting as `controller` (upstream component names, e.g.
    /// `node-controller`).
    pub fn recorder(&self, controller: &str) -> Events {
        Events(Recorder::new(self.client.clone(), Reporter { controller: controller.into(), instance: None }))
    }
}

/// Records Events about objects; failures are logged, never fatal (like client-go's
/// broadcaster).
#[derive(Clone)]
pub struct Events(Recorder);

impl Events {
    /// Records an event `reason`/`note` about `regarding`.
    pub async fn publish(&self, regarding: &ObjectReference, warning: bool, reason: &str, action: &str, note: String) {
        let event = Event {
            type_: if warning { EventType::Warning } else { EventType::Normal },
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.0.publish(&event, regarding).await {
            tracing::debug!("cannot record event {reason}: {e}");
        }
    }
}

/// What a reconcile can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("API call failed: {0}")]
    Api(#[from] kube::Error),
    /// Anything else worth a retry (message says what).
    #[error("{0}")]
    Retry(String),
}

/// The shared error policy: retry after a short pause, log at debug level.
pub fn retry_soon<K>(_obj: std::sync::Arc<K>, error: &Error, _ctx: std::sync::Arc<impl Sized>) -> Action {
    tracing::debug!("reconcile failed, retrying: {error}");
    Action::requeue(Duration::from_secs(1))
}

/// True when a kube error is the API's 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// True when a kube error is the API's 409 (AlreadyExists or Conflict).
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
