//! networking.k8s.io kinds: Ingress, IngressClass, NetworkPolicy
//! (`pkg/apis/networking/v1/defaults.go`, `pkg/apis/networking/validation`).

use super::causes::invalid_each;
use super::json::{child, each_mut, existing, int, items, s, set_default};
use super::{labels, names};
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

/// Ingress strategy.
pub struct Ingress;
/// The Ingress strategy instance.
pub static INGRESS: Ingress = Ingress;

static INGRESS_COLUMNS: [Column; 5] = [
    Column::new("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
    Column::new("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
    Column::new("Address", "string", "Address is a list containing ingress points for the load-balancer"),
    Column::new("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];

fn validate_backend(backend: &Value, path: &str, causes: &mut Vec<Cause>) {
    let service = backend.get("service").filter(|v| v.is_object());
    let resource = backend.get("resource").filter(|v| v.is_object());
    match (service, resource) {
        (Some(_), Some(_)) => causes.push(Cause::invalid(path, &json!(""), "cannot set both resource and service backends")),
        (None, None) => causes.push(Cause::invalid(path, &json!(""), "resource or service backend is required")),
        (None, Some(r)) => {
            if s(r, "kind").is_empty() {
                causes.push(Cause::required(format!("{path}.resource.kind")));
            }
            if s(r, "name").is_empty() {
                causes.push(Cause::required(format!("{path}.resource.name")));
            }
        }
        (Some(svc), None) => {
            let name = s(svc, "name");
            if name.is_empty() {
                causes.push(Cause::required(format!("{path}.service.name")));
            } else {
                invalid_each(causes, &format!("{path}.service.name"), &json!(name), names::dns1035_label(name));
            }
            let port = svc.get("port").unwrap_or(&Value::Null);
            let (pname, pnum) = (s(port, "name"), int(port, "number").unwrap_or(0));
            match (pname.is_empty(), pnum == 0) {
                (false, false) => causes.push(Cause::invalid(path, &json!(""), "cannot set both port name & port number")),
                (false, true) => invalid_each(causes, &format!("{path}.service.port.name"), &json!(pname), names::port_name(pname)),
                (true, false) => invalid_each(causes, &format!("{path}.service.port.number"), &json!(pnum), names::port_num(pnum)),
                (true, true) => causes.push(Cause::required_because(path, "port name or number is required")),
            }
        }
    }
}

impl Strategy for Ingress {
    fn has_status(&self) -> bool {
        true
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"loadBalancer": {}});
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let rules = items(spec, "rules");
        let default_backend = spec.get("defaultBackend").filter(|v| v.is_object());
        if rules.is_empty() && default_backend.is_none() {
            causes.push(Cause::invalid_raw("spec", "networking.IngressSpec{...}", "either `defaultBackend` or `rules` must be specified"));
        }
        if let Some(b) = default_backend {
            validate_backend(b, "spec.defaultBackend", causes);
        }
        for (i, rule) in rules.iter().enumerate() {
            let rp = format!("spec.rules[{i}]");
            let host = s(rule, "host");
            if !host.is_empty() {
                if host.parse::<std::net::IpAddr>().is_ok() {
                    causes.push(Cause::invalid(format!("{rp}.host"), &json!(host), "must be a DNS name, not an IP address"));
                }
                let name = host.strip_prefix("*.").unwrap_or(host);
                invalid_each(causes, &format!("{rp}.host"), &json!(host), names::dns1123_subdomain(name));
            }
            let Some(http) = rule.get("http").filter(|v| v.is_object()) else { continue };
            let paths = items(http, "paths");
            if paths.is_empty() {
                causes.push(Cause::required(format!("{rp}.http.paths")));
            }
            for (j, p) in paths.iter().enumerate() {
                let pp = format!("{rp}.http.paths[{j}]");
                let path = s(p, "path");
                match s(p, "pathType") {
                    "" => causes.push(Cause::required_because(format!("{pp}.pathType"), "pathType must be specified")),
                    "Exact" | "Prefix" => {
                        if !path.starts_with('/') {
                            causes.push(Cause::invalid(format!("{pp}.path"), &json!(path), "must be an absolute path"));
                        }
                    }
                    "ImplementationSpecific" => {
                        if !path.is_empty() && !path.starts_with('/') {
                            causes.push(Cause::invalid(format!("{pp}.path"), &json!(path), "must be an absolute path"));
                        }
                    }
                    other => causes.push(Cause::not_supported(format!("{pp}.pathType"), &json!(other), PATH_TYPES)),
                }
                validate_backend(p.get("backend").unwrap_or(&Value::Null), &format!("{pp}.backend"), causes);
            }
        }
        if let Some(class) = spec.get("ingressClassName").and_then(Value::as_str) {
            invalid_each(causes, "spec.ingressClassName", &json!(class), names::dns1123_subdomain(class));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &INGRESS_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let rules = items(spec, "rules");
        let hosts: Vec<&str> = rules.iter().take(3).map(|r| s(r, "host")).filter(|h| !h.is_empty()).collect();
        let hosts = match (hosts.is_empty(), rules.len() > 3) {
            (true, _) => "*".to_string(),
            (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - 3),
            (false, false) => hosts.join(","),
        };
        let mut addrs: Vec<String> = items(obj.pointer("/status/loadBalancer").unwrap_or(&Value::Null), "ingress")
            .iter()
            .map(|i| if s(i, "ip").is_empty() { s(i, "hostname").to_string() } else { s(i, "ip").to_string() })
            .filter(|a| !a.is_empty())
            .collect();
        addrs.sort();
        addrs.dedup();
        vec![
            json!(spec.get("ingressClassName").and_then(Value::as_str).unwrap_or("<none>")),
            json!(hosts),
            json!(addrs.join(",")),
            json!(if items(spec, "tls").is_empty() { "80" } else { "80, 443" }),
            age(obj),
        ]
    }
}

/// IngressClass strategy.
pub struct IngressClass;
/// The IngressClass strategy instance.
pub static INGRESS_CLASS: IngressClass = IngressClass;

static INGRESS_CLASS_COLUMNS: [Column; 3] = [
    Column::new("Controller", "string", "Controller that is responsible for handling this class"),
    Column::new("Parameters", "string", "A reference to a resource with additional parameters"),
    AGE,
];

impl Strategy for IngressClass {
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        if let Some(params) = existing(obj, "spec").and_then(|spec| existing(spec, "parameters")) {
            set_default(params, "scope", json!("Cluster"));
        }
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let controller = obj.pointer("/spec/controller").and_then(Value::as_str).unwrap_or("");
        if controller.is_empty() {
            causes.push(Cause::required("spec.controller"));
        } else if controller.len() > 250 {
            causes.push(Cause::invalid("spec.controller", &json!(controller), "must be no more than 250 characters"));
        }
        if let Some(p) = obj.pointer("/spec/parameters").filter(|v| v.is_object()) {
            match s(p, "scope") {
                "Cluster" | "Namespace" => {}
                other => causes.push(Cause::not_supported("spec.parameters.scope", &json!(other), &["Cluster", "Namespace"])),
            }
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        let (n, o) = (obj.pointer("/spec/controller"), old.pointer("/spec/controller"));
        if n != o {
            causes.push(Cause::invalid("spec.controller", n.unwrap_or(&Value::Null), "field is immutable"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &INGRESS_CLASS_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let params = match obj.pointer("/spec/parameters").filter(|v| v.is_object()) {
            None => "<none>".to_string(),
            Some(p) => {
                let kind = match p.get("apiGroup").and_then(Value::as_str) {
                    Some(g) => format!("{}.{g}", s(p, "kind")),
                    None => s(p, "kind").to_string(),
                };
                format!("{kind}/{}", s(p, "name"))
            }
        };
        vec![json!(obj.pointer("/spec/controller").and_then(Value::as_str).unwrap_or("")), json!(params), age(obj)]
    }
}

/// NetworkPolicy strategy.
pub struct NetworkPolicy;
/// The NetworkPolicy strategy instance.
pub static NETWORK_POLICY: NetworkPolicy = NetworkPolicy;

static NETWORK_POLICY_COLUMNS: [Column; 2] = [
    Column::new("Pod-Selector", "string", "Selects the pods to which this NetworkPolicy object applies."),
    AGE,
];

impl Strategy for NetworkPolicy {
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        let Some(spec) = child(obj, "spec") else { return };
        for dir in ["ingress", "egress"] {
            each_mut(spec, dir, |rule| each_mut(rule, "ports", |p| set_default(p, "protocol", json!("TCP"))));
        }
        if super::json::len_of(spec, "policyTypes") == 0 {
            let mut types = vec![json!("Ingress")];
            if super::json::len_of(spec, "egress") > 0 {
                types.push(json!("Egress"));
            }
            spec["policyTypes"] = Value::Array(types);
        }
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        labels::validate_selector(spec.get("podSelector").unwrap_or(&Value::Null), "spec.podSelector", causes);
        for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
            for (i, rule) in items(spec, dir).iter().enumerate() {
                for (j, p) in items(rule, "ports").iter().enumerate() {
                    let pp = format!("spec.{dir}[{i}].ports[{j}]");
                    match s(p, "protocol") {
                        "TCP" | "UDP" | "SCTP" => {}
                        other => causes.push(Cause::not_supported(format!("{pp}.protocol"), &json!(other), &["SCTP", "TCP", "UDP"])),
                    }
                    match p.get("port") {
                        Some(Value::Number(n)) => {
                            let n = n.as_i64().unwrap_or(0);
                            invalid_each(causes, &format!("{pp}.port"), &json!(n), names::port_num(n));
                        }
                        Some(Value::String(name)) => invalid_each(causes, &format!("{pp}.port"), &json!(name), names::port_name(name)),
                        _ => {}
                    }
                }
                for (j, peer) in items(rule, peers).iter().enumerate() {
                    let pp = format!("spec.{dir}[{i}].{peers}[{j}]");
                    for key in ["podSelector", "namespaceSelector"] {
                        if let Some(sel) = peer.get(key).filter(|v| v.is_object()) {
                            labels::validate_selector(sel, &format!("{pp}.{key}"), causes);
                        }
                    }
                    if let Some(block) = peer.get("ipBlock").filter(|v| v.is_object()) {
                        let cidr = s(block, "cidr");
                        let ok = cidr.split_once('/').is_some_and(|(ip, bits)| ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok());
                        if cidr.is_empty() {
                            causes.push(Cause::required(format!("{pp}.ipBlock.cidr")));
                        } else if !ok {
                            causes.push(Cause::invalid(format!("{pp}.ipBlock.cidr"), &json!(cidr), "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"));
                        }
                    }
                }
            }
        }
        for (i, t) in items(spec, "policyTypes").iter().enumerate() {
            if !matches!(t.as_str(), Some("Ingress" | "Egress")) {
                causes.push(Cause::not_supported(format!("spec.policyTypes[{i}]"), t, &["Ingress", "Egress", "Ingress,Egress"]));
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        &NETWORK_POLICY_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(labels::format_selector(obj.pointer("/spec/podSelector"))), age(obj)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_rules() {
        let ing = json!({"spec": {"rules": [{"host": "a.example.com", "http": {"paths": [
            {"path": "api", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "/", "backend": {"service": {"name": "web"}}}
        ]}}]}});
        let mut causes = Vec::new();
        INGRESS.validate(&ing, &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.rules[0].http.paths[0].path", "spec.rules[0].http.paths[1].pathType", "spec.rules[0].http.paths[1].backend"]);
        assert_eq!(INGRESS.row(&ing)[..4], [json!("<none>"), json!("a.example.com"), json!(""), json!("80")]);
    }

    #[test]
    fn network_policy_defaults() {
        let mut np = json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}});
        NETWORK_POLICY.default(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(NETWORK_POLICY.row(&np)[0], "<none>");
    }
}
