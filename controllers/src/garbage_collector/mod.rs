//! Garbage collector (upstream `pkg/controller/garbagecollector`): watches the metadata
//! of every deletable kind found through discovery (re-discovered periodically), keeps
//! the ownership [`graph`], and
//! - deletes dependents whose owners are all gone (an owner reference whose UID differs
//!   from the live object's counts as gone) — background propagation and dangling
//!   dependents;
//! - for owners deleted in the foreground (`foregroundDeletion` finalizer, set by the
//!   API server), deletes the dependents that block them, then removes the finalizer;
//! - for owners deleted with `orphan`, removes the dependents' owner references, then
//!   the finalizer.
//!
//! Like upstream, this is not a per-kind reconcile loop but a graph fed by watchers
//! (kube-runtime `metadata_watcher`) with a deduplicating work queue.

pub mod graph;

use crate::context::Context;
use crate::error::{is_conflict, is_not_found, Error};
use futures::StreamExt;
use graph::{classify, verdict, Graph, Node, Verdict, FOREGROUND, ORPHAN};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::core::PartialObjectMeta;
use kube::discovery::{verbs, ApiResource, Discovery, Scope};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use crate::tasks::{spawn_scoped, Scoped};

/// Kinds never collected (upstream `DefaultIgnoredResources`).
const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];
/// Items processed at once (upstream `--concurrent-gc-syncs` default 20).
const WORKERS: usize = 20;

/// A watched kind.
struct WatchedKind {
    resource: ApiResource,
    namespaced: bool,
}

struct Collector {
    client: kube::Client,
    graph: Mutex<Graph>,
    /// kind key (`group/version/plural`) → kind.
    kinds: Mutex<HashMap<Arc<str>, Arc<WatchedKind>>>,
    /// (group, Kind) → kind key, to resolve owner references.
    by_kind: Mutex<HashMap<(String, String), Arc<str>>>,
    queued: Mutex<HashSet<String>>,
    queue: mpsc::UnboundedSender<String>,
    /// Watches still doing their first list.
    unsynced: AtomicUsize,
}

