//! Storage kinds: PersistentVolume, PersistentVolumeClaim, StorageClass
//! (`pkg/registry/core/persistentvolume{,claim}`, `pkg/registry/storage/storageclass`).

use super::causes::invalid_each;
use super::json::{child, existing, items, s, set_default};
use super::{labels, names, quantity};
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

const ACCESS_MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];

/// `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order.
fn access_modes_text(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|x| x == m);
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(m, _)| has(m))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

fn storage_class_of(obj: &Value) -> String {
    match obj.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class").and_then(Value::as_str) {
        Some(c) => c.to_string(),
        None => obj.pointer("/spec/storageClassName").and_then(Value::as_str).unwrap_or("").to_string(),
    }
}

/// Adds `finalizer` unless present (upstream `StorageObjectInUseProtection` admission, which
/// protects every new PVC and PV until nothing uses it).
fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let Some(md) = child(obj, "metadata") else { return };
    let list = md.as_object_mut().map(|m| m.entry("finalizers").or_insert_with(|| json!([])));
    if let Some(list) = list.and_then(Value::as_array_mut)
        && !list.iter().any(|f| f == finalizer)
    {
        list.push(json!(finalizer));
    }
}

/// Finalizer the PVC protection controller removes once no pod uses the claim.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// Finalizer the PV protection controller removes once the volume is not bound.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// Upstream `DefaultStorageClass` admission: a new claim without `storageClassName` (and
/// without the beta annotation) gets the default class; with several defaults, the newest
/// (by creationTimestamp, then name) wins. An explicit `""` keeps the claim class-less.
pub fn admit_default_storage_class(pvc: &mut Value, classes: &[Value]) {
    let unset = pvc.pointer("/spec/storageClassName").is_none_or(Value::is_null)
        && pvc.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class").is_none();
    if !unset {
        return;
    }
    let newest = classes
        .iter()
        .filter(|c| is_default_class(c))
        .max_by_key(|c| (s(c.get("metadata").unwrap_or(&Value::Null), "creationTimestamp").to_string(), std::cmp::Reverse(storage_class_name(c))));
    if let (Some(class), Some(spec)) = (newest, child(pvc, "spec")) {
        spec["storageClassName"] = json!(storage_class_name(class));
    }
}

