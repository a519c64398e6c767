//! Container environment: `env` (values, `$(VAR)` expansion, configMapKeyRef,
//! secretKeyRef, fieldRef, resourceFieldRef) and `envFrom`, as upstream
//! `kubelet_pods.go` `makeEnvironmentVariables` resolves them.

use crate::cri::api::KeyValue;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use kube::{Api, Client};
use std::collections::BTreeMap;

/// Why a container's config could not be made (`CreateContainerConfigError`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

async fn config_map(client: &Client, ns: &str, name: &str) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = api.get_opt(name).await.map_err(|e| ConfigError(e.to_string()))?;
    Ok(cm.map(|c| c.data.unwrap_or_default()))
}

async fn secret(client: &Client, ns: &str, name: &str) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let s = api.get_opt(name).await.map_err(|e| ConfigError(e.to_string()))?;
    Ok(s.map(|s| {
        let mut out: BTreeMap<String, String> = s.string_data.unwrap_or_default();
        for (k, v) in s.data.unwrap_or_default() {
            out.insert(k, String::from_utf8_lossy(&v.0).into_owned());
        }
        out
    }))
}

/// `fieldRef` values the downward API offers.
pub fn field_value(pod: &Pod, path: &str, host_ip: &str, pod_ip: &str) -> Option<String> {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let quoted_key = |prefix: &str| path.strip_prefix(prefix).and_then(|r| r.strip_prefix("['")).and_then(|r| r.strip_suffix("']")).map(str::to_string);
    Some(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "metadata.labels" => format_map(m.labels.as_ref()),
        "metadata.annotations" => format_map(m.annotations.as_ref()),
        _ => {
            if let Some(k) = quoted_key("metadata.labels") {
                m.labels.as_ref().and_then(|l| l.get(&k).cloned()).unwrap_or_default()
            } else if let Some(k) = quoted_key("metadata.annotations") {
                m.annotations.as_ref().and_then(|l| l.get(&k).cloned()).unwrap_or_default()
            } else {
                return None;
            }
        }
    })
}

/// `key="value"` lines, as the downward API writes label and annotation maps.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.map(|m| m.iter().map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default())).collect::<Vec<_>>().join("\n")).unwrap_or_default()
}

/// `resourceFieldRef` (limits/requests of cpu and memory with the divisor).
pub fn resource_value(c: &Container, resource: &str, divisor: Option<&str>) -> Option<String> {
    let res = c.resources.clone().unwrap_or_default();
    let (kind, name) = resource.split_once('.')?;
    let map = if kind == "limits" { res.limits } else { res.requests.or(res.limits.clone()) };
    // Exact nano-units, so `0.1` / `1m` is exactly 100 (upstream divides MilliValue or Value).
    let value = map.and_then(|m| m.get(name).and_then(|q| ironkube_quantity::nanos(&q.0)));
    const NANOS: i128 = 1_000_000_000;
    let value = match (value, name) {
        (Some(v), _) => v,
        // Unset limits report the node's allocatable; a large value keeps programs working.
        (None, "cpu") => std::thread::available_parallelism().map_or(1, |n| n.get() as i128) * NANOS,
        (None, "memory") => (1i128 << 40) * NANOS,
        (None, _) => 0,
    };
    let divisor = divisor.and_then(ironkube_quantity::nanos).filter(|d| *d > 0).unwrap_or(NANOS);
    Some(ironkube_quantity::divide_up(value, divisor).to_string())
}

/// Expands `$(VAR)` references against earlier variables; `$$` escapes.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        if let Some(t) = tail.strip_prefix('$') {
            out.push('$');
            rest = t;
        } else if let Some(t) = tail.strip_prefix('(') {
            match t.find(')') {
                Some(end) => {
                    let name = &t[..end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => out.push_str(&format!("$({name})")),
                    }
                    rest = &t[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = t;
                }
            }
        } else {
            out.push('$');
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// `NAME_SERVICE_HOST`, `NAME_SERVICE_PORT[_PORTNAME]` and the Docker-link variables
/// (`NAME_PORT`, `NAME_PORT_80_TCP[_PROTO|_PORT|_ADDR]`) of `services`, as upstream
/// `pkg/kubelet/envvars` `FromServices` makes them.
pub fn service_variables<'a>(services: impl IntoIterator<Item = &'a Service>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for svc in services {
        let Some(spec) = svc.spec.as_ref() else { continue };
        let ip = match spec.cluster_ip.as_deref() {
            Some(ip) if !ip.is_empty() && ip != "None" => ip,
            _ => continue,
        };
        let ports = spec.ports.as_deref().unwrap_or_default();
        let Some(first) = ports.first() else { continue };
        let prefix = env_name(svc.metadata.name.as_deref().unwrap_or_default());
        out.insert(format!("{prefix}_SERVICE_HOST"), ip.to_string());
        out.insert(format!("{prefix}_SERVICE_PORT"), first.port.to_string());
        for (i, p) in ports.iter().enumerate() {
            if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.insert(format!("{prefix}_SERVICE_PORT_{}", env_name(name)), p.port.to_string());
            }
            let protocol = p.protocol.as_deref().unwrap_or("TCP").to_lowercase();
            let url = format!("{protocol}://{ip}:{}", p.port);
            if i == 0 {
                out.insert(format!("{prefix}_PORT"), url.clone());
            }
            let port_prefix = format!("{prefix}_PORT_{}_{}", p.port, protocol.to_uppercase());
            out.insert(format!("{port_prefix}_PROTO"), protocol);
            out.insert(format!("{port_prefix}_PORT"), p.port.to_string());
            out.insert(format!("{port_prefix}_ADDR"), ip.to_string());
            out.insert(port_prefix, url);
        }
    }
    out
}

