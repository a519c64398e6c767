//! Cluster-level kinds: Namespace, Node, PriorityClass, RuntimeClass
//! (`pkg/registry/core/{namespace,node}`, `pkg/registry/scheduling`, `pkg/registry/node`).

use super::causes::invalid_each;
use super::json::{child, existing, int, items, s, set_default, string_map};
use super::{labels, names, pod_admission};
use crate::registry::strategy::{Cause, NameRule, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

/// Namespace strategy.
pub struct Namespace;
/// The Namespace strategy instance.
pub static NAMESPACE: Namespace = Namespace;

static NAMESPACE_COLUMNS: [Column; 2] = [Column::new("Status", "string", "The status of the namespace"), AGE];

impl Strategy for Namespace {
    fn has_status(&self) -> bool {
        true
    }
    fn name_rule(&self) -> NameRule {
        NameRule::DnsLabel
    }
    fn default(&self, obj: &mut Value) {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        if !name.is_empty()
            && let Some(labels) = child(obj, "metadata").and_then(|m| child(m, "labels"))
        {
            labels["kubernetes.io/metadata.name"] = json!(name);
        }
        if let Some(status) = existing(obj, "status") {
            set_default(status, "phase", json!("Active"));
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Active"});
        if let Some(spec) = child(obj, "spec") {
            let list = spec.as_object_mut().map(|m| m.entry("finalizers").or_insert_with(|| json!([])));
            if let Some(list) = list.and_then(Value::as_array_mut)
                && !list.iter().any(|f| f == "kubernetes")
            {
                list.push(json!("kubernetes"));
            }
        }
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // finalizers change only through the finalize subresource
        let finalizers = old.pointer("/spec/finalizers").cloned();
        if let Some(spec) = child(new, "spec") {
            match finalizers {
                Some(f) => spec["finalizers"] = f,
                None => {
                    if let Some(m) = spec.as_object_mut() {
                        m.remove("finalizers");
                    }
                }
            }
        }
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        for (i, f) in items(obj.get("spec").unwrap_or(&Value::Null), "finalizers").iter().enumerate() {
            let f = f.as_str().unwrap_or("");
            let msgs = names::qualified_name(f);
            invalid_each(causes, &format!("spec.finalizers[{i}]"), &json!(f), msgs);
        }
    }
    fn columns(&self) -> &'static [Column] {
        &NAMESPACE_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or("")), age(obj)]
    }
    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![("status.phase", obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or("").to_string())]
    }
}

/// Node strategy.
pub struct Node;
/// The Node strategy instance.
pub static NODE: Node = Node;

static NODE_COLUMNS: [Column; 9] = [
    Column::new("Status", "string", "The status of the node"),
    Column::new("Roles", "string", "The roles of the node"),
    AGE,
    Column::new("Version", "string", "Kubelet Version reported by the node."),
    Column::wide("Internal-IP", "string", "List of addresses reachable to the node."),
    Column::wide("External-IP", "string", "List of addresses reachable to the node."),
    Column::wide("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    Column::wide("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    Column::wide("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
];

const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

fn node_roles(obj: &Value) -> String {
    let mut roles: Vec<String> = string_map(obj.get("metadata").unwrap_or(&Value::Null), "labels")
        .into_iter()
        .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
            Some(role) if !role.is_empty() => Some(role.to_string()),
            Some(_) => None,
            None if k == "kubernetes.io/role" && !v.is_empty() => Some(v),
            None => None,
        })
        .collect();
    roles.sort();
    roles.dedup();
    if roles.is_empty() { "<none>".into() } else { roles.join(",") }
}

impl Strategy for Node {
    fn has_status(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        if let Some(status) = existing(obj, "status") {
            super::quantity::canonicalize_list(status, "capacity");
            super::quantity::canonicalize_list(status, "allocatable");
        }
        if let Some(status) = existing(obj, "status")
            && status.get("allocatable").is_none_or(Value::is_null)
            && let Some(capacity) = status.get("capacity").filter(|c| c.is_object()).cloned()
        {
            status["allocatable"] = capacity;
        }
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        for (i, t) in items(spec, "taints").iter().enumerate() {
            let path = format!("spec.taints[{i}]");
            let key = s(t, "key");
            if key.is_empty() {
                causes.push(Cause::required(format!("{path}.key")));
            } else {
                invalid_each(causes, &format!("{path}.key"), &json!(key), names::qualified_name(key));
            }
            let value = s(t, "value");
            invalid_each(causes, &format!("{path}.value"), &json!(value), names::label_value(value));
            match s(t, "effect") {
                "" => causes.push(Cause::required(format!("{path}.effect"))),
                e if TAINT_EFFECTS.contains(&e) => {}
                e => causes.push(Cause::not_supported(format!("{path}.effect"), &json!(e), TAINT_EFFECTS)),
            }
        }
        for (i, cidr) in items(spec, "podCIDRs").iter().enumerate() {
            let c = cidr.as_str().unwrap_or("");
            let ok = c.split_once('/').is_some_and(|(ip, bits)| ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok());
            if !ok {
                causes.push(Cause::invalid(format!("spec.podCIDRs[{i}]"), &json!(c), "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"));
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        &NODE_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let status = obj.get("status").unwrap_or(&Value::Null);
        let mut state: Vec<String> = match items(status, "conditions").iter().rev().find(|c| s(c, "type") == "Ready") {
            Some(c) if s(c, "status") == "True" => vec!["Ready".into()],
            Some(_) => vec!["NotReady".into()],
            None => vec!["Unknown".into()],
        };
        if obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
            state.push("SchedulingDisabled".into());
        }
        let info = status.get("nodeInfo").unwrap_or(&Value::Null);
        let address = |kind: &str| {
            items(status, "addresses").iter().find(|a| s(a, "type") == kind).map(|a| s(a, "address").to_string()).unwrap_or_else(|| "<none>".into())
        };
        let or_unknown = |k: &str| if s(info, k).is_empty() { "<unknown>".to_string() } else { s(info, k).to_string() };
        vec![
            json!(state.join(",")),
            json!(node_roles(obj)),
            age(obj),
            json!(s(info, "kubeletVersion")),
            json!(address("InternalIP")),
            json!(address("ExternalIP")),
            json!(or_unknown("osImage")),
            json!(or_unknown("kernelVersion")),
            json!(or_unknown("containerRuntimeVersion")),
        ]
    }
    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![("spec.unschedulable", obj.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false).to_string())]
    }
}

