//! Root CA publisher (upstream `pkg/controller/certificates/rootcacertpublisher`): every
//! active namespace has a `kube-root-ca.crt` ConfigMap holding the cluster CA as `ca.crt`,
//! which the service-account token volume projects into pods. Recreated when deleted and
//! put back when edited.

use crate::context::Context;
use crate::error::{is_code, is_conflict, is_not_found, retry_soon, Error};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The ConfigMap's name.
pub const CONFIG_MAP_NAME: &str = "kube-root-ca.crt";
const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

struct State {
    ctx: Arc<Context>,
    config_maps: Store<ConfigMap>,
    root_ca: String,
}

/// Runs the publisher until its watches end; without a CA (`Config::root_ca`) it has
/// nothing to publish and returns at once.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    let Some(root_ca) = ctx.config.root_ca.clone() else {
        tracing::warn!("no root CA configured: kube-root-ca.crt ConfigMaps are not published");
        futures::future::pending::<()>().await;
        return Ok(());
    };
    let client = ctx.client.clone();
    let (config_maps, writer) = reflector::store();
    let events = watcher(Api::<ConfigMap>::all(client.clone()), watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP_NAME}")))
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    Controller::new(Api::<Namespace>::all(client), watcher::Config::default())
        .with_config(crate::workers::workers(crate::workers::ONE))
        .watches_stream(events, |cm: ConfigMap| cm.namespace().map(|ns| ObjectRef::new(&ns)))
        .run(reconcile, retry_soon, Arc::new(State { ctx, config_maps, root_ca }))
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn wanted_data(root_ca: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("ca.crt".to_string(), root_ca.to_string())])
}

async fn reconcile(ns: Arc<Namespace>, state: Arc<State>) -> Result<Action, Error> {
    let terminating = ns.metadata.deletion_timestamp.is_some() || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
    if terminating {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api: Api<ConfigMap> = Api::namespaced(state.ctx.client.clone(), &name);
    let data = wanted_data(&state.root_ca);
    let Some(current) = state.config_maps.get(&ObjectRef::new(CONFIG_MAP_NAME).within(&name)) else {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(CONFIG_MAP_NAME.into()),
                annotations: Some(BTreeMap::from([(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string())])),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        return match api.create(&PostParams::default(), &cm).await {
            // Gone or terminating namespaces need no CA; an existing one is reconciled
            // when the watch reports it.
            Err(e) if is_conflict(&e) || is_not_found(&e) || is_code(&e, 403) => Ok(Action::await_change()),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(Action::await_change()),
        };
    };
    let described = current.annotations().get(DESCRIPTION_ANNOTATION).is_some_and(|d| !d.is_empty());
    if current.data.as_ref() == Some(&data) && described {
        return Ok(Action::await_change());
    }
    let mut cm = (*current).clone();
    cm.data = Some(data);
    cm.annotations_mut().entry(DESCRIPTION_ANNOTATION.to_string()).or_insert_with(|| DESCRIPTION.to_string());
    match api.replace(CONFIG_MAP_NAME, &PostParams::default(), &cm).await {
        Ok(_) => Ok(Action::await_change()),
        Err(e) if is_conflict(&e) || is_not_found(&e) => Ok(Action::requeue(std::time::Duration::from_secs(1))),
        Err(e) => Err(e.into()),
    }
}
