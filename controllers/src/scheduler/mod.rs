//! The scheduler (upstream `kube-scheduler` with its default profile, minus
//! preemption): watches pods and nodes, picks a node for each unscheduled pod of
//! `default-scheduler` and binds it through `pods/binding`.
//!
//! One task owns the [`cache::Cache`] and the [`queue::Queue`]: watch events, binding
//! outcomes and scheduling decisions are applied in turn, so every decision sees the
//! previous ones (the pod is *assumed* on its node before the binding is sent, and the
//! binding itself runs concurrently). Filters and scores are pure functions over the
//! cache (`filters/`, `scores/`).

pub mod binder;
pub mod cache;
pub mod diagnosis;
pub mod filters;
pub mod queue;
pub mod reports;
pub mod resources;
pub mod scores;
pub mod selectors;

use crate::cached_pod::CachedPod;
use binder::Binder;
use cache::{pod_key, Cache, ClusterChange, NodeInfo, PodInfo};
use filters::volume_binding::{self, VolumeLookup};
use filters::{Cycle, Rejection};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use queue::Queue;
use reports::{Report, Reports};
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// Upstream `ErrNoNodesAvailable`.
pub const NO_NODES: &str = "no nodes available to schedule pods";

/// Scheduler options.
#[derive(Clone, Debug)]
pub struct Config {
    /// Pods naming this `spec.schedulerName` are ours.
    pub scheduler_name: String,
    /// Bindings in flight at once.
    pub bind_concurrency: usize,
    /// Workers writing events and conditions (see [`reports`]). Like upstream's event
    /// broadcaster they trail the bindings instead of competing with them: unbounded, a
    /// burst of 1,000 `Scheduled` events opened one client connection (and TLS
    /// handshake) each.
    pub report_concurrency: usize,
    /// `reportingInstance` of the events.
    pub instance: String,
}

impl Default for Config {
    fn default() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        Config { scheduler_name: "default-scheduler".into(), bind_concurrency: 64, report_concurrency: 8, instance: format!("default-scheduler-{host}") }
    }
}

/// What a binding task reports back.
enum Outcome {
    Bound { key: String, pod: Arc<CachedPod>, node: String },
    Failed { key: String, pod: Arc<CachedPod> },
}

struct Scheduler {
    config: Config,
    cache: Cache,
    queue: Queue,
    /// Latest version of every unscheduled pod of ours, by key.
    pending: HashMap<String, Arc<CachedPod>>,
    binder: Binder,
    /// Bindings in flight: a pod is only taken from the queue when one is free, so a
    /// burst of schedulable pods waits in the queue (a few bytes each), not as tasks.
    permits: Arc<Semaphore>,
    /// Events and conditions to write, by [`Config::report_concurrency`] workers.
    reports: Arc<Reports>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    /// Bindings in flight and the report workers: owned here so that they stop with the
    /// scheduler.
    tasks: JoinSet<()>,
    /// Keys seen during a watch re-list (to drop what vanished meanwhile).
    relist_pods: Option<HashSet<String>>,
    relist_nodes: Option<HashSet<String>>,
    pods_synced: bool,
    nodes_synced: bool,
    /// Claims, volumes and classes (VolumeBinding); any change of them may make a pod
    /// schedulable.
    volumes: volume_binding::Stores,
}

