//! Kinds outside the core list that still have upstream defaults or printer columns:
//! CSIDriver, CSINode, CSIStorageCapacity, VolumeAttachment, VolumeAttributesClass
//! (storage.k8s.io), IPAddress and ServiceCIDR (networking.k8s.io).

use super::json::{child, items, s, set_default};
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

/// CSIDriver strategy.
pub struct CsiDriver;
/// The CSIDriver strategy instance.
pub static CSI_DRIVER: CsiDriver = CsiDriver;

static CSI_DRIVER_COLUMNS: [Column; 7] = [
    Column::new("AttachRequired", "boolean", "attachRequired indicates this CSI volume driver requires an attach operation."),
    Column::new("PodInfoOnMount", "boolean", "podInfoOnMount indicates this CSI volume driver requires additional pod information (like podName, podUID, etc.) during mount operations."),
    Column::new("StorageCapacity", "boolean", "storageCapacity indicates that the CSI volume driver wants pod scheduling to consider the storage capacity that the driver deployment will report."),
    Column::new("TokenRequests", "string", "tokenRequests indicates the CSI driver needs pods' service account tokens it is mounting volume for to do necessary authentication."),
    Column::new("RequiresRepublish", "boolean", "requiresRepublish indicates the CSI driver wants `NodePublishVolume` being periodically called to reflect any possible change in the mounted volume."),
    Column::new("Modes", "string", "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports."),
    AGE,
];

impl Strategy for CsiDriver {
    fn default(&self, obj: &mut Value) {
        let Some(spec) = child(obj, "spec") else { return };
        set_default(spec, "attachRequired", json!(true));
        set_default(spec, "podInfoOnMount", json!(false));
        set_default(spec, "storageCapacity", json!(false));
        set_default(spec, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
        set_default(spec, "requiresRepublish", json!(false));
        set_default(spec, "seLinuxMount", json!(false));
        if super::json::len_of(spec, "volumeLifecycleModes") == 0 {
            spec["volumeLifecycleModes"] = json!(["Persistent"]);
        }
    }
    fn columns(&self) -> &'static [Column] {
        &CSI_DRIVER_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let flag = |k: &str, d: bool| json!(spec.get(k).and_then(Value::as_bool).unwrap_or(d));
        let tokens = match spec.get("tokenRequests").and_then(Value::as_array) {
            None => "<unset>".to_string(),
            Some(list) => list.iter().map(|t| s(t, "audience")).collect::<Vec<_>>().join(","),
        };
        let modes: Vec<&str> = items(spec, "volumeLifecycleModes").iter().filter_map(Value::as_str).collect();
        vec![
            flag("attachRequired", true),
            flag("podInfoOnMount", false),
            flag("storageCapacity", false),
            json!(tokens),
            flag("requiresRepublish", false),
            json!(if modes.is_empty() { "<none>".to_string() } else { modes.join(",") }),
            age(obj),
        ]
    }
}

/// CSINode strategy.
pub struct CsiNode;
/// The CSINode strategy instance.
pub static CSI_NODE: CsiNode = CsiNode;

static CSI_NODE_COLUMNS: [Column; 2] = [Column::new("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"), AGE];

impl Strategy for CsiNode {
    fn columns(&self) -> &'static [Column] {
        &CSI_NODE_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(items(obj.get("spec").unwrap_or(&Value::Null), "drivers").len()), age(obj)]
    }
}

/// CSIStorageCapacity strategy.
pub struct CsiStorageCapacity;
/// The CSIStorageCapacity strategy instance.
pub static CSI_STORAGE_CAPACITY: CsiStorageCapacity = CsiStorageCapacity;

static CSI_STORAGE_CAPACITY_COLUMNS: [Column; 2] = [
    Column::new("StorageClassName", "string", "storageClassName represents the name of the StorageClass that the reported capacity applies to."),
    Column::new("Capacity", "string", "capacity is the value reported by the CSI driver in its GetCapacityResponse for a GetCapacityRequest with topology and parameters that match the previous fields."),
];

