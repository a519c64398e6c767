//! RBAC evaluation (upstream `plugin/pkg/auth/authorizer/rbac/rbac.go` and
//! `pkg/registry/rbac/validation/rule.go`): the rules that apply to a user are those of
//! the roles bound to the user, to one of its groups or (for service-account users) to
//! its ServiceAccount; a ClusterRoleBinding grants its ClusterRole everywhere, a
//! RoleBinding grants its Role or ClusterRole in its own namespace only.
//!
//! Aggregated ClusterRoles (`aggregationRule`) grant the rules stored in them, which the
//! controller manager's clusterrole-aggregation controller fills in, as upstream.

use super::authz::Attributes;
use super::authn::Identity;
use crate::error::ApiError;
use crate::registry::kinds;
use crate::registry::store::{ListOptions, Store, Target};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The policy rules that apply to one user.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Rules granted in every namespace and at the cluster scope.
    pub cluster: Vec<Value>,
    /// Rules granted only in one namespace.
    pub namespaced: HashMap<String, Vec<Value>>,
}

fn strings<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    v.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or_default()
}

fn has(v: &Value, key: &str, wanted: &str) -> bool {
    strings(v, key).any(|s| s == "*" || s == wanted)
}

/// Whether one PolicyRule allows the request.
pub fn rule_allows(rule: &Value, attrs: &Attributes) -> bool {
    if !has(rule, "verbs", attrs.verb) {
        return false;
    }
    if let Some(path) = attrs.path {
        return strings(rule, "nonResourceURLs").any(|url| url == "*" || url == path || url.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix)));
    }
    if !has(rule, "apiGroups", attrs.group) {
        return false;
    }
    let subresource = attrs.resource.split_once('/').map(|(_, sub)| sub);
    let resource_ok = strings(rule, "resources").any(|r| {
        r == "*" || r == attrs.resource || subresource.is_some_and(|sub| r.strip_prefix("*/") == Some(sub))
    });
    if !resource_ok {
        return false;
    }
    let mut names = strings(rule, "resourceNames").peekable();
    names.peek().is_none() || attrs.name.is_some_and(|n| names.any(|r| r == n))
}

/// Whether `rules` allow the request.
pub fn allows(rules: &Rules, attrs: &Attributes) -> bool {
    let in_namespace = attrs.namespace.and_then(|ns| rules.namespaced.get(ns)).into_iter().flatten();
    rules.cluster.iter().chain(in_namespace).any(|r| rule_allows(r, attrs))
}

