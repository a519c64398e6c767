//! Server-side apply through stock kubectl (`apply --server-side`, `diff --server-side`,
//! `--force-conflicts`, client-side apply migration) and raw PATCH requests:
//! merging by schema, field ownership in `managedFields`, conflicts.

use ironkube_conformance::{ApiClient, Cluster};
use serde_json::Value;

const APPLY: &str = "application/apply-patch+yaml";

fn deployment(replicas: u32, image: &str, sidecar: bool, tier: bool) -> String {
    let tier = if tier { ", tier: front" } else { "" };
    let sidecar = if sidecar { "\n      - name: side\n        image: ironkube.local/busybox:1\n        command: [sleep, \"3600\"]" } else { "" };
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web{tier}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {image}
        ports: [{{containerPort: 80}}]{sidecar}
"#
    )
}

fn get_json(c: &Cluster, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["-o", "json", "--show-managed-fields"]);
    serde_json::from_str(&c.ok(&full)).expect("kubectl -o json")
}

fn entry<'a>(obj: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
    obj["metadata"]["managedFields"].as_array()?.iter().find(|e| e["manager"] == manager && e["operation"] == operation)
}

fn client(c: &Cluster) -> ApiClient {
    ApiClient::connect(c.port, &c.dir.path().join("pki"))
}

#[test]
fn apply_server_side_creates_updates_and_removes_dropped_fields() {
    let c = Cluster::start();
    let out = c.ok_with_input(&["apply", "--server-side", "-f", "-"], &deployment(2, "ironkube.local/busybox:1", true, true));
    assert!(out.contains("deployment.apps/web serverside-applied"), "{out}");
    let d = get_json(&c, &["get", "deploy", "web"]);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 2);
    let mine = entry(&d, "kubectl", "Apply").expect("kubectl's Apply entry");
    assert_eq!(mine["apiVersion"], "apps/v1");
    assert_eq!(mine["fieldsType"], "FieldsV1");
    assert!(mine["time"].is_string());
    let f = &mine["fieldsV1"];
    assert_eq!(f["f:spec"]["f:replicas"], serde_json::json!({}));
    assert!(f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"side\"}"]["."].is_object(), "{f}");
    // Defaults the server filled are nobody's.
    assert!(f["f:spec"].get("f:strategy").is_none(), "{f}");
    // Plain get hides managedFields.
    assert!(!c.ok(&["get", "deploy", "web", "-o", "yaml"]).contains("managedFields"));
    assert!(c.ok(&["get", "deploy", "web", "-o", "yaml", "--show-managed-fields"]).contains("f:replicas: {}"));

    // A changed file: new image, the sidecar and a label dropped.
    c.ok_with_input(&["apply", "--server-side", "-f", "-"], &deployment(2, "ironkube.local/busybox:2", false, false));
    let d = get_json(&c, &["get", "deploy", "web"]);
    let containers = d["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert_eq!(containers[0]["image"], "ironkube.local/busybox:2");
    assert_eq!(d["metadata"]["labels"], serde_json::json!({"app": "web"}));
    assert_eq!(d["metadata"]["generation"], 2);

    // Re-applying the same file changes nothing (the controller may write status).
    let time = entry(&d, "kubectl", "Apply").unwrap()["time"].clone();
    c.ok_with_input(&["apply", "--server-side", "-f", "-"], &deployment(2, "ironkube.local/busybox:2", false, false));
    let d = get_json(&c, &["get", "deploy", "web"]);
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(entry(&d, "kubectl", "Apply").unwrap()["time"], time);
}

