//! The cluster components `ironkube up` runs in-process next to the API server. Each still
//! talks to the API over HTTPS, like a separate process would, with its own identity and a
//! kubeconfig written to the data directory (so `ironkube <component> --kubeconfig` can be
//! run by hand with the same file).
//!
//! Every identity is in group `system:masters` because the authorizer allows only that group
//! today; upstream gives each component a narrower RBAC role (and the kubelet the Node
//! authorizer). That changes when RBAC is built.

use ironkube::shutdown_signal;
use anyhow::Context;
use ironkube_apiserver::server::pki::Pki;
use std::path::{Path, PathBuf};
use tokio::task::JoinHandle;

/// Writes `<data_dir>/<file>` with a client certificate for `user` and returns its path.
pub fn write_kubeconfig(pki: &Pki, data_dir: &Path, url: &str, user: &str, file: &str) -> anyhow::Result<PathBuf> {
    let path = data_dir.join(file);
    let pair = pki.client(user, Some("system:masters"))?;
    pki.write_kubeconfig(&path, url, user, &pair).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Runs `component` in the background with a client for `kubeconfig`; logs why it stopped.
/// The task ends when the component does (each one stops on the shutdown signal).
fn spawn<F, Fut>(name: &'static str, agent: &'static str, kubeconfig: PathBuf, component: F) -> JoinHandle<()>
where
    F: FnOnce(kube::Client) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    tokio::spawn(async move {
        let result = match ironkube_controllers::client_from_kubeconfig(&kubeconfig, agent).await {
            Ok(client) => component(client).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "{name} stopped");
        }
    })
}

/// Flags of the controller manager (`ironkube controllers` and `ironkube up`).
#[derive(clap::Args, Clone, Debug)]
pub struct ControllerFlags {
    /// Seconds a node's Lease may go unrenewed before it is marked `Ready=Unknown`.
    #[arg(long, default_value_t = 40)]
    pub node_monitor_grace_period: u64,
    /// Directory where the `ironkube.io/hostpath` provisioner (the default StorageClass
    /// `standard`) makes volumes; `ironkube up` defaults it to `<data-dir>/volumes`.
    /// Without it, claims of that class wait for an external provisioner.
    #[arg(long)]
    pub hostpath_provisioner_dir: Option<PathBuf>,
    /// The node whose disk holds those volumes (default: this machine's hostname, or
    /// `--hostname-override` under `ironkube up`).
    #[arg(long)]
    pub hostpath_provisioner_node: Option<String>,
    /// How often each HorizontalPodAutoscaler is synced (a Go duration, as upstream).
    #[arg(long, default_value = "15s", value_parser = go_duration)]
    pub horizontal_pod_autoscaler_sync_period: std::time::Duration,
    /// The usage ratio's distance from 1.0 under which an HPA does not scale.
    #[arg(long, default_value_t = 0.1)]
    pub horizontal_pod_autoscaler_tolerance: f64,
    /// How far back an HPA looks for a higher recommendation before scaling down.
    #[arg(long, default_value = "5m0s", value_parser = go_duration)]
    pub horizontal_pod_autoscaler_downscale_stabilization: std::time::Duration,
    /// How long after a pod starts its CPU samples may be skipped.
    #[arg(long, default_value = "5m0s", value_parser = go_duration)]
    pub horizontal_pod_autoscaler_cpu_initialization_period: std::time::Duration,
    /// How long after a pod starts it may turn unready and still count as never ready.
    #[arg(long, default_value = "30s", value_parser = go_duration)]
    pub horizontal_pod_autoscaler_initial_readiness_delay: std::time::Duration,
}

/// A non-negative Go duration (`15s`, `5m0s`), the form upstream's duration flags take.
pub fn go_duration(text: &str) -> Result<std::time::Duration, String> {
    let d = ironkube_controllers::horizontal::metrics::parse_go_duration(text)?;
    std::time::Duration::try_from(d).map_err(|_| format!("{text}: must not be negative"))
}

