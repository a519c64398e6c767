//! The scheduler through stock kubectl, kubelet-less: Node objects are created
//! directly (capacity, allocatable, a Ready condition) and nothing runs the pods; the
//! tests check where pods are bound and what the scheduler reports.

use ironkube_conformance::{assert_eventually, Cluster};
use serde_json::{json, Value};

/// A fake node: `cpu` allocatable, labels and taints.
fn node(name: &str, cpu: &str, labels: Value, taints: Value) -> String {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {
            "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "fake node"}],
        },
    })
    .to_string()
}

/// A pod with `extra` merged into its spec.
fn pod(name: &str, labels: Value, extra: Value) -> String {
    let mut spec = json!({"containers": [{"name": "c", "image": "ironkube.local/busybox:1"}]});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}).to_string()
}

fn apply(c: &Cluster, doc: &str) {
    c.ok_with_input(&["apply", "-f", "-"], doc);
}

fn get(c: &Cluster, args: &[&str]) -> Value {
    let mut full = vec!["get"];
    full.extend(args);
    full.extend(["-o", "json"]);
    serde_json::from_str(&c.ok(&full)).expect("kubectl -o json")
}

fn node_of(c: &Cluster, pod: &str) -> String {
    get(c, &["pod", pod])["spec"]["nodeName"].as_str().unwrap_or_default().to_string()
}

fn scheduled_condition(c: &Cluster, pod: &str) -> Value {
    let p = get(c, &["pod", pod]);
    p["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "PodScheduled").cloned().unwrap_or(Value::Null)
}

fn events_for(c: &Cluster, pod: &str, reason: &str) -> Vec<String> {
    let list = get(c, &["events", "--field-selector", &format!("involvedObject.name={pod},reason={reason}")]);
    list["items"].as_array().into_iter().flatten().map(|e| e["message"].as_str().unwrap_or_default().to_string()).collect()
}

#[test]
fn kubelet_less_pod_is_bound_with_condition_and_event() {
    let c = Cluster::start();
    apply(&c, &node("n1", "2", json!({}), json!([])));
    apply(&c, &pod("p1", json!({}), json!({})));
    assert_eventually!(node_of(&c, "p1") == "n1", "p1 was not bound: {}", get(&c, &["pod", "p1"]));
    let cond = scheduled_condition(&c, "p1");
    assert_eq!(cond["status"], "True", "{cond}");
    assert_eventually!(
        events_for(&c, "p1", "Scheduled") == ["Successfully assigned default/p1 to n1"],
        "no Scheduled event: {:?}",
        events_for(&c, "p1", "Scheduled")
    );
    let described = c.ok(&["describe", "pod", "p1"]);
    assert!(described.contains("default-scheduler  Successfully assigned default/p1 to n1"), "{described}");
}

#[test]
fn kubelet_less_tainted_node_takes_only_tolerating_pods() {
    let c = Cluster::start();
    apply(&c, &node("gpu", "8", json!({}), json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])));
    apply(&c, &node("plain", "1", json!({}), json!([])));
    let tolerating = json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]});
    for i in 0..4 {
        apply(&c, &pod(&format!("plain-{i}"), json!({}), json!({})));
        apply(&c, &pod(&format!("tol-{i}"), json!({}), tolerating.clone()));
    }
    for i in 0..4 {
        assert_eventually!(node_of(&c, &format!("plain-{i}")) == "plain", "plain-{i} must avoid the tainted node");
        assert_eventually!(!node_of(&c, &format!("tol-{i}")).is_empty(), "tol-{i} not bound");
    }
    // The tainted node is emptier (8 CPUs), so tolerating pods prefer it.
    assert!((0..4).any(|i| node_of(&c, &format!("tol-{i}")) == "gpu"));
}

#[test]
fn kubelet_less_cordoned_node_is_skipped() {
    let c = Cluster::start();
    apply(&c, &node("n1", "4", json!({}), json!([])));
    apply(&c, &node("n2", "4", json!({}), json!([])));
    c.ok(&["cordon", "n1"]);
    for i in 0..3 {
        apply(&c, &pod(&format!("p{i}"), json!({}), json!({})));
    }
    for i in 0..3 {
        assert_eventually!(node_of(&c, &format!("p{i}")) == "n2", "p{i} must go to the uncordoned node");
    }
    c.ok(&["cordon", "n2"]);
    apply(&c, &pod("waiting", json!({}), json!({})));
    assert_eventually!(
        scheduled_condition(&c, "waiting")["message"].as_str().is_some_and(|m| m.starts_with("0/2 nodes are available: 2 node(s) were unschedulable.")),
        "no Unschedulable condition: {}",
        scheduled_condition(&c, "waiting")
    );
    // The scheduler's status write is recorded under its name, as upstream's is.
    let managers = get(&c, &["pod", "waiting", "--show-managed-fields"])["metadata"]["managedFields"].clone();
    assert!(managers.as_array().unwrap().iter().any(|m| m["manager"] == "kube-scheduler" && m["subresource"] == "status"), "{managers}");
    c.ok(&["uncordon", "n1"]);
    assert_eventually!(node_of(&c, "waiting") == "n1", "uncordon must let the pod in");
}

