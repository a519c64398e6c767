//! The ownership graph (upstream `garbagecollector/graph.go` + `graph_builder.go`): every
//! object of every watched kind, reduced to what collection needs, with the reverse
//! owner → dependents index. Pure data: the watchers feed it, the workers read it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Finalizer of an owner whose blocking dependents go first.
pub const FOREGROUND: &str = "foregroundDeletion";
/// Finalizer of an owner whose dependents are kept (their owner references removed).
pub const ORPHAN: &str = "orphan";

/// One object, as the collector sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Which watched kind it belongs to (key into the collector's kind table).
    pub kind: Arc<str>,
    /// Namespace, for namespaced kinds.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Resource version last seen.
    pub resource_version: String,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// `deletionTimestamp` is set.
    pub deleting: bool,
    /// Its finalizers.
    pub finalizers: Vec<String>,
}

impl Node {
    /// Whether it carries `finalizer`.
    pub fn has(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }
    /// Being deleted with dependents going first.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.has(FOREGROUND)
    }
}

/// The graph: uid → node, owner uid → dependent uids.
#[derive(Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    /// The node with this uid.
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Adds or updates a node; returns the uids worth processing because of it.
    pub fn upsert(&mut self, uid: &str, node: Node) -> Vec<String> {
        let mut wake = Vec::new();
        let old = self.nodes.remove(uid);
        if let Some(old) = &old {
            for o in &old.owners {
                if let Some(set) = self.dependents.get_mut(&o.uid) {
                    set.remove(uid);
                    if set.is_empty() {
                        self.dependents.remove(&o.uid);
                    }
                }
                // An owner waiting on its dependents may be free now.
                if !node.owners.iter().any(|n| n.uid == o.uid) {
                    wake.push(o.uid.clone());
                }
            }
        }
        for o in &node.owners {
            self.dependents.entry(o.uid.clone()).or_default().insert(uid.to_string());
        }
        if old.as_ref() == Some(&node) {
            self.nodes.insert(uid.to_string(), node);
            return wake;
        }
        if !node.owners.is_empty() || (node.deleting && (node.has(FOREGROUND) || node.has(ORPHAN))) {
            wake.push(uid.to_string());
        }
        if node.deleting {
            wake.extend(node.owners.iter().map(|o| o.uid.clone()));
        }
        self.nodes.insert(uid.to_string(), node);
        wake
    }

    /// Removes a node; returns the uids worth processing: its dependents (maybe dangling
    /// now) and its owners (maybe waiting for it).
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let Some(node) = self.nodes.remove(uid) else { return Vec::new() };
        let mut wake: Vec<String> = self.dependents.get(uid).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        for o in &node.owners {
            if let Some(set) = self.dependents.get_mut(&o.uid) {
                set.remove(uid);
                if set.is_empty() {
                    self.dependents.remove(&o.uid);
                }
            }
            wake.push(o.uid.clone());
        }
        wake
    }

    /// The uids of nodes of `kind` not in `keep` (gone while a watch was relisting).
    pub fn missing_of_kind(&self, kind: &str, keep: &HashSet<String>) -> Vec<String> {
        self.nodes.iter().filter(|(uid, n)| &*n.kind == kind && !keep.contains(*uid)).map(|(uid, _)| uid.clone()).collect()
    }

    /// Dependents of `uid` that exist in the graph.
    pub fn dependents_of(&self, uid: &str) -> Vec<(String, Node)> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d).map(|n| (d.clone(), n.clone())))
            .collect()
    }

    /// Dependents whose reference to `uid` blocks its deletion (`blockOwnerDeletion`).
    pub fn blocking_dependents(&self, uid: &str) -> Vec<(String, Node)> {
        self.dependents_of(uid)
            .into_iter()
            .filter(|(_, n)| n.owners.iter().any(|o| o.uid == uid && o.block_owner_deletion == Some(true)))
            .collect()
    }
}

/// How a dependent's owner references stand (upstream `classifyReferences`).
#[derive(Debug, Default, PartialEq)]
pub struct Classified {
    /// Owners that exist with the referenced UID.
    pub solid: Vec<OwnerReference>,
    /// Owners that do not exist (or exist with another UID).
    pub dangling: Vec<OwnerReference>,
    /// Owners being deleted in the foreground, waiting for their dependents.
    pub waiting: Vec<OwnerReference>,
    /// Owners absent from the graph: ask the API before calling them dangling.
    pub unknown: Vec<OwnerReference>,
}

/// Classifies `node`'s owner references against the graph.
pub fn classify(graph: &Graph, node: &Node) -> Classified {
    let mut c = Classified::default();
    for r in &node.owners {
        match graph.get(&r.uid) {
            Some(owner) if owner.deleting_dependents() => c.waiting.push(r.clone()),
            Some(_) => c.solid.push(r.clone()),
            None => c.unknown.push(r.clone()),
        }
    }
    c
}

