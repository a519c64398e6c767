//! Leader election through a `coordination.k8s.io/v1` Lease, like client-go's
//! `leaderelection` package: acquire or renew every retry period, act only while renewals
//! succeed within the renew deadline, release on shutdown so a standby takes over at once.

use crate::Error;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the lease lives and its timings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// How long a holder's claim lasts without renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps retrying a renewal before it gives up leadership.
    pub renew_deadline: Duration,
    /// Interval between attempts.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// `kube-system/kube-controller-manager` with kube-controller-manager's defaults
    /// (15 s lease, 10 s renew deadline, 2 s retry).
    pub fn controller_manager() -> Self {
        Self::upstream_defaults("kube-controller-manager")
    }

    /// `kube-system/kube-scheduler` with kube-scheduler's defaults (the same timings).
    pub fn scheduler() -> Self {
        Self::upstream_defaults("kube-scheduler")
    }

    fn upstream_defaults(name: &str) -> Self {
        LeaseConfig {
            namespace: "kube-system".into(),
            name: name.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// This process's holder identity: `<hostname>_<uuid>` like kube-controller-manager.
pub fn identity() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
        format!("{host}_{}", uuid::Uuid::new_v4())
    })
}

/// Campaigns for and holds one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The last lease record seen (holder, renewTime) and when this process saw it change:
    /// expiry is judged on the local clock, never by comparing clocks.
    observed: Option<(Option<String>, Option<MicroTime>, Instant)>,
}

impl LeaderElector {
    /// An elector for `config`'s Lease.
    pub fn new(client: kube::Client, config: LeaseConfig) -> Self {
        LeaderElector { api: Api::namespaced(client, &config.namespace), config, observed: None }
    }

    /// This process's identity.
    pub fn identity(&self) -> &'static str {
        identity()
    }

    /// Runs `work()` whenever this process leads; stops it when leadership is lost and
    /// campaigns again. Returns when `shutdown` completes, releasing the lease if held.
    pub async fn run<F, W>(mut self, work: F, shutdown: impl Future<Output = ()>) -> Result<(), Error>
    where
        F: Fn() -> W,
        W: Future<Output = ()>,
    {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = self.acquire() => {}
            }
            tracing::info!(identity = identity(), lease = %self.config.name, "became leader");
            tokio::select! {
                _ = work() => tracing::warn!(lease = %self.config.name, "the work stopped; campaigning again"),
                _ = self.keep_renewing() => tracing::warn!(identity = identity(), "leadership lost"),
                _ = &mut shutdown => {
                    self.release().await;
                    return Ok(());
                }
            }
        }
    }

    async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read or write the leader lease"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Returns when a renewal did not succeed within the renew deadline.
    async fn keep_renewing(&mut self) {
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let deadline = Instant::now() + self.config.renew_deadline;
            loop {
                let remaining = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(remaining, self.try_acquire_or_renew()).await {
                    Ok(Ok(true)) => break,
                    Ok(Ok(false)) => return,
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew the leader lease"),
                    Err(_) => return,
                }
                if Instant::now() + self.config.retry_period >= deadline {
                    return;
                }
                tokio::time::sleep(self.config.retry_period).await;
            }
        }
    }

    /// One attempt (client-go `tryAcquireOrRenew`): Ok(true) when this process holds the
    /// lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let me = identity().to_string();
        let duration = i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.config.name.clone()), namespace: Some(self.config.namespace.clone()), ..Default::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let record = (spec.holder_identity.clone(), spec.renew_time.clone());
        let held_for = match &self.observed {
            Some((holder, renew, at)) if (holder, renew) == (&record.0, &record.1) => at.elapsed(),
            _ => {
                self.observed = Some((record.0.clone(), record.1.clone(), Instant::now()));
                Duration::ZERO
            }
        };
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let their_duration = spec.lease_duration_seconds.map(|s| Duration::from_secs(s.max(0) as u64)).unwrap_or(self.config.lease_duration);
        if holder.as_ref().is_some_and(|h| *h != me) && held_for < their_duration {
            return Ok(false);
        }
        if holder.as_deref() != Some(me.as_str()) {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(me);
        spec.lease_duration_seconds = Some(duration);
        spec.renew_time = Some(now);
        match self.api.replace(&self.config.name, &PostParams::default(), &lease).await {
            Ok(lease) => {
                let spec = lease.spec.unwrap_or_default();
                self.observed = Some((spec.holder_identity, spec.renew_time, Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (empty holder, 1 s duration) if this process holds it.
    async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else { return };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(identity()) {
            return;
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now.clone());
        spec.acquire_time = Some(now);
        match self.api.replace(&self.config.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!("released the leader lease"),
            Err(e) => tracing::warn!(error = %e, "cannot release the leader lease"),
        }
    }
}