fn env_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

/// The Service variables a pod gets: the `kubernetes` Service of `default` always, and
/// with `enableServiceLinks` (the default) every Service of the pod's namespace.
async fn service_environment(client: &Client, pod: &Pod, ns: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut services = Vec::new();
    let links = pod.spec.as_ref().and_then(|s| s.enable_service_links).unwrap_or(true);
    if links {
        let api: Api<Service> = Api::namespaced(client.clone(), ns);
        services = api.list(&Default::default()).await.map_err(|e| ConfigError(format!("cannot list services: {e}")))?.items;
    }
    if !links || ns != "default" {
        let api: Api<Service> = Api::namespaced(client.clone(), "default");
        if let Some(master) = api.get_opt("kubernetes").await.map_err(|e| ConfigError(format!("cannot get the kubernetes service: {e}")))? {
            services.retain(|s| s.metadata.name.as_deref() != Some("kubernetes"));
            services.push(master);
        }
    }
    // The master Service wins over a namesake in the pod's namespace, as upstream.
    services.sort_by_key(|s| (s.metadata.name.as_deref() == Some("kubernetes") && s.metadata.namespace.as_deref() == Some("default")) as u8);
    Ok(service_variables(&services))
}

/// `key` of the `kind` (`ConfigMap` or `Secret`) `namespace/name` whose data is `data`
/// (None: no such object); Ok(None) when it or the key is missing and the reference is
/// `optional` (the variable is left out). The errors are upstream's.
fn key_value(data: Option<BTreeMap<String, String>>, kind: &str, namespace: &str, name: &str, key: &str, optional: bool) -> Result<Option<String>, ConfigError> {
    match data {
        Some(mut d) => match d.remove(key) {
            Some(v) => Ok(Some(v)),
            None if optional => Ok(None),
            None => Err(ConfigError(format!("couldn't find key {key} in {kind} {namespace}/{name}"))),
        },
        None if optional => Ok(None),
        None => Err(ConfigError(format!("{} \"{name}\" not found", kind.to_lowercase()))),
    }
}

