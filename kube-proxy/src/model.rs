//! What the proxier programs: one [`ServicePort`] per port of each proxied Service, with
//! the endpoints its EndpointSlices list. Mirrors upstream `pkg/proxy/serviceport.go`,
//! `endpoint.go`, `endpointslicecache.go` and `topology.go` (`CategorizeEndpoints`),
//! IPv4 only (the proxier programs `iptables`, not `ip6tables`).

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The EndpointSlice label naming its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Upstream's default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours).
pub const DEFAULT_STICKY_SECONDS: i32 = 10800;

/// One port of one Service, as the proxier sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePort {
    /// `namespace/name` or `namespace/name:port` (upstream `ServicePortName.String()`),
    /// the input of the chain-name hashes.
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The ClusterIP.
    pub cluster_ip: Ipv4Addr,
    /// The Service port.
    pub port: i32,
    /// The NodePort (0 when none).
    pub node_port: i32,
    /// `spec.externalIPs`.
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `Some(timeout)` for `sessionAffinity: ClientIP`.
    pub sticky_seconds: Option<i32>,
    /// `externalTrafficPolicy: Local` on an externally reachable Service.
    pub external_policy_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_policy_local: bool,
    /// `spec.healthCheckNodePort` (0 when none).
    pub health_check_node_port: i32,
    /// Every endpoint the EndpointSlices list for this port (deduplicated, sorted).
    pub endpoints: Vec<Endpoint>,
}

/// One backend of a [`ServicePort`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// The address.
    pub ip: Ipv4Addr,
    /// The target port.
    pub port: i32,
    /// `conditions.ready` (unset means ready).
    pub ready: bool,
    /// `conditions.serving` (unset means `ready`).
    pub serving: bool,
    /// `conditions.terminating` (unset means false).
    pub terminating: bool,
    /// `nodeName`.
    pub node_name: Option<String>,
}

impl Endpoint {
    /// `ip:port`, the DNAT target and part of the KUBE-SEP hash.
    pub fn address(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

impl ServicePort {
    /// NodePort, externalIPs or load-balancer IPs make the Service reachable from outside.
    pub fn externally_accessible(&self) -> bool {
        self.node_port != 0 || !self.external_ips.is_empty() || !self.load_balancer_ips.is_empty()
    }

    fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local || (self.externally_accessible() && !self.external_policy_local)
    }

    fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local || (self.externally_accessible() && self.external_policy_local)
    }

    /// Splits the endpoints by traffic policy for a proxier on `node`, as upstream
    /// `CategorizeEndpoints` does (without topology hints): ready endpoints, or when none
    /// is ready, the serving-and-terminating ones.
    pub fn categorize(&self, node: &str) -> Categorized<'_> {
        let usable = |ready_only: bool, local_only: bool| -> Vec<&Endpoint> {
            self.endpoints
                .iter()
                .filter(|e| if ready_only { e.ready } else { e.serving && e.terminating })
                .filter(|e| !local_only || e.node_name.as_deref() == Some(node))
                .collect()
        };
        let pick = |local_only: bool| {
            let ready = usable(true, local_only);
            if ready.is_empty() { usable(false, local_only) } else { ready }
        };
        let mut out = Categorized::default();
        if self.uses_cluster_endpoints() {
            out.cluster = pick(false);
            out.has_any = !out.cluster.is_empty();
        }
        if !self.uses_local_endpoints() {
            out.reachable = out.cluster.clone();
            return out;
        }
        out.has_any |= self.endpoints.iter().any(|e| e.ready || (e.serving && e.terminating));
        out.local = pick(true);
        out.reachable = out.cluster.clone();
        for e in &out.local {
            if !out.reachable.contains(e) {
                out.reachable.push(e);
            }
        }
        out.reachable.sort();
        out
    }
}

/// [`ServicePort::categorize`]'s answer.
#[derive(Debug, Default)]
pub struct Categorized<'a> {
    /// Endpoints for `Cluster` traffic policy.
    pub cluster: Vec<&'a Endpoint>,
    /// Endpoints on this node, for `Local` traffic policy.
    pub local: Vec<&'a Endpoint>,
    /// Every endpoint some rule may reach (one KUBE-SEP chain each).
    pub reachable: Vec<&'a Endpoint>,
    /// Whether any usable endpoint exists anywhere in the cluster.
    pub has_any: bool,
}

