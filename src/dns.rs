//! `ironkube dns` and the cluster DNS `ironkube up` runs next to kube-proxy.

use anyhow::Context;
use clap::Args;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Flags shared by `up` and `dns`.
#[derive(Args, Clone, Debug)]
pub struct DnsFlags {
    /// The cluster domain the DNS serves (`<svc>.<ns>.svc.<domain>`).
    #[arg(long, default_value = ironkube_dns::DEFAULT_CLUSTER_DOMAIN)]
    pub cluster_domain: String,
    /// ClusterIP of the `kube-system/kube-dns` Service (default: the 10th address of the
    /// Service CIDR, 10.96.0.10 for 10.96.0.0/12, as kubeadm).
    #[arg(long)]
    pub cluster_dns: Option<IpAddr>,
    /// Address the DNS server listens on (UDP and TCP; default: the node IP).
    #[arg(long)]
    pub dns_bind_address: Option<IpAddr>,
    /// Port the DNS server listens on; the `kube-dns` Service maps 53 to it (0 picks a
    /// free port).
    #[arg(long, default_value_t = ironkube_dns::DEFAULT_PORT)]
    pub dns_port: u16,
    /// Names outside the cluster domain are forwarded to this file's nameservers.
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
}

impl DnsFlags {
    /// The DNS config for a node at `node_ip` in a cluster with `service_cidr`.
    pub fn config(&self, service_cidr: &str, node_ip: IpAddr, node_name: Option<String>) -> anyhow::Result<ironkube_dns::Config> {
        let cluster_dns = match self.cluster_dns {
            Some(ip) => ip,
            None => ironkube_dns::cluster_dns_ip(service_cidr)?,
        };
        let bind = self.dns_bind_address.unwrap_or(node_ip);
        Ok(ironkube_dns::Config {
            cluster_domain: self.cluster_domain.clone(),
            cluster_dns,
            listen: SocketAddr::new(bind, self.dns_port),
            advertise: if bind.is_unspecified() { node_ip } else { bind },
            node_name,
            resolv_conf: self.resolv_conf.clone(),
        })
    }
}

/// Binds the config's listeners (so `up` can say where before it starts serving).
pub async fn bind(config: &ironkube_dns::Config) -> anyhow::Result<ironkube_dns::server::Listeners> {
    ironkube_dns::server::Listeners::bind(config.listen).await.context("cluster DNS: pick another port with --dns-port (0: any free port)")
}

/// Flags of `ironkube dns`.
#[derive(Args, Debug)]
pub struct DnsArgs {
    /// Kubeconfig to reach the API server with.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// The node named on the `kube-dns` endpoint (default: the hostname).
    #[arg(long)]
    pub hostname_override: Option<String>,
    /// The address the `kube-dns` endpoint points at (default: the address of the
    /// default route).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// The cluster's Service CIDR (for the default `--cluster-dns`).
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: String,
    #[command(flatten)]
    pub flags: DnsFlags,
}

/// `ironkube dns`.
pub async fn dns(args: DnsArgs) -> anyhow::Result<()> {
    let client = ironkube_controllers::client_from_kubeconfig(&args.kubeconfig, "ironkube-dns").await?;
    let node_ip = match args.node_ip {
        Some(ip) => ip,
        None => ironkube_kubelet::default_node_ip().parse().context("the default node IP")?,
    };
    let node = args.hostname_override.clone().unwrap_or_else(ironkube_kubelet::hostname);
    let config = args.flags.config(&args.service_cluster_ip_range, node_ip, Some(node))?;
    let listeners = bind(&config).await?;
    println!("cluster DNS: {}:53 → {}", config.cluster_dns, listeners.local_addr()?);
    ironkube_dns::start(client, config, listeners, crate::up::shutdown_signal()).await?;
    Ok(())
}