fn priority(pod: &CachedPod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Upstream `isPodUpdated`: whether a waiting pod changed in a way that may let it fit
/// now. Status, resourceVersion, generation, managedFields and finalizers do not count,
/// so the scheduler's own `PodScheduled=False` write does not send the pod round again.
fn changed_for_scheduling(old: &CachedPod, new: &CachedPod) -> bool {
    fn comparable(meta: &ObjectMeta) -> ObjectMeta {
        ObjectMeta { resource_version: None, generation: None, managed_fields: None, finalizers: None, ..meta.clone() }
    }
    old.spec != new.spec || comparable(&old.metadata) != comparable(&new.metadata)
}

impl Scheduler {
    fn is_ours(&self, pod: &CachedPod) -> bool {
        let spec = pod.spec.as_ref();
        spec.and_then(|s| s.scheduler_name.as_deref()).unwrap_or("default-scheduler") == self.config.scheduler_name
            && spec.and_then(|s| s.scheduling_gates.as_ref()).is_none_or(|g| g.is_empty())
            && pod.metadata.deletion_timestamp.is_none()
    }

    fn changed(&mut self, change: ClusterChange) {
        if change == ClusterChange::Some {
            self.queue.cluster_changed();
        }
    }

    fn apply_pod(&mut self, pod: CachedPod) {
        let key = pod_key(&pod);
        if let Some(seen) = self.relist_pods.as_mut() {
            seen.insert(key.clone());
        }
        let pod = Arc::new(pod);
        let (waiting, change) = self.cache.apply_pod(pod.clone());
        if waiting && self.is_ours(&pod) {
            let worth_a_retry = self.pending.get(&key).is_none_or(|old| changed_for_scheduling(old, &pod));
            if worth_a_retry {
                self.queue.add_or_update(&key, priority(&pod));
            }
            self.pending.insert(key, pod);
        } else if !self.cache.is_placed(&key) || change == ClusterChange::Some {
            self.pending.remove(&key);
            self.queue.remove(&key);
        }
        self.changed(change);
    }

    fn delete_pod(&mut self, key: &str) {
        self.pending.remove(key);
        self.queue.remove(key);
        let change = self.cache.delete_pod(key);
        self.changed(change);
    }

    fn on_pod_event(&mut self, event: Event<CachedPod>) {
        match event {
            Event::Init => self.relist_pods = Some(HashSet::new()),
            Event::InitApply(pod) | Event::Apply(pod) => self.apply_pod(pod),
            Event::Delete(pod) => self.delete_pod(&pod_key(&pod)),
            Event::InitDone => {
                if let Some(seen) = self.relist_pods.take() {
                    let known = self.pending.keys().chain(self.cache.bound_keys());
                    let gone: Vec<String> = known.filter(|k| !seen.contains(*k)).cloned().collect();
                    for key in gone {
                        self.delete_pod(&key);
                    }
                }
                self.pods_synced = true;
            }
        }
    }

    fn on_node_event(&mut self, event: Event<Node>) {
        match event {
            Event::Init => self.relist_nodes = Some(HashSet::new()),
            Event::InitApply(node) | Event::Apply(node) => {
                if let Some(seen) = self.relist_nodes.as_mut() {
                    seen.insert(node.metadata.name.clone().unwrap_or_default());
                }
                let change = self.cache.set_node(node);
                self.changed(change);
            }
            Event::Delete(node) => self.cache.remove_node(node.metadata.name.as_deref().unwrap_or_default()),
            Event::InitDone => {
                if let Some(seen) = self.relist_nodes.take() {
                    let gone: Vec<String> = self.cache.nodes().map(|n| n.name().to_string()).filter(|n| !seen.contains(n)).collect();
                    for name in gone {
                        self.cache.remove_node(&name);
                    }
                }
                self.nodes_synced = true;
            }
        }
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Bound { key, pod, node } => self.reports.push(key, Report::Scheduled { pod, node }),
            Outcome::Failed { key, pod } => {
                self.cache.forget(&key);
                if !self.cache.is_placed(&key) {
                    self.queue.add_or_update(&key, priority(&pod));
                    self.queue.retry_later(&key, Instant::now());
                    self.pending.insert(key, pod);
                }
            }
        }
    }

    /// What the pod's `WaitForFirstConsumer` claims need on `node` (nothing for most pods).
    fn volume_actions(&self, pod: &CachedPod, node: &str) -> Vec<volume_binding::VolumeAction> {
        let Some(node) = self.cache.node(node) else { return Vec::new() };
        volume_binding::pre_filter(pod, &self.volumes).ok().and_then(|state| volume_binding::plan(&state, node)).unwrap_or_default()
    }

    /// One scheduling attempt for the next queued pod (called while a binding permit
    /// is free).
    fn schedule_one(&mut self) {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else { return };
        let Some(key) = self.queue.pop() else { return };
        let Some(pod) = self.pending.get(&key).cloned() else {
            self.queue.remove(&key);
            return;
        };
        let info = Arc::new(PodInfo::new(pod.clone()));
        match decide(&info, &self.cache, &self.volumes) {
            Ok(node) => {
                let volume_actions = self.volume_actions(&pod, &node);
                self.cache.assume(info, &node);
                self.queue.done(&key);
                self.pending.remove(&key);
                let (binder, outcomes) = (self.binder.clone(), self.outcomes.clone());
                self.tasks.spawn(async move {
                    let bound = match binder.bind_volumes(&node, &volume_actions).await {
                        Ok(()) => binder.bind(&pod, &node).await,
                        Err(e) => Err(e),
                    };
                    let outcome = match bound {
                        Ok(()) => Outcome::Bound { key, pod, node },
                        Err(e) => {
                            tracing::warn!(pod = %key, node = %node, error = %e, "binding failed");
                            Outcome::Failed { key, pod }
                        }
                    };
                    // Free the permit before the loop hears of it: the outcome is what
                    // wakes it to take the next pod.
                    drop(permit);
                    let _ = outcomes.send(outcome);
                });
            }
            Err(message) => {
                self.queue.unschedulable(&key, Instant::now());
                self.reports.push(key, Report::Unschedulable { pod, message });
            }
        }
    }
}

