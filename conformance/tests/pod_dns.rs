//! Pod DNS end to end: the kubelet's resolver config per `dnsPolicy`, merged with
//! `spec.dnsConfig`, as the pods see it in `/etc/resolv.conf` (upstream
//! `pkg/kubelet/network/dns`); `setHostnameAsFQDN`; the managed /etc/hosts. Needs root and containerd
//! (skips otherwise); the cluster DNS server itself is not needed to read the file.

use ironkube_conformance::{Cluster, assert_eventually};
use std::net::Ipv4Addr;

/// The 10th address of the cluster's Service CIDR: `ironkube up`'s default `--cluster-dns`.
fn cluster_dns(c: &Cluster) -> String {
    let cidr = &c.node.as_ref().expect("kubelet cluster").service_cidr;
    let (net, _) = cidr.split_once('/').expect("a CIDR");
    let net: Ipv4Addr = net.parse().expect("an IPv4 CIDR");
    Ipv4Addr::from(u32::from(net) + 10).to_string()
}

/// The host's resolver lines of one kind (`nameserver`, `search`), as the kubelet reads
/// them from its `--resolv-conf` default: /etc/resolv.conf, or systemd-resolved's file when
/// /etc/resolv.conf names only loopback servers.
fn host_values(kind: &str) -> Vec<String> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let etc = read("/etc/resolv.conf");
    let servers: Vec<std::net::IpAddr> = etc.lines().filter_map(|l| l.strip_prefix("nameserver")).filter_map(|a| a.trim().parse().ok()).collect();
    let resolved = "/run/systemd/resolve/resolv.conf";
    let stub_only = !servers.is_empty() && servers.iter().all(|ip| ip.is_loopback());
    let text = if stub_only && std::path::Path::new(resolved).is_file() { read(resolved) } else { etc };
    let lines = text.lines().map(str::trim).filter(|l| !l.starts_with('#'));
    let mut values = Vec::new();
    for line in lines {
        let mut fields = line.split_whitespace();
        if fields.next() != Some(kind) {
            continue;
        }
        match kind {
            "search" => values = fields.filter(|s| *s != ".").map(|s| s.trim_end_matches('.').to_string()).collect(),
            _ => values.extend(fields.next().map(str::to_string)),
        }
    }
    values
}

fn pod_yaml(c: &Cluster, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {}\n  containers:\n  - {{name: c, image: ironkube.local/busybox, command: [sleep, '3600']}}\n{spec}",
        c.node_name()
    )
}

/// The pod's /etc/resolv.conf, once it runs, as its non-empty lines.
fn resolv_conf(c: &Cluster, pod: &str) -> Vec<String> {
    assert_eventually!(
        c.ok(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]) == "Running",
        "pod {pod} never ran: {}",
        c.ok(&["get", "pod", pod, "-o", "yaml"])
    );
    let text = c.ok(&["exec", pod, "--", "cat", "/etc/resolv.conf"]);
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

