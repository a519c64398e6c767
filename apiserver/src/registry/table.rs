//! Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), what `kubectl get`
//! prints. Column sets per kind live in the strategies; this module holds the shared
//! pieces: the Name column, Age rendering (upstream `duration.HumanDuration`) and the
//! Table document itself.

use serde_json::{json, Map, Value};

/// One column definition, as in `metav1.TableColumnDefinition`.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Header, e.g. `Ready`.
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`.
    pub kind: &'static str,
    /// OpenAPI format hint, e.g. `name`.
    pub format: &'static str,
    /// Description shown by `kubectl get -o wide --show-labels` help.
    pub description: &'static str,
    /// 0 = always shown, 1 = only with `-o wide`.
    pub priority: u8,
}

impl Column {
    /// A column shown by default.
    pub const fn new(name: &'static str, kind: &'static str, description: &'static str) -> Self {
        Column { name, kind, format: "", description, priority: 0 }
    }
    /// A column shown only with `-o wide`.
    pub const fn wide(name: &'static str, kind: &'static str, description: &'static str) -> Self {
        Column { name, kind, format: "", description, priority: 1 }
    }
}

/// The Name column every kind starts with.
pub const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    priority: 0,
};

/// The Age column.
pub const AGE: Column = Column::new(
    "Age",
    "string",
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
);

/// Columns of a kind with no printer of its own: Name and Age.
pub static AGE_ONLY: [Column; 1] = [AGE];

/// Renders a JSON value at a dotted path (`spec.replicas`), or `None`.
pub fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |v, k| v.get(k))
}

/// String at a dotted path, or "".
pub fn str_at(obj: &Value, path: &str) -> String {
    at(obj, path).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Integer at a dotted path, or 0.
pub fn int_at(obj: &Value, path: &str) -> i64 {
    at(obj, path).and_then(Value::as_i64).unwrap_or(0)
}

/// The Age cell of an object.
pub fn age(obj: &Value) -> Value {
    Value::String(age_of(at(obj, "metadata.creationTimestamp").and_then(Value::as_str)))
}

/// Age since an RFC 3339 timestamp, `<unknown>` when missing.
pub fn age_of(timestamp: Option<&str>) -> String {
    let Some(ts) = timestamp.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - ts.as_second()).max(0);
    human_duration(secs)
}

/// Upstream `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds;
    if s < 60 * 2 {
        return format!("{s}s");
    }
    let minutes = s / 60;
    if minutes < 10 {
        let rem = s % 60;
        return if rem == 0 { format!("{minutes}m") } else { format!("{minutes}m{rem}s") };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        let d = hours / 24;
        return if h == 0 { format!("{d}d") } else { format!("{d}d{h}h") };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let d = (hours / 24) % 365;
        let y = hours / 24 / 365;
        return if d == 0 { format!("{y}y") } else { format!("{y}y{d}d") };
    }
    format!("{}y", hours / 24 / 365)
}

/// Builds the column definitions (Name first).
pub fn column_definitions(columns: &[Column]) -> Vec<Value> {
    std::iter::once(&NAME)
        .chain(columns.iter())
        .map(|c| {
            json!({
                "name": c.name, "type": c.kind, "format": c.format,
                "description": c.description, "priority": c.priority,
            })
        })
        .collect()
}

/// Column definitions for a kind: Name first, unless the strategy places Name itself.
pub fn definitions_for(strategy: &dyn super::strategy::Strategy) -> Vec<Value> {
    if !strategy.includes_name_column() {
        return column_definitions(strategy.columns());
    }
    strategy
        .columns()
        .iter()
        .map(|c| json!({"name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect()
}

/// The cells of one object: its name first, unless the strategy places Name itself.
pub fn cells_for(strategy: &dyn super::strategy::Strategy, obj: &Value) -> Vec<Value> {
    if strategy.includes_name_column() {
        return strategy.row(obj);
    }
    let name = at(obj, "metadata.name").cloned().unwrap_or_else(|| Value::String(String::new()));
    std::iter::once(name).chain(strategy.row(obj)).collect()
}

/// How much of each object a Table row carries (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// One row of a `meta.k8s.io/<meta_version>` Table: cells plus the embedded object (its
/// `PartialObjectMetadata` is of the Table's version, as upstream's). Built from owned
/// values directly: `json!` would deep-copy every interpolated value once more.
pub fn row(cells: Vec<Value>, obj: &Value, include: IncludeObject, meta_version: &str) -> Value {
    let mut row = Map::new();
    row.insert("cells".into(), Value::Array(cells));
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            // Upstream drops managedFields from Table rows: printers never need them
            // (and not copying them is most of the cost of a row).
            let metadata: Map<String, Value> = obj
                .get("metadata")
                .and_then(Value::as_object)
                .map(|md| md.iter().filter(|(k, _)| k.as_str() != "managedFields").map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            row.insert("object".into(), partial_object_metadata(Value::Object(metadata), meta_version));
        }
        IncludeObject::Object => {
            row.insert("object".into(), obj.clone());
        }
    }
    Value::Object(row)
}

/// `PartialObjectMetadata` (`meta.k8s.io/<meta_version>`) for an object.
pub fn partial_metadata(obj: &Value, meta_version: &str) -> Value {
    partial_object_metadata(obj.get("metadata").cloned().unwrap_or_else(|| Value::Object(Map::new())), meta_version)
}

fn partial_object_metadata(metadata: Value, meta_version: &str) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), Value::from("PartialObjectMetadata"));
    m.insert("apiVersion".into(), Value::from(format!("meta.k8s.io/{meta_version}")));
    m.insert("metadata".into(), metadata);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::{IncludeObject, human_duration, row};
    use serde_json::json;

    #[test]
    fn row_objects_are_partial_metadata_of_the_tables_version_without_managed_fields() {
        let obj = json!({"kind": "ConfigMap", "metadata": {"name": "a", "managedFields": [{"manager": "m"}]}, "data": {}});
        for version in ["v1", "v1beta1"] {
            let r = row(vec![json!("a")], &obj, IncludeObject::Metadata, version);
            assert_eq!(r["object"], json!({"kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": {"name": "a"}}));
        }
        assert_eq!(row(vec![], &obj, IncludeObject::Object, "v1")["object"], obj);
        assert!(row(vec![], &obj, IncludeObject::None, "v1").get("object").is_none());
    }

    #[test]
    fn human_duration_matches_upstream_breakpoints() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(9 * 3600), "9h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(30 * 86400), "30d");
    }
}
