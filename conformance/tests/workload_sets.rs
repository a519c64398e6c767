//! StatefulSets and DaemonSets through stock kubectl. Kubelet-less tests: nothing runs the
//! pods; the tests play the kubelet by marking pods Running and Ready, and DaemonSet tests
//! create fake Node objects through the API (the scheduler binds daemon pods to them).

use ironkube_conformance::{assert_eventually, Cluster};
use serde_json::{json, Value};

fn get(c: &Cluster, args: &[&str]) -> Value {
    let mut full = vec!["get"];
    full.extend(args);
    full.extend(["-o", "json"]);
    serde_json::from_str(&c.ok(&full)).expect("kubectl -o json")
}

fn items(c: &Cluster, args: &[&str]) -> Vec<Value> {
    get(c, args)["items"].as_array().cloned().unwrap_or_default()
}

fn apply(c: &Cluster, doc: &Value) {
    c.ok_with_input(&["apply", "-f", "-"], &doc.to_string());
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Live (not terminating) pods of `app`, sorted by name.
fn live_pods(c: &Cluster, app: &str) -> Vec<Value> {
    let mut pods: Vec<Value> = items(c, &["pods", "-l", &format!("app={app}")]).into_iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).collect();
    pods.sort_by_key(|p| p["metadata"]["name"].as_str().unwrap_or_default().to_string());
    pods
}

fn names(pods: &[Value]) -> Vec<String> {
    pods.iter().map(|p| p["metadata"]["name"].as_str().unwrap_or_default().to_string()).collect()
}

/// Plays the kubelet: marks every live, unready pod of `app` Running and Ready (a pod that
/// vanished meanwhile is skipped).
fn make_ready(c: &Cluster, app: &str) {
    let status = r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2020-01-01T00:00:00Z"}]}}"#;
    for pod in live_pods(c, app).iter().filter(|p| !is_ready(p)) {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let _ = c.kubectl(&["patch", "pod", name, "--subresource=status", "--type=merge", "-p", status]);
    }
}

fn image_of(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"].as_str().unwrap_or_default()
}

fn events(c: &Cluster, object: &str, reason: &str) -> Vec<String> {
    items(c, &["events", "--field-selector", &format!("involvedObject.name={object},reason={reason}")])
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn stateful_set(replicas: u32, image: &str, extra: Value) -> Value {
    let mut sts = json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "serviceName": "nginx",
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}},
        },
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        sts["spec"][k] = v;
    }
    sts
}

