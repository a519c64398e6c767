//! What the default admission chain of a real cluster adds to every new Pod, so that
//! `kubectl get pod -o yaml` shows the same fields: `Priority` (priority and
//! preemptionPolicy from the built-in classes), `ServiceAccount` (serviceAccountName
//! `default` and the `kube-api-access-<5>` projected token volume mounted in every
//! container) and `DefaultTolerationSeconds` (not-ready/unreachable for 300s).
//!
//! Limits: user PriorityClasses (and a custom globalDefault) are not looked up; the
//! ServiceAccount's own `automountServiceAccountToken: false` is not consulted (the pod's
//! is), and a missing ServiceAccount is not refused at admission.

use super::json::set_default;
use serde_json::{Value, json};

/// Value of the built-in priority classes (`system-cluster-critical`, `system-node-critical`).
pub fn builtin_priority(class: &str) -> Option<i64> {
    match class {
        "system-node-critical" => Some(2_000_001_000),
        "system-cluster-critical" => Some(2_000_000_000),
        _ => None,
    }
}

/// Applies the admission defaults to a Pod's spec.
pub fn admit_pod_spec(spec: &mut Value) {
    let class = spec.get("priorityClassName").and_then(Value::as_str).unwrap_or("");
    let priority = if class.is_empty() { Some(0) } else { builtin_priority(class) };
    if let Some(p) = priority
        && spec.get("priority").is_none_or(Value::is_null)
    {
        spec["priority"] = json!(p);
    }
    if priority.is_some() {
        set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
    set_default(spec, "serviceAccountName", json!("default"));
    let name = spec["serviceAccountName"].clone();
    spec["serviceAccount"] = name;
    if spec.get("automountServiceAccountToken").and_then(Value::as_bool) != Some(false) {
        mount_service_account_token(spec);
    }
    add_default_tolerations(spec);
}

/// Where every container finds its token, namespace and CA (`DefaultAPITokenMountPath`).
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Prefix of the injected volume's name.
const TOKEN_VOLUME_PREFIX: &str = "kube-api-access-";

/// Upstream's `mountServiceAccountToken`: one projected volume (token bound to the pod,
/// `kube-root-ca.crt`'s `ca.crt`, the namespace) mounted read-only at
/// [`TOKEN_MOUNT_PATH`] in every container that does not mount something there itself.
fn mount_service_account_token(spec: &mut Value) {
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .find(|n| n.starts_with(TOKEN_VOLUME_PREFIX))
        .map(str::to_string);
    let volume = existing.clone().unwrap_or_else(|| format!("{TOKEN_VOLUME_PREFIX}{}", random_suffix()));
    let mut mounted = false;
    for list in ["initContainers", "containers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            let mounts = c.as_object_mut().map(|m| m.entry("volumeMounts").or_insert_with(|| json!([])));
            let Some(mounts) = mounts.and_then(Value::as_array_mut) else { continue };
            if mounts.iter().any(|m| m.get("mountPath").and_then(Value::as_str) == Some(TOKEN_MOUNT_PATH)) {
                continue;
            }
            mounts.push(json!({ "name": volume, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH }));
            mounted = true;
        }
    }
    if !mounted || existing.is_some() {
        return;
    }
    let Some(map) = spec.as_object_mut() else { return };
    let Some(volumes) = map.entry("volumes").or_insert_with(|| json!([])).as_array_mut() else { return };
    volumes.push(json!({
        "name": volume,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                { "serviceAccountToken": { "expirationSeconds": 3607, "path": "token" } },
                { "configMap": { "name": "kube-root-ca.crt", "items": [{ "key": "ca.crt", "path": "ca.crt" }] } },
                { "downwardAPI": { "items": [{ "path": "namespace", "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.namespace" } }] } },
            ],
        },
    }));
}

/// Five characters from apimachinery's `rand.String` alphabet (no vowels, no look-alikes).
fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

fn add_default_tolerations(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else { return };
    let list = map.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else { return };
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        let tolerated = list.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            let op = t.get("operator").and_then(Value::as_str).unwrap_or("Equal");
            (k == key || (k.is_empty() && op == "Exists")) && (effect.is_empty() || effect == "NoExecute")
        });
        if !tolerated {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_pod_gets_cluster_defaults() {
        let mut spec = json!({"containers": []});
        admit_pod_spec(&mut spec);
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(spec["tolerations"][1]["key"], "node.kubernetes.io/unreachable");
    }

    #[test]
    fn token_volume_is_mounted_in_every_container() {
        let mut spec = json!({"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b", "volumeMounts": [{"name": "own", "mountPath": TOKEN_MOUNT_PATH}]}]});
        admit_pod_spec(&mut spec);
        let volume = spec["volumes"][0]["name"].as_str().unwrap().to_string();
        assert!(volume.starts_with("kube-api-access-") && volume.len() == 21, "{volume}");
        assert_eq!(spec["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 3607);
        assert_eq!(spec["containers"][0]["volumeMounts"][0], json!({"name": volume, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH}));
        assert_eq!(spec["initContainers"][0]["volumeMounts"][0]["name"], volume.as_str());
        assert_eq!(spec["containers"][1]["volumeMounts"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn automount_false_means_no_token() {
        let mut spec = json!({"automountServiceAccountToken": false, "containers": [{"name": "a"}]});
        admit_pod_spec(&mut spec);
        assert!(spec.get("volumes").is_none());
        assert!(spec["containers"][0].get("volumeMounts").is_none());
    }
}
