//! The watch cache seen from clients: many watchers each get every change once and in
//! order, reads right after a write see it, paged lists stay a snapshot while objects
//! change, GET honours resourceVersion, and `--watch-cache=false` serves the same API.

use futures::StreamExt;
use ironkube_conformance::{ApiClient, Cluster};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

async fn client(c: &Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(&c.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({ "metadata": { "name": name }, "data": { "k": value } })).unwrap()
}

fn api(c: &Cluster) -> ApiClient {
    ApiClient::connect(c.port, &c.dir.path().join("pki"))
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn names(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()).collect()
}

fn create(client: &mut ApiClient, ns: &str, name: &str, value: &str) -> String {
    let body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"k":"{value}"}}}}"#);
    let (code, out) = client.request("POST", &format!("/api/v1/namespaces/{ns}/configmaps"), Some(&body));
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&out));
    json(&out)["metadata"]["resourceVersion"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_watchers_each_see_every_change_once_in_order() {
    let c = Cluster::start();
    c.wait_for_root_ca("default");
    let client = client(&c).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let start = cms.list(&Default::default()).await.unwrap().metadata.resource_version.unwrap();
    let mut streams = Vec::new();
    for _ in 0..100 {
        streams.push(cms.watch(&WatchParams::default(), &start).await.unwrap_or_else(|e| panic!("watch {}: {e}", streams.len())).boxed());
    }
    cms.create(&PostParams::default(), &cm("fan", "1")).await.unwrap();
    cms.replace("fan", &PostParams::default(), &{
        let mut o = cms.get("fan").await.unwrap();
        o.data = Some([("k".to_string(), "2".to_string())].into());
        o
    })
    .await
    .unwrap();
    cms.delete("fan", &Default::default()).await.unwrap();
    for (i, stream) in streams.iter_mut().enumerate() {
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let event = tokio::time::timeout(ironkube_conformance::patience(), stream.next())
                .await
                .unwrap_or_else(|_| panic!("watcher {i} stalled after {seen:?}"))
                .expect("stream open")
                .expect("event");
            match event {
                WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.data.unwrap()["k"])),
                WatchEvent::Modified(o) => seen.push(format!("MODIFIED {}", o.data.unwrap()["k"])),
                WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.data.unwrap()["k"])),
                WatchEvent::Bookmark(_) => {}
                WatchEvent::Error(e) => panic!("watcher {i}: {e:?}"),
            }
        }
        assert_eq!(seen, ["ADDED 1", "MODIFIED 2", "DELETED 2"], "watcher {i}");
    }
}

#[test]
fn a_list_right_after_a_write_contains_it() {
    let c = Cluster::start();
    let mut client = api(&c);
    for i in 0..100 {
        let rv = create(&mut client, "default", &format!("c{i}"), "v");
        let (code, out) = client.request("GET", "/api/v1/namespaces/default/configmaps", None);
        assert_eq!(code, 200);
        let list = json(&out);
        assert!(names(&list).contains(&format!("c{i}")), "write {i} missing from the next list");
        let list_rv: i64 = list["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
        assert!(list_rv >= rv.parse().unwrap(), "list at {list_rv} is older than the write at {rv}");
    }
}

#[test]
fn paged_lists_stay_a_snapshot_while_objects_change() {
    let c = Cluster::start();
    let mut client = api(&c);
    c.ok(&["create", "namespace", "paged"]);
    c.wait_for_root_ca("paged");
    for i in 0..5 {
        create(&mut client, "paged", &format!("p{i}"), "old");
    }
    let (code, out) = client.request("GET", "/api/v1/namespaces/paged/configmaps?limit=3", None);
    assert_eq!(code, 200);
    let first = json(&out);
    assert_eq!(names(&first), ["kube-root-ca.crt", "p0", "p1"]);
    assert_eq!(first["metadata"]["remainingItemCount"], 3);
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    // Change the collection between pages.
    create(&mut client, "paged", "p2a", "new");
    c.ok(&["delete", "configmap", "-n", "paged", "p3"]);
    c.ok(&["patch", "configmap", "-n", "paged", "p4", "-p", r#"{"data":{"k":"new"}}"#]);
    let (code, out) = client.request("GET", &format!("/api/v1/namespaces/paged/configmaps?limit=2&continue={token}"), None);
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&out));
    let second = json(&out);
    assert_eq!(names(&second), ["p2", "p3"], "the second page is not the first page's snapshot");
    assert_eq!(second["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"]);
    let token = second["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, out) = client.request("GET", &format!("/api/v1/namespaces/paged/configmaps?limit=2&continue={token}"), None);
    let third = json(&out);
    assert_eq!(names(&third), ["p4"]);
    assert_eq!(third["items"][0]["data"]["k"], "old");
    assert!(third["metadata"].get("continue").is_none());
    // A fresh list sees the new state.
    let (_, out) = client.request("GET", "/api/v1/namespaces/paged/configmaps?limit=10", None);
    assert_eq!(names(&json(&out)), ["kube-root-ca.crt", "p0", "p1", "p2", "p2a", "p4"]);
}

#[test]
fn list_selectors_and_limits_are_applied_to_cached_objects() {
    let c = Cluster::start();
    let mut client = api(&c);
    for i in 0..6 {
        let body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"s{i}","labels":{{"even":"{}"}}}}}}"#, i % 2 == 0);
        let (code, _) = client.request("POST", "/api/v1/namespaces/default/configmaps", Some(&body));
        assert_eq!(code, 201);
    }
    for rv in ["", "0"] {
        let (code, out) = client.request("GET", &format!("/api/v1/namespaces/default/configmaps?labelSelector=even%3Dtrue&resourceVersion={rv}"), None);
        assert_eq!(code, 200);
        let found: Vec<String> = names(&json(&out)).into_iter().filter(|n| n.starts_with('s')).collect();
        assert_eq!(found, ["s0", "s2", "s4"], "resourceVersion={rv:?}");
    }
    let (_, out) = client.request("GET", "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Ds3", None);
    assert_eq!(names(&json(&out)), ["s3"]);
}

