//! Cluster-level kinds: Namespace, Node, PersistentVolume(Claim), StorageClass,
//! PriorityClass, RuntimeClass, IngressClass.

use crate::registry::strategy::{NameRule, Strategy};

/// Namespace strategy.
pub struct Namespace;
/// The Namespace strategy instance.
pub static NAMESPACE: Namespace = Namespace;
impl Strategy for Namespace {
    fn has_status(&self) -> bool {
        true
    }
    fn name_rule(&self) -> NameRule {
        NameRule::DnsLabel
    }
}

/// Node strategy.
pub struct Node;
/// The Node strategy instance.
pub static NODE: Node = Node;
impl Strategy for Node {
    fn has_status(&self) -> bool {
        true
    }
}

/// PersistentVolume strategy.
pub struct Pv;
/// The PersistentVolume strategy instance.
pub static PV: Pv = Pv;
impl Strategy for Pv {
    fn has_status(&self) -> bool {
        true
    }
}

/// PersistentVolumeClaim strategy.
pub struct Pvc;
/// The PersistentVolumeClaim strategy instance.
pub static PVC: Pvc = Pvc;
impl Strategy for Pvc {
    fn has_status(&self) -> bool {
        true
    }
}

/// StorageClass strategy.
pub struct StorageClass;
/// The StorageClass strategy instance.
pub static STORAGE_CLASS: StorageClass = StorageClass;
impl Strategy for StorageClass {}

/// PriorityClass strategy.
pub struct PriorityClass;
/// The PriorityClass strategy instance.
pub static PRIORITY_CLASS: PriorityClass = PriorityClass;
impl Strategy for PriorityClass {}

/// RuntimeClass strategy.
pub struct RuntimeClass;
/// The RuntimeClass strategy instance.
pub static RUNTIME_CLASS: RuntimeClass = RuntimeClass;
impl Strategy for RuntimeClass {}

/// IngressClass strategy.
pub struct IngressClass;
/// The IngressClass strategy instance.
pub static INGRESS_CLASS: IngressClass = IngressClass;
impl Strategy for IngressClass {}
