//! API machinery through stock kubectl: discovery, CRUD verbs, errors, patches, paging.

use ironkube_conformance::Cluster;
use serde_json::Value;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ironkube.local/busybox:1
        command: ["httpd", "-f", "-p", "80"]
        env: [{name: A, value: "1"}]
      - name: side
        image: ironkube.local/busybox:1
        command: ["sleep", "3600"]
"#;

fn json(cluster: &Cluster, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["-o", "json"]);
    serde_json::from_str(&cluster.ok(&full)).expect("kubectl -o json")
}

#[test]
fn system_namespaces_and_kubernetes_service_exist_at_start() {
    let c = Cluster::start();
    let out = c.ok(&["get", "ns", "-o", "name"]);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(out.contains(&format!("namespace/{ns}")), "missing {ns} in {out}");
    }
    let svc = json(&c, &["get", "svc", "kubernetes", "-n", "default"]);
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
}

#[test]
fn api_resources_match_upstream_for_served_groups() {
    let Some(reference) = Cluster::reference_dir() else {
        eprintln!("skipped: ../shared/reference not present");
        return;
    };
    let c = Cluster::start();
    let ours = c.ok(&["api-resources", "--no-headers", "-o", "wide"]);
    let tsv = std::fs::read_to_string(reference.join("api-resources.tsv")).unwrap();
    // Every row we print must match upstream's facts for the same group/version/resource.
    let mut checked = 0;
    let mut metrics_rows = Vec::new();
    for line in ours.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let name = cols[0];
        let Some(api_version_idx) = cols.iter().position(|c| c.contains('/') || *c == "v1") else { continue };
        let api_version = cols[api_version_idx];
        let short = if api_version_idx == 2 { cols[1] } else { "" };
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        if group == "metrics.k8s.io" {
            // Not an upstream built-in (metrics-server adds it through aggregation):
            // compared with what metrics-server serves instead, below.
            metrics_rows.push((name.to_string(), version.to_string(), cols[api_version_idx + 1].to_string(), cols[api_version_idx + 2].to_string()));
            continue;
        }
        let Some(row) = tsv.lines().find(|r| {
            let f: Vec<&str> = r.split('\t').collect();
            f[0] == group && f[1] == version && f[2] == name
        }) else {
            if group.is_empty() {
                continue; // the reference lacks the core group
            }
            panic!("{group}/{version} {name} is not an upstream resource");
        };
        let f: Vec<&str> = row.split('\t').collect();
        assert_eq!(short, f[5], "short names of {name}");
        assert_eq!(cols[api_version_idx + 1], f[4], "namespaced of {name}");
        assert_eq!(cols[api_version_idx + 2], f[3], "kind of {name}");
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} rows compared");
    let metrics_server = |name: &str, namespaced: &str, kind: &str| (name.to_string(), "v1beta1".to_string(), namespaced.to_string(), kind.to_string());
    assert_eq!(metrics_rows, [metrics_server("nodes", "false", "NodeMetrics"), metrics_server("pods", "true", "PodMetrics")]);
    // Core group spot checks (not in the reference file).
    assert!(ours.lines().any(|l| l.starts_with("pods ") && l.contains(" po ") && l.contains("all")), "{ours}");
    assert!(ours.lines().any(|l| l.starts_with("deployments ") && l.contains(" deploy ") && l.contains("all")));
}

#[test]
fn kubectl_get_all_and_short_names_resolve() {
    let c = Cluster::start();
    c.ok(&["get", "all"]);
    c.ok(&["get", "po,svc,deploy,rs,sts,ds,cj,cm,ns,no,pv,pvc,sa,ing,netpol,pdb,pc,sc"]);
}