impl ControllerFlags {
    /// The controllers' configuration from the flags.
    pub fn config(&self) -> ironkube_controllers::Config {
        let mut config = ironkube_controllers::Config::default().node_monitor_grace_period(std::time::Duration::from_secs(self.node_monitor_grace_period));
        config.hostpath_provisioner = self.hostpath_provisioner_dir.as_ref().map(|dir| ironkube_controllers::persistent_volume::HostPathProvisioner {
            dir: std::path::absolute(dir).unwrap_or_else(|_| dir.clone()),
            node: self.hostpath_provisioner_node.clone().unwrap_or_else(ironkube_kubelet::hostname),
        });
        config.hpa = ironkube_controllers::horizontal::Settings::new(
            self.horizontal_pod_autoscaler_sync_period,
            self.horizontal_pod_autoscaler_tolerance,
            self.horizontal_pod_autoscaler_downscale_stabilization,
            self.horizontal_pod_autoscaler_cpu_initialization_period,
            self.horizontal_pod_autoscaler_initial_readiness_delay,
        );
        config
    }

    /// `ironkube up`'s defaults: volumes under `<data_dir>/volumes` on the node `node`.
    pub fn with_up_defaults(mut self, data_dir: &Path, node: Option<&str>) -> Self {
        self.hostpath_provisioner_dir.get_or_insert_with(|| data_dir.join("volumes"));
        if let Some(node) = node {
            self.hostpath_provisioner_node.get_or_insert_with(|| node.to_string());
        }
        self
    }
}

/// The controller manager, as `system:kube-controller-manager` (leader-elected).
pub fn spawn_controllers(pki: &Pki, data_dir: &Path, url: &str, mut config: ironkube_controllers::Config) -> anyhow::Result<JoinHandle<()>> {
    config.root_ca = Some(String::from_utf8(pki.ca_cert()?)?);
    let kubeconfig = write_kubeconfig(pki, data_dir, url, "system:kube-controller-manager", "controller-manager.kubeconfig")?;
    Ok(spawn("controller manager", "kube-controller-manager", kubeconfig, |client| async move {
        Ok(ironkube_controllers::run(client, config, shutdown_signal()).await?)
    }))
}

/// The scheduler, as `system:kube-scheduler` (leader-elected).
pub fn spawn_scheduler(pki: &Pki, data_dir: &Path, url: &str) -> anyhow::Result<JoinHandle<()>> {
    let kubeconfig = write_kubeconfig(pki, data_dir, url, "system:kube-scheduler", "scheduler.kubeconfig")?;
    Ok(spawn("scheduler", "kube-scheduler", kubeconfig, |client| {
        ironkube_controllers::scheduler::run_leader_elected(client, Default::default(), shutdown_signal())
    }))
}

/// kube-proxy, as `system:kube-proxy`; it removes its rules when it stops.
pub fn spawn_kube_proxy(pki: &Pki, data_dir: &Path, url: &str, config: ironkube_kube_proxy::Config) -> anyhow::Result<JoinHandle<()>> {
    let kubeconfig = write_kubeconfig(pki, data_dir, url, "system:kube-proxy", "kube-proxy.kubeconfig")?;
    Ok(spawn("kube-proxy", "kube-proxy", kubeconfig, |client| async move { Ok(ironkube_kube_proxy::run(client, config, shutdown_signal()).await?) }))
}

/// The cluster DNS, as `system:ironkube-dns`, serving on `listeners` (bound by the caller).
pub fn spawn_dns(pki: &Pki, data_dir: &Path, url: &str, config: ironkube_dns::Config, listeners: ironkube_dns::server::Listeners) -> anyhow::Result<JoinHandle<()>> {
    let kubeconfig = write_kubeconfig(pki, data_dir, url, "system:ironkube-dns", "dns.kubeconfig")?;
    Ok(spawn("cluster DNS", "ironkube-dns", kubeconfig, |client| async move { Ok(ironkube_dns::start(client, config, listeners, shutdown_signal()).await?) }))
}
