//! Renders the whole ruleset as `iptables-restore` input, with upstream's chain names and
//! rule shapes (`pkg/proxy/iptables/proxier.go`, `syncProxyRules` and
//! `writeServiceToEndpointRules`). Pure: the same ports give the same text.
//!
//! Every chain name starts with the configured prefix (`KUBE` by default, as upstream), so
//! several proxiers on one machine (test clusters side by side) keep to their own chains.

use crate::model::{Endpoint, ServicePort};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The mark of packets to masquerade (upstream's default `--masquerade-bit=14`).
pub const MASQUERADE_MARK: &str = "0x4000";

/// What the rendering depends on besides the Services.
#[derive(Clone, Debug)]
pub struct RenderConfig {
    /// Chain-name prefix (`KUBE`).
    pub prefix: String,
    /// This node (for `Local` traffic policies).
    pub node_name: String,
    /// The pod CIDR that marks traffic as coming from a local pod (upstream's
    /// `--detect-local-mode=ClusterCIDR`); without it, ClusterIP traffic is never masqueraded.
    pub local_cidr: Option<String>,
    /// Masquerade all ClusterIP traffic (`--masquerade-all`).
    pub masquerade_all: bool,
    /// NodePorts answer on 127.0.0.1 too (`--iptables-localhost-nodeports`, needs
    /// `route_localnet`).
    pub localhost_nodeports: bool,
}

/// The chains one proxier owns, named from its prefix.
#[derive(Clone, Debug)]
pub struct Chains {
    /// `KUBE-SERVICES` (nat and filter).
    pub services: String,
    /// `KUBE-EXTERNAL-SERVICES` (filter).
    pub external_services: String,
    /// `KUBE-NODEPORTS` (nat and filter).
    pub nodeports: String,
    /// `KUBE-POSTROUTING` (nat).
    pub postrouting: String,
    /// `KUBE-MARK-MASQ` (nat).
    pub mark_masq: String,
    /// `KUBE-FORWARD` (filter).
    pub forward: String,
    /// `KUBE-PROXY-FIREWALL` (filter).
    pub proxy_firewall: String,
    /// `KUBE-FIREWALL` (filter; upstream's kubelet owns it, ironkube's kube-proxy here).
    pub firewall: String,
    prefix: String,
}

/// Prefixes of the per-service chains (`KUBE-SVC-`, ...) after the proxier prefix.
const SERVICE_CHAIN_KINDS: [&str; 5] = ["SVC", "SVL", "EXT", "FW", "SEP"];

impl Chains {
    /// The chain names for `prefix`.
    pub fn new(prefix: &str) -> Chains {
        let c = |s: &str| format!("{prefix}-{s}");
        Chains {
            services: c("SERVICES"),
            external_services: c("EXTERNAL-SERVICES"),
            nodeports: c("NODEPORTS"),
            postrouting: c("POSTROUTING"),
            mark_masq: c("MARK-MASQ"),
            forward: c("FORWARD"),
            proxy_firewall: c("PROXY-FIREWALL"),
            firewall: c("FIREWALL"),
            prefix: prefix.to_string(),
        }
    }

    /// Top-level chains of the filter table.
    pub fn filter_top(&self) -> [&str; 6] {
        [&self.services, &self.external_services, &self.forward, &self.nodeports, &self.proxy_firewall, &self.firewall]
    }

    /// Top-level chains of the nat table.
    pub fn nat_top(&self) -> [&str; 4] {
        [&self.services, &self.nodeports, &self.postrouting, &self.mark_masq]
    }

    /// Whether `chain` is a per-service chain of this proxier (`KUBE-SVC-...`, `-SEP-`, ...).
    pub fn is_service_chain(&self, chain: &str) -> bool {
        chain
            .strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|rest| SERVICE_CHAIN_KINDS.iter().any(|k| rest.strip_prefix(k).is_some_and(|h| h.starts_with('-') && h.len() == 17)))
    }

    fn hashed(&self, kind: &str, input: &str) -> String {
        let digest = openssl::sha::sha256(input.as_bytes());
        let encoded = data_encoding::BASE32.encode(&digest);
        format!("{}-{kind}-{}", self.prefix, &encoded[..16])
    }

    /// `KUBE-SVC-<hash>`: dispatch to endpoints under `Cluster` policy.
    pub fn service(&self, sp: &ServicePort) -> String {
        self.hashed("SVC", &format!("{}{}", sp.name, sp.protocol))
    }

    /// `KUBE-SVL-<hash>`: dispatch to this node's endpoints under `Local` policy.
    pub fn service_local(&self, sp: &ServicePort) -> String {
        self.hashed("SVL", &format!("{}{}", sp.name, sp.protocol))
    }

    /// `KUBE-EXT-<hash>`: traffic to NodePorts, external IPs and load-balancer IPs.
    pub fn external(&self, sp: &ServicePort) -> String {
        self.hashed("EXT", &format!("{}{}", sp.name, sp.protocol))
    }

    /// `KUBE-SEP-<hash>`: one endpoint of one service port.
    pub fn endpoint(&self, sp: &ServicePort, ep: &Endpoint) -> String {
        self.hashed("SEP", &format!("{}{}{}", sp.name, sp.protocol, ep.address()))
    }
}

