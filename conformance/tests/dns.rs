//! Cluster DNS end to end: a real `ironkube up` with its kubelet, kube-proxy and DNS on
//! this machine. Questions (built with hickory-proto) go from the host to the kube-dns
//! ClusterIP on port 53 (kube-proxy's OUTPUT rules carry them to the server), straight
//! to the server's node address and port, and from a pod with busybox `nslookup`.
//! Skips (with a message) where pods cannot run (not root, no containerd).

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use ironkube_conformance::{Cluster, assert_eventually};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

fn question(name: &str, qtype: RecordType) -> Message {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::from_ascii(name).expect("a name"), qtype));
    query
}

/// The answer over UDP, or why there is none.
fn ask(server: SocketAddr, name: &str, qtype: RecordType) -> Result<Message, String> {
    let query = question(name, qtype);
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
    socket.send_to(&query.to_vec().map_err(|e| e.to_string())?, server).map_err(|e| e.to_string())?;
    let mut buf = vec![0; 65535];
    let (n, _) = socket.recv_from(&mut buf).map_err(|e| format!("{server}: {e}"))?;
    let reply = Message::from_vec(&buf[..n]).map_err(|e| e.to_string())?;
    if reply.metadata.id != query.metadata.id {
        return Err(format!("answer with another id: {reply}"));
    }
    Ok(reply)
}

/// The answer over TCP.
fn ask_tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Result<Message, String> {
    let query = question(name, qtype).to_vec().map_err(|e| e.to_string())?;
    let mut stream = TcpStream::connect_timeout(&server, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed).map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(|e| e.to_string())?;
    let mut reply = vec![0; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut reply).map_err(|e| e.to_string())?;
    Message::from_vec(&reply).map_err(|e| e.to_string())
}

/// The answer records as text (`A 10.0.0.1` → `10.0.0.1`, SRV as `0 100 80 target.`).
fn data(reply: &Result<Message, String>) -> Vec<String> {
    reply.as_ref().map(|m| m.answers.iter().map(|r| r.data.to_string()).collect()).unwrap_or_default()
}

fn rcode(reply: &Result<Message, String>) -> Option<ResponseCode> {
    reply.as_ref().ok().map(|m| m.metadata.response_code)
}

