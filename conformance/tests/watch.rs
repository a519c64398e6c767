//! Watches through stock kubectl: `kubectl get -w` sees every change once, in order,
//! in Table form; raw watches resume from a resourceVersion.

use ironkube_conformance::Cluster;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn kubectl_get_pods_watch_sees_added_modified_deleted_in_order() {
    let c = Cluster::start();
    let mut watcher = Command::new(ironkube_conformance::kubectl_bin())
        .args(["get", "pods", "-w", "--output-watch-events", "--no-headers", "--request-timeout=30s"])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Let the watch establish before changing anything.
    std::thread::sleep(std::time::Duration::from_millis(800));
    // A scheduler name nobody serves: the scheduler's PodScheduled=False update would
    // add a MODIFIED event at a time this test cannot predict.
    c.ok(&["run", "watched", "--image=ironkube.local/busybox", r#"--overrides={"spec":{"schedulerName":"nobody"}}"#, "--", "sleep", "3600"]);
    c.ok(&["label", "pod", "watched", "a=b"]);
    // Never scheduled (no kubelet yet), so upstream deletes it at once.
    c.ok(&["delete", "pod", "watched"]);
    let mut events = Vec::new();
    while events.len() < 3 {
        let line = rx.recv_timeout(ironkube_conformance::patience()).expect("watch event");
        let cols: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        if cols.get(1).map(String::as_str) == Some("watched") {
            events.push(cols[0].clone());
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert_eq!(events, vec!["ADDED", "MODIFIED", "DELETED"]);
    assert!(rx.recv_timeout(std::time::Duration::from_millis(300)).is_err(), "an event was repeated");
}

#[test]
fn raw_watch_from_a_resource_version_replays_later_changes() {
    let c = Cluster::start();
    c.wait_for_root_ca("default");
    c.ok(&["create", "configmap", "first"]);
    let rv = c.raw("/api/v1/namespaces/default/configmaps")["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    c.ok(&["create", "configmap", "second"]);
    c.ok(&["delete", "configmap", "first"]);
    let out = c.ok(&["get", "--raw", &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1")]);
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_string(), e["object"]["metadata"]["name"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(summary, vec![("ADDED".into(), "second".into()), ("DELETED".into(), "first".into())]);
}

#[test]
fn watch_list_sends_initial_events_and_a_bookmark() {
    let c = Cluster::start();
    c.ok(&["create", "configmap", "present"]);
    let out = c.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
    ]);
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events[0]["type"], "ADDED");
    let bookmark = events.iter().find(|e| e["type"] == "BOOKMARK").expect("bookmark");
    assert_eq!(bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
}
