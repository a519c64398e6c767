//! The sync loop: render everything from the stores and apply it in one
//! `iptables-restore`, rate-limited like upstream's `BoundedFrequencyRunner` (a change
//! after a quiet spell applies at once, a burst at most every `min_sync_period`; a full
//! resync every `sync_period` repairs rules someone else removed).

use crate::Config;
use crate::iptables;
use crate::model::service_ports;
use crate::rules::{Chains, RenderConfig, render};
use crate::watch::Stores;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// State kept between syncs.
pub struct Proxier {
    stores: Stores,
    render: RenderConfig,
    chains: Chains,
    /// Per-service chains the last applied ruleset defined (deleted once unused).
    installed: BTreeSet<String>,
    /// The last applied restore input (an unchanged ruleset is not re-applied).
    applied: Option<String>,
}

/// What one sync did.
#[derive(Debug)]
pub struct SyncOutcome {
    /// Service ports rendered.
    pub services: usize,
    /// Endpoint chains rendered.
    pub endpoints: usize,
    /// Whether `iptables-restore` ran (false: nothing changed).
    pub applied: bool,
}

impl Proxier {
    /// A proxier over `stores`; finds chains an earlier run left behind so the first sync
    /// removes the stale ones.
    pub fn new(stores: Stores, config: &Config) -> Proxier {
        let chains = Chains::new(&config.chain_prefix);
        let installed = iptables::chains("nat").map(|all| all.into_iter().filter(|c| chains.is_service_chain(c)).collect()).unwrap_or_default();
        let render = RenderConfig {
            prefix: config.chain_prefix.clone(),
            node_name: config.node_name.clone(),
            local_cidr: config.cluster_cidr.clone(),
            masquerade_all: config.masquerade_all,
            localhost_nodeports: config.localhost_nodeports,
        };
        Proxier { stores, render, chains, installed, applied: None }
    }

    /// The chains this proxier owns.
    pub fn chains(&self) -> &Chains {
        &self.chains
    }

    /// Renders and applies; `force` re-applies an unchanged ruleset (periodic resync).
    pub async fn sync(&mut self, force: bool) -> Result<SyncOutcome, iptables::IptablesError> {
        let services = self.stores.services.state();
        let slices = self.stores.slices.state();
        let ports = service_ports(services.iter().map(|s| s.as_ref()), slices.iter().map(|s| s.as_ref()));
        let rendered = render(&ports, &self.render, &self.installed);
        let outcome = SyncOutcome { services: ports.len(), endpoints: rendered.endpoints, applied: false };
        if !force && self.applied.as_deref() == Some(rendered.restore.as_str()) {
            return Ok(outcome);
        }
        let input = rendered.restore.clone();
        let result = tokio::task::spawn_blocking(move || iptables::restore(&input)).await.expect("iptables-restore task");
        match result {
            Ok(()) => {
                self.installed = rendered.service_chains;
                self.applied = Some(rendered.restore);
                Ok(SyncOutcome { applied: true, ..outcome })
            }
            Err(e) => {
                // Some of the new chains may exist now: delete them later if unused.
                self.installed.extend(rendered.service_chains);
                self.applied = None;
                Err(e)
            }
        }
    }
}

/// Runs the loop until `shutdown`; returns the proxier for cleanup.
pub async fn run_loop(mut proxier: Proxier, changed: Arc<Notify>, config: &Config, shutdown: impl std::future::Future<Output = ()>) -> Proxier {
    tokio::pin!(shutdown);
    tokio::select! {
        _ = proxier.stores.ready() => {}
        _ = &mut shutdown => return proxier,
    }
    let mut last_sync: Option<Instant> = None;
    let mut last_full = Instant::now();
    let mut force = true;
    loop {
        // Bounded frequency: never two syncs closer than min_sync_period.
        if let Some(wait) = last_sync.map(|t| config.min_sync_period.saturating_sub(t.elapsed())).filter(|w| !w.is_zero()) {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown => return proxier,
            }
        }
        let started = Instant::now();
        if force {
            let chains = proxier.chains.clone();
            let localhost = config.localhost_nodeports;
            if let Err(e) = tokio::task::spawn_blocking(move || iptables::ensure_jumps(&chains, localhost)).await.expect("iptables task") {
                tracing::error!(error = %e, "kube-proxy: cannot install the jump rules");
            }
            last_full = Instant::now();
        }
        let retry = match proxier.sync(force).await {
            Ok(outcome) => {
                if outcome.applied {
                    tracing::info!(services = outcome.services, endpoints = outcome.endpoints, elapsed_ms = started.elapsed().as_millis() as u64, "kube-proxy: rules applied");
                }
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "kube-proxy: sync failed; retrying");
                true
            }
        };
        last_sync = Some(Instant::now());
        let until_full = config.sync_period.saturating_sub(last_full.elapsed());
        let retry_in = if retry { config.min_sync_period.max(Duration::from_millis(100)) } else { until_full };
        tokio::select! {
            _ = changed.notified() => force = retry,
            _ = tokio::time::sleep(retry_in) => force = true,
            _ = &mut shutdown => return proxier,
        }
    }
}
