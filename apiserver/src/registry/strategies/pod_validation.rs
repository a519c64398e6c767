//! Pod spec validation (`ValidatePodSpec`, `ValidatePodTemplateSpec` of
//! `pkg/apis/core/validation`), shared by Pods, PodTemplates and every workload template.
//! Causes come out in upstream's order: volumes, containers, init containers, pod fields.

use super::causes::invalid_each;
use super::json::{int, items, s};
use super::{labels, names, quantity};
use crate::registry::strategy::Cause;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];

/// What a template's owner allows for `restartPolicy` on top of the pod rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartRule {
    /// Pods and PodTemplates: any valid policy.
    Any,
    /// ReplicaSet-like owners (Deployment, RS, RC, StatefulSet, DaemonSet): `Always` only.
    AlwaysOnly,
    /// Jobs: `OnFailure` or `Never`.
    OnFailureOrNever,
}

/// `ValidatePodTemplateSpec` plus the owner's restart-policy rule, at `path` (e.g.
/// `spec.template`).
pub fn validate_template(template: &Value, path: &str, rule: RestartRule, causes: &mut Vec<Cause>) {
    let meta = template.get("metadata").unwrap_or(&Value::Null);
    labels::validate_labels(meta.get("labels"), &format!("{path}.labels"), causes);
    let spec = template.get("spec").unwrap_or(&Value::Null);
    validate_pod_spec(spec, &format!("{path}.spec"), causes);
    if super::json::len_of(spec, "ephemeralContainers") > 0 {
        causes.push(Cause::forbidden(format!("{path}.spec.ephemeralContainers"), "ephemeral containers not allowed in pod template"));
    }
    let policy = s(spec, "restartPolicy");
    let field = format!("{path}.spec.restartPolicy");
    match rule {
        RestartRule::Any => {}
        RestartRule::AlwaysOnly if policy != "Always" => causes.push(Cause::not_supported(field, &json!(policy), &["Always"])),
        RestartRule::AlwaysOnly => {}
        RestartRule::OnFailureOrNever if policy == "Always" || policy.is_empty() => {
            causes.push(Cause::required_because(field, "valid values: \"OnFailure\", \"Never\""))
        }
        RestartRule::OnFailureOrNever if policy != "OnFailure" && policy != "Never" => {
            causes.push(Cause::not_supported(field, &json!(policy), &["OnFailure", "Never"]))
        }
        RestartRule::OnFailureOrNever => {}
    }
}

/// `ValidatePodSpec` at `path` (e.g. `spec` or `spec.template.spec`).
pub fn validate_pod_spec(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    let volumes = validate_volumes(items(spec, "volumes"), &format!("{path}.volumes"), causes);
    let containers = items(spec, "containers");
    let cpath = format!("{path}.containers");
    if containers.is_empty() {
        causes.push(Cause::required(&cpath));
    }
    let mut names_seen = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        let p = format!("{cpath}[{i}]");
        validate_container(c, &p, &volumes, causes);
        let name = s(c, "name");
        if !names_seen.insert(name.to_string()) {
            causes.push(Cause::duplicate(format!("{p}.name"), &json!(name)));
        }
        validate_probes(c, &p, causes);
        if c.get("restartPolicy").is_some_and(|v| !v.is_null()) {
            causes.push(Cause::forbidden(format!("{p}.restartPolicy"), "may not be set for non-init containers"));
        }
    }
    for (i, c) in items(spec, "initContainers").iter().enumerate() {
        let p = format!("{path}.initContainers[{i}]");
        validate_container(c, &p, &volumes, causes);
        let name = s(c, "name");
        if !names_seen.insert(name.to_string()) {
            causes.push(Cause::duplicate(format!("{p}.name"), &json!(name)));
        }
        match c.get("restartPolicy").and_then(Value::as_str) {
            None | Some("Always") => {}
            Some(other) => causes.push(Cause::not_supported(format!("{p}.restartPolicy"), &json!(other), &["Always"])),
        }
    }
    let restart = s(spec, "restartPolicy");
    if restart.is_empty() {
        causes.push(Cause::required(format!("{path}.restartPolicy")));
    } else if !RESTART_POLICIES.contains(&restart) {
        causes.push(Cause::not_supported(format!("{path}.restartPolicy"), &json!(restart), RESTART_POLICIES));
    }
    let dns = s(spec, "dnsPolicy");
    if dns.is_empty() {
        causes.push(Cause::required(format!("{path}.dnsPolicy")));
    } else if !DNS_POLICIES.contains(&dns) {
        causes.push(Cause::not_supported(format!("{path}.dnsPolicy"), &json!(dns), DNS_POLICIES));
    }
    labels::validate_labels(spec.get("nodeSelector"), &format!("{path}.nodeSelector"), causes);
    for key in ["serviceAccountName", "nodeName"] {
        let v = s(spec, key);
        if !v.is_empty() {
            invalid_each(causes, &format!("{path}.{key}"), &json!(v), names::dns1123_subdomain(v));
        }
    }
    if let Some(ads) = int(spec, "activeDeadlineSeconds")
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        causes.push(Cause::invalid(format!("{path}.activeDeadlineSeconds"), &json!(ads), "must be between 1 and 2147483647, inclusive"));
    }
    for key in ["hostname", "subdomain"] {
        let v = s(spec, key);
        if !v.is_empty() {
            invalid_each(causes, &format!("{path}.{key}"), &json!(v), names::dns1123_label(v));
        }
    }
    validate_tolerations(items(spec, "tolerations"), &format!("{path}.tolerations"), causes);
}

