//! The garbage collector, namespace, serviceaccount, endpoints, endpointslice, node
//! lifecycle and disruption controllers, observed through stock kubectl.
//!
//! Tests named `kubelet_less_*` have no kubelet: they play its part by writing pod status
//! (phase, IP, Ready) through the `pods/status` subresource, and Node Leases by hand.

use ironkube_conformance::{assert_eventually, Cluster};
use serde_json::Value;

fn json(c: &Cluster, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["-o", "json"]);
    serde_json::from_str(&c.ok(&full)).expect("kubectl -o json")
}

/// `kubectl get -o json`, or None when it does not exist (any failure).
fn get(c: &Cluster, args: &[&str]) -> Option<Value> {
    let mut full = vec!["get"];
    full.extend(args);
    full.extend(["-o", "json"]);
    let out = c.kubectl(&full);
    out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("json"))
}

fn create(c: &Cluster, yaml: &str) {
    c.ok_with_input(&["create", "-f", "-"], yaml);
}

fn uid(c: &Cluster, args: &[&str]) -> String {
    let mut full = vec!["get"];
    full.extend(args);
    full.extend(["-o", "jsonpath={.metadata.uid}"]);
    c.ok(&full)
}

/// A ConfigMap owned by `owners` (kind, name, uid, blockOwnerDeletion).
fn owned_configmap(c: &Cluster, ns: &str, name: &str, owners: &[(&str, &str, &str, bool)], finalizer: Option<&str>) {
    let refs: Vec<Value> = owners
        .iter()
        .map(|(kind, owner, uid, block)| serde_json::json!({"apiVersion": "v1", "kind": kind, "name": owner, "uid": uid, "blockOwnerDeletion": block}))
        .collect();
    let mut md = serde_json::json!({"name": name, "namespace": ns, "ownerReferences": refs});
    if let Some(f) = finalizer {
        md["finalizers"] = serde_json::json!([f]);
    }
    create(c, &serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": md}).to_string());
}

/// Plays the kubelet: the pod runs with `ip` and is (not) Ready.
fn set_pod_status(c: &Cluster, ns: &str, pod: &str, ip: &str, ready: bool) {
    let status = serde_json::json!({"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]
    }});
    c.ok(&["patch", "pod", pod, "-n", ns, "--subresource=status", "--type=merge", "-p", &status.to_string()]);
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

#[test]
fn namespace_deletion_removes_contents_then_the_namespace() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "doomed"]);
    c.ok(&["create", "configmap", "settings", "-n", "doomed", "--from-literal=a=b"]);
    c.ok(&["create", "secret", "generic", "token", "-n", "doomed", "--from-literal=a=b"]);
    c.ok(&["create", "deployment", "web", "-n", "doomed", "--image=ironkube.local/busybox:1"]);
    c.ok(&["create", "service", "clusterip", "web", "-n", "doomed", "--tcp=80:8080"]);
    // Content with a finalizer holds the namespace, and the status says why.
    create(&c, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: doomed, finalizers: [example.com/hold]}\n");
    c.ok(&["delete", "namespace", "doomed", "--wait=false"]);
    assert_eventually!(
        get(&c, &["namespace", "doomed"]).and_then(|ns| condition(&ns, "NamespaceFinalizersRemaining").cloned()).is_some_and(|cond| cond["status"] == "True"
            && cond["reason"] == "SomeFinalizersRemain"
            && cond["message"] == "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"),
        "the namespace never reported the finalizer holding it: {:?}",
        get(&c, &["namespace", "doomed"])
    );
    let ns = json(&c, &["get", "namespace", "doomed"]);
    assert_eq!(ns["status"]["phase"], "Terminating");
    let remaining = condition(&ns, "NamespaceContentRemaining").unwrap();
    assert_eq!(remaining["reason"], "SomeResourcesRemain");
    assert_eq!(remaining["message"], "Some resources are remaining: configmaps. has 1 resource instances");
    assert_eq!(condition(&ns, "NamespaceDeletionDiscoveryFailure").unwrap()["reason"], "ResourcesDiscovered");
    for kind in ["secret/token", "deployment/web", "service/web", "configmap/settings"] {
        assert!(get(&c, &[kind, "-n", "doomed"]).is_none(), "{kind} survived its namespace's deletion");
    }
    assert_eq!(json(&c, &["get", "namespace", "doomed"])["spec"]["finalizers"], serde_json::json!(["kubernetes"]));
    // Release the last object: the controller finalizes and the namespace disappears.
    c.ok(&["patch", "configmap", "held", "-n", "doomed", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    assert_eventually!(get(&c, &["namespace", "doomed"]).is_none(), "the namespace was never removed: {:?}", get(&c, &["namespace", "doomed"]));
    // A plain `kubectl delete namespace` (which waits) completes too.
    c.ok(&["create", "namespace", "quick"]);
    c.ok(&["create", "configmap", "x", "-n", "quick"]);
    c.ok(&["delete", "namespace", "quick", "--timeout=60s"]);
    assert!(get(&c, &["namespace", "quick"]).is_none());
}


#[test]
fn finalize_subresource_changes_only_spec_finalizers() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "fin"]);
    let mut ns = json(&c, &["get", "namespace", "fin"]);
    ns["spec"]["finalizers"] = serde_json::json!(["example.com/x"]);
    ns["metadata"]["labels"]["sneaky"] = Value::from("yes");
    let path = c.dir.path().join("fin.json");
    std::fs::write(&path, ns.to_string()).unwrap();
    let out: Value = serde_json::from_str(&c.ok(&["replace", "--raw", "/api/v1/namespaces/fin/finalize", "-f", path.to_str().unwrap()])).unwrap();
    assert_eq!(out["spec"]["finalizers"], serde_json::json!(["example.com/x"]));
    let stored = json(&c, &["get", "namespace", "fin"]);
    assert_eq!(stored["spec"]["finalizers"], serde_json::json!(["example.com/x"]));
    assert!(stored["metadata"]["labels"].get("sneaky").is_none(), "finalize changed labels: {stored}");
}

