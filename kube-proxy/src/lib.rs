//! ironkube kube-proxy, iptables mode: Services and EndpointSlices become upstream's
//! KUBE-SERVICES / KUBE-SVC / KUBE-SEP / KUBE-EXT / KUBE-NODEPORTS rules, applied with one
//! `iptables-restore --noflush` per sync. (This kernel has no IPVS; iptables here runs
//! over nf_tables, so the rules land in nftables all the same.)
//!
//! - [`watch`]: Service and EndpointSlice reflectors.
//! - [`model`]: the service ports and endpoints to program.
//! - [`rules`]: the ruleset as `iptables-restore` input (pure).
//! - [`iptables`]: restore, jump rules, cleanup, sysctls.
//! - [`proxier`]: the rate-limited sync loop.

pub mod iptables;
pub mod model;
pub mod proxier;
pub mod rules;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

/// kube-proxy's settings (upstream's flag names in the field docs).
#[derive(Clone, Debug)]
pub struct Config {
    /// This node's name (`--hostname-override`), for `Local` traffic policies.
    pub node_name: String,
    /// Pod traffic comes from here (`--cluster-cidr`); ClusterIP traffic from elsewhere
    /// is masqueraded.
    pub cluster_cidr: Option<String>,
    /// Chain-name prefix, `KUBE` as upstream; test clusters sharing a machine each take
    /// their own.
    pub chain_prefix: String,
    /// Least time between two syncs (`--iptables-min-sync-period`, 1 s).
    pub min_sync_period: Duration,
    /// Full resync interval (`--iptables-sync-period`, 30 s).
    pub sync_period: Duration,
    /// `--masquerade-all`.
    pub masquerade_all: bool,
    /// `--iptables-localhost-nodeports` (true): NodePorts on 127.0.0.1.
    pub localhost_nodeports: bool,
}

impl Config {
    /// Upstream's defaults for `node_name`.
    pub fn new(node_name: impl Into<String>) -> Config {
        Config {
            node_name: node_name.into(),
            cluster_cidr: None,
            chain_prefix: "KUBE".into(),
            min_sync_period: Duration::from_secs(1),
            sync_period: Duration::from_secs(30),
            masquerade_all: false,
            localhost_nodeports: true,
        }
    }
}

/// Why kube-proxy cannot run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The chain prefix would make chain names longer than iptables allows.
    #[error("chain prefix {0:?} is invalid: use 1-8 letters, digits or '-'")]
    Prefix(String),
    /// iptables failed.
    #[error(transparent)]
    Iptables(#[from] iptables::IptablesError),
}

fn check_prefix(prefix: &str) -> Result<(), Error> {
    // KUBE-SEP-<16> is 25 characters of iptables' 28.
    let ok = (1..=8).contains(&prefix.len()) && prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok { Ok(()) } else { Err(Error::Prefix(prefix.into())) }
}

/// Runs kube-proxy until `shutdown`, then removes its rules and chains.
pub async fn run(client: kube::Client, config: Config, shutdown: impl std::future::Future<Output = ()>) -> Result<(), Error> {
    check_prefix(&config.chain_prefix)?;
    if config.localhost_nodeports
        && let Err(e) = iptables::enable_route_localnet()
    {
        tracing::warn!(error = %e, "kube-proxy: cannot set net.ipv4.conf.all.route_localnet=1; NodePorts on 127.0.0.1 will not answer");
    }
    let changed = Arc::new(tokio::sync::Notify::new());
    let (stores, tasks) = watch::start(client, changed.clone());
    let proxier = proxier::Proxier::new(stores, &config);
    let proxier = proxier::run_loop(proxier, changed, &config, shutdown).await;
    for task in tasks {
        task.abort();
    }
    let chains = proxier.chains().clone();
    tokio::task::spawn_blocking(move || iptables::cleanup(&chains)).await.expect("cleanup task")?;
    Ok(())
}

/// Removes every rule and chain a proxier with `prefix` made (`--cleanup`).
pub fn cleanup(prefix: &str) -> Result<(), Error> {
    check_prefix(prefix)?;
    Ok(iptables::cleanup(&rules::Chains::new(prefix))?)
}
