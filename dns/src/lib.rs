//! Cluster DNS for ironkube: answers Service and Pod names under the cluster domain
//! (`<svc>.<ns>.svc.cluster.local`, the [Kubernetes DNS-Based Service Discovery
//! specification] as CoreDNS's `kubernetes` plugin serves it) and forwards every other
//! name to the host's nameservers.
//!
//! - [`watch`]: reflectors over every Service, EndpointSlice and Namespace.
//! - [`records`]: a question and the reflected objects in, an answer out (pure).
//! - [`forward`]: names outside the cluster go to the nameservers of a resolv.conf.
//! - [`server`]: the UDP and TCP listeners and the wire format (hickory-proto).
//! - [`bootstrap`]: the `kube-system/kube-dns` Service, Endpoints and EndpointSlice that
//!   point the cluster DNS ClusterIP at this server.
//!
//! [Kubernetes DNS-Based Service Discovery specification]: https://github.com/kubernetes/dns/blob/master/docs/specification.md

pub mod bootstrap;
pub mod forward;
pub mod records;
pub mod server;
#[doc(hidden)]
pub mod testing;
pub mod watch;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The cluster domain's default (kubelet `--cluster-domain`, CoreDNS's zone).
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// The port the server listens on by default: not 53, so it never meets a resolver of
/// the host; the `kube-dns` Service maps 53 to it.
pub const DEFAULT_PORT: u16 = 10053;

/// Why a Service CIDR gives no cluster DNS address.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid service CIDR {0:?}: the cluster DNS address is its 10th address")]
pub struct InvalidServiceCidr(pub String);

/// The cluster DNS address kubeadm picks: the 10th address of the Service CIDR
/// (`10.96.0.10` for `10.96.0.0/12`; kubeadm's `GetDNSIP`). The kubelet writes it into
/// pods' resolv.conf; the `kube-dns` Service gets it as its ClusterIP.
pub fn cluster_dns_ip(service_cidr: &str) -> Result<IpAddr, InvalidServiceCidr> {
    // A dual-stack pair: the first family's.
    let service_cidr = service_cidr.split(',').next().unwrap_or_default().trim();
    let invalid = || InvalidServiceCidr(service_cidr.to_string());
    let (addr, bits) = service_cidr.split_once('/').ok_or_else(invalid)?;
    let addr: IpAddr = addr.trim().parse().map_err(|_| invalid())?;
    let bits: u32 = bits.trim().parse().map_err(|_| invalid())?;
    match addr {
        IpAddr::V4(v4) if bits <= 28 => {
            let net = u32::from(v4) & u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            Ok(IpAddr::V4((net + 10).into()))
        }
        IpAddr::V6(v6) if bits <= 124 => {
            let net = u128::from(v6) & u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            Ok(IpAddr::V6((net + 10).into()))
        }
        _ => Err(invalid()),
    }
}

/// Everything the DNS component needs (`ironkube dns` flags, or `ironkube up`'s).
#[derive(Clone, Debug)]
pub struct Config {
    /// The cluster domain (`cluster.local`).
    pub cluster_domain: String,
    /// The `kube-dns` Service's ClusterIP (see [`cluster_dns_ip`]).
    pub cluster_dns: IpAddr,
    /// Where to listen (UDP and TCP); port 0 picks a free port.
    pub listen: SocketAddr,
    /// The address the `kube-dns` endpoints point at (the node IP).
    pub advertise: IpAddr,
    /// The node named on the `kube-dns` endpoint.
    pub node_name: Option<String>,
    /// Nameservers for names outside the cluster come from this file.
    pub resolv_conf: PathBuf,
}

/// Binds the listeners, makes sure `kube-system/kube-dns` points at them (retrying in
/// the background: the server answers on its own address meanwhile), and serves until
/// `shutdown` completes.
pub async fn run(client: kube::Client, config: Config, shutdown: impl std::future::Future<Output = ()>) -> Result<(), Error> {
    let listeners = server::Listeners::bind(config.listen).await?;
    start(client, config, listeners, shutdown).await
}

/// [`run`] over listeners bound already (so a caller can say where they are first).
pub async fn start(client: kube::Client, config: Config, listeners: server::Listeners, shutdown: impl std::future::Future<Output = ()>) -> Result<(), Error> {
    let port = listeners.local_addr()?.port();
    let zone = records::Zone::new(&config.cluster_domain, config.cluster_dns)?;
    let upstreams = forward::Upstreams::from_resolv_conf(&config.resolv_conf, &[listeners.local_addr()?, SocketAddr::new(config.cluster_dns, 53)]);
    if upstreams.is_empty() {
        tracing::warn!(file = %config.resolv_conf.display(), "no usable nameserver: names outside the cluster get SERVFAIL");
    }
    let (stores, mut tasks) = watch::start(client.clone());
    let endpoint = bootstrap::Endpoint { ip: config.advertise, port, node_name: config.node_name.clone() };
    tasks.push(tokio::spawn(bootstrap::keep_trying(client, config.cluster_dns, endpoint)));
    let handler = server::Handler::new(zone, stores, upstreams);
    let result = listeners.serve(handler, shutdown).await;
    for task in tasks {
        task.abort();
    }
    result
}

/// Why the DNS component stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listener failed.
    #[error("cluster DNS: {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The cluster domain is not a domain name.
    #[error("cluster DNS: invalid cluster domain {0:?}")]
    Domain(String),
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io { context: "socket".into(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_dns_ip_is_the_tenth_address_of_the_service_cidr() {
        assert_eq!(cluster_dns_ip("10.96.0.0/12").unwrap().to_string(), "10.96.0.10");
        assert_eq!(cluster_dns_ip("10.96.7.0/24").unwrap().to_string(), "10.96.7.10");
        assert_eq!(cluster_dns_ip("10.96.7.5/24").unwrap().to_string(), "10.96.7.10");
        assert_eq!(cluster_dns_ip("fd00:10:96::/112").unwrap().to_string(), "fd00:10:96::a");
        assert_eq!(cluster_dns_ip("10.96.0.0/12,fd00::/108").unwrap().to_string(), "10.96.0.10", "the first of a dual-stack pair");
        assert_eq!(cluster_dns_ip("10.0.0.0/28").unwrap().to_string(), "10.0.0.10");
        assert!(cluster_dns_ip("10.96.0.0/29").is_err());
        assert!(cluster_dns_ip("10.0.0.0/33").is_err());
        assert!(cluster_dns_ip("10.96.0.0").is_err());
        assert!(cluster_dns_ip("nonsense/12").is_err());
    }
}