impl Strategy for CsiStorageCapacity {
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        if s(obj, "storageClassName").is_empty() {
            causes.push(Cause::required("storageClassName"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &CSI_STORAGE_CAPACITY_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(s(obj, "storageClassName")), json!(obj.get("capacity").and_then(Value::as_str).unwrap_or("<unset>"))]
    }
}

/// VolumeAttachment strategy.
pub struct VolumeAttachment;
/// The VolumeAttachment strategy instance.
pub static VOLUME_ATTACHMENT: VolumeAttachment = VolumeAttachment;

static VOLUME_ATTACHMENT_COLUMNS: [Column; 5] = [
    Column { format: "name", ..Column::new("Attacher", "string", "attacher indicates the name of the volume driver that MUST handle this request.") },
    Column::new("PV", "string", "persistentVolumeName represents the name of the persistent volume to attach."),
    Column::new("Node", "string", "nodeName represents the node that the volume should be attached to."),
    Column::new("Attached", "boolean", "attached indicates the volume is successfully attached."),
    AGE,
];

impl Strategy for VolumeAttachment {
    fn has_status(&self) -> bool {
        true
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        for key in ["attacher", "nodeName"] {
            if s(spec, key).is_empty() {
                causes.push(Cause::required(format!("spec.{key}")));
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        &VOLUME_ATTACHMENT_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        vec![
            json!(s(spec, "attacher")),
            json!(spec.pointer("/source/persistentVolumeName").and_then(Value::as_str).unwrap_or("")),
            json!(s(spec, "nodeName")),
            json!(obj.pointer("/status/attached").and_then(Value::as_bool).unwrap_or(false)),
            age(obj),
        ]
    }
}

/// VolumeAttributesClass strategy.
pub struct VolumeAttributesClass;
/// The VolumeAttributesClass strategy instance.
pub static VOLUME_ATTRIBUTES_CLASS: VolumeAttributesClass = VolumeAttributesClass;

static VOLUME_ATTRIBUTES_CLASS_COLUMNS: [Column; 2] = [Column::new("DriverName", "string", "Name of the CSI driver This field is immutable."), AGE];

impl Strategy for VolumeAttributesClass {
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        if s(obj, "driverName").is_empty() {
            causes.push(Cause::required("driverName"));
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        for key in ["driverName", "parameters"] {
            if obj.get(key) != old.get(key) {
                causes.push(Cause::invalid(key, obj.get(key).unwrap_or(&Value::Null), "field is immutable"));
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        &VOLUME_ATTRIBUTES_CLASS_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(s(obj, "driverName")), age(obj)]
    }
}

/// IPAddress strategy.
pub struct IpAddress;
/// The IPAddress strategy instance.
pub static IP_ADDRESS: IpAddress = IpAddress;

static IP_ADDRESS_COLUMNS: [Column; 2] = [Column::new("ParentRef", "string", "ParentRef references the resource that an IPAddress is attached to."), AGE];

impl Strategy for IpAddress {
    fn columns(&self) -> &'static [Column] {
        &IP_ADDRESS_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let parent = match obj.pointer("/spec/parentRef").filter(|v| v.is_object()) {
            None => "<none>".to_string(),
            Some(p) => {
                let gr = if s(p, "group").is_empty() { s(p, "resource").to_string() } else { format!("{}.{}", s(p, "resource"), s(p, "group")) };
                let mut out = gr.to_ascii_lowercase();
                if !s(p, "namespace").is_empty() {
                    out = format!("{out}/{}", s(p, "namespace"));
                }
                format!("{out}/{}", s(p, "name"))
            }
        };
        vec![json!(parent), age(obj)]
    }
}

/// ServiceCIDR strategy.
pub struct ServiceCidr;
/// The ServiceCIDR strategy instance.
pub static SERVICE_CIDR: ServiceCidr = ServiceCidr;

static SERVICE_CIDR_COLUMNS: [Column; 2] = [Column::new("CIDRs", "string", "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" or \"2001:db8::/64\") from which to assign service cluster IPs."), AGE];

impl Strategy for ServiceCidr {
    fn has_status(&self) -> bool {
        true
    }
    fn columns(&self) -> &'static [Column] {
        &SERVICE_CIDR_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let cidrs: Vec<&str> = items(obj.get("spec").unwrap_or(&Value::Null), "cidrs").iter().filter_map(Value::as_str).collect();
        vec![json!(cidrs.join(",")), age(obj)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csi_driver_defaults_and_row() {
        let mut d = json!({"spec": {}});
        CSI_DRIVER.default(&mut d);
        assert_eq!(d["spec"]["volumeLifecycleModes"], json!(["Persistent"]));
        assert_eq!(d["spec"]["fsGroupPolicy"], "ReadWriteOnceWithFSType");
        let row = CSI_DRIVER.row(&d);
        assert_eq!(row[..6], [json!(true), json!(false), json!(false), json!("<unset>"), json!(false), json!("Persistent")]);
    }

    #[test]
    fn ip_address_parent() {
        let ip = json!({"spec": {"parentRef": {"group": "", "resource": "services", "namespace": "default", "name": "kubernetes"}}});
        assert_eq!(IP_ADDRESS.row(&ip)[0], "services/default/kubernetes");
    }
}
