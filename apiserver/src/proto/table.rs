//! The generated protobuf field tables and lookups over them.

/// Value type of a protobuf `map<string, V>` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapValue {
    /// `map<string, string>`.
    String,
    /// `map<string, bytes>`: JSON renders values as base64.
    Bytes,
    /// `map<string, Message>` with the value's definition name.
    Message(&'static str),
}

/// Wire kind of one protobuf field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// UTF-8 string.
    String,
    /// Raw bytes (base64 in JSON).
    Bytes,
    /// `int32` varint.
    Int32,
    /// `int64` varint.
    Int64,
    /// `bool` varint.
    Bool,
    /// 64-bit float.
    Double,
    /// Embedded message with its definition name.
    Message(&'static str),
    /// `map<string, V>`.
    Map(MapValue),
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldDef {
    /// Protobuf field number.
    pub tag: u32,
    /// prost's Rust field name (snake_case).
    pub rust: &'static str,
    /// Upstream JSON name; empty for inlined (embedded Go struct) fields.
    pub json: &'static str,
    /// Wire kind.
    pub kind: Kind,
    /// `repeated` field.
    pub repeated: bool,
    /// Keep a zero scalar in JSON: the Go field is a pointer or its json tag lacks `omitempty`.
    pub keep_zero: bool,
    /// The Go field is embedded: merge the nested object's keys into the parent.
    pub inline: bool,
}

/// One message: its upstream definition name and fields sorted by tag.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageDef {
    /// Upstream OpenAPI definition name, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub name: &'static str,
    /// Fields sorted by tag.
    pub fields: &'static [FieldDef],
}

#[rustfmt::skip]
#[path = "generated.rs"]
mod generated;

/// Kinds from `meta.k8s.io/v1` that every API group version also registers.
const META_KINDS: &[&str] = &[
    "CreateOptions",
    "DeleteOptions",
    "GetOptions",
    "ListOptions",
    "PatchOptions",
    "Status",
    "UpdateOptions",
    "WatchEvent",
];

/// Prefix of the `meta.k8s.io/v1` definitions.
const META_V1: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

/// Finds a message by upstream definition name.
pub(crate) fn message(definition: &str) -> Option<&'static MessageDef> {
    generated::MESSAGES
        .binary_search_by(|m| m.name.cmp(definition))
        .ok()
        .map(|i| &generated::MESSAGES[i])
}

impl MessageDef {
    /// Finds a field by protobuf tag.
    pub(crate) fn field(&self, tag: u32) -> Option<&'static FieldDef> {
        self.fields
            .binary_search_by(|f| f.tag.cmp(&tag))
            .ok()
            .map(|i| &self.fields[i])
    }
}

/// Maps an envelope's apiVersion and kind to the message that decodes it.
pub(crate) fn resolve(api_version: &str, kind: &str) -> Option<&'static MessageDef> {
    let prefix = if META_KINDS.contains(&kind) {
        META_V1
    } else {
        let i = generated::GROUP_VERSIONS
            .binary_search_by(|(gv, _)| (*gv).cmp(api_version))
            .ok()?;
        generated::GROUP_VERSIONS[i].1
    };
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    message(&format!("{prefix}.{kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        for w in generated::MESSAGES.windows(2) {
            assert!(w[0].name < w[1].name, "{} !< {}", w[0].name, w[1].name);
        }
        for m in generated::MESSAGES {
            for w in m.fields.windows(2) {
                assert!(w[0].tag < w[1].tag, "{}: tags unsorted", m.name);
            }
        }
        for w in generated::GROUP_VERSIONS.windows(2) {
            assert!(w[0].0 < w[1].0);
        }
    }

    #[test]
    fn nested_definitions_exist() {
        for m in generated::MESSAGES {
            for f in m.fields {
                let target = match f.kind {
                    Kind::Message(t) | Kind::Map(MapValue::Message(t)) => t,
                    _ => continue,
                };
                assert!(
                    message(target).is_some(),
                    "{}.{} -> {target}",
                    m.name,
                    f.rust
                );
            }
        }
    }

    #[test]
    fn resolves_group_versions() {
        let cases = [
            ("apps/v1", "Deployment", "io.k8s.api.apps.v1.Deployment"),
            ("v1", "Namespace", "io.k8s.api.core.v1.Namespace"),
            (
                "rbac.authorization.k8s.io/v1",
                "Role",
                "io.k8s.api.rbac.v1.Role",
            ),
            (
                "authorization.k8s.io/v1",
                "SelfSubjectAccessReview",
                "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
            ),
            (
                "authentication.k8s.io/v1",
                "TokenRequest",
                "io.k8s.api.authentication.v1.TokenRequest",
            ),
            (
                "meta.k8s.io/v1",
                "DeleteOptions",
                "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            ),
            (
                "apps/v1",
                "DeleteOptions",
                "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            ),
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
            ),
            (
                "apiregistration.k8s.io/v1",
                "APIService",
                "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService",
            ),
            (
                "flowcontrol.apiserver.k8s.io/v1",
                "FlowSchema",
                "io.k8s.api.flowcontrol.v1.FlowSchema",
            ),
            ("autoscaling/v1", "Scale", "io.k8s.api.autoscaling.v1.Scale"),
            ("policy/v1", "Eviction", "io.k8s.api.policy.v1.Eviction"),
            (
                "storage.k8s.io/v1",
                "CSIDriver",
                "io.k8s.api.storage.v1.CSIDriver",
            ),
        ];
        for (gv, kind, def) in cases {
            assert_eq!(resolve(gv, kind).map(|m| m.name), Some(def), "{gv} {kind}");
        }
        assert!(resolve("apps/v1", "Pod").is_none());
        assert!(resolve("nope/v1", "Pod").is_none());
        assert!(resolve("v1", "").is_none());
    }
}
