//! Per-type field facts generated from k8s-openapi (list merge keys, strategies).
//!
//! Every OpenAPI definition of Kubernetes 1.35 (core and group APIs,
//! apimachinery, apiextensions-apiserver, kube-aggregator) is listed with its
//! fields: JSON name, Rust field name in k8s-openapi, and [`Shape`].
//!
//! The table lives in `generated.rs`, written by `apiserver/schema-gen/gen.py`
//! from the k8s-openapi 0.29 sources (struct fields, serde names, schemars
//! definition names, `DeepMerge` list/map semantics) refined by the upstream
//! Go markers that k8s-pb 0.9 keeps in its doc comments (`+patchStrategy`,
//! `+patchMergeKey`, `+listMapKey`, `+mapType`). List strategies therefore
//! follow strategic-merge-patch semantics: a list is [`ListStrategy::Map`] or
//! [`ListStrategy::Set`] only where upstream declares `patchStrategy=merge`.
//!
//! Lookups are binary searches over sorted static slices: no runtime parsing.

#[rustfmt::skip]
mod generated;

/// How a list field is merged by a strategic merge patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy {
    /// The list is replaced as a whole.
    Atomic,
    /// A list of scalars merged as a set (union; deletions via `$deleteFromPrimitiveList`).
    Set,
    /// A list of objects merged by key. JSON names of the keys; the first one is
    /// the strategic-merge-patch merge key (`patchMergeKey`), the rest are the
    /// remaining server-side-apply `listMapKey`s, if any.
    Map(&'static [&'static str]),
}

impl ListStrategy {
    /// The strategic-merge-patch merge key of a [`ListStrategy::Map`] list.
    pub fn merge_key(&self) -> Option<&'static str> {
        match self {
            ListStrategy::Map(keys) => keys.first().copied(),
            _ => None,
        }
    }
}

/// The JSON shape of a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A string, integer, boolean or number, including Quantity, Time,
    /// MicroTime, IntOrString and base64 byte strings.
    Scalar,
    /// A nested object described by the named definition.
    Object(&'static str),
    /// A JSON array.
    List {
        /// Definition of the items, `None` when items are scalars (or free-form).
        item: Option<&'static str>,
        /// How a strategic merge patch merges the list.
        strategy: ListStrategy,
    },
    /// A JSON object with arbitrary string keys.
    Map {
        /// Definition of the values, `None` when values are scalars (or lists of scalars).
        value: Option<&'static str>,
        /// `x-kubernetes-map-type: atomic` (the map is one unit for server-side apply).
        atomic: bool,
    },
    /// Free-form JSON (RawExtension, JSON, FieldsV1, JSONSchemaPropsOr*).
    Any,
}

/// One field of a definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The JSON (wire) name, e.g. `generateName`.
    pub json: &'static str,
    /// The Rust field name in k8s-openapi, e.g. `generate_name`.
    pub rust: &'static str,
    /// The value's shape.
    pub shape: Shape,
}

/// All fields of a definition, sorted by JSON name, keyed by the OpenAPI
/// definition name (e.g. `io.k8s.api.apps.v1.DeploymentStrategy`).
///
/// Definitions that are not objects (Quantity, Time, IntOrString, ...) have an
/// empty field list. `apiVersion`/`kind` of top-level resources are not listed:
/// k8s-openapi does not store them as struct fields.
pub fn fields(definition: &str) -> Option<&'static [Field]> {
    let defs = generated::DEFINITIONS;
    defs.binary_search_by(|(name, _)| (*name).cmp(definition))
        .ok()
        .map(|i| defs[i].1)
}

/// One field of a definition by its JSON name.
pub fn field(definition: &str, json_name: &str) -> Option<&'static Field> {
    let fields = fields(definition)?;
    fields
        .binary_search_by(|f| f.json.cmp(json_name))
        .ok()
        .map(|i| &fields[i])
}

