//! Where a `proxy` request goes: the `[scheme:]name[:port]` id (upstream
//! `utilnet.SplitSchemeNamePort`) and the backend it names, as upstream's
//! `ResourceLocation`s resolve it: a pod's IP and port (`pkg/registry/core/pod/strategy.go`),
//! a ready endpoint of a Service (`pkg/registry/core/service/storage/storage.go`), or a
//! node's kubelet (`pkg/registry/core/node/strategy.go`).

use crate::error::ApiError;
use crate::registry::kinds;
use crate::registry::store::{Store, Target};
use serde_json::Value;
use std::net::IpAddr;

/// A parsed `[scheme:]name[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyId<'a> {
    /// `http`, `https` or empty.
    pub scheme: &'a str,
    /// The object's name (never empty).
    pub name: &'a str,
    /// A port number or name, or empty.
    pub port: &'a str,
}

/// Splits `name`, `name:port` or `scheme:name:port`; `None` when the name is empty, the
/// scheme is not `http`/`https` or there are more parts.
pub fn split_scheme_name_port(id: &str) -> Option<ProxyId<'_>> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => return None,
    };
    (!name.is_empty() && matches!(scheme, "" | "http" | "https")).then_some(ProxyId { scheme, name, port })
}

/// How the API server reaches a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP for `http`, TLS without verification for `https` (upstream's proxy
    /// transport has `InsecureSkipVerify`).
    Direct,
    /// TLS to a kubelet, verified against the cluster CA, with the API server's
    /// kubelet-client certificate.
    Kubelet,
}

/// A backend to proxy to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// `http` or `https`.
    pub https: bool,
    /// IP address or host name.
    pub host: String,
    /// TCP port.
    pub port: String,
    /// The connection to use.
    pub transport: Transport,
}

impl Location {
    fn direct(scheme: &str, host: String, port: String) -> Location {
        Location { https: scheme == "https", host, port, transport: Transport::Direct }
    }

    /// `host:port` as Go's `net.JoinHostPort` writes it (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        join_host_port(&self.host, &self.port)
    }
}

/// Go's `net.JoinHostPort`.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Whether Go's `IP.IsGlobalUnicast` holds: not unspecified, loopback, link-local,
/// multicast or broadcast (private ranges are global unicast).
pub fn is_global_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_loopback() || v4.is_link_local() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_unspecified() || v6.is_loopback() || v6.is_multicast() || link_local)
        }
    }
}

async fn get(store: &Store, resource: &str, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
    let kind = kinds::find("", "v1", resource).ok_or(ApiError::NoRoute)?;
    store.get(Target { kind, namespace }, name).await
}

/// `pods/proxy`: the pod's first IP and the given port, else the first declared
/// container port, else none (the scheme's default).
pub async fn pod(store: &Store, namespace: &str, id: &str) -> Result<Location, ApiError> {
    let ProxyId { scheme, name, port } = split_scheme_name_port(id).ok_or_else(|| ApiError::BadRequest(format!("invalid pod request {id:?}")))?;
    let pod = get(store, "pods", Some(namespace), name).await?;
    let port = match port {
        "" => first_container_port(&pod).map(|p| p.to_string()).unwrap_or_default(),
        p => p.to_string(),
    };
    let ip = pod["status"]["podIPs"][0]["ip"].as_str().unwrap_or_default();
    match ip.parse::<IpAddr>() {
        Ok(addr) if is_global_unicast(addr) => Ok(Location::direct(scheme, ip.to_string(), port)),
        _ => Err(ApiError::BadRequest("address not allowed".into())),
    }
}

fn first_container_port(pod: &Value) -> Option<i64> {
    pod["spec"]["containers"].as_array()?.iter().find_map(|c| c["ports"][0]["containerPort"].as_i64())
}