/// Picks the node for a pod: filter every node, score the feasible ones, take the best
/// (ties broken at random, like upstream). `Err` carries the unschedulable message.
pub fn decide(pod: &Arc<PodInfo>, cache: &Cache, volumes: &impl VolumeLookup) -> Result<String, String> {
    if cache.node_count() == 0 {
        return Err(NO_NODES.into());
    }
    let bound_volumes = volume_binding::pre_filter(&pod.pod, volumes).map_err(|reason| diagnosis::pre_filter_message(pod, &reason, cache))?;
    let mut cycle = Cycle::prepare(pod.clone(), cache);
    cycle.volumes = bound_volumes;
    let mut feasible: Vec<&NodeInfo> = Vec::new();
    let mut rejected: Vec<(&NodeInfo, Rejection)> = Vec::new();
    for node in cache.nodes() {
        match cycle.filter(node) {
            Ok(()) => feasible.push(node),
            Err(r) => rejected.push((node, r)),
        }
    }
    if feasible.is_empty() {
        return Err(diagnosis::unschedulable_message(pod, &rejected, cache));
    }
    let scores = scores::score(&cycle, &feasible);
    let best = scores.iter().copied().max().unwrap_or(0);
    let winners: Vec<usize> = (0..feasible.len()).filter(|i| scores[*i] == best).collect();
    let pick = winners[rand::rng().random_range(0..winners.len())];
    Ok(feasible[pick].name().to_string())
}

/// Runs the scheduler while this process holds the `kube-system/kube-scheduler` Lease
/// (several may run, one schedules), until `shutdown` completes.
pub async fn run_leader_elected(client: Client, config: Config, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let elector = crate::leader::LeaderElector::new(client.clone(), crate::leader::LeaseConfig::scheduler());
    let work = || {
        let (client, config) = (client.clone(), config.clone());
        async move {
            if let Err(e) = run(client, config).await {
                tracing::error!("the scheduler stopped: {e:#}");
            }
        }
    };
    Ok(elector.run(work, shutdown).await?)
}

