//! Services (`pkg/registry/core/service`, `SetDefaults_Service`, `ValidateService`,
//! `printService`).
//!
//! Cluster IP and node port allocation are not done here (the service REST layer owns
//! them); defaulting fills the IP family fields that allocation would set.

use super::causes::invalid_each;
use super::json::{child, each_mut, int, items, s, set_default};
use super::{labels, names};
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};
use std::collections::HashSet;

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

/// Service strategy.
pub struct Service;
/// The Service strategy instance.
pub static SERVICE: Service = Service;

static SERVICE_COLUMNS: [Column; 6] = [
    Column::new("Type", "string", "type determines how the Service is exposed. Defaults to ClusterIP."),
    Column::new("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly."),
    Column::new("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    Column::new("Port(s)", "string", "The list of ports that are exposed by this service."),
    AGE,
    Column::wide("Selector", "string", "Route service traffic to pods with label keys and values matching this selector."),
];

fn is_headless(spec: &Value) -> bool {
    s(spec, "clusterIP") == "None"
}

/// `makePortString`: `80/TCP`, `80:30080/TCP`, comma-joined.
pub fn port_string(ports: &[Value]) -> String {
    ports
        .iter()
        .map(|p| {
            let port = int(p, "port").unwrap_or(0);
            let proto = s(p, "protocol");
            match int(p, "nodePort").unwrap_or(0) {
                0 => format!("{port}/{proto}"),
                np => format!("{port}:{np}/{proto}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn load_balancer_ips(status: &Value) -> Vec<String> {
    let mut ips: Vec<String> = items(status.pointer("/loadBalancer").unwrap_or(&Value::Null), "ingress")
        .iter()
        .map(|i| if !s(i, "ip").is_empty() { s(i, "ip").to_string() } else { s(i, "hostname").to_string() })
        .filter(|x| !x.is_empty())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// `getServiceExternalIP` with wide output (the server always renders wide).
fn external_ip(svc: &Value) -> String {
    let spec = svc.get("spec").unwrap_or(&Value::Null);
    let external: Vec<&str> = items(spec, "externalIPs").iter().filter_map(Value::as_str).collect();
    match s(spec, "type") {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".into(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let mut all = load_balancer_ips(svc.get("status").unwrap_or(&Value::Null));
            all.extend(external.iter().map(|x| x.to_string()));
            if all.is_empty() { "<pending>".into() } else { all.join(",") }
        }
        "ExternalName" => s(spec, "externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

fn render_service_port_key(protocol: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{protocol:?}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}"
    )
}

fn validate_service_ports(spec: &Value, causes: &mut Vec<Cause>) {
    let ports = items(spec, "ports");
    let mut names_seen = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        let name = s(p, "name");
        if ports.len() > 1 && name.is_empty() {
            causes.push(Cause::required(format!("{path}.name")));
        } else if !name.is_empty() {
            invalid_each(causes, &format!("{path}.name"), &json!(name), names::dns1123_label(name));
            if !names_seen.insert(name) {
                causes.push(Cause::duplicate(format!("{path}.name"), &json!(name)));
            }
        }
        let port = int(p, "port").unwrap_or(0);
        invalid_each(causes, &format!("{path}.port"), &json!(port), names::port_num(port));
        let proto = s(p, "protocol");
        if proto.is_empty() {
            causes.push(Cause::required(format!("{path}.protocol")));
        } else if !PROTOCOLS.contains(&proto) {
            causes.push(Cause::not_supported(format!("{path}.protocol"), &json!(proto), PROTOCOLS));
        }
        match p.get("targetPort") {
            Some(Value::String(tp)) => invalid_each(causes, &format!("{path}.targetPort"), &json!(tp), names::port_name(tp)),
            Some(Value::Number(n)) => {
                let n = n.as_i64().unwrap_or(0);
                invalid_each(causes, &format!("{path}.targetPort"), &json!(n), names::port_num(n));
            }
            _ => {}
        }
    }
}

impl Strategy for Service {
    fn has_status(&self) -> bool {
        true
    }
    fn name_rule(&self) -> crate::registry::strategy::NameRule {
        crate::registry::strategy::NameRule::Dns1035Label
    }
    fn default(&self, obj: &mut Value) {
        let Some(spec) = child(obj, "spec") else { return };
        set_default(spec, "sessionAffinity", json!("None"));
        if s(spec, "sessionAffinity") == "None" {
            if let Some(m) = spec.as_object_mut() {
                m.remove("sessionAffinityConfig");
            }
        } else if s(spec, "sessionAffinity") == "ClientIP"
            && spec.pointer("/sessionAffinityConfig/clientIP/timeoutSeconds").is_none_or(Value::is_null)
        {
            spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 10800}});
        }
        set_default(spec, "type", json!("ClusterIP"));
        each_mut(spec, "ports", |p| {
            set_default(p, "protocol", json!("TCP"));
            let unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(t)) => t.is_empty(),
                _ => false,
            };
            if unset && let Some(port) = p.get("port").cloned() {
                p["targetPort"] = port;
            }
        });
        let kind = s(spec, "type").to_string();
        let external = kind == "NodePort" || kind == "LoadBalancer" || (kind == "ClusterIP" && super::json::len_of(spec, "externalIPs") > 0);
        if external {
            set_default(spec, "externalTrafficPolicy", json!("Cluster"));
        }
        if matches!(kind.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
        }
        if kind == "LoadBalancer" {
            set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
        }
        if kind != "ExternalName" {
            let headless_without_selector = is_headless(spec) && super::json::len_of(spec, "selector") == 0;
            let policy = if headless_without_selector { "RequireDualStack" } else { "SingleStack" };
            set_default(spec, "ipFamilyPolicy", json!(policy));
            if super::json::len_of(spec, "ipFamilies") == 0 {
                spec["ipFamilies"] = json!(["IPv4"]);
            }
            let ip = s(spec, "clusterIP").to_string();
            if !ip.is_empty() && super::json::len_of(spec, "clusterIPs") == 0 {
                spec["clusterIPs"] = json!([ip]);
            }
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"loadBalancer": {}});
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_spec = old.get("spec").unwrap_or(&Value::Null);
        let Some(spec) = child(new, "spec") else { return };
        carry_allocated(spec, old_spec);
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let kind = s(spec, "type");
        if items(spec, "ports").is_empty() && !is_headless(spec) && kind != "ExternalName" {
            causes.push(Cause::required("spec.ports"));
        }
        match kind {
            "LoadBalancer" | "NodePort" if is_headless(spec) => causes.push(Cause::invalid(
                "spec.clusterIPs[0]",
                &json!("None"),
                format!("may not be set to 'None' for {kind} services"),
            )),
            "ExternalName" => {
                if super::json::len_of(spec, "clusterIPs") > 0 {
                    causes.push(Cause::forbidden("spec.clusterIPs", "may not be set for ExternalName services"));
                }
                let cname = s(spec, "externalName").trim_end_matches('.');
                if cname.is_empty() {
                    causes.push(Cause::required("spec.externalName"));
                } else {
                    invalid_each(causes, "spec.externalName", &json!(cname), names::dns1123_subdomain(cname));
                }
            }
            _ => {}
        }
        validate_service_ports(spec, causes);
        labels::validate_labels(spec.get("selector"), "spec.selector", causes);
        match s(spec, "sessionAffinity") {
            "" => causes.push(Cause::required("spec.sessionAffinity")),
            "None" | "ClientIP" => {}
            other => causes.push(Cause::not_supported("spec.sessionAffinity", &json!(other), &["ClientIP", "None"])),
        }
        if kind.is_empty() {
            causes.push(Cause::required("spec.type"));
        } else if !SERVICE_TYPES.contains(&kind) {
            causes.push(Cause::not_supported("spec.type", &json!(kind), SERVICE_TYPES));
        }
        let ports = items(spec, "ports");
        for (i, p) in ports.iter().enumerate() {
            let np = int(p, "nodePort").unwrap_or(0);
            if np == 0 {
                continue;
            }
            if kind == "ClusterIP" {
                causes.push(Cause::forbidden(format!("spec.ports[{i}].nodePort"), "may not be used when `type` is 'ClusterIP'"));
            } else if !(30000..=32767).contains(&np) {
                causes.push(Cause::invalid(
                    format!("spec.ports[{i}].nodePort"),
                    &json!(np),
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                ));
            }
        }
        let mut node_ports = HashSet::new();
        let mut seen = HashSet::new();
        for (i, p) in ports.iter().enumerate() {
            let np = int(p, "nodePort").unwrap_or(0);
            if np != 0 && !node_ports.insert((s(p, "protocol"), np)) {
                causes.push(Cause::duplicate(format!("spec.ports[{i}].nodePort"), &json!(np)));
            }
            let key = (s(p, "protocol"), int(p, "port").unwrap_or(0));
            if !seen.insert(key) {
                let mut c = Cause::duplicate(format!("spec.ports[{i}]"), &Value::Null);
                c.message = format!("Duplicate value: {}", render_service_port_key(key.0, key.1));
                causes.push(c);
            }
        }
        validate_traffic_policies(spec, causes);
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        let (new_spec, old_spec) = (obj.get("spec").unwrap_or(&Value::Null), old.get("spec").unwrap_or(&Value::Null));
        let external_name = s(new_spec, "type") == "ExternalName" || s(old_spec, "type") == "ExternalName";
        let (new_ip, old_ip) = (s(new_spec, "clusterIP"), s(old_spec, "clusterIP"));
        if !external_name && !old_ip.is_empty() && !new_ip.is_empty() && new_ip != old_ip {
            let rendered = format!("[]string{{{}}}", items(new_spec, "clusterIPs").iter().filter_map(Value::as_str).map(|x| format!("{x:?}")).collect::<Vec<_>>().join(", "));
            causes.push(Cause::invalid_raw("spec.clusterIPs[0]", &rendered, "may not change once set"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &SERVICE_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let cluster_ip = items(spec, "clusterIPs").first().and_then(Value::as_str).unwrap_or("<none>");
        let ports = port_string(items(spec, "ports"));
        vec![
            json!(s(spec, "type")),
            json!(cluster_ip),
            json!(external_ip(obj)),
            json!(if ports.is_empty() { "<none>".to_string() } else { ports }),
            age(obj),
            json!(labels::format_labels(spec.get("selector"))),
        ]
    }
    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        let spec = |name: &str| obj.pointer(&format!("/spec/{name}")).and_then(Value::as_str).unwrap_or("").to_string();
        vec![("spec.clusterIP", spec("clusterIP")), ("spec.type", spec("type"))]
    }
}

/// Traffic policies and IP family fields (`validateServiceExternalTrafficPolicy`,
/// `validateServiceInternalTrafficFieldsValue`, `validateIPFamilyPolicy`).
fn validate_traffic_policies(spec: &Value, causes: &mut Vec<Cause>) {
    let kind = s(spec, "type");
    let external = kind == "NodePort" || kind == "LoadBalancer" || (kind == "ClusterIP" && super::json::len_of(spec, "externalIPs") > 0);
    let etp = s(spec, "externalTrafficPolicy");
    if !external && !etp.is_empty() {
        causes.push(Cause::invalid("spec.externalTrafficPolicy", &json!(etp), "may only be set for externally-accessible services"));
    } else if external && etp.is_empty() {
        causes.push(Cause::required("spec.externalTrafficPolicy"));
    } else if external && etp != "Cluster" && etp != "Local" {
        causes.push(Cause::not_supported("spec.externalTrafficPolicy", &json!(etp), &["Cluster", "Local"]));
    }
    if matches!(kind, "ClusterIP" | "NodePort" | "LoadBalancer") || spec.get("internalTrafficPolicy").is_some_and(|v| !v.is_null()) {
        match spec.get("internalTrafficPolicy").and_then(Value::as_str) {
            None => causes.push(Cause::required("spec.internalTrafficPolicy")),
            Some("Cluster" | "Local") => {}
            Some(other) => causes.push(Cause::not_supported("spec.internalTrafficPolicy", &json!(other), &["Cluster", "Local"])),
        }
    }
    if let Some(policy) = spec.get("ipFamilyPolicy").and_then(Value::as_str)
        && !["PreferDualStack", "RequireDualStack", "SingleStack"].contains(&policy)
    {
        causes.push(Cause::not_supported("spec.ipFamilyPolicy", &json!(policy), &["PreferDualStack", "RequireDualStack", "SingleStack"]));
    }
    for (i, fam) in items(spec, "ipFamilies").iter().enumerate() {
        if !matches!(fam.as_str(), Some("IPv4" | "IPv6")) {
            causes.push(Cause::not_supported(format!("spec.ipFamilies[{i}]"), fam, &["IPv4", "IPv6"]));
        }
    }
}

/// Upstream `patchAllocatedValues`: an update that omits the allocated cluster IPs or node
/// ports keeps the old ones.
fn carry_allocated(spec: &mut Value, old: &Value) {
    let needs_ip = |s_: &Value| s(s_, "type") != "ExternalName" && !is_headless(s_);
    if needs_ip(old) && needs_ip(spec) {
        if s(spec, "clusterIP").is_empty() && !s(old, "clusterIP").is_empty() {
            spec["clusterIP"] = old["clusterIP"].clone();
        }
        if super::json::len_of(spec, "clusterIPs") == 0 && super::json::len_of(old, "clusterIPs") > 0 {
            spec["clusterIPs"] = old["clusterIPs"].clone();
        }
    }
    let needs_node_port = |s_: &Value| matches!(s(s_, "type"), "NodePort" | "LoadBalancer");
    if needs_node_port(old) && needs_node_port(spec) {
        let node_port = |p: &Value| int(p, "nodePort").unwrap_or(0);
        let new_used: HashSet<i64> = items(spec, "ports").iter().map(node_port).collect();
        let used: HashSet<i64> = items(old, "ports").iter().map(node_port).filter(|n| new_used.contains(n)).collect();
        let by_name: std::collections::HashMap<String, i64> = items(old, "ports").iter().map(|p| (s(p, "name").to_string(), node_port(p))).collect();
        each_mut(spec, "ports", |p| {
            if node_port(p) == 0
                && let Some(old_port) = by_name.get(s(p, "name")).copied().filter(|n| *n != 0 && !used.contains(n))
            {
                p["nodePort"] = json!(old_port);
            }
        });
    }
    if s(old, "externalTrafficPolicy") == "Local" && needs_node_port(spec) && int(spec, "healthCheckNodePort").unwrap_or(0) == 0
        && let Some(hc) = old.get("healthCheckNodePort").filter(|v| !v.is_null()) {
            spec["healthCheckNodePort"] = hc.clone();
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_defaults() {
        let mut svc = json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
        SERVICE.default(&mut svc);
        SERVICE.prepare_for_create(&mut svc);
        assert_eq!(
            svc["spec"],
            json!({
                "selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                "sessionAffinity": "None", "type": "ClusterIP", "internalTrafficPolicy": "Cluster",
                "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]
            })
        );
        assert_eq!(svc["status"], json!({"loadBalancer": {}}));
        let mut causes = Vec::new();
        SERVICE.validate(&svc, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
    }

    #[test]
    fn update_keeps_allocated_values() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7"], "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}});
        let mut new = json!({"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 8080}]}});
        SERVICE.default(&mut new);
        SERVICE.prepare_for_update(&mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.7");
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.7"]));
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
        let mut causes = Vec::new();
        SERVICE.validate_update(&new, &old, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        new["spec"]["clusterIP"] = json!("10.96.0.8");
        new["spec"]["clusterIPs"] = json!(["10.96.0.8"]);
        SERVICE.validate_update(&new, &old, &mut causes);
        assert_eq!(causes[0].message, "Invalid value: []string{\"10.96.0.8\"}: may not change once set");
    }

    #[test]
    fn ports_cell() {
        let ports = [json!({"port": 80, "protocol": "TCP"}), json!({"port": 443, "nodePort": 30443, "protocol": "TCP"})];
        assert_eq!(port_string(&ports), "80/TCP,443:30443/TCP");
        let svc = json!({"spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}});
        let row = SERVICE.row(&svc);
        assert_eq!(&row[..4], &[json!("NodePort"), json!("10.96.0.10"), json!("<none>"), json!("80:30080/TCP")]);
        assert_eq!(row[5], "<none>");
    }

    #[test]
    fn service_validation() {
        let mut svc = json!({"spec": {"type": "Weird", "ports": [{"port": 0}, {"port": 80, "nodePort": 80}]}});
        SERVICE.default(&mut svc);
        let mut causes = Vec::new();
        SERVICE.validate(&svc, &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.ports[0].name", "spec.ports[0].port", "spec.ports[0].targetPort", "spec.ports[1].name", "spec.type", "spec.ports[1].nodePort"]);
        assert_eq!(causes[4].message, "Unsupported value: \"Weird\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"");
    }
}