#[test]
fn conflicts_name_the_owner_and_force_takes_ownership() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "--server-side", "-f", "-"], &deployment(2, "ironkube.local/busybox:1", false, false));
    c.ok(&["patch", "deploy", "web", "-p", r#"{"spec":{"replicas":5}}"#]);
    let d = get_json(&c, &["get", "deploy", "web"]);
    assert_eq!(entry(&d, "kubectl-patch", "Update").unwrap()["fieldsV1"]["f:spec"]["f:replicas"], serde_json::json!({}));

    let err = c.kubectl_with_input(&["apply", "--server-side", "-f", "-"], Some(&deployment(3, "ironkube.local/busybox:1", false, false)));
    assert!(!err.status.success());
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        stderr.contains(r#"Apply failed with 1 conflict: conflict with "kubectl-patch" using apps/v1: .spec.replicas"#),
        "{stderr}"
    );
    assert_eq!(c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "5");

    // The same request raw: a 409 Status with a FieldManagerConflict cause.
    let mut api = client(&c);
    let body = deployment(3, "ironkube.local/busybox:1", false, false);
    let (code, status) = api.request_as("PATCH", "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=kubectl", APPLY, &body);
    let status: Value = serde_json::from_slice(&status).unwrap();
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["reason"], "Conflict");
    let cause = &status["details"]["causes"][0];
    assert_eq!(cause["reason"], "FieldManagerConflict");
    assert_eq!(cause["field"], ".spec.replicas");
    assert_eq!(cause["message"], r#"conflict with "kubectl-patch" using apps/v1"#);

    c.ok_with_input(&["apply", "--server-side", "--force-conflicts", "-f", "-"], &deployment(3, "ironkube.local/busybox:1", false, false));
    let d = get_json(&c, &["get", "deploy", "web"]);
    assert_eq!(d["spec"]["replicas"], 3);
    assert!(entry(&d, "kubectl-patch", "Update").is_none(), "the loser owned nothing else: {}", d["metadata"]["managedFields"]);
}

#[test]
fn client_side_apply_migrates_to_server_side_and_back() {
    let c = Cluster::start();
    let cm = |v: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  a: \"{v}\"\n  b: x\n");
    c.ok_with_input(&["apply", "-f", "-"], &cm("1"));
    let live = get_json(&c, &["get", "cm", "conf"]);
    assert!(entry(&live, "kubectl-client-side-apply", "Update").is_some(), "{}", live["metadata"]["managedFields"]);

    // kubectl moves the client-side manager's fields to its Apply entry (a JSON patch
    // of managedFields), then applies.
    c.ok_with_input(&["apply", "--server-side", "-f", "-"], &cm("2"));
    let live = get_json(&c, &["get", "cm", "conf"]);
    assert_eq!(live["data"]["a"], "2");
    assert!(entry(&live, "kubectl", "Apply").is_some());
    assert!(entry(&live, "kubectl-client-side-apply", "Update").is_none(), "{}", live["metadata"]["managedFields"]);
    // The client-side annotation follows the server-side apply.
    let last = live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].as_str().unwrap();
    assert!(last.contains("\"a\":\"2\""), "{last}");

    // Dropping a key server-side removes it.
    c.ok_with_input(&["apply", "--server-side", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  a: \"2\"\n");
    assert_eq!(get_json(&c, &["get", "cm", "conf"])["data"], serde_json::json!({"a": "2"}));

    // And client-side apply still works on the result.
    c.ok_with_input(&["apply", "-f", "-"], &cm("3"));
    assert_eq!(get_json(&c, &["get", "cm", "conf"])["data"], serde_json::json!({"a": "3", "b": "x"}));
}

#[test]
fn diff_server_side_shows_the_change_without_writing() {
    let c = Cluster::start();
    let cm = |v: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  a: \"{v}\"\n");
    c.ok_with_input(&["apply", "--server-side", "-f", "-"], &cm("1"));
    let rv = c.ok(&["get", "cm", "conf", "-o", "jsonpath={.metadata.resourceVersion}"]);
    let out = c.kubectl_with_input(&["diff", "--server-side", "-f", "-"], Some(&cm("2")));
    assert_eq!(out.status.code(), Some(1), "diff exits 1 on differences: {}", String::from_utf8_lossy(&out.stderr));
    let diff = String::from_utf8_lossy(&out.stdout);
    let changed = |sign: char, text: &str| diff.lines().any(|l| l.starts_with(sign) && l.contains(text));
    assert!(changed('-', "a: \"1\"") && changed('+', "a: \"2\""), "{diff}");
    assert_eq!(c.ok(&["get", "cm", "conf", "-o", "jsonpath={.metadata.resourceVersion}"]), rv, "diff writes nothing");
    let same = c.kubectl_with_input(&["diff", "--server-side", "-f", "-"], Some(&cm("1")));
    assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stdout));
}

