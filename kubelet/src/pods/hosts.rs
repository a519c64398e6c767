//! The pod's `/etc/hosts` (upstream `kubelet_pods.go` `makeHostsMount`): a file the kubelet
//! writes to `<pod dir>/etc-hosts` and bind-mounts into every container. Pods on the pod
//! network get localhost lines, their own IPs with their hostname (and FQDN when they have
//! a subdomain), and `spec.hostAliases`; host-network pods get the node's file plus their
//! aliases.

use crate::cri::api;
use k8s_openapi::api::core::v1::{Container, HostAlias, Pod};
use std::fmt::Write as _;
use std::path::Path;

/// Where containers see the file.
const ETC_HOSTS: &str = "/etc/hosts";
const MANAGED_HEADER: &str = "# Kubernetes-managed hosts file.\n";
const MANAGED_HEADER_HOST_NETWORK: &str = "# Kubernetes-managed hosts file (host network).\n";

/// Upstream `managedHostsFileContent`.
pub fn managed_content(pod_ips: &[String], hostname: &str, host_domain: Option<&str>, aliases: &[HostAlias]) -> String {
    let mut out = String::from(MANAGED_HEADER);
    out.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        match host_domain {
            Some(domain) => writeln!(out, "{ip}\t{hostname}.{domain}\t{hostname}"),
            None => writeln!(out, "{ip}\t{hostname}"),
        }
        .expect("writing to a String");
    }
    out.push_str(&alias_entries(aliases));
    out
}

/// Upstream `nodeHostsFileContent`: the node's file, then the aliases.
pub fn host_network_content(node_hosts: &str, aliases: &[HostAlias]) -> String {
    format!("{MANAGED_HEADER_HOST_NETWORK}{node_hosts}{}", alias_entries(aliases))
}

/// Upstream `hostsEntriesFromHostAliases`: one line per IP, its names tab-separated.
fn alias_entries(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for alias in aliases {
        writeln!(out, "{}\t{}", alias.ip, alias.hostnames.as_deref().unwrap_or_default().join("\t")).expect("writing to a String");
    }
    out
}

/// Writes the pod's hosts file (again: it follows the current IPs and aliases) and returns
/// the mount for `container`, or None where upstream mounts none: a pod-network pod
/// without an IP yet, or a container that mounts something at `/etc/hosts` itself.
pub fn mount(pod_dir: &Path, pod: &Pod, container: &Container, pod_ips: &[String], hostname: &str, host_domain: Option<&str>) -> std::io::Result<Option<api::Mount>> {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network) == Some(true);
    let mounts_own = container.volume_mounts.iter().flatten().any(|m| m.mount_path == ETC_HOSTS);
    if (pod_ips.is_empty() && !host_network) || mounts_own {
        return Ok(None);
    }
    let aliases = spec.and_then(|s| s.host_aliases.as_deref()).unwrap_or_default();
    let content = if host_network { host_network_content(&std::fs::read_to_string(ETC_HOSTS)?, aliases) } else { managed_content(pod_ips, hostname, host_domain, aliases) };
    std::fs::create_dir_all(pod_dir)?;
    let path = pod_dir.join("etc-hosts");
    std::fs::write(&path, content)?;
    Ok(Some(api::Mount { container_path: ETC_HOSTS.into(), host_path: path.display().to_string(), readonly: false, ..Default::default() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(ip: &str, names: &[&str]) -> HostAlias {
        HostAlias { ip: ip.into(), hostnames: Some(names.iter().map(|n| n.to_string()).collect()) }
    }

    #[test]
    fn managed_file_as_upstream_writes_it() {
        let plain = managed_content(&["10.244.0.5".into()], "web-0", None, &[]);
        assert_eq!(
            plain,
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.244.0.5\tweb-0\n"
        );
        let full = managed_content(&["10.244.0.5".into(), "fd00::5".into()], "web-0", Some("web.default.svc.cluster.local"), &[alias("1.2.3.4", &["foo", "bar"]), alias("5.6.7.8", &["baz"])]);
        assert!(full.ends_with(
            "10.244.0.5\tweb-0.web.default.svc.cluster.local\tweb-0\nfd00::5\tweb-0.web.default.svc.cluster.local\tweb-0\n\n# Entries added by HostAliases.\n1.2.3.4\tfoo\tbar\n5.6.7.8\tbaz\n"
        ), "{full}");
    }

    #[test]
    fn host_network_file_is_the_node_one_with_aliases() {
        assert_eq!(host_network_content("127.0.0.1 localhost\n", &[]), "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n");
        assert!(host_network_content("127.0.0.1 localhost\n", &[alias("1.2.3.4", &["foo"])]).ends_with("localhost\n\n# Entries added by HostAliases.\n1.2.3.4\tfoo\n"));
    }

    #[test]
    fn no_mount_without_an_ip_or_over_the_containers_own() {
        let dir = std::env::temp_dir().join(format!("ironkube-hosts-{}", std::process::id()));
        let pod: Pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}})).unwrap();
        let own: Container = serde_json::from_value(serde_json::json!({"name": "c", "volumeMounts": [{"name": "h", "mountPath": "/etc/hosts"}]})).unwrap();
        let plain = pod.spec.as_ref().unwrap().containers[0].clone();
        assert_eq!(mount(&dir, &pod, &plain, &[], "p", None).unwrap(), None);
        assert_eq!(mount(&dir, &pod, &own, &["10.0.0.1".into()], "p", None).unwrap(), None);
        let m = mount(&dir, &pod, &plain, &["10.0.0.1".into()], "p", None).unwrap().unwrap();
        assert_eq!(m.container_path, "/etc/hosts");
        assert!(std::fs::read_to_string(&m.host_path).unwrap().ends_with("10.0.0.1\tp\n"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
