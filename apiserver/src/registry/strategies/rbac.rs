//! RBAC kinds: Role, ClusterRole, RoleBinding, ClusterRoleBinding
//! (`pkg/apis/rbac/v1/defaults.go`, `pkg/apis/rbac/validation`). One strategy serves each
//! namespaced/cluster pair; the object's `kind` tells them apart.

use super::causes::go_quote;
use super::json::{child, each_mut, items, s, set_default};
use super::meta_table::{CREATED_AT, created_at};
use crate::registry::strategy::{Cause, NameRule, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

const GROUP: &str = "rbac.authorization.k8s.io";

fn is_cluster_kind(obj: &Value) -> bool {
    super::json::kind_of(obj).starts_with("Cluster") || obj.pointer("/metadata/namespace").and_then(Value::as_str).is_none_or(str::is_empty)
}

/// Role and ClusterRole strategy.
pub struct Role;
/// The Role strategy instance.
pub static ROLE: Role = Role;

static ROLE_COLUMNS: [Column; 1] = [CREATED_AT];

impl Strategy for Role {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let namespaced = !is_cluster_kind(obj);
        let aggregated = obj.get("aggregationRule").is_some_and(Value::is_object);
        for (i, rule) in items(obj, "rules").iter().enumerate() {
            let path = format!("rules[{i}]");
            if items(rule, "verbs").is_empty() {
                causes.push(Cause::required_because(format!("{path}.verbs"), "verbs must contain at least one value"));
            }
            let urls = items(rule, "nonResourceURLs");
            if !urls.is_empty() {
                let rendered = format!("[]string{{{}}}", urls.iter().filter_map(Value::as_str).map(go_quote).collect::<Vec<_>>().join(", "));
                if namespaced {
                    causes.push(Cause::invalid_raw(format!("{path}.nonResourceURLs"), &rendered, "namespaced rules cannot apply to non-resource URLs"));
                }
                if !items(rule, "apiGroups").is_empty() || !items(rule, "resources").is_empty() || !items(rule, "resourceNames").is_empty() {
                    causes.push(Cause::invalid_raw(
                        format!("{path}.nonResourceURLs"),
                        &rendered,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    ));
                }
                continue;
            }
            if items(rule, "apiGroups").is_empty() {
                causes.push(Cause::required_because(format!("{path}.apiGroups"), "resource rules must supply at least one api group"));
            }
            if items(rule, "resources").is_empty() {
                causes.push(Cause::required_because(format!("{path}.resources"), "resource rules must supply at least one resource"));
            }
        }
        if aggregated && namespaced {
            causes.push(Cause::forbidden("aggregationRule", "aggregation is only allowed for ClusterRoles"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &ROLE_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![created_at(obj)]
    }
}

/// RoleBinding and ClusterRoleBinding strategy.
pub struct RoleBinding;
/// The RoleBinding strategy instance.
pub static ROLE_BINDING: RoleBinding = RoleBinding;

static ROLE_BINDING_COLUMNS: [Column; 5] = [
    Column::new("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
    AGE,
    Column::wide("Users", "string", "Users in the roleBinding"),
    Column::wide("Groups", "string", "Groups in the roleBinding"),
    Column::wide("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
];

fn render_role_ref(r: &Value) -> String {
    format!("rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}", go_quote(s(r, "apiGroup")), go_quote(s(r, "kind")), go_quote(s(r, "name")))
}

impl Strategy for RoleBinding {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
    fn default(&self, obj: &mut Value) {
        if let Some(role_ref) = child(obj, "roleRef") {
            set_default(role_ref, "apiGroup", json!(GROUP));
        }
        each_mut(obj, "subjects", |subject| {
            let group = match s(subject, "kind") {
                "User" | "Group" => GROUP,
                _ => "",
            };
            if s(subject, "apiGroup").is_empty() && !group.is_empty() {
                subject["apiGroup"] = json!(group);
            }
        });
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let cluster = is_cluster_kind(obj);
        let role_ref = obj.get("roleRef").unwrap_or(&Value::Null);
        if s(role_ref, "apiGroup") != GROUP {
            causes.push(Cause::not_supported("roleRef.apiGroup", &json!(s(role_ref, "apiGroup")), &[GROUP]));
        }
        let kinds: &[&str] = if cluster { &["ClusterRole"] } else { &["Role", "ClusterRole"] };
        if !kinds.contains(&s(role_ref, "kind")) {
            causes.push(Cause::not_supported("roleRef.kind", &json!(s(role_ref, "kind")), kinds));
        }
        let name = s(role_ref, "name");
        if name.is_empty() {
            causes.push(Cause::required("roleRef.name"));
        } else {
            super::causes::invalid_each(causes, "roleRef.name", &json!(name), super::names::path_segment(name));
        }
        for (i, subject) in items(obj, "subjects").iter().enumerate() {
            let path = format!("subjects[{i}]");
            if s(subject, "name").is_empty() {
                causes.push(Cause::required(format!("{path}.name")));
            }
            match s(subject, "kind") {
                "ServiceAccount" => {
                    if !s(subject, "apiGroup").is_empty() {
                        causes.push(Cause::not_supported(format!("{path}.apiGroup"), &json!(s(subject, "apiGroup")), &[""]));
                    }
                    if cluster && s(subject, "namespace").is_empty() {
                        causes.push(Cause::required(format!("{path}.namespace")));
                    }
                }
                "User" | "Group" => {
                    if s(subject, "apiGroup") != GROUP {
                        causes.push(Cause::not_supported(format!("{path}.apiGroup"), &json!(s(subject, "apiGroup")), &[GROUP]));
                    }
                }
                other => causes.push(Cause::not_supported(format!("{path}.kind"), &json!(other), &["ServiceAccount", "User", "Group"])),
            }
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        if obj.get("roleRef") != old.get("roleRef") {
            causes.push(Cause::invalid_raw("roleRef", &render_role_ref(obj.get("roleRef").unwrap_or(&Value::Null)), "cannot change roleRef"));
        }
    }
    fn columns(&self) -> &'static [Column] {
        &ROLE_BINDING_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let role_ref = obj.get("roleRef").unwrap_or(&Value::Null);
        let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
        for subject in items(obj, "subjects") {
            match s(subject, "kind") {
                "ServiceAccount" => sas.push(format!("{}/{}", s(subject, "namespace"), s(subject, "name"))),
                "User" => users.push(s(subject, "name").to_string()),
                "Group" => groups.push(s(subject, "name").to_string()),
                _ => {}
            }
        }
        vec![
            json!(format!("{}/{}", s(role_ref, "kind"), s(role_ref, "name"))),
            age(obj),
            json!(users.join(", ")),
            json!(groups.join(", ")),
            json!(sas.join(", ")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_rules_need_verbs() {
        let mut causes = Vec::new();
        ROLE.validate(&json!({"kind": "Role", "metadata": {"namespace": "a"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]}), &mut causes);
        assert_eq!(causes, vec![Cause::required_because("rules[0].verbs", "verbs must contain at least one value")]);
    }

    #[test]
    fn binding_defaults_and_immutable_role_ref() {
        let mut rb = json!({
            "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "a"},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "jane"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "a"}]
        });
        ROLE_BINDING.default(&mut rb);
        assert_eq!(rb["roleRef"]["apiGroup"], GROUP);
        assert_eq!(rb["subjects"][0]["apiGroup"], GROUP);
        assert!(rb["subjects"][1].get("apiGroup").is_none());
        let mut causes = Vec::new();
        ROLE_BINDING.validate(&rb, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        let mut new = rb.clone();
        new["roleRef"]["name"] = json!("edit");
        ROLE_BINDING.validate_update(&new, &rb, &mut causes);
        assert_eq!(causes[0].message, "Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef");
        assert_eq!(ROLE_BINDING.row(&rb)[0], "ClusterRole/view");
        assert_eq!(ROLE_BINDING.row(&rb)[4], "a/sa");
    }
}