#[test]
fn kubelet_less_node_selector_and_affinity() {
    let c = Cluster::start();
    apply(&c, &node("ssd", "4", json!({"disk": "ssd", "zone": "a"}), json!([])));
    apply(&c, &node("hdd", "4", json!({"disk": "hdd", "zone": "b"}), json!([])));
    apply(&c, &pod("by-selector", json!({}), json!({"nodeSelector": {"disk": "ssd"}})));
    let required = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}}});
    apply(&c, &pod("by-affinity", json!({}), required));
    let preferred = json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}});
    apply(&c, &pod("by-preference", json!({}), preferred));
    apply(&c, &pod("nowhere", json!({}), json!({"nodeSelector": {"disk": "nvme"}})));
    assert_eventually!(node_of(&c, "by-selector") == "ssd", "nodeSelector");
    assert_eventually!(node_of(&c, "by-affinity") == "hdd", "required affinity");
    assert_eventually!(node_of(&c, "by-preference") == "ssd", "preferred affinity");
    assert_eventually!(
        scheduled_condition(&c, "nowhere")["message"]
            == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. no new claims to deallocate, \
                preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
        "{}",
        scheduled_condition(&c, "nowhere")
    );
}

#[test]
fn kubelet_less_exhausted_resources_report_then_schedule_on_a_new_node() {
    let c = Cluster::start();
    apply(&c, &node("small", "1", json!({}), json!([])));
    apply(&c, &node("t1", "8", json!({}), json!([{"key": "team", "value": "x", "effect": "NoSchedule"}])));
    apply(&c, &node("t2", "8", json!({}), json!([{"key": "team", "value": "x", "effect": "NoExecute"}])));
    let big = json!({"containers": [{"name": "c", "image": "ironkube.local/busybox:1", "resources": {"requests": {"cpu": "2"}}}]});
    apply(&c, &pod("big", json!({}), big));
    let expected = "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint(s). no new claims to deallocate, \
                    preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    assert_eventually!(scheduled_condition(&c, "big")["message"] == expected, "{}", scheduled_condition(&c, "big"));
    let cond = scheduled_condition(&c, "big");
    assert_eq!((cond["status"].as_str(), cond["reason"].as_str()), (Some("False"), Some("Unschedulable")));
    assert_eventually!(events_for(&c, "big", "FailedScheduling").iter().any(|m| m == expected), "no FailedScheduling event");
    let described = c.ok(&["describe", "pod", "big"]);
    assert!(described.contains("Warning  FailedScheduling"), "{described}");
    apply(&c, &node("large", "4", json!({}), json!([])));
    assert_eventually!(node_of(&c, "big") == "large", "big must be retried when a node is added");
    assert_eventually!(scheduled_condition(&c, "big")["status"] == "True", "condition must turn True");
}

#[test]
fn kubelet_less_host_port_conflict() {
    let c = Cluster::start();
    apply(&c, &node("n1", "4", json!({}), json!([])));
    let with_port = json!({"containers": [{"name": "c", "image": "ironkube.local/busybox:1",
        "ports": [{"containerPort": 80, "hostPort": 8080}]}]});
    apply(&c, &pod("first", json!({}), with_port.clone()));
    assert_eventually!(node_of(&c, "first") == "n1", "first not bound");
    apply(&c, &pod("second", json!({}), with_port));
    let expected = "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. no new claims to deallocate, \
                    preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
    assert_eventually!(scheduled_condition(&c, "second")["message"] == expected, "{}", scheduled_condition(&c, "second"));
    c.ok(&["delete", "pod", "first", "--grace-period=0", "--force"]);
    assert_eventually!(node_of(&c, "second") == "n1", "second must be retried once the port is free");
}

