//! A pod's resolver and hostname: the CRI `DnsConfig` the runtime writes into the
//! sandbox's `/etc/resolv.conf`, from `spec.dnsPolicy`, `spec.dnsConfig`, the kubelet's
//! `--cluster-dns`/`--cluster-domain` and the host's `--resolv-conf`; and the sandbox
//! hostname (`spec.hostname`, `spec.subdomain`, `spec.setHostnameAsFQDN`).
//! Upstream: `pkg/kubelet/network/dns/dns.go` (`GetPodDNS`), `GeneratePodHostNameAndDomain`
//! in `kubelet_pods.go` and `GetNodenameForKernel` in `pkg/kubelet/util`.
//!
//! The decisions are pure ([`DnsSettings::pod_dns_from`]); only [`DnsSettings::for_pod`]
//! reads the host file. Warnings come back as data for the caller to record as events.

use crate::cri::api;
use ironkube_node_shared::resolv_conf;
pub use ironkube_node_shared::resolv_conf::{EmptyNameserver, Resolver};
use k8s_openapi::api::core::v1::{Pod, PodDNSConfigOption};
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;

/// Most nameservers a resolv.conf may list (glibc `MAXNS`; upstream `MaxDNSNameservers`).
pub const MAX_NAMESERVERS: usize = 3;
/// Most search domains (upstream `MaxDNSSearchPaths`, since ExpandedDNSConfig went GA).
pub const MAX_SEARCH_PATHS: usize = 32;
/// Most characters of the joined search line (upstream `MaxDNSSearchListChars`).
pub const MAX_SEARCH_LIST_CHARS: usize = 2048;
/// Longest single search domain (a DNS-1123 subdomain; glibc aborts on longer ones).
const MAX_SEARCH_PATH_CHARS: usize = 253;
/// Options of a cluster-DNS pod before its own `dnsConfig.options`.
const DEFAULT_OPTIONS: &[&str] = &["ndots:5"];
/// Longest host resolver file read (upstream `maxResolvConfLength`).
const MAX_RESOLV_CONF_BYTES: u64 = 10 << 20;
/// Longest pod hostname (a DNS label).
const HOSTNAME_MAX_CHARS: usize = 63;
/// Longest FQDN hostname (the kernel's nodename field holds 64 characters).
const FQDN_MAX_CHARS: usize = 64;

/// The kubelet's DNS settings (flags `--cluster-dns`, `--cluster-domain`, `--resolv-conf`).
#[derive(Clone, Debug, Default)]
pub struct DnsSettings {
    /// The cluster DNS servers; empty: `ClusterFirst` pods fall back to `Default`.
    pub cluster_dns: Vec<IpAddr>,
    /// The cluster domain (e.g. `cluster.local`); empty: no cluster search domains.
    pub cluster_domain: String,
    /// The host resolver file `Default` pods copy; None: such pods resolve through
    /// the node itself (`nameserver 127.0.0.1`, `search .`), as upstream with `--resolv-conf=""`.
    pub resolv_conf: Option<PathBuf>,
    /// The node's IP (an IPv6 node gets `::1` instead of `127.0.0.1` without a resolv.conf).
    pub node_ip: Option<IpAddr>,
}

/// Something worth a Warning event on the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The event reason (`MissingClusterDNS`, `DNSConfigForming`).
    pub reason: &'static str,
    /// The event message.
    pub message: String,
}

/// What the sandbox gets: hostname and resolver.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxDns {
    /// The sandbox hostname (empty for host-network pods: they keep the node's).
    pub hostname: String,
    /// The resolver the runtime writes into `/etc/resolv.conf`.
    pub config: api::DnsConfig,
    /// Warnings to record on the pod.
    pub warnings: Vec<Warning>,
}

