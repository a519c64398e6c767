//! DaemonSet controller (upstream `pkg/controller/daemon`): one pod per eligible node,
//! pinned to it with a `metadata.name` node affinity that the scheduler binds, removed from
//! nodes that stop being eligible; template changes roll out through ControllerRevisions
//! (`RollingUpdate` with maxUnavailable or maxSurge, or `OnDelete`).
//!
//! Decisions live in [`placement`] (which nodes, pod pinning and tolerations) and [`plan`]
//! (per-node actions and the rolling update); this file reads the stores and talks to the API.

use crate::cached_pod::CachedPod;
pub mod placement;
pub mod plan;

use crate::error::is_code;
use crate::pod_control::PodControl;
use crate::expectations::Seen;
use crate::history::{self, History, POD_REVISION_LABEL};
use crate::pods::{self, Availability};
use crate::{Context, Error, ownership};
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams};
use kube::core::Selector;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::ResourceExt;
use placement::{TEMPLATE_GENERATION_LABEL, should_run};
use plan::NodePods;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// `reportingController` of the Events.
const COMPONENT: &str = "daemonset-controller";

struct State {
    shared: Arc<Context>,
    recorder: crate::events::EventRecorder,
    history: History,
}

/// Runs the DaemonSet controller.
pub async fn run(ctx: Arc<Context>) {
    let pods = ctx.pods.subscribe();
    let nodes = ctx.nodes.subscribe();
    let controller = Controller::new(Api::<DaemonSet>::all(ctx.client.clone()), watcher::Config::default()).with_config(crate::workers::workers(crate::workers::DAEMONSET));
    let (by_pod, by_node) = (controller.store(), controller.store());
    let state = Arc::new(State { recorder: ctx.recorder(COMPONENT), history: History::new(&ctx), shared: ctx.clone() });
    ctx.wait_for_sync().await;
    controller
        .watches_shared_stream(pods, move |pod: Arc<CachedPod>| daemonsets_of_pod(&by_pod, &pod))
        .watches_shared_stream(nodes, move |_node: Arc<Node>| by_node.state().iter().map(|d| ObjectRef::from_obj(d.as_ref())).collect::<Vec<_>>())
        .run(reconcile, error_policy, state)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn selector(ds: &DaemonSet) -> Option<Selector> {
    let s: Selector = ds.spec.as_ref()?.selector.clone().try_into().ok()?;
    (!s.selects_all()).then_some(s)
}

/// The DaemonSet controlling a pod, or for an orphan those that would adopt it.
fn daemonsets_of_pod(sets: &Store<DaemonSet>, pod: &CachedPod) -> Vec<ObjectRef<DaemonSet>> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    if let Some(r) = ownership::controller_of(pod) {
        return if r.kind == "DaemonSet" { vec![ObjectRef::new(&r.name).within(&ns)] } else { vec![] };
    }
    sets.state()
        .iter()
        .filter(|d| d.metadata.namespace.as_deref() == Some(&ns) && selector(d).is_some_and(|s| crate::replicaset::matches(&s, pod.metadata.labels.as_ref())))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn error_policy(ds: Arc<DaemonSet>, err: &Error, _: Arc<State>) -> Action {
    match err {
        Error::Api(e) if is_code(e, 409) => tracing::debug!(daemonset = %ds.name_any(), error = %err, "conflict; retrying"),
        _ => tracing::warn!(daemonset = %ds.name_any(), error = %err, "sync failed"),
    }
    match err {
        Error::Invalid { .. } => Action::await_change(),
        _ => Action::requeue(Duration::from_secs(1)),
    }
}

fn key(ds: &DaemonSet) -> String {
    format!("DaemonSet/{}/{}", ds.namespace().unwrap_or_default(), ds.name_any())
}

fn min_ready(ds: &DaemonSet) -> i32 {
    ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
}

async fn reconcile(ds: Arc<DaemonSet>, state: Arc<State>) -> Result<Action, Error> {
    let key = key(&ds);
    if ds.metadata.deletion_timestamp.is_some() {
        state.shared.pod_expectations.forget(&key);
        return Ok(Action::await_change());
    }
    let ns = ds.namespace().unwrap_or_default();
    let Some(sel) = selector(&ds) else {
        state.recorder.warning(ds.as_ref(), "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.".into());
        return Ok(Action::await_change());
    };
    let pods_api: Api<Pod> = Api::namespaced(state.shared.client.clone(), &ns);
    let store = state.shared.pods.store();
    let candidates = store.state().into_iter().filter(|p| p.metadata.namespace.as_deref() == Some(&ns));
    let pods = ownership::claim_all(&Api::namespaced(state.shared.client.clone(), &ns), candidates, ds.as_ref(), |p| crate::replicaset::matches(&sel, p.metadata.labels.as_ref())).await?;
    let (current, old, collision_count) = construct_history(&ds, &state, &sel).await?;
    let hash = current.labels().get(POD_REVISION_LABEL).cloned().unwrap_or_default();

    let nodes: Vec<Arc<Node>> = state.shared.nodes.store().state();
    let sync = Sync { ds: ds.clone(), state: &state, pods_api, hash, now: Timestamp::now() };
    let seen = |name: &str| match store.get(&ObjectRef::new(name).within(&ns)) {
        None => Seen::Absent,
        Some(p) if p.metadata.deletion_timestamp.is_some() => Seen::Terminating,
        Some(_) => Seen::Present,
    };
    let satisfied = state.shared.pod_expectations.satisfied(&key, seen);
    let result = if satisfied { sync.manage(&pods, &nodes).await } else { Ok(()) };
    let status = sync.status(&pods, &nodes, collision_count, satisfied);
    sync.write_status(status.clone()).await?;
    result?;
    if satisfied {
        // Keep revisionHistoryLimit old revisions besides those pods still run.
        let live_hashes: BTreeSet<&str> = pods.iter().filter_map(|p| p.labels().get(POD_REVISION_LABEL).map(String::as_str)).collect();
        let limit = ds.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
        for r in history::excess(&old, limit, |r| r.labels().get(POD_REVISION_LABEL).is_some_and(|h| live_hashes.contains(h.as_str()))) {
            state.history.delete(r).await?;
        }
    }
    // Requeue when ready pods become available (minReadySeconds).
    let next = pods.iter().filter_map(|p| match pods::availability(p, min_ready(&ds), sync.now) {
        Availability::After(d) => Some(d),
        _ => None,
    });
    Ok(match next.min() {
        Some(d) => Action::requeue(d + Duration::from_millis(100)),
        None => Action::await_change(),
    })
}

/// Upstream `constructHistory`: the revision matching the template (created, or renumbered
/// to the newest after a rollback; duplicates removed), the older ones sorted, and the
/// collision count.
async fn construct_history(ds: &DaemonSet, state: &State, sel: &Selector) -> Result<(ControllerRevision, Vec<ControllerRevision>, i32), Error> {
    let revisions = state.history.claim(ds, sel).await?;
    let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let wanted = history::template_patch(&template);
    let mut current = Vec::new();
    let mut old = Vec::new();
    for mut r in revisions {
        if !r.labels().contains_key(POD_REVISION_LABEL) {
            r = state.history.label(&r, POD_REVISION_LABEL, &r.name_any()).await?;
        }
        if r.data.as_ref().map(|d| &d.0) == Some(&wanted) { current.push(r) } else { old.push(r) }
    }
    let next = old.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
    let stored_count = ds.status.as_ref().and_then(|s| s.collision_count);
    let mut collision_count = stored_count.unwrap_or(0);
    let cur = match current.pop() {
        None => {
            let name = ds.name_any();
            let identity = |count: i32| {
                let probe = if count == 0 && stored_count.is_none() { None } else { Some(count) };
                let hash = crate::deployment::template_hash(&template, probe);
                (format!("{name}-{hash}"), (POD_REVISION_LABEL, hash))
            };
            state.history.create(history::new_revision(ds, &template, next), &mut collision_count, identity).await?
        }
        Some(mut keep) => {
            // Duplicates (a race created two): keep the newest revision.
            for dup in current {
                if dup.revision > keep.revision {
                    state.history.delete(&keep).await?;
                    keep = dup;
                } else {
                    state.history.delete(&dup).await?;
                }
            }
            if keep.revision < next { state.history.renumber(&keep, next).await? } else { keep }
        }
    };
    history::sort(&mut old);
    Ok((cur, old, collision_count))
}

/// Counts for `status` (upstream `updateDaemonSetStatus`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Status {
    desired: i32,
    current: i32,
    misscheduled: i32,
    ready: i32,
    updated: i32,
    available: i32,
    collision_count: i32,
    observed_generation: Option<i64>,
}

