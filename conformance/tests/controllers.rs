//! Workload controllers (ReplicaSet, ReplicationController, Deployment) and leader election
//! against a real server through stock kubectl.
//!
//! Kubelet-less: these clusters run no kubelet (and no scheduler), so tests that need ready
//! pods mark them Running/Ready through `pods/status` (`Cluster::mark_pods_ready`), as a
//! kubelet would; pods stay unbound.

use ironkube_conformance::{Cluster, assert_eventually, ironkube_bin};
use serde_json::Value;
use std::process::{Child, Command, Stdio};

fn json(c: &Cluster, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["-o", "json"]);
    serde_json::from_str(&c.ok(&full)).expect("kubectl -o json")
}

fn items(c: &Cluster, args: &[&str]) -> Vec<Value> {
    json(c, args)["items"].as_array().cloned().unwrap_or_default()
}

fn deployment(name: &str, image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: main, image: {image}}}]}}\n"
    )
}

/// `spec.replicas` per ReplicaSet of the deployment's pods, by image.
fn rs_sizes(c: &Cluster, app: &str) -> Vec<(String, i64, i64)> {
    let mut out: Vec<_> = items(c, &["get", "rs", "-l", &format!("app={app}")])
        .iter()
        .map(|rs| {
            let image = rs["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_string();
            (image, rs["spec"]["replicas"].as_i64().unwrap_or(0), rs["status"]["availableReplicas"].as_i64().unwrap_or(0))
        })
        .collect();
    out.sort();
    out
}

/// Ready pods of `app` that are not being deleted.
fn ready_pods(c: &Cluster, app: &str) -> usize {
    items(c, &["get", "pods", "-l", &format!("app={app}")])
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| p["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")))
        .count()
}

/// Marks every not-ready pod of `app` ready, like kubelets starting them.
fn make_all_ready(c: &Cluster, app: &str) {
    let pods = items(c, &["get", "pods", "-l", &format!("app={app}")]);
    let unready: Vec<&str> = pods
        .iter()
        .filter(|p| !p["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")))
        .filter_map(|p| p["metadata"]["name"].as_str())
        .collect();
    c.mark_pods_ready(&unready);
}

/// Drives a rollout to completion by making pods ready as they appear.
fn complete_rollout(c: &Cluster, name: &str) {
    assert_eventually!(
        {
            make_all_ready(c, name);
            let d = json(c, &["get", "deploy", name]);
            let want = d["spec"]["replicas"].as_i64();
            d["status"]["observedGeneration"] == d["metadata"]["generation"]
                && d["status"]["updatedReplicas"].as_i64() == want && d["status"]["availableReplicas"].as_i64() == want && d["status"]["replicas"].as_i64() == want
        },
        "rollout of {name} did not complete: {:?}",
        rs_sizes(c, name)
    );
}