/// Validates volumes; returns their names for mount checks.
fn validate_volumes(volumes: &[Value], path: &str, causes: &mut Vec<Cause>) -> HashSet<String> {
    let mut seen = HashSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = format!("{path}[{i}]");
        validate_volume_source(v, &p, causes);
        let name = s(v, "name");
        let name_path = format!("{p}.name");
        if name.is_empty() {
            causes.push(Cause::required(&name_path));
        } else {
            invalid_each(causes, &name_path, &json!(name), names::dns1123_label(name));
        }
        if !seen.insert(name.to_string()) {
            causes.push(Cause::duplicate(&name_path, &json!(name)));
        }
    }
    seen
}

fn validate_volume_source(v: &Value, path: &str, causes: &mut Vec<Cause>) {
    let sources: Vec<&String> = v
        .as_object()
        .map(|m| m.iter().filter(|(k, val)| k.as_str() != "name" && !val.is_null()).map(|(k, _)| k).collect())
        .unwrap_or_default();
    if sources.is_empty() {
        causes.push(Cause::required_because(path, "must specify a volume type"));
        return;
    }
    for extra in sources.iter().skip(1) {
        causes.push(Cause::forbidden(format!("{path}.{extra}"), "may not specify more than 1 volume type"));
    }
    let required = [
        ("configMap", "name"),
        ("secret", "secretName"),
        ("hostPath", "path"),
        ("persistentVolumeClaim", "claimName"),
        ("nfs", "server"),
        ("nfs", "path"),
    ];
    for (source, key) in required {
        if let Some(src) = v.get(source).filter(|x| x.is_object())
            && s(src, key).is_empty()
        {
            causes.push(Cause::required(format!("{path}.{source}.{key}")));
        }
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(mode) = v.get(source).and_then(|x| int(x, "defaultMode"))
            && !(0..=0o777).contains(&mode)
        {
            causes.push(Cause::invalid(
                format!("{path}.{source}.defaultMode"),
                &json!(mode),
                "must be a number between 0 and 0777 (octal), both inclusive",
            ));
        }
    }
}

