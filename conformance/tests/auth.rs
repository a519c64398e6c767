//! Authentication and authorization through stock kubectl and raw TLS.

use ironkube_conformance::{assert_eventually, tls_connector, tls_get, Cluster};

/// `GET path` over TLS without a client certificate (trusting the cluster CA): status
/// code and body.
fn anonymous_get(c: &Cluster, path: &str) -> (u16, String) {
    let connector = tls_connector(Some(&c.dir.path().join("pki/ca.crt")), None);
    tls_get(&connector, c.port, path).expect("TLS to the API server")
}

#[test]
fn anonymous_requests_get_401_except_health_and_version() {
    let c = Cluster::start();
    let (status, body) = anonymous_get(&c, "/api/v1/namespaces");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"reason\":\"Unauthorized\""), "{body}");
    for open in ["/healthz", "/livez", "/readyz", "/version", "/version/"] {
        let (status, _) = anonymous_get(&c, open);
        assert_eq!(status, 200, "{open}");
    }
    let (_, version) = anonymous_get(&c, "/version");
    let v: serde_json::Value = serde_json::from_str(&version).unwrap();
    for field in ["major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"] {
        assert!(v.get(field).is_some(), "/version lacks {field}");
    }
}

#[test]
fn can_i_whoami_and_impersonation() {
    let c = Cluster::start();
    assert_eq!(c.ok(&["auth", "can-i", "create", "deployments"]).trim(), "yes");
    let who = c.ok(&["auth", "whoami"]);
    assert!(who.contains("admin") && who.contains("system:masters"), "{who}");
    // bob has no RBAC bindings: refused, not waved through.
    let out = c.kubectl(&["auth", "can-i", "get", "pods", "--as", "bob"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    let err = c.fails(&["get", "pods", "--as", "bob"]);
    assert!(err.contains("Error from server (Forbidden): pods is forbidden: User \"bob\" cannot list resource \"pods\""), "{err}");
}

/// `kubectl auth can-i` as `user` in `default`: "yes" or "no".
fn can_i(c: &Cluster, user: &str, verb: &str, resource: &str) -> String {
    let out = c.kubectl(&["auth", "can-i", verb, resource, "-n", "default", "--as", user]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn view_edit_admin_are_aggregated_and_extensible_by_label() {
    let c = Cluster::start();
    // The aggregation controller fills in the bootstrap roles' rules, as kubectl shows them.
    assert_eventually!(c.ok(&["get", "clusterrole", "view", "-o", "jsonpath={.rules[*].resources}"]).contains("pods/log"), "view has no rules");
    assert_eventually!(c.ok(&["get", "clusterrole", "admin", "-o", "jsonpath={.rules[*].resources}"]).contains("deployments"), "admin lacks edit's and view's rules");
    c.ok(&["create", "rolebinding", "jane-view", "--clusterrole=view", "--user=jane", "-n", "default"]);
    c.ok(&["create", "rolebinding", "joe-edit", "--clusterrole=edit", "--user=joe", "-n", "default"]);
    assert_eq!(can_i(&c, "jane", "list", "pods"), "yes");
    assert_eq!(can_i(&c, "jane", "get", "pods/log"), "yes");
    assert_eq!(can_i(&c, "jane", "create", "pods"), "no");
    assert_eq!(can_i(&c, "jane", "get", "secrets"), "no");
    assert_eq!(can_i(&c, "joe", "create", "deployments.apps"), "yes");
    assert_eq!(can_i(&c, "joe", "list", "pods"), "yes", );
    assert_eq!(can_i(&c, "joe", "create", "rolebindings.rbac.authorization.k8s.io"), "no");
    c.ok(&["get", "pods", "-n", "default", "--as", "jane"]);
    // A role labelled aggregate-to-view extends view, and through view, edit.
    c.ok(&["create", "clusterrole", "widget-reader", "--verb=get,list", "--resource=configmaps,nodes"]);
    assert_eq!(can_i(&c, "jane", "list", "nodes"), "no");
    c.ok(&["label", "clusterrole", "widget-reader", "rbac.authorization.k8s.io/aggregate-to-view=true"]);
    assert_eventually!(can_i(&c, "jane", "list", "nodes") == "yes", "view did not aggregate the labelled role");
    assert_eventually!(can_i(&c, "joe", "list", "nodes") == "yes", "edit did not aggregate view's new rules");
    // Removing the label takes the rules away again.
    c.ok(&["label", "clusterrole", "widget-reader", "rbac.authorization.k8s.io/aggregate-to-view-"]);
    assert_eventually!(can_i(&c, "jane", "list", "nodes") == "no", "view kept the unlabelled role's rules");
}

#[test]
fn impersonation_is_granted_by_rbac() {
    let c = Cluster::start();
    c.ok(&["create", "serviceaccount", "robot"]);
    c.ok(&["create", "rolebinding", "jane-view", "--clusterrole=view", "--user=jane", "-n", "default"]);
    let token = c.ok(&["create", "token", "robot"]).trim().to_string();
    let as_jane = |args: &[&str]| {
        let mut all = vec!["--as", "jane"];
        all.extend_from_slice(args);
        c.kubectl_with_token(&token, &all)
    };
    // Discovery fails first, where kubectl prints only "(Forbidden): unknown" (as against
    // kube-apiserver); a raw request shows the Status message.
    let pods = "/api/v1/namespaces/default/pods";
    let out = as_jane(&["get", "--raw", pods]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("users \"jane\" is forbidden: User \"system:serviceaccount:default:robot\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"),
        "{err}"
    );
    c.ok(&["create", "clusterrole", "impersonate-jane", "--verb=impersonate", "--resource=users", "--resource-name=jane"]);
    c.ok(&["create", "clusterrolebinding", "robot-impersonates", "--clusterrole=impersonate-jane", "--serviceaccount=default:robot"]);
    let out = as_jane(&["get", "pods", "-n", "default"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let who = String::from_utf8_lossy(&as_jane(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}"]).stdout).to_string();
    assert_eq!(who, "jane [\"system:authenticated\"]");
    // jane may read but not write; other names and groups are not granted.
    let out = as_jane(&["create", "configmap", "x", "-n", "default"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("User \"jane\" cannot create resource \"configmaps\""));
    let out = c.kubectl_with_token(&token, &["--as", "alice", "get", "--raw", pods]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("users \"alice\" is forbidden"));
    let out = as_jane(&["--as-group", "devs", "get", "--raw", pods]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("groups \"devs\" is forbidden"));
}