/// Why a pod's sandbox cannot be configured (the sandbox is not created).
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The host resolver file cannot be read.
    #[error("open {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The host resolver file is larger than upstream reads.
    #[error("{}: the read limit is reached", .0.display())]
    TooLarge(PathBuf),
    /// The host resolver file has a `nameserver` line without an address.
    #[error(transparent)]
    EmptyNameserver(#[from] EmptyNameserver),
    /// `spec.setHostnameAsFQDN` asks for a hostname the kernel cannot hold.
    #[error("failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long ({FQDN_MAX_CHARS} characters is the max, {} characters requested)", fqdn.len())]
    FqdnTooLong {
        /// The FQDN asked for.
        fqdn: String,
    },
    /// The hostname is empty once truncated to a DNS label.
    #[error("hostname for pod {pod:?} was invalid: {hostname:?}")]
    InvalidHostname {
        /// The pod name.
        pod: String,
        /// The hostname.
        hostname: String,
    },
}

/// Appends what is not there yet.
fn append_unique(list: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    for item in more {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// How a pod resolves (upstream `podDNSType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    Cluster,
    Host,
    None,
}

fn policy(pod: &Pod) -> Policy {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    match spec.and_then(|s| s.dns_policy.as_deref()) {
        Some("None") => Policy::None,
        Some("ClusterFirstWithHostNet") => Policy::Cluster,
        Some("Default") => Policy::Host,
        // A host-network pod with ClusterFirst falls back to Default. An unknown policy
        // (the API server rejects those) is treated as ClusterFirst, as upstream.
        _ if host_network => Policy::Host,
        _ => Policy::Cluster,
    }
}

/// Merges `spec.dnsConfig` options: a pod option replaces the one of the same name.
fn merge_options(options: &mut Vec<String>, pod_options: &[PodDNSConfigOption]) {
    for o in pod_options {
        let name = o.name.clone().unwrap_or_default();
        let option = match o.value.as_deref() {
            Some(v) if !v.is_empty() => format!("{name}:{v}"),
            _ => name,
        };
        resolv_conf::set_option(options, option);
    }
}

/// Keeps at most [`MAX_NAMESERVERS`]; the warning says what was applied.
fn fit_nameservers(servers: &mut Vec<String>, warnings: &mut Vec<Warning>) {
    if servers.len() > MAX_NAMESERVERS {
        servers.truncate(MAX_NAMESERVERS);
        let message = format!("Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}", servers.join(" "));
        warnings.push(Warning { reason: "DNSConfigForming", message });
    }
}

/// Keeps at most [`MAX_SEARCH_PATHS`] domains, drops any longer than 253 characters and
/// then cuts domains from the end until the line fits [`MAX_SEARCH_LIST_CHARS`].
fn fit_searches(searches: &mut Vec<String>, warnings: &mut Vec<Warning>) {
    let mut exceeded = false;
    if searches.len() > MAX_SEARCH_PATHS {
        searches.truncate(MAX_SEARCH_PATHS);
        exceeded = true;
    }
    let before = searches.len();
    searches.retain(|s| s.len() <= MAX_SEARCH_PATH_CHARS);
    exceeded |= searches.len() != before;
    let line_len = |s: &[String]| s.iter().map(String::len).sum::<usize>() + s.len().saturating_sub(1);
    if line_len(searches) > MAX_SEARCH_LIST_CHARS {
        while line_len(searches) > MAX_SEARCH_LIST_CHARS {
            searches.pop();
        }
        exceeded = true;
    }
    if exceeded {
        let message = format!("Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}", searches.join(" "));
        warnings.push(Warning { reason: "DNSConfigForming", message });
    }
}

impl DnsSettings {
    /// The host resolver (empty without a `--resolv-conf`).
    pub fn host_resolver(&self) -> Result<Resolver, DnsError> {
        let Some(path) = &self.resolv_conf else { return Ok(Resolver::default()) };
        let read_error = |source| DnsError::Read { path: path.clone(), source };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut text = String::new();
        file.take(MAX_RESOLV_CONF_BYTES + 1).read_to_string(&mut text).map_err(read_error)?;
        if text.len() as u64 > MAX_RESOLV_CONF_BYTES {
            return Err(DnsError::TooLarge(path.clone()));
        }
        Ok(resolv_conf::parse(&text)?)
    }

    /// What is wrong with the host resolver file for pods, checked once at start (upstream
    /// `CheckLimitsForResolvConf`, which records it as a Node event every 30 s).
    pub fn host_file_problem(&self) -> Option<String> {
        let path = self.resolv_conf.as_ref()?;
        let searches = match self.host_resolver() {
            Ok(r) => r.searches,
            Err(e) => return Some(e.to_string()),
        };
        let path = path.display();
        // The cluster's three search domains come first.
        let domains = MAX_SEARCH_PATHS - if self.cluster_domain.is_empty() { 0 } else { 3 };
        if searches.len() > domains {
            return Some(format!("Resolv.conf file '{path}' contains search line consisting of more than {domains} domains!"));
        }
        if searches.iter().any(|s| s.len() > MAX_SEARCH_PATH_CHARS) {
            return Some(format!("Resolv.conf file \"{path}\" contains a search path which length is more than allowed {MAX_SEARCH_PATH_CHARS} chars!"));
        }
        if searches.join(" ").len() > MAX_SEARCH_LIST_CHARS {
            return Some(format!("Resolv.conf file '{path}' contains search line which length is more than allowed {MAX_SEARCH_LIST_CHARS} chars!"));
        }
        None
    }

    /// The sandbox hostname and resolver of `pod`, reading the host resolver file.
    pub fn for_pod(&self, pod: &Pod) -> Result<SandboxDns, DnsError> {
        let host = self.host_resolver()?;
        let (config, warnings) = self.pod_dns_from(&host, pod);
        Ok(SandboxDns { hostname: self.hostname(pod)?, config, warnings })
    }

    /// The resolver of `pod` given the host's (upstream `GetPodDNS`).
    pub fn pod_dns_from(&self, host: &Resolver, pod: &Pod) -> (api::DnsConfig, Vec<Warning>) {
        let mut warnings = Vec::new();
        let mut config = api::DnsConfig { servers: host.nameservers.clone(), searches: host.searches.clone(), options: host.options.clone() };
        let mut policy = policy(pod);
        if policy == Policy::Cluster && self.cluster_dns.is_empty() {
            let (ns, name, uid) = super::runtime_config::names(pod);
            let message = "kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.";
            warnings.push(Warning { reason: "MissingClusterDNS", message: format!("pod: \"{name}_{ns}({uid})\". {message}") });
            policy = Policy::Host;
        }
        match policy {
            Policy::None => config = api::DnsConfig::default(),
            // The cluster DNS servers are the only ones: they forward what is not theirs.
            Policy::Cluster => {
                config.servers = self.cluster_dns.iter().map(IpAddr::to_string).collect();
                config.searches = self.cluster_searches(pod, &host.searches);
                config.options = DEFAULT_OPTIONS.iter().map(|o| o.to_string()).collect();
            }
            // Without a host file: resolve through the node itself, search nothing.
            Policy::Host if self.resolv_conf.is_none() => {
                let local = match self.node_ip {
                    Some(IpAddr::V6(_)) => "::1",
                    _ => "127.0.0.1",
                };
                config.servers.push(local.into());
                config.searches = vec![".".into()];
            }
            Policy::Host => {}
        }
        if let Some(extra) = pod.spec.as_ref().and_then(|s| s.dns_config.as_ref()) {
            append_unique(&mut config.servers, extra.nameservers.clone().unwrap_or_default());
            append_unique(&mut config.searches, extra.searches.clone().unwrap_or_default());
            merge_options(&mut config.options, extra.options.as_deref().unwrap_or_default());
        }
        fit_nameservers(&mut config.servers, &mut warnings);
        fit_searches(&mut config.searches, &mut warnings);
        (config, warnings)
    }

    /// `<ns>.svc.<domain> svc.<domain> <domain>`, then the host's, without repeats.
    fn cluster_searches(&self, pod: &Pod, host: &[String]) -> Vec<String> {
        if self.cluster_domain.is_empty() {
            return host.to_vec();
        }
        let (ns, _, _) = super::runtime_config::names(pod);
        let domain = &self.cluster_domain;
        let mut searches = vec![format!("{ns}.svc.{domain}"), format!("svc.{domain}"), domain.clone()];
        append_unique(&mut searches, host.iter().cloned());
        searches
    }

    /// The pod's hostname and domain (upstream `GeneratePodHostNameAndDomain`):
    /// `spec.hostname` or the pod name, cut to 63 characters, and
    /// `<subdomain>.<ns>.svc.<domain>` when the pod has a subdomain.
    pub fn hostname_and_domain(&self, pod: &Pod) -> Result<(String, Option<String>), DnsError> {
        let spec = pod.spec.as_ref();
        let (ns, pod_name, _) = super::runtime_config::names(pod);
        let wanted = spec.and_then(|s| s.hostname.as_deref()).filter(|h| !h.is_empty()).unwrap_or(&pod_name);
        let hostname = if wanted.len() > HOSTNAME_MAX_CHARS { wanted[..HOSTNAME_MAX_CHARS].trim_end_matches(['-', '.']) } else { wanted }.to_string();
        if hostname.is_empty() {
            return Err(DnsError::InvalidHostname { pod: pod_name, hostname });
        }
        let domain = spec.and_then(|s| s.subdomain.as_deref()).filter(|s| !s.is_empty()).map(|subdomain| format!("{subdomain}.{ns}.svc.{}", self.cluster_domain));
        Ok((hostname, domain))
    }

    /// The sandbox hostname: [`Self::hostname_and_domain`]'s hostname, or
    /// `<hostname>.<domain>` with `setHostnameAsFQDN`; empty for host-network pods (they
    /// keep the node's).
    pub fn hostname(&self, pod: &Pod) -> Result<String, DnsError> {
        let spec = pod.spec.as_ref();
        if spec.and_then(|s| s.host_network) == Some(true) {
            return Ok(String::new());
        }
        match self.hostname_and_domain(pod)? {
            (hostname, Some(domain)) if spec.and_then(|s| s.set_hostname_as_fqdn) == Some(true) => {
                let fqdn = format!("{hostname}.{domain}");
                if fqdn.len() > FQDN_MAX_CHARS {
                    return Err(DnsError::FqdnTooLong { fqdn });
                }
                Ok(fqdn)
            }
            (hostname, _) => Ok(hostname),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodDNSConfig, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const CLUSTER_NS: &str = "10.0.0.10";

    fn settings() -> DnsSettings {
        DnsSettings {
            cluster_dns: vec![CLUSTER_NS.parse().unwrap()],
            cluster_domain: "kubernetes.io".into(),
            resolv_conf: Some("/unused".into()),
            node_ip: None,
        }
    }

    fn host() -> Resolver {
        Resolver { nameservers: vec!["8.8.8.8".into()], searches: vec!["host.domain".into()], options: vec![] }
    }

    fn pod(policy: Option<&str>, host_network: bool, dns_config: Option<PodDNSConfig>) -> Pod {
        Pod {
            metadata: ObjectMeta { name: Some("p".into()), namespace: Some("testns".into()), uid: Some("u1".into()), ..Default::default() },
            spec: Some(PodSpec { dns_policy: policy.map(str::to_string), host_network: Some(host_network), dns_config, ..Default::default() }),
            ..Default::default()
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn option(name: &str, value: Option<&str>) -> PodDNSConfigOption {
        PodDNSConfigOption { name: Some(name.into()), value: value.map(str::to_string) }
    }

    /// ndots:3 and debug on my.domain with one more nameserver.
    fn custom() -> PodDNSConfig {
        PodDNSConfig {
            nameservers: Some(strings(&["10.0.0.11"])),
            searches: Some(strings(&["my.domain"])),
            options: Some(vec![option("ndots", Some("3")), option("debug", None)]),
        }
    }

    fn dns(s: &DnsSettings, pod: &Pod) -> api::DnsConfig {
        let (config, warnings) = s.pod_dns_from(&host(), pod);
        assert!(warnings.is_empty(), "{warnings:?}");
        config
    }

    #[test]
    fn policies() {
        let s = settings();
        let cluster = api::DnsConfig {
            servers: strings(&[CLUSTER_NS]),
            searches: strings(&["testns.svc.kubernetes.io", "svc.kubernetes.io", "kubernetes.io", "host.domain"]),
            options: strings(&["ndots:5"]),
        };
        let default = api::DnsConfig { servers: strings(&["8.8.8.8"]), searches: strings(&["host.domain"]), options: vec![] };
        // An unset policy is the API default, ClusterFirst.
        assert_eq!(dns(&s, &pod(None, false, None)), cluster);
        assert_eq!(dns(&s, &pod(Some("ClusterFirst"), false, None)), cluster);
        assert_eq!(dns(&s, &pod(Some("ClusterFirstWithHostNet"), true, None)), cluster);
        assert_eq!(dns(&s, &pod(Some("ClusterFirstWithHostNet"), false, None)), cluster);
        assert_eq!(dns(&s, &pod(Some("invalidPolicy"), false, None)), cluster);
        assert_eq!(dns(&s, &pod(Some("ClusterFirst"), true, None)), default, "host network falls back to Default");
        assert_eq!(dns(&s, &pod(Some("Default"), false, None)), default);
        assert_eq!(dns(&s, &pod(Some("Default"), true, None)), default);
        assert_eq!(dns(&s, &pod(Some("None"), false, None)), api::DnsConfig::default());
    }

    #[test]
    fn host_searches_follow_the_cluster_ones_once() {
        let s = settings();
        let host = Resolver { nameservers: vec!["8.8.8.8".into()], searches: strings(&["kubernetes.io", "corp"]), options: strings(&["attempts:2"]) };
        let (config, _) = s.pod_dns_from(&host, &pod(None, false, None));
        assert_eq!(config.searches, strings(&["testns.svc.kubernetes.io", "svc.kubernetes.io", "kubernetes.io", "corp"]));
        assert_eq!(config.options, strings(&["ndots:5"]), "the host's options are not a cluster pod's");
        let no_domain = DnsSettings { cluster_domain: String::new(), ..settings() };
        assert_eq!(no_domain.pod_dns_from(&host, &pod(None, false, None)).0.searches, strings(&["kubernetes.io", "corp"]));
    }

    #[test]
    fn dns_config_merges_into_every_policy() {
        let s = settings();
        let cases = [
            (Some("None"), false, &["10.0.0.11"][..], &["my.domain"][..]),
            (Some("ClusterFirst"), false, &[CLUSTER_NS, "10.0.0.11"], &["testns.svc.kubernetes.io", "svc.kubernetes.io", "kubernetes.io", "host.domain", "my.domain"]),
            (Some("ClusterFirstWithHostNet"), true, &[CLUSTER_NS, "10.0.0.11"], &["testns.svc.kubernetes.io", "svc.kubernetes.io", "kubernetes.io", "host.domain", "my.domain"]),
            (Some("Default"), false, &["8.8.8.8", "10.0.0.11"], &["host.domain", "my.domain"]),
        ];
        for (policy, host_network, servers, searches) in cases {
            let config = dns(&s, &pod(policy, host_network, Some(custom())));
            assert_eq!(config.servers, strings(servers), "{policy:?}");
            assert_eq!(config.searches, strings(searches), "{policy:?}");
            assert_eq!(config.options, strings(&["ndots:3", "debug"]), "{policy:?}");
        }
        // Repeats of what the policy gave are dropped.
        let repeat = PodDNSConfig { nameservers: Some(strings(&[CLUSTER_NS])), searches: Some(strings(&["svc.kubernetes.io"])), options: None };
        let config = dns(&s, &pod(None, false, Some(repeat)));
        assert_eq!(config.servers, strings(&[CLUSTER_NS]));
        assert_eq!(config.searches.len(), 4);
    }

    #[test]
    fn options_merge_by_name() {
        let mut options = strings(&["ndots:5", "debug"]);
        merge_options(&mut options, &[]);
        assert_eq!(options, strings(&["ndots:5", "debug"]));
        merge_options(&mut options, &[option("single-request", None), option("attempts", Some("3"))]);
        assert_eq!(options, strings(&["ndots:5", "debug", "single-request", "attempts:3"]));
        merge_options(&mut options, &[option("ndots", Some("3")), option("debug", None), option("attempts", Some(""))]);
        assert_eq!(options, strings(&["ndots:3", "debug", "single-request", "attempts"]));
    }

    #[test]
    fn without_cluster_dns_cluster_first_falls_back_with_a_warning() {
        let s = DnsSettings { cluster_dns: vec![], ..settings() };
        let (config, warnings) = s.pod_dns_from(&host(), &pod(Some("ClusterFirst"), false, None));
        assert_eq!(config, api::DnsConfig { servers: strings(&["8.8.8.8"]), searches: strings(&["host.domain"]), options: vec![] });
        assert_eq!(
            warnings,
            [Warning {
                reason: "MissingClusterDNS",
                message: "pod: \"p_testns(u1)\". kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.".into()
            }]
        );
        // Default and None never needed it.
        assert!(s.pod_dns_from(&host(), &pod(Some("Default"), false, None)).1.is_empty());
        assert!(s.pod_dns_from(&host(), &pod(Some("None"), false, Some(custom()))).1.is_empty());
    }

    #[test]
    fn without_a_host_file_default_pods_resolve_through_the_node() {
        let s = DnsSettings { resolv_conf: None, ..settings() };
        let host = s.host_resolver().unwrap();
        assert_eq!(host, Resolver::default());
        let local = api::DnsConfig { servers: strings(&["127.0.0.1"]), searches: strings(&["."]), options: vec![] };
        assert_eq!(s.pod_dns_from(&host, &pod(Some("Default"), false, None)).0, local);
        assert_eq!(s.pod_dns_from(&host, &pod(Some("ClusterFirst"), true, None)).0, local);
        let cluster = s.pod_dns_from(&host, &pod(Some("ClusterFirstWithHostNet"), true, None)).0;
        assert_eq!(cluster.servers, strings(&[CLUSTER_NS]));
        assert_eq!(cluster.searches, strings(&["testns.svc.kubernetes.io", "svc.kubernetes.io", "kubernetes.io"]));
        let v6 = DnsSettings { node_ip: Some("fd00::1".parse().unwrap()), ..s };
        assert_eq!(v6.pod_dns_from(&host, &pod(Some("Default"), false, None)).0.servers, strings(&["::1"]));
    }

    #[test]
    fn nameservers_are_cut_to_three() {
        let mut warnings = vec![];
        let mut servers = strings(&["127.0.0.1", "10.0.0.10", "8.8.8.8"]);
        fit_nameservers(&mut servers, &mut warnings);
        assert_eq!((servers.len(), warnings.len()), (3, 0));
        servers.push("1.2.3.4".into());
        fit_nameservers(&mut servers, &mut warnings);
        assert_eq!(servers, strings(&["127.0.0.1", "10.0.0.10", "8.8.8.8"]));
        assert_eq!(warnings[0].message, "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 127.0.0.1 10.0.0.10 8.8.8.8");
        // Through a pod: the cluster server plus three of its own.
        let four = PodDNSConfig { nameservers: Some(strings(&["1.1.1.1", "2.2.2.2", "3.3.3.3"])), ..Default::default() };
        let (config, warnings) = settings().pod_dns_from(&host(), &pod(None, false, Some(four)));
        assert_eq!(config.servers, strings(&[CLUSTER_NS, "1.1.1.1", "2.2.2.2"]));
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].reason, "DNSConfigForming");
    }

    #[test]
    fn search_line_limits() {
        let fit = |list: Vec<String>| {
            let mut list = list;
            let mut warnings = vec![];
            fit_searches(&mut list, &mut warnings);
            (list, warnings.into_iter().map(|w| w.message).collect::<Vec<_>>())
        };
        let base = strings(&["testNS.svc.TEST", "svc.TEST", "TEST", "AAA", "BBB"]);
        assert_eq!(fit(base.clone()), (base.clone(), vec![]));
        // A domain over 253 characters is dropped.
        let mut long = base[..4].to_vec();
        long.extend([("B".repeat(256)), "BBB".into()]);
        assert_eq!(fit(long), (base.clone(), vec!["Search Line limits were exceeded, some search paths have been omitted, the applied search line is: testNS.svc.TEST svc.TEST TEST AAA BBB".to_string()]));
        // 32 domains fit, the 33rd goes.
        let mut many = base[..3].to_vec();
        many.extend((4..=32).map(|i| i.to_string()));
        assert_eq!(fit(many.clone()).0.len(), 32);
        assert!(fit(many.clone()).1.is_empty());
        many.push("33".into());
        let (cut, warnings) = fit(many);
        assert_eq!(cut.last().map(String::as_str), Some("32"));
        assert_eq!(warnings.len(), 1);
        // 2048 characters fit (128 + 15 × 127 + 15 spaces); one more domain does not.
        let mut chars_2048 = vec!["A".repeat(128)];
        chars_2048.extend(std::iter::repeat_n("A".repeat(127), 15));
        assert_eq!(fit(chars_2048.clone()), (chars_2048.clone(), vec![]));
        let mut over = chars_2048.clone();
        over.push("B".into());
        let (cut, warnings) = fit(over);
        assert_eq!(cut, chars_2048);
        assert_eq!(warnings, [format!("Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}", chars_2048.join(" "))]);
    }

    #[test]
    fn hostnames() {
        let s = settings();
        let mut p = pod(None, false, None);
        assert_eq!(s.hostname(&p).unwrap(), "p");
        let spec = p.spec.as_mut().unwrap();
        spec.hostname = Some("web-0".into());
        spec.subdomain = Some("web".into());
        assert_eq!(s.hostname(&p).unwrap(), "web-0", "a subdomain alone leaves the hostname short");
        p.spec.as_mut().unwrap().set_hostname_as_fqdn = Some(true);
        assert_eq!(s.hostname(&p).unwrap(), "web-0.web.testns.svc.kubernetes.io");
        p.spec.as_mut().unwrap().subdomain = Some("a".repeat(40));
        assert!(matches!(s.hostname(&p), Err(DnsError::FqdnTooLong { .. })));
        p.spec.as_mut().unwrap().host_network = Some(true);
        assert_eq!(s.hostname(&p).unwrap(), "", "host-network pods keep the node's hostname");
        // A long pod name is cut to 63 characters without a trailing '-' or '.'.
        let mut long = pod(None, false, None);
        long.metadata.name = Some(format!("{}-{}", "a".repeat(62), "b".repeat(10)));
        assert_eq!(s.hostname(&long).unwrap(), "a".repeat(62));
    }

    #[test]
    fn host_file_problems() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        let s = DnsSettings { resolv_conf: Some(path.clone()), ..settings() };
        let problem = |text: &str| {
            std::fs::write(&path, text).unwrap();
            s.host_file_problem()
        };
        assert_eq!(problem("nameserver 8.8.8.8\nsearch a b\n"), None);
        let p = path.display();
        let many: Vec<String> = (0..30).map(|i| i.to_string()).collect();
        assert_eq!(problem(&format!("search {}", many.join(" "))), Some(format!("Resolv.conf file '{p}' contains search line consisting of more than 29 domains!")));
        assert_eq!(problem(&format!("search {}", "a".repeat(254))), Some(format!("Resolv.conf file \"{p}\" contains a search path which length is more than allowed 253 chars!")));
        let wide: Vec<String> = (0..9).map(|_| "b".repeat(250)).collect();
        assert_eq!(problem(&format!("search {}", wide.join(" "))), Some(format!("Resolv.conf file '{p}' contains search line which length is more than allowed 2048 chars!")));
        assert!(problem("nameserver\n").is_some());
        std::fs::remove_file(&path).unwrap();
        assert!(s.host_file_problem().unwrap().starts_with("open "));
        assert_eq!(DnsSettings { resolv_conf: None, ..settings() }.host_file_problem(), None);
    }

    #[test]
    fn reads_the_host_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 8.8.8.8\nsearch host.domain\n").unwrap();
        let s = DnsSettings { resolv_conf: Some(path.clone()), ..settings() };
        let sandbox = s.for_pod(&pod(Some("Default"), false, None)).unwrap();
        assert_eq!(sandbox.config.servers, strings(&["8.8.8.8"]));
        assert_eq!(sandbox.hostname, "p");
        let missing = DnsSettings { resolv_conf: Some(dir.path().join("none")), ..settings() };
        let e = missing.for_pod(&pod(None, false, None)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("open {}/none: ", dir.path().display())), "{e}");
    }
}