struct Sync<'a> {
    ds: Arc<DaemonSet>,
    state: &'a State,
    pods_api: Api<Pod>,
    hash: String,
    now: Timestamp,
}

impl Sync<'_> {
    fn is_updated(&self, pod: &CachedPod) -> bool {
        placement::is_updated(pod, &self.hash, placement::template_generation(&self.ds))
    }

    fn is_available(&self, pod: &CachedPod) -> bool {
        pods::availability(pod, min_ready(&self.ds), self.now) == Availability::Yes
    }

    /// Daemon pods by target node, without deleted finished pods.
    fn by_node<'p>(&self, pods: &'p [CachedPod]) -> BTreeMap<String, Vec<&'p CachedPod>> {
        let mut out: BTreeMap<String, Vec<&CachedPod>> = BTreeMap::new();
        for pod in pods {
            let finished = matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Failed" | "Succeeded"));
            if finished && pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if let Some(node) = placement::target_node(pod) {
                out.entry(node.to_string()).or_default().push(pod);
            }
        }
        out
    }

    fn rolling(&self) -> Option<&k8s_openapi::api::apps::v1::RollingUpdateDaemonSet> {
        let strategy = self.ds.spec.as_ref()?.update_strategy.as_ref();
        if strategy.and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate") != "RollingUpdate" {
            return None;
        }
        Some(strategy.and_then(|s| s.rolling_update.as_ref()).unwrap_or(&DEFAULT_ROLLING))
    }

    /// `(maxSurge, maxUnavailable)` for `desired` nodes (upstream `SurgeCount`,
    /// `UnavailableCount`: percentages round up; both 0 means unavailable 1).
    fn rolling_limits(&self, desired: i32) -> Result<(usize, usize), Error> {
        let Some(ru) = self.rolling() else { return Ok((0, 0)) };
        let invalid = |message| Error::Invalid { kind: "DaemonSet", name: self.ds.name_any(), message };
        let surge = ru.max_surge.as_ref().map(|v| crate::deployment::scaled_value(v, desired, true)).transpose().map_err(invalid)?.unwrap_or(0).max(0);
        let unavailable = ru.max_unavailable.as_ref().map(|v| crate::deployment::scaled_value(v, desired, true)).transpose().map_err(invalid)?.unwrap_or(1).max(0);
        let unavailable = if desired > 0 && surge == 0 && unavailable == 0 { 1 } else { unavailable };
        Ok((usize::try_from(surge).unwrap_or(0), usize::try_from(unavailable).unwrap_or(0)))
    }

    /// Upstream `manage` then `rollingUpdate`.
    async fn manage(&self, pods: &[CachedPod], nodes: &[Arc<Node>]) -> Result<(), Error> {
        let by_node = self.by_node(pods);
        let known: BTreeSet<String> = nodes.iter().map(|n| n.name_any()).collect();
        let node_pods: Vec<NodePods> = nodes
            .iter()
            .map(|n| {
                let (should_run, should_continue) = should_run(&self.ds, n);
                NodePods { node: n.name_any(), should_run, should_continue, pods: by_node.get(&n.name_any()).cloned().unwrap_or_default() }
            })
            .collect();
        let allow_surge = self.rolling().is_some_and(|ru| ru.max_surge.as_ref().is_some_and(|v| crate::deployment::scaled_value(v, 100, true).unwrap_or(0) > 0));
        let mut actions = plan::manage(&node_pods, allow_surge, &|p| self.is_updated(p), &|p| self.is_available(p));
        // Unscheduled pods for nodes that no longer exist go too.
        for (node, pods) in &by_node {
            if !known.contains(node) {
                actions.delete.extend(pods.iter().filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_none_or(str::is_empty) && p.metadata.deletion_timestamp.is_none()).map(|p| p.name_any()));
            }
        }
        for name in &actions.failed {
            let node = pods.iter().find(|p| &p.name_any() == name).and_then(placement::target_node).unwrap_or_default().to_string();
            let msg = format!("Found failed daemon pod {}/{name} on node {node}, will try to kill it", self.ds.namespace().unwrap_or_default());
            self.state.recorder.warning(self.ds.as_ref(), "FailedDaemonPod", msg);
        }
        self.sync_nodes(&actions.delete, &actions.create_on).await?;
        if !actions.delete.is_empty() || !actions.create_on.is_empty() || self.rolling().is_none() {
            return Ok(());
        }
        // Rolling update over every node with pods and every node that should run one.
        let mut nodes_for_update: Vec<NodePods> = Vec::new();
        let mut desired = 0;
        for n in node_pods {
            if n.should_run {
                desired += 1;
            }
            if n.should_run || !n.pods.is_empty() {
                nodes_for_update.push(n);
            }
        }
        for (node, pods) in &by_node {
            if !known.contains(node) {
                nodes_for_update.push(NodePods { node: node.clone(), should_run: false, should_continue: false, pods: pods.clone() });
            }
        }
        let (max_surge, max_unavailable) = self.rolling_limits(desired)?;
        let desired = usize::try_from(desired).unwrap_or(0);
        let actions = plan::rolling_update(&nodes_for_update, max_surge, max_unavailable, desired, &|p| self.is_updated(p), &|p| self.is_available(p));
        self.sync_nodes(&actions.delete, &actions.create_on).await
    }

    /// Creates a pod on each node and deletes the pods (upstream `syncNodes`), recording
    /// expectations first so a lagging store never doubles them.
    async fn sync_nodes(&self, delete: &[String], create_on: &[String]) -> Result<(), Error> {
        let key = key(&self.ds);
        let ds = self.ds.as_ref();
        let mut first_error: Option<Error> = None;
        let control = PodControl { api: &self.pods_api, recorder: &self.state.recorder, expectations: &self.state.shared.pod_expectations, key: &key };
        if !create_on.is_empty() {
            let mut template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
            let labels = template.metadata.get_or_insert_with(Default::default).labels.get_or_insert_with(BTreeMap::new);
            if let Some(generation) = placement::template_generation(ds) {
                labels.insert(TEMPLATE_GENERATION_LABEL.into(), generation.into());
            }
            if !self.hash.is_empty() {
                labels.insert(POD_REVISION_LABEL.into(), self.hash.clone());
            }
            placement::add_daemon_tolerations(template.spec.get_or_insert_with(Default::default));
            let ns = ds.namespace().unwrap_or_default();
            let pods = create_on
                .iter()
                .map(|node| {
                    let mut pod = pods::from_template(&template, &ns, &ds.name_any(), ownership::controller_ref(ds));
                    placement::pin_to_node(pod.spec.get_or_insert_with(Default::default), node);
                    pod
                })
                .collect();
            if let Err(e) = control.create(ds, pods).await {
                first_error = Some(e.into());
            }
        }
        if !delete.is_empty() && let Err(e) = control.delete(ds, delete).await {
            first_error.get_or_insert(e.into());
        }
        first_error.map_or(Ok(()), Err)
    }

    fn status(&self, pods: &[CachedPod], nodes: &[Arc<Node>], collision_count: i32, observed: bool) -> Status {
        let by_node = self.by_node(pods);
        let mut s = Status { collision_count, ..Default::default() };
        for node in nodes {
            let (run, _) = should_run(&self.ds, node);
            let here = by_node.get(&node.name_any());
            let scheduled = here.is_some_and(|p| !p.is_empty());
            if !run {
                s.misscheduled += i32::from(scheduled);
                continue;
            }
            s.desired += 1;
            let Some(mut here) = here.cloned().filter(|p| !p.is_empty()) else { continue };
            s.current += 1;
            here.sort_by(plan::oldest_running_first);
            let pod = here[0];
            if pods::is_ready(pod) {
                s.ready += 1;
                if self.is_available(pod) {
                    s.available += 1;
                }
            }
            if self.is_updated(pod) {
                s.updated += 1;
            }
        }
        if observed {
            s.observed_generation = self.ds.metadata.generation;
        }
        s
    }

    async fn write_status(&self, s: Status) -> Result<(), Error> {
        let opt = |n: i32| if n == 0 { Value::Null } else { json!(n) };
        let mut want = json!({
            "desiredNumberScheduled": s.desired,
            "currentNumberScheduled": s.current,
            "numberMisscheduled": s.misscheduled,
            "numberReady": s.ready,
            "updatedNumberScheduled": opt(s.updated),
            "numberAvailable": opt(s.available),
            "numberUnavailable": opt(s.desired - s.available),
            // Upstream leaves it unset until a hash collision happened.
            "collisionCount": if s.collision_count == 0 && self.ds.status.as_ref().and_then(|st| st.collision_count).is_none() { Value::Null } else { json!(s.collision_count) },
        });
        if let Some(g) = s.observed_generation {
            want["observedGeneration"] = json!(g);
        }
        let current = serde_json::to_value(&self.ds.status).unwrap_or_default();
        if want.as_object().into_iter().flatten().all(|(k, v)| current.get(k).unwrap_or(&Value::Null) == v) {
            return Ok(());
        }
        let api: Api<DaemonSet> = Api::namespaced(self.state.shared.client.clone(), &self.ds.namespace().unwrap_or_default());
        match api.patch_status(&self.ds.name_any(), &PatchParams::default(), &Patch::Merge(&json!({"status": want}))).await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, 404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A RollingUpdate without `rollingUpdate` (the API server defaults it; kept for safety).
static DEFAULT_ROLLING: k8s_openapi::api::apps::v1::RollingUpdateDaemonSet = k8s_openapi::api::apps::v1::RollingUpdateDaemonSet { max_surge: None, max_unavailable: None };