#[test]
fn raw_apply_requests_follow_upstream() {
    let c = Cluster::start();
    let mut api = client(&c);
    let cm = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"raw\"},\"data\":{\"k\":\"v\"}}";
    let path = "/api/v1/namespaces/default/configmaps/raw";

    // fieldManager is required.
    let (code, body) = api.request_as("PATCH", path, APPLY, cm);
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["message"], "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");

    // JSON is YAML: applying to a missing object creates it (201).
    let (code, body) = api.request_as("PATCH", &format!("{path}?fieldManager=raw"), APPLY, cm);
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let rv = c.ok(&["get", "cm", "raw", "-o", "jsonpath={.metadata.resourceVersion}"]);
    let (code, _) = api.request_as("PATCH", &format!("{path}?fieldManager=raw"), APPLY, cm);
    assert_eq!(code, 200);
    assert_eq!(c.ok(&["get", "cm", "raw", "-o", "jsonpath={.metadata.resourceVersion}"]), rv, "a no-op apply writes nothing");
    assert_eq!(c.ok(&["get", "cm", "raw", "-o", "jsonpath={.metadata.managedFields[0].manager}"]), "raw");

    // Wrong version, managedFields in the patch, a missing namespace, force on a merge patch.
    let (code, body) = api.request_as("PATCH", &format!("{path}?fieldManager=raw"), APPLY, &cm.replace("\"v1\"", "\"v2\""));
    assert_eq!(code, 400);
    assert!(String::from_utf8_lossy(&body).contains("Incorrect version specified in apply patch. Specified patch version: v2, expected: v1"));
    let with_mf = cm.replace("\"name\":\"raw\"", "\"name\":\"raw\",\"managedFields\":[{\"manager\":\"x\"}]");
    assert_eq!(api.request_as("PATCH", &format!("{path}?fieldManager=raw"), APPLY, &with_mf).0, 400);
    let (code, body) = api.request_as("PATCH", "/api/v1/namespaces/nope/configmaps/raw?fieldManager=raw", APPLY, cm);
    assert_eq!(code, 404, "{}", String::from_utf8_lossy(&body));
    assert!(c.fails(&["get", "cm", "raw", "-n", "nope"]).contains("NotFound"));
    let (code, _) = api.request_as("PATCH", &format!("{path}?force=true"), "application/merge-patch+json", "{}");
    assert_eq!(code, 422);

    // dryRun creates nothing.
    let (code, _) = api.request_as("PATCH", "/api/v1/namespaces/default/configmaps/dry?fieldManager=raw&dryRun=All", APPLY, &cm.replace("raw", "dry"));
    assert_eq!(code, 201);
    assert!(c.fails(&["get", "cm", "dry"]).contains("NotFound"));
}

#[test]
fn status_and_scale_subresources_accept_apply() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "--server-side", "-f", "-"], &deployment(2, "ironkube.local/busybox:1", false, false));
    let mut api = client(&c);
    let scale = "{\"apiVersion\":\"autoscaling/v1\",\"kind\":\"Scale\",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":4}}";
    let (code, body) = api.request_as("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale?fieldManager=hpa&force=true", APPLY, scale);
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let d = get_json(&c, &["get", "deploy", "web"]);
    assert_eq!(d["spec"]["replicas"], 4);
    let hpa = entry(&d, "hpa", "Apply").expect("hpa's entry");
    assert_eq!(hpa["subresource"], "scale");

    let status = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},\"status\":{\"observedGeneration\":7}}";
    let (code, body) = api.request_as("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/status?fieldManager=ctl&force=true", APPLY, status);
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    // The deployment controller rewrites status soon after: look at the answer.
    let d: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(d["status"]["observedGeneration"], 7);
    let ctl = entry(&d, "ctl", "Apply").expect("ctl's entry");
    assert_eq!((ctl["subresource"].as_str(), ctl["fieldsV1"]["f:status"]["f:observedGeneration"].is_object()), (Some("status"), true));
}