#[test]
fn kubelet_less_statefulset_creates_in_order_with_claims_and_scales_down_from_the_top() {
    let c = Cluster::start();
    let claims = json!({
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"},
    });
    apply(&c, &stateful_set(3, "ironkube.local/busybox:1", claims));

    // OrderedReady: web-0 first, and nothing more while it is not ready.
    assert_eventually!(names(&live_pods(&c, "web")) == ["web-0"], "web-0 was not created: {:?}", names(&live_pods(&c, "web")));
    assert_eventually!(
        get(&c, &["sts", "web"])["status"]["replicas"] == 1,
        "status does not count web-0: {}",
        get(&c, &["sts", "web"])["status"]
    );
    assert_eq!(names(&live_pods(&c, "web")), ["web-0"], "web-1 was created before web-0 was ready");

    let pod = get(&c, &["pod", "web-0"]);
    assert_eq!(pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], "web-0");
    assert_eq!(pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "0");
    let sts = get(&c, &["sts", "web"]);
    assert_eq!(pod["metadata"]["labels"]["controller-revision-hash"], sts["status"]["updateRevision"], "{}", sts["status"]);
    assert_eq!((pod["spec"]["hostname"].as_str(), pod["spec"]["subdomain"].as_str()), (Some("web-0"), Some("nginx")));
    let volume = pod["spec"]["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "data").cloned().unwrap_or_default();
    assert_eq!(volume["persistentVolumeClaim"]["claimName"], "data-web-0", "{}", pod["spec"]["volumes"]);
    let claim = get(&c, &["pvc", "data-web-0"]);
    assert_eq!(claim["metadata"]["labels"]["app"], "web");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eventually!(
        events(&c, "web", "SuccessfulCreate").contains(&"create Pod web-0 in StatefulSet web successful".to_string())
            && events(&c, "web", "SuccessfulCreate").contains(&"create Claim data-web-0 Pod web-0 in StatefulSet web success".to_string()),
        "events: {:?}",
        events(&c, "web", "SuccessfulCreate")
    );

    c.mark_pods_ready(&["web-0"]);
    assert_eventually!(names(&live_pods(&c, "web")) == ["web-0", "web-1"], "web-1 did not follow a ready web-0: {:?}", names(&live_pods(&c, "web")));
    c.mark_pods_ready(&["web-1"]);
    assert_eventually!(names(&live_pods(&c, "web")).len() == 3, "web-2 was not created: {:?}", names(&live_pods(&c, "web")));
    c.mark_pods_ready(&["web-2"]);
    assert_eventually!(
        get(&c, &["sts", "web"])["status"]["readyReplicas"] == 3,
        "status: {}",
        get(&c, &["sts", "web"])["status"]
    );
    let pvcs = names(&items(&c, &["pvc"]));
    assert_eq!(pvcs, ["data-web-0", "data-web-1", "data-web-2"]);

    // Scale down removes the highest ordinal first: while web-2 is held terminating by a
    // finalizer, web-1 stays.
    c.ok(&["patch", "pod", "web-2", "--type=merge", "-p", r#"{"metadata":{"finalizers":["example.com/hold"]}}"#]);
    c.ok(&["scale", "sts", "web", "--replicas=1"]);
    assert_eventually!(
        !get(&c, &["pod", "web-2"])["metadata"]["deletionTimestamp"].is_null(),
        "web-2 is not being deleted: {}",
        get(&c, &["pod", "web-2"])["metadata"]
    );
    assert!(get(&c, &["pod", "web-1"])["metadata"]["deletionTimestamp"].is_null(), "web-1 was deleted before web-2 was gone");
    c.ok(&["patch", "pod", "web-2", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    assert_eventually!(names(&live_pods(&c, "web")) == ["web-0"], "scale down did not finish: {:?}", names(&live_pods(&c, "web")));
    // whenScaled: Delete: the claims of removed pods go with them.
    assert_eventually!(names(&items(&c, &["pvc"])) == ["data-web-0"], "claims: {:?}", names(&items(&c, &["pvc"])));
    assert_eventually!(
        events(&c, "web", "SuccessfulDelete") == ["delete Pod web-2 in StatefulSet web successful", "delete Pod web-1 in StatefulSet web successful"],
        "events: {:?}",
        events(&c, "web", "SuccessfulDelete")
    );
}

#[test]
fn kubelet_less_statefulset_rolling_update_with_partition_and_undo() {
    let c = Cluster::start();
    apply(&c, &stateful_set(3, "ironkube.local/busybox:1", json!({"podManagementPolicy": "Parallel"})));
    assert_eventually!(
        {
            make_ready(&c, "web");
            get(&c, &["sts", "web"])["status"]["readyReplicas"] == 3
        },
        "pods did not all start: {:?}",
        names(&live_pods(&c, "web"))
    );
    let first = get(&c, &["sts", "web"])["status"]["currentRevision"].as_str().unwrap_or_default().to_string();

    // Partition 2: only web-2 moves to the new template.
    c.ok(&["patch", "sts", "web", "--type=merge", "-p", r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}"#]);
    c.ok(&["set", "image", "sts/web", "c=ironkube.local/busybox:2"]);
    assert_eventually!(
        {
            make_ready(&c, "web");
            let pods = live_pods(&c, "web");
            pods.len() == 3 && pods.iter().map(image_of).collect::<Vec<_>>() == ["ironkube.local/busybox:1", "ironkube.local/busybox:1", "ironkube.local/busybox:2"] && pods.iter().all(is_ready)
        },
        "partitioned update: {:?}",
        live_pods(&c, "web").iter().map(|p| (p["metadata"]["name"].clone(), image_of(p).to_string())).collect::<Vec<_>>()
    );
    let sts = get(&c, &["sts", "web"]);
    assert_eq!(sts["status"]["currentRevision"], first.as_str(), "{}", sts["status"]);
    assert_ne!(sts["status"]["updateRevision"], first.as_str());
    assert_eventually!(get(&c, &["sts", "web"])["status"]["updatedReplicas"] == 1, "status: {}", get(&c, &["sts", "web"])["status"]);
    let out = c.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    assert!(out.contains("partitioned roll out complete: 1 new pods have been updated"), "{out}");

    // Partition 0: the rest follow, and the update revision becomes current.
    c.ok(&["patch", "sts", "web", "--type=merge", "-p", r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#]);
    assert_eventually!(
        {
            make_ready(&c, "web");
            let s = get(&c, &["sts", "web"])["status"].clone();
            s["updatedReplicas"] == 3 && s["readyReplicas"] == 3 && s["currentRevision"] == s["updateRevision"]
        },
        "update did not finish: {}",
        get(&c, &["sts", "web"])["status"]
    );
    assert!(live_pods(&c, "web").iter().all(|p| image_of(p) == "ironkube.local/busybox:2"));
    let out = c.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    assert!(out.contains("roll out complete: 3 new pods have been updated"), "{out}");

    let history = c.ok(&["rollout", "history", "sts/web"]);
    let revisions: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, ["1", "2"], "{history}");
    let second = c.ok(&["rollout", "history", "sts/web", "--revision=1"]);
    assert!(second.contains("ironkube.local/busybox:1"), "{second}");

    // Undo goes back to revision 1's template, which becomes revision 3.
    let out = c.ok(&["rollout", "undo", "sts/web"]);
    assert!(out.contains("rolled back"), "{out}");
    assert_eventually!(
        {
            make_ready(&c, "web");
            let pods = live_pods(&c, "web");
            let s = get(&c, &["sts", "web"])["status"].clone();
            pods.len() == 3 && pods.iter().all(|p| image_of(p) == "ironkube.local/busybox:1") && s["updatedReplicas"] == 3 && s["currentRevision"] == s["updateRevision"]
        },
        "undo did not finish: {}",
        get(&c, &["sts", "web"])["status"]
    );
    assert_eq!(get(&c, &["sts", "web"])["status"]["updateRevision"], first.as_str(), "undo reuses the first revision");
    let history = c.ok(&["rollout", "history", "sts/web"]);
    let revisions: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
}

/// A fake node: schedulable, Ready, with labels and taints.
fn node(name: &str, taints: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"taints": taints},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "fake node"}],
        },
    })
}

