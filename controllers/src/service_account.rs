//! ServiceAccount controller (upstream `pkg/controller/serviceaccount/serviceaccounts_controller.go`):
//! every active namespace has a `default` ServiceAccount, created when the namespace
//! appears and again whenever it is deleted.

use crate::context::Context;
use crate::error::{is_conflict, retry_soon, Error};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use std::sync::Arc;

/// The accounts every namespace gets (upstream `--service-account-names`, default `default`).
const ACCOUNTS: &[&str] = &["default"];

struct State {
    ctx: Arc<Context>,
    accounts: Store<ServiceAccount>,
}

/// Runs the controller until its watches end.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    let client = ctx.client.clone();
    let (accounts, writer) = reflector::store();
    let account_events = watcher(Api::<ServiceAccount>::all(client.clone()), watcher::Config::default().fields("metadata.name=default"))
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    Controller::new(Api::<Namespace>::all(client), watcher::Config::default())
        .with_config(crate::workers::workers(crate::workers::ONE))
        .watches_stream(account_events, |sa: ServiceAccount| sa.namespace().map(|ns| ObjectRef::new(&ns)))
        .run(reconcile, retry_soon, Arc::new(State { ctx, accounts }))
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

async fn reconcile(ns: Arc<Namespace>, state: Arc<State>) -> Result<Action, Error> {
    let terminating = ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
    if terminating {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api: Api<ServiceAccount> = Api::namespaced(state.ctx.client.clone(), &name);
    for account in ACCOUNTS {
        if state.accounts.get(&ObjectRef::new(account).within(&name)).is_some() {
            continue;
        }
        let sa = ServiceAccount { metadata: ObjectMeta { name: Some(account.to_string()), ..Default::default() }, ..Default::default() };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => {}
            Err(e) if is_conflict(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::await_change())
}
