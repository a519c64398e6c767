//! The `pods/eviction` subresource and `kubectl drain`, kubelet-less: a fake Node takes
//! the pods and the harness marks them Ready (`mark_pods_ready`), as a kubelet would.

use ironkube_conformance::{assert_eventually, ApiClient, Cluster};
use serde_json::{json, Value};

fn fake_node(c: &Cluster, name: &str) {
    let node = json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "fake node"}],
        },
    });
    c.ok_with_input(&["apply", "-f", "-"], &node.to_string());
}

fn budget(c: &Cluster) -> Value {
    serde_json::from_str(&c.ok(&["get", "pdb", "web", "-o", "json"])).unwrap()
}

/// Three ready `web` pods on node n1, guarded by a budget of `minAvailable: 2` that the
/// disruption controller has computed (one disruption allowed).
fn guarded_web(c: &Cluster) -> Vec<String> {
    fake_node(c, "n1");
    c.ok(&["create", "deployment", "web", "--image=ironkube.local/busybox", "--replicas=3"]);
    assert_eventually!(c.pod_names("app=web").len() == 3, "the Deployment made no pods");
    let pods = c.pod_names("app=web");
    assert_eventually!(
        pods.iter().all(|p| c.ok(&["get", "pod", p, "-o", "jsonpath={.spec.nodeName}"]) == "n1"),
        "the pods were not bound to n1"
    );
    c.mark_pods_ready(&pods.iter().map(String::as_str).collect::<Vec<_>>());
    c.ok(&["create", "pdb", "web", "--selector=app=web", "--min-available=2"]);
    assert_eventually!(budget(c)["status"]["disruptionsAllowed"] == 1, "budget not computed: {}", budget(c)["status"]);
    pods
}

fn evict(client: &mut ApiClient, pod: &str) -> (u16, Value) {
    let body = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "default"}, "deleteOptions": {"gracePeriodSeconds": 0}});
    let (code, bytes) = client.request("POST", &format!("/api/v1/namespaces/default/pods/{pod}/eviction"), Some(&body.to_string()));
    (code, serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn kubelet_less_eviction_takes_one_disruption_then_answers_429() {
    let c = Cluster::start();
    let pods = guarded_web(&c);
    let mut client = ApiClient::connect(c.port, &c.dir.path().join("pki"));

    let (code, status) = evict(&mut client, &pods[0]);
    assert_eq!((code, &status["status"]), (201, &json!("Success")), "{status}");
    assert_eventually!(!c.pod_names("app=web").contains(&pods[0]), "the evicted pod is still there");
    let recorded = budget(&c)["status"].clone();
    assert_eq!(recorded["disruptionsAllowed"], 0, "{recorded}");

    let (code, status) = evict(&mut client, &pods[1]);
    assert_eq!(code, 429, "{status}");
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(status["message"], "Cannot evict pod as it would violate the pod's disruption budget.");
    assert_eq!(status["details"]["causes"][0]["reason"], "DisruptionBudget", "{status}");
    assert!(status["details"]["causes"][0]["message"].as_str().unwrap().starts_with("The disruption budget web needs 2 healthy pods"), "{status}");
    assert!(c.pod_names("app=web").contains(&pods[1]), "a refused eviction must not delete the pod");

    let (code, status) = evict(&mut client, "nothing-here");
    assert_eq!((code, &status["reason"]), (404, &json!("NotFound")), "{status}");
}

#[test]
fn kubelet_less_drain_respects_the_budget_and_finishes_without_one() {
    let c = Cluster::start();
    guarded_web(&c);
    // One eviction fits the budget; the others are refused until the replacement (which
    // cannot land on the cordoned node) is ready, so the drain gives up at its timeout.
    let refused = c.fails(&["drain", "n1", "--grace-period=0", "--timeout=12s"]);
    assert!(refused.contains("Cannot evict pod as it would violate the pod's disruption budget."), "{refused}");
    assert_eq!(c.ok(&["get", "node", "n1", "-o", "jsonpath={.spec.unschedulable}"]), "true", "drain cordons first");
    c.ok(&["delete", "pdb", "web"]);
    let drained = c.ok(&["drain", "n1", "--grace-period=0", "--timeout=60s"]);
    assert!(drained.contains("node/n1 drained"), "{drained}");
    let left: Vec<String> = c.pod_names("app=web").into_iter().filter(|p| c.ok(&["get", "pod", p, "-o", "jsonpath={.spec.nodeName}"]) == "n1").collect();
    assert!(left.is_empty(), "pods left on the drained node: {left:?}");
}
