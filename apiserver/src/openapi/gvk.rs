//! Group/version/kind values and the upstream naming rules built from them (operation
//! ids, tags, document keys).

use serde_json::{json, Value};

/// A group, version and kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Gvk {
    /// API group, "" for core.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl Gvk {
    /// A new GVK.
    pub fn new(group: &str, version: &str, kind: &str) -> Gvk {
        Gvk { group: group.to_string(), version: version.to_string(), kind: kind.to_string() }
    }

    /// The `x-kubernetes-group-version-kind` object form.
    pub fn to_value(&self) -> Value {
        json!({"group": self.group, "kind": self.kind, "version": self.version})
    }
}

/// The OpenAPI v3 document key of a group-version: `api/v1`, `apis/apps/v1`.
pub(crate) fn gv_key(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// The URL prefix of a group-version: `/api/v1`, `/apis/apps/v1`.
pub(crate) fn gv_prefix(group: &str, version: &str) -> String {
    format!("/{}", gv_key(group, version))
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The group as operation ids spell it: `Core`, `Apps`, `RbacAuthorization`, `Networking`.
pub(crate) fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".to_string();
    }
    let trimmed = group.strip_suffix(".k8s.io").unwrap_or(group);
    trimmed.split(['.', '-']).map(upper_first).collect()
}

/// The operation-id prefix of a group-version, e.g. `AppsV1`, `CoreV1`.
pub(crate) fn gv_camel(group: &str, version: &str) -> String {
    format!("{}{}", group_camel(group), upper_first(version))
}

/// The tag of a group-version's operations, e.g. `apps_v1`, `rbacAuthorization_v1`.
pub(crate) fn tag(group: &str, version: &str) -> String {
    format!("{}_{version}", group_lower_camel(group))
}

/// The tag of a group's own endpoint, e.g. `apps`, `core`.
pub(crate) fn group_lower_camel(group: &str) -> String {
    let camel = group_camel(group);
    let mut c = camel.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_naming() {
        assert_eq!(gv_camel("", "v1"), "CoreV1");
        assert_eq!(gv_camel("apps", "v1"), "AppsV1");
        assert_eq!(gv_camel("rbac.authorization.k8s.io", "v1"), "RbacAuthorizationV1");
        assert_eq!(gv_camel("autoscaling", "v2"), "AutoscalingV2");
        assert_eq!(tag("rbac.authorization.k8s.io", "v1"), "rbacAuthorization_v1");
        assert_eq!(tag("", "v1"), "core_v1");
        assert_eq!(gv_key("", "v1"), "api/v1");
        assert_eq!(gv_key("apps", "v1"), "apis/apps/v1");
    }

    #[test]
    fn gvk_value_is_an_object_with_three_keys() {
        let v = Gvk::new("apps", "v1", "Deployment").to_value();
        assert_eq!(v, serde_json::json!({"group": "apps", "kind": "Deployment", "version": "v1"}));
    }
}