#[test]
fn default_service_account_appears_in_new_namespaces_and_comes_back() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "team"]);
    assert_eventually!(get(&c, &["serviceaccount", "default", "-n", "team"]).is_some(), "no default ServiceAccount in a new namespace");
    let first = uid(&c, &["serviceaccount", "default", "-n", "team"]);
    c.ok(&["delete", "serviceaccount", "default", "-n", "team"]);
    assert_eventually!(
        get(&c, &["serviceaccount", "default", "-n", "team"]).is_some_and(|sa| sa["metadata"]["uid"] != first.as_str()),
        "the deleted default ServiceAccount was not recreated"
    );
}

#[test]
fn foreground_deletion_removes_blocking_dependents_before_the_owner() {
    let c = Cluster::start();
    c.ok(&["create", "configmap", "owner"]);
    let owner = uid(&c, &["configmap", "owner"]);
    owned_configmap(&c, "default", "dep-a", &[("ConfigMap", "owner", &owner, true)], None);
    owned_configmap(&c, "default", "dep-b", &[("ConfigMap", "owner", &owner, true)], None);
    // A blocking dependent that cannot go away yet keeps the owner around.
    owned_configmap(&c, "default", "dep-held", &[("ConfigMap", "owner", &owner, true)], Some("example.com/hold"));
    c.ok(&["delete", "configmap", "owner", "--cascade=foreground", "--wait=false"]);
    assert_eventually!(
        get(&c, &["configmap", "dep-a"]).is_none() && get(&c, &["configmap", "dep-b"]).is_none(),
        "blocking dependents were not deleted"
    );
    let held = json(&c, &["get", "configmap", "dep-held"]);
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "the held dependent was not deleted: {held}");
    let owner_now = json(&c, &["get", "configmap", "owner"]);
    assert_eq!(owner_now["metadata"]["finalizers"], serde_json::json!(["foregroundDeletion"]), "{owner_now}");
    assert!(owner_now["metadata"]["deletionTimestamp"].is_string());
    c.ok(&["patch", "configmap", "dep-held", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    assert_eventually!(get(&c, &["configmap", "owner"]).is_none(), "the owner outlived its dependents: {:?}", get(&c, &["configmap", "owner"]));
}

#[test]
fn background_deletion_collects_dependents_across_kinds() {
    let c = Cluster::start();
    c.ok(&["create", "secret", "generic", "root", "--from-literal=a=b"]);
    let root = uid(&c, &["secret", "root"]);
    owned_configmap(&c, "default", "child", &[("Secret", "root", &root, false)], None);
    let child = uid(&c, &["configmap", "child"]);
    owned_configmap(&c, "default", "grandchild", &[("ConfigMap", "child", &child, false)], None);
    c.ok(&["create", "configmap", "bystander"]);
    c.ok(&["delete", "secret", "root"]);
    assert_eventually!(
        get(&c, &["configmap", "child"]).is_none() && get(&c, &["configmap", "grandchild"]).is_none(),
        "dependents of a deleted owner were not collected"
    );
    assert!(get(&c, &["configmap", "bystander"]).is_some());
}

#[test]
fn orphan_deletion_keeps_dependents_without_the_owner_reference() {
    let c = Cluster::start();
    c.ok(&["create", "configmap", "parent"]);
    let parent = uid(&c, &["configmap", "parent"]);
    c.ok(&["create", "configmap", "other"]);
    let other = uid(&c, &["configmap", "other"]);
    owned_configmap(&c, "default", "kid", &[("ConfigMap", "parent", &parent, true), ("ConfigMap", "other", &other, false)], None);
    c.ok(&["delete", "configmap", "parent", "--cascade=orphan"]);
    assert!(get(&c, &["configmap", "parent"]).is_none(), "kubectl waits for the orphaning owner to go");
    let kid = json(&c, &["get", "configmap", "kid"]);
    let refs = kid["metadata"]["ownerReferences"].as_array().cloned().unwrap_or_default();
    assert_eq!(refs.len(), 1, "{kid}");
    assert_eq!(refs[0]["name"], "other");
}

#[test]
fn dangling_dependents_are_collected() {
    let c = Cluster::start();
    c.ok(&["create", "configmap", "alive"]);
    let alive = uid(&c, &["configmap", "alive"]);
    owned_configmap(&c, "default", "orphaned", &[("ConfigMap", "never-existed", "11111111-1111-1111-1111-111111111111", false)], None);
    // The owner's name exists but with another UID: that owner is gone.
    owned_configmap(&c, "default", "stale-uid", &[("ConfigMap", "alive", "22222222-2222-2222-2222-222222222222", false)], None);
    owned_configmap(&c, "default", "kept", &[("ConfigMap", "alive", &alive, false)], None);
    assert_eventually!(
        get(&c, &["configmap", "orphaned"]).is_none() && get(&c, &["configmap", "stale-uid"]).is_none(),
        "dangling dependents were not collected"
    );
    assert!(get(&c, &["configmap", "kept"]).is_some(), "a dependent with a live owner was collected");
}

const WEB: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, labels: {team: a}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: manual}
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web}}
spec:
  containers: [{name: c, image: ironkube.local/busybox:1, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, labels: {app: web}}
spec:
  containers: [{name: c, image: ironkube.local/busybox:1, ports: [{name: http, containerPort: 9090}]}]
"#;

fn addresses(subset: &Value, key: &str) -> Vec<String> {
    subset[key].as_array().into_iter().flatten().map(|a| a["ip"].as_str().unwrap_or_default().to_string()).collect()
}

#[test]
fn kubelet_less_endpoints_follow_pod_readiness_and_named_ports() {
    let c = Cluster::start();
    create(&c, WEB);
    set_pod_status(&c, "default", "web-1", "10.244.0.11", true);
    set_pod_status(&c, "default", "web-2", "10.244.0.12", false);
    let want = |ep: &Value| {
        let subsets = ep["subsets"].as_array().cloned().unwrap_or_default();
        let s8080 = subsets.iter().find(|s| s["ports"][0]["port"] == 8080);
        let s9090 = subsets.iter().find(|s| s["ports"][0]["port"] == 9090);
        s8080.is_some_and(|s| addresses(s, "addresses") == ["10.244.0.11"] && s["ports"][0]["name"] == "http")
            && s9090.is_some_and(|s| addresses(s, "notReadyAddresses") == ["10.244.0.12"] && addresses(s, "addresses").is_empty())
    };
    assert_eventually!(get(&c, &["endpoints", "web"]).is_some_and(|ep| want(&ep)), "endpoints: {:?}", get(&c, &["endpoints", "web"]));
    let ep = json(&c, &["get", "endpoints", "web"]);
    assert_eq!(ep["metadata"]["labels"]["team"], "a");
    let slices = |c: &Cluster| json(c, &["get", "endpointslices", "-l", "kubernetes.io/service-name=web"])["items"].as_array().cloned().unwrap_or_default();
    let slice_conditions = |c: &Cluster| -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = slices(c)
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .map(|e| (e["addresses"][0].as_str().unwrap_or_default().to_string(), e["conditions"]["ready"] == true))
            .collect();
        out.sort();
        out
    };
    assert_eventually!(
        slice_conditions(&c) == [("10.244.0.11".to_string(), true), ("10.244.0.12".to_string(), false)],
        "slices: {:?}",
        slices(&c)
    );
    for slice in slices(&c) {
        assert_eq!(slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], "endpointslice-controller.k8s.io");
        assert_eq!(slice["addressType"], "IPv4");
        assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
        let port = slice["ports"][0]["port"].as_i64().unwrap();
        let ip = slice["endpoints"][0]["addresses"][0].as_str().unwrap();
        assert_eq!((ip, port), if ip.ends_with(".11") { ("10.244.0.11", 8080) } else { ("10.244.0.12", 9090) }, "named port resolved per pod");
    }
    // The second pod becomes ready; the first is deleted.
    set_pod_status(&c, "default", "web-2", "10.244.0.12", true);
    c.ok(&["delete", "pod", "web-1"]);
    assert_eventually!(
        get(&c, &["endpoints", "web"]).is_some_and(|ep| {
            let s = &ep["subsets"];
            s.as_array().is_some_and(|a| a.len() == 1) && addresses(&s[0], "addresses") == ["10.244.0.12"]
        }),
        "endpoints did not follow: {:?}",
        get(&c, &["endpoints", "web"])
    );
    assert_eventually!(slice_conditions(&c) == [("10.244.0.12".to_string(), true)], "slices did not follow: {:?}", slices(&c));
    // A Service without a selector is left alone, and the apiserver's own stays intact.
    assert!(get(&c, &["endpoints", "manual"]).is_none(), "the controller wrote Endpoints for a selector-less Service");
    assert_eq!(json(&c, &["get", "endpoints", "kubernetes"])["subsets"][0]["addresses"][0]["ip"], "127.0.0.1");
    // Deleting the Service removes its Endpoints and (through the GC) its slices.
    c.ok(&["delete", "service", "web"]);
    assert_eventually!(get(&c, &["endpoints", "web"]).is_none() && slices(&c).is_empty(), "endpoints outlived their Service");
}