#[test]
fn kubelet_less_topology_spread_across_two_zones() {
    let c = Cluster::start();
    apply(&c, &node("a1", "16", json!({"topology.kubernetes.io/zone": "a"}), json!([])));
    apply(&c, &node("a2", "16", json!({"topology.kubernetes.io/zone": "a"}), json!([])));
    apply(&c, &node("b1", "1", json!({"topology.kubernetes.io/zone": "b"}), json!([])));
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]});
    for i in 0..6 {
        apply(&c, &pod(&format!("web-{i}"), json!({"app": "web"}), spread.clone()));
    }
    let zone_counts = |c: &Cluster| {
        let (mut a, mut b) = (0, 0);
        for i in 0..6 {
            match node_of(c, &format!("web-{i}")).as_str() {
                "a1" | "a2" => a += 1,
                "b1" => b += 1,
                _ => {}
            }
        }
        (a, b)
    };
    assert_eventually!(zone_counts(&c) == (3, 3), "pods must spread 3/3 over the zones: {:?}", zone_counts(&c));
    // With zone b closed (cordoned, but still a domain), zone a may run one more pod.
    c.ok(&["cordon", "b1"]);
    apply(&c, &pod("web-6", json!({"app": "web"}), spread.clone()));
    assert_eventually!(node_of(&c, "web-6").starts_with('a'), "web-6 fits in zone a (skew 1)");
    apply(&c, &pod("web-7", json!({"app": "web"}), spread));
    let expected = "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match pod topology spread constraints. \
                    no new claims to deallocate, preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, \
                    2 No preemption victims found for incoming pod.";
    assert_eventually!(scheduled_condition(&c, "web-7")["message"] == expected, "{}", scheduled_condition(&c, "web-7"));
}

#[test]
fn kubelet_less_binding_an_assigned_pod_conflicts() {
    let c = Cluster::start();
    apply(&c, &node("n1", "2", json!({}), json!([])));
    apply(&c, &node("n2", "2", json!({}), json!([])));
    apply(&c, &pod("manual", json!({}), json!({"schedulerName": "someone-else"})));
    let bind = |pod: &str, node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod}, "target": {"kind": "Node", "name": node}}).to_string()
    };
    let path = "/api/v1/namespaces/default/pods/manual/binding";
    let created = c.ok_with_input(&["create", "--raw", path, "-f", "-"], &bind("manual", "n2"));
    let status: Value = serde_json::from_str(&created).expect("Status");
    assert_eq!(status["status"], "Success", "{status}");
    assert_eq!(status["code"], 201, "{status}");
    assert_eq!(node_of(&c, "manual"), "n2");
    assert_eq!(scheduled_condition(&c, "manual")["status"], "True");
    let out = c.kubectl_with_input(&["create", "--raw", path, "-f", "-"], Some(&bind("manual", "n1")));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"Error from server (Conflict): Operation cannot be fulfilled on pods/binding "manual": pod manual is already assigned to node "n2""#),
        "{err}"
    );
    // The legacy `bindings` resource does the same.
    let out = c.kubectl_with_input(&["create", "--raw", "/api/v1/namespaces/default/bindings", "-f", "-"], Some(&bind("manual", "n1")));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is already assigned to node"), "{}", String::from_utf8_lossy(&out.stderr));
    // A binding to something other than a Node is invalid.
    apply(&c, &pod("other", json!({}), json!({"schedulerName": "someone-else"})));
    let bad = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "other"}, "target": {"kind": "Pod", "name": "x"}}).to_string();
    let out = c.kubectl_with_input(&["create", "--raw", "/api/v1/namespaces/default/pods/other/binding", "-f", "-"], Some(&bad));
    assert!(String::from_utf8_lossy(&out.stderr).contains(r#"target.kind: Unsupported value: "Pod""#), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(node_of(&c, "other"), "");
}

/// Two `ironkube scheduler` processes against `ironkube apiserver`: one holds the
/// `kube-system/kube-scheduler` Lease and schedules; when it stops (SIGTERM releases the
/// lease) the standby takes the lease over and schedules the next pod.
#[test]
fn kubelet_less_scheduler_leader_election_fails_over() {
    use std::process::{Command, Stdio};
    let c = Cluster::start_apiserver_only();
    let holder = |c: &Cluster| c.kubectl(&["get", "lease", "-n", "kube-system", "kube-scheduler", "-o", "jsonpath={.spec.holderIdentity}"]).stdout.iter().map(|&b| b as char).collect::<String>();
    let spawn = || {
        Command::new(ironkube_conformance::ironkube_bin())
            .args(["scheduler", "--kubeconfig"])
            .arg(&c.kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ironkube scheduler")
    };
    let mut first = spawn();
    assert_eventually!(!holder(&c).is_empty(), "the first scheduler holds the lease");
    let leader = holder(&c);
    let mut second = spawn();
    apply(&c, &node("n1", "4", json!({}), json!([])));
    apply(&c, &pod("p1", json!({}), json!({})));
    assert_eventually!(node_of(&c, "p1") == "n1", "p1 bound by the leader");
    assert_eq!(holder(&c), leader, "the standby must not take a held lease");

    let _ = Command::new("kill").args(["-TERM", &first.id().to_string()]).status();
    let _ = first.wait();
    assert_eventually!(!holder(&c).is_empty() && holder(&c) != leader, "the standby took the lease (holder {})", holder(&c));
    apply(&c, &pod("p2", json!({}), json!({})));
    assert_eventually!(node_of(&c, "p2") == "n1", "p2 bound by the successor");
    let _ = second.kill();
    let _ = second.wait();
}
