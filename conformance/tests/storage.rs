//! The embedded store through the API: data survives a restart and `kill -9`, and
//! resourceVersions keep increasing.

use ironkube_conformance::{ApiClient, Cluster};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn max_rv(c: &Cluster) -> u64 {
    c.raw("/api/v1/namespaces/default/configmaps")["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()
}

#[test]
fn objects_survive_a_graceful_restart() {
    let mut c = Cluster::start();
    c.ok(&["create", "configmap", "kept", "--from-literal=a=b"]);
    c.ok(&["create", "ns", "team"]);
    let before = max_rv(&c);
    c.restart();
    assert_eq!(c.ok(&["get", "cm", "kept", "-o", "jsonpath={.data.a}"]), "b");
    c.ok(&["get", "ns", "team"]);
    c.ok(&["create", "configmap", "after"]);
    assert!(max_rv(&c) > before, "resourceVersions went backwards after a restart");
    // Services keep their ClusterIPs, and the allocator knows they are taken.
    c.ok(&["create", "service", "clusterip", "s1", "--tcp=80"]);
    let ip = c.ok(&["get", "svc", "s1", "-o", "jsonpath={.spec.clusterIP}"]);
    c.restart();
    assert_eq!(c.ok(&["get", "svc", "s1", "-o", "jsonpath={.spec.clusterIP}"]), ip);
}

#[test]
fn every_acknowledged_create_survives_sigkill() {
    let mut c = Cluster::start();
    let pki = c.dir.path().join("pki");
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (pki, acked, port) = (pki.clone(), acked.clone(), c.port);
            std::thread::spawn(move || {
                let mut client = ApiClient::connect(port, &pki);
                for i in 0.. {
                    let name = format!("crash-{w}-{i}");
                    let body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"i":"{i}"}}}}"#);
                    match client.try_request("POST", "/api/v1/namespaces/default/configmaps", Some(&body)) {
                        Ok((201, resp)) => {
                            let obj: serde_json::Value = serde_json::from_slice(&resp).unwrap();
                            let rv: u64 = obj["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
                            acked.lock().unwrap().push((name, rv));
                        }
                        Ok((code, _)) => panic!("create failed with {code}"),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Kill once enough writes were acknowledged (a fixed wait gave too few on a loaded machine).
    let deadline = std::time::Instant::now() + ironkube_conformance::patience();
    while acked.lock().unwrap().len() < 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    c.kill();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 20, "too few writes before the kill: {}", acked.len());
    c.restart();
    let list = c.raw("/api/v1/namespaces/default/configmaps");
    let stored: std::collections::HashSet<&str> = list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    let lost: Vec<&String> = acked.iter().map(|(n, _)| n).filter(|n| !stored.contains(n.as_str())).collect();
    assert!(lost.is_empty(), "{} acknowledged creates lost after SIGKILL: {lost:?}", lost.len());
    let newest = acked.iter().map(|(_, rv)| *rv).max().unwrap();
    c.ok(&["create", "configmap", "after-crash"]);
    let rv: u64 = c.ok(&["get", "cm", "after-crash", "-o", "jsonpath={.metadata.resourceVersion}"]).parse().unwrap();
    assert!(rv > newest, "resourceVersion {rv} is not newer than the last acknowledged {newest}");
}
