//! Endpoints and EndpointSlices (`pkg/registry/core/endpoint`,
//! `pkg/registry/discovery/endpointslice`, `printEndpoints`, `printEndpointSlice`).

use super::causes::invalid_each;
use super::json::{each_mut, int, items, s, set_default};
use super::names;
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

fn validate_endpoint_port(p: &Value, path: &str, name_required: bool, causes: &mut Vec<Cause>) {
    let name = s(p, "name");
    if name_required && name.is_empty() {
        causes.push(Cause::required(format!("{path}.name")));
    } else if !name.is_empty() {
        invalid_each(causes, &format!("{path}.name"), &json!(name), names::dns1123_label(name));
    }
    if let Some(port) = int(p, "port") {
        invalid_each(causes, &format!("{path}.port"), &json!(port), names::port_num(port));
    }
    let proto = s(p, "protocol");
    if proto.is_empty() {
        causes.push(Cause::required(format!("{path}.protocol")));
    } else if !PROTOCOLS.contains(&proto) {
        causes.push(Cause::not_supported(format!("{path}.protocol"), &json!(proto), PROTOCOLS));
    }
}

/// Endpoints strategy.
pub struct Endpoints;
/// The Endpoints strategy instance.
pub static ENDPOINTS: Endpoints = Endpoints;

static ENDPOINTS_COLUMNS: [Column; 2] = [Column::new("Endpoints", "string", "The set of all endpoints is the union of all subsets."), AGE];

/// `formatEndpoints`: up to three `ip:port`, then `+ N more...`; `<none>` without subsets.
fn format_endpoints(obj: &Value) -> String {
    let subsets = items(obj, "subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let (mut list, mut count, mut more) = (Vec::new(), 0usize, false);
    for ss in subsets {
        let addrs = items(ss, "addresses");
        let ports = items(ss, "ports");
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == 3 {
                    more = true;
                    break;
                }
                list.push(s(a, "ip").to_string());
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == 3 {
                    more = true;
                    break;
                }
                let ip = s(a, "ip");
                let port = int(p, "port").unwrap_or(0);
                list.push(if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") });
            }
        }
    }
    let joined = list.join(",");
    if more { format!("{joined} + {} more...", count - 3) } else { joined }
}

impl Strategy for Endpoints {
    fn default(&self, obj: &mut Value) {
        each_mut(obj, "subsets", |ss| each_mut(ss, "ports", |p| set_default(p, "protocol", json!("TCP"))));
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        for (i, ss) in items(obj, "subsets").iter().enumerate() {
            let path = format!("subsets[{i}]");
            for key in ["addresses", "notReadyAddresses"] {
                for (j, a) in items(ss, key).iter().enumerate() {
                    let ip = s(a, "ip");
                    if ip.parse::<std::net::IpAddr>().is_err() {
                        causes.push(Cause::invalid(format!("{path}.{key}[{j}].ip"), &json!(ip), "must be a valid IP address"));
                    }
                }
            }
            let ports = items(ss, "ports");
            for (j, p) in ports.iter().enumerate() {
                validate_endpoint_port(p, &format!("{path}.ports[{j}]"), ports.len() > 1, causes);
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        &ENDPOINTS_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(format_endpoints(obj)), age(obj)]
    }
}

/// EndpointSlice strategy.
pub struct EndpointSlice;
/// The EndpointSlice strategy instance.
pub static ENDPOINT_SLICE: EndpointSlice = EndpointSlice;

static ENDPOINT_SLICE_COLUMNS: [Column; 4] = [
    Column::new("AddressType", "string", "addressType specifies the type of address carried by this EndpointSlice."),
    Column::new("Ports", "string", "ports specifies the list of network ports exposed by each endpoint in this slice."),
    Column::new("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."),
    AGE,
];

const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];

fn list_with_more(list: Vec<String>, count: usize) -> String {
    if count > 3 {
        format!("{} + {} more...", list[..3].join(","), count - 3)
    } else if list.is_empty() {
        "<unset>".into()
    } else {
        list.join(",")
    }
}

impl Strategy for EndpointSlice {
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        each_mut(obj, "ports", |p| {
            if p.get("name").is_none_or(Value::is_null) {
                p["name"] = json!("");
            }
            set_default(p, "protocol", json!("TCP"));
        });
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let address_type = s(obj, "addressType");
        if address_type.is_empty() {
            causes.push(Cause::required("addressType"));
        } else if !ADDRESS_TYPES.contains(&address_type) {
            causes.push(Cause::not_supported("addressType", &json!(address_type), ADDRESS_TYPES));
        }
        for (i, ep) in items(obj, "endpoints").iter().enumerate() {
            let path = format!("endpoints[{i}].addresses");
            let addrs = items(ep, "addresses");
            if addrs.is_empty() {
                causes.push(Cause::required_because(&path, "must contain at least 1 address"));
            }
            for (j, a) in addrs.iter().enumerate() {
                let a = a.as_str().unwrap_or("");
                let msg = match address_type {
                    "IPv4" if a.parse::<std::net::Ipv4Addr>().is_err() => Some("must be a valid IPv4 address"),
                    "IPv6" if a.parse::<std::net::Ipv6Addr>().is_err() => Some("must be a valid IPv6 address"),
                    _ => None,
                };
                if let Some(m) = msg {
                    causes.push(Cause::invalid(format!("{path}[{j}]"), &json!(a), m));
                }
                if address_type == "FQDN" {
                    invalid_each(causes, &format!("{path}[{j}]"), &json!(a), names::dns1123_subdomain(a));
                }
            }
        }
        for (i, p) in items(obj, "ports").iter().enumerate() {
            validate_endpoint_port(p, &format!("ports[{i}]"), false, causes);
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        if obj.get("addressType") != old.get("addressType") {
            causes.push(Cause::invalid("addressType", obj.get("addressType").unwrap_or(&Value::Null), "field is immutable"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &ENDPOINT_SLICE_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let ports = items(obj, "ports");
        let port_list: Vec<String> = ports
            .iter()
            .take(3)
            .map(|p| match int(p, "port") {
                Some(n) => n.to_string(),
                None if p.get("name").and_then(Value::as_str).is_some() => s(p, "name").to_string(),
                None => "*".into(),
            })
            .collect();
        let addrs: Vec<String> = items(obj, "endpoints").iter().flat_map(|e| items(e, "addresses")).filter_map(Value::as_str).map(String::from).collect();
        let count = addrs.len();
        vec![
            json!(s(obj, "addressType")),
            json!(list_with_more(port_list, ports.len())),
            json!(list_with_more(addrs.into_iter().take(3).collect(), count)),
            age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_cells() {
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}], "ports": [{"port": 80}]}]});
        assert_eq!(format_endpoints(&ep), "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...");
        let slice = json!({"addressType": "IPv4", "ports": [{"port": 80}], "endpoints": [{"addresses": ["10.0.0.1"]}]});
        assert_eq!(ENDPOINT_SLICE.row(&slice)[..3], [json!("IPv4"), json!("80"), json!("10.0.0.1")]);
        let mut causes = Vec::new();
        ENDPOINT_SLICE.validate(&json!({"addressType": "IPX"}), &mut causes);
        assert_eq!(causes[0].message, "Unsupported value: \"IPX\": supported values: \"FQDN\", \"IPv4\", \"IPv6\"");
    }
}