fn validate_container(c: &Value, path: &str, volumes: &HashSet<String>, causes: &mut Vec<Cause>) {
    let name = s(c, "name");
    if name.is_empty() {
        causes.push(Cause::required(format!("{path}.name")));
    } else {
        invalid_each(causes, &format!("{path}.name"), &json!(name), names::dns1123_label(name));
    }
    let image = s(c, "image");
    if image.is_empty() {
        causes.push(Cause::required(format!("{path}.image")));
    } else if image.trim() != image {
        causes.push(Cause::invalid(format!("{path}.image"), &json!(image), "must not have leading or trailing whitespace"));
    }
    check_enum(c, "terminationMessagePolicy", path, MESSAGE_POLICIES, causes);
    validate_ports(items(c, "ports"), &format!("{path}.ports"), causes);
    for (i, e) in items(c, "env").iter().enumerate() {
        let n = s(e, "name");
        let p = format!("{path}.env[{i}].name");
        if n.is_empty() {
            causes.push(Cause::required(p));
        } else if n.contains('=') || !n.bytes().all(|b| (32..=126).contains(&b)) {
            causes.push(Cause::invalid(p, &json!(n), "a valid environment variable name must consist only of printable ASCII characters other than '='"));
        }
    }
    let mut mount_paths = HashSet::new();
    for (i, m) in items(c, "volumeMounts").iter().enumerate() {
        let p = format!("{path}.volumeMounts[{i}]");
        let vname = s(m, "name");
        if vname.is_empty() {
            causes.push(Cause::required(format!("{p}.name")));
        }
        if !volumes.contains(vname) {
            causes.push(Cause::not_found(format!("{p}.name"), &json!(vname)));
        }
        let mount_path = s(m, "mountPath");
        if mount_path.is_empty() {
            causes.push(Cause::required(format!("{p}.mountPath")));
        }
        if !mount_paths.insert(mount_path.to_string()) {
            causes.push(Cause::invalid(format!("{p}.mountPath"), &json!(mount_path), "must be unique"));
        }
    }
    check_enum(c, "imagePullPolicy", path, PULL_POLICIES, causes);
    validate_resources(c.get("resources").unwrap_or(&Value::Null), &format!("{path}.resources"), causes);
}

fn check_enum(obj: &Value, key: &str, path: &str, allowed: &[&str], causes: &mut Vec<Cause>) {
    let v = s(obj, key);
    if v.is_empty() {
        causes.push(Cause::required(format!("{path}.{key}")));
    } else if !allowed.contains(&v) {
        causes.push(Cause::not_supported(format!("{path}.{key}"), &json!(v), allowed));
    }
}

fn validate_ports(ports: &[Value], path: &str, causes: &mut Vec<Cause>) {
    let mut seen = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let name = s(port, "name");
        if !name.is_empty() {
            let errs = names::port_name(name);
            if !errs.is_empty() {
                invalid_each(causes, &format!("{p}.name"), &json!(name), errs);
            } else if !seen.insert(name.to_string()) {
                causes.push(Cause::duplicate(format!("{p}.name"), &json!(name)));
            }
        }
        match int(port, "containerPort").unwrap_or(0) {
            0 => causes.push(Cause::required(format!("{p}.containerPort"))),
            n => invalid_each(causes, &format!("{p}.containerPort"), &json!(n), names::port_num(n)),
        }
        if let Some(h) = int(port, "hostPort").filter(|h| *h != 0) {
            invalid_each(causes, &format!("{p}.hostPort"), &json!(h), names::port_num(h));
        }
        check_enum(port, "protocol", &p, PROTOCOLS, causes);
    }
}

/// `ValidateResourceRequirements`: non-negative quantities and requests ≤ limits.
pub fn validate_resources(res: &Value, path: &str, causes: &mut Vec<Cause>) {
    let list = |key: &str| -> Vec<(String, String)> { super::json::string_map(res, key) };
    let limits: HashMap<String, String> = list("limits").into_iter().collect();
    for (kind, entries) in [("limits", list("limits")), ("requests", list("requests"))] {
        for (name, q) in &entries {
            let p = format!("{path}.{kind}[{name}]");
            match quantity::nanos(q) {
                None => causes.push(Cause::invalid(&p, &json!(q), "must be a valid quantity")),
                Some(n) if n < 0 => causes.push(Cause::invalid(&p, &json!(q), "must be greater than or equal to 0")),
                Some(_) => {}
            }
            if kind != "requests" {
                continue;
            }
            let Some(limit) = limits.get(name) else { continue };
            let (Some(req), Some(lim)) = (quantity::nanos(q), quantity::nanos(limit)) else { continue };
            let native = !name.contains('/') || name.starts_with("kubernetes.io/");
            let overcommit = native && !name.starts_with("hugepages-");
            if req != lim && !overcommit {
                causes.push(Cause::invalid(format!("{path}.requests"), &json!(q), format!("must be equal to {name} limit of {limit}")));
            } else if req > lim {
                causes.push(Cause::invalid(format!("{path}.requests"), &json!(q), format!("must be less than or equal to {name} limit of {limit}")));
            }
        }
    }
}

const HANDLERS: &[&str] = &["exec", "httpGet", "tcpSocket", "grpc"];