/// Services the proxier skips: headless, ExternalName, or without an IPv4 ClusterIP.
fn cluster_ip(svc: &Service) -> Option<Ipv4Addr> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    spec.cluster_ip.as_deref()?.parse().ok()
}

fn parse_ips<'a>(ips: impl Iterator<Item = &'a String>) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = ips.filter_map(|ip| ip.parse().ok()).collect();
    out.sort();
    out.dedup();
    out
}

/// Endpoints per `(namespace, service, port name, protocol)`, merged over every slice.
type EndpointsByPort = BTreeMap<(String, String, String, String), BTreeMap<(Ipv4Addr, i32), Endpoint>>;

fn endpoints_by_port<'a>(slices: impl IntoIterator<Item = &'a EndpointSlice>) -> EndpointsByPort {
    let mut out = EndpointsByPort::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        let Some(service) = slice.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)) else { continue };
        let namespace = slice.metadata.namespace.clone().unwrap_or_default();
        for port in slice.ports.iter().flatten() {
            let Some(number) = port.port else { continue };
            let key = (namespace.clone(), service.clone(), port.name.clone().unwrap_or_default(), port.protocol.clone().unwrap_or_else(|| "TCP".into()));
            let entry = out.entry(key).or_default();
            for ep in &slice.endpoints {
                let Some(ip) = ep.addresses.first().and_then(|a| a.parse::<Ipv4Addr>().ok()) else { continue };
                let conditions = ep.conditions.clone().unwrap_or_default();
                let ready = conditions.ready.unwrap_or(true);
                let endpoint = Endpoint {
                    ip,
                    port: number,
                    ready,
                    serving: conditions.serving.unwrap_or(ready),
                    terminating: conditions.terminating.unwrap_or(false),
                    node_name: ep.node_name.clone(),
                };
                // The same address in two slices (a slice being replaced): keep the ready one.
                let slot = entry.entry((ip, number)).or_insert_with(|| endpoint.clone());
                if endpoint.ready && !slot.ready {
                    *slot = endpoint;
                }
            }
        }
    }
    out
}

