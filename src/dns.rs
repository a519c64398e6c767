//! `ironkube dns` and the cluster DNS `ironkube up` runs next to kube-proxy.

use crate::cluster_dns::ClusterDnsFlags;
use anyhow::Context;
use clap::Args;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Where the DNS server listens (`up` and `dns`).
#[derive(Args, Clone, Debug)]
pub struct DnsFlags {
    /// Address the DNS server listens on (UDP and TCP; default: the node IP).
    #[arg(long)]
    pub dns_bind_address: Option<IpAddr>,
    /// Port the DNS server listens on; the `kube-dns` Service maps 53 to it (0 picks a
    /// free port).
    #[arg(long, default_value_t = ironkube_dns::DEFAULT_PORT)]
    pub dns_port: u16,
}

impl DnsFlags {
    /// The DNS config for a node at `node_ip`, serving the ClusterIP `cluster_dns` (the
    /// first of [`ClusterDnsFlags::servers_or_default`]).
    pub fn config(&self, cluster: &ClusterDnsFlags, cluster_dns: IpAddr, node_ip: IpAddr, node_name: Option<String>) -> ironkube_dns::Config {
        let bind = self.dns_bind_address.unwrap_or(node_ip);
        ironkube_dns::Config {
            cluster_domain: cluster.cluster_domain.clone(),
            cluster_dns,
            listen: SocketAddr::new(bind, self.dns_port),
            advertise: if bind.is_unspecified() { node_ip } else { bind },
            node_name,
            resolv_conf: cluster.resolv_conf().unwrap_or_default(),
        }
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
    // The node the `kube-dns` endpoint names and points at.
    #[command(flatten)]
    pub node: crate::node::NodeIdentityFlags,
    /// The cluster's Service CIDR (for the default `--cluster-dns`).
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: String,
    #[command(flatten)]
    pub cluster: ClusterDnsFlags,
    #[command(flatten)]
    pub flags: DnsFlags,
}

/// `ironkube dns`.
pub async fn dns(args: DnsArgs) -> anyhow::Result<()> {
    let node_ip = args.node.node_ip();
    let node_ip = node_ip.parse().with_context(|| format!("node IP {node_ip}"))?;
    let client = ironkube_controllers::client_from_kubeconfig(&args.kubeconfig, "ironkube-dns").await?;
    let cluster_dns = args.cluster.servers_or_default(&args.service_cluster_ip_range)?[0];
    let config = args.flags.config(&args.cluster, cluster_dns, node_ip, Some(args.node.node_name()));
    let listeners = bind(&config).await?;
    println!("cluster DNS: {}:53 → {}", config.cluster_dns, listeners.local_addr()?);
    ironkube_dns::start(client, config, listeners, ironkube::shutdown_signal()).await?;
    Ok(())
}
