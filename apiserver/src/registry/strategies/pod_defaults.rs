//! Pod spec defaulting (`SetDefaults_PodSpec`, `SetDefaults_Container`, probes, volumes,
//! env field refs, … from `pkg/apis/core/v1/defaults.go` and the generated defaulters).
//! One entry point serves Pods, PodTemplates and every workload's template.

use super::json::{child, each_mut, existing, set_default};
use serde_json::{Value, json};

/// Defaults a `PodTemplateSpec` (the `template` of workloads): only the pod spec is
/// defaulted; pod-only defaults (`enableServiceLinks`, requests from limits) do not apply.
pub fn default_template(template: &mut Value) {
    if let Some(spec) = child(template, "spec") {
        default_pod_spec(spec);
    }
}

/// `SetDefaults_PodSpec` plus everything the generated defaulter reaches inside a pod spec.
pub fn default_pod_spec(spec: &mut Value) {
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    sync_service_account_alias(spec);
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        each_mut(spec, key, default_container);
    }
    each_mut(spec, "volumes", default_volume);
    canonical_resources(spec);
    super::quantity::canonicalize_list(spec, "overhead");
}

/// Pod-only defaults (`SetDefaults_Pod`): requests from limits, `enableServiceLinks`,
/// host ports for host-network pods.
pub fn default_pod_only(spec: &mut Value) {
    for key in ["containers", "initContainers"] {
        each_mut(spec, key, requests_from_limits);
    }
    set_default(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for key in ["containers", "initContainers"] {
            each_mut(spec, key, |c| {
                each_mut(c, "ports", |p| {
                    if p.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0
                        && let Some(port) = p.get("containerPort").cloned()
                    {
                        p["hostPort"] = port;
                    }
                })
            });
        }
    }
}

/// v1 conversion keeps the deprecated `serviceAccount` equal to `serviceAccountName`
/// (filling the name from the alias when only the alias is given).
fn sync_service_account_alias(spec: &mut Value) {
    let alias = spec.get("serviceAccount").and_then(Value::as_str).unwrap_or("").to_string();
    set_default(spec, "serviceAccountName", json!(alias));
    if spec.get("serviceAccountName").and_then(Value::as_str).is_none_or(str::is_empty) {
        if let Some(map) = spec.as_object_mut() {
            map.remove("serviceAccountName");
        }
        return;
    }
    spec["serviceAccount"] = spec["serviceAccountName"].clone();
}

fn requests_from_limits(container: &mut Value) {
    let Some(resources) = existing(container, "resources") else { return };
    let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else { return };
    let Some(requests) = child(resources, "requests").and_then(Value::as_object_mut) else { return };
    for (k, v) in limits {
        requests.entry(k).or_insert(v);
    }
}

/// The pull policy upstream picks for an image: `Always` for `:latest` or untagged
/// (undigested) images, `IfNotPresent` otherwise (`parsers.ParseImageName`).
pub fn default_pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = match last.split_once(':') {
        Some((_, t)) => t,
        None if digest || image.is_empty() => "",
        None => "latest",
    };
    if tag == "latest" { "Always" } else { "IfNotPresent" }
}

fn canonical_resources(holder: &mut Value) {
    if let Some(res) = existing(holder, "resources") {
        for key in ["limits", "requests"] {
            super::quantity::canonicalize_list(res, key);
        }
    }
}

fn default_container(c: &mut Value) {
    canonical_resources(c);
    let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
    set_default(c, "imagePullPolicy", json!(default_pull_policy(&image)));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    each_mut(c, "ports", |p| set_default(p, "protocol", json!("TCP")));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing(c, probe) {
            default_probe(p);
        }
    }
    if let Some(lifecycle) = existing(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = existing(lifecycle, hook).and_then(|h| existing(h, "httpGet")) {
                default_http_get(h);
            }
        }
    }
    each_mut(c, "env", |e| {
        if let Some(field_ref) = existing(e, "valueFrom").and_then(|v| existing(v, "fieldRef")) {
            set_default(field_ref, "apiVersion", json!("v1"));
        }
    });
}