/// Runs the collector until the process stops.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    let (queue, mut rx) = mpsc::unbounded_channel();
    let gc = Arc::new(Collector {
        client: ctx.client.clone(),
        graph: Mutex::new(Graph::default()),
        kinds: Mutex::new(HashMap::new()),
        by_kind: Mutex::new(HashMap::new()),
        queued: Mutex::new(HashSet::new()),
        queue,
        unsynced: AtomicUsize::new(0),
    });
    let mut watches: HashMap<Arc<str>, Scoped> = HashMap::new();
    // First discovery, then wait for the first lists so owners are known before judging.
    gc.rediscover(&mut watches).await;
    for _ in 0..600 {
        if gc.unsynced.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rediscovery = {
        let gc = gc.clone();
        let period = ctx.config.discovery_period;
        // Owns the per-kind watches: dropping it (when the collector stops) stops them.
        async move {
            loop {
                tokio::time::sleep(period).await;
                gc.rediscover(&mut watches).await;
            }
        }
    };
    let items = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let workers = items.for_each_concurrent(WORKERS, |uid| {
        let gc = gc.clone();
        async move {
            gc.queued.lock().unwrap().remove(&uid);
            if let Err(e) = gc.process(&uid).await {
                tracing::debug!("garbage collector: {uid}: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                gc.enqueue([uid]);
            }
        }
    });
    tokio::select! {
        _ = workers => {}
        _ = rediscovery => {}
    }
    Ok(())
}

fn kind_key(ar: &ApiResource) -> Arc<str> {
    Arc::from(format!("{}/{}/{}", ar.group, ar.version, ar.plural))
}

impl Collector {
    fn enqueue(&self, uids: impl IntoIterator<Item = String>) {
        let mut queued = self.queued.lock().unwrap();
        for uid in uids {
            if queued.insert(uid.clone()) {
                let _ = self.queue.send(uid);
            }
        }
    }

    /// Finds the deletable kinds; starts watching new ones, stops watching vanished ones.
    async fn rediscover(self: &Arc<Self>, watches: &mut HashMap<Arc<str>, Scoped>) {
        let discovery = match Discovery::new(self.client.clone()).run().await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("garbage collector: discovery failed: {e}");
                return;
            }
        };
        let mut found: HashMap<Arc<str>, Arc<WatchedKind>> = HashMap::new();
        let mut by_kind = HashMap::new();
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                let key = kind_key(&ar);
                by_kind.insert((ar.group.clone(), ar.kind.clone()), key.clone());
                let deletable = [verbs::LIST, verbs::WATCH, verbs::DELETE].iter().all(|v| caps.supports_operation(v));
                if !deletable || IGNORED.contains(&(ar.group.as_str(), ar.plural.as_str())) {
                    continue;
                }
                found.insert(key, Arc::new(WatchedKind { namespaced: caps.scope == Scope::Namespaced, resource: ar }));
            }
        }
        *self.by_kind.lock().unwrap() = by_kind;
        *self.kinds.lock().unwrap() = found.clone();
        watches.retain(|key, _| {
            if found.contains_key(key) {
                return true;
            }
            let gone = self.graph.lock().unwrap().missing_of_kind(key, &HashSet::new());
            for uid in gone {
                let wake = self.graph.lock().unwrap().remove(&uid);
                self.enqueue(wake);
            }
            false
        });
        for (key, kind) in found {
            if watches.contains_key(&key) {
                continue;
            }
            self.unsynced.fetch_add(1, Ordering::SeqCst);
            let gc = self.clone();
            watches.insert(key.clone(), spawn_scoped(async move { gc.watch(key, kind).await }));
        }
    }

    /// Feeds the graph from one kind's metadata watch.
    async fn watch(self: Arc<Self>, key: Arc<str>, kind: Arc<WatchedKind>) {
        let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(self.client.clone(), &kind.resource);
        let mut events = watcher(api, watcher::Config::default()).default_backoff().boxed();
        let mut relisting: Option<HashSet<String>> = None;
        let mut first_sync = true;
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Init) => relisting = Some(HashSet::new()),
                Ok(watcher::Event::InitApply(obj)) => {
                    if let (Some(seen), Some(uid)) = (relisting.as_mut(), obj.metadata.uid.clone()) {
                        seen.insert(uid);
                    }
                    self.observe(&key, obj);
                }
                Ok(watcher::Event::InitDone) => {
                    let seen = relisting.take().unwrap_or_default();
                    let gone = self.graph.lock().unwrap().missing_of_kind(&key, &seen);
                    for uid in gone {
                        let wake = self.graph.lock().unwrap().remove(&uid);
                        self.enqueue(wake);
                    }
                    if first_sync {
                        first_sync = false;
                        self.unsynced.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                Ok(watcher::Event::Apply(obj)) => self.observe(&key, obj),
                Ok(watcher::Event::Delete(obj)) => {
                    if let Some(uid) = obj.metadata.uid.as_deref() {
                        let wake = self.graph.lock().unwrap().remove(uid);
                        self.enqueue(wake);
                    }
                }
                Err(e) => {
                    tracing::debug!("garbage collector: watch of {key} failed: {e}");
                    if first_sync && matches!(e, watcher::Error::InitialListFailed(_)) {
                        // Do not hold the workers back for a kind that cannot be listed.
                        first_sync = false;
                        self.unsynced.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }
        }
    }

    fn observe(&self, key: &Arc<str>, obj: PartialObjectMeta<DynamicObject>) {
        let md = obj.metadata;
        let Some(uid) = md.uid.clone() else { return };
        let node = Node {
            kind: key.clone(),
            namespace: md.namespace,
            name: md.name.unwrap_or_default(),
            resource_version: md.resource_version.unwrap_or_default(),
            owners: md.owner_references.unwrap_or_default(),
            deleting: md.deletion_timestamp.is_some(),
            finalizers: md.finalizers.unwrap_or_default(),
        };
        let wake = self.graph.lock().unwrap().upsert(&uid, node);
        self.enqueue(wake);
    }

    fn api_for(&self, node: &Node) -> Option<Api<DynamicObject>> {
        let kind = self.kinds.lock().unwrap().get(&node.kind).cloned()?;
        Some(match (&node.namespace, kind.namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &kind.resource),
            _ => Api::all_with(self.client.clone(), &kind.resource),
        })
    }

    /// One item of upstream's attemptToDelete / attemptToOrphan queues.
    async fn process(&self, uid: &str) -> Result<(), Error> {
        let Some(node) = self.graph.lock().unwrap().get(uid).cloned() else { return Ok(()) };
        let Some(api) = self.api_for(&node) else { return Ok(()) };
        if node.deleting {
            if node.has(FOREGROUND) {
                let blocking = self.graph.lock().unwrap().blocking_dependents(uid);
                if blocking.is_empty() {
                    return self.remove_finalizer(&api, &node, FOREGROUND).await;
                }
                // Each blocking dependent sees its owner waiting and deletes itself.
                self.enqueue(blocking.into_iter().filter(|(_, d)| !d.deleting).map(|(u, _)| u));
                return Ok(());
            }
            if node.has(ORPHAN) {
                let dependents = self.graph.lock().unwrap().dependents_of(uid);
                for (_, dep) in dependents {
                    let Some(dep_api) = self.api_for(&dep) else { continue };
                    self.drop_owners(&dep_api, &dep, &[uid.to_string()]).await?;
                }
                return self.remove_finalizer(&api, &node, ORPHAN).await;
            }
            return Ok(());
        }
        if node.owners.is_empty() {
            return Ok(());
        }
        let mut classified = classify(&self.graph.lock().unwrap(), &node);
        for owner in std::mem::take(&mut classified.unknown) {
            if self.owner_exists(&node, &owner).await? {
                classified.solid.push(owner);
            } else {
                classified.dangling.push(owner);
            }
        }
        let has_dependents = !self.graph.lock().unwrap().dependents_of(uid).is_empty();
        match verdict(&node, &classified, has_dependents) {
            Verdict::Keep => Ok(()),
            Verdict::DropOwners(uids) => self.drop_owners(&api, &node, &uids).await,
            Verdict::Delete { policy, unblock } => {
                if !unblock.is_empty() {
                    let owners: Vec<OwnerReference> = node
                        .owners
                        .iter()
                        .cloned()
                        .map(|mut o| {
                            if unblock.contains(&o.uid) {
                                o.block_owner_deletion = Some(false);
                            }
                            o
                        })
                        .collect();
                    self.patch_owners(&api, &node, owners).await?;
                }
                let policy = match policy {
                    "Foreground" => PropagationPolicy::Foreground,
                    "Orphan" => PropagationPolicy::Orphan,
                    _ => PropagationPolicy::Background,
                };
                let dp = DeleteParams {
                    propagation_policy: Some(policy),
                    preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
                    ..Default::default()
                };
                match api.delete(&node.name, &dp).await {
                    Ok(_) => Ok(()),
                    Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Asks the API whether an owner the graph does not know exists with the referenced
    /// UID (upstream `isDangling`: the graph may lag behind).
    async fn owner_exists(&self, dependent: &Node, owner: &OwnerReference) -> Result<bool, Error> {
        let group = owner.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let key = self.by_kind.lock().unwrap().get(&(group.to_string(), owner.kind.clone())).cloned();
        let kind = key.and_then(|k| self.kinds.lock().unwrap().get(&k).cloned());
        let Some(kind) = kind else {
            // Unknown kind: never collect on a guess.
            return Ok(true);
        };
        let api: Api<PartialObjectMeta<DynamicObject>> = match (&dependent.namespace, kind.namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &kind.resource),
            (None, true) => return Ok(false), // a cluster-scoped object cannot have a namespaced owner
            _ => Api::all_with(self.client.clone(), &kind.resource),
        };
        match api.get_opt(&owner.name).await? {
            Some(live) => Ok(live.metadata.uid.as_deref() == Some(owner.uid.as_str())),
            None => Ok(false),
        }
    }

    async fn drop_owners(&self, api: &Api<DynamicObject>, node: &Node, uids: &[String]) -> Result<(), Error> {
        let owners: Vec<OwnerReference> = node.owners.iter().filter(|o| !uids.contains(&o.uid)).cloned().collect();
        self.patch_owners(api, node, owners).await
    }

    async fn patch_owners(&self, api: &Api<DynamicObject>, node: &Node, owners: Vec<OwnerReference>) -> Result<(), Error> {
        // An empty list is removed, as upstream's omitempty does.
        let owners = if owners.is_empty() { serde_json::Value::Null } else { json!(owners) };
        let patch = json!({"metadata": {"ownerReferences": owners}});
        match api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_finalizer(&self, api: &Api<DynamicObject>, node: &Node, finalizer: &str) -> Result<(), Error> {
        let rest: Vec<&String> = node.finalizers.iter().filter(|f| *f != finalizer).collect();
        let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": node.resource_version}});
        match api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

