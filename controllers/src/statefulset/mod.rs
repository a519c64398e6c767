//! StatefulSet controller (upstream `pkg/controller/statefulset`): pods `<set>-<ordinal>`
//! with stable identity and claims from `volumeClaimTemplates`, created in order and each
//! only once its predecessors are Running and Ready (`OrderedReady`) or all at once
//! (`Parallel`), scaled down from the highest ordinal, updated through ControllerRevisions
//! (`RollingUpdate` with partition and maxUnavailable, or `OnDelete`), with the
//! `persistentVolumeClaimRetentionPolicy` applied through owner references.
//!
//! Decisions live in [`identity`] (names, labels, storage, claim owners) and [`plan`]
//! (pod states, counts, rolling update); this file reads the stores and talks to the API.

use crate::cached_pod::{self, CachedPod};
pub mod identity;
pub mod plan;

use crate::error::{api_message, is_code};
use crate::history::{self, History};
use crate::{Context, Error, ownership};
use futures::StreamExt;
use identity::{claims, in_range, is_member, ordinal, pod_revision};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::Selector;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::ResourceExt;
use plan::{is_finished, is_healthy, is_pending, is_running_and_available, is_running_and_ready, is_terminating};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// `reportingController` of the Events.
const COMPONENT: &str = "statefulset-controller";

struct State {
    shared: Arc<Context>,
    recorder: crate::events::EventRecorder,
    history: History,
}

/// Runs the StatefulSet controller.
pub async fn run(ctx: Arc<Context>) {
    let pods = ctx.pods.subscribe();
    let controller = Controller::new(Api::<StatefulSet>::all(ctx.client.clone()), watcher::Config::default()).with_config(crate::workers::workers(crate::workers::FIVE));
    let sets = controller.store();
    let state = Arc::new(State { recorder: ctx.recorder(COMPONENT), history: History::new(&ctx), shared: ctx.clone() });
    // Decisions need complete stores (a missing pod would be created twice).
    ctx.wait_for_sync().await;
    controller
        .watches_shared_stream(pods, move |pod: Arc<CachedPod>| sets_of_pod(&sets, &pod))
        .run(reconcile, error_policy, state)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn selector(set: &StatefulSet) -> Option<Selector> {
    let s: Selector = set.spec.as_ref()?.selector.clone().try_into().ok()?;
    (!s.selects_all()).then_some(s)
}

fn labels_match(selector: &Selector, labels: Option<&BTreeMap<String, String>>) -> bool {
    crate::replicaset::matches(selector, labels)
}

/// The set controlling a pod, or for an orphan the sets that would adopt it.
fn sets_of_pod(sets: &Store<StatefulSet>, pod: &CachedPod) -> Vec<ObjectRef<StatefulSet>> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    if let Some(r) = ownership::controller_of(pod) {
        return if r.kind == "StatefulSet" { vec![ObjectRef::new(&r.name).within(&ns)] } else { vec![] };
    }
    sets.state()
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(&ns) && is_member(s, pod) && selector(s).is_some_and(|sel| labels_match(&sel, pod.metadata.labels.as_ref())))
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

fn error_policy(set: Arc<StatefulSet>, err: &Error, _: Arc<State>) -> Action {
    match err {
        Error::Api(e) if is_code(e, 409) => tracing::debug!(statefulset = %set.name_any(), error = %err, "conflict; retrying"),
        _ => tracing::warn!(statefulset = %set.name_any(), error = %err, "sync failed"),
    }
    match err {
        Error::Invalid { .. } => Action::await_change(),
        _ => Action::requeue(Duration::from_secs(1)),
    }
}


