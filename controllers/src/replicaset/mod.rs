//! ReplicaSet and ReplicationController controller (upstream `pkg/controller/replicaset`):
//! keeps `spec.replicas` active pods matching the selector, adopting orphans and releasing
//! pods that stop matching, and reports `status` (replicas, fullyLabeledReplicas,
//! readyReplicas, availableReplicas, observedGeneration, ReplicaFailure condition).

use crate::cached_pod::CachedPod;
use k8s_openapi::api::core::v1::Pod;
mod kinds;
mod plan;

pub use kinds::{Replicated, matches};
pub use plan::ReplicaStatus;

use crate::expectations::Seen;
use crate::ownership;
use crate::pods::{self, Availability};
use crate::error::is_code;
use crate::pod_control::PodControl;
use crate::{Context, Error};
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;
use std::sync::Arc;
use std::time::Duration;

/// Most pods created or deleted in one sync (upstream `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

struct Ctx<K: Replicated> {
    shared: Arc<Context>,
    recorder: crate::events::EventRecorder,
    _kind: std::marker::PhantomData<K>,
}

/// Runs the controller for kind `K` (ReplicaSet or ReplicationController).
pub async fn run<K: Replicated>(ctx: Arc<Context>) {
    ctx.wait_for_sync().await;
    let pods = ctx.pods.subscribe();
    let controller = K::controller(&ctx).with_config(crate::workers::workers(crate::workers::FIVE));
    let owners = controller.store();
    let state = Arc::new(Ctx { recorder: ctx.recorder(K::CONTROLLER), shared: ctx.clone(), _kind: std::marker::PhantomData });
    controller
        .watches_shared_stream(pods, move |pod: Arc<CachedPod>| owners_of(&owners, &pod))
        .run(reconcile, error_policy, state)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn owners_of<K: Replicated>(owners: &Store<K>, pod: &CachedPod) -> Vec<ObjectRef<K>> {
    ownership::owners_of_pod(owners, pod, K::selector)
}

fn key<K: Replicated>(obj: &K) -> String {
    format!("{}/{}/{}", K::kind(&()), obj.namespace().unwrap_or_default(), obj.name_any())
}

fn error_policy<K: Replicated>(obj: Arc<K>, err: &Error, _: Arc<Ctx<K>>) -> Action {
    match err {
        Error::Api(e) if is_code(e, 409) => tracing::debug!(kind = %K::kind(&()), name = %obj.name_any(), error = %err, "conflict; retrying"),
        _ => tracing::warn!(kind = %K::kind(&()), name = %obj.name_any(), error = %err, "sync failed"),
    }
    match err {
        Error::Invalid { .. } => Action::await_change(),
        _ => Action::requeue(Duration::from_secs(1)),
    }
}

async fn reconcile<K: Replicated>(owner: Arc<K>, ctx: Arc<Ctx<K>>) -> Result<Action, Error> {
    let key = key(owner.as_ref());
    if owner.meta().deletion_timestamp.is_some() {
        ctx.shared.pod_expectations.forget(&key);
        return Ok(Action::await_change());
    }
    let ns = owner.namespace().unwrap_or_default();
    let invalid = |message: &str| Error::Invalid { kind: "ReplicaSet", name: format!("{ns}/{}", owner.name_any()), message: message.into() };
    let selector = owner.selector().ok_or_else(|| invalid("invalid or empty selector"))?;
    let pods_api: Api<Pod> = Api::namespaced(ctx.shared.client.clone(), &ns);

    let store = ctx.shared.pods.store();
    let owned = ownership::claim_pods(&store, &ctx.shared.client, owner.as_ref(), &selector, false).await?;
    let active: Vec<&CachedPod> = owned.iter().map(Arc::as_ref).filter(|p| pods::is_active(p)).collect();

    let seen = |name: &str| match store.get(&ObjectRef::new(name).within(&ns)) {
        None => Seen::Absent,
        Some(p) if p.metadata.deletion_timestamp.is_some() => Seen::Terminating,
        Some(_) => Seen::Present,
    };
    let want = usize::try_from(owner.replicas().max(0)).unwrap_or(0);
    let manage_result = if ctx.shared.pod_expectations.satisfied(&key, seen) {
        manage_replicas(owner.as_ref(), &active, &pods_api, &ctx, &key).await
    } else {
        Ok(())
    };
    let failure = manage_result.as_ref().err().map(|e| (if active.len() < want { "FailedCreate" } else { "FailedDelete" }, e.to_string()));

    let now = jiff::Timestamp::now();
    let min_ready = owner.min_ready_seconds();
    let status = ReplicaStatus::calculate(owner.as_ref(), &active, now, failure);
    let current = owner.status_value();
    if status.differs_from(&current) {
        let patch = serde_json::json!({ "status": status.to_json(&current) });
        let api: Api<K> = Api::namespaced(ctx.shared.client.clone(), &ns);
        match api.patch_status(&owner.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {}
            Err(e) if is_code(&e, 404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    manage_result?;
    // Requeue when a ready pod becomes available (minReadySeconds).
    let next = active.iter().filter_map(|p| match pods::availability(p, min_ready, now) {
        Availability::After(d) => Some(d),
        _ => None,
    });
    Ok(match next.min() {
        Some(d) => Action::requeue(d + Duration::from_millis(100)),
        None => Action::await_change(),
    })
}

/// Creates or deletes pods so `spec.replicas` are active (upstream `manageReplicas`).
async fn manage_replicas<K: Replicated>(owner: &K, active: &[&CachedPod], pods_api: &Api<Pod>, ctx: &Ctx<K>, key: &str) -> Result<(), Error> {
    let want = usize::try_from(owner.replicas().max(0)).unwrap_or(0);
    let control = PodControl { api: pods_api, recorder: &ctx.recorder, expectations: &ctx.shared.pod_expectations, key };
    if active.len() < want {
        let count = (want - active.len()).min(BURST_REPLICAS);
        let template = owner.template().ok_or_else(|| Error::Invalid { kind: "ReplicaSet", name: owner.name_any(), message: "no pod template".into() })?;
        let pod = pods::from_template(template, &owner.namespace().unwrap_or_default(), &owner.name_any(), ownership::controller_ref(owner));
        control.create(owner, vec![pod; count]).await?;
    } else if active.len() > want {
        let count = (active.len() - want).min(BURST_REPLICAS);
        let mut ranked = active.to_vec();
        pods::sort_for_deletion(&mut ranked);
        let victims: Vec<String> = ranked[..count].iter().map(|p| p.name_any()).collect();
        control.delete(owner, &victims).await?;
    }
    Ok(())
}

