//! Answers one question from the cluster's Services, EndpointSlices and Namespaces, as
//! CoreDNS's `kubernetes` plugin does (`plugin/kubernetes/{parse,kubernetes,handler,
//! reverse}.go` and `plugin/backend_lookup.go`), which implements the Kubernetes
//! DNS-Based Service Discovery specification:
//!
//! - `<svc>.<ns>.svc.<zone>` A/AAAA: the ClusterIPs; for a headless Service (clusterIP
//!   `None`) each ready endpoint address (not-ready ones too when the Service has
//!   `publishNotReadyAddresses`).
//! - `<host>.<svc>.<ns>.svc.<zone>`: the endpoint whose `hostname` (or, without one, dashed
//!   address `10-244-1-5`) is `<host>`.
//! - `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV, and `<svc>.<ns>.svc.<zone>` SRV for every
//!   port; targets are the Service name (ClusterIP) or endpoint names (headless), with
//!   their addresses in the additional section.
//! - ExternalName Services: a CNAME (targets in the cluster resolved here, others by the
//!   caller: [`Answer::chase`]).
//! - `<a-b-c-d>.<ns>.pod.<zone>`: the address itself (CoreDNS `pods insecure`, kubeadm's
//!   setting).
//! - PTR of ClusterIPs and endpoint addresses; other reverse names are not ours.
//! - A name under the zone that does not exist: NXDOMAIN; one that exists without records
//!   of the asked type: NODATA (NOERROR, empty). Both carry the zone's SOA. `<ns>.svc.<zone>`
//!   exists when the Namespace does.
//!
//! Names compare case-insensitively; answers keep the case of the question.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

/// TTL of every record (CoreDNS `kubernetes` plugin default).
pub const TTL: u32 = 5;

/// The schema version `dns-version.<zone>` TXT answers (specification section 2.2).
const SCHEMA_VERSION: &str = "1.1.0";

/// The label EndpointSlices name their Service with.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// How deep CNAMEs to names in the cluster are followed (CoreDNS stops after 8).
const MAX_CNAME_CHAIN: usize = 8;

/// What the answers are computed from (the reflectors in `watch`, or test data).
pub trait Directory {
    /// Whether the objects below are a complete list yet (before that, names that do not
    /// exist answer SERVFAIL rather than NXDOMAIN, as CoreDNS does).
    fn synced(&self) -> bool;
    /// The SOA serial: when the data last changed (Unix seconds, as CoreDNS).
    fn serial(&self) -> u32;
    /// Whether the Namespace exists.
    fn namespace_exists(&self, namespace: &str) -> bool;
    /// The Service `namespace/name`.
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>>;
    /// Every Service.
    fn services(&self) -> Vec<Arc<Service>>;
    /// Every EndpointSlice.
    fn endpoint_slices(&self) -> Vec<Arc<EndpointSlice>>;
}

/// The zone served and the server's own address (for `ns.dns.<zone>` and the NS record).
#[derive(Clone, Debug)]
pub struct Zone {
    domain: Name,
    dns_ip: IpAddr,
}

impl Zone {
    /// The zone `domain` (e.g. `cluster.local`) served at `dns_ip`.
    pub fn new(domain: &str, dns_ip: IpAddr) -> Result<Zone, crate::Error> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        let domain = Name::from_ascii(&fqdn).map_err(|_| crate::Error::Domain(domain.to_string()))?.to_lowercase();
        if domain.is_root() {
            return Err(crate::Error::Domain(fqdn));
        }
        Ok(Zone { domain, dns_ip })
    }

    /// The zone's name (`cluster.local.`).
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    fn name(&self, relative: &str) -> Option<Name> {
        Name::from_ascii(format!("{relative}.{}", self.domain)).ok()
    }

    /// The SOA CoreDNS puts in every authoritative answer without records.
    fn soa(&self, serial: u32) -> Record {
        let mname = self.name("ns.dns").unwrap_or_else(|| self.domain.clone());
        let rname = self.name("hostmaster").unwrap_or_else(|| self.domain.clone());
        let soa = SOA::new(mname, rname, serial, 7200, 1800, 86400, TTL);
        Record::from_rdata(self.domain.clone(), TTL, RData::SOA(soa))
    }
}

/// What to do with a question.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// An authoritative answer from the cluster's data.
    Answer(Answer),
    /// Not a cluster name: ask the upstream nameservers.
    Forward,
    /// Zone transfers are refused (CoreDNS answers REFUSED too).
    Refused,
    /// The data is not synced yet (SERVFAIL).
    NotReady,
}

/// An authoritative answer.
#[derive(Debug, PartialEq)]
pub struct Answer {
    /// NOERROR (with or without records) or NXDOMAIN.
    pub rcode: ResponseCode,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section (the SOA when there are no answers).
    pub authorities: Vec<Record>,
    /// The additional section (SRV targets' addresses, the NS address).
    pub additionals: Vec<Record>,
    /// A CNAME target outside the cluster whose records of the asked type belong after the
    /// answers (an ExternalName Service asked for A/AAAA): the caller forwards it.
    pub chase: Option<Name>,
}

