//! All schema definitions, keyed by upstream definition name, in swagger 2.0 form
//! (`$ref`s point at `#/definitions/<name>`). The v3 documents convert from these.

use super::extensions::add_property_extensions;
use super::gvk::Gvk;
use crate::registry::kinds::{Kind, KINDS};
use k8s_openapi::api::{authentication, autoscaling, policy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::version;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Prefix of every `$ref` in definitions as built here.
pub(crate) const V2_REF: &str = "#/definitions/";

/// Definition names of meta types used by paths.
pub(crate) mod names {
    /// `Status`.
    pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
    /// `DeleteOptions`.
    pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
    /// `WatchEvent`.
    pub const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
    /// `Patch`.
    pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
    /// `ListMeta`.
    pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
    /// `APIResourceList`.
    pub const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
    /// `APIGroup`.
    pub const API_GROUP: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup";
    /// `APIGroupList`.
    pub const API_GROUP_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList";
    /// `APIVersions`.
    pub const API_VERSIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions";
    /// `version.Info`.
    pub const VERSION_INFO: &str = "io.k8s.apimachinery.pkg.version.Info";
    /// `IntOrString`.
    pub const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
    /// `Quantity`.
    pub const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
}

/// A kind that subresources return but that is not itself served (e.g. autoscaling/v1 Scale).
struct Extra {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    name: fn() -> Cow<'static, str>,
    schema: fn(&mut SchemaGenerator) -> Schema,
}

fn sub<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

const EXTRAS: &[Extra] = &[
    Extra {
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        name: <autoscaling::v1::Scale as JsonSchema>::schema_name,
        schema: sub::<autoscaling::v1::Scale>,
    },
    Extra {
        group: "policy",
        version: "v1",
        kind: "Eviction",
        name: <policy::v1::Eviction as JsonSchema>::schema_name,
        schema: sub::<policy::v1::Eviction>,
    },
    Extra {
        group: "authentication.k8s.io",
        version: "v1",
        kind: "TokenRequest",
        name: <authentication::v1::TokenRequest as JsonSchema>::schema_name,
        schema: sub::<authentication::v1::TokenRequest>,
    },
];

/// The definition name of the object of `group/version/kind`, if it has a schema here.
pub(crate) fn definition_of(group: &str, version: &str, kind: &str) -> Option<String> {
    if let Some(k) = KINDS.iter().find(|k| k.group == group && k.version == version && k.kind == kind) {
        return Some(k.definition.clone());
    }
    EXTRAS
        .iter()
        .find(|e| e.group == group && e.version == version && e.kind == kind)
        .map(|e| (e.name)().into_owned())
}

/// The definition name of a kind's list, e.g. `io.k8s.api.apps.v1.DeploymentList`.
pub(crate) fn list_definition_name(kind: &Kind) -> String {
    let prefix = kind.definition.rfind('.').map_or("", |i| &kind.definition[..=i]);
    format!("{prefix}{}", kind.list_kind)
}

/// Builds every definition: served kinds, their lists, the meta types operations use,
/// the kinds subresources return; with GVK, int-or-string and list extensions added.
pub(crate) fn build() -> Map<String, Value> {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = "/definitions".into();
            s.meta_schema = None;
            s.transforms.clear();
        })
        .into_generator();
    for kind in KINDS.iter() {
        kind.typed.schema(&mut generator);
    }
    for extra in EXTRAS {
        (extra.schema)(&mut generator);
    }
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::WatchEvent<()>>();
    generator.subschema_for::<meta::Patch>();
    generator.subschema_for::<meta::ListMeta>();
    generator.subschema_for::<meta::APIResourceList>();
    generator.subschema_for::<meta::APIGroup>();
    generator.subschema_for::<meta::APIGroupList>();
    generator.subschema_for::<meta::APIVersions>();
    generator.subschema_for::<version::Info>();
    let mut defs = generator.take_definitions(false);

    for kind in KINDS.iter().filter(|k| k.allows("list")) {
        let list = list_schema(kind, defs.get(&kind.definition));
        defs.insert(list_definition_name(kind), list);
    }
    add_gvks(&mut defs);
    fix_int_or_string(&mut defs);
    fix_required(&mut defs);
    for (name, def) in defs.iter_mut() {
        if let Some(props) = def.get_mut("properties").and_then(Value::as_object_mut) {
            for (prop, schema) in props.iter_mut() {
                if let Some(schema) = schema.as_object_mut() {
                    add_property_extensions(name, prop, schema);
                }
            }
        }
    }
    defs
}