/// PriorityClass strategy.
pub struct PriorityClass;
/// The PriorityClass strategy instance.
pub static PRIORITY_CLASS: PriorityClass = PriorityClass;

static PRIORITY_CLASS_COLUMNS: [Column; 4] = [
    Column::new("Value", "integer", "value represents the integer value of this priority class."),
    Column::new("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class."),
    AGE,
    Column::new("PreemptionPolicy", "string", "preemptionPolicy is the Policy for preempting pods with lower priority."),
];

impl Strategy for PriorityClass {
    fn default(&self, obj: &mut Value) {
        set_default(obj, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let value = int(obj, "value").unwrap_or(0);
        match pod_admission::builtin_priority(name) {
            Some(v) if v != value => causes.push(Cause::forbidden("metadata.name", format!("{name} is a system priority class and its value must be {v}"))),
            Some(_) => {}
            None if name.starts_with("system-") => causes.push(Cause::forbidden("metadata.name", "priority class names with 'system-' prefix are reserved")),
            None if value > 1_000_000_000 => causes.push(Cause::forbidden("value", "maximum allowed value of a user defined priority is 1000000000")),
            None => {}
        }
        match s(obj, "preemptionPolicy") {
            "PreemptLowerPriority" | "Never" => {}
            other => causes.push(Cause::not_supported("preemptionPolicy", &json!(other), &["Never", "PreemptLowerPriority"])),
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        if obj.get("value") != old.get("value") {
            causes.push(Cause::forbidden("value", "may not be changed in an update."));
        }
        if obj.get("preemptionPolicy") != old.get("preemptionPolicy") {
            causes.push(Cause::invalid("preemptionPolicy", obj.get("preemptionPolicy").unwrap_or(&Value::Null), "field is immutable"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &PRIORITY_CLASS_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![
            json!(int(obj, "value").unwrap_or(0)),
            json!(obj.get("globalDefault").and_then(Value::as_bool).unwrap_or(false)),
            age(obj),
            json!(s(obj, "preemptionPolicy")),
        ]
    }
}

/// RuntimeClass strategy.
pub struct RuntimeClass;
/// The RuntimeClass strategy instance.
pub static RUNTIME_CLASS: RuntimeClass = RuntimeClass;

static RUNTIME_CLASS_COLUMNS: [Column; 2] = [Column::new("Handler", "string", "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class."), AGE];

impl Strategy for RuntimeClass {
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let handler = s(obj, "handler");
        if handler.is_empty() {
            causes.push(Cause::required("handler"));
        } else {
            invalid_each(causes, "handler", &json!(handler), names::dns1123_label(handler));
        }
        if let Some(ns) = obj.pointer("/scheduling/nodeSelector") {
            labels::validate_labels(Some(ns), "scheduling.nodeSelector", causes);
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        if obj.get("handler") != old.get("handler") {
            causes.push(Cause::invalid("handler", obj.get("handler").unwrap_or(&Value::Null), "field is immutable"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &RUNTIME_CLASS_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(s(obj, "handler")), age(obj)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_create() {
        let mut ns = json!({"metadata": {"name": "team-a"}});
        NAMESPACE.default(&mut ns);
        NAMESPACE.prepare_for_create(&mut ns);
        assert_eq!(ns["metadata"]["labels"], json!({"kubernetes.io/metadata.name": "team-a"}));
        assert_eq!(ns["spec"], json!({"finalizers": ["kubernetes"]}));
        assert_eq!(ns["status"], json!({"phase": "Active"}));
        assert_eq!(NAMESPACE.row(&ns)[0], "Active");
    }

    #[test]
    fn node_row_and_defaults() {
        let mut node = json!({
            "metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true},
            "status": {"capacity": {"cpu": "4"}, "conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}], "nodeInfo": {"kubeletVersion": "v1.35.0"}}
        });
        NODE.default(&mut node);
        assert_eq!(node["status"]["allocatable"], json!({"cpu": "4"}));
        let row = NODE.row(&node);
        assert_eq!(&row[..2], &[json!("Ready,SchedulingDisabled"), json!("control-plane")]);
        assert_eq!(&row[3..6], &[json!("v1.35.0"), json!("10.0.0.1"), json!("<none>")]);
        assert_eq!(NODE.field_value(&node, "spec.unschedulable").as_deref(), Some("true"));
    }
}