/// Runs the scheduler without leader election (it must be the only one) until its
/// watches fail for good.
pub async fn run(client: Client, config: Config) -> anyhow::Result<()> {
    let pod_watch = watcher(
        Api::<CachedPod>::all(client.clone()),
        watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed"),
    )
    .default_backoff();
    let node_watch = watcher(Api::<Node>::all(client.clone()), watcher::Config::default()).default_backoff();
    let (claims, claim_writer) = kube::runtime::reflector::store();
    let (volumes, volume_writer) = kube::runtime::reflector::store();
    let (classes, class_writer) = kube::runtime::reflector::store();
    let claim_watch = watcher(Api::<PersistentVolumeClaim>::all(client.clone()), watcher::Config::default()).default_backoff().reflect(claim_writer);
    let volume_watch = watcher(Api::<PersistentVolume>::all(client.clone()), watcher::Config::default()).default_backoff().reflect(volume_writer);
    let class_watch = watcher(Api::<StorageClass>::all(client.clone()), watcher::Config::default()).default_backoff().reflect(class_writer);
    let storage_changes = futures::stream::select(claim_watch.map(|e| e.is_ok()), futures::stream::select(volume_watch.map(|e| e.is_ok()), class_watch.map(|e| e.is_ok())));
    futures::pin_mut!(pod_watch, node_watch, storage_changes);
    let (outcomes, mut outcome_rx) = mpsc::unbounded_channel();
    let binder = Binder::new(client, config.instance.clone());
    let reports = Arc::new(Reports::default());
    let mut tasks = JoinSet::new();
    for _ in 0..config.report_concurrency.max(1) {
        tasks.spawn(reports.clone().work(binder.clone()));
    }
    let mut s = Scheduler {
        binder,
        permits: Arc::new(Semaphore::new(config.bind_concurrency.max(1))),
        reports,
        config,
        cache: Cache::default(),
        queue: Queue::default(),
        pending: HashMap::new(),
        outcomes,
        tasks,
        relist_pods: None,
        relist_nodes: None,
        pods_synced: false,
        nodes_synced: false,
        volumes: volume_binding::Stores { claims, volumes, classes },
    };
    let mut next_flush: Option<Instant> = None;
    loop {
        let ready = s.pods_synced && s.nodes_synced && s.queue.has_active() && s.permits.available_permits() > 0;
        let wake = next_flush.map(tokio::time::Instant::from_std);
        tokio::select! {
            biased;
            event = pod_watch.next() => match event {
                Some(Ok(e)) => s.on_pod_event(e),
                Some(Err(e)) => tracing::warn!(error = %e, "pod watch failed; retrying"),
                None => anyhow::bail!("the pod watch ended"),
            },
            event = node_watch.next() => match event {
                Some(Ok(e)) => s.on_node_event(e),
                Some(Err(e)) => tracing::warn!(error = %e, "node watch failed; retrying"),
                None => anyhow::bail!("the node watch ended"),
            },
            Some(ok) = storage_changes.next() => if ok { s.queue.cluster_changed() },
            Some(outcome) = outcome_rx.recv() => s.on_outcome(outcome),
            _ = async { if let Some(w) = wake { tokio::time::sleep_until(w).await } }, if wake.is_some() => {}
            _ = std::future::ready(()), if ready => s.schedule_one(),
        }
        next_flush = s.queue.flush(Instant::now());
        while s.tasks.try_join_next().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache::tests::{node, pod};
    use filters::volume_binding::NoVolumes;
    use serde_json::json;

    #[test]
    fn only_spec_and_metadata_changes_send_a_waiting_pod_round_again() {
        let old: CachedPod = serde_json::from_value(json!({
            "metadata": {"name": "p", "resourceVersion": "1", "labels": {"a": "1"}},
            "spec": {"containers": [{"name": "c"}]},
        }))
        .unwrap();
        let mut own_write = old.clone();
        own_write.metadata.resource_version = Some("2".into());
        own_write.status = serde_json::from_value(json!({"conditions": [{"type": "PodScheduled", "status": "False"}]})).unwrap();
        assert!(!changed_for_scheduling(&old, &own_write));
        let mut relabelled = own_write.clone();
        relabelled.metadata.labels.as_mut().unwrap().insert("a".into(), "2".into());
        assert!(changed_for_scheduling(&own_write, &relabelled));
        let mut tolerating = own_write.clone();
        tolerating.spec.as_mut().unwrap().tolerations = Some(vec![Default::default()]);
        assert!(changed_for_scheduling(&own_write, &tolerating));
    }

    #[test]
    fn decide_picks_a_feasible_node_and_assumed_pods_fill_nodes_up() {
        let mut cache = Cache::default();
        assert_eq!(decide(&pod("p", json!({})), &cache, &NoVolumes), Err(NO_NODES.to_string()));
        cache.set_node(node("n1", "1", json!({})));
        cache.set_node(node("n2", "1", json!({})));
        let half = |name: &str| pod(name, json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "600m"}}}]}));
        let first = decide(&half("a"), &cache, &NoVolumes).unwrap();
        cache.assume(half("a"), &first);
        let second = decide(&half("b"), &cache, &NoVolumes).unwrap();
        assert_ne!(first, second, "LeastAllocated prefers the emptier node, and the first no longer fits");
        cache.assume(half("b"), &second);
        let message = decide(&half("c"), &cache, &NoVolumes).unwrap_err();
        assert_eq!(
            message,
            "0/2 nodes are available: 2 Insufficient cpu. no new claims to deallocate, \
             preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
    }
}
