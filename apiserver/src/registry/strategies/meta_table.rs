//! Table pieces that depend only on object metadata: the `Created At` column of upstream's
//! default table convertor (kinds registered without a printer: Roles, ClusterRoles,
//! LimitRanges) and a Name cell for kinds that place the Name column themselves.

use crate::registry::table::Column;
use serde_json::{Value, json};

/// `Created At` (type `date`), as `rest.NewDefaultTableConvertor` defines it.
pub const CREATED_AT: Column = Column::new(
    "Created At",
    "date",
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
);

/// The `Created At` cell: the RFC 3339 creation timestamp.
pub fn created_at(obj: &Value) -> Value {
    json!(obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or(""))
}

/// The object's name as a cell.
pub fn name(obj: &Value) -> String {
    obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string()
}
