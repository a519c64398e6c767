//! Deployment controller (upstream `pkg/controller/deployment`): rolls a Deployment's pod
//! template out through ReplicaSets named `<deployment>-<pod-template-hash>`, with the
//! RollingUpdate (maxSurge/maxUnavailable) or Recreate strategy, revision annotations for
//! `kubectl rollout history|undo`, pause/resume, proportional scaling, history cleanup and
//! the `Progressing`/`Available`/`ReplicaFailure` conditions.
//!
//! The decisions live in [`rollout`] (replica arithmetic), [`status`] and [`revision`];
//! this file reads the shared stores, applies decisions through the API and records Events.

use crate::cached_pod::CachedPod;
pub(crate) mod revision;
mod rollout;
mod status;

pub use revision::template_hash;
pub use rollout::{new_rs_new_replicas, proportional, resolve_fenceposts, scale_down_old, scaled_value};

use crate::error::is_code;
use crate::ownership::{self, Claim};
use crate::replicaset::matches;
use crate::{Context, Error, conditions};
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::Selector;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::ResourceExt;
use revision::{DESIRED_REPLICAS, MAX_REPLICAS, POD_TEMPLATE_HASH, REVISION};
use serde_json::json;
use status::Status;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// `reportingController` of the Events.
const COMPONENT: &str = "deployment-controller";

struct State {
    shared: Arc<Context>,
    recorder: crate::events::EventRecorder,
}

