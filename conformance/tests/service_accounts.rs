//! Service-account tokens through stock kubectl: TokenRequest (`kubectl create token`),
//! bearer-token authentication, OIDC discovery, and (with a kubelet) the projected token
//! volume every pod gets.

use base64::Engine;
use ironkube_conformance::{Cluster, assert_eventually};
use serde_json::Value;

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}

#[test]
fn create_token_gives_an_upstream_jwt_that_authenticates_until_the_account_is_replaced() {
    let c = Cluster::start();
    assert_eventually!(c.kubectl(&["get", "serviceaccount", "default"]).status.success(), "no default ServiceAccount");
    let uid = c.ok(&["get", "serviceaccount", "default", "-o", "jsonpath={.metadata.uid}"]);
    let token = c.ok(&["create", "token", "default", "--duration=1h"]).trim().to_string();
    let header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    let claims = claims_of(&token);
    assert_eq!(claims["iss"], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(claims["aud"], serde_json::json!(["https://kubernetes.default.svc.cluster.local"]));
    assert_eq!(claims["sub"], "system:serviceaccount:default:default");
    assert_eq!(claims["kubernetes.io"]["namespace"], "default");
    assert_eq!(claims["kubernetes.io"]["serviceaccount"]["name"], "default");
    assert_eq!(claims["kubernetes.io"]["serviceaccount"]["uid"], uid.as_str());
    let (iat, nbf, exp) = (claims["iat"].as_i64().unwrap(), claims["nbf"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!((nbf, exp - iat), (iat, 3600));
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()), "{claims}");

    // The token is a credential: whoami shows the account and its groups.
    let out = c.kubectl_with_token(&token, &["auth", "whoami", "-o", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let who: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "system:serviceaccount:default:default");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        serde_json::json!(["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"])
    );
    assert_eq!(who["status"]["userInfo"]["uid"], uid.as_str());

    // A recreated account (new UID) does not honour the old token.
    c.ok(&["delete", "serviceaccount", "default"]);
    let current_uid = || String::from_utf8_lossy(&c.kubectl(&["get", "serviceaccount", "default", "-o", "jsonpath={.metadata.uid}"]).stdout).into_owned();
    assert_eventually!(!current_uid().is_empty() && current_uid() != uid, "the default ServiceAccount was not recreated");
    let out = c.kubectl_with_token(&token, &["auth", "whoami"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unauthorized"), "{err}");
    let fresh = c.ok(&["create", "token", "default"]).trim().to_string();
    assert!(c.kubectl_with_token(&fresh, &["auth", "whoami"]).status.success());
}

#[test]
fn bad_tokens_get_401_and_bad_requests_upstream_errors() {
    let c = Cluster::start();
    assert_eventually!(c.kubectl(&["get", "serviceaccount", "default"]).status.success(), "no default ServiceAccount");
    let token = c.ok(&["create", "token", "default"]).trim().to_string();
    // Tampered payload: the signature no longer matches.
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut claims = claims_of(&token);
    claims["sub"] = "system:serviceaccount:kube-system:default".into();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    for bad in [parts.join("."), "not-a-jwt".to_string()] {
        let out = c.kubectl_with_token(&bad, &["get", "--raw", "/api"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Unauthorized"), "{err}");
    }
    // A token for another audience is not for the API server.
    let vault = c.ok(&["create", "token", "default", "--audience=vault"]).trim().to_string();
    assert_eq!(claims_of(&vault)["aud"], serde_json::json!(["vault"]));
    assert!(!c.kubectl_with_token(&vault, &["get", "--raw", "/api"]).status.success());

    let err = c.fails(&["create", "token", "default", "--duration=5m"]);
    assert!(
        err.contains("TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let err = c.fails(&["create", "token", "nobody"]);
    assert!(err.contains("serviceaccounts \"nobody\" not found"), "{err}");
    let err = c.fails(&["create", "token", "default", "--bound-object-kind=Pod", "--bound-object-name=missing"]);
    assert!(err.contains("pods \"missing\" not found"), "{err}");
}

#[test]
fn pods_get_the_token_volume_and_the_root_ca_is_published() {
    let c = Cluster::start();
    assert_eventually!(
        c.kubectl(&["get", "configmap", "kube-root-ca.crt", "-n", "kube-system"]).status.success(),
        "kube-root-ca.crt was not published"
    );
    let ca = c.ok(&["get", "configmap", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}"]);
    assert_eq!(ca.trim(), std::fs::read_to_string(c.dir.path().join("pki/ca.crt")).unwrap().trim());
    c.ok(&["create", "namespace", "team"]);
    assert_eventually!(c.kubectl(&["get", "configmap", "kube-root-ca.crt", "-n", "team"]).status.success(), "not published in a new namespace");
    // Deleted, it comes back.
    c.ok(&["delete", "configmap", "kube-root-ca.crt", "-n", "team"]);
    assert_eventually!(c.kubectl(&["get", "configmap", "kube-root-ca.crt", "-n", "team"]).status.success(), "not republished");

    c.ok(&["run", "p", "--image=busybox", "--restart=Never"]);
    let pod: Value = serde_json::from_str(&c.ok(&["get", "pod", "p", "-o", "json"])).unwrap();
    let volume = &pod["spec"]["volumes"][0];
    let name = volume["name"].as_str().unwrap();
    assert!(name.starts_with("kube-api-access-") && name.len() == 21, "{name}");
    let sources = &volume["projected"]["sources"];
    assert_eq!(sources[0]["serviceAccountToken"], serde_json::json!({"expirationSeconds": 3607, "path": "token"}));
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"], "metadata.namespace");
    assert_eq!(
        pod["spec"]["containers"][0]["volumeMounts"][0],
        serde_json::json!({"name": name, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
    );
    assert_eq!(pod["spec"]["serviceAccountName"], "default");

    // A pod-bound token names the pod and authenticates while the pod exists.
    let token = c.ok(&["create", "token", "default", "--bound-object-kind=Pod", "--bound-object-name=p"]).trim().to_string();
    let claims = claims_of(&token);
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "p");
    assert_eq!(claims["kubernetes.io"]["pod"]["uid"], pod["metadata"]["uid"]);
    let out = c.kubectl_with_token(&token, &["auth", "whoami", "-o", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let who: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(who["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"], serde_json::json!(["p"]));
    c.ok(&["delete", "pod", "p", "--grace-period=0", "--force"]);
    assert_eventually!(!c.kubectl(&["get", "pod", "p"]).status.success(), "pod p not deleted");
    assert!(!c.kubectl_with_token(&token, &["auth", "whoami"]).status.success(), "a token bound to a deleted pod still works");

    let quiet = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: quiet\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: busybox\n";
    c.ok_with_input(&["apply", "-f", "-"], quiet);
    assert_eq!(c.ok(&["get", "pod", "quiet", "-o", "jsonpath={.spec.volumes}"]), "");
}

#[test]
fn openid_discovery_documents() {
    let c = Cluster::start();
    let config = c.raw("/.well-known/openid-configuration");
    assert_eq!(config["issuer"], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(config["jwks_uri"], "https://kubernetes.default.svc.cluster.local/openid/v1/jwks");
    assert_eq!(config["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));
    let jwks = c.raw("/openid/v1/jwks");
    let key = &jwks["keys"][0];
    assert_eq!((key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str(), key["e"].as_str()), (Some("RSA"), Some("RS256"), Some("sig"), Some("AQAB")));
    // The key that signs tokens is the published one.
    assert_eventually!(c.kubectl(&["get", "serviceaccount", "default"]).status.success(), "no default ServiceAccount");
    let token = c.ok(&["create", "token", "default"]).trim().to_string();
    let header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["kid"], key["kid"]);
    // Service accounts may read them (system:service-account-issuer-discovery).
    let out = c.kubectl_with_token(&token, &["get", "--raw", "/openid/v1/jwks"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_pod_reads_its_token_namespace_and_ca() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: reader\nspec:\n  nodeName: {}\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: ironkube.local/busybox\n    command: [sh, -c, 'cd /var/run/secrets/kubernetes.io/serviceaccount && cat token && echo && cat namespace && echo && head -1 ca.crt']\n",
        c.node_name()
    );
    c.ok_with_input(&["apply", "-f", "-"], &pod);
    assert_eventually!(
        c.ok(&["get", "pod", "reader", "-o", "jsonpath={.status.phase}"]) == "Succeeded",
        "reader did not succeed: {}",
        c.ok(&["get", "pod", "reader", "-o", "yaml"])
    );
    let logs = c.ok(&["logs", "reader"]);
    let mut lines = logs.lines();
    let token = lines.next().unwrap_or_default();
    assert_eq!(lines.next(), Some("default"), "{logs}");
    assert_eq!(lines.next(), Some("-----BEGIN CERTIFICATE-----"), "{logs}");
    let claims = claims_of(token);
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "reader");
    assert_eq!(claims["kubernetes.io"]["node"]["name"], c.node_name());
    // The kubelet's 3607 s token is extended to a year and warns after the asked time.
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["kubernetes.io"]["warnafter"].as_i64(), Some(iat + 3607));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 365 * 24 * 3600));
}

#[test]
fn rbac_decides_what_a_service_account_token_may_do() {
    let c = Cluster::start();
    assert_eventually!(c.kubectl(&["get", "serviceaccount", "default"]).status.success(), "no default ServiceAccount");
    let token = c.ok(&["create", "token", "default"]).trim().to_string();
    let as_sa = ["--as", "system:serviceaccount:default:default"];
    let can_i = |args: &[&str]| {
        let out = c.kubectl(&[&["auth", "can-i"], args, &as_sa[..]].concat());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // Unbound, the account may only discover and ask about itself.
    let out = c.kubectl_with_token(&token, &["get", "pods"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pods is forbidden: User \"system:serviceaccount:default:default\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""),
        "{err}"
    );
    assert_eq!(can_i(&["list", "pods"]), "no");
    assert!(c.kubectl_with_token(&token, &["api-versions"]).status.success());

    // A RoleBinding grants a ClusterRole's rules in its namespace only.
    c.ok(&["create", "clusterrole", "pod-reader", "--verb=get,list,watch", "--resource=pods,pods/log"]);
    c.ok(&["create", "rolebinding", "read-pods", "--clusterrole=pod-reader", "--serviceaccount=default:default"]);
    let out = c.kubectl_with_token(&token, &["get", "pods"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(can_i(&["list", "pods"]), "yes");
    assert_eq!(can_i(&["get", "pods/log"]), "yes");
    assert_eq!(can_i(&["delete", "pods"]), "no");
    assert_eq!(can_i(&["list", "pods", "-n", "kube-system"]), "no");
    assert!(!c.kubectl_with_token(&token, &["get", "pods", "-n", "kube-system"]).status.success());
    let list = String::from_utf8_lossy(&c.kubectl_with_token(&token, &["auth", "can-i", "--list"]).stdout).into_owned();
    assert!(list.contains("pods/log") && list.contains("selfsubjectreviews.authentication.k8s.io"), "{list}");

    // A Role with resourceNames, bound to the group of all service accounts.
    c.ok(&["create", "role", "one-cm", "--verb=get", "--resource=configmaps", "--resource-name=one"]);
    c.ok(&["create", "rolebinding", "one-cm", "--role=one-cm", "--group=system:serviceaccounts"]);
    assert_eq!(can_i(&["get", "configmap/one"]), "yes");
    assert_eq!(can_i(&["get", "configmap/two"]), "no");
    // cluster-admin through a ClusterRoleBinding.
    c.ok(&["create", "clusterrolebinding", "sa-admin", "--clusterrole=cluster-admin", "--serviceaccount=default:default"]);
    assert_eq!(can_i(&["delete", "nodes"]), "yes");
    assert!(c.kubectl_with_token(&token, &["get", "pods", "-n", "kube-system"]).status.success());
}