async fn reconcile(set: Arc<StatefulSet>, state: Arc<State>) -> Result<Action, Error> {
    let ns = set.namespace().unwrap_or_default();
    let Some(sel) = selector(&set) else {
        state.recorder.warning(set.as_ref(), "SelectingAll", "This statefulset is selecting all pods. A non-empty selector is required.".into());
        return Ok(Action::await_change());
    };
    let pods_api: Api<Pod> = Api::namespaced(state.shared.client.clone(), &ns);
    let candidates = state.shared.pods.store().state().into_iter().filter(|p| p.metadata.namespace.as_deref() == Some(&ns));
    let pods = ownership::claim_all(&Api::namespaced(state.shared.client.clone(), &ns), candidates, set.as_ref(), |p| is_member(&set, p) && labels_match(&sel, p.metadata.labels.as_ref())).await?;
    let revisions = state.history.claim(set.as_ref(), &sel).await?;

    let mut sync = Sync::new(set.clone(), &state, pods_api);
    let (current, update, collision_count) = sync.revisions(&revisions).await?;
    let result = sync.update(&pods, &current, &update).await;
    let mut status = sync.status(&current, &update, collision_count);
    complete_rolling_update(&set, &mut status);
    sync.write_status(&status).await?;
    result?;

    // Keep revisionHistoryLimit revisions besides those in use (upstream truncateHistory).
    let mut revisions = state.history.claim(set.as_ref(), &sel).await?;
    history::sort(&mut revisions);
    let live = |r: &ControllerRevision| {
        let name = r.name_any();
        name == current.name_any() || name == update.name_any() || pods.iter().any(|p| pod_revision(p) == Some(name.as_str()))
    };
    let limit = set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
    for r in history::excess(&revisions, limit, live) {
        state.history.delete(r).await?;
    }

    let min_ready = set.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
    if min_ready > 0 && status.counts.available != identity::replicas(&set) {
        return Ok(Action::requeue(Duration::from_secs(u64::try_from(min_ready).unwrap_or(1))));
    }
    Ok(Action::await_change())
}

/// What the status will say.
struct SetStatus {
    counts: plan::Counts,
    current_revision: String,
    update_revision: String,
    collision_count: i32,
    observed_generation: i64,
}

/// Upstream `completeRollingUpdate`: once every pod is updated and ready, the update
/// revision becomes the current one.
fn complete_rolling_update(set: &StatefulSet, status: &mut SetStatus) {
    let rolling = update_strategy(set) == "RollingUpdate";
    let c = &status.counts;
    if rolling && c.updated == c.replicas && c.ready == c.replicas {
        status.counts.current = status.counts.updated;
        status.current_revision = status.update_revision.clone();
    }
}

fn update_strategy(set: &StatefulSet) -> &str {
    set.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref()).unwrap_or("RollingUpdate")
}

/// One sync of one StatefulSet: the replicas in ordinal order (placeholders for missing
/// ones) and the condemned pods above the range.
struct Sync<'a> {
    set: Arc<StatefulSet>,
    state: &'a State,
    pods_api: Api<Pod>,
    replicas: Vec<CachedPod>,
    /// For each replica not created yet, the pod to create (its cached form is a
    /// placeholder in `replicas`).
    to_create: Vec<Option<Pod>>,
    condemned: Vec<CachedPod>,
    now: Timestamp,
}

impl<'a> Sync<'a> {
    fn new(set: Arc<StatefulSet>, state: &'a State, pods_api: Api<Pod>) -> Self {
        Sync { set, state, pods_api, replicas: Vec::new(), to_create: Vec::new(), condemned: Vec::new(), now: Timestamp::now() }
    }

    fn min_ready(&self) -> i32 {
        self.set.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }

    /// Upstream `getStatefulSetRevisions`: the current and update revisions (creating or
    /// renumbering the update one) and the collision count.
    async fn revisions(&self, revisions: &[ControllerRevision]) -> Result<(ControllerRevision, ControllerRevision, i32), Error> {
        let set = self.set.as_ref();
        let mut collision_count = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
        let template = set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
        let candidate = history::new_revision(set, &template, history::next_revision(revisions));
        let equal: Vec<&ControllerRevision> = revisions.iter().filter(|r| history::equal(r, &candidate)).collect();
        let update = match (equal.last(), revisions.last()) {
            // Unchanged since the newest revision.
            (Some(eq), Some(last)) if history::equal(eq, last) => last.clone(),
            // Back to an earlier template (rollout undo): that revision becomes the newest.
            (Some(eq), _) => self.state.history.renumber(eq, candidate.revision).await?,
            (None, _) => {
                let data = candidate.data.clone().map(|d| d.0).unwrap_or_default();
                let name = set.name_any();
                let identity = |count| {
                    let hash = history::hash(&data, Some(count));
                    (history::revision_name(&name, &hash), (history::HASH_LABEL, hash))
                };
                self.state.history.create(candidate, &mut collision_count, identity).await?
            }
        };
        let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone()).unwrap_or_default();
        let current = revisions.iter().find(|r| r.name_any() == current_name).cloned().unwrap_or_else(|| update.clone());
        Ok((current, update, collision_count))
    }

    fn status(&self, current: &ControllerRevision, update: &ControllerRevision, collision_count: i32) -> SetStatus {
        let counts = plan::count(self.replicas.iter().chain(&self.condemned), self.min_ready(), &current.name_any(), &update.name_any(), self.now);
        SetStatus {
            counts,
            current_revision: current.name_any(),
            update_revision: update.name_any(),
            collision_count,
            observed_generation: self.set.metadata.generation.unwrap_or(0),
        }
    }

    async fn write_status(&self, s: &SetStatus) -> Result<(), Error> {
        let opt = |n: i32| if n == 0 { Value::Null } else { json!(n) };
        let want = json!({
            "observedGeneration": s.observed_generation,
            "replicas": s.counts.replicas,
            "readyReplicas": opt(s.counts.ready),
            "currentReplicas": opt(s.counts.current),
            "updatedReplicas": opt(s.counts.updated),
            "availableReplicas": s.counts.available,
            "currentRevision": s.current_revision,
            "updateRevision": s.update_revision,
            "collisionCount": s.collision_count,
        });
        let current = serde_json::to_value(&self.set.status).unwrap_or_default();
        let changed = want.as_object().into_iter().flatten().any(|(k, v)| current.get(k).unwrap_or(&Value::Null) != v);
        if !changed {
            return Ok(());
        }
        let api: Api<StatefulSet> = Api::namespaced(self.state.shared.client.clone(), &self.set.namespace().unwrap_or_default());
        match api.patch_status(&self.set.name_any(), &PatchParams::default(), &Patch::Merge(&json!({"status": want}))).await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, 404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Upstream `updateStatefulSet`: sorts pods into replicas and condemned, then creates,
    /// replaces, deletes and updates them one step at a time (OrderedReady) or all at once.
    async fn update(&mut self, pods: &[CachedPod], current: &ControllerRevision, update: &ControllerRevision) -> Result<(), Error> {
        let set = self.set.clone();
        let start = identity::start_ordinal(&set);
        let count = usize::try_from(identity::replicas(&set)).unwrap_or(0);
        let mut slots: Vec<Option<CachedPod>> = vec![None; count];
        let mut condemned = Vec::new();
        for pod in pods {
            match ordinal(pod) {
                Some(o) if in_range(&set, o) => slots[usize::try_from(o - start).unwrap_or(0)] = Some(pod.clone()),
                Some(_) => condemned.push(pod.clone()),
                None => {}
            }
        }
        let current_set = with_template(&set, current);
        let update_set = with_template(&set, update);
        let rolling = update_strategy(&set) == "RollingUpdate";
        let rolling_update = set.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.rolling_update.as_ref());
        let partition = rolling_update.map(|r| r.partition.unwrap_or(0));
        let current_replicas = set.status.as_ref().and_then(|s| s.current_replicas).unwrap_or(0);
        (self.replicas, self.to_create) = slots
            .into_iter()
            .enumerate()
            .map(|(i, slot)| match slot {
                Some(pod) => (pod, None),
                None => {
                    let ord = start + i32::try_from(i).unwrap_or(0);
                    let new = if plan::new_pod_at_current(rolling, partition, current_replicas, start, ord) {
                        identity::new_pod(&current_set, ord, &current.name_any())
                    } else {
                        identity::new_pod(&update_set, ord, &update.name_any())
                    };
                    (cached_pod::from_pod(&new), Some(new))
                }
            })
            .unzip();
        condemned.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));
        self.condemned = condemned;
        // The first unhealthy pod: replicas in order, then condemned from the lowest ordinal.
        let first_unhealthy = self.replicas.iter().chain(self.condemned.iter().rev()).find(|p| !is_healthy(p)).and_then(|p| p.metadata.name.clone());

        if set.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let monotonic = set.spec.as_ref().and_then(|s| s.pod_management_policy.as_deref()) != Some("Parallel");

        for i in 0..self.replicas.len() {
            if self.process_replica(&update_set, monotonic, i).await? && monotonic {
                return Ok(());
            }
        }
        for i in 0..self.condemned.len() {
            let pod = self.condemned[i].clone();
            self.sync_claim_owners(&update_set, &pod).await?;
        }
        for i in 0..self.condemned.len() {
            if self.process_condemned(first_unhealthy.as_deref(), monotonic, i).await? && monotonic {
                return Ok(());
            }
        }
        if !rolling {
            return Ok(());
        }
        // RollingUpdate: replace pods not at the update revision, highest ordinal first.
        let max_unavailable = rolling_update
            .and_then(|r| r.max_unavailable.as_ref())
            .map(|v| crate::deployment::scaled_value(v, identity::replicas(&set), false))
            .transpose()
            .map_err(|message| Error::Invalid { kind: "StatefulSet", name: set.name_any(), message })?
            .unwrap_or(1)
            .max(1);
        let victims = plan::rolling_update_victims(&self.replicas, &update.name_any(), usize::try_from(partition.unwrap_or(0)).unwrap_or(0), usize::try_from(max_unavailable).unwrap_or(1));
        for i in victims {
            let pod = self.replicas[i].clone();
            self.delete_pod(&pod).await?;
        }
        Ok(())
    }

    /// Upstream `processReplica`; true when this replica blocks further progress.
    async fn process_replica(&mut self, update_set: &StatefulSet, monotonic: bool, i: usize) -> Result<bool, Error> {
        let pod = self.replicas[i].clone();
        if is_finished(&pod) {
            // Failed or succeeded: delete it; it is recreated once gone.
            if !is_terminating(&pod) {
                self.delete_pod(&pod).await?;
            }
            return Ok(true);
        }
        if let Some(new) = self.to_create[i].take() {
            let Some(created) = self.create_pod(&new).await? else { return Ok(true) };
            self.replicas[i] = created;
            if monotonic {
                return Ok(true);
            }
        }
        let pod = self.replicas[i].clone();
        if is_pending(&pod) {
            self.create_claims(&self.set.clone(), &pod).await?;
        }
        if monotonic && (is_terminating(&pod) || !is_running_and_ready(&pod) || !is_running_and_available(&pod, self.min_ready(), self.now)) {
            return Ok(true);
        }
        if !identity::identity_matches(&self.set, &pod)
            && let Some(patch) = identity::identity_patch(&self.set, &pod)
        {
            match self.pods_api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(p) => self.replicas[i] = cached_pod::from_pod(&p),
                Err(e) if is_code(&e, 404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.sync_claim_owners(update_set, &pod).await?;
        Ok(false)
    }

    /// Upstream `processCondemned`; true when it deleted or must wait.
    async fn process_condemned(&mut self, first_unhealthy: Option<&str>, monotonic: bool, i: usize) -> Result<bool, Error> {
        let pod = self.condemned[i].clone();
        if is_terminating(&pod) {
            return Ok(monotonic);
        }
        let is_first_unhealthy = pod.metadata.name.as_deref() == first_unhealthy;
        if monotonic && !is_first_unhealthy && (!is_running_and_ready(&pod) || !is_running_and_available(&pod, self.min_ready(), self.now)) {
            return Ok(true);
        }
        self.delete_pod(&pod).await?;
        Ok(true)
    }

    /// Creates the pod's claims, then the pod (upstream `CreateStatefulPod`). None when the
    /// pod exists already (the store lags): wait for its event.
    async fn create_pod(&self, pod: &Pod) -> Result<Option<CachedPod>, Error> {
        let set = self.set.as_ref();
        if let Err(e) = self.create_claims(set, &cached_pod::from_pod(pod)).await {
            self.state.recorder.warning(set, "FailedCreate", format!("create Pod {} in StatefulSet {} failed error: {e}", pod.name_any(), set.name_any()));
            return Err(e);
        }
        match self.pods_api.create(&PostParams::default(), pod).await {
            Ok(created) => {
                let created = cached_pod::from_pod(&created);
                self.sync_claim_owners(set, &created).await?;
                self.state.recorder.normal(set, "SuccessfulCreate", format!("create Pod {} in StatefulSet {} successful", pod.name_any(), set.name_any()));
                Ok(Some(created))
            }
            Err(e) if is_code(&e, 409) => Ok(None),
            Err(e) => {
                self.state.recorder.warning(set, "FailedCreate", format!("create Pod {} in StatefulSet {} failed error: {}", pod.name_any(), set.name_any(), api_message(&e)));
                Err(e.into())
            }
        }
    }

    async fn delete_pod(&self, pod: &CachedPod) -> Result<(), Error> {
        let set = self.set.as_ref();
        match self.pods_api.delete(&pod.name_any(), &DeleteParams::default()).await {
            Ok(_) => {
                self.state.recorder.normal(set, "SuccessfulDelete", format!("delete Pod {} in StatefulSet {} successful", pod.name_any(), set.name_any()));
                Ok(())
            }
            Err(e) if is_code(&e, 404) => Ok(()),
            Err(e) => {
                self.state.recorder.warning(set, "FailedDelete", format!("delete Pod {} in StatefulSet {} failed error: {}", pod.name_any(), set.name_any(), api_message(&e)));
                Err(e.into())
            }
        }
    }

    fn claim_api(&self) -> Api<PersistentVolumeClaim> {
        Api::namespaced(self.state.shared.client.clone(), &self.set.namespace().unwrap_or_default())
    }

    fn stored_claim(&self, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.state.shared.claims.store().get(&ObjectRef::new(name).within(&self.set.namespace().unwrap_or_default()))
    }

    /// Creates the pod's missing claims (upstream `createPersistentVolumeClaims`).
    async fn create_claims(&self, set: &StatefulSet, pod: &CachedPod) -> Result<(), Error> {
        let Some(ord) = ordinal(pod) else { return Ok(()) };
        let api = self.claim_api();
        for claim in claims(set, ord).into_values() {
            let name = claim.name_any();
            if let Some(existing) = self.stored_claim(&name) {
                if existing.metadata.deletion_timestamp.is_some() {
                    return Err(Error::Retry(format!("pvc {name} is being deleted")));
                }
                continue;
            }
            match api.create(&PostParams::default(), &claim).await {
                Ok(_) => {
                    let msg = format!("create Claim {name} Pod {} in StatefulSet {} success", pod.name_any(), set.name_any());
                    self.state.recorder.normal(set, "SuccessfulCreate", msg);
                }
                Err(e) if is_code(&e, 409) => {}
                Err(e) => {
                    let msg = format!("create Claim {name} for Pod {} in StatefulSet {} failed error: {}", pod.name_any(), set.name_any(), api_message(&e));
                    self.state.recorder.warning(set, "FailedCreate", msg);
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// Gives the pod's existing claims the owners the retention policy calls for (upstream
    /// `UpdatePodClaimForRetentionPolicy`).
    async fn sync_claim_owners(&self, set: &StatefulSet, pod: &CachedPod) -> Result<(), Error> {
        let Some(ord) = ordinal(pod) else { return Ok(()) };
        let api = self.claim_api();
        for name in claims(set, ord).into_values().map(|c| c.name_any()) {
            let Some(claim) = self.stored_claim(&name) else { continue };
            if claim.metadata.deletion_timestamp.is_some() {
                continue;
            }
            // The range check uses the live set (with the current replica count).
            let Some(refs) = identity::claim_owner_refs(&self.set, pod, &claim) else { continue };
            let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": claim.resource_version()}});
            match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {}
                Err(e) if is_code(&e, 404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// The set with the template a revision restores (upstream `ApplyRevision`).
fn with_template(set: &StatefulSet, revision: &ControllerRevision) -> StatefulSet {
    let mut out = set.clone();
    if let (Some(spec), Some(template)) = (out.spec.as_mut(), history::template_of(revision)) {
        spec.template = template;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(replicas: i32, ready: i32, updated: i32) -> SetStatus {
        SetStatus {
            counts: plan::Counts { replicas, ready, available: ready, current: replicas - updated, updated },
            current_revision: "old".into(),
            update_revision: "new".into(),
            collision_count: 0,
            observed_generation: 1,
        }
    }

    #[test]
    fn rolling_update_completes_when_all_updated_and_ready() {
        let set = StatefulSet::default();
        let mut s = status(3, 3, 2);
        complete_rolling_update(&set, &mut s);
        assert_eq!(s.current_revision, "old");
        let mut s = status(3, 3, 3);
        complete_rolling_update(&set, &mut s);
        assert_eq!((s.current_revision.as_str(), s.counts.current), ("new", 3));
        let on_delete: StatefulSet = serde_json::from_value(json!({"spec": {"selector": {}, "template": {}, "updateStrategy": {"type": "OnDelete"}}})).unwrap();
        let mut s = status(3, 3, 3);
        complete_rolling_update(&on_delete, &mut s);
        assert_eq!(s.current_revision, "old");
    }
}