/// What to do with a live (not deleting) dependent once its owners are classified
/// (upstream `attemptToDeleteItem`).
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// It keeps at least one live owner; nothing else to fix.
    Keep,
    /// It keeps a live owner but must drop references to these owner UIDs.
    DropOwners(Vec<String>),
    /// Every owner is gone or waiting: delete it with this propagation policy, first
    /// clearing `blockOwnerDeletion` on the references to these waiting owners.
    Delete {
        /// Propagation policy of the delete.
        policy: &'static str,
        /// UIDs of waiting owners whose `blockOwnerDeletion` is cleared first.
        unblock: Vec<String>,
    },
}

/// Decides what happens to a dependent whose owners are all classified (no `unknown`).
pub fn verdict(node: &Node, c: &Classified, has_dependents: bool) -> Verdict {
    if !c.solid.is_empty() {
        if c.dangling.is_empty() && c.waiting.is_empty() {
            return Verdict::Keep;
        }
        return Verdict::DropOwners(c.dangling.iter().chain(&c.waiting).map(|r| r.uid.clone()).collect());
    }
    if !c.waiting.is_empty() && has_dependents {
        // Its own dependents must go first, and it must not block its owners meanwhile.
        let unblock = c.waiting.iter().filter(|r| r.block_owner_deletion == Some(true)).map(|r| r.uid.clone()).collect();
        return Verdict::Delete { policy: "Foreground", unblock };
    }
    let policy = if node.has(ORPHAN) {
        "Orphan"
    } else if node.has(FOREGROUND) {
        "Foreground"
    } else {
        "Background"
    };
    Verdict::Delete { policy, unblock: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: &str, block: bool) -> OwnerReference {
        OwnerReference { api_version: "v1".into(), kind: "ConfigMap".into(), name: format!("n-{uid}"), uid: uid.into(), block_owner_deletion: Some(block), controller: None }
    }

    fn node(owners: Vec<OwnerReference>, deleting: bool, finalizers: &[&str]) -> Node {
        Node {
            kind: Arc::from("v1/configmaps"),
            namespace: Some("ns".into()),
            name: "x".into(),
            resource_version: "1".into(),
            owners,
            deleting,
            finalizers: finalizers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn dependents_index_follows_owner_changes() {
        let mut g = Graph::default();
        g.upsert("o", node(vec![], false, &[]));
        let wake = g.upsert("d", node(vec![owner("o", true)], false, &[]));
        assert_eq!(wake, vec!["d".to_string()]);
        assert_eq!(g.dependents_of("o").len(), 1);
        assert_eq!(g.blocking_dependents("o").len(), 1);
        // The dependent drops its owner: the owner is woken and the index forgets.
        let wake = g.upsert("d", node(vec![], false, &[]));
        assert_eq!(wake, vec!["o".to_string()]);
        assert!(g.dependents_of("o").is_empty());
        g.upsert("d", node(vec![owner("o", true)], false, &[]));
        // Removing the owner wakes its dependents.
        assert_eq!(g.remove("o"), vec!["d".to_string()]);
    }

    #[test]
    fn classification_and_verdicts() {
        let mut g = Graph::default();
        g.upsert("live", node(vec![], false, &[]));
        g.upsert("fg", node(vec![], true, &[FOREGROUND]));
        let d = node(vec![owner("live", true), owner("gone", false)], false, &[]);
        let mut c = classify(&g, &d);
        assert_eq!((c.solid.len(), c.unknown.len()), (1, 1));
        c.dangling = std::mem::take(&mut c.unknown);
        assert_eq!(verdict(&d, &c, false), Verdict::DropOwners(vec!["gone".into()]));

        let only_gone = node(vec![owner("gone", false)], false, &[]);
        let c = Classified { dangling: only_gone.owners.clone(), ..Default::default() };
        assert_eq!(verdict(&only_gone, &c, false), Verdict::Delete { policy: "Background", unblock: vec![] });

        let waiting = node(vec![owner("fg", true)], false, &[]);
        let c = classify(&g, &waiting);
        assert_eq!(c.waiting.len(), 1);
        assert_eq!(verdict(&waiting, &c, false), Verdict::Delete { policy: "Background", unblock: vec![] });
        assert_eq!(verdict(&waiting, &c, true), Verdict::Delete { policy: "Foreground", unblock: vec!["fg".into()] });

        let c = classify(&g, &node(vec![owner("live", true)], false, &[]));
        assert_eq!(verdict(&d, &c, false), Verdict::Keep);
    }
}