/// Answers `qname`/`qtype` from `directory`.
pub fn resolve(directory: &impl Directory, zone: &Zone, qname: &Name, qtype: RecordType) -> Outcome {
    let lower = qname.to_lowercase();
    if is_reverse(&lower) {
        return match qtype {
            RecordType::PTR => reverse(directory, zone, qname, &lower),
            _ => Outcome::Forward,
        };
    }
    if !zone.domain.zone_of(&lower) {
        return Outcome::Forward;
    }
    if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        return Outcome::Refused;
    }
    let Lookup { lookup: found, chase } = lookup(directory, zone, qname, &lower, qtype);
    let mut answer = match found {
        Ok(answer) => answer,
        Err(NoSuchName) if !directory.synced() => return Outcome::NotReady,
        Err(NoSuchName) => Answer { rcode: ResponseCode::NXDomain, answers: vec![], authorities: vec![], additionals: vec![], chase: None },
    };
    answer.chase = chase;
    if answer.answers.is_empty() && answer.chase.is_none() {
        answer.authorities.push(zone.soa(directory.serial()));
    }
    Outcome::Answer(answer)
}

/// The name does not exist (NXDOMAIN).
#[derive(Debug, PartialEq)]
struct NoSuchName;

struct Lookup {
    lookup: Result<Answer, NoSuchName>,
    chase: Option<Name>,
}

fn records(answers: Vec<Record>) -> Answer {
    Answer { rcode: ResponseCode::NoError, answers, authorities: vec![], additionals: vec![], chase: None }
}

/// Where an entry points: an address, or a name (ExternalName).
#[derive(Clone, Debug, PartialEq)]
enum Host {
    Ip(IpAddr),
    Name(Name),
}

/// One thing a name stands for (CoreDNS's `msg.Service`).
#[derive(Clone, Debug)]
struct Entry {
    host: Host,
    /// None where nothing declares a port (headless without ports).
    port: Option<u16>,
    /// The entry's own name: the SRV target.
    key: Name,
}

fn lookup(directory: &impl Directory, zone: &Zone, qname: &Name, lower: &Name, qtype: RecordType) -> Lookup {
    let done = |lookup| Lookup { lookup, chase: None };
    let apex = lower.num_labels() == zone.domain.num_labels();
    let relative = relative_labels(lower, zone);
    match qtype {
        RecordType::SOA if apex => return done(Ok(records(vec![zone.soa(directory.serial())]))),
        RecordType::NS if apex => {
            let Some(ns) = zone.name("ns.dns") else { return done(Ok(records(vec![]))) };
            let mut answer = records(vec![Record::from_rdata(qname.clone(), TTL, RData::NS(NS(ns.clone())))]);
            answer.additionals.push(address(ns, zone.dns_ip));
            return done(Ok(answer));
        }
        RecordType::TXT if relative == ["dns-version"] => {
            return done(Ok(records(vec![Record::from_rdata(qname.clone(), 28800, RData::TXT(TXT::new(vec![SCHEMA_VERSION.into()])))])));
        }
        _ => {}
    }
    if relative == ["ns", "dns"] {
        let answers = match (qtype, zone.dns_ip) {
            (RecordType::A, IpAddr::V4(_)) | (RecordType::AAAA, IpAddr::V6(_)) => vec![address(qname.clone(), zone.dns_ip)],
            _ => vec![],
        };
        return done(Ok(records(answers)));
    }
    let entries = match entries(directory, zone, &relative) {
        Ok(entries) => entries,
        Err(e) => return done(Err(e)),
    };
    match qtype {
        RecordType::A | RecordType::AAAA => addresses(directory, zone, qname, qtype, entries, 0),
        RecordType::SRV => done(Ok(srv(qname, entries))),
        RecordType::CNAME => {
            let answers = entries.into_iter().find_map(|e| match e.host {
                Host::Name(target) => Some(Record::from_rdata(qname.clone(), TTL, RData::CNAME(CNAME(target)))),
                Host::Ip(_) => None,
            });
            done(Ok(records(answers.into_iter().collect())))
        }
        // The name exists (the lookup found it): NODATA for every other type.
        _ => done(Ok(records(vec![]))),
    }
}