/// Every proxied port of `services`, with endpoints from `slices`, sorted by name.
pub fn service_ports<'a>(services: impl IntoIterator<Item = &'a Service>, slices: impl IntoIterator<Item = &'a EndpointSlice>) -> Vec<ServicePort> {
    let mut endpoints = endpoints_by_port(slices);
    let mut out = Vec::new();
    for svc in services {
        let Some(ip) = cluster_ip(svc) else { continue };
        let Some(spec) = svc.spec.as_ref() else { continue };
        let namespace = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
        let node_ports = matches!(type_, "NodePort" | "LoadBalancer");
        let load_balancer_ips = match type_ {
            "LoadBalancer" => parse_ips(svc.status.iter().flat_map(|s| s.load_balancer.iter()).flat_map(|lb| lb.ingress.iter().flatten()).filter_map(|i| i.ip.as_ref())),
            _ => Vec::new(),
        };
        let external_ips = parse_ips(spec.external_ips.iter().flatten());
        let sticky_seconds = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config.as_ref().and_then(|c| c.client_ip.as_ref()).and_then(|c| c.timeout_seconds).unwrap_or(DEFAULT_STICKY_SECONDS)
        });
        for port in spec.ports.iter().flatten() {
            let port_name = port.name.clone().unwrap_or_default();
            let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
            let key = (namespace.clone(), name.clone(), port_name.clone(), protocol.clone());
            let mut sp = ServicePort {
                name: if port_name.is_empty() { format!("{namespace}/{name}") } else { format!("{namespace}/{name}:{port_name}") },
                protocol: protocol.to_lowercase(),
                cluster_ip: ip,
                port: port.port,
                node_port: if node_ports { port.node_port.unwrap_or(0) } else { 0 },
                external_ips: external_ips.clone(),
                load_balancer_ips: load_balancer_ips.clone(),
                sticky_seconds,
                external_policy_local: false,
                internal_policy_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
                health_check_node_port: spec.health_check_node_port.unwrap_or(0),
                endpoints: endpoints.remove(&key).map(|m| m.into_values().collect()).unwrap_or_default(),
            };
            sp.external_policy_local = sp.externally_accessible() && spec.external_traffic_policy.as_deref() == Some("Local");
            out.push(sp);
        }
    }
    out.sort_by(|a, b| (&a.name, &a.protocol).cmp(&(&b.name, &b.protocol)));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn service(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    pub fn slice(v: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ports_take_endpoints_from_every_slice_of_their_service() {
        let svc = service(json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": {"clusterIP": "10.96.0.10", "type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30080}, {"name": "dns", "port": 53, "protocol": "UDP"}]}}));
        let a = slice(json!({"metadata": {"name": "a", "namespace": "ns", "labels": {SERVICE_NAME_LABEL: "web"}}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": true}, "nodeName": "n1"}, {"addresses": ["10.244.0.6"], "conditions": {"ready": false}}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}));
        let b = slice(json!({"metadata": {"name": "b", "namespace": "ns", "labels": {SERVICE_NAME_LABEL: "web"}}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.0.7"]}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}));
        let other_ns = slice(json!({"metadata": {"name": "c", "namespace": "other", "labels": {SERVICE_NAME_LABEL: "web"}}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.0.9"]}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}));
        let ports = service_ports([&svc], [&a, &b, &other_ns]);
        assert_eq!(ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["ns/web:dns", "ns/web:http"]);
        let http = &ports[1];
        assert_eq!((http.protocol.as_str(), http.node_port), ("tcp", 30080));
        assert_eq!(http.endpoints.iter().map(Endpoint::address).collect::<Vec<_>>(), ["10.244.0.5:8080", "10.244.0.6:8080", "10.244.0.7:8080"]);
        let cat = http.categorize("n1");
        assert_eq!(cat.cluster.iter().map(|e| e.address()).collect::<Vec<_>>(), ["10.244.0.5:8080", "10.244.0.7:8080"]);
        assert!(cat.has_any);
        assert!(ports[0].endpoints.is_empty() && ports[0].node_port == 0, "UDP port has no slice port, and NodePort only for TCP's given one");
    }

    #[test]
    fn headless_and_external_name_services_are_not_proxied() {
        let headless = service(json!({"metadata": {"name": "h", "namespace": "ns"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}));
        let external = service(json!({"metadata": {"name": "e", "namespace": "ns"}, "spec": {"type": "ExternalName", "externalName": "example.com"}}));
        assert!(service_ports([&headless, &external], []).is_empty());
    }

    #[test]
    fn terminating_endpoints_serve_only_when_none_is_ready() {
        let svc = service(json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": {"clusterIP": "10.96.0.11", "ports": [{"port": 80}]}}));
        let sl = slice(json!({"metadata": {"name": "s", "namespace": "ns", "labels": {SERVICE_NAME_LABEL: "s"}}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": false, "serving": true, "terminating": true}}],
            "ports": [{"port": 80}]}));
        let ports = service_ports([&svc], [&sl]);
        assert_eq!(ports[0].categorize("n").cluster.len(), 1);
        let none_serving = slice(json!({"metadata": {"name": "s", "namespace": "ns", "labels": {SERVICE_NAME_LABEL: "s"}}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": false}}], "ports": [{"port": 80}]}));
        let ports = service_ports([&svc], [&none_serving]);
        assert!(!ports[0].categorize("n").has_any);
    }

    #[test]
    fn local_external_policy_uses_this_nodes_endpoints() {
        let svc = service(json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": {"clusterIP": "10.96.0.12", "type": "NodePort", "externalTrafficPolicy": "Local", "ports": [{"port": 80, "nodePort": 30001}]}}));
        let sl = slice(json!({"metadata": {"name": "s", "namespace": "ns", "labels": {SERVICE_NAME_LABEL: "s"}}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.0.5"], "nodeName": "here"}, {"addresses": ["10.244.1.5"], "nodeName": "there"}],
            "ports": [{"port": 80}]}));
        let ports = service_ports([&svc], [&sl]);
        assert!(ports[0].external_policy_local);
        let cat = ports[0].categorize("here");
        assert_eq!(cat.local.len(), 1);
        assert_eq!(cat.cluster.len(), 2);
        assert_eq!(cat.reachable.len(), 2);
    }
}