/// `<node-ip>:<port>` from the kube-dns EndpointSlice.
fn dns_endpoint(c: &Cluster) -> Option<SocketAddr> {
    let out = c.kubectl(&["get", "endpointslice", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.endpoints[0].addresses[0]}:{.ports[0].port}"]);
    String::from_utf8_lossy(&out.stdout).parse().ok()
}

/// Where each run's `cluster DNS  <ip>:53 → <node-ip>:<port>` step line said the server listens.
fn announced(c: &Cluster) -> Vec<SocketAddr> {
    let lines = c.stdout.lock().unwrap();
    lines.iter().filter_map(|l| l.trim().strip_prefix("cluster DNS")?.split('→').nth(1)?.split_whitespace().next()?.parse().ok()).collect()
}

const OBJECTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: manual}
spec:
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: manual-1, labels: {kubernetes.io/service-name: manual}}
addressType: IPv4
endpoints: [{addresses: [192.0.2.80], conditions: {ready: true}}]
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  ports: [{name: pg, port: 5432, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints:
- {addresses: [192.0.2.50], hostname: db-0, conditions: {ready: true}}
- {addresses: [192.0.2.51], hostname: db-1, conditions: {ready: false}}
ports: [{name: pg, port: 5432, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  type: ExternalName
  externalName: example.com
"#;

#[test]
fn services_resolve_through_the_kube_dns_cluster_ip_and_directly() {
    let Some(mut c) = Cluster::start_with_kubelet() else { return };
    let service_cidr = c.node.as_ref().unwrap().service_cidr.clone();
    let dns_ip = format!("{}10", service_cidr.trim_end_matches("0/24"));
    assert_eventually!(
        c.kubectl(&["get", "svc", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"]).stdout == dns_ip.as_bytes(),
        "kube-dns has not the ClusterIP {dns_ip}: {}",
        c.ok(&["get", "svc", "-A", "-o", "wide"])
    );
    let table = c.ok(&["get", "svc", "-n", "kube-system", "kube-dns"]);
    assert!(table.contains(&dns_ip) && table.contains("53/UDP,53/TCP"), "{table}");
    assert_eventually!(dns_endpoint(&c).is_some(), "no kube-dns EndpointSlice: {}", c.ok(&["get", "endpointslices", "-A"]));
    let slices = c.ok(&["get", "endpointslices", "-n", "kube-system"]);
    assert!(slices.lines().any(|l| l.starts_with("kube-dns ")), "{slices}");
    let owner = c.ok(&["get", "endpointslice", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}"]);
    assert_eq!(owner, "Service/kube-dns");
    let direct = dns_endpoint(&c).unwrap();
    assert_eq!(announced(&c), [direct], "the step line names the endpoint");
    let via_service: SocketAddr = format!("{dns_ip}:53").parse().unwrap();

    c.ok_with_input(&["apply", "-f", "-"], OBJECTS);
    let manual_ip = c.ok(&["get", "svc", "manual", "-o", "jsonpath={.spec.clusterIP}"]);
    for server in [via_service, direct] {
        assert_eventually!(
            data(&ask(server, "manual.default.svc.cluster.local.", RecordType::A)) == [manual_ip.as_str()],
            "{server}: manual.default.svc.cluster.local A: {:?}\n{}",
            ask(server, "manual.default.svc.cluster.local.", RecordType::A),
            c.stdout.lock().unwrap().join("\n")
        );
    }
    let srv = ask(direct, "_http._tcp.manual.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(data(&srv), ["0 100 80 manual.default.svc.cluster.local."], "{srv:?}");
    // Headless: the ready endpoint only, by Service name and by hostname.
    assert_eventually!(data(&ask(direct, "db.default.svc.cluster.local.", RecordType::A)) == ["192.0.2.50"], "db: {:?}", ask(direct, "db.default.svc.cluster.local.", RecordType::A));
    assert_eq!(data(&ask(via_service, "DB-0.db.default.svc.cluster.local.", RecordType::A)), ["192.0.2.50"]);
    assert_eq!(rcode(&ask(direct, "db-1.db.default.svc.cluster.local.", RecordType::A)), Some(ResponseCode::NXDomain));
    let srv = ask(direct, "_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(data(&srv), ["0 100 5432 db-0.db.default.svc.cluster.local."], "{srv:?}");
    // ExternalName: a CNAME (asked as CNAME: no upstream needed).
    assert_eq!(data(&ask(direct, "ext.default.svc.cluster.local.", RecordType::CNAME)), ["example.com."]);
    // PTR of the ClusterIP.
    let reverse: Vec<&str> = manual_ip.split('.').rev().collect();
    let ptr = ask(direct, &format!("{}.in-addr.arpa.", reverse.join(".")), RecordType::PTR);
    assert_eq!(data(&ptr), ["manual.default.svc.cluster.local."], "{ptr:?}");
    // Names that do not exist, and a name that exists without records of the type.
    let missing = ask(via_service, "nope.default.svc.cluster.local.", RecordType::A);
    assert_eq!(rcode(&missing), Some(ResponseCode::NXDomain), "{missing:?}");
    assert!(matches!(missing.as_ref().unwrap().authorities.first().map(|r| &r.data), Some(RData::SOA(_))), "{missing:?}");
    let nodata = ask(direct, "manual.default.svc.cluster.local.", RecordType::AAAA);
    assert_eq!((rcode(&nodata), data(&nodata).len()), (Some(ResponseCode::NoError), 0), "{nodata:?}");
    assert_eq!(data(&ask_tcp(direct, "manual.default.svc.cluster.local.", RecordType::A)), [manual_ip.as_str()], "over TCP");

    // From a pod, through the ClusterIP (pods reach it like any Service).
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: client}}\nspec:\n  nodeName: {}\n  containers: [{{name: c, image: ironkube.local/busybox, command: [sleep, '3600']}}]\n",
        c.node_name()
    );
    c.ok_with_input(&["apply", "-f", "-"], &pod);
    assert_eventually!(
        c.kubectl(&["get", "pod", "client", "-o", "jsonpath={.status.phase}"]).stdout == b"Running",
        "client never ran: {}",
        c.ok(&["describe", "pod", "client"])
    );
    let lookup = c.ok(&["exec", "client", "--", "nslookup", "manual.default.svc.cluster.local", &dns_ip]);
    assert!(lookup.contains(&format!("Address: {manual_ip}")), "{lookup}");
    // With no server named, through the resolv.conf the kubelet wrote.
    let lookup = c.ok(&["exec", "client", "--", "nslookup", "manual.default.svc.cluster.local"]);
    assert!(lookup.contains(&format!("Address: {manual_ip}")), "{lookup}");
    // Short names through the search path, as an application resolves them (libc's
    // resolver; busybox nslookup ignores `search`, ping does not). The ClusterIP does not
    // answer pings: only the resolved address is checked.
    for name in ["manual", "manual.default"] {
        let ping = c.ok(&["exec", "client", "--", "sh", "-c", &format!("ping -c 1 -W 1 {name} 2>&1; true")]);
        assert!(ping.contains(&format!("({manual_ip})")), "{name}: {ping}");
    }

    // A deleted Service is gone from DNS.
    c.ok(&["delete", "svc", "manual"]);
    assert_eventually!(
        rcode(&ask(direct, "manual.default.svc.cluster.local.", RecordType::A)) == Some(ResponseCode::NXDomain),
        "manual still answers: {:?}",
        ask(direct, "manual.default.svc.cluster.local.", RecordType::A)
    );

    // A restart listens on another free port; the same apply moves the endpoints there.
    c.restart();
    assert_eventually!(
        announced(&c).len() == 2 && dns_endpoint(&c) == announced(&c).last().copied(),
        "kube-dns points at {:?}, the server said {:?}",
        dns_endpoint(&c),
        announced(&c)
    );
    assert_eventually!(
        data(&ask(via_service, "db.default.svc.cluster.local.", RecordType::A)) == ["192.0.2.50"],
        "after a restart: {:?}",
        ask(via_service, "db.default.svc.cluster.local.", RecordType::A)
    );
}