/// Runs the Deployment controller.
pub async fn run(ctx: Arc<Context>) {
    ctx.wait_for_sync().await;
    let replicasets = ctx.replicasets.subscribe();
    let pods = ctx.pods.subscribe();
    let controller = Controller::new(Api::<Deployment>::all(ctx.client.clone()), watcher::Config::default()).with_config(crate::workers::workers(crate::workers::FIVE));
    let (by_rs, by_pod) = (controller.store(), controller.store());
    let rs_store = ctx.replicasets.store();
    let state = Arc::new(State { recorder: ctx.recorder(COMPONENT), shared: ctx });
    controller
        .watches_shared_stream(replicasets, move |rs: Arc<ReplicaSet>| deployments_of_rs(&by_rs, &rs))
        .watches_shared_stream(pods, move |pod: Arc<CachedPod>| recreate_deployment_of_pod(&by_pod, &rs_store, &pod))
        .run(reconcile, error_policy, state)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn selector(d: &Deployment) -> Option<Selector> {
    let s: Selector = d.spec.as_ref()?.selector.clone().try_into().ok()?;
    (!s.selects_all()).then_some(s)
}

/// The Deployment controlling a ReplicaSet, or for an orphan those whose selector matches it.
fn deployments_of_rs(deployments: &Store<Deployment>, rs: &ReplicaSet) -> Vec<ObjectRef<Deployment>> {
    let ns = rs.metadata.namespace.clone().unwrap_or_default();
    if let Some(r) = ownership::controller_of(rs) {
        return if r.kind == "Deployment" { vec![ObjectRef::new(&r.name).within(&ns)] } else { vec![] };
    }
    deployments
        .state()
        .iter()
        .filter(|d| d.metadata.namespace.as_deref() == Some(&ns) && selector(d).is_some_and(|s| matches(&s, rs.metadata.labels.as_ref())))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

/// A Recreate Deployment waits for its old pods to go: their changes concern it.
fn recreate_deployment_of_pod(deployments: &Store<Deployment>, replicasets: &Store<ReplicaSet>, pod: &CachedPod) -> Option<ObjectRef<Deployment>> {
    let ns = pod.metadata.namespace.as_deref()?;
    let owner = ownership::controller_of(pod).filter(|r| r.kind == "ReplicaSet")?;
    let rs = replicasets.get(&ObjectRef::new(&owner.name).within(ns))?;
    let d_ref = ownership::controller_of(rs.as_ref()).filter(|r| r.kind == "Deployment")?;
    let key = ObjectRef::new(&d_ref.name).within(ns);
    let d = deployments.get(&key)?;
    (strategy_type(&d) == "Recreate").then_some(key)
}

fn strategy_type(d: &Deployment) -> &str {
    d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate")
}

fn error_policy(d: Arc<Deployment>, err: &Error, _: Arc<State>) -> Action {
    match err {
        // A write raced another (stale store): retried at once with fresh data.
        Error::Api(e) if is_code(e, 409) => tracing::debug!(deployment = %d.name_any(), error = %err, "conflict; retrying"),
        _ => tracing::warn!(deployment = %d.name_any(), error = %err, "sync failed"),
    }
    match err {
        Error::Invalid { .. } => Action::await_change(),
        _ => Action::requeue(Duration::from_secs(1)),
    }
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn created(rs: &ReplicaSet) -> (i64, String) {
    (rs.metadata.creation_timestamp.as_ref().map_or(0, |t| t.0.as_second()), rs.name_any())
}

async fn reconcile(d: Arc<Deployment>, state: Arc<State>) -> Result<Action, Error> {
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = d.namespace().unwrap_or_default();
    let Some(sel) = selector(&d) else {
        state.recorder.warning(d.as_ref(), "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.".into());
        return Ok(Action::await_change());
    };
    let invalid = |message: String| Error::Invalid { kind: "Deployment", name: format!("{ns}/{}", d.name_any()), message };
    let rolling = strategy_type(&d) != "Recreate";
    let replicas = status::desired(&d);
    let (max_surge, max_unavailable) = if rolling {
        let ru = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
        let (surge, unavailable) = resolve_fenceposts(ru.and_then(|r| r.max_surge.as_ref()), ru.and_then(|r| r.max_unavailable.as_ref()), replicas).map_err(invalid)?;
        (surge, unavailable.min(replicas))
    } else {
        (0, 0)
    };
    let rs_api: Api<ReplicaSet> = Api::namespaced(state.shared.client.clone(), &ns);
    let uid = d.uid().unwrap_or_default();

    // Claim ReplicaSets (adopt orphans, release those that stopped matching).
    let mut rss = Vec::new();
    for rs in state.shared.replicasets.store().state().into_iter().filter(|rs| rs.metadata.namespace.as_deref() == Some(&ns)) {
        match ownership::claim(rs.as_ref(), &uid, false, matches(&sel, rs.metadata.labels.as_ref())) {
            Claim::Owned => rss.push(rs.as_ref().clone()),
            Claim::Adopt => match ownership::adopt(&rs_api, rs.as_ref(), d.as_ref()).await {
                Ok(adopted) => rss.push(adopted),
                Err(e) if is_code(&e, 404) || is_code(&e, 409) => {}
                Err(e) => return Err(e.into()),
            },
            Claim::Release => {
                ownership::release(&rs_api, rs.as_ref(), &uid).await?;
            }
            Claim::Ignore => {}
        }
    }
    rss.sort_by_key(created);

    let mut sync = Sync { d: d.as_ref().clone(), state: &state, rs_api, rss, new: None, replicas, max_surge, max_unavailable, rolling, now: Timestamp::now() };
    sync.check_paused_conditions();
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    sync.find_new_rs();
    if paused || sync.is_scaling_event() {
        sync.scale().await?;
        if paused {
            sync.cleanup().await?;
        }
        return sync.write_status(false, &d).await;
    }
    if rolling { sync.rollout_rolling(&d).await } else { sync.rollout_recreate(&d).await }
}

/// One sync of one Deployment: its ReplicaSets (local copies kept current as they are
/// scaled) and the resolved strategy numbers.
struct Sync<'a> {
    d: Deployment,
    state: &'a State,
    rs_api: Api<ReplicaSet>,
    /// Owned ReplicaSets, oldest first.
    rss: Vec<ReplicaSet>,
    /// Index of the new ReplicaSet (template equal to the Deployment's).
    new: Option<usize>,
    replicas: i32,
    max_surge: i32,
    max_unavailable: i32,
    rolling: bool,
    now: Timestamp,
}

impl Sync<'_> {
    fn old(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.rss.len()).filter(move |&i| Some(i) != self.new)
    }

    fn conditions_mut(&mut self) -> &mut Vec<k8s_openapi::api::apps::v1::DeploymentCondition> {
        self.d.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new)
    }

    fn set_condition(&mut self, type_: &str, status: &str, reason: &str, message: &str) {
        let mut conds: Vec<serde_json::Value> = self.conditions_mut().iter().filter_map(|c| serde_json::to_value(c).ok()).collect();
        conditions::set(&mut conds, type_, status, reason, message, self.now, true);
        *self.conditions_mut() = conds.into_iter().filter_map(|c| serde_json::from_value(c).ok()).collect();
    }

    fn progressing_reason(&self) -> Option<String> {
        self.d.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Progressing").and_then(|c| c.reason.clone())
    }

    /// Upstream `checkPausedConditions`.
    fn check_paused_conditions(&mut self) {
        if status::progress_deadline(&self.d).is_none() {
            return;
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let paused_cond = self.progressing_reason().as_deref() == Some("DeploymentPaused");
        if paused && !paused_cond {
            self.set_condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused");
        } else if !paused && paused_cond {
            self.set_condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed");
        }
    }

    fn find_new_rs(&mut self) {
        let Some(template) = self.d.spec.as_ref().map(|s| &s.template) else { return };
        self.new = self.rss.iter().position(|rs| rs.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| revision::equal_ignore_hash(t, template)));
    }

    /// Upstream `isScalingEvent`: an active ReplicaSet was sized for another replica count.
    fn is_scaling_event(&self) -> bool {
        self.rss.iter().filter(|rs| spec_replicas(rs) > 0).any(|rs| revision::int_annotation(rs, DESIRED_REPLICAS).is_some_and(|v| v != self.replicas))
    }

    fn max_old_revision(&self) -> i64 {
        self.old().map(|i| revision::revision(&self.rss[i])).max().unwrap_or(0)
    }

    async fn set_deployment_revision(&mut self, rev: &str) -> Result<(), Error> {
        if revision::annotation(&self.d.metadata.annotations, REVISION) == Some(rev) {
            return Ok(());
        }
        let api: Api<Deployment> = Api::namespaced(self.state.shared.client.clone(), &self.d.namespace().unwrap_or_default());
        let patch = json!({"metadata": {"annotations": {REVISION: rev}}});
        api.patch(&self.d.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        self.d.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(REVISION.into(), rev.into());
        Ok(())
    }

    /// Upstream `getNewReplicaSet`: syncs the new ReplicaSet's revision and annotations, or
    /// creates it when `create` and there is none.
    async fn sync_new_rs(&mut self, create: bool) -> Result<(), Error> {
        let new_revision = self.max_old_revision() + 1;
        if let Some(i) = self.new {
            let rs = &self.rss[i];
            let current = rs.metadata.annotations.clone().unwrap_or_default();
            let annotations = revision::new_rs_annotations(&self.d, &current, new_revision);
            let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let rs_min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds);
            if annotations != current || min_ready.unwrap_or(0) != rs_min_ready.unwrap_or(0) {
                let patch = json!({"metadata": {"annotations": annotations, "resourceVersion": rs.resource_version()}, "spec": {"minReadySeconds": min_ready}});
                self.rss[i] = self.rs_api.patch(&rs.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
            }
            let rev = revision::revision(&self.rss[i]).to_string();
            self.set_deployment_revision(&rev).await?;
            if status::progress_deadline(&self.d).is_some() && self.progressing_reason().is_none() {
                let msg = format!("Found new replica set \"{}\"", self.rss[i].name_any());
                self.set_condition("Progressing", "True", "FoundNewReplicaSet", &msg);
            }
            return Ok(());
        }
        if !create {
            return Ok(());
        }
        let spec = self.d.spec.clone().unwrap_or_default();
        let collision_count = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = revision::template_hash(&spec.template, collision_count);
        let mut template = spec.template.clone();
        template.metadata.get_or_insert_with(Default::default).labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let mut selector = spec.selector.clone();
        selector.match_labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let old_total: i32 = self.old().map(|i| spec_replicas(&self.rss[i])).sum();
        let size = if self.rolling { new_rs_new_replicas(self.replicas, self.max_surge, old_total, 0) } else { 0 };
        let mut annotations = revision::new_rs_annotations(&self.d, &BTreeMap::new(), new_revision);
        annotations.insert(DESIRED_REPLICAS.into(), self.replicas.to_string());
        annotations.insert(MAX_REPLICAS.into(), (self.replicas + self.max_surge).to_string());
        let name = format!("{}-{hash}", self.d.name_any());
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.namespace(),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                annotations: Some(annotations),
                owner_references: Some(vec![ownership::controller_ref(&self.d)]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec { replicas: Some(size), min_ready_seconds: spec.min_ready_seconds, selector, template: Some(template) }),
            status: None,
        };
        let created = match self.rs_api.create(&PostParams::default(), &rs).await {
            Ok(created) => created,
            Err(e) if is_code(&e, 409) => {
                // Same name: ours with an equal template (the store lagged) or a hash collision.
                let existing = self.rs_api.get(&name).await?;
                let ours = ownership::controller_of(&existing).is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
                let same = existing.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| revision::equal_ignore_hash(t, &spec.template));
                if ours && same {
                    self.rss.push(existing);
                    self.new = Some(self.rss.len() - 1);
                    return Ok(());
                }
                let api: Api<Deployment> = Api::namespaced(self.state.shared.client.clone(), &self.d.namespace().unwrap_or_default());
                let patch = json!({"status": {"collisionCount": collision_count.unwrap_or(0) + 1}});
                api.patch_status(&self.d.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
                return Err(e.into());
            }
            Err(e) => {
                let message = format!("Failed to create new replica set \"{name}\": {e}");
                self.state.recorder.warning(&self.d, "FailedCreate", message);
                return Err(e.into());
            }
        };
        if size > 0 {
            self.state.recorder.normal(&self.d, "ScalingReplicaSet", format!("Scaled up replica set {name} from 0 to {size}"));
        }
        self.set_deployment_revision(&new_revision.to_string()).await?;
        if status::progress_deadline(&self.d).is_some() {
            self.set_condition("Progressing", "True", "NewReplicaSetCreated", &format!("Created new replica set \"{name}\""));
        }
        self.rss.push(created);
        self.new = Some(self.rss.len() - 1);
        Ok(())
    }

    /// Sets a ReplicaSet's size and replica annotations (upstream `scaleReplicaSet`);
    /// returns whether the size changed.
    async fn scale_rs(&mut self, i: usize, size: i32) -> Result<bool, Error> {
        let rs = &self.rss[i];
        let old = spec_replicas(rs);
        let max = self.replicas + self.max_surge;
        let annotations_stale = revision::int_annotation(rs, DESIRED_REPLICAS) != Some(self.replicas) || revision::int_annotation(rs, MAX_REPLICAS) != Some(max);
        if old == size && !annotations_stale {
            return Ok(false);
        }
        let patch = json!({
            "metadata": {"annotations": {DESIRED_REPLICAS: self.replicas.to_string(), MAX_REPLICAS: max.to_string()}, "resourceVersion": rs.resource_version()},
            "spec": {"replicas": size},
        });
        let name = rs.name_any();
        self.rss[i] = self.rs_api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        if old != size {
            let op = if size > old { "up" } else { "down" };
            self.state.recorder.normal(&self.d, "ScalingReplicaSet", format!("Scaled {op} replica set {name} from {old} to {size}"));
        }
        Ok(old != size)
    }

    fn rollout_rs(&self, i: usize) -> rollout::Rs {
        let rs = &self.rss[i];
        rollout::Rs {
            replicas: spec_replicas(rs),
            available: rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0),
            created: created(rs),
            max_replicas_annotation: revision::int_annotation(rs, MAX_REPLICAS),
        }
    }

    /// Resizes for a changed `spec.replicas` outside a rollout step (upstream `scale`).
    async fn scale(&mut self) -> Result<(), Error> {
        let active: Vec<usize> = (0..self.rss.len()).filter(|&i| spec_replicas(&self.rss[i]) > 0).collect();
        // One active ReplicaSet (or none: the newest) takes the whole count.
        let only = match active.as_slice() {
            [] => self.new.or_else(|| self.old().last()),
            [one] => Some(*one),
            _ => None,
        };
        if let Some(i) = only {
            if spec_replicas(&self.rss[i]) != self.replicas {
                self.scale_rs(i, self.replicas).await?;
            }
            return Ok(());
        }
        // The new ReplicaSet is saturated: old ones go to 0.
        if let Some(n) = self.new {
            let rs = &self.rss[n];
            let saturated = spec_replicas(rs) == self.replicas
                && revision::int_annotation(rs, DESIRED_REPLICAS) == Some(self.replicas)
                && rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0) == self.replicas;
            if saturated {
                for i in active.into_iter().filter(|&i| i != n) {
                    self.scale_rs(i, 0).await?;
                }
                return Ok(());
            }
        }
        if self.rolling {
            let rs: Vec<rollout::Rs> = active.iter().map(|&i| self.rollout_rs(i)).collect();
            let status_replicas = self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            let sizes = proportional(self.replicas, self.max_surge, status_replicas, &rs);
            for (i, size) in active.into_iter().zip(sizes) {
                self.scale_rs(i, size).await?;
            }
        }
        Ok(())
    }

    /// Upstream `rolloutRolling`.
    async fn rollout_rolling(mut self, original: &Deployment) -> Result<Action, Error> {
        self.sync_new_rs(true).await?;
        let Some(n) = self.new else { return self.write_status(true, original).await };
        // Scale the new ReplicaSet up (or down to the count).
        let new_size = spec_replicas(&self.rss[n]);
        if new_size != self.replicas {
            let target = if new_size > self.replicas {
                self.replicas
            } else {
                let all: i32 = self.rss.iter().map(spec_replicas).sum();
                new_rs_new_replicas(self.replicas, self.max_surge, all, new_size)
            };
            if self.scale_rs(n, target).await? {
                return self.write_status(true, original).await;
            }
        }
        // Scale old ReplicaSets down within the availability bound.
        let old_active: Vec<usize> = self.old().filter(|&i| spec_replicas(&self.rss[i]) > 0).collect();
        let old: Vec<rollout::Rs> = old_active.iter().map(|&i| self.rollout_rs(i)).collect();
        let sizes = scale_down_old(self.replicas, self.max_unavailable, &old, Some(&self.rollout_rs(n)));
        let mut scaled_down = false;
        for (i, size) in old_active.into_iter().zip(sizes) {
            if size != spec_replicas(&self.rss[i]) {
                scaled_down |= self.scale_rs(i, size).await?;
            }
        }
        if !scaled_down && status::complete(&self.d, &Status::of(&self.d)) {
            self.cleanup().await?;
        }
        self.write_status(true, original).await
    }

    /// Upstream `rolloutRecreate`: old ReplicaSets to 0, wait until their pods are gone,
    /// then the new one to the full count.
    async fn rollout_recreate(mut self, original: &Deployment) -> Result<Action, Error> {
        self.sync_new_rs(false).await?;
        let old_active: Vec<usize> = self.old().filter(|&i| spec_replicas(&self.rss[i]) > 0).collect();
        let mut scaled = false;
        for i in old_active {
            scaled |= self.scale_rs(i, 0).await?;
        }
        if scaled || self.old_pods_running() {
            return self.write_status(true, original).await;
        }
        if self.new.is_none() {
            self.sync_new_rs(true).await?;
        }
        if let Some(n) = self.new
            && self.scale_rs(n, self.replicas).await?
        {
            return self.write_status(true, original).await;
        }
        if status::complete(&self.d, &Status::of(&self.d)) {
            self.cleanup().await?;
        }
        self.write_status(true, original).await
    }

    /// Whether pods of old ReplicaSets still run (upstream `oldPodsRunning`).
    fn old_pods_running(&self) -> bool {
        let old_uids: Vec<&str> = self.old().filter_map(|i| self.rss[i].metadata.uid.as_deref()).collect();
        if self.old().any(|i| self.rss[i].status.as_ref().is_some_and(|s| s.replicas > 0)) {
            return true;
        }
        let ns = self.d.namespace();
        self.state.shared.pods.store().state().iter().any(|p| {
            p.metadata.namespace == ns
                && ownership::controller_of(p.as_ref()).is_some_and(|r| old_uids.contains(&r.uid.as_str()))
                && !matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Failed" | "Succeeded"))
        })
    }

    /// Deletes old, empty ReplicaSets beyond `revisionHistoryLimit` (upstream `cleanupDeployment`).
    async fn cleanup(&mut self) -> Result<(), Error> {
        let limit = self.d.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10).max(0) as usize;
        let mut candidates: Vec<&ReplicaSet> = self.old().map(|i| &self.rss[i]).filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
        if candidates.len() <= limit {
            return Ok(());
        }
        let excess = candidates.len() - limit;
        candidates.sort_by_key(|rs| (revision::revision(rs), created(rs)));
        for rs in candidates.into_iter().take(excess) {
            let st = rs.status.clone().unwrap_or_default();
            if st.replicas != 0 || spec_replicas(rs) != 0 || rs.metadata.generation.unwrap_or(0) > st.observed_generation.unwrap_or(0) {
                continue;
            }
            match self.rs_api.delete(&rs.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_code(&e, 404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Computes and writes the status when it changed; `rollout` adds the progress
    /// conditions (upstream `syncRolloutStatus`, else `syncDeploymentStatus`).
    async fn write_status(self, rollout: bool, original: &Deployment) -> Result<Action, Error> {
        let all: Vec<&ReplicaSet> = self.rss.iter().collect();
        let new = self.new.map(|i| &self.rss[i]);
        let mut s = Status::calculate(&self.d, &all, new, self.max_unavailable, self.now);
        if rollout {
            s = status::with_rollout_conditions(&self.d, s, &all, new, self.now);
        }
        let body = s.to_json();
        if body != Status::of(original).to_json() {
            let api: Api<Deployment> = Api::namespaced(self.state.shared.client.clone(), &self.d.namespace().unwrap_or_default());
            match api.patch_status(&self.d.name_any(), &PatchParams::default(), &Patch::Merge(&json!({"status": body}))).await {
                Ok(_) => {}
                Err(e) if is_code(&e, 404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(match status::requeue_for_deadline(&self.d, &s, self.now) {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        })
    }
}