fn binds(subject: &Value, binding_ns: &str, who: &Identity) -> bool {
    let name = str_at(subject, "/name");
    match str_at(subject, "/kind") {
        "User" => name == who.user,
        "Group" => who.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = match str_at(subject, "/namespace") {
                "" => binding_ns,
                ns => ns,
            };
            who.user == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

async fn list(store: &Store, resource: &str) -> Result<Vec<Value>, ApiError> {
    let kind = kinds::find("rbac.authorization.k8s.io", "v1", resource).ok_or_else(|| ApiError::Internal(format!("{resource} is not served")))?;
    let page = store.list(Target { kind, namespace: None }, &ListOptions { resource_version: Some("0".into()), ..Default::default() }).await?;
    page.items.iter().map(|i| i.object(kind)).collect()
}

/// Collects the rules bound to `who` from the stored RBAC objects.
pub async fn rules_for(store: &Store, who: &Identity) -> Result<Rules, ApiError> {
    let mut rules = Rules::default();
    if who.is_anonymous() {
        return Ok(rules);
    }
    let cluster_roles = list(store, "clusterroles").await?;
    let cluster_role = |name: &str| cluster_roles.iter().find(|r| str_at(r, "/metadata/name") == name).map(|r| r.get("rules").and_then(Value::as_array).cloned().unwrap_or_default());
    for binding in list(store, "clusterrolebindings").await? {
        if binding.get("subjects").and_then(Value::as_array).into_iter().flatten().any(|s| binds(s, "", who))
            && str_at(&binding, "/roleRef/kind") == "ClusterRole"
        {
            rules.cluster.extend(cluster_role(str_at(&binding, "/roleRef/name")).unwrap_or_default());
        }
    }
    let mut roles: Option<Vec<Value>> = None;
    for binding in list(store, "rolebindings").await? {
        let ns = str_at(&binding, "/metadata/namespace");
        if !binding.get("subjects").and_then(Value::as_array).into_iter().flatten().any(|s| binds(s, ns, who)) {
            continue;
        }
        let name = str_at(&binding, "/roleRef/name");
        let granted = match str_at(&binding, "/roleRef/kind") {
            "ClusterRole" => cluster_role(name).unwrap_or_default(),
            "Role" => {
                if roles.is_none() {
                    roles = Some(list(store, "roles").await?);
                }
                roles
                    .iter()
                    .flatten()
                    .find(|r| str_at(r, "/metadata/namespace") == ns && str_at(r, "/metadata/name") == name)
                    .and_then(|r| r.get("rules").and_then(Value::as_array).cloned())
                    .unwrap_or_default()
            }
            _ => vec![],
        };
        rules.namespaced.entry(ns.to_string()).or_default().extend(granted);
    }
    Ok(rules)
}

/// SelfSubjectRulesReview's status: the rules that apply in `namespace`.
pub fn rules_review_status(rules: &Rules, namespace: &str) -> Value {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    let in_namespace = rules.namespaced.get(namespace).into_iter().flatten();
    for rule in rules.cluster.iter().chain(in_namespace) {
        let verbs: Vec<&str> = strings(rule, "verbs").collect();
        let urls: Vec<&str> = strings(rule, "nonResourceURLs").collect();
        if !urls.is_empty() {
            non_resource_rules.push(json!({ "verbs": verbs, "nonResourceURLs": urls }));
            continue;
        }
        let mut r = json!({ "verbs": verbs, "apiGroups": strings(rule, "apiGroups").collect::<Vec<_>>(), "resources": strings(rule, "resources").collect::<Vec<_>>() });
        let names: Vec<&str> = strings(rule, "resourceNames").collect();
        if !names.is_empty() {
            r["resourceNames"] = json!(names);
        }
        resource_rules.push(r);
    }
    json!({ "resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs<'a>(verb: &'a str, group: &'a str, resource: &'a str, ns: Option<&'a str>, name: Option<&'a str>) -> Attributes<'a> {
        Attributes { verb, group, resource, namespace: ns, name, path: None }
    }

    #[test]
    fn rule_matching_follows_upstream() {
        let rule = json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]});
        assert!(rule_allows(&rule, &attrs("get", "", "pods", Some("a"), Some("p"))));
        assert!(rule_allows(&rule, &attrs("get", "", "pods/log", Some("a"), Some("p"))));
        assert!(!rule_allows(&rule, &attrs("get", "", "pods/exec", Some("a"), Some("p"))));
        assert!(!rule_allows(&rule, &attrs("delete", "", "pods", Some("a"), Some("p"))));
        assert!(!rule_allows(&rule, &attrs("get", "apps", "pods", Some("a"), Some("p"))));
        let any_status = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/status"]});
        assert!(rule_allows(&any_status, &attrs("update", "apps", "deployments/status", None, Some("d"))));
        assert!(!rule_allows(&any_status, &attrs("update", "apps", "deployments", None, Some("d"))));
        let named = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["one"]});
        assert!(rule_allows(&named, &attrs("get", "", "configmaps", Some("a"), Some("one"))));
        assert!(!rule_allows(&named, &attrs("get", "", "configmaps", Some("a"), Some("two"))));
        assert!(!rule_allows(&named, &attrs("list", "", "configmaps", Some("a"), None)));
        let urls = json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]});
        let path = |p| Attributes { verb: "get", path: Some(p), ..Default::default() };
        assert!(rule_allows(&urls, &path("/healthz")));
        assert!(rule_allows(&urls, &path("/apis/apps/v1")));
        assert!(!rule_allows(&urls, &path("/metrics")));
        assert!(!rule_allows(&urls, &attrs("get", "", "healthz", None, None)));
    }

    #[test]
    fn namespaced_rules_stay_in_their_namespace() {
        let mut rules = Rules::default();
        rules.namespaced.insert("a".into(), vec![json!({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]})]);
        assert!(allows(&rules, &attrs("list", "", "pods", Some("a"), None)));
        assert!(!allows(&rules, &attrs("list", "", "pods", Some("b"), None)));
        assert!(!allows(&rules, &attrs("list", "", "pods", None, None)));
    }

    #[test]
    fn subjects_match_users_groups_and_service_accounts() {
        let who = Identity { user: "system:serviceaccount:a:robot".into(), groups: vec!["system:serviceaccounts".into()], ..Default::default() };
        assert!(binds(&json!({"kind": "ServiceAccount", "name": "robot"}), "a", &who));
        assert!(binds(&json!({"kind": "ServiceAccount", "name": "robot", "namespace": "a"}), "", &who));
        assert!(!binds(&json!({"kind": "ServiceAccount", "name": "robot"}), "b", &who));
        assert!(binds(&json!({"kind": "Group", "name": "system:serviceaccounts"}), "", &who));
        assert!(!binds(&json!({"kind": "User", "name": "robot"}), "", &who));
    }
}