#[test]
fn create_deployment_by_protobuf_then_read_defaults() {
    let c = Cluster::start();
    c.ok(&["create", "deployment", "web", "--image=ironkube.local/busybox", "--", "httpd", "-f", "-p", "80"]);
    let d = json(&c, &["get", "deploy", "web"]);
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["command"], serde_json::json!(["httpd", "-f", "-p", "80"]));
    assert_eq!(d["metadata"]["generation"], 1);
    assert!(d["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));
    assert!(d["metadata"]["creationTimestamp"].is_string());
    // --no-kubelet: the controllers create the pod but nothing runs it, so none is ready.
    assert!(d["status"].get("readyReplicas").is_none());
    // Other kinds kubectl sends as protobuf.
    c.ok(&["create", "namespace", "team"]);
    c.ok(&["create", "configmap", "cfg", "--from-literal=a=b"]);
    c.ok(&["create", "secret", "generic", "sec", "--from-literal=p=q"]);
    c.ok(&["create", "service", "clusterip", "svc", "--tcp=80:8080"]);
    c.ok(&["create", "job", "once", "--image=ironkube.local/busybox", "--", "true"]);
    let secret = json(&c, &["get", "secret", "sec"]);
    assert_eq!(secret["data"]["p"], "cQ==");
}

#[test]
fn apply_twice_sends_a_strategic_merge_patch_that_keeps_other_fields() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], DEPLOYMENT);
    // Something another client set, which the second apply must keep.
    c.ok(&["label", "deploy", "web", "owner=ops"]);
    let changed = DEPLOYMENT.replace("name: web\n        image: ironkube.local/busybox:1", "name: web\n        image: ironkube.local/busybox:2");
    assert_ne!(changed, DEPLOYMENT);
    let out = c.ok_with_input(&["apply", "-f", "-"], &changed);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let d = json(&c, &["get", "deploy", "web"]);
    let containers = d["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0]["image"], "ironkube.local/busybox:2");
    assert_eq!(containers[0]["env"][0]["name"], "A");
    assert_eq!(containers[1]["image"], "ironkube.local/busybox:1");
    assert_eq!(d["metadata"]["labels"]["owner"], "ops");
    assert_eq!(d["metadata"]["generation"], 2);
    // Applying the same file again changes nothing: kubectl sends no patch, so the spec and
    // generation stay. (The resourceVersion may move: the Deployment controller writes
    // status and the revision annotation concurrently.)
    let out = c.ok_with_input(&["apply", "-f", "-"], &changed);
    assert!(out.contains("unchanged"), "{out}");
    let after = json(&c, &["get", "deploy", "web"]);
    assert_eq!(after["metadata"]["generation"], 2);
    assert_eq!(after["spec"], d["spec"]);
}

#[test]
fn label_annotate_scale_set_image() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], DEPLOYMENT);
    c.ok(&["label", "deploy", "web", "tier=front"]);
    c.fails(&["label", "deploy", "web", "tier=back"]);
    c.ok(&["label", "deploy", "web", "tier=back", "--overwrite"]);
    c.ok(&["annotate", "deploy", "web", "note=hi", "--overwrite"]);
    c.ok(&["scale", "deploy", "web", "--replicas=5"]);
    c.ok(&["set", "image", "deploy/web", "side=ironkube.local/busybox:9"]);
    let d = json(&c, &["get", "deploy", "web"]);
    assert_eq!(d["metadata"]["labels"]["tier"], "back");
    assert_eq!(d["metadata"]["annotations"]["note"], "hi");
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][1]["image"], "ironkube.local/busybox:9");
    let scale = c.raw("/apis/apps/v1/namespaces/default/deployments/web/scale");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 5);
    assert_eq!(scale["status"]["selector"], "app=web");
}

#[test]
fn kubectl_edit_with_a_scripted_editor() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], DEPLOYMENT);
    let out = std::process::Command::new(ironkube_conformance::kubectl_bin())
        .args(["edit", "deploy", "web"])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("EDITOR", "sed -i s/replicas:\\ 2/replicas:\\ 7/")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&c, &["get", "deploy", "web"])["spec"]["replicas"], 7);
}

#[test]
fn stale_update_gets_409_conflict() {
    let c = Cluster::start();
    c.ok(&["create", "configmap", "cfg", "--from-literal=a=1"]);
    let old = c.ok(&["get", "cm", "cfg", "-o", "json"]);
    c.ok(&["label", "cm", "cfg", "x=y"]);
    let err = String::from_utf8_lossy(&c.kubectl_with_input(&["replace", "-f", "-"], Some(&old)).stderr).into_owned();
    assert!(err.contains("Error from server (Conflict)"), "{err}");
    assert!(err.contains("the object has been modified"), "{err}");
}

