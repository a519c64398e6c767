//! Upstream's bootstrap RBAC policy (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy`):
//! the ClusterRoles every user holds through the default bindings, and the user-facing
//! `admin`, `edit` and `view` roles, which are aggregated (their rules are filled in by the
//! clusterrole-aggregation controller from the `system:aggregate-to-*` roles and any role
//! a user labels `rbac.authorization.k8s.io/aggregate-to-<role>: "true"`).

use serde_json::{json, Value};

/// A ClusterRole the bootstrap creates: name, extra labels, rules (or an aggregation rule).
pub struct BootstrapRole {
    /// Role name.
    pub name: &'static str,
    /// Labels besides `kubernetes.io/bootstrapping`.
    pub labels: Value,
    /// `rules` or `aggregationRule`.
    pub body: Value,
}

/// One policy rule on resources.
fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({ "apiGroups": groups, "resources": resources, "verbs": verbs })
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

fn aggregated(to: &str) -> Value {
    json!({ "aggregationRule": { "clusterRoleSelectors": [{ "matchLabels": { format!("rbac.authorization.k8s.io/aggregate-to-{to}"): "true" } }] } })
}

fn aggregate_to(to: &str) -> Value {
    json!({ format!("rbac.authorization.k8s.io/aggregate-to-{to}"): "true" })
}

/// `admin`, `edit`, `view` and the `system:aggregate-to-*` roles that carry their rules.
pub fn user_facing_roles() -> Vec<BootstrapRole> {
    let view_rules = json!([
        rule(&[""], &["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"], READ),
        rule(&[""], &["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"], READ),
        rule(&[""], &["namespaces"], READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
        rule(&["apps"], &["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"], READ),
        rule(&["autoscaling"], &["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ),
        rule(&["batch"], &["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
        rule(&["extensions"], &["daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "ingresses", "ingresses/status", "networkpolicies", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale"], READ),
        rule(&["policy"], &["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
        rule(&["networking.k8s.io"], &["ingresses", "ingresses/status", "networkpolicies"], READ),
    ]);
    let edit_rules = json!([
        rule(&[""], &["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"], READ),
        rule(&[""], &["serviceaccounts"], &["impersonate"]),
        rule(&[""], &["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(&[""], &["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"], WRITE),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(&["apps"], &["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"], WRITE),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(&["extensions"], &["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses", "networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"], WRITE),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(&["networking.k8s.io"], &["ingresses", "networkpolicies"], WRITE),
        rule(&["coordination.k8s.io"], &["leases"], ALL),
    ]);
    let admin_rules = json!([
        rule(&["authorization.k8s.io"], &["localsubjectaccessreviews"], &["create"]),
        rule(&["rbac.authorization.k8s.io"], &["rolebindings", "roles"], ALL),
    ]);
    vec![
        BootstrapRole { name: "admin", labels: json!({}), body: aggregated("admin") },
        BootstrapRole { name: "edit", labels: aggregate_to("admin"), body: aggregated("edit") },
        BootstrapRole { name: "view", labels: aggregate_to("edit"), body: aggregated("view") },
        BootstrapRole { name: "system:aggregate-to-admin", labels: aggregate_to("admin"), body: json!({ "rules": admin_rules }) },
        BootstrapRole { name: "system:aggregate-to-edit", labels: aggregate_to("edit"), body: json!({ "rules": edit_rules }) },
        BootstrapRole { name: "system:aggregate-to-view", labels: aggregate_to("view"), body: json!({ "rules": view_rules }) },
        // metrics-server's manifest role: whoever may view may read the resource metrics
        // API (`kubectl top`), served built in here.
        BootstrapRole {
            name: "system:aggregated-metrics-reader",
            labels: json!({
                "rbac.authorization.k8s.io/aggregate-to-admin": "true",
                "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                "rbac.authorization.k8s.io/aggregate-to-view": "true",
            }),
            body: json!({ "rules": [rule(&["metrics.k8s.io"], &["pods", "nodes"], READ)] }),
        },
    ]
}

/// The ClusterRoles every user holds, with the groups they are bound to.
pub fn basic_roles() -> Vec<(&'static str, Value, &'static [&'static str])> {
    let get = |urls: &[&str]| json!([{ "verbs": ["get"], "nonResourceURLs": urls }]);
    vec![
        (
            "system:discovery",
            get(&["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]),
            &["system:authenticated"],
        ),
        (
            "system:basic-user",
            json!([
                { "verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"] },
                { "verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"] },
            ]),
            &["system:authenticated"],
        ),
        (
            "system:public-info-viewer",
            get(&["/healthz", "/livez", "/readyz", "/version", "/version/"]),
            &["system:authenticated", "system:unauthenticated"],
        ),
        (
            "system:service-account-issuer-discovery",
            get(&["/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/"]),
            &["system:serviceaccounts"],
        ),
    ]
}