/// The resolved environment of `c`.
pub async fn environment(client: &Client, pod: &Pod, c: &Container, host_ip: &str, pod_ip: &str) -> Result<Vec<KeyValue>, ConfigError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let service_vars = service_environment(client, pod, &ns).await?;
    let mut order: Vec<String> = Vec::new();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let set = |order: &mut Vec<String>, vars: &mut BTreeMap<String, String>, k: String, v: String| {
        if !vars.contains_key(&k) {
            order.push(k.clone());
        }
        vars.insert(k, v);
    };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (data, what, optional) = if let Some(r) = &from.config_map_ref {
            (config_map(client, &ns, &r.name).await?, format!("configmap \"{}\" not found", r.name), r.optional == Some(true))
        } else if let Some(r) = &from.secret_ref {
            (secret(client, &ns, &r.name).await?, format!("secret \"{}\" not found", r.name), r.optional == Some(true))
        } else {
            continue;
        };
        match data {
            Some(d) => d.into_iter().for_each(|(k, v)| set(&mut order, &mut vars, format!("{prefix}{k}"), v)),
            None if optional => {}
            None => return Err(ConfigError(what)),
        }
    }
    for e in c.env.iter().flatten() {
        let value = if let Some(v) = &e.value {
            // `$(VAR)` sees earlier variables, then the Service variables.
            let mut visible = service_vars.clone();
            visible.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            expand(v, &visible)
        } else if let Some(src) = &e.value_from {
            if let Some(r) = &src.config_map_key_ref {
                let data = config_map(client, &ns, &r.name).await?;
                match key_value(data, "ConfigMap", &ns, &r.name, &r.key, r.optional == Some(true))? {
                    Some(v) => v,
                    None => continue,
                }
            } else if let Some(r) = &src.secret_key_ref {
                let data = secret(client, &ns, &r.name).await?;
                match key_value(data, "Secret", &ns, &r.name, &r.key, r.optional == Some(true))? {
                    Some(v) => v,
                    None => continue,
                }
            } else if let Some(f) = &src.field_ref {
                field_value(pod, &f.field_path, host_ip, pod_ip).ok_or_else(|| ConfigError(format!("unsupported fieldPath: {}", f.field_path)))?
            } else if let Some(r) = &src.resource_field_ref {
                resource_value(c, &r.resource, r.divisor.as_ref().map(|d| d.0.as_str())).unwrap_or_default()
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut order, &mut vars, e.name.clone(), value);
    }
    // Service variables come last and never override the container's own.
    for (k, v) in service_vars {
        if !vars.contains_key(&k) {
            set(&mut order, &mut vars, k, v);
        }
    }
    Ok(order.into_iter().map(|k| KeyValue { value: vars[&k].clone(), key: k }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_field_values_divide_exactly_and_round_up() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "c",
            "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}, "requests": {"cpu": "0.1"}},
        }))
        .unwrap();
        let value = |resource, divisor| resource_value(&c, resource, divisor);
        assert_eq!(value("limits.cpu", Some("1m")).as_deref(), Some("250"));
        assert_eq!(value("limits.cpu", None).as_deref(), Some("1"), "250m in cores, rounded up");
        assert_eq!(value("requests.cpu", Some("1m")).as_deref(), Some("100"), "0.1 is exactly 100m");
        assert_eq!(value("limits.memory", Some("1Mi")).as_deref(), Some("64"));
    }

    #[test]
    fn key_refs_skip_what_is_optional_and_missing() {
        let data = || Some(BTreeMap::from([("k".to_string(), "v".to_string())]));
        assert_eq!(key_value(data(), "ConfigMap", "ns", "cm", "k", false).unwrap(), Some("v".into()));
        assert_eq!(key_value(data(), "Secret", "ns", "s", "other", true).unwrap(), None);
        assert_eq!(key_value(None, "Secret", "ns", "s", "k", true).unwrap(), None);
        assert_eq!(key_value(data(), "Secret", "ns", "s", "other", false).unwrap_err().0, "couldn't find key other in Secret ns/s");
        assert_eq!(key_value(None, "ConfigMap", "ns", "cm", "k", false).unwrap_err().0, "configmap \"cm\" not found");
    }

    #[test]
    fn service_variables_are_upstreams() {
        let svc: Service = serde_json::from_value(serde_json::json!({"metadata": {"name": "my-web", "namespace": "ns"},
            "spec": {"clusterIP": "10.96.0.7", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns-udp", "port": 53, "protocol": "UDP"}]}})).unwrap();
        let headless: Service = serde_json::from_value(serde_json::json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}})).unwrap();
        let vars = service_variables([&svc, &headless]);
        let want = [
            ("MY_WEB_SERVICE_HOST", "10.96.0.7"),
            ("MY_WEB_SERVICE_PORT", "80"),
            ("MY_WEB_SERVICE_PORT_HTTP", "80"),
            ("MY_WEB_SERVICE_PORT_DNS_UDP", "53"),
            ("MY_WEB_PORT", "tcp://10.96.0.7:80"),
            ("MY_WEB_PORT_80_TCP", "tcp://10.96.0.7:80"),
            ("MY_WEB_PORT_80_TCP_PROTO", "tcp"),
            ("MY_WEB_PORT_80_TCP_PORT", "80"),
            ("MY_WEB_PORT_80_TCP_ADDR", "10.96.0.7"),
            ("MY_WEB_PORT_53_UDP", "udp://10.96.0.7:53"),
            ("MY_WEB_PORT_53_UDP_PROTO", "udp"),
            ("MY_WEB_PORT_53_UDP_PORT", "53"),
            ("MY_WEB_PORT_53_UDP_ADDR", "10.96.0.7"),
        ];
        assert_eq!(vars, want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    }

    #[test]
    fn expands_references() {
        let vars = BTreeMap::from([("A".to_string(), "x".to_string())]);
        assert_eq!(expand("$(A)-$(B)-$$(A)", &vars), "x-$(B)-$(A)");
    }
}
