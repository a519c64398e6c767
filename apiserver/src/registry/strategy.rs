//! The per-kind strategy: everything that differs between kinds, and nothing else.
//!
//! Mirrors upstream's `rest.RESTCreateStrategy`/`RESTUpdateStrategy` plus the printer
//! columns of `pkg/printers/internalversion`. The generic [`super::store::Store`] calls
//! these hooks in a fixed order; a kind overrides only what it needs.

use super::table::Column;
use serde_json::Value;

/// One field error, reported as a `details.causes` entry of a 422 Invalid Status.
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    /// Upstream cause type, e.g. `FieldValueRequired`, `FieldValueInvalid`.
    pub reason: &'static str,
    /// Human message, e.g. `Required value`.
    pub message: String,
    /// Field path, e.g. `spec.template.spec.containers[0].name`.
    pub field: String,
}

impl Cause {
    /// `Required value` at `field`.
    pub fn required(field: impl Into<String>) -> Self {
        Cause { reason: "FieldValueRequired", message: "Required value".into(), field: field.into() }
    }
    /// `Invalid value: <value>: <detail>` at `field`.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: impl AsRef<str>) -> Self {
        Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {}: {}", render_value(value), detail.as_ref()),
            field: field.into(),
        }
    }
    /// `Unsupported value: <value>: supported values: ...` at `field`.
    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Cause {
            reason: "FieldValueNotSupported",
            message: format!("Unsupported value: {}: supported values: {}", render_value(value), list.join(", ")),
            field: field.into(),
        }
    }
    /// `Duplicate value: <value>` at `field`.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Cause { reason: "FieldValueDuplicate", message: format!("Duplicate value: {}", render_value(value)), field: field.into() }
    }
    /// `Forbidden: <detail>` at `field`.
    pub fn forbidden(field: impl Into<String>, detail: impl AsRef<str>) -> Self {
        Cause { reason: "FieldValueForbidden", message: format!("Forbidden: {}", detail.as_ref()), field: field.into() }
    }
}

/// Renders a value the way Go's `%#v`-based field errors do: strings quoted, numbers bare.
pub fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// Which name format a kind requires (upstream `ValidateObjectMeta` name functions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    DnsSubdomain,
    /// RFC 1123 label (namespaces, services).
    DnsLabel,
    /// RFC 1035 label (services: must start with a letter).
    Dns1035Label,
    /// Any name valid as a path segment (RBAC objects, nodes allow more).
    PathSegment,
}

/// What differs per kind. Every hook has a default that suits a plain data object.
pub trait Strategy: Sync + Send {
    /// The kind has a `status` subresource: writes to the main resource keep the stored
    /// status, writes to `/status` keep everything but status (and metadata labels/annotations).
    fn has_status(&self) -> bool {
        false
    }
    /// The kind maintains `metadata.generation`: 1 on create, +1 when the spec changes.
    fn tracks_generation(&self) -> bool {
        false
    }
    /// Name format for `metadata.name`.
    fn name_rule(&self) -> NameRule {
        NameRule::DnsSubdomain
    }
    /// Upstream defaulting (`SetDefaults_*`), applied on create and on every update.
    fn default(&self, _obj: &mut Value) {}
    /// Clears or sets what a create decides by itself (e.g. a Pod's status becomes Pending).
    fn prepare_for_create(&self, _obj: &mut Value) {}
    /// Carries over what an update may omit but must keep (upstream `PrepareForUpdate`):
    /// e.g. a Service's allocated cluster IP and node ports, a Namespace's finalizers.
    /// Called after [`Strategy::default`] and before [`Strategy::validate_update`].
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}
    /// Validation of a new object (beyond object metadata, which the store checks).
    fn validate(&self, _obj: &Value, _causes: &mut Vec<Cause>) {}
    /// Validation of an update; by default the same as create.
    fn validate_update(&self, obj: &Value, _old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes)
    }
    /// Table columns for `kubectl get` (without the leading Name column, which every kind has).
    fn columns(&self) -> &'static [Column] {
        &super::table::AGE_ONLY
    }
    /// The cells of one row, matching [`Strategy::columns`] (without Name).
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![super::table::age(obj)]
    }
    /// True when [`Strategy::columns`] and [`Strategy::row`] already hold the Name column
    /// themselves: upstream puts it last for Events and decorates the cell for
    /// StorageClasses (`standard (default)`). Use [`super::table::definitions_for`] and
    /// [`super::table::cells_for`], which honour this.
    fn includes_name_column(&self) -> bool {
        false
    }
    /// The kind's own selectable fields with their values in `obj` (e.g. `spec.nodeName`
    /// for pods; upstream's `…ToSelectableFields` less `metadata.name`/`metadata.namespace`,
    /// which every kind has). A field selector naming any other field is a 400.
    fn selectable_fields(&self, _obj: &Value) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// The value of one selectable field of `obj` (`None`: not selectable for this kind).
    #[cfg(test)]
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let attrs = super::selectors::SelectableAttrs { fields: self.selectable_fields(obj), ..Default::default() };
        attrs.field(field).map(str::to_string)
    }
}

/// The strategy for kinds with nothing special.
pub struct Plain;
impl Strategy for Plain {}