#[test]
fn invalid_name_gets_422_with_the_field_path() {
    let c = Cluster::start();
    let err = c.fails(&["create", "configmap", "Bad_Name"]);
    assert!(err.contains("Invalid"), "{err}");
    assert!(err.contains("metadata.name: Invalid value: \"Bad_Name\""), "{err}");
    // Nothing was stored.
    assert!(c.fails(&["get", "cm", "Bad_Name"]).contains("NotFound"));
}

#[test]
fn not_found_and_already_exists_read_like_upstream() {
    let c = Cluster::start();
    let err = c.fails(&["get", "deploy", "nope"]);
    assert!(err.contains("Error from server (NotFound): deployments.apps \"nope\" not found"), "{err}");
    c.ok(&["create", "ns", "dup"]);
    let err = c.fails(&["create", "ns", "dup"]);
    assert!(err.contains("Error from server (AlreadyExists): namespaces \"dup\" already exists"), "{err}");
    let err = c.fails(&["create", "configmap", "x", "-n", "missing"]);
    assert!(err.contains("namespaces \"missing\" not found"), "{err}");
}

#[test]
fn explain_prints_field_docs() {
    let c = Cluster::start();
    let out = c.ok(&["explain", "deployment.spec.strategy"]);
    assert!(out.contains("KIND:       Deployment"), "{out}");
    assert!(out.contains("rollingUpdate"), "{out}");
    assert!(out.contains("Type of deployment"), "{out}");
    let v3 = c.raw("/openapi/v3");
    assert!(v3["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap().contains("hash="));
}

#[test]
fn strict_field_validation_rejects_unknown_fields() {
    let c = Cluster::start();
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict\ndata: {a: b}\nbogus: 1\n";
    let err = String::from_utf8_lossy(&c.kubectl_with_input(&["create", "-f", "-"], Some(bad)).stderr).into_owned();
    assert!(err.contains("unknown field \"bogus\""), "{err}");
    assert!(c.fails(&["get", "cm", "strict"]).contains("NotFound"));
    // Warn keeps the object and drops the field.
    let out = c.kubectl_with_input(&["create", "--validate=warn", "-f", "-"], Some(bad));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field \"bogus\""));
}

#[test]
fn server_dry_run_stores_nothing() {
    let c = Cluster::start();
    let out = c.ok(&["create", "configmap", "dry", "--from-literal=a=b", "--dry-run=server", "-o", "json"]);
    let obj: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(obj["metadata"]["name"], "dry");
    assert!(c.fails(&["get", "cm", "dry"]).contains("NotFound"));
}

#[test]
fn list_paging_with_limit_and_continue() {
    let c = Cluster::start();
    // Every namespace holds the published `kube-root-ca.crt` (sorted first) besides ours.
    c.wait_for_root_ca("kube-public");
    for i in 0..7 {
        c.ok(&["create", "configmap", &format!("page-{i}"), "-n", "kube-public"]);
    }
    let first = c.raw("/api/v1/namespaces/kube-public/configmaps?limit=3");
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let token = first["metadata"]["continue"].as_str().expect("continue token").to_string();
    assert_eq!(first["metadata"]["remainingItemCount"], 5);
    let second = c.raw(&format!("/api/v1/namespaces/kube-public/configmaps?limit=3&continue={token}"));
    assert_eq!(second["items"][0]["metadata"]["name"], "page-2");
    assert_eq!(second["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"]);
    let all = c.ok(&["get", "cm", "-n", "kube-public", "--chunk-size=2", "-o", "name"]);
    assert_eq!(all.lines().count(), 8, "{all}");
}

#[test]
fn label_and_field_selectors() {
    let c = Cluster::start();
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web")] {
        c.ok(&["create", "configmap", name]);
        c.ok(&["label", "cm", name, &format!("tier={tier}")]);
    }
    let out = c.ok(&["get", "cm", "-l", "tier in (web),tier!=db", "-o", "name"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["configmap/a", "configmap/c"]);
    let out = c.ok(&["get", "cm", "--field-selector", "metadata.name=b", "-o", "name"]);
    assert_eq!(out.trim(), "configmap/b");
    let err = c.fails(&["get", "cm", "--field-selector", "spec.bogus=1"]);
    assert!(err.contains("field label not supported"), "{err}");
}