/// A and AAAA answers: addresses of the entries (deduplicated), CNAMEs for ExternalNames
/// followed inside the zone here and outside by the caller.
fn addresses(directory: &impl Directory, zone: &Zone, qname: &Name, qtype: RecordType, found: Vec<Entry>, depth: usize) -> Lookup {
    let mut answers = Vec::new();
    let mut seen = BTreeSet::new();
    let mut chase = None;
    for entry in found {
        match entry.host {
            Host::Ip(ip) => {
                let fits = matches!((qtype, ip), (RecordType::A, IpAddr::V4(_)) | (RecordType::AAAA, IpAddr::V6(_)));
                if fits && seen.insert(ip) {
                    answers.push(address(qname.clone(), ip));
                }
            }
            Host::Name(target) => {
                let cname = Record::from_rdata(qname.clone(), TTL, RData::CNAME(CNAME(target.clone())));
                let target_lower = target.to_lowercase();
                if target_lower == qname.to_lowercase() || depth >= MAX_CNAME_CHAIN {
                    continue;
                }
                if !zone.domain.zone_of(&target_lower) {
                    answers.push(cname);
                    chase = Some(target);
                    continue;
                }
                let inner = entries(directory, zone, &relative_labels(&target_lower, zone))
                    .map(|entries| addresses(directory, zone, &target, qtype, entries, depth + 1));
                if let Ok(Lookup { lookup: Ok(next), chase: next_chase }) = inner
                    && (!next.answers.is_empty() || next_chase.is_some())
                {
                    answers.push(cname);
                    answers.extend(next.answers);
                    chase = next_chase;
                }
            }
        }
    }
    Lookup { lookup: Ok(records(answers)), chase }
}

/// SRV answers with the targets' addresses as additionals; ExternalNames and entries
/// without a port have none. Weights share 100 between the records, as CoreDNS.
fn srv(qname: &Name, entries: Vec<Entry>) -> Answer {
    let entries: Vec<Entry> = entries.into_iter().filter(|e| matches!(e.host, Host::Ip(_))).collect();
    let weight = (100 / entries.len().max(1)).max(1) as u16;
    let mut answer = records(vec![]);
    let mut seen_srv = BTreeSet::new();
    let mut seen_address = BTreeSet::new();
    for entry in entries {
        let (Host::Ip(ip), Some(port)) = (entry.host, entry.port) else { continue };
        if seen_srv.insert((entry.key.to_ascii(), port)) {
            answer.answers.push(Record::from_rdata(qname.clone(), TTL, RData::SRV(SRV::new(0, weight, port, entry.key.clone()))));
        }
        if seen_address.insert((entry.key.to_ascii(), ip)) {
            answer.additionals.push(address(entry.key, ip));
        }
    }
    answer
}

fn address(name: Name, ip: IpAddr) -> Record {
    match ip {
        IpAddr::V4(v4) => Record::from_rdata(name, TTL, RData::A(A(v4))),
        IpAddr::V6(v6) => Record::from_rdata(name, TTL, RData::AAAA(AAAA(v6))),
    }
}

/// The labels of `lower` in front of the zone, leftmost first.
fn relative_labels(lower: &Name, zone: &Zone) -> Vec<String> {
    let own = lower.num_labels().saturating_sub(zone.domain.num_labels()) as usize;
    lower.iter().take(own).map(|label| String::from_utf8_lossy(label).into_owned()).collect()
}

/// A parsed `[endpoint|_port._proto].service.namespace.(svc|pod)` (CoreDNS `parseRequest`).
#[derive(Debug, Default, PartialEq)]
struct Request<'a> {
    kind: &'a str,
    namespace: Option<&'a str>,
    service: Option<&'a str>,
    endpoint: Option<&'a str>,
    port: Option<&'a str>,
    protocol: Option<&'a str>,
}

fn parse(labels: &[String]) -> Result<Request<'_>, NoSuchName> {
    let mut rest = labels.iter().rev().map(String::as_str);
    let Some(kind) = rest.next() else { return Ok(Request::default()) };
    if kind != "svc" && kind != "pod" {
        return Err(NoSuchName);
    }
    let namespace = rest.next();
    let service = rest.next();
    // Leftmost first again.
    let remaining: Vec<&str> = rest.rev().collect();
    let mut request = Request { kind, namespace, service, ..Request::default() };
    match remaining.as_slice() {
        [] => {}
        [endpoint] => request.endpoint = Some(endpoint),
        [port, protocol] => {
            request.port = Some(port.strip_prefix('_').unwrap_or(port));
            request.protocol = Some(protocol.strip_prefix('_').unwrap_or(protocol));
        }
        _ => return Err(NoSuchName),
    }
    Ok(request)
}

/// What the (lower-case) labels in front of the zone stand for; an empty list for names
/// that exist without records (the apex, `svc`, `<ns>.svc`).
fn entries(directory: &impl Directory, zone: &Zone, labels: &[String]) -> Result<Vec<Entry>, NoSuchName> {
    let request = parse(labels)?;
    let Some(namespace) = request.namespace else { return Ok(vec![]) };
    if !directory.namespace_exists(namespace) {
        return Err(NoSuchName);
    }
    let Some(name) = request.service else { return Ok(vec![]) };
    if request.kind == "pod" {
        return pod_entry(zone, namespace, name, &request);
    }
    let service = directory.service(namespace, name).ok_or(NoSuchName)?;
    let spec = service.spec.as_ref().ok_or(NoSuchName)?;
    let service_key = zone.name(&format!("{name}.{namespace}.svc")).ok_or(NoSuchName)?;
    if spec.type_.as_deref() == Some("ExternalName") {
        if request.endpoint.is_some() || request.port.is_some() {
            return Err(NoSuchName);
        }
        let target = spec.external_name.as_deref().filter(|n| n.parse::<IpAddr>().is_err()).ok_or(NoSuchName)?;
        let target = Name::from_ascii(format!("{}.", target.trim_end_matches('.'))).map_err(|_| NoSuchName)?;
        return Ok(vec![Entry { host: Host::Name(target), port: None, key: service_key }]);
    }
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let found = if headless || request.endpoint.is_some() {
        endpoint_entries(directory, zone, &service, &request)
    } else {
        cluster_ip_entries(&service, &request, &service_key)
    };
    if found.is_empty() { Err(NoSuchName) } else { Ok(found) }
}

