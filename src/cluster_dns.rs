//! The cluster DNS settings (`--cluster-dns`, `--cluster-domain`, `--resolv-conf`) that
//! the kubelet gives pods and the DNS server forwards with.

use clap::Args;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The cluster DNS settings the kubelet and the DNS server share (upstream's kubelet
/// flags; `up`, `kubelet` and `dns` take them).
#[derive(Args, Clone, Debug)]
pub struct ClusterDnsFlags {
    /// DNS server(s) `ClusterFirst` pods resolve with (comma-separated); the first is the
    /// `kube-system/kube-dns` ClusterIP. `up` and `dns` default to the 10th address of
    /// --service-cluster-ip-range (10.96.0.10 for 10.96.0.0/12, as kubeadm); `kubelet`
    /// to none (pods then fall back to `dnsPolicy: Default`).
    #[arg(long, value_delimiter = ',')]
    pub cluster_dns: Vec<IpAddr>,
    /// The cluster's DNS domain: Services are `<svc>.<ns>.svc.<domain>`, pods search
    /// `<ns>.svc.<domain> svc.<domain> <domain>`.
    #[arg(long, default_value = ironkube_dns::DEFAULT_CLUSTER_DOMAIN)]
    pub cluster_domain: String,
    /// The host's resolver file: `dnsPolicy: Default` pods copy it, cluster pods take its
    /// search domains, and the DNS server forwards other names to its nameservers; "" for
    /// none. Default: /etc/resolv.conf, or systemd-resolved's
    /// /run/systemd/resolve/resolv.conf when /etc/resolv.conf names only a loopback stub
    /// (pods cannot reach the node's 127.0.0.53; kubeadm makes the same switch).
    #[arg(long)]
    pub resolv_conf: Option<String>,
}

/// The resolver file to use when `--resolv-conf` is not given (see [`ClusterDnsFlags`]).
fn default_resolv_conf(etc: &Path, resolved: &Path) -> PathBuf {
    let servers = std::fs::read_to_string(etc).map(|text| ironkube_dns::forward::parse_resolv_conf(&text)).unwrap_or_default();
    let only_loopback = !servers.is_empty() && servers.iter().all(|s| s.ip().is_loopback());
    if only_loopback && resolved.is_file() { resolved.to_path_buf() } else { etc.to_path_buf() }
}

impl ClusterDnsFlags {
    /// `--cluster-dns`, else the kube-dns ClusterIP of `service_cidr`.
    pub fn servers_or_default(&self, service_cidr: &str) -> anyhow::Result<Vec<IpAddr>> {
        if !self.cluster_dns.is_empty() {
            return Ok(self.cluster_dns.clone());
        }
        Ok(vec![ironkube_dns::cluster_dns_ip(service_cidr)?])
    }

    /// `--resolv-conf` (None if it is ""), or the default file.
    pub fn resolv_conf(&self) -> Option<PathBuf> {
        match self.resolv_conf.as_deref() {
            Some("") => None,
            Some(path) => Some(PathBuf::from(path)),
            None => Some(default_resolv_conf(Path::new("/etc/resolv.conf"), Path::new("/run/systemd/resolve/resolv.conf"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::default_resolv_conf;

    #[test]
    fn a_loopback_stub_gives_way_to_systemd_resolved_upstream_file() {
        let dir = std::env::temp_dir().join(format!("ironkube-resolv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (etc, resolved) = (dir.join("resolv.conf"), dir.join("resolved.conf"));
        std::fs::write(&etc, "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n").unwrap();
        assert_eq!(default_resolv_conf(&etc, &resolved), etc, "no systemd-resolved file: keep /etc/resolv.conf");
        std::fs::write(&resolved, "nameserver 192.0.2.53\n").unwrap();
        assert_eq!(default_resolv_conf(&etc, &resolved), resolved);
        std::fs::write(&etc, "nameserver 127.0.0.53\nnameserver 192.0.2.1\n").unwrap();
        assert_eq!(default_resolv_conf(&etc, &resolved), etc, "a reachable server is listed");
        std::fs::write(&etc, "search lan\n").unwrap();
        assert_eq!(default_resolv_conf(&etc, &resolved), etc, "no nameserver at all");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