#[test]
fn pods_resolve_as_their_dns_policy_says() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let dns = cluster_dns(&c);
    let yaml = [
        pod_yaml(&c, "cluster", ""),
        pod_yaml(&c, "host", "  dnsPolicy: Default\n"),
        pod_yaml(
            &c,
            "custom",
            "  dnsPolicy: None\n  dnsConfig:\n    nameservers: [203.0.113.1]\n    searches: [my.domain, second.domain]\n    options: [{name: ndots, value: '3'}, {name: debug}]\n",
        ),
        pod_yaml(
            &c,
            "merged",
            "  dnsConfig:\n    nameservers: [203.0.113.2]\n    searches: [my.domain]\n    options: [{name: ndots, value: '2'}, {name: edns0}]\n",
        ),
        pod_yaml(&c, "fqdn", "  hostname: web-0\n  subdomain: web\n  setHostnameAsFQDN: true\n  hostAliases: [{ip: 203.0.113.9, hostnames: [foo.local, bar.local]}]\n"),
        pod_yaml(&c, "crowded", "  dnsConfig:\n    nameservers: [203.0.113.3, 203.0.113.4, 203.0.113.5]\n"),
    ]
    .join("---\n");
    c.ok_with_input(&["apply", "-f", "-"], &yaml);

    // ClusterFirst (the default): the cluster DNS only, the cluster's search domains
    // first, then the host's, and ndots:5.
    let mut searches = vec!["default.svc.cluster.local".to_string(), "svc.cluster.local".into(), "cluster.local".into()];
    for s in host_values("search") {
        if !searches.contains(&s) {
            searches.push(s);
        }
    }
    let cluster = resolv_conf(&c, "cluster");
    let expected = vec![format!("search {}", searches.join(" ")), format!("nameserver {dns}"), "options ndots:5".into()];
    assert_eq!(sorted(cluster.clone()), sorted(expected.clone()), "ClusterFirst: {cluster:?}");

    // Default: the host's nameservers (at most three) and search line.
    let host = resolv_conf(&c, "host");
    let nameservers: Vec<String> = host.iter().filter_map(|l| l.strip_prefix("nameserver ")).map(str::to_string).collect();
    let mut host_nameservers = host_values("nameserver");
    host_nameservers.truncate(3);
    assert_eq!(nameservers, host_nameservers, "Default: {host:?}");
    assert!(!host.iter().any(|l| l.contains("cluster.local") || l.contains(&dns)), "Default pods get nothing of the cluster: {host:?}");

    // None: exactly the pod's own dnsConfig.
    let custom = resolv_conf(&c, "custom");
    let expected_custom = ["search my.domain second.domain", "nameserver 203.0.113.1", "options ndots:3 debug"].map(String::from).to_vec();
    assert_eq!(sorted(custom.clone()), sorted(expected_custom), "None: {custom:?}");

    // ClusterFirst + dnsConfig: appended nameserver and search, ndots overridden in place.
    let merged = resolv_conf(&c, "merged");
    let mut merged_searches = searches.clone();
    if !merged_searches.contains(&"my.domain".to_string()) {
        merged_searches.push("my.domain".into());
    }
    let expected_merged = vec![
        format!("search {}", merged_searches.join(" ")),
        format!("nameserver {dns}"),
        "nameserver 203.0.113.2".into(),
        "options ndots:2 edns0".into(),
    ];
    assert_eq!(sorted(merged.clone()), sorted(expected_merged), "merged: {merged:?}");

    // setHostnameAsFQDN with a subdomain: the kernel hostname is the pod's FQDN; the
    // resolver is the plain ClusterFirst one.
    assert_eq!(sorted(resolv_conf(&c, "fqdn")), sorted(expected));
    assert_eq!(c.ok(&["exec", "fqdn", "--", "hostname"]).trim(), "web-0.web.default.svc.cluster.local");
    assert_eq!(c.ok(&["exec", "cluster", "--", "hostname"]).trim(), "cluster");

    // /etc/hosts is the kubelet's: the pod's IP with its hostname (and FQDN with a
    // subdomain), then hostAliases, as upstream writes it.
    let hosts = |pod: &str| c.ok(&["exec", pod, "--", "cat", "/etc/hosts"]);
    let ip = |pod: &str| c.ok(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"]);
    let cluster_hosts = hosts("cluster");
    assert!(cluster_hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"), "{cluster_hosts}");
    assert!(cluster_hosts.ends_with(&format!("fe00::2\tip6-allrouters\n{}\tcluster\n", ip("cluster"))), "{cluster_hosts}");
    let fqdn_hosts = hosts("fqdn");
    let expected_tail = format!("{}\tweb-0.web.default.svc.cluster.local\tweb-0\n\n# Entries added by HostAliases.\n203.0.113.9\tfoo.local\tbar.local\n", ip("fqdn"));
    assert!(fqdn_hosts.ends_with(&expected_tail), "{fqdn_hosts}");

    // Four nameservers in all: the first three are kept, and a Warning says so.
    let crowded = resolv_conf(&c, "crowded");
    let nameservers: Vec<&str> = crowded.iter().filter_map(|l| l.strip_prefix("nameserver ")).collect();
    assert_eq!(nameservers, [dns.as_str(), "203.0.113.3", "203.0.113.4"], "{crowded:?}");
    let message = format!("Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {dns} 203.0.113.3 203.0.113.4");
    let events = || c.ok(&["get", "events", "--field-selector", "involvedObject.name=crowded,reason=DNSConfigForming", "-o", "jsonpath={.items[*].type}/{.items[*].message}"]);
    assert_eventually!(events() == format!("Warning/{message}"), "no DNSConfigForming event: {}", events());
}