fn list_schema(kind: &Kind, item: Option<&Value>) -> Value {
    let described = |field: &str| {
        item.and_then(|i| i.pointer(&format!("/properties/{field}/description")))
            .cloned()
            .unwrap_or_else(|| Value::String(String::new()))
    };
    json!({
        "description": format!("{} is a list of {} objects.", kind.list_kind, kind.kind),
        "properties": {
            "apiVersion": {"description": described("apiVersion"), "type": "string"},
            "items": {
                "description": format!("Items is the list of {} objects.", kind.kind),
                "items": {"$ref": format!("{V2_REF}{}", kind.definition)},
                "type": "array",
            },
            "kind": {"description": described("kind"), "type": "string"},
            "metadata": {"$ref": format!("{V2_REF}{}", names::LIST_META), "description": "Standard list metadata."},
        },
        "required": ["items"],
        "type": "object",
    })
}

fn set_gvks(defs: &mut Map<String, Value>, name: &str, gvks: Vec<Gvk>) {
    if let Some(def) = defs.get_mut(name).and_then(Value::as_object_mut) {
        let list = gvks.iter().map(Gvk::to_value).collect();
        def.insert("x-kubernetes-group-version-kind".into(), Value::Array(list));
    }
}

fn add_gvks(defs: &mut Map<String, Value>) {
    let mut gvs = BTreeSet::new();
    for kind in KINDS.iter() {
        set_gvks(defs, &kind.definition, vec![Gvk::new(kind.group, kind.version, kind.kind)]);
        if kind.allows("list") {
            set_gvks(defs, &list_definition_name(kind), vec![Gvk::new(kind.group, kind.version, &kind.list_kind)]);
        }
        gvs.insert((kind.group, kind.version));
    }
    for extra in EXTRAS {
        set_gvks(defs, &(extra.name)(), vec![Gvk::new(extra.group, extra.version, extra.kind)]);
        gvs.insert((extra.group, extra.version));
    }
    // Like upstream: the options and events every group-version accepts or sends.
    for (name, kind) in [(names::DELETE_OPTIONS, "DeleteOptions"), (names::WATCH_EVENT, "WatchEvent")] {
        set_gvks(defs, name, gvs.iter().map(|(g, v)| Gvk::new(g, v, kind)).collect());
    }
    set_gvks(defs, names::STATUS, vec![Gvk::new("", "v1", "Status")]);
}

/// Swagger 2.0 has no union types: IntOrString and Quantity are strings there, like upstream.
fn fix_int_or_string(defs: &mut Map<String, Value>) {
    if let Some(d) = defs.get_mut(names::INT_OR_STRING).and_then(Value::as_object_mut) {
        d.insert("format".into(), "int-or-string".into());
        d.insert("type".into(), "string".into());
    }
    if let Some(d) = defs.get_mut(names::QUANTITY).and_then(Value::as_object_mut) {
        d.insert("type".into(), "string".into());
    }
}

/// Definitions that inline a `LocalObjectReference`: upstream's `name` is optional there,
/// k8s-openapi makes it a plain (required) `String`.
const OPTIONAL_NAME: &[&str] = &[
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.ConfigMapEnvSource",
    "io.k8s.api.core.v1.SecretEnvSource",
    "io.k8s.api.core.v1.ConfigMapVolumeSource",
    "io.k8s.api.core.v1.ConfigMapProjection",
    "io.k8s.api.core.v1.SecretProjection",
];

/// Fields upstream requires that k8s-openapi models as `Option` (so its schema omits them).
const EXTRA_REQUIRED: &[(&str, &str)] = &[("io.k8s.api.events.v1.Event", "eventTime")];

/// Brings `required` back to upstream's: k8s-openapi requires every non-`Option` Rust field,
/// which includes `metadata` of every object (upstream requires it only of core/v1 Event) and the inlined reference names above.
fn fix_required(defs: &mut Map<String, Value>) {
    for (name, field) in EXTRA_REQUIRED {
        if let Some(obj) = defs.get_mut(*name).and_then(Value::as_object_mut) {
            let required = obj.entry("required").or_insert_with(|| Value::Array(Vec::new()));
            if let Some(list) = required.as_array_mut().filter(|l| !l.iter().any(|r| r == field)) {
                list.push(Value::from(*field));
            }
        }
    }
    for (name, def) in defs.iter_mut() {
        let Some(obj) = def.as_object_mut() else { continue };
        let optional_name = OPTIONAL_NAME.contains(&name.as_str());
        let Some(required) = obj.get_mut("required").and_then(Value::as_array_mut) else { continue };
        let keep_metadata = name == "io.k8s.api.core.v1.Event";
        required.retain(|r| (keep_metadata || r != "metadata") && !(optional_name && r == "name"));
        if required.is_empty() {
            obj.remove("required");
        }
    }
}