/// The rendered ruleset.
#[derive(Debug, Default)]
pub struct Rendered {
    /// `iptables-restore --noflush` input for the filter and nat tables.
    pub restore: String,
    /// The per-service nat chains this ruleset defines (to delete them once unused).
    pub service_chains: BTreeSet<String>,
    /// Endpoint chains, all of them.
    pub endpoints: usize,
}

/// `1/n` with ten decimals, as upstream writes `--probability`.
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

struct Tables {
    filter_chains: String,
    filter_rules: String,
    nat_chains: String,
    nat_rules: String,
}

fn chain_line(out: &mut String, chain: &str) {
    let _ = writeln!(out, ":{chain} - [0:0]");
}

fn rule(out: &mut String, parts: &[&str]) {
    out.push_str(&parts.join(" "));
    out.push('\n');
}

/// Renders `ports`; `stale` are per-service nat chains of an earlier sync to delete.
pub fn render(ports: &[ServicePort], cfg: &RenderConfig, stale: &BTreeSet<String>) -> Rendered {
    let ch = Chains::new(&cfg.prefix);
    let mut t = Tables { filter_chains: String::new(), filter_rules: String::new(), nat_chains: String::new(), nat_rules: String::new() };
    let mut service_chains = BTreeSet::new();
    let mut endpoints = 0;
    for c in ch.filter_top() {
        chain_line(&mut t.filter_chains, c);
    }
    for c in ch.nat_top() {
        chain_line(&mut t.nat_chains, c);
    }
    let masq_match = format!("{MASQUERADE_MARK}/{MASQUERADE_MARK}");
    rule(&mut t.nat_rules, &["-A", &ch.postrouting, "-m", "mark", "!", "--mark", &masq_match, "-j", "RETURN"]);
    rule(&mut t.nat_rules, &["-A", &ch.postrouting, "-j", "MARK", "--xor-mark", MASQUERADE_MARK]);
    rule(&mut t.nat_rules, &["-A", &ch.postrouting, "-m", "comment", "--comment", "\"kubernetes service traffic requiring SNAT\"", "-j", "MASQUERADE", "--random-fully"]);
    rule(&mut t.nat_rules, &["-A", &ch.mark_masq, "-j", "MARK", "--or-mark", MASQUERADE_MARK]);
    if cfg.localhost_nodeports {
        // route_localnet opens 127.0.0.0/8 to other hosts (https://issue.k8s.io/90259);
        // upstream's kubelet closes it with this rule.
        rule(&mut t.filter_rules, &["-A", &ch.firewall, "-m", "comment", "--comment", "\"block incoming localnet connections\"", "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"]);
    }
    for sp in ports {
        endpoints += render_service(&mut t, &ch, sp, cfg, &mut service_chains);
    }
    for chain in stale.difference(&service_chains) {
        chain_line(&mut t.nat_chains, chain);
        rule(&mut t.nat_rules, &["-X", chain]);
    }
    // NodePorts last: only traffic no ClusterIP rule took reaches them.
    let comment = "\"kubernetes service nodeports; NOTE: this must be the last rule in this chain\"";
    let mut nodeports = vec!["-A", &ch.services, "-m", "comment", "--comment", comment, "-m", "addrtype", "--dst-type", "LOCAL"];
    if !cfg.localhost_nodeports {
        nodeports.extend(["!", "-d", "127.0.0.0/8"]);
    }
    nodeports.extend(["-j", &ch.nodeports]);
    rule(&mut t.nat_rules, &nodeports);
    rule(&mut t.filter_rules, &["-A", &ch.forward, "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"]);
    rule(&mut t.filter_rules, &["-A", &ch.forward, "-m", "comment", "--comment", "\"kubernetes forwarding rules\"", "-m", "mark", "--mark", &masq_match, "-j", "ACCEPT"]);
    rule(&mut t.filter_rules, &["-A", &ch.forward, "-m", "comment", "--comment", "\"kubernetes forwarding conntrack rule\"", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]);
    let mut restore = String::with_capacity(t.filter_chains.len() + t.filter_rules.len() + t.nat_chains.len() + t.nat_rules.len() + 32);
    restore.push_str("*filter\n");
    restore.push_str(&t.filter_chains);
    restore.push_str(&t.filter_rules);
    restore.push_str("COMMIT\n*nat\n");
    restore.push_str(&t.nat_chains);
    restore.push_str(&t.nat_rules);
    restore.push_str("COMMIT\n");
    Rendered { restore, service_chains, endpoints }
}