#[test]
fn finalizers_keep_an_object_until_removed() {
    let c = Cluster::start();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n";
    c.ok_with_input(&["create", "-f", "-"], cm);
    c.ok(&["delete", "cm", "held", "--wait=false"]);
    let obj = json(&c, &["get", "cm", "held"]);
    assert!(obj["metadata"]["deletionTimestamp"].is_string());
    c.ok(&["patch", "cm", "held", "--type=json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers"}]"#]);
    assert!(c.fails(&["get", "cm", "held"]).contains("NotFound"));
}

#[test]
fn services_get_unique_cluster_ips_and_node_ports() {
    let c = Cluster::start();
    c.ok(&["create", "service", "nodeport", "np1", "--tcp=80:8080"]);
    c.ok(&["create", "service", "nodeport", "np2", "--tcp=80:8080"]);
    let a = json(&c, &["get", "svc", "np1"]);
    let b = json(&c, &["get", "svc", "np2"]);
    assert_ne!(a["spec"]["clusterIP"], b["spec"]["clusterIP"]);
    let pa = a["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    let pb = b["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    assert!((30000..=32767).contains(&pa) && pa != pb);
    // A taken node port is refused.
    let clash = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: np3}}\nspec:\n  type: NodePort\n  ports: [{{port: 80, nodePort: {pa}}}]\n"
    );
    let err = String::from_utf8_lossy(&c.kubectl_with_input(&["create", "-f", "-"], Some(&clash)).stderr).into_owned();
    assert!(err.contains("provided port is already allocated"), "{err}");
    // Deleting releases the port for reuse.
    c.ok(&["delete", "svc", "np1"]);
    c.ok_with_input(&["create", "-f", "-"], &clash);
}

#[test]
fn malformed_and_oversized_bodies_are_refused_and_nothing_is_stored() {
    let c = Cluster::start();
    let dir = c.dir.path();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"apiVersion\":\"v1\",\n \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"x\"},\n \"data\": {\"a\": }}").unwrap();
    let err = c.fails(&["create", "--raw", "/api/v1/namespaces/default/configmaps", "-f", bad.to_str().unwrap()]);
    assert!(err.contains("BadRequest") && err.contains("line 3 column 16"), "{err}");
    let big = dir.join("big.json");
    let body = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": "x".repeat(4 << 20)}});
    std::fs::write(&big, body.to_string()).unwrap();
    let err = c.fails(&["create", "--raw", "/api/v1/namespaces/default/configmaps", "-f", big.to_str().unwrap()]);
    assert!(err.contains("RequestEntityTooLarge"), "{err}");
    assert!(c.fails(&["get", "cm", "x"]).contains("NotFound"));
    assert!(c.fails(&["get", "cm", "big"]).contains("NotFound"));
}

#[test]
fn events_k8s_io_and_core_events_are_the_same_objects() {
    let c = Cluster::start();
    let event = "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {name: e1}\neventTime: \"2026-01-01T00:00:00.000000Z\"\nreportingController: example.com/ctl\nreportingInstance: ctl-1\naction: Testing\nreason: Tested\ntype: Normal\nnote: hello\nregarding: {kind: Pod, name: box, namespace: default, apiVersion: v1}\n";
    c.ok_with_input(&["create", "-f", "-"], event);
    let core = c.raw("/api/v1/namespaces/default/events/e1");
    assert_eq!(core["message"], "hello");
    assert_eq!(core["involvedObject"]["name"], "box");
    assert_eq!(core["reportingComponent"], "example.com/ctl");
    let out = c.ok(&["get", "events"]);
    assert!(out.contains("Tested") && out.contains("pod/box") && out.contains("hello"), "{out}");
    c.ok(&["delete", "events.v1.events.k8s.io", "e1"]);
    assert!(c.fails(&["get", "--raw", "/api/v1/namespaces/default/events/e1"]).contains("NotFound"));
}