#[test]
fn deployment_creates_one_replicaset_and_owned_pods_and_scales() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &deployment("web", "ironkube.local/busybox:1", 3));
    assert_eventually!(c.pod_names("app=web").len() == 3, "3 pods: {:?}", c.pod_names("app=web"));
    let d = json(&c, &["get", "deploy", "web"]);
    let rss = items(&c, &["get", "rs"]);
    assert_eq!(rss.len(), 1, "{rss:?}");
    let rs = &rss[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"].as_str().expect("pod-template-hash label");
    assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
    assert_eq!(rs["spec"]["selector"]["matchLabels"]["pod-template-hash"], hash);
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"], "3");
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"], "4");
    let owner = &rs["metadata"]["ownerReferences"][0];
    assert_eq!((owner["kind"].as_str(), owner["uid"].as_str(), owner["controller"].as_bool(), owner["blockOwnerDeletion"].as_bool()), (Some("Deployment"), d["metadata"]["uid"].as_str(), Some(true), Some(true)));
    for pod in items(&c, &["get", "pods", "-l", "app=web"]) {
        let name = pod["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with(&format!("web-{hash}-")), "{name}");
        assert_eq!(pod["metadata"]["generateName"], format!("web-{hash}-"));
        let owner = &pod["metadata"]["ownerReferences"][0];
        assert_eq!((owner["kind"].as_str(), owner["uid"].as_str(), owner["controller"].as_bool()), (Some("ReplicaSet"), rs["metadata"]["uid"].as_str(), Some(true)));
    }
    assert_eventually!(json(&c, &["get", "rs", rs["metadata"]["name"].as_str().unwrap()])["status"]["replicas"] == 3, "rs status.replicas");
    assert_eventually!(json(&c, &["get", "deploy", "web"])["status"]["replicas"] == 3, "deployment status.replicas");

    c.ok(&["scale", "deploy", "web", "--replicas=5"]);
    assert_eventually!(c.pod_names("app=web").len() == 5, "scaled up to 5: {:?}", c.pod_names("app=web"));
    c.ok(&["scale", "deploy", "web", "--replicas=2"]);
    assert_eventually!(c.pod_names("app=web").len() == 2, "scaled down to 2: {:?}", c.pod_names("app=web"));
    assert_eq!(items(&c, &["get", "rs"]).len(), 1, "scaling makes no new ReplicaSet");

    // Events as upstream records them, shown by describe.
    let out = c.ok(&["describe", "deploy", "web"]);
    assert!(out.contains("ScalingReplicaSet") && out.contains(&format!("Scaled up replica set web-{hash} from 0 to 3")), "{out}");
    assert!(out.contains(&format!("Scaled down replica set web-{hash} from 5 to 2")), "{out}");
    let out = c.ok(&["describe", "rs", &format!("web-{hash}")]);
    assert!(out.contains("SuccessfulCreate") && out.contains("Created pod: web-") && out.contains("SuccessfulDelete"), "{out}");
    assert!(out.contains("replicaset-controller"), "{out}");
}

/// `kubectl set image` on 4 replicas with the default 25%/25% strategy (surge 1, unavailable
/// 1): upstream scales the new ReplicaSet to 1, the old one to 3, then the new one to 2
/// (5 pods = replicas + surge) and holds there while new pods are unready, because ready
/// pods must not drop below replicas - maxUnavailable = 3.
#[test]
fn kubelet_less_rolling_update_holds_the_availability_bound() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &deployment("web", "ironkube.local/busybox:1", 4));
    complete_rollout(&c, "web");
    c.ok(&["set", "image", "deploy/web", "main=ironkube.local/busybox:2"]);
    let sizes = |c: &Cluster| rs_sizes(c, "web").iter().map(|(i, r, _)| (i.clone(), *r)).collect::<Vec<_>>();
    let held = [("ironkube.local/busybox:1".to_string(), 3), ("ironkube.local/busybox:2".to_string(), 2)];
    assert_eventually!(sizes(&c) == held, "old 3 / new 2 while new pods are unready: {:?}", rs_sizes(&c, "web"));
    // It stays there: no step may take ready pods below 3 while nothing new is ready.
    for _ in 0..5 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(sizes(&c), held, "the rollout moved without ready new pods");
    }
    let out = c.ok(&["describe", "deploy", "web"]);
    // (describe sorts events by second-granular timestamps, so only presence is checked.)
    for step in ["from 0 to 1", "from 4 to 3", "from 1 to 2"] {
        assert!(out.contains(step), "no scaling step {step:?}: {out}");
    }
    // Step the rollout: make new pods ready one at a time, checking the bound each time.
    assert_eventually!(
        {
            assert!(ready_pods(&c, "web") >= 3, "fewer than 3 ready pods: {:?}", rs_sizes(&c, "web"));
            let new_unready: Vec<String> = items(&c, &["get", "pods", "-l", "app=web"])
                .iter()
                .filter(|p| p["spec"]["containers"][0]["image"] == "ironkube.local/busybox:2")
                .filter(|p| !p["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready")))
                .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
                .collect();
            if let Some(first) = new_unready.first() {
                c.mark_pods_ready(&[first]);
            }
            rs_sizes(&c, "web").iter().map(|(i, r, a)| (i.clone(), *r, *a)).collect::<Vec<_>>() == [("ironkube.local/busybox:1".to_string(), 0, 0), ("ironkube.local/busybox:2".to_string(), 4, 4)]
        },
        "rollout did not finish: {:?}",
        rs_sizes(&c, "web")
    );
    let out = c.ok(&["rollout", "status", "deploy/web", "--timeout=20s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let d = json(&c, &["get", "deploy", "web"]);
    let conds = d["status"]["conditions"].as_array().unwrap();
    let reason = |t: &str| conds.iter().find(|c| c["type"] == t).map(|c| c["reason"].clone());
    assert_eq!(reason("Progressing"), Some("NewReplicaSetAvailable".into()));
    assert_eq!(reason("Available"), Some("MinimumReplicasAvailable".into()));
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
}

#[test]
fn kubelet_less_rollout_history_undo_pause_and_resume() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &deployment("web", "ironkube.local/busybox:1", 2));
    complete_rollout(&c, "web");
    c.ok(&["set", "image", "deploy/web", "main=ironkube.local/busybox:2"]);
    complete_rollout(&c, "web");
    let history = c.ok(&["rollout", "history", "deploy/web"]);
    assert!(history.contains("\n1 ") && history.contains("\n2 "), "{history}");
    let rev2 = c.ok(&["rollout", "history", "deploy/web", "--revision=2"]);
    assert!(rev2.contains("ironkube.local/busybox:2"), "{rev2}");

    // Undo: back to image 1, whose ReplicaSet gets the next revision (3).
    c.ok(&["rollout", "undo", "deploy/web"]);
    complete_rollout(&c, "web");
    let image = |c: &Cluster| json(c, &["get", "deploy", "web"])["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    assert_eq!(image(&c), "ironkube.local/busybox:1");
    let rs1 = items(&c, &["get", "rs"]).into_iter().find(|rs| rs["spec"]["template"]["spec"]["containers"][0]["image"] == "ironkube.local/busybox:1").unwrap();
    assert_eq!(rs1["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    assert_eq!(items(&c, &["get", "rs"]).len(), 2, "undo reuses the old ReplicaSet");
    let history = c.ok(&["rollout", "history", "deploy/web"]);
    assert!(history.contains("\n2 ") && history.contains("\n3 ") && !history.contains("\n1 "), "{history}");
    c.ok(&["rollout", "undo", "deploy/web", "--to-revision=2"]);
    complete_rollout(&c, "web");
    assert_eq!(image(&c), "ironkube.local/busybox:2");

    // Pause: template changes make no new ReplicaSet until resumed.
    c.ok(&["rollout", "pause", "deploy/web"]);
    c.ok(&["set", "image", "deploy/web", "main=ironkube.local/busybox:3"]);
    assert_eventually!(
        json(&c, &["get", "deploy", "web"])["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Progressing" && c["reason"] == "DeploymentPaused")),
        "Progressing=DeploymentPaused"
    );
    assert_eq!(items(&c, &["get", "rs"]).len(), 2, "paused: no new ReplicaSet");
    c.ok(&["rollout", "resume", "deploy/web"]);
    assert_eventually!(items(&c, &["get", "rs"]).len() == 3, "resumed: the new ReplicaSet appears");
    complete_rollout(&c, "web");
    let out = c.ok(&["rollout", "status", "deploy/web", "--timeout=20s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
}

#[test]
fn recreate_strategy_replaces_all_pods_at_once() {
    let c = Cluster::start();
    let manifest = deployment("rec", "ironkube.local/busybox:1", 3).replace("  replicas: 3\n", "  replicas: 3\n  strategy: {type: Recreate}\n");
    c.ok_with_input(&["apply", "-f", "-"], &manifest);
    complete_rollout(&c, "rec");
    c.ok(&["set", "image", "deploy/rec", "main=ironkube.local/busybox:2"]);
    complete_rollout(&c, "rec");
    let sizes = rs_sizes(&c, "rec");
    assert_eq!(sizes, [("ironkube.local/busybox:1".to_string(), 0, 0), ("ironkube.local/busybox:2".to_string(), 3, 3)]);
}

#[test]
fn replication_controller_keeps_its_pods() {
    let c = Cluster::start();
    let rc = "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: legacy}\nspec:\n  replicas: 2\n  selector: {app: legacy}\n  template:\n    metadata: {labels: {app: legacy}}\n    spec: {containers: [{name: main, image: ironkube.local/busybox:1}]}\n";
    c.ok_with_input(&["apply", "-f", "-"], rc);
    assert_eventually!(c.pod_names("app=legacy").len() == 2, "2 pods");
    let rc_uid = json(&c, &["get", "rc", "legacy"])["metadata"]["uid"].clone();
    let pods = items(&c, &["get", "pods", "-l", "app=legacy"]);
    assert!(pods.iter().all(|p| p["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController" && p["metadata"]["ownerReferences"][0]["uid"] == rc_uid));
    let victim = c.pod_names("app=legacy")[0].clone();
    c.ok(&["delete", "pod", &victim, "--wait=false"]);
    assert_eventually!(
        {
            let names = c.pod_names("app=legacy");
            names.len() == 2 && !names.contains(&victim)
        },
        "deleted pod replaced: {:?}",
        c.pod_names("app=legacy")
    );
    c.mark_pods_ready(&c.pod_names("app=legacy").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eventually!(json(&c, &["get", "rc", "legacy"])["status"]["readyReplicas"] == 2, "rc readyReplicas");
    let out = c.ok(&["describe", "rc", "legacy"]);
    assert!(out.contains("SuccessfulCreate") && out.contains("replication-controller"), "{out}");
}

#[test]
fn replicaset_adopts_orphans_and_releases_pods_that_stop_matching() {
    let c = Cluster::start();
    c.ok(&["run", "stray", "--image=ironkube.local/busybox:1", "--labels=app=adopt"]);
    let rs = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: adopter}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: adopt}}\n  template:\n    metadata: {labels: {app: adopt}}\n    spec: {containers: [{name: main, image: ironkube.local/busybox:1}]}\n";
    c.ok_with_input(&["apply", "-f", "-"], rs);
    assert_eventually!(json(&c, &["get", "pod", "stray"])["metadata"]["ownerReferences"][0]["name"] == "adopter", "orphan adopted");
    assert_eventually!(c.pod_names("app=adopt").len() == 2, "one pod created besides the adopted one: {:?}", c.pod_names("app=adopt"));
    // Relabel: released, and a replacement is created.
    c.ok(&["label", "pod", "stray", "app=gone", "--overwrite"]);
    assert_eventually!(json(&c, &["get", "pod", "stray"])["metadata"]["ownerReferences"].as_array().is_none_or(|r| r.is_empty()), "released");
    assert_eventually!(c.pod_names("app=adopt").len() == 2 && !c.pod_names("app=adopt").contains(&"stray".to_string()), "replacement created");
}

fn spawn_controllers(c: &Cluster) -> Child {
    Command::new(ironkube_bin())
        .args(["controllers", "--kubeconfig"])
        .arg(&c.kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ironkube controllers")
}

fn lease_holder(c: &Cluster) -> String {
    c.kubectl(&["get", "lease", "-n", "kube-system", "kube-controller-manager", "-o", "jsonpath={.spec.holderIdentity}"]).stdout.iter().map(|&b| b as char).collect()
}

fn event_instances(c: &Cluster, reason: &str) -> Vec<String> {
    items(c, &["get", "events"]).iter().filter(|e| e["reason"] == reason).filter_map(|e| e["reportingInstance"].as_str().map(String::from)).collect()
}

#[test]
fn leader_election_only_one_controller_manager_acts_and_the_standby_takes_over() {
    let c = Cluster::start_apiserver_only();
    let mut first = spawn_controllers(&c);
    assert_eventually!(!lease_holder(&c).is_empty(), "first controller manager holds the lease");
    let leader = lease_holder(&c);
    let mut second = spawn_controllers(&c);
    let rs = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: le}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: le}}\n  template:\n    metadata: {labels: {app: le}}\n    spec: {containers: [{name: main, image: ironkube.local/busybox:1}]}\n";
    c.ok_with_input(&["apply", "-f", "-"], rs);
    assert_eventually!(c.pod_names("app=le").len() == 2, "pods created");
    assert_eventually!(event_instances(&c, "SuccessfulCreate").len() == 2, "two creation events");
    // Only the leader acted: exactly 2 pods (no double creation) and all events are its.
    assert!(event_instances(&c, "SuccessfulCreate").iter().all(|i| *i == leader), "events from {:?}, leader {leader}", event_instances(&c, "SuccessfulCreate"));
    assert_eq!(lease_holder(&c), leader);

    // Stop the leader (SIGTERM releases the lease); the standby takes over and acts.
    let _ = Command::new("kill").args(["-TERM", &first.id().to_string()]).status();
    let _ = first.wait();
    assert_eventually!(!lease_holder(&c).is_empty() && lease_holder(&c) != leader, "standby took the lease (holder {})", lease_holder(&c));
    let successor = lease_holder(&c);
    c.ok(&["scale", "rs", "le", "--replicas=3"]);
    assert_eventually!(c.pod_names("app=le").len() == 3, "successor acts");
    assert_eventually!(event_instances(&c, "SuccessfulCreate").contains(&successor), "successor's event");
    let _ = second.kill();
    let _ = second.wait();
}

#[test]
fn kubelet_less_rollout_without_ready_pods_exceeds_its_progress_deadline() {
    let c = Cluster::start();
    let manifest = deployment("slow", "ironkube.local/busybox:1", 1).replace("  replicas: 1\n", "  replicas: 1\n  progressDeadlineSeconds: 2\n");
    c.ok_with_input(&["apply", "-f", "-"], &manifest);
    let progressing = |c: &Cluster| json(c, &["get", "deploy", "slow"])["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing").cloned());
    assert_eventually!(progressing(&c).is_some_and(|p| p["reason"] == "ProgressDeadlineExceeded" && p["status"] == "False"), "deadline exceeded: {:?}", progressing(&c));
    let out = c.kubectl(&["rollout", "status", "deploy/slow", "--timeout=20s"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exceeded its progress deadline"), "{}", String::from_utf8_lossy(&out.stderr));
    let available = json(&c, &["get", "deploy", "slow"])["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Available").cloned().unwrap();
    assert_eq!(available["reason"], "MinimumReplicasUnavailable");
}