/// `<dashed-ip>.<ns>.pod.<zone>`: the address itself.
fn pod_entry(zone: &Zone, namespace: &str, name: &str, request: &Request) -> Result<Vec<Entry>, NoSuchName> {
    if request.endpoint.is_some() || request.port.is_some() {
        return Err(NoSuchName);
    }
    let ip = match name.matches('-').count() == 3 && !name.contains("--") {
        true => name.replace('-', "."),
        false => name.replace('-', ":"),
    };
    let ip: IpAddr = ip.parse().map_err(|_| NoSuchName)?;
    let key = zone.name(&format!("{name}.{namespace}.pod")).ok_or(NoSuchName)?;
    Ok(vec![Entry { host: Host::Ip(ip), port: None, key }])
}

fn matches_port(request: &Request, name: &str, protocol: &str) -> bool {
    request.port.is_none_or(|p| p.eq_ignore_ascii_case(name)) && request.protocol.is_none_or(|p| p.eq_ignore_ascii_case(protocol))
}

fn cluster_ip_entries(service: &Service, request: &Request, key: &Name) -> Vec<Entry> {
    let Some(spec) = &service.spec else { return vec![] };
    let ips: Vec<IpAddr> = match &spec.cluster_ips {
        Some(ips) if !ips.is_empty() => ips.iter().filter_map(|ip| ip.parse().ok()).collect(),
        _ => spec.cluster_ip.iter().filter_map(|ip| ip.parse().ok()).collect(),
    };
    let mut found = Vec::new();
    for port in spec.ports.iter().flatten() {
        if !matches_port(request, port.name.as_deref().unwrap_or(""), port.protocol.as_deref().unwrap_or("TCP")) {
            continue;
        }
        found.extend(ips.iter().map(|ip| Entry { host: Host::Ip(*ip), port: u16::try_from(port.port).ok(), key: key.clone() }));
    }
    found
}

/// The name an endpoint has under its Service: its `hostname`, else its dashed address.
fn endpoint_hostname(hostname: Option<&str>, address: &str) -> String {
    if let Some(hostname) = hostname.filter(|h| !h.is_empty()) {
        return hostname.to_string();
    }
    if address.contains('.') {
        return address.replace('.', "-");
    }
    let dashed = address.replace(':', "-");
    if dashed.ends_with('-') { format!("{dashed}0") } else { dashed }
}

/// The addresses of the Service's slices that DNS publishes: ready ones (ready unset
/// counts as ready), and all when the Service has `publishNotReadyAddresses`; each with
/// its endpoint hostname.
fn published_addresses<'a>(service: &Service, slices: &'a [Arc<EndpointSlice>]) -> impl Iterator<Item = (&'a EndpointSlice, IpAddr, String)> {
    let publish_not_ready = service.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false);
    slices.iter().filter(|s| s.address_type != "FQDN").flat_map(move |slice| {
        slice.endpoints.iter().filter(move |e| publish_not_ready || e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true)).flat_map(move |endpoint| {
            endpoint.addresses.iter().filter_map(move |address| {
                let ip: IpAddr = address.parse().ok()?;
                Some((slice.as_ref(), ip, endpoint_hostname(endpoint.hostname.as_deref(), address)))
            })
        })
    })
}

fn slices_of(directory: &impl Directory, namespace: &str, service: &str) -> Vec<Arc<EndpointSlice>> {
    directory
        .endpoint_slices()
        .into_iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(namespace) && s.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)).map(String::as_str) == Some(service))
        .collect()
}

fn endpoint_entries(directory: &impl Directory, zone: &Zone, service: &Service, request: &Request) -> Vec<Entry> {
    let (Some(namespace), Some(name)) = (service.metadata.namespace.as_deref(), service.metadata.name.as_deref()) else { return vec![] };
    let slices = slices_of(directory, namespace, name);
    let mut found = Vec::new();
    for (slice, ip, hostname) in published_addresses(service, &slices) {
        if request.endpoint.is_some_and(|e| !e.eq_ignore_ascii_case(&hostname)) {
            continue;
        }
        let Some(key) = zone.name(&format!("{hostname}.{name}.{namespace}.svc")) else { continue };
        let ports = slice.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            // No ports: addresses only (CoreDNS's port -1 sentinel).
            if request.port.is_none() && request.protocol.is_none() {
                found.push(Entry { host: Host::Ip(ip), port: None, key: key.clone() });
            }
        }
        for port in ports {
            if matches_port(request, port.name.as_deref().unwrap_or(""), port.protocol.as_deref().unwrap_or("TCP")) {
                found.push(Entry { host: Host::Ip(ip), port: port.port.and_then(|p| u16::try_from(p).ok()), key: key.clone() });
            }
        }
    }
    found
}