#[test]
fn autoscaling_v1_and_v2_serve_the_same_hpa() {
    let c = Cluster::start();
    let v1 = "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: h1}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 4\n  targetCPUUtilizationPercentage: 60\n";
    c.ok_with_input(&["create", "-f", "-"], v1);
    let v2 = c.raw("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/h1");
    assert_eq!(v2["spec"]["metrics"][0]["resource"]["name"], "cpu");
    assert_eq!(v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 60);
    // A v2-only metric added through v2 survives a v1 read-modify-write.
    c.ok(&["patch", "hpa.v2.autoscaling", "h1", "--type=json", "-p",
        r#"[{"op":"add","path":"/spec/metrics/-","value":{"type":"Resource","resource":{"name":"memory","target":{"type":"AverageValue","averageValue":"1Gi"}}}}]"#]);
    let through_v1 = c.ok(&["get", "--raw", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/h1"]);
    c.ok_with_input(&["replace", "-f", "-"], &through_v1);
    let v2 = c.raw("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/h1");
    assert_eq!(v2["spec"]["metrics"].as_array().unwrap().len(), 2, "{v2}");
    assert_eq!(v2["spec"]["metrics"][1]["resource"]["name"], "memory");
    let out = c.ok(&["get", "hpa"]);
    assert!(out.contains("Deployment/web") && out.contains("60%"), "{out}");
}

/// `PartialObjectMetadataList`, what metadata-only clients (the garbage collector,
/// client-go's metadata informers) ask for: each list item carries its own kind and
/// apiVersion (upstream's `asPartialObjectMetadataList`), and its metadata is the whole
/// of the object's, for kinds stored as served and kinds converted from storage alike,
/// through paging and selectors.
#[test]
fn metadata_only_lists_carry_each_objects_whole_metadata() {
    use ironkube_conformance::ApiClient;
    let c = Cluster::start();
    c.ok(&["create", "namespace", "meta"]);
    c.wait_for_root_ca("meta");
    for name in ["a", "b", "c"] {
        c.ok(&["create", "configmap", name, "-n", "meta", "--from-literal=k=v"]);
    }
    c.ok(&["label", "cm", "b", "-n", "meta", "tier=web"]);
    let event = r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e1","namespace":"meta","labels":{"x":"y"}},"eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"t","reportingInstance":"t","action":"A","reason":"R","type":"Normal","regarding":{"kind":"Pod","name":"p","namespace":"meta"}}"#;
    let mut client = ApiClient::connect(c.port, &c.dir.path().join("pki"));
    let (code, body) = client.request("POST", "/apis/events.k8s.io/v1/namespaces/meta/events", Some(event));
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let mut metadata_list = |path: &str, version: &str| -> Value {
        let accept = format!("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v={version},application/json");
        let response = client.get_with_headers(path, &[("Accept", &accept)]);
        assert_eq!(response.status, 200, "{path}: {}", String::from_utf8_lossy(&response.body));
        serde_json::from_slice(&response.body).expect("a JSON list")
    };
    for (path, version) in [
        ("/api/v1/namespaces/meta/configmaps", "v1"),
        ("/api/v1/namespaces/meta/configmaps", "v1beta1"),
        ("/apis/events.k8s.io/v1/namespaces/meta/events", "v1"),
    ] {
        let full = c.raw(path);
        let list = metadata_list(path, version);
        assert_eq!(list["kind"], "PartialObjectMetadataList");
        assert_eq!(list["apiVersion"], format!("meta.k8s.io/{version}"));
        assert_eq!(list["metadata"]["resourceVersion"], full["metadata"]["resourceVersion"]);
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), full["items"].as_array().unwrap().len(), "{path}");
        for (item, object) in items.iter().zip(full["items"].as_array().unwrap()) {
            let expected = serde_json::json!({"kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": object["metadata"]});
            assert_eq!(item, &expected, "{path}");
        }
    }
    let page = metadata_list("/api/v1/namespaces/meta/configmaps?limit=2", "v1");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["metadata"]["remainingItemCount"], 2, "a, b, c, kube-root-ca.crt");
    let token = page["metadata"]["continue"].as_str().expect("continue").to_string();
    let rest = metadata_list(&format!("/api/v1/namespaces/meta/configmaps?limit=2&continue={token}"), "v1");
    let names: Vec<_> = rest["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["c", "kube-root-ca.crt"]);
    let selected = metadata_list("/api/v1/namespaces/meta/configmaps?labelSelector=tier%3Dweb", "v1");
    assert_eq!(selected["items"][0]["metadata"]["labels"]["tier"], "web");
    assert_eq!(selected["items"].as_array().unwrap().len(), 1);
    assert_eq!(selected["items"][0]["kind"], "PartialObjectMetadata");
}
