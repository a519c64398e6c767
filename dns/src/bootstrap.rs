//! `kube-system/kube-dns` as kubeadm names it, pointing at this server: the Service on the
//! cluster DNS address (ports `dns` 53/UDP and `dns-tcp` 53/TCP, no selector) and, because
//! no controller fills a selector-less Service, its Endpoints and EndpointSlice listing
//! the node address and the port the server listens on. Server-side apply with field
//! manager `ironkube-dns`, so every start is the same request.

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use std::net::IpAddr;

/// The field manager of everything applied here.
pub const FIELD_MANAGER: &str = "ironkube-dns";

const NAMESPACE: &str = "kube-system";
const NAME: &str = "kube-dns";

/// Where the `kube-dns` endpoints point.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The node address.
    pub ip: IpAddr,
    /// The port the server listens on (UDP and TCP).
    pub port: u16,
    /// The node the server runs on.
    pub node_name: Option<String>,
}

/// The Service (kubeadm's labels, with this server's own name in `kubernetes.io/name`).
pub fn service(cluster_ip: IpAddr, port: u16) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {
            "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "ironkube-dns"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip.to_string(),
            "clusterIPs": [cluster_ip.to_string()],
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": port},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": port},
            ],
        },
    })
}

/// The Endpoints (`skip-mirror`: the EndpointSlice below is written directly).
pub fn endpoints(endpoint: &Endpoint) -> Value {
    let mut address = json!({"ip": endpoint.ip.to_string()});
    if let Some(node) = &endpoint.node_name {
        address["nodeName"] = json!(node);
    }
    json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {
            "k8s-app": "kube-dns", "endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{
            "addresses": [address],
            "ports": [
                {"name": "dns", "port": endpoint.port, "protocol": "UDP"},
                {"name": "dns-tcp", "port": endpoint.port, "protocol": "TCP"},
            ],
        }],
    })
}

/// The EndpointSlice, managed by `ironkube-dns` (not the EndpointSlice controller) and,
/// as upstream's slices, owned by its Service (`service_uid`), so deleting the Service
/// deletes it.
pub fn endpoint_slice(endpoint: &Endpoint, service_uid: Option<&str>) -> Value {
    let mut ep = json!({"addresses": [endpoint.ip.to_string()], "conditions": {"ready": true, "serving": true, "terminating": false}});
    if let Some(node) = &endpoint.node_name {
        ep["nodeName"] = json!(node);
    }
    let mut slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {
            "k8s-app": "kube-dns",
            "kubernetes.io/service-name": NAME,
            "endpointslice.kubernetes.io/managed-by": FIELD_MANAGER}},
        "addressType": if endpoint.ip.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [ep],
        "ports": [
            {"name": "dns", "port": endpoint.port, "protocol": "UDP"},
            {"name": "dns-tcp", "port": endpoint.port, "protocol": "TCP"},
        ],
    });
    if let Some(uid) = service_uid {
        slice["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Service", "name": NAME, "uid": uid, "controller": true, "blockOwnerDeletion": true}]);
    }
    slice
}

/// Applies the three objects.
pub async fn ensure_kube_dns(client: &Client, cluster_ip: IpAddr, endpoint: &Endpoint) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let svc = Api::<Service>::namespaced(client.clone(), NAMESPACE).patch(NAME, &params, &Patch::Apply(service(cluster_ip, endpoint.port))).await?;
    Api::<Endpoints>::namespaced(client.clone(), NAMESPACE).patch(NAME, &params, &Patch::Apply(endpoints(endpoint))).await?;
    let slice = endpoint_slice(endpoint, svc.metadata.uid.as_deref());
    Api::<EndpointSlice>::namespaced(client.clone(), NAMESPACE).patch(NAME, &params, &Patch::Apply(slice)).await?;
    Ok(())
}

/// [`ensure_kube_dns`] until it succeeds, waiting longer after each failure (a
/// ClusterIP taken by another Service, or an immutable field changed, needs a person: the
/// warning says why).
pub async fn keep_trying(client: Client, cluster_ip: IpAddr, endpoint: Endpoint) {
    let mut wait = std::time::Duration::from_millis(500);
    loop {
        match ensure_kube_dns(&client, cluster_ip, &endpoint).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "cluster DNS: cannot apply kube-system/kube-dns; retrying in {wait:?}"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(std::time::Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint { ip: "192.0.2.7".parse().unwrap(), port: 10053, node_name: Some("node-a".into()) }
    }

    /// The objects are valid upstream types, and kube-proxy's view of them maps 53 to
    /// the listen port.
    #[test]
    fn objects_parse_as_upstream_types_and_map_53_to_the_listen_port() {
        let svc: Service = serde_json::from_value(service("10.96.0.10".parse().unwrap(), 10053)).unwrap();
        let spec = svc.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
        assert!(spec.selector.is_none(), "no selector: no controller competes for the endpoints");
        let ports: Vec<_> = spec.ports.unwrap().into_iter().map(|p| (p.name.unwrap(), p.port, p.protocol.unwrap(), p.target_port.unwrap())).collect();
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int;
        assert_eq!(ports, [("dns".into(), 53, "UDP".into(), Int(10053)), ("dns-tcp".into(), 53, "TCP".into(), Int(10053))]);
        let slice: EndpointSlice = serde_json::from_value(endpoint_slice(&endpoint(), Some("u-1"))).unwrap();
        let owner = &slice.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str(), owner.controller), ("Service", "kube-dns", "u-1", Some(true)));
        assert_eq!(slice.address_type, "IPv4");
        assert_eq!(slice.endpoints[0].addresses, ["192.0.2.7"]);
        assert_eq!(slice.endpoints[0].node_name.as_deref(), Some("node-a"));
        assert_eq!(slice.endpoints[0].conditions.as_ref().unwrap().ready, Some(true));
        assert_eq!(slice.metadata.labels.unwrap()["kubernetes.io/service-name"], "kube-dns");
        let eps: Endpoints = serde_json::from_value(endpoints(&endpoint())).unwrap();
        let subset = &eps.subsets.unwrap()[0];
        assert_eq!(subset.addresses.as_ref().unwrap()[0].ip, "192.0.2.7");
        assert_eq!(subset.ports.as_ref().unwrap()[0].port, 10053);
    }
}