fn storage_class_name(class: &Value) -> String {
    class.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string()
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

fn validate_access_modes(spec: &Value, path: &str, required_detail: &str, causes: &mut Vec<Cause>) {
    let modes = items(spec, "accessModes");
    if modes.is_empty() {
        causes.push(if required_detail.is_empty() {
            Cause::required(format!("{path}.accessModes"))
        } else {
            Cause::required_because(format!("{path}.accessModes"), required_detail)
        });
    }
    for m in modes {
        if !m.as_str().is_some_and(|m| ACCESS_MODES.contains(&m)) {
            causes.push(Cause::not_supported(format!("{path}.accessModes"), m, ACCESS_MODES));
        }
    }
    if modes.len() > 1 && modes.iter().any(|m| m == "ReadWriteOncePod") {
        causes.push(Cause::forbidden(format!("{path}.accessModes"), "may not use ReadWriteOncePod with other access modes"));
    }
}

fn validate_volume_mode(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    if let Some(mode) = spec.get("volumeMode").and_then(Value::as_str)
        && !VOLUME_MODES.contains(&mode)
    {
        causes.push(Cause::not_supported(format!("{path}.volumeMode"), &json!(mode), VOLUME_MODES));
    }
}

/// PersistentVolume strategy.
pub struct Pv;
/// The PersistentVolume strategy instance.
pub static PV: Pv = Pv;

static PV_COLUMNS: [Column; 10] = [
    Column::new("Capacity", "string", "capacity is the description of the persistent volume's resources and capacity."),
    Column::new("Access Modes", "string", "accessModes contains all ways the volume can be mounted."),
    Column::new("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
    Column::new("Status", "string", "phase indicates if a volume is available, bound to a claim, or released by a claim."),
    Column::new("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
    Column::new("StorageClass", "string", "StorageClass of the pv"),
    Column::new("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
    Column::new("Reason", "string", "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
    AGE,
    Column::wide("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
];

const PV_NON_SOURCE_KEYS: &[&str] = &[
    "accessModes", "capacity", "claimRef", "mountOptions", "nodeAffinity", "persistentVolumeReclaimPolicy", "storageClassName",
    "volumeAttributesClassName", "volumeMode",
];

impl Strategy for Pv {
    fn has_status(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = child(obj, "spec") {
            quantity::canonicalize_list(spec, "capacity");
            set_default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            set_default(spec, "volumeMode", json!("Filesystem"));
            if let Some(hp) = existing(spec, "hostPath") {
                set_default(hp, "type", json!(""));
            }
        }
        if let Some(status) = child(obj, "status") {
            set_default(status, "phase", json!("Pending"));
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        let now = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or(jiff::Timestamp::now());
        obj["status"] = json!({"phase": "Pending", "lastPhaseTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()});
        add_finalizer(obj, PV_PROTECTION);
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        validate_access_modes(spec, "spec", "", causes);
        let capacity = spec.get("capacity").and_then(Value::as_object);
        if capacity.is_none_or(|c| c.is_empty()) {
            causes.push(Cause::required("spec.capacity"));
        }
        let only_storage = capacity.is_some_and(|c| c.len() == 1 && c.contains_key("storage"));
        if !only_storage {
            let rendered = match capacity {
                None => "core.ResourceList(nil)".to_string(),
                Some(c) if c.is_empty() => "core.ResourceList{}".to_string(),
                Some(_) => "core.ResourceList{...}".to_string(),
            };
            let mut c = Cause::not_supported("spec.capacity", &Value::Null, &["storage"]);
            c.message = c.message.replacen("null", &rendered, 1);
            causes.push(c);
        }
        for (k, q) in capacity.into_iter().flatten() {
            let q = q.as_str().unwrap_or("");
            if quantity::nanos(q).is_none_or(|n| n <= 0) {
                causes.push(Cause::invalid(format!("spec.capacity[{k}]"), &json!(q), "must be greater than zero"));
            }
        }
        let class = s(spec, "storageClassName");
        if !class.is_empty() {
            invalid_each(causes, "spec.storageClassName", &json!(class), names::dns1123_subdomain(class));
        }
        validate_volume_mode(spec, "spec", causes);
        match s(spec, "persistentVolumeReclaimPolicy") {
            "" | "Delete" | "Recycle" | "Retain" => {}
            other => causes.push(Cause::not_supported("spec.persistentVolumeReclaimPolicy", &json!(other), &["Delete", "Recycle", "Retain"])),
        }
        let sources = spec.as_object().map(|m| m.iter().filter(|(k, v)| !PV_NON_SOURCE_KEYS.contains(&k.as_str()) && !v.is_null()).count()).unwrap_or(0);
        if sources == 0 {
            causes.push(Cause::required_because("spec", "must specify a volume type"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &PV_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let claim = spec.get("claimRef").filter(|c| c.is_object()).map(|c| format!("{}/{}", s(c, "namespace"), s(c, "name"))).unwrap_or_default();
        let phase = if deleting(obj) { "Terminating".to_string() } else { obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or("").to_string() };
        let capacity = spec.pointer("/capacity/storage").and_then(Value::as_str).unwrap_or("0");
        vec![
            json!(capacity),
            json!(access_modes_text(items(spec, "accessModes"))),
            json!(s(spec, "persistentVolumeReclaimPolicy")),
            json!(phase),
            json!(claim),
            json!(storage_class_of(obj)),
            json!(spec.get("volumeAttributesClassName").and_then(Value::as_str).unwrap_or("<unset>")),
            json!(obj.pointer("/status/reason").and_then(Value::as_str).unwrap_or("")),
            age(obj),
            json!(spec.get("volumeMode").and_then(Value::as_str).unwrap_or("<unset>")),
        ]
    }
}

/// PersistentVolumeClaim strategy.
pub struct Pvc;
/// The PersistentVolumeClaim strategy instance.
pub static PVC: Pvc = Pvc;

static PVC_COLUMNS: [Column; 8] = [
    Column::new("Status", "string", "phase represents the current phase of PersistentVolumeClaim."),
    Column::new("Volume", "string", "volumeName is the binding reference to the PersistentVolume backing this claim."),
    Column::new("Capacity", "string", "capacity represents the actual resources of the underlying volume."),
    Column::new("Access Modes", "string", "accessModes contains the actual access modes the volume backing the PVC has."),
    Column::new("StorageClass", "string", "StorageClass of the pvc"),
    Column::new("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
    AGE,
    Column::wide("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim."),
];

const PVC_UPDATE_MSG: &str = "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims";

impl Strategy for Pvc {
    fn has_status(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = child(obj, "spec") {
            set_default(spec, "volumeMode", json!("Filesystem"));
            if let Some(res) = existing(spec, "resources") {
                quantity::canonicalize_list(res, "requests");
                quantity::canonicalize_list(res, "limits");
            }
        }
        if let Some(status) = child(obj, "status") {
            set_default(status, "phase", json!("Pending"));
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Pending"});
        add_finalizer(obj, PVC_PROTECTION);
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        validate_access_modes(spec, "spec", "at least 1 access mode is required", causes);
        if let Some(sel) = spec.get("selector").filter(|v| v.is_object()) {
            labels::validate_selector(sel, "spec.selector", causes);
        }
        match spec.pointer("/resources/requests/storage").and_then(Value::as_str) {
            None => causes.push(Cause::required("spec.resources[storage]")),
            Some(q) if quantity::nanos(q).is_none_or(|n| n <= 0) => {
                causes.push(Cause::invalid("spec.resources[storage]", &json!(q), "must be greater than zero"))
            }
            Some(_) => {}
        }
        let class = s(spec, "storageClassName");
        if !class.is_empty() {
            invalid_each(causes, "spec.storageClassName", &json!(class), names::dns1123_subdomain(class));
        }
        validate_volume_mode(spec, "spec", causes);
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        let frozen = |o: &Value, old_spec: &Value| {
            let mut spec = o.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(m) = spec.as_object_mut() {
                m.remove("volumeAttributesClassName");
                if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
                    r.remove("requests");
                }
                // binding may set volumeName once
                if s(old_spec, "volumeName").is_empty() {
                    m.remove("volumeName");
                }
            }
            spec
        };
        let old_spec = old.get("spec").unwrap_or(&Value::Null);
        if frozen(obj, old_spec) != frozen(old, old_spec) {
            causes.push(Cause::forbidden("spec", PVC_UPDATE_MSG));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &PVC_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let status = obj.get("status").unwrap_or(&Value::Null);
        let phase = if deleting(obj) { "Terminating" } else { s(status, "phase") };
        let bound = !s(spec, "volumeName").is_empty();
        let capacity = if bound { status.pointer("/capacity/storage").and_then(Value::as_str).unwrap_or("0").to_string() } else { String::new() };
        let modes = if bound { access_modes_text(items(status, "accessModes")) } else { String::new() };
        vec![
            json!(phase),
            json!(s(spec, "volumeName")),
            json!(capacity),
            json!(modes),
            json!(storage_class_of(obj)),
            json!(spec.get("volumeAttributesClassName").and_then(Value::as_str).unwrap_or("<unset>")),
            age(obj),
            json!(spec.get("volumeMode").and_then(Value::as_str).unwrap_or("<unset>")),
        ]
    }
}

/// StorageClass strategy.
pub struct StorageClass;
/// The StorageClass strategy instance.
pub static STORAGE_CLASS: StorageClass = StorageClass;

static STORAGE_CLASS_COLUMNS: [Column; 6] = [
    crate::registry::table::NAME,
    Column::new("Provisioner", "string", "provisioner indicates the type of the provisioner."),
    Column::new("ReclaimPolicy", "string", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete."),
    Column::new("VolumeBindingMode", "string", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used."),
    Column::new("AllowVolumeExpansion", "string", "allowVolumeExpansion shows whether the storage class allow volume expand."),
    AGE,
];

/// `storageutil.IsDefaultAnnotation`.
fn is_default_class(obj: &Value) -> bool {
    ["storageclass.kubernetes.io~1is-default-class", "storageclass.beta.kubernetes.io~1is-default-class"]
        .iter()
        .any(|k| obj.pointer(&format!("/metadata/annotations/{k}")).and_then(Value::as_str) == Some("true"))
}

impl Strategy for StorageClass {
    fn includes_name_column(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        set_default(obj, "reclaimPolicy", json!("Delete"));
        set_default(obj, "volumeBindingMode", json!("Immediate"));
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let provisioner = s(obj, "provisioner");
        if provisioner.is_empty() {
            causes.push(Cause::required("provisioner"));
        } else {
            invalid_each(causes, "provisioner", &json!(provisioner), names::qualified_name(&provisioner.to_ascii_lowercase()));
        }
        match s(obj, "reclaimPolicy") {
            "Delete" | "Retain" => {}
            other => causes.push(Cause::not_supported("reclaimPolicy", &json!(other), &["Delete", "Retain"])),
        }
        match s(obj, "volumeBindingMode") {
            "Immediate" | "WaitForFirstConsumer" => {}
            "" => causes.push(Cause::required("volumeBindingMode")),
            other => causes.push(Cause::not_supported("volumeBindingMode", &json!(other), &["Immediate", "WaitForFirstConsumer"])),
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        for key in ["parameters", "provisioner", "reclaimPolicy"] {
            if obj.get(key) != old.get(key) {
                causes.push(Cause::forbidden(key, format!("updates to {key} are forbidden.")));
            }
        }
        if obj.get("volumeBindingMode") != old.get("volumeBindingMode") {
            causes.push(Cause::invalid("volumeBindingMode", obj.get("volumeBindingMode").unwrap_or(&Value::Null), "field is immutable"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &STORAGE_CLASS_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let mut name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        if is_default_class(obj) {
            name.push_str(" (default)");
        }
        vec![
            json!(name),
            json!(s(obj, "provisioner")),
            json!(if s(obj, "reclaimPolicy").is_empty() { "Delete" } else { s(obj, "reclaimPolicy") }),
            json!(if s(obj, "volumeBindingMode").is_empty() { "Immediate" } else { s(obj, "volumeBindingMode") }),
            json!(obj.get("allowVolumeExpansion").and_then(Value::as_bool).unwrap_or(false)),
            age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvc_requirements() {
        let mut pvc = json!({"spec": {}});
        PVC.default(&mut pvc);
        let mut causes = Vec::new();
        PVC.validate(&pvc, &mut causes);
        assert_eq!(
            causes,
            vec![Cause::required_because("spec.accessModes", "at least 1 access mode is required"), Cause::required("spec.resources[storage]")]
        );
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    }

    #[test]
    fn pv_defaults_and_row() {
        let mut pv = json!({"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"], "hostPath": {"path": "/d"}}});
        PV.default(&mut pv);
        PV.prepare_for_create(&mut pv);
        let mut causes = Vec::new();
        PV.validate(&pv, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        let row = PV.row(&pv);
        assert_eq!(&row[..4], &[json!("1Gi"), json!("RWO,ROX"), json!("Retain"), json!("Pending")]);
        assert_eq!(pv["spec"]["hostPath"]["type"], "");
    }

    #[test]
    fn default_class_admission() {
        let class = |name: &str, created: &str, default: bool| {
            json!({"metadata": {"name": name, "creationTimestamp": created, "annotations": {"storageclass.kubernetes.io/is-default-class": default.to_string()}}})
        };
        let classes = [class("a", "2024-01-01T00:00:00Z", true), class("b", "2025-01-01T00:00:00Z", true), class("c", "2026-01-01T00:00:00Z", false)];
        let mut pvc = json!({"spec": {}});
        admit_default_storage_class(&mut pvc, &classes);
        assert_eq!(pvc["spec"]["storageClassName"], "b");
        let mut explicit_none = json!({"spec": {"storageClassName": ""}});
        admit_default_storage_class(&mut explicit_none, &classes);
        assert_eq!(explicit_none["spec"]["storageClassName"], "");
        let mut no_default = json!({"spec": {}});
        admit_default_storage_class(&mut no_default, &classes[2..]);
        assert!(no_default["spec"].get("storageClassName").is_none());
    }

    #[test]
    fn protection_finalizers_added_once() {
        let mut pvc = json!({"metadata": {"finalizers": ["kubernetes.io/pvc-protection"]}, "spec": {}});
        PVC.prepare_for_create(&mut pvc);
        assert_eq!(pvc["metadata"]["finalizers"], json!(["kubernetes.io/pvc-protection"]));
        let mut pv = json!({"metadata": {}, "spec": {}});
        PV.prepare_for_create(&mut pv);
        assert_eq!(pv["metadata"]["finalizers"], json!(["kubernetes.io/pv-protection"]));
    }

    #[test]
    fn default_storage_class_name_cell() {
        let mut sc = json!({"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "rancher.io/local-path"});
        STORAGE_CLASS.default(&mut sc);
        let cells = crate::registry::table::cells_for(&STORAGE_CLASS, &sc);
        assert_eq!(cells[..4], [json!("standard (default)"), json!("rancher.io/local-path"), json!("Delete"), json!("Immediate")]);
        assert_eq!(crate::registry::table::definitions_for(&STORAGE_CLASS).len(), 6);
    }
}