/// `services/proxy`: a ready address of the Service's Endpoints for the port (a number is
/// first turned into the Service port's name), picked at random, whose pod still has
/// that IP.
pub async fn service(store: &Store, namespace: &str, id: &str) -> Result<Location, ApiError> {
    let ProxyId { scheme, name, port } = split_scheme_name_port(id).ok_or_else(|| ApiError::BadRequest(format!("invalid service request {id:?}")))?;
    let mut port_name = port.to_string();
    if let Ok(number) = port.parse::<i64>() {
        let svc = get(store, "services", Some(namespace), name).await?;
        let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
        let declared = ports.iter().find(|p| p["port"].as_i64() == Some(number));
        port_name = declared
            .map(|p| p["name"].as_str().unwrap_or_default().to_string())
            .ok_or_else(|| ApiError::ServiceUnavailable(format!("no service port {number} found for service {name:?}")))?;
    }
    let endpoints = get(store, "endpoints", Some(namespace), name).await?;
    let subsets = endpoints["subsets"].as_array().map(Vec::as_slice).unwrap_or_default();
    if subsets.is_empty() {
        return Err(ApiError::ServiceUnavailable(format!("no endpoints available for service {name:?}")));
    }
    let seeds = (rand::random_range(0..subsets.len()), rand::random::<u32>() as usize);
    for candidate in endpoint_candidates(subsets, &port_name, seeds) {
        if address_is_valid(store, namespace, candidate.address).await {
            let ip = candidate.address["ip"].as_str().unwrap_or_default().to_string();
            return Ok(Location::direct(scheme, ip, candidate.port.to_string()));
        }
    }
    Err(ApiError::ServiceUnavailable(format!("no endpoints available for service {id:?}")))
}

/// One address of an Endpoints subset with the port to use on it.
#[derive(Debug, PartialEq)]
pub struct Candidate<'a> {
    /// The `EndpointAddress`.
    pub address: &'a Value,
    /// The subset's port with the wanted name.
    pub port: i64,
}

/// The ready addresses upstream tries, in its order: subsets from the random `seeds.0`
/// on, and in each subset that has a port named `port_name` (empty matches an unnamed
/// port) its addresses from `seeds.1` (modulo their number) on.
pub fn endpoint_candidates<'a>(subsets: &'a [Value], port_name: &str, seeds: (usize, usize)) -> Vec<Candidate<'a>> {
    let mut out = Vec::new();
    for i in 0..subsets.len() {
        let subset = &subsets[(seeds.0 + i) % subsets.len()];
        let addresses = subset["addresses"].as_array().map(Vec::as_slice).unwrap_or_default();
        if addresses.is_empty() {
            continue;
        }
        let ports = subset["ports"].as_array().map(Vec::as_slice).unwrap_or_default();
        for port in ports.iter().filter(|p| p["name"].as_str().unwrap_or_default() == port_name) {
            let Some(number) = port["port"].as_i64() else { continue };
            for n in 0..addresses.len() {
                out.push(Candidate { address: &addresses[(seeds.1 + n) % addresses.len()], port: number });
            }
        }
    }
    out
}

/// Upstream's `isValidAddress`: the address names a pod of this namespace that still
/// has the address's IP.
async fn address_is_valid(store: &Store, namespace: &str, address: &Value) -> bool {
    let target = &address["targetRef"];
    if target.is_null() || target["namespace"].as_str().unwrap_or_default() != namespace {
        return false;
    }
    let Ok(pod) = get(store, "pods", Some(namespace), target["name"].as_str().unwrap_or_default()).await else { return false };
    let ip = address["ip"].as_str().unwrap_or_default();
    pod["status"]["podIPs"].as_array().is_some_and(|ips| ips.iter().any(|p| p["ip"].as_str() == Some(ip)))
}

/// `nodes/proxy`: the node's kubelet (no port, or the kubelet's port), else the given
/// scheme and port on the kubelet's host with the plain proxy transport.
pub async fn node(store: &Store, id: &str) -> Result<Location, ApiError> {
    let ProxyId { scheme, name, port } = split_scheme_name_port(id).ok_or_else(|| ApiError::BadRequest(format!("invalid node request {id:?}")))?;
    let node = get(store, "nodes", None, name).await?;
    let (host, kubelet_port) = crate::server::pod_streams::kubelet_address(&node, name);
    proxyable_host(&host).await?;
    if port.is_empty() || port == kubelet_port.to_string() {
        return Ok(Location { https: true, host, port: kubelet_port.to_string(), transport: Transport::Kubelet });
    }
    Ok(Location::direct(scheme, host, port.to_string()))
}