/// Whether upstream declares `patchStrategy=replace` on this (object) field:
/// a strategic merge patch then replaces the value instead of merging it.
pub fn patch_replaces(definition: &str, json_name: &str) -> bool {
    generated::REPLACE_FIELDS
        .binary_search(&(definition, json_name))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        let defs = generated::DEFINITIONS;
        assert!(defs.windows(2).all(|w| w[0].0 < w[1].0));
        for (name, fields) in defs {
            assert!(
                fields.windows(2).all(|w| w[0].json < w[1].json),
                "fields of {name} unsorted"
            );
        }
        assert!(generated::REPLACE_FIELDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn pod_spec_containers_merge_by_name() {
        let f = field("io.k8s.api.core.v1.PodSpec", "containers").unwrap();
        assert_eq!(f.rust, "containers");
        assert_eq!(
            f.shape,
            Shape::List {
                item: Some("io.k8s.api.core.v1.Container"),
                strategy: ListStrategy::Map(&["name"])
            }
        );
    }

    #[test]
    fn container_ports_merge_key_is_container_port() {
        let f = field("io.k8s.api.core.v1.Container", "ports").unwrap();
        match f.shape {
            Shape::List { item, strategy } => {
                assert_eq!(item, Some("io.k8s.api.core.v1.ContainerPort"));
                assert_eq!(strategy.merge_key(), Some("containerPort"));
            }
            other => panic!("unexpected shape {other:?}"),
        }
    }

    #[test]
    fn object_meta_facts() {
        let meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
        assert_eq!(
            field(meta, "finalizers").unwrap().shape,
            Shape::List {
                item: None,
                strategy: ListStrategy::Set
            }
        );
        let generate_name = field(meta, "generateName").unwrap();
        assert_eq!(
            (generate_name.rust, generate_name.shape),
            ("generate_name", Shape::Scalar)
        );
        assert_eq!(
            field(meta, "ownerReferences").unwrap().shape,
            Shape::List {
                item: Some("io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference"),
                strategy: ListStrategy::Map(&["uid"])
            }
        );
        assert_eq!(
            field(meta, "creationTimestamp").unwrap().shape,
            Shape::Scalar
        );
        assert_eq!(
            field(meta, "managedFields").unwrap().shape.clone(),
            Shape::List {
                item: Some("io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry"),
                strategy: ListStrategy::Atomic,
            }
        );
    }

    #[test]
    fn config_map_data_is_scalar_map() {
        let f = field("io.k8s.api.core.v1.ConfigMap", "data").unwrap();
        assert_eq!(
            f.shape,
            Shape::Map {
                value: None,
                atomic: false
            }
        );
        assert_eq!(
            field("io.k8s.api.core.v1.ConfigMap", "metadata")
                .unwrap()
                .shape,
            Shape::Object("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        );
    }

    #[test]
    fn special_types() {
        // IntOrString and Quantity are scalars; RawExtension / FieldsV1 are free-form.
        assert_eq!(
            field("io.k8s.api.apps.v1.RollingUpdateDeployment", "maxSurge")
                .unwrap()
                .shape,
            Shape::Scalar
        );
        assert_eq!(
            field("io.k8s.api.core.v1.ResourceRequirements", "limits")
                .unwrap()
                .shape,
            Shape::Map {
                value: None,
                atomic: false
            }
        );
        assert_eq!(
            field(
                "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
                "fieldsV1"
            )
            .unwrap()
            .shape,
            Shape::Any
        );
        let schema = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps";
        assert_eq!(field(schema, "$ref").unwrap().rust, "ref_path");
        assert_eq!(field(schema, "enum").unwrap().rust, "enum_");
        assert!(
            fields("io.k8s.apimachinery.pkg.api.resource.Quantity")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn coverage_and_misses() {
        assert!(
            fields("io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceSpec").is_some()
        );
        assert!(fields("io.k8s.api.core.v1.NoSuchType").is_none());
        assert!(field("io.k8s.api.core.v1.PodSpec", "noSuchField").is_none());
        // Tolerations carry no patch strategy upstream: replaced whole.
        assert_eq!(
            field("io.k8s.api.core.v1.PodSpec", "tolerations")
                .unwrap()
                .shape,
            Shape::List {
                item: Some("io.k8s.api.core.v1.Toleration"),
                strategy: ListStrategy::Atomic
            }
        );
        assert!(patch_replaces(
            "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
            "selector"
        ));
        assert!(!patch_replaces(
            "io.k8s.api.apps.v1.DeploymentSpec",
            "selector"
        ));
    }
}