const NODE: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: NAME}
"#;

fn lease(name: &str) -> String {
    let now = std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%S.000000Z"]).output().unwrap();
    let now = String::from_utf8_lossy(&now.stdout).trim().to_string();
    serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now}
    })
    .to_string()
}

#[test]
fn kubelet_less_node_with_a_stale_lease_goes_unknown_tainted_and_evicted() {
    let c = Cluster::start_with(&["--node-monitor-grace-period", "6"]);
    for node in ["silent", "alive"] {
        create(&c, &NODE.replace("NAME", node));
        c.ok(&["patch", "node", node, "--subresource=status", "--type=merge", "-p", r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status"}]}}"#]);
        create(&c, &lease(node));
    }
    // Pods on the silent node: one tolerates unreachability for 1 s, one for the default 300 s.
    create(&c, "apiVersion: v1\nkind: Pod\nmetadata: {name: brief}\nspec:\n  nodeName: silent\n  tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}]\n  containers: [{name: c, image: ironkube.local/busybox:1}]\n");
    create(&c, "apiVersion: v1\nkind: Pod\nmetadata: {name: patient}\nspec:\n  nodeName: silent\n  containers: [{name: c, image: ironkube.local/busybox:1}]\n");
    set_pod_status(&c, "default", "patient", "10.244.1.5", true);
    // Keep renewing the other node's lease, as its kubelet would.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renewer = {
        let stop = stop.clone();
        let kubeconfig = c.kubeconfig.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut child = std::process::Command::new(ironkube_conformance::kubectl_bin())
                    .args(["replace", "-f", "-"])
                    .env("KUBECONFIG", &kubeconfig)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                use std::io::Write;
                child.stdin.take().unwrap().write_all(lease("alive").as_bytes()).unwrap();
                let _ = child.wait();
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        })
    };
    let ready = |c: &Cluster, node: &str| condition(&json(c, &["get", "node", node]), "Ready").cloned().unwrap_or_default();
    assert_eventually!(ready(&c, "silent")["status"] == "Unknown", "the silent node stayed {:?}", ready(&c, "silent"));
    let cond = ready(&c, "silent");
    assert_eq!(cond["reason"], "NodeStatusUnknown");
    assert_eq!(cond["message"], "Kubelet stopped posting node status.");
    assert_eq!(ready(&c, "alive")["status"], "True", "a node renewing its lease was marked");
    let taints = |c: &Cluster| json(c, &["get", "node", "silent"])["spec"]["taints"].as_array().cloned().unwrap_or_default();
    assert_eventually!(
        taints(&c).iter().any(|t| t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == "NoExecute"),
        "no unreachable taint: {:?}",
        taints(&c)
    );
    let evicted = |c: &Cluster| get(c, &["pod", "brief"]).is_none_or(|p| p["metadata"]["deletionTimestamp"].is_string());
    assert_eventually!(evicted(&c), "the pod tolerating 1 s was not evicted");
    if let Some(pod) = get(&c, &["pod", "brief"]) {
        let target = condition(&pod, "DisruptionTarget").cloned().unwrap_or_default();
        assert_eq!(target["reason"], "DeletionByTaintManager", "{pod}");
    }
    let patient = json(&c, &["get", "pod", "patient"]);
    assert!(patient["metadata"]["deletionTimestamp"].is_null(), "the pod tolerating 300 s was evicted early");
    assert_eq!(condition(&patient, "Ready").map(|c| c["status"].clone()), Some(Value::from("False")), "pods of a silent node stay Ready: {patient}");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    renewer.join().unwrap();
    assert!(json(&c, &["get", "node", "alive"])["spec"]["taints"].is_null(), "the live node was tainted");
}