fn is_reverse(lower: &Name) -> bool {
    let arpa = |zone: &str| Name::from_ascii(zone).is_ok_and(|z| z.zone_of(lower));
    arpa("in-addr.arpa.") || arpa("ip6.arpa.")
}

/// PTR for a ClusterIP (the Service's name) or else an endpoint address (its name under
/// each Service that lists it); addresses the cluster does not know go upstream
/// (kubeadm's Corefile: `fallthrough in-addr.arpa ip6.arpa`).
fn reverse(directory: &impl Directory, zone: &Zone, qname: &Name, lower: &Name) -> Outcome {
    let Ok(net) = lower.parse_arpa_name() else { return Outcome::Forward };
    let full = if net.addr().is_ipv4() { 32 } else { 128 };
    if net.prefix_len() != full {
        return Outcome::Forward;
    }
    let ip = net.addr();
    let ptr = |target: Name| Record::from_rdata(qname.clone(), TTL, RData::PTR(PTR(target)));
    for service in directory.services() {
        let Some(spec) = &service.spec else { continue };
        let mut ips = spec.cluster_ips.iter().flatten().chain(spec.cluster_ip.iter());
        if ips.any(|a| a.parse::<IpAddr>() == Ok(ip)) {
            let (Some(ns), Some(name)) = (service.metadata.namespace.as_deref(), service.metadata.name.as_deref()) else { continue };
            if let Some(target) = zone.name(&format!("{name}.{ns}.svc")) {
                return Outcome::Answer(records(vec![ptr(target)]));
            }
        }
    }
    let mut answers = Vec::new();
    let mut names = BTreeSet::new();
    for slice in directory.endpoint_slices() {
        let Some(ns) = slice.metadata.namespace.as_deref() else { continue };
        let Some(name) = slice.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)) else { continue };
        let Some(service) = directory.service(ns, name) else { continue };
        for (_, address, hostname) in published_addresses(&service, std::slice::from_ref(&slice)) {
            if address == ip
                && let Some(target) = zone.name(&format!("{hostname}.{name}.{ns}.svc"))
                && names.insert(target.to_ascii())
            {
                answers.push(ptr(target));
            }
        }
    }
    if answers.is_empty() { Outcome::Forward } else { Outcome::Answer(records(answers)) }
}

/// The fixture the tests of this crate answer from.
#[cfg(test)]
pub(crate) mod test_data {
    pub(crate) use crate::testing::{Data, service, slice, zone};
    use serde_json::json;

