//! ironkube controller manager: kube-runtime `Controller`s that talk to the API server only
//! through the Kubernetes API (kube-rs), also when `ironkube up` runs them in-process.
//!
//! Map:
//! - [`context`]: what every controller gets (client, shared reflector stores, event recorders).
//! - [`informers`]: one shared watch + store per kind (pods, replicasets, jobs,
//!   controllerrevisions, nodes, persistentvolumeclaims), fanned out.
//! - [`leader`]: leader election through the `kube-system/kube-controller-manager` Lease.
//! - [`expectations`], [`ownership`], [`pods`]: pieces the workload controllers share
//!   (upstream `pkg/controller/controller_utils.go` and `controller_ref_manager.go`).
//! - One module per controller: [`replicaset`] (ReplicaSets and ReplicationControllers),
//!   [`deployment`], [`garbage_collector`], [`namespace`], [`service_account`], [`root_ca_publisher`],
//!   [`clusterrole_aggregation`] (the rules of `admin`/`edit`/`view`),
//!   [`endpoints`], [`endpoint_slice`] (both over [`service_pods`]), [`node_lifecycle`],
//!   [`disruption`] (PodDisruptionBudget status), [`job`], [`cronjob`],
//!   [`ttl_after_finished`], [`statefulset`] and [`daemonset`] (both over [`history`],
//!   their ControllerRevisions), [`persistent_volume`] (binding, protection and the
//!   hostPath provisioner), [`horizontal`] (HorizontalPodAutoscalers through `/scale` and
//!   `metrics.k8s.io`).
//! - [`scheduler`]: the scheduler (its own process upstream; `ironkube scheduler`).
//!
//! To add a controller: write `mod.rs` with `pub async fn run(ctx: Arc<Context>)` and add it
//! to [`run_controllers`].

#![warn(missing_docs)]

pub mod cached_pod;
pub mod clusterrole_aggregation;
pub mod conditions;
pub mod context;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoint_slice;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod expectations;
pub mod garbage_collector;
pub mod history;
pub mod horizontal;
pub mod informers;
pub mod job;
pub mod leader;
pub mod namespace;
pub mod node_lifecycle;
pub mod ownership;
pub mod persistent_volume;
pub mod pod_control;
pub mod pods;
pub mod replicaset;
pub mod scheduler;
pub mod root_ca_publisher;
pub mod service_account;
pub mod service_pods;
pub mod statefulset;
pub mod tasks;
pub mod ttl_after_finished;
pub mod workers;

pub use context::{Config, Context};
pub use error::Error;

use std::future::Future;
use std::sync::Arc;

/// A client from a kubeconfig file (its current context) that introduces itself as
/// `component` (e.g. `kube-scheduler`) in its `User-Agent`, as upstream's components do:
/// the API server names a write's field manager after that prefix, so
/// `kubectl get -o yaml --show-managed-fields` shows `kube-scheduler`, not `unknown`.
pub async fn client_from_kubeconfig(path: &std::path::Path, component: &str) -> Result<kube::Client, Error> {
    let bad = |e: &dyn std::fmt::Display| Error::Kubeconfig(format!("{}: {e}", path.display()));
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| bad(&e))?;
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.map_err(|e| bad(&e))?;
    let agent = format!("{component}/v1.35.0 ({}/{}) ironkube/{}", std::env::consts::OS, go_arch(), env!("CARGO_PKG_VERSION"));
    config.headers.push((http::header::USER_AGENT, http::HeaderValue::from_str(&agent).map_err(|e| bad(&e))?));
    kube::Client::try_from(config).map_err(|e| bad(&e))
}

/// The architecture as Go names it (`amd64`, `arm64`), the form User-Agents carry.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The cluster CA (PEM) named by a kubeconfig's current cluster, for the root CA
/// publisher (upstream `--root-ca-file`).
pub fn root_ca_from_kubeconfig(path: &std::path::Path) -> Option<String> {
    use base64::Engine;
    let kubeconfig = kube::config::Kubeconfig::read_from(path).ok()?;
    let context = kubeconfig.current_context.as_deref();
    let cluster_name = kubeconfig.contexts.iter().find(|c| Some(c.name.as_str()) == context).and_then(|c| c.context.as_ref()).map(|c| c.cluster.clone());
    let cluster = kubeconfig.clusters.iter().find(|c| Some(&c.name) == cluster_name.as_ref()).or(kubeconfig.clusters.first())?.cluster.as_ref()?;
    if let Some(data) = &cluster.certificate_authority_data {
        return base64::engine::general_purpose::STANDARD.decode(data.trim()).ok().and_then(|b| String::from_utf8(b).ok());
    }
    std::fs::read_to_string(cluster.certificate_authority.as_ref()?).ok()
}

/// Runs every controller while this process holds the leader Lease; when leadership is lost
/// the controllers stop and the process campaigns again. Returns when `shutdown` completes
/// (releasing the Lease so a standby takes over at once).
pub async fn run(client: kube::Client, config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let elector = leader::LeaderElector::new(client.clone(), leader::LeaseConfig::controller_manager());
    tracing::info!(identity = elector.identity(), "controller manager starting");
    elector.run(|| run_controllers(client.clone(), config.clone()), shutdown).await
}

/// Starts the shared informers and every controller; runs until one of them ends.
async fn run_controllers(client: kube::Client, config: Config) {
    let ctx = Arc::new(Context::new(client, config));
    let controllers: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = vec![
        Box::pin(replicaset::run::<k8s_openapi::api::apps::v1::ReplicaSet>(ctx.clone())),
        Box::pin(replicaset::run::<k8s_openapi::api::core::v1::ReplicationController>(ctx.clone())),
        Box::pin(deployment::run(ctx.clone())),
        Box::pin(statefulset::run(ctx.clone())),
        Box::pin(daemonset::run(ctx.clone())),
        Box::pin(logged("garbage collector", garbage_collector::run(ctx.clone()))),
        Box::pin(logged("namespace", namespace::run(ctx.clone()))),
        Box::pin(logged("serviceaccount", service_account::run(ctx.clone()))),
        Box::pin(logged("root-ca-cert-publisher", root_ca_publisher::run(ctx.clone()))),
        Box::pin(logged("clusterrole-aggregation", clusterrole_aggregation::run(ctx.clone()))),
        Box::pin(logged("endpoints", endpoints::run(ctx.clone()))),
        Box::pin(logged("endpointslice", endpoint_slice::run(ctx.clone()))),
        Box::pin(logged("node lifecycle", node_lifecycle::run(ctx.clone()))),
        Box::pin(logged("disruption", disruption::run(ctx.clone()))),
        Box::pin(job::run(ctx.clone())),
        Box::pin(cronjob::run(ctx.clone())),
        Box::pin(ttl_after_finished::run(ctx.clone())),
        Box::pin(logged("persistentvolume", persistent_volume::run(ctx.clone()))),
        Box::pin(logged("horizontal pod autoscaler", horizontal::run(ctx.clone()))),
    ];
    tokio::select! {
        _ = futures::future::select_all(controllers) => tracing::warn!("a controller stopped; restarting all"),
        _ = ctx.run_informers() => tracing::warn!("informers stopped"),
    }
}

/// Logs why a controller that returns a result stopped.
async fn logged(name: &'static str, controller: impl Future<Output = anyhow::Result<()>>) {
    match controller.await {
        Ok(()) => tracing::warn!("the {name} controller stopped"),
        Err(e) => tracing::error!("the {name} controller failed: {e:#}"),
    }
}
