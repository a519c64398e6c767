//! kube-rs (the Rust client our own controllers use) against a real server: typed CRUD,
//! and a `watcher` that survives a server restart and resumes from its resourceVersion.

use futures::StreamExt;
use ironkube_conformance::Cluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use std::time::Duration;

async fn client(c: &Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(&c.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({ "metadata": { "name": name }, "data": { "k": "v" } })).unwrap()
}

/// Next event naming `name`, skipping others; `None` on timeout.
async fn next_named(events: &mut (impl futures::Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Unpin), name: &str, seen: &mut Vec<String>) -> Option<&'static str> {
    let deadline = tokio::time::Instant::now() + ironkube_conformance::patience();
    loop {
        let event = tokio::time::timeout_at(deadline, events.next()).await.ok()??;
        let (label, obj) = match event {
            Ok(Event::Apply(o)) => ("Apply", Some(o)),
            Ok(Event::Delete(o)) => ("Delete", Some(o)),
            Ok(Event::InitApply(o)) => ("InitApply", Some(o)),
            Ok(Event::Init) => ("Init", None),
            Ok(Event::InitDone) => ("InitDone", None),
            Err(_) => ("Error", None),
        };
        seen.push(format!("{label} {}", obj.as_ref().and_then(|o| o.metadata.name.clone()).unwrap_or_default()));
        if obj.and_then(|o| o.metadata.name) == Some(name.to_string()) {
            return Some(label);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_survives_a_restart_and_resumes_from_its_resource_version() {
    let mut c = Cluster::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&c).await, "default");
    api.create(&PostParams::default(), &cm("before")).await.unwrap();
    let mut events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    let mut seen = Vec::new();
    assert_eq!(next_named(&mut events, "before", &mut seen).await, Some("InitApply"), "{seen:?}");
    api.create(&PostParams::default(), &cm("live")).await.unwrap();
    assert_eq!(next_named(&mut events, "live", &mut seen).await, Some("Apply"), "{seen:?}");

    // Restart on the same data directory and port; the watcher reconnects by itself.
    tokio::task::block_in_place(|| c.restart());
    let api: Api<ConfigMap> = Api::namespaced(client(&c).await, "default");
    let mut created = false;
    for _ in 0..50 {
        if api.create(&PostParams::default(), &cm("after")).await.is_ok() {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(created, "could not write after the restart");
    // Resumed from its resourceVersion: the new object arrives as a plain Apply, with no
    // relist (a relist would replay `before` and `live` as InitApply first).
    seen.clear();
    assert_eq!(next_named(&mut events, "after", &mut seen).await, Some("Apply"), "{seen:?}");
    assert!(!seen.iter().any(|e| e.starts_with("Init")), "the watcher relisted: {seen:?}");
    // Everything written before the restart is still there.
    assert!(api.get("before").await.is_ok() && api.get("live").await.is_ok());
}