/// The rules of one service port; returns how many endpoint chains it wrote.
fn render_service(t: &mut Tables, ch: &Chains, sp: &ServicePort, cfg: &RenderConfig, active: &mut BTreeSet<String>) -> usize {
    let proto = sp.protocol.as_str();
    let cat = sp.categorize(&cfg.node_name);
    let port = sp.port.to_string();
    let cluster_ip = sp.cluster_ip.to_string();
    let cluster_chain = ch.service(sp);
    let local_chain = ch.service_local(sp);
    let ext_chain = ch.external(sp);
    let uses_cluster_chain = !cat.cluster.is_empty();
    let uses_local_chain = !cat.local.is_empty() && (sp.internal_policy_local || sp.external_policy_local);

    let (internal_chain, has_internal) = if sp.internal_policy_local { (&local_chain, !cat.local.is_empty()) } else { (&cluster_chain, cat.has_any) };
    let (external_policy_chain, has_external) = if sp.external_policy_local { (&local_chain, !cat.local.is_empty()) } else { (&cluster_chain, cat.has_any) };
    let uses_ext_chain = cat.has_any && sp.externally_accessible();

    let no_endpoints = format!("\"{} has no endpoints\"", sp.name);
    let no_local = format!("\"{} has no local endpoints\"", sp.name);
    let (internal_filter, external_filter) = if !cat.has_any {
        (Some(("REJECT", &no_endpoints)), Some(("REJECT", &no_endpoints)))
    } else {
        (if has_internal { None } else { Some(("DROP", &no_local)) }, if has_external { None } else { Some(("DROP", &no_local)) })
    };

    let cluster_comment = format!("\"{} cluster IP\"", sp.name);
    if has_internal {
        rule(&mut t.nat_rules, &["-A", &ch.services, "-m", "comment", "--comment", &cluster_comment, "-m", proto, "-p", proto, "-d", &cluster_ip, "--dport", &port, "-j", internal_chain]);
    } else if let Some((target, comment)) = internal_filter {
        rule(&mut t.filter_rules, &["-A", &ch.services, "-m", "comment", "--comment", comment, "-m", proto, "-p", proto, "-d", &cluster_ip, "--dport", &port, "-j", target]);
    }
    let external_comment = format!("\"{} external IP\"", sp.name);
    let lb_comment = format!("\"{} loadbalancer IP\"", sp.name);
    for (ips, comment) in [(&sp.external_ips, &external_comment), (&sp.load_balancer_ips, &lb_comment)] {
        for ip in ips {
            let ip = ip.to_string();
            if cat.has_any {
                rule(&mut t.nat_rules, &["-A", &ch.services, "-m", "comment", "--comment", comment, "-m", proto, "-p", proto, "-d", &ip, "--dport", &port, "-j", &ext_chain]);
            }
            if let Some((target, comment)) = external_filter {
                rule(&mut t.filter_rules, &["-A", &ch.external_services, "-m", "comment", "--comment", comment, "-m", proto, "-p", proto, "-d", &ip, "--dport", &port, "-j", target]);
            }
        }
    }
    if sp.node_port != 0 {
        let node_port = sp.node_port.to_string();
        let comment = format!("\"{}\"", sp.name);
        if cat.has_any {
            rule(&mut t.nat_rules, &["-A", &ch.nodeports, "-m", "comment", "--comment", &comment, "-m", proto, "-p", proto, "--dport", &node_port, "-j", &ext_chain]);
        }
        if let Some((target, comment)) = external_filter {
            rule(&mut t.filter_rules, &["-A", &ch.external_services, "-m", "comment", "--comment", comment, "-m", "addrtype", "--dst-type", "LOCAL", "-m", proto, "-p", proto, "--dport", &node_port, "-j", target]);
        }
    }
    if sp.health_check_node_port != 0 {
        let comment = format!("\"{} health check node port\"", sp.name);
        rule(&mut t.filter_rules, &["-A", &ch.nodeports, "-m", "comment", "--comment", &comment, "-m", "tcp", "-p", "tcp", "--dport", &sp.health_check_node_port.to_string(), "-j", "ACCEPT"]);
    }

    // Masquerade ClusterIP traffic that does not come from a local pod (it may be routed
    // back out of the node).
    if has_internal {
        let base = ["-A", internal_chain.as_str(), "-m", "comment", "--comment", &cluster_comment, "-m", proto, "-p", proto, "-d", &cluster_ip, "--dport", &port];
        if cfg.masquerade_all {
            rule(&mut t.nat_rules, &[&base[..], &["-j", &ch.mark_masq]].concat());
        } else if let Some(cidr) = &cfg.local_cidr {
            rule(&mut t.nat_rules, &[&base[..], &["!", "-s", cidr, "-j", &ch.mark_masq]].concat());
        }
    }
    if uses_ext_chain {
        chain_line(&mut t.nat_chains, &ext_chain);
        active.insert(ext_chain.clone());
        if !sp.external_policy_local {
            let comment = format!("\"masquerade traffic for {} external destinations\"", sp.name);
            rule(&mut t.nat_rules, &["-A", &ext_chain, "-m", "comment", "--comment", &comment, "-j", &ch.mark_masq]);
        } else {
            if let Some(cidr) = &cfg.local_cidr {
                let comment = format!("\"pod traffic for {} external destinations\"", sp.name);
                rule(&mut t.nat_rules, &["-A", &ext_chain, "-m", "comment", "--comment", &comment, "-s", cidr, "-j", &cluster_chain]);
            }
            let comment = format!("\"masquerade LOCAL traffic for {} external destinations\"", sp.name);
            rule(&mut t.nat_rules, &["-A", &ext_chain, "-m", "comment", "--comment", &comment, "-m", "addrtype", "--src-type", "LOCAL", "-j", &ch.mark_masq]);
            let comment = format!("\"route LOCAL traffic for {} external destinations\"", sp.name);
            rule(&mut t.nat_rules, &["-A", &ext_chain, "-m", "comment", "--comment", &comment, "-m", "addrtype", "--src-type", "LOCAL", "-j", &cluster_chain]);
        }
        if has_external {
            rule(&mut t.nat_rules, &["-A", &ext_chain, "-j", external_policy_chain]);
        }
    }
    if uses_cluster_chain {
        chain_line(&mut t.nat_chains, &cluster_chain);
        active.insert(cluster_chain.clone());
        dispatch(&mut t.nat_rules, ch, sp, &cluster_chain, &cat.cluster);
    }
    if uses_local_chain {
        chain_line(&mut t.nat_chains, &local_chain);
        active.insert(local_chain.clone());
        dispatch(&mut t.nat_rules, ch, sp, &local_chain, &cat.local);
    }
    for ep in &cat.reachable {
        let chain = ch.endpoint(sp, ep);
        chain_line(&mut t.nat_chains, &chain);
        active.insert(chain.clone());
        let comment = format!("\"{}\"", sp.name);
        let ip = ep.ip.to_string();
        // Hairpin: a pod reaching itself through its Service is masqueraded.
        rule(&mut t.nat_rules, &["-A", &chain, "-m", "comment", "--comment", &comment, "-s", &ip, "-j", &ch.mark_masq]);
        let mut dnat = vec!["-A", chain.as_str(), "-m", "comment", "--comment", &comment];
        if sp.sticky_seconds.is_some() {
            dnat.extend(["-m", "recent", "--name", &chain, "--set"]);
        }
        let address = ep.address();
        dnat.extend(["-m", proto, "-p", proto, "-j", "DNAT", "--to-destination", &address]);
        rule(&mut t.nat_rules, &dnat);
    }
    cat.reachable.len()
}

