//! Objects every cluster has from its first second, as kube-apiserver creates them:
//! the four system namespaces, the `kubernetes` Service with its endpoints, the system
//! PriorityClasses, the default StorageClass `standard`, the `cluster-admin` role bound to
//! `system:masters`, the roles every user has (`system:discovery`, `system:basic-user`,
//! `system:public-info-viewer`, `system:service-account-issuer-discovery`) and the
//! user-facing `admin`/`edit`/`view` roles, from upstream's `bootstrappolicy`
//! (`super::bootstrap_policy`). Written
//! through the store like any client write; existing objects are left alone.

use crate::error::ApiError;
use crate::registry::kinds;
use crate::registry::store::{Store, Target, WriteOptions};
use serde_json::{json, Value};
use std::net::IpAddr;

async fn ensure(store: &Store, group: &str, resource: &str, namespace: Option<&str>, obj: Value) -> Result<(), ApiError> {
    let kind = kinds::find(group, "v1", resource).ok_or_else(|| ApiError::Internal(format!("{resource} is not served")))?;
    let target = Target { kind, namespace };
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    match store.get(target, name).await {
        Ok(_) => return Ok(()),
        Err(ApiError::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let opts = WriteOptions { field_manager: "kube-apiserver".into(), ..Default::default() };
    match store.create(target, obj, &opts).await {
        Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `obj`, or when it exists with other values under `keys` (dotted paths),
/// writes those fields over it: upstream's controlplane endpoint reconciler keeps the
/// `kubernetes` Service and its endpoints pointing at this server (its address or port
/// may have changed since the last start).
async fn reconcile(store: &Store, group: &str, resource: &str, namespace: Option<&str>, obj: Value, keys: &[&str]) -> Result<(), ApiError> {
    let kind = kinds::find(group, "v1", resource).ok_or_else(|| ApiError::Internal(format!("{resource} is not served")))?;
    let target = Target { kind, namespace };
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut current = match store.get(target, &name).await {
        Ok(current) => current,
        Err(ApiError::NotFound { .. }) => return ensure(store, group, resource, namespace, obj).await,
        Err(e) => return Err(e),
    };
    let mut changed = false;
    for key in keys {
        let pointer = format!("/{}", key.replace('.', "/"));
        let want = obj.pointer(&pointer).cloned().unwrap_or(Value::Null);
        if current.pointer(&pointer) == Some(&want) {
            continue;
        }
        let (parent, field) = pointer.rsplit_once('/').unwrap_or_default();
        if let Some(Value::Object(map)) = current.pointer_mut(parent) {
            map.insert(field.to_string(), want);
            changed = true;
        }
    }
    if !changed {
        return Ok(());
    }
    let opts = WriteOptions { field_manager: "kube-apiserver".into(), ..Default::default() };
    store.update(target, &name, current, None, &opts).await.map(|_| ())
}

/// Creates the bootstrap objects that are missing.
pub async fn run(store: &Store, advertise: IpAddr, port: u16) -> Result<(), ApiError> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(store, "", "namespaces", None, json!({ "metadata": { "name": ns } })).await?;
    }
    let cluster_ip = store.first_service_ip().to_string();
    reconcile(store, "", "services", Some("default"), json!({
        "metadata": { "name": "kubernetes", "labels": { "component": "apiserver", "provider": "kubernetes" } },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "ports": [{ "name": "https", "port": 443, "protocol": "TCP", "targetPort": port }],
            "sessionAffinity": "None",
        },
    }), &["spec.ports"])
    .await?;
    reconcile(store, "", "endpoints", Some("default"), json!({
        "metadata": { "name": "kubernetes", "labels": { "endpointslice.kubernetes.io/skip-mirror": "true" } },
        "subsets": [{ "addresses": [{ "ip": advertise.to_string() }], "ports": [{ "name": "https", "port": port, "protocol": "TCP" }] }],
    }), &["subsets"])
    .await?;
    reconcile(store, "discovery.k8s.io", "endpointslices", Some("default"), json!({
        "metadata": { "name": "kubernetes", "labels": { "kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" } },
        "addressType": if advertise.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{ "addresses": [advertise.to_string()], "conditions": { "ready": true } }],
        "ports": [{ "name": "https", "port": port, "protocol": "TCP" }],
    }), &["addressType", "endpoints", "ports"])
    .await?;
    for (name, value, description) in [
        ("system-node-critical", 2000001000, "Used for system critical pods that must not be moved from their current node."),
        ("system-cluster-critical", 2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
    ] {
        ensure(store, "scheduling.k8s.io", "priorityclasses", None, json!({
            "metadata": { "name": name },
            "value": value,
            "globalDefault": false,
            "description": description,
            "preemptionPolicy": "PreemptLowerPriority",
        }))
        .await?;
    }
    // Like kind's and minikube's `standard` class, served by the controller manager's
    // hostPath provisioner (`ironkube.io/hostpath`).
    ensure(store, "storage.k8s.io", "storageclasses", None, json!({
        "metadata": {
            "name": "standard",
            "annotations": { "storageclass.kubernetes.io/is-default-class": "true" },
            "labels": { "addonmanager.kubernetes.io/mode": "EnsureExists" },
        },
        "provisioner": "ironkube.io/hostpath",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }))
    .await?;
    let bootstrap_labels = json!({ "kubernetes.io/bootstrapping": "rbac-defaults" });
    let autoupdate = json!({ "rbac.authorization.kubernetes.io/autoupdate": "true" });
    ensure(store, "rbac.authorization.k8s.io", "clusterroles", None, json!({
        "metadata": { "name": "cluster-admin", "labels": bootstrap_labels, "annotations": autoupdate },
        "rules": [
            { "apiGroups": ["*"], "resources": ["*"], "verbs": ["*"] },
            { "nonResourceURLs": ["*"], "verbs": ["*"] },
        ],
    }))
    .await?;
    ensure(store, "rbac.authorization.k8s.io", "clusterrolebindings", None, json!({
        "metadata": { "name": "cluster-admin", "labels": bootstrap_labels, "annotations": autoupdate },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters" }],
    }))
    .await?;
    for role in super::bootstrap_policy::user_facing_roles() {
        let mut labels = role.labels;
        labels.as_object_mut().expect("labels are an object").insert("kubernetes.io/bootstrapping".into(), "rbac-defaults".into());
        let mut obj = json!({ "metadata": { "name": role.name, "labels": labels, "annotations": autoupdate } });
        obj.as_object_mut().expect("an object").extend(role.body.as_object().cloned().unwrap_or_default());
        ensure(store, "rbac.authorization.k8s.io", "clusterroles", None, obj).await?;
    }
    for (name, rules, groups) in super::bootstrap_policy::basic_roles() {
        ensure(store, "rbac.authorization.k8s.io", "clusterroles", None, json!({
            "metadata": { "name": name, "labels": bootstrap_labels, "annotations": autoupdate },
            "rules": rules,
        }))
        .await?;
        let subjects: Vec<Value> = groups.iter().map(|g| json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g })).collect();
        ensure(store, "rbac.authorization.k8s.io", "clusterrolebindings", None, json!({
            "metadata": { "name": name, "labels": bootstrap_labels, "annotations": autoupdate },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name },
            "subjects": subjects,
        }))
        .await?;
    }
    Ok(())
}