fn daemon_set(image: &str, tolerations: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                // No kubelet finishes graceful deletion here: pods go at once.
                "spec": {"terminationGracePeriodSeconds": 0, "tolerations": tolerations, "containers": [{"name": "c", "image": image}]},
            },
        },
    })
}

/// `(node, image)` of the live pods of the DaemonSet, by node.
fn placements(c: &Cluster) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        live_pods(c, "agent").iter().map(|p| (p["spec"]["nodeName"].as_str().unwrap_or("<unbound>").to_string(), image_of(p).to_string())).collect();
    out.sort();
    out
}

fn on(nodes: &[&str], image: &str) -> Vec<(String, String)> {
    nodes.iter().map(|n| (n.to_string(), image.to_string())).collect()
}

#[test]
fn kubelet_less_daemonset_runs_one_pod_per_eligible_node_and_rolls_out() {
    let c = Cluster::start();
    for name in ["n1", "n2", "n3"] {
        apply(&c, &node(name, json!([])));
    }
    apply(&c, &node("gpu", json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])));
    apply(&c, &daemon_set("ironkube.local/busybox:1", json!([])));

    // One pod on each untainted node, bound there by the scheduler.
    assert_eventually!(placements(&c) == on(&["n1", "n2", "n3"], "ironkube.local/busybox:1"), "placements: {:?}", placements(&c));
    let pod = live_pods(&c, "agent").remove(0);
    let node_name = pod["spec"]["nodeName"].clone();
    assert_eq!(
        pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"],
        json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}])
    );
    let tolerations: Vec<String> = pod["spec"]["tolerations"].as_array().unwrap().iter().map(|t| format!("{}:{}", t["key"].as_str().unwrap(), t["effect"].as_str().unwrap())).collect();
    for wanted in ["node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unschedulable:NoSchedule", "node.kubernetes.io/disk-pressure:NoSchedule"] {
        assert!(tolerations.contains(&wanted.to_string()), "{tolerations:?}");
    }
    assert!(!pod["metadata"]["labels"]["controller-revision-hash"].is_null(), "{}", pod["metadata"]);
    assert_eq!(pod["metadata"]["labels"]["pod-template-generation"], "1");
    assert_eventually!(
        events(&c, "agent", "SuccessfulCreate").len() == 3 && events(&c, "agent", "SuccessfulCreate").iter().all(|m| m.starts_with("Created pod: agent-")),
        "events: {:?}",
        events(&c, "agent", "SuccessfulCreate")
    );

    // A new node gets a pod.
    apply(&c, &node("n4", json!([])));
    assert_eventually!(placements(&c) == on(&["n1", "n2", "n3", "n4"], "ironkube.local/busybox:1"), "placements: {:?}", placements(&c));
    assert_eventually!(
        {
            make_ready(&c, "agent");
            let s = get(&c, &["ds", "agent"])["status"].clone();
            s["desiredNumberScheduled"] == 4 && s["currentNumberScheduled"] == 4 && s["numberReady"] == 4 && s["numberAvailable"] == 4 && s["updatedNumberScheduled"] == 4
        },
        "status: {}",
        get(&c, &["ds", "agent"])["status"]
    );
    let out = c.ok(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    assert!(out.contains("daemon set \"agent\" successfully rolled out"), "{out}");

    // Tolerating the taint is a template change: a rolling update that also covers "gpu".
    let tolerate = json!([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]);
    c.ok(&["patch", "ds", "agent", "--type=merge", "-p", &json!({"spec": {"template": {"spec": {"tolerations": tolerate}}}}).to_string()]);
    c.ok(&["set", "image", "ds/agent", "c=ironkube.local/busybox:2"]);
    assert_eventually!(
        {
            make_ready(&c, "agent");
            placements(&c) == on(&["gpu", "n1", "n2", "n3", "n4"], "ironkube.local/busybox:2")
        },
        "rolling update: {:?}",
        placements(&c)
    );
    assert_eventually!(
        {
            make_ready(&c, "agent");
            c.kubectl(&["rollout", "status", "ds/agent", "--timeout=5s"]).status.success()
        },
        "rollout status did not complete: {}",
        get(&c, &["ds", "agent"])["status"]
    );
    assert_eq!(get(&c, &["ds", "agent"])["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "3");

    let history = c.ok(&["rollout", "history", "ds/agent"]);
    let revisions: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, ["1", "2", "3"], "{history}");

    // Undo restores the previous template (busybox:1, tolerating gpu).
    let out = c.ok(&["rollout", "undo", "ds/agent"]);
    assert!(out.contains("rolled back"), "{out}");
    assert_eventually!(
        {
            make_ready(&c, "agent");
            placements(&c) == on(&["gpu", "n1", "n2", "n3", "n4"], "ironkube.local/busybox:1")
        },
        "undo: {:?}",
        placements(&c)
    );

    // A node that becomes ineligible (an untolerated NoExecute taint) loses its pod.
    c.ok(&["taint", "node", "n4", "evict=now:NoExecute"]);
    assert_eventually!(placements(&c) == on(&["gpu", "n1", "n2", "n3"], "ironkube.local/busybox:1"), "placements: {:?}", placements(&c));
}

/// With a real kubelet (root + containerd; skipped elsewhere): the DaemonSet's pod runs on
/// the node and the rollout completes.
#[test]
fn daemonset_pod_runs_on_the_real_node() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let mut ds = daemon_set("ironkube.local/busybox", json!([]));
    ds["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["sleep", "3600"]);
    ds["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(1);
    apply(&c, &ds);
    assert_eventually!(
        live_pods(&c, "agent").iter().any(|p| p["spec"]["nodeName"] == c.node_name() && p["status"]["phase"] == "Running" && is_ready(p)),
        "no running daemon pod on {}: {:?}",
        c.node_name(),
        live_pods(&c, "agent").iter().map(|p| p["status"].clone()).collect::<Vec<_>>()
    );
    let out = c.ok(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(live_pods(&c, "agent").len(), 1);
}