fn validate_probes(c: &Value, path: &str, causes: &mut Vec<Cause>) {
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(p) = c.get(probe).filter(|v| v.is_object()) else { continue };
        let pp = format!("{path}.{probe}");
        let handlers: Vec<&str> = HANDLERS.iter().copied().filter(|h| p.get(*h).is_some_and(|v| !v.is_null())).collect();
        if handlers.is_empty() {
            causes.push(Cause::required_because(&pp, "must specify a handler type"));
        }
        for extra in handlers.iter().skip(1) {
            causes.push(Cause::forbidden(format!("{pp}.{extra}"), "may not specify more than 1 handler type"));
        }
        for key in ["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"] {
            if let Some(n) = int(p, key).filter(|n| *n < 0) {
                causes.push(Cause::invalid(format!("{pp}.{key}"), &json!(n), "must be greater than or equal to 0"));
            }
        }
        if probe != "readinessProbe"
            && let Some(n) = int(p, "successThreshold").filter(|n| *n != 1)
        {
            causes.push(Cause::invalid(format!("{pp}.successThreshold"), &json!(n), "must be 1"));
        }
    }
}

fn validate_tolerations(tolerations: &[Value], path: &str, causes: &mut Vec<Cause>) {
    for (i, t) in tolerations.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let key = s(t, "key");
        if !key.is_empty() {
            invalid_each(causes, &format!("{p}.key"), &json!(key), names::qualified_name(key));
        }
        let op = s(t, "operator");
        match op {
            "" | "Equal" => {}
            "Exists" if !s(t, "value").is_empty() => {
                causes.push(Cause::invalid(format!("{p}.operator"), &t["value"], "value must be empty when `operator` is 'Exists'"))
            }
            "Exists" => {}
            other => causes.push(Cause::not_supported(format!("{p}.operator"), &json!(other), &["Equal", "Exists"])),
        }
        let effect = s(t, "effect");
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
            causes.push(Cause::not_supported(format!("{p}.effect"), &json!(effect), &["NoSchedule", "PreferNoSchedule", "NoExecute"]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::strategies::pod_defaults::default_pod_spec;

    fn defaulted(mut spec: Value) -> Value {
        default_pod_spec(&mut spec);
        spec
    }

    #[test]
    fn duplicate_container_names_give_the_upstream_cause() {
        let spec = defaulted(json!({"containers": [{"name": "web", "image": "a"}, {"name": "web", "image": "b"}]}));
        let mut causes = Vec::new();
        validate_pod_spec(&spec, "spec", &mut causes);
        assert_eq!(causes, vec![Cause::duplicate("spec.containers[1].name", &json!("web"))]);
        assert_eq!(causes[0].message, "Duplicate value: \"web\"");
    }

    #[test]
    fn common_container_errors() {
        let spec = defaulted(json!({
            "containers": [{
                "name": "Web", "ports": [{"containerPort": 70000}],
                "volumeMounts": [{"name": "data", "mountPath": "/d"}],
                "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
            }],
            "restartPolicy": "Sometimes"
        }));
        let mut causes = Vec::new();
        validate_pod_spec(&spec, "spec", &mut causes);
        let got: Vec<(String, String)> = causes.iter().map(|c| (c.field.clone(), c.message.clone())).collect();
        let expect = |f: &str, m: &str| (f.to_string(), m.to_string());
        assert_eq!(
            got,
            vec![
                expect("spec.containers[0].name", &format!("Invalid value: \"Web\": {}", names::DNS1123_LABEL_MSG)),
                expect("spec.containers[0].image", "Required value"),
                expect("spec.containers[0].ports[0].containerPort", "Invalid value: 70000: must be between 1 and 65535, inclusive"),
                expect("spec.containers[0].volumeMounts[0].name", "Not found: \"data\""),
                expect("spec.containers[0].resources.requests", "Invalid value: \"2\": must be less than or equal to cpu limit of 1"),
                expect("spec.restartPolicy", "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""),
            ]
        );
    }

    #[test]
    fn template_restart_rules() {
        let template = json!({"metadata": {"labels": {"a": "b"}}, "spec": defaulted(json!({"containers": [{"name": "c", "image": "i"}]}))});
        let mut causes = Vec::new();
        validate_template(&template, "spec.template", RestartRule::AlwaysOnly, &mut causes);
        assert!(causes.is_empty());
        validate_template(&template, "spec.template", RestartRule::OnFailureOrNever, &mut causes);
        assert_eq!(causes[0].field, "spec.template.spec.restartPolicy");
        assert_eq!(causes[0].message, "Required value: valid values: \"OnFailure\", \"Never\"");
    }
}