#[test]
fn get_honours_resource_version() {
    let c = Cluster::start();
    let mut client = api(&c);
    let rv = create(&mut client, "default", "g", "one");
    // Not older than the write: must show it at once.
    let (code, out) = client.request("GET", &format!("/api/v1/namespaces/default/configmaps/g?resourceVersion={rv}"), None);
    assert_eq!(code, 200);
    let got = json(&out);
    assert_eq!((got["kind"].as_str(), got["metadata"]["resourceVersion"].as_str()), (Some("ConfigMap"), Some(rv.as_str())));
    // Any version: the cache answers, eventually with the object.
    ironkube_conformance::assert_eventually!(client.request("GET", "/api/v1/namespaces/default/configmaps/g?resourceVersion=0", None).0 == 200, "resourceVersion=0 GET never found the object");
    let (code, out) = client.request("GET", "/api/v1/namespaces/default/configmaps/missing?resourceVersion=0", None);
    assert_eq!((code, json(&out)["reason"].as_str()), (404, Some("NotFound")));
    let (code, _) = client.request("GET", "/api/v1/namespaces/default/configmaps/g?resourceVersion=abc", None);
    assert_eq!(code, 400);
}

#[test]
fn without_the_watch_cache_the_api_behaves_the_same() {
    let c = Cluster::start_with(&["--watch-cache=false"]);
    c.wait_for_root_ca("default");
    let mut client = api(&c);
    let rv = create(&mut client, "default", "first", "v");
    create(&mut client, "default", "second", "v");
    let out = c.ok(&["get", "--raw", &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1")]);
    let events: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 1, "{out}");
    assert_eq!((events[0]["type"].as_str(), events[0]["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("second")));
    assert_eq!(events[0]["object"]["kind"], "ConfigMap");
    let (_, out) = client.request("GET", "/api/v1/namespaces/default/configmaps?limit=1", None);
    assert_eq!(names(&json(&out)), ["first"]);
}

#[test]
fn raw_watch_events_are_complete_objects() {
    let c = Cluster::start();
    c.wait_for_root_ca("default");
    let mut client = api(&c);
    let rv = create(&mut client, "default", "before", "v");
    create(&mut client, "default", "w", "v");
    c.ok(&["delete", "configmap", "w"]);
    let out = c.ok(&["get", "--raw", &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1")]);
    let events: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ADDED", "DELETED"]);
    for e in &events {
        let o = &e["object"];
        assert_eq!((o["apiVersion"].as_str(), o["kind"].as_str(), o["data"]["k"].as_str()), (Some("v1"), Some("ConfigMap"), Some("v")));
        assert!(o["metadata"]["uid"].is_string() && o["metadata"]["resourceVersion"].is_string());
    }
    // The deletion is reported at its own revision, after the creation's.
    let rv_of = |e: &Value| e["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse::<i64>().unwrap();
    assert!(rv_of(&events[1]) > rv_of(&events[0]));
}
