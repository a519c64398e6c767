//! How many reconciles of one controller run at once: upstream kube-controller-manager's
//! worker counts (`--concurrent-endpoint-updates=5`, `--concurrent-replicaset-syncs=5`,
//! `--concurrent-daemonset-syncs=2`, ...; one worker where upstream starts one).
//! kube-runtime runs every queued reconcile at once by default; besides matching upstream,
//! the bound keeps a burst (100 Services reconciled at start) from building every desired
//! object and request body at the same time, which set the controllers' peak memory.

use kube::runtime::controller::Config;

/// Endpoints, EndpointSlice, ReplicaSet, ReplicationController, Deployment, StatefulSet,
/// Job, CronJob, TTL-after-finished and HorizontalPodAutoscaler (upstream default 5 each).
pub const FIVE: u16 = 5;
/// DaemonSet (`--concurrent-daemonset-syncs`, default 2).
pub const DAEMONSET: u16 = 2;
/// Namespace (`--concurrent-namespace-syncs`, default 10).
pub const NAMESPACE: u16 = 10;
/// Controllers upstream runs with a single worker (disruption, service account, root CA
/// publisher, node lifecycle, persistent volume binder).
pub const ONE: u16 = 1;

/// A controller configuration with `n` workers.
pub fn workers(n: u16) -> Config {
    Config::default().concurrency(n)
}
