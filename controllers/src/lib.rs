//! ironkube controllers (kube-runtime `Controller`s talking only to the API).
//!
//! The controllers here: garbage collector, namespace, serviceaccount, endpoints,
//! endpointslice, node lifecycle and disruption (PodDisruptionBudget status); each is
//! one module with a `run(ctx)` future. [`run_cluster_controllers`] runs them all.

pub mod context;
pub mod disruption;
pub mod endpoint_slice;
pub mod endpoints;
pub mod garbage_collector;
pub mod namespace;
pub mod node_lifecycle;
pub mod service_account;
pub mod service_pods;

pub use context::{Config, Context};

/// Why the component cannot run.
#[derive(Debug, thiserror::Error)]
#[error("the controllers are not implemented yet (tracked in issue 7)")]
pub struct NotImplemented;

/// Runs the controller manager. Always fails until issue 7 lands.
pub fn run() -> Result<(), NotImplemented> {
    Err(NotImplemented)
}

/// Runs the garbage collector, namespace, serviceaccount, endpoints, endpointslice,
/// node lifecycle and disruption controllers until one of them stops (which is an error).
pub async fn run_cluster_controllers(client: kube::Client, config: Config) -> anyhow::Result<()> {
    let ctx = Context::new(client, config);
    let result = tokio::select! {
        r = garbage_collector::run(ctx.clone()) => r.map(|_| "garbage collector"),
        r = namespace::run(ctx.clone()) => r.map(|_| "namespace"),
        r = service_account::run(ctx.clone()) => r.map(|_| "serviceaccount"),
        r = endpoints::run(ctx.clone()) => r.map(|_| "endpoints"),
        r = endpoint_slice::run(ctx.clone()) => r.map(|_| "endpointslice"),
        r = node_lifecycle::run(ctx.clone()) => r.map(|_| "node lifecycle"),
        r = disruption::run(ctx.clone()) => r.map(|_| "disruption"),
    };
    let name = result?;
    anyhow::bail!("the {name} controller stopped")
}