#[test]
fn kubelet_less_pod_disruption_budget_status() {
    let c = Cluster::start();
    for i in 1..=3 {
        create(&c, &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: db-{i}, labels: {{app: db}}}}\nspec:\n  containers: [{{name: c, image: ironkube.local/busybox:1}}]\n"));
    }
    set_pod_status(&c, "default", "db-1", "10.244.0.21", true);
    set_pod_status(&c, "default", "db-2", "10.244.0.22", true);
    set_pod_status(&c, "default", "db-3", "10.244.0.23", false);
    c.ok(&["create", "poddisruptionbudget", "db", "--selector=app=db", "--min-available=2"]);
    let status = |c: &Cluster| json(c, &["get", "pdb", "db"])["status"].clone();
    let numbers = |s: &Value| (s["expectedPods"].clone(), s["currentHealthy"].clone(), s["desiredHealthy"].clone(), s["disruptionsAllowed"].clone());
    assert_eventually!(numbers(&status(&c)) == (3.into(), 2.into(), 2.into(), 0.into()), "status: {}", status(&c));
    let s = status(&c);
    assert_eq!(s["observedGeneration"], 1);
    assert_eq!((s["conditions"][0]["type"].clone(), s["conditions"][0]["status"].clone(), s["conditions"][0]["reason"].clone()), ("DisruptionAllowed".into(), "False".into(), "InsufficientPods".into()));
    set_pod_status(&c, "default", "db-3", "10.244.0.23", true);
    assert_eventually!(numbers(&status(&c)) == (3.into(), 3.into(), 2.into(), 1.into()), "status: {}", status(&c));
    let s = status(&c);
    assert_eq!((s["conditions"][0]["status"].clone(), s["conditions"][0]["reason"].clone()), ("True".into(), "SufficientPods".into()));
    c.ok(&["patch", "pdb", "db", "--type=merge", "-p", r#"{"spec":{"minAvailable":3}}"#]);
    assert_eventually!(status(&c)["observedGeneration"] == 2 && status(&c)["disruptionsAllowed"] == 0, "status: {}", status(&c));
}