fn default_probe(p: &mut Value) {
    for (key, value) in [("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)] {
        if p.get(key).and_then(Value::as_i64).unwrap_or(0) == 0 {
            p[key] = json!(value);
        }
    }
    if let Some(h) = existing(p, "httpGet") {
        default_http_get(h);
    }
}

fn default_http_get(h: &mut Value) {
    set_default(h, "path", json!("/"));
    set_default(h, "scheme", json!("HTTP"));
}

const VOLUME_SOURCES: &[&str] = &[
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "configMap", "csi", "downwardAPI", "emptyDir",
    "ephemeral", "fc", "flexVolume", "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "hostPath", "image",
    "iscsi", "nfs", "persistentVolumeClaim", "photonPersistentDisk", "portworxVolume", "projected", "quobyte", "rbd",
    "scaleIO", "secret", "storageos", "vsphereVolume",
];

fn default_volume(v: &mut Value) {
    if VOLUME_SOURCES.iter().all(|k| v.get(*k).is_none_or(Value::is_null)) {
        v["emptyDir"] = json!({});
    }
    for (source, mode) in [("secret", "defaultMode"), ("configMap", "defaultMode"), ("downwardAPI", "defaultMode")] {
        if let Some(src) = existing(v, source) {
            set_default(src, mode, json!(420));
            if source == "downwardAPI" {
                each_mut(src, "items", default_downward_item);
            }
        }
    }
    if let Some(projected) = existing(v, "projected") {
        set_default(projected, "defaultMode", json!(420));
        each_mut(projected, "sources", |s| {
            if let Some(t) = existing(s, "serviceAccountToken") {
                set_default(t, "expirationSeconds", json!(3600));
            }
            if let Some(d) = existing(s, "downwardAPI") {
                each_mut(d, "items", default_downward_item);
            }
        });
    }
    if let Some(host_path) = existing(v, "hostPath") {
        set_default(host_path, "type", json!(""));
    }
    if let Some(iscsi) = existing(v, "iscsi") {
        set_default(iscsi, "iscsiInterface", json!("default"));
    }
    if let Some(rbd) = existing(v, "rbd") {
        set_default(rbd, "pool", json!("rbd"));
        set_default(rbd, "user", json!("admin"));
        set_default(rbd, "keyring", json!("/etc/ceph/keyring"));
    }
    if let Some(azure) = existing(v, "azureDisk") {
        set_default(azure, "cachingMode", json!("ReadWrite"));
        set_default(azure, "fsType", json!("ext4"));
        set_default(azure, "readOnly", json!(false));
        set_default(azure, "kind", json!("Shared"));
    }
    if let Some(image) = existing(v, "image") {
        let reference = image.get("reference").and_then(Value::as_str).unwrap_or("").to_string();
        set_default(image, "pullPolicy", json!(default_pull_policy(&reference)));
    }
    if let Some(spec) = existing(v, "ephemeral")
        .and_then(|e| existing(e, "volumeClaimTemplate"))
        .and_then(|t| existing(t, "spec"))
    {
        set_default(spec, "volumeMode", json!("Filesystem"));
    }
}

fn default_downward_item(item: &mut Value) {
    if let Some(field_ref) = existing(item, "fieldRef") {
        set_default(field_ref, "apiVersion", json!("v1"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/nginx:1"), "IfNotPresent");
        assert_eq!(default_pull_policy("nginx@sha256:abcd"), "IfNotPresent");
    }

    #[test]
    fn pod_spec_defaults_match_upstream() {
        let mut spec = json!({
            "containers": [{
                "name": "web", "image": "nginx:1.27",
                "ports": [{"containerPort": 80}],
                "readinessProbe": {"httpGet": {"port": 80}},
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
            }],
            "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}]
        });
        default_pod_spec(&mut spec);
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["securityContext"], json!({}));
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(
            c["readinessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(spec["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(spec["volumes"][1]["configMap"]["defaultMode"], 420);
        assert!(spec.get("enableServiceLinks").is_none());
    }

    #[test]
    fn pod_only_defaults() {
        let mut spec = json!({"containers": [{"name": "a", "resources": {"limits": {"cpu": "1"}}}]});
        default_pod_only(&mut spec);
        assert_eq!(spec["containers"][0]["resources"]["requests"], json!({"cpu": "1"}));
        assert_eq!(spec["enableServiceLinks"], true);
    }
}