/// Upstream's `isProxyableHostname`: every address of the host is global unicast.
async fn proxyable_host(host: &str) -> Result<(), ApiError> {
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| ApiError::BadRequest(format!("lookup {host}: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(ApiError::BadRequest("no addresses for hostname".into()));
    }
    if addresses.into_iter().any(|ip| !is_global_unicast(ip)) {
        return Err(ApiError::BadRequest("address not allowed".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_as_upstream_splits_them() {
        let id = |scheme, name, port| Some(ProxyId { scheme, name, port });
        assert_eq!(split_scheme_name_port("web"), id("", "web", ""));
        assert_eq!(split_scheme_name_port("web:8080"), id("", "web", "8080"));
        assert_eq!(split_scheme_name_port("web:http"), id("", "web", "http"));
        assert_eq!(split_scheme_name_port("https:web:8443"), id("https", "web", "8443"));
        assert_eq!(split_scheme_name_port("http:web:"), id("http", "web", ""));
        assert_eq!(split_scheme_name_port("web:"), id("", "web", ""));
        assert_eq!(split_scheme_name_port(""), None);
        assert_eq!(split_scheme_name_port(":80"), None);
        assert_eq!(split_scheme_name_port("ftp:web:21"), None);
        assert_eq!(split_scheme_name_port("a:b:c:d"), None);
    }

    #[test]
    fn global_unicast_as_go() {
        for ok in ["10.244.0.5", "192.168.1.1", "8.8.8.8", "fd00::1", "2001:db8::1"] {
            assert!(is_global_unicast(ok.parse().unwrap()), "{ok}");
        }
        for bad in ["127.0.0.1", "0.0.0.0", "169.254.1.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "ff02::1"] {
            assert!(!is_global_unicast(bad.parse().unwrap()), "{bad}");
        }
        assert_eq!(join_host_port("fd00::1", "80"), "[fd00::1]:80");
        assert_eq!(join_host_port("10.0.0.1", "80"), "10.0.0.1:80");
    }

    #[test]
    fn first_container_port_is_the_default() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "ports": [{"containerPort": 8080}, {"containerPort": 9090}]}]}});
        assert_eq!(first_container_port(&pod), Some(8080));
        assert_eq!(first_container_port(&json!({"spec": {"containers": [{"name": "a"}]}})), None);
    }

    #[test]
    fn endpoint_candidates_follow_port_names_and_seeds() {
        let subsets = vec![
            json!({"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]}),
            json!({"notReadyAddresses": [{"ip": "10.0.0.9"}], "ports": [{"name": "http", "port": 8080}]}),
            json!({"addresses": [{"ip": "10.0.0.3"}], "ports": [{"name": "http", "port": 80}]}),
        ];
        let ips = |c: Vec<Candidate>| c.iter().map(|c| format!("{}:{}", c.address["ip"].as_str().unwrap(), c.port)).collect::<Vec<_>>();
        assert_eq!(ips(endpoint_candidates(&subsets, "http", (0, 0))), ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:80"]);
        assert_eq!(ips(endpoint_candidates(&subsets, "http", (1, 1))), ["10.0.0.3:80", "10.0.0.2:8080", "10.0.0.1:8080"]);
        assert_eq!(ips(endpoint_candidates(&subsets, "metrics", (2, 3))), ["10.0.0.2:9090", "10.0.0.1:9090"]);
        // Not-ready addresses and other port names are never chosen.
        assert!(endpoint_candidates(&subsets, "", (0, 0)).is_empty());
        assert!(endpoint_candidates(&subsets, "grpc", (0, 0)).is_empty());
        let unnamed = vec![json!({"addresses": [{"ip": "10.0.0.4"}], "ports": [{"port": 80}]})];
        assert_eq!(ips(endpoint_candidates(&unnamed, "", (0, 0))), ["10.0.0.4:80"]);
    }
}