    /// default/web (ClusterIP, ports http/TCP and dns/UDP), default/db (headless: a ready
    /// endpoint with hostname db-0, one without hostname, one not ready), default/db-all
    /// (headless with publishNotReadyAddresses), default/ext (ExternalName),
    /// default/alias (ExternalName to web in the cluster), default/bare (headless, no ports).
    pub(crate) fn data() -> Data {
        let services = vec![
            service(json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]}})),
            service(json!({"metadata": {"name": "db", "namespace": "default"}, "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}})),
            service(json!({"metadata": {"name": "db-all", "namespace": "default"}, "spec": {"clusterIP": "None", "publishNotReadyAddresses": true, "ports": [{"name": "pg", "port": 5432}]}})),
            service(json!({"metadata": {"name": "ext", "namespace": "default"}, "spec": {"type": "ExternalName", "externalName": "example.com"}})),
            service(json!({"metadata": {"name": "alias", "namespace": "default"}, "spec": {"type": "ExternalName", "externalName": "web.default.svc.cluster.local"}})),
            service(json!({"metadata": {"name": "bare", "namespace": "default"}, "spec": {"clusterIP": "None"}})),
        ];
        let endpoints = json!([
            {"addresses": ["10.244.0.5"], "hostname": "db-0", "conditions": {"ready": true}},
            {"addresses": ["10.244.0.6"], "conditions": {}},
            {"addresses": ["10.244.0.7"], "hostname": "db-2", "conditions": {"ready": false}}
        ]);
        let slices = vec![
            slice(json!({"metadata": {"name": "db-x", "namespace": "default", "labels": {"kubernetes.io/service-name": "db"}}, "addressType": "IPv4",
                "endpoints": endpoints, "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]})),
            slice(json!({"metadata": {"name": "db-all-x", "namespace": "default", "labels": {"kubernetes.io/service-name": "db-all"}}, "addressType": "IPv4",
                "endpoints": endpoints, "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]})),
            slice(json!({"metadata": {"name": "bare-x", "namespace": "default", "labels": {"kubernetes.io/service-name": "bare"}}, "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.244.0.9"]}]})),
            slice(json!({"metadata": {"name": "web-x", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.244.0.11"], "conditions": {"ready": true}}], "ports": [{"name": "http", "port": 8080}]})),
        ];
        Data { namespaces: vec!["default", "kube-system", "empty"], services, slices, unsynced: false }
    }
}

#[cfg(test)]
mod tests {
    use super::test_data::*;
    use super::*;

    fn ask(data: &Data, name: &str, qtype: RecordType) -> Outcome {
        resolve(data, &zone(), &Name::from_ascii(name).unwrap(), qtype)
    }

    fn answer(data: &Data, name: &str, qtype: RecordType) -> Answer {
        match ask(data, name, qtype) {
            Outcome::Answer(answer) => answer,
            other => panic!("{name} {qtype}: {other:?}"),
        }
    }

    /// The answer section as `name type data` lines.
    fn lines(records: &[Record]) -> Vec<String> {
        records.iter().map(|r| format!("{} {} {}", r.name, r.record_type(), r.data)).collect()
    }

    fn assert_nodata(a: &Answer) {
        assert_eq!(a.rcode, ResponseCode::NoError);
        assert!(a.answers.is_empty(), "{:?}", lines(&a.answers));
        assert_soa(a);
    }

    fn assert_nxdomain(a: &Answer) {
        assert_eq!(a.rcode, ResponseCode::NXDomain);
        assert!(a.answers.is_empty());
        assert_soa(a);
    }

    fn assert_soa(a: &Answer) {
        assert_eq!(lines(&a.authorities), ["cluster.local. SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5"]);
        assert_eq!(a.authorities[0].ttl, TTL);
    }

    #[test]
    fn cluster_ip_service_answers_its_cluster_ip_whatever_the_case() {
        let d = data();
        let a = answer(&d, "web.default.svc.cluster.local.", RecordType::A);
        assert_eq!(lines(&a.answers), ["web.default.svc.cluster.local. A 10.96.0.20"]);
        assert_eq!(a.answers[0].ttl, 5);
        assert!(a.authorities.is_empty());
        let a = answer(&d, "WEB.Default.SVC.Cluster.Local.", RecordType::A);
        assert_eq!(lines(&a.answers), ["WEB.Default.SVC.Cluster.Local. A 10.96.0.20"], "the question's case is kept");
        assert_nodata(&answer(&d, "web.default.svc.cluster.local.", RecordType::AAAA));
        assert_nodata(&answer(&d, "web.default.svc.cluster.local.", RecordType::MX));
        assert_nodata(&answer(&d, "web.default.svc.cluster.local.", RecordType::TXT));
    }

    #[test]
    fn srv_per_named_port_and_for_every_port_at_the_service_name() {
        let d = data();
        let a = answer(&d, "_http._tcp.web.default.svc.cluster.local.", RecordType::SRV);
        assert_eq!(lines(&a.answers), ["_http._tcp.web.default.svc.cluster.local. SRV 0 100 80 web.default.svc.cluster.local."]);
        assert_eq!(lines(&a.additionals), ["web.default.svc.cluster.local. A 10.96.0.20"]);
        let a = answer(&d, "_DNS._UDP.web.default.svc.cluster.local.", RecordType::SRV);
        assert_eq!(lines(&a.answers), ["_DNS._UDP.web.default.svc.cluster.local. SRV 0 100 53 web.default.svc.cluster.local."]);
        let a = answer(&d, "web.default.svc.cluster.local.", RecordType::SRV);
        assert_eq!(
            lines(&a.answers),
            ["web.default.svc.cluster.local. SRV 0 50 80 web.default.svc.cluster.local.", "web.default.svc.cluster.local. SRV 0 50 53 web.default.svc.cluster.local."]
        );
        assert_eq!(lines(&a.additionals), ["web.default.svc.cluster.local. A 10.96.0.20"]);
        // A port the Service does not have, or the wrong protocol: no such name.
        assert_nxdomain(&answer(&d, "_https._tcp.web.default.svc.cluster.local.", RecordType::SRV));
        assert_nxdomain(&answer(&d, "_http._udp.web.default.svc.cluster.local.", RecordType::SRV));
        // The port name also gives the address (CoreDNS).
        assert_eq!(lines(&answer(&d, "_http._tcp.web.default.svc.cluster.local.", RecordType::A).answers), ["_http._tcp.web.default.svc.cluster.local. A 10.96.0.20"]);
    }

    #[test]
    fn headless_service_answers_ready_endpoints_and_not_ready_ones_only_when_published() {
        let d = data();
        let a = answer(&d, "db.default.svc.cluster.local.", RecordType::A);
        assert_eq!(lines(&a.answers), ["db.default.svc.cluster.local. A 10.244.0.5", "db.default.svc.cluster.local. A 10.244.0.6"]);
        let a = answer(&d, "db-all.default.svc.cluster.local.", RecordType::A);
        assert_eq!(lines(&a.answers), ["db-all.default.svc.cluster.local. A 10.244.0.5", "db-all.default.svc.cluster.local. A 10.244.0.6", "db-all.default.svc.cluster.local. A 10.244.0.7"]);
        // Without ports, addresses only.
        assert_eq!(lines(&answer(&d, "bare.default.svc.cluster.local.", RecordType::A).answers), ["bare.default.svc.cluster.local. A 10.244.0.9"]);
        assert_nodata(&answer(&d, "bare.default.svc.cluster.local.", RecordType::SRV));
        // A headless Service with no endpoints has no name yet (CoreDNS).
        let mut empty = data();
        empty.slices.clear();
        assert_nxdomain(&answer(&empty, "db.default.svc.cluster.local.", RecordType::A));
    }

    #[test]
    fn headless_srv_targets_endpoint_names() {
        let d = data();
        let a = answer(&d, "_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV);
        assert_eq!(
            lines(&a.answers),
            ["_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 db-0.db.default.svc.cluster.local.", "_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 10-244-0-6.db.default.svc.cluster.local."]
        );
        assert_eq!(lines(&a.additionals), ["db-0.db.default.svc.cluster.local. A 10.244.0.5", "10-244-0-6.db.default.svc.cluster.local. A 10.244.0.6"]);
    }

    #[test]
    fn endpoint_hostnames_and_dashed_addresses_resolve() {
        let d = data();
        assert_eq!(lines(&answer(&d, "db-0.db.default.svc.cluster.local.", RecordType::A).answers), ["db-0.db.default.svc.cluster.local. A 10.244.0.5"]);
        assert_eq!(lines(&answer(&d, "10-244-0-6.db.default.svc.cluster.local.", RecordType::A).answers), ["10-244-0-6.db.default.svc.cluster.local. A 10.244.0.6"]);
        // Not ready and not published: no name.
        assert_nxdomain(&answer(&d, "db-2.db.default.svc.cluster.local.", RecordType::A));
        assert_eq!(lines(&answer(&d, "db-2.db-all.default.svc.cluster.local.", RecordType::A).answers), ["db-2.db-all.default.svc.cluster.local. A 10.244.0.7"]);
        // A ClusterIP Service's endpoints have names too (CoreDNS).
        assert_eq!(lines(&answer(&d, "10-244-0-11.web.default.svc.cluster.local.", RecordType::A).answers), ["10-244-0-11.web.default.svc.cluster.local. A 10.244.0.11"]);
        assert_nxdomain(&answer(&d, "nobody.db.default.svc.cluster.local.", RecordType::A));
    }

    #[test]
    fn external_name_is_a_cname_chased_outside_and_followed_inside_the_cluster() {
        let d = data();
        let a = answer(&d, "ext.default.svc.cluster.local.", RecordType::CNAME);
        assert_eq!(lines(&a.answers), ["ext.default.svc.cluster.local. CNAME example.com."]);
        assert_eq!(a.chase, None);
        let a = answer(&d, "ext.default.svc.cluster.local.", RecordType::A);
        assert_eq!(lines(&a.answers), ["ext.default.svc.cluster.local. CNAME example.com."]);
        assert_eq!(a.chase, Some(Name::from_ascii("example.com.").unwrap()));
        assert!(a.authorities.is_empty());
        let a = answer(&d, "alias.default.svc.cluster.local.", RecordType::A);
        assert_eq!(lines(&a.answers), ["alias.default.svc.cluster.local. CNAME web.default.svc.cluster.local.", "web.default.svc.cluster.local. A 10.96.0.20"]);
        assert_eq!(a.chase, None);
        // No SRV and no port names for ExternalNames.
        assert_nodata(&answer(&d, "ext.default.svc.cluster.local.", RecordType::SRV));
        assert_nxdomain(&answer(&d, "_http._tcp.ext.default.svc.cluster.local.", RecordType::SRV));
        // CNAME asked of a ClusterIP Service: NODATA.
        assert_nodata(&answer(&d, "web.default.svc.cluster.local.", RecordType::CNAME));
    }

    #[test]
    fn missing_names_are_nxdomain_and_existing_levels_nodata() {
        let d = data();
        assert_nxdomain(&answer(&d, "nope.default.svc.cluster.local.", RecordType::A));
        assert_nxdomain(&answer(&d, "web.nons.svc.cluster.local.", RecordType::A));
        assert_nxdomain(&answer(&d, "web.default.other.cluster.local.", RecordType::A));
        assert_nxdomain(&answer(&d, "a.b.c.web.default.svc.cluster.local.", RecordType::A));
        // ndots:5 search-path expansions of outside names end here too.
        assert_nxdomain(&answer(&d, "example.com.default.svc.cluster.local.", RecordType::A));
        // The namespace level exists when the Namespace does, services or not.
        assert_nodata(&answer(&d, "default.svc.cluster.local.", RecordType::A));
        assert_nodata(&answer(&d, "empty.svc.cluster.local.", RecordType::A));
        assert_nxdomain(&answer(&d, "nons.svc.cluster.local.", RecordType::A));
        assert_nodata(&answer(&d, "svc.cluster.local.", RecordType::A));
        assert_nodata(&answer(&d, "cluster.local.", RecordType::A));
        // Before the first complete list, SERVFAIL rather than a wrong NXDOMAIN.
        let unsynced = Data { unsynced: true, ..data() };
        assert_eq!(ask(&unsynced, "nope.default.svc.cluster.local.", RecordType::A), Outcome::NotReady);
    }

    #[test]
    fn the_zone_apex_has_soa_ns_and_the_schema_version() {
        let d = data();
        let a = answer(&d, "cluster.local.", RecordType::SOA);
        assert_eq!(lines(&a.answers), ["cluster.local. SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5"]);
        let a = answer(&d, "cluster.local.", RecordType::NS);
        assert_eq!(lines(&a.answers), ["cluster.local. NS ns.dns.cluster.local."]);
        assert_eq!(lines(&a.additionals), ["ns.dns.cluster.local. A 10.96.0.10"]);
        assert_eq!(lines(&answer(&d, "ns.dns.cluster.local.", RecordType::A).answers), ["ns.dns.cluster.local. A 10.96.0.10"]);
        assert_eq!(lines(&answer(&d, "dns-version.cluster.local.", RecordType::TXT).answers), ["dns-version.cluster.local. TXT 1.1.0"]);
        assert_eq!(ask(&d, "cluster.local.", RecordType::AXFR), Outcome::Refused);
    }

    #[test]
    fn pod_names_are_their_dashed_address_in_an_existing_namespace() {
        let d = data();
        assert_eq!(lines(&answer(&d, "10-244-0-5.default.pod.cluster.local.", RecordType::A).answers), ["10-244-0-5.default.pod.cluster.local. A 10.244.0.5"]);
        assert_nxdomain(&answer(&d, "10-244-0-5.nons.pod.cluster.local.", RecordType::A));
        assert_nxdomain(&answer(&d, "not-an-ip.default.pod.cluster.local.", RecordType::A));
        assert_nodata(&answer(&d, "10-244-0-5.default.pod.cluster.local.", RecordType::AAAA));
    }

    #[test]
    fn ptr_for_cluster_ips_and_endpoints_others_forwarded() {
        let d = data();
        let a = answer(&d, "20.0.96.10.in-addr.arpa.", RecordType::PTR);
        assert_eq!(lines(&a.answers), ["20.0.96.10.in-addr.arpa. PTR web.default.svc.cluster.local."]);
        let a = answer(&d, "5.0.244.10.IN-ADDR.ARPA.", RecordType::PTR);
        assert_eq!(lines(&a.answers), ["5.0.244.10.IN-ADDR.ARPA. PTR db-0.db.default.svc.cluster.local.", "5.0.244.10.IN-ADDR.ARPA. PTR db-0.db-all.default.svc.cluster.local."]);
        assert_eq!(ask(&d, "7.0.244.10.in-addr.arpa.", RecordType::PTR), Outcome::Answer(records(vec![Record::from_rdata(
            Name::from_ascii("7.0.244.10.in-addr.arpa.").unwrap(),
            TTL,
            RData::PTR(PTR(Name::from_ascii("db-2.db-all.default.svc.cluster.local.").unwrap()))
        )])), "not ready: only under the Service that publishes it");
        assert_eq!(ask(&d, "8.8.8.8.in-addr.arpa.", RecordType::PTR), Outcome::Forward);
        assert_eq!(ask(&d, "0.96.10.in-addr.arpa.", RecordType::PTR), Outcome::Forward);
        assert_eq!(ask(&d, "20.0.96.10.in-addr.arpa.", RecordType::A), Outcome::Forward);
    }

    #[test]
    fn names_outside_the_zone_are_forwarded() {
        let d = data();
        assert_eq!(ask(&d, "example.com.", RecordType::A), Outcome::Forward);
        assert_eq!(ask(&d, "local.", RecordType::A), Outcome::Forward);
        assert_eq!(ask(&d, "xcluster.local.", RecordType::A), Outcome::Forward);
    }

    #[test]
    fn another_cluster_domain() {
        let d = data();
        let zone = Zone::new("Example.Internal.", "10.96.0.10".parse().unwrap()).unwrap();
        let a = resolve(&d, &zone, &Name::from_ascii("web.default.svc.example.internal.").unwrap(), RecordType::A);
        let Outcome::Answer(a) = a else { panic!("{a:?}") };
        assert_eq!(lines(&a.answers), ["web.default.svc.example.internal. A 10.96.0.20"]);
        assert_eq!(resolve(&d, &zone, &Name::from_ascii("web.default.svc.cluster.local.").unwrap(), RecordType::A), Outcome::Forward);
    }

    #[test]
    fn endpoint_hostname_of_ipv6_addresses() {
        assert_eq!(endpoint_hostname(None, "fd00::1"), "fd00--1");
        assert_eq!(endpoint_hostname(None, "fd00:1::"), "fd00-1--0");
        assert_eq!(endpoint_hostname(Some(""), "10.0.0.1"), "10-0-0-1");
        assert_eq!(endpoint_hostname(Some("web-0"), "10.0.0.1"), "web-0");
    }
}