/// The rules of a KUBE-SVC/KUBE-SVL chain: affinity first, then one rule per endpoint
/// matching with probability 1/(endpoints left).
fn dispatch(out: &mut String, ch: &Chains, sp: &ServicePort, chain: &str, endpoints: &[&Endpoint]) {
    if let Some(seconds) = sp.sticky_seconds {
        let seconds = seconds.to_string();
        for ep in endpoints {
            let sep = ch.endpoint(sp, ep);
            let comment = format!("\"{} -> {}\"", sp.name, ep.address());
            rule(out, &["-A", chain, "-m", "comment", "--comment", &comment, "-m", "recent", "--name", &sep, "--rcheck", "--seconds", &seconds, "--reap", "-j", &sep]);
        }
    }
    let n = endpoints.len();
    for (i, ep) in endpoints.iter().enumerate() {
        let sep = ch.endpoint(sp, ep);
        let comment = format!("\"{} -> {}\"", sp.name, ep.address());
        let mut r = vec!["-A", chain, "-m", "comment", "--comment", &comment];
        let p = probability(n - i);
        if i + 1 < n {
            r.extend(["-m", "statistic", "--mode", "random", "--probability", &p]);
        }
        r.extend(["-j", &sep]);
        rule(out, &r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::service_ports;
    use crate::model::tests::{service, slice};
    use serde_json::json;

    fn cfg() -> RenderConfig {
        RenderConfig { prefix: "KUBE".into(), node_name: "node1".into(), local_cidr: Some("10.244.0.0/16".into()), masquerade_all: false, localhost_nodeports: true }
    }

    fn web(endpoints: serde_json::Value, extra: serde_json::Value) -> Vec<ServicePort> {
        let mut spec = json!({"clusterIP": "172.30.0.41", "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}]});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let svc = service(json!({"metadata": {"name": "svc1", "namespace": "ns1"}, "spec": spec}));
        let sl = slice(json!({"metadata": {"name": "svc1-x", "namespace": "ns1", "labels": {"kubernetes.io/service-name": "svc1"}}, "addressType": "IPv4",
            "endpoints": endpoints, "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}]}));
        service_ports([&svc], [&sl])
    }

    fn lines(r: &Rendered) -> Vec<&str> {
        r.restore.lines().collect()
    }

    /// Chain names are upstream's: the same Service gets the same hash as in upstream's
    /// proxier_test.go (`ns1/svc1:p80` tcp -> KUBE-SVC-XPGD46QRK7WJZT7O).
    #[test]
    fn chain_names_match_upstream_hashes() {
        let ports = web(json!([{"addresses": ["10.180.0.1"]}]), json!({}));
        let ch = Chains::new("KUBE");
        assert_eq!(ch.service(&ports[0]), "KUBE-SVC-XPGD46QRK7WJZT7O");
        assert_eq!(ch.external(&ports[0]), "KUBE-EXT-XPGD46QRK7WJZT7O");
        assert_eq!(ch.endpoint(&ports[0], &ports[0].endpoints[0]), "KUBE-SEP-SXIVWICOYRO3J4NJ");
        assert!(ch.is_service_chain("KUBE-SEP-SXIVWICOYRO3J4NJ"));
        assert!(!ch.is_service_chain("KUBE-SERVICES") && !ch.is_service_chain("IK1-SVC-XPGD46QRK7WJZT7O"));
    }

    #[test]
    fn cluster_ip_spreads_over_endpoints_with_falling_probabilities() {
        let ports = web(json!([{"addresses": ["10.180.0.1"]}, {"addresses": ["10.180.0.2"]}, {"addresses": ["10.180.0.3"]}]), json!({}));
        let r = render(&ports, &cfg(), &BTreeSet::new());
        let l = lines(&r);
        assert!(l.contains(&"-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O"));
        assert!(l.contains(&"-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ"));
        let dispatch: Vec<&str> = l.iter().copied().filter(|r| r.starts_with("-A KUBE-SVC-") && r.contains(" -> ")).collect();
        assert_eq!(dispatch.len(), 3);
        assert!(dispatch[0].contains("--probability 0.3333333333"), "{}", dispatch[0]);
        assert!(dispatch[1].contains("--probability 0.5000000000"), "{}", dispatch[1]);
        assert!(!dispatch[2].contains("statistic"), "the last endpoint always matches");
        let sep = l.iter().find(|r| r.contains("DNAT") && r.contains("10.180.0.2:80")).unwrap();
        assert!(sep.ends_with("-m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80"), "{sep}");
        assert_eq!(r.service_chains.len(), 4);
        assert_eq!(r.endpoints, 3);
        assert!(r.restore.starts_with("*filter\n:KUBE-SERVICES - [0:0]\n") && r.restore.ends_with("COMMIT\n"));
        assert!(l.last_chunk::<2>().is_some());
        let nat_tail = l.iter().rposition(|r| r.starts_with("-A KUBE-SERVICES")).unwrap();
        assert!(l[nat_tail].contains("-j KUBE-NODEPORTS"), "nodeports must stay the last KUBE-SERVICES rule");
    }

    #[test]
    fn services_without_ready_endpoints_reject_in_the_filter_table() {
        let ports = web(json!([{"addresses": ["10.180.0.1"], "conditions": {"ready": false}}]), json!({"type": "NodePort", "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}]}));
        let r = render(&ports, &cfg(), &BTreeSet::new());
        let (filter, nat) = r.restore.split_once("*nat").unwrap();
        assert!(filter.contains("-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 has no endpoints\" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT"));
        assert!(filter.contains("-A KUBE-EXTERNAL-SERVICES -m comment --comment \"ns1/svc1:p80 has no endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT"));
        assert!(!nat.contains("172.30.0.41") && !nat.contains("KUBE-SVC-"), "{nat}");
        assert!(r.service_chains.is_empty());
    }

    #[test]
    fn node_ports_go_through_the_external_chain_and_masquerade() {
        let ports = web(json!([{"addresses": ["10.180.0.1"]}]), json!({"type": "NodePort", "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}]}));
        let r = render(&ports, &cfg(), &BTreeSet::new());
        let l = lines(&r);
        assert!(l.contains(&":KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]"));
        assert!(l.contains(&"-A KUBE-NODEPORTS -m comment --comment \"ns1/svc1:p80\" -m tcp -p tcp --dport 30080 -j KUBE-EXT-XPGD46QRK7WJZT7O"));
        assert!(l.contains(&"-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment \"masquerade traffic for ns1/svc1:p80 external destinations\" -j KUBE-MARK-MASQ"));
        assert!(l.contains(&"-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVC-XPGD46QRK7WJZT7O"));
    }

    #[test]
    fn local_external_policy_without_local_endpoints_drops_outside_traffic() {
        let ports = web(
            json!([{"addresses": ["10.180.0.1"], "nodeName": "elsewhere"}]),
            json!({"type": "NodePort", "externalTrafficPolicy": "Local", "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}]}),
        );
        let r = render(&ports, &cfg(), &BTreeSet::new());
        let l = lines(&r);
        assert!(l.contains(&"-A KUBE-EXTERNAL-SERVICES -m comment --comment \"ns1/svc1:p80 has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP"));
        assert!(l.contains(&"-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment \"route LOCAL traffic for ns1/svc1:p80 external destinations\" -m addrtype --src-type LOCAL -j KUBE-SVC-XPGD46QRK7WJZT7O"));
        assert!(!l.iter().any(|r| r.starts_with("-A KUBE-EXT-XPGD46QRK7WJZT7O -j ")), "no fall-through without local endpoints");
        assert!(!l.iter().any(|r| r.contains("KUBE-SVL-")));
    }

    #[test]
    fn client_ip_affinity_uses_recent() {
        let ports = web(json!([{"addresses": ["10.180.0.1"]}, {"addresses": ["10.180.0.2"]}]), json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 300}}}));
        let r = render(&ports, &cfg(), &BTreeSet::new());
        let ch = Chains::new("KUBE");
        let sep = ch.endpoint(&ports[0], &ports[0].endpoints[0]);
        let l = lines(&r);
        assert!(l.contains(&format!("-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.0.1:80\" -m recent --name {sep} --rcheck --seconds 300 --reap -j {sep}").as_str()));
        assert!(l.contains(&format!("-A {sep} -m comment --comment \"ns1/svc1:p80\" -m recent --name {sep} --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80").as_str()));
    }

    #[test]
    fn stale_chains_are_flushed_and_deleted_and_prefixes_keep_proxiers_apart() {
        let stale: BTreeSet<String> = ["IK7-SVC-AAAAAAAAAAAAAAAA".to_string()].into();
        let r = render(&[], &RenderConfig { prefix: "IK7".into(), ..cfg() }, &stale);
        let l = lines(&r);
        assert!(l.contains(&":IK7-SVC-AAAAAAAAAAAAAAAA - [0:0]") && l.contains(&"-X IK7-SVC-AAAAAAAAAAAAAAAA"));
        assert!(l.contains(&"-A IK7-MARK-MASQ -j MARK --or-mark 0x4000"));
        assert!(!r.restore.contains("KUBE-"));
    }
}
