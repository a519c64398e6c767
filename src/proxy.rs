//! `ironkube kube-proxy` and the kube-proxy `ironkube up` runs next to its kubelet.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Flags shared by `up` and `kube-proxy`.
#[derive(Args, Clone, Debug)]
pub struct ProxyFlags {
    /// Prefix of every iptables chain kube-proxy makes (`KUBE` as upstream: KUBE-SERVICES,
    /// KUBE-SVC-...). Give each cluster sharing a machine its own (1-8 characters).
    #[arg(long, default_value = "KUBE")]
    pub iptables_chain_prefix: String,
    /// Least time between two syncs of the rules, in seconds (upstream's
    /// `--iptables-min-sync-period`).
    #[arg(long, default_value_t = 1.0)]
    pub iptables_min_sync_period: f64,
    /// Interval of the full resync that repairs removed rules, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub iptables_sync_period: f64,
    /// Masquerade all traffic to ClusterIPs.
    #[arg(long)]
    pub masquerade_all: bool,
}

impl ProxyFlags {
    /// The proxier's config for `node`.
    pub fn config(&self, node_name: String, cluster_cidr: Option<String>) -> ironkube_kube_proxy::Config {
        let mut config = ironkube_kube_proxy::Config::new(node_name);
        config.cluster_cidr = cluster_cidr;
        config.chain_prefix = self.iptables_chain_prefix.clone();
        config.min_sync_period = Duration::from_secs_f64(self.iptables_min_sync_period.max(0.0));
        config.sync_period = Duration::from_secs_f64(self.iptables_sync_period.max(1.0));
        config.masquerade_all = self.masquerade_all;
        config
    }
}

/// Flags of `ironkube kube-proxy`.
#[derive(Args, Debug)]
pub struct KubeProxyArgs {
    /// Kubeconfig to reach the API server with.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The node's name (default: the hostname).
    #[arg(long)]
    pub hostname_override: Option<String>,
    /// The pods' CIDR: ClusterIP traffic from elsewhere is masqueraded.
    #[arg(long)]
    pub cluster_cidr: Option<String>,
    /// Remove every rule and chain kube-proxy made, then exit.
    #[arg(long)]
    pub cleanup: bool,
    #[command(flatten)]
    pub flags: ProxyFlags,
}

/// `ironkube kube-proxy`.
pub async fn kube_proxy(args: KubeProxyArgs) -> anyhow::Result<()> {
    if args.cleanup {
        ironkube_kube_proxy::cleanup(&args.flags.iptables_chain_prefix)?;
        return Ok(());
    }
    let Some(kubeconfig) = &args.kubeconfig else { anyhow::bail!("--kubeconfig is required (or --cleanup)") };
    let client = ironkube_controllers::client_from_kubeconfig(kubeconfig, "kube-proxy").await?;
    let node = args.hostname_override.clone().unwrap_or_else(ironkube_kubelet::hostname);
    let config = args.flags.config(node, args.cluster_cidr.clone());
    println!("kube-proxy: iptables mode, chains {}-*", config.chain_prefix);
    ironkube_kube_proxy::run(client, config, ironkube::shutdown_signal()).await?;
    Ok(())
}
