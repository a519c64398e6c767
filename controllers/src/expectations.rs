//! Pod creations and deletions a controller made but has not yet seen in its informer
//! (upstream `ControllerExpectations` in `pkg/controller/controller_utils.go`). While an
//! owner has pending expectations its controller does not create or delete more pods, so a
//! lagging store never causes a second round of creations.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After this long, pending expectations are dropped (upstream `ExpectationsTimeout`).
pub const TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What the informer currently says about one pod name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not in the store.
    Absent,
    /// In the store, not terminating.
    Present,
    /// In the store with a deletionTimestamp.
    Terminating,
}

#[derive(Default)]
struct Pending {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    since: Option<Instant>,
}

/// Pending pod names per owner key (`kind/namespace/name`).
#[derive(Default)]
pub struct Expectations {
    owners: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    /// Records pods just created for `owner`.
    pub fn expect_creations(&self, owner: &str, names: impl IntoIterator<Item = String>) {
        self.update(owner, |p| p.creates.extend(names));
    }

    /// Records pods just deleted for `owner`.
    pub fn expect_deletions(&self, owner: &str, names: impl IntoIterator<Item = String>) {
        self.update(owner, |p| p.deletes.extend(names));
    }

    fn update(&self, owner: &str, f: impl FnOnce(&mut Pending)) {
        let mut owners = self.owners.lock().expect("expectations lock");
        let pending = owners.entry(owner.to_string()).or_default();
        pending.since = Some(Instant::now());
        f(pending);
    }

    /// Whether everything expected for `owner` has been observed (pending names that were
    /// observed are dropped). `seen` looks a pod name up in the informer.
    pub fn satisfied(&self, owner: &str, seen: impl Fn(&str) -> Seen) -> bool {
        let mut owners = self.owners.lock().expect("expectations lock");
        let Some(pending) = owners.get_mut(owner) else { return true };
        pending.creates.retain(|name| seen(name) == Seen::Absent);
        pending.deletes.retain(|name| seen(name) == Seen::Present);
        let expired = pending.since.is_some_and(|t| t.elapsed() > TIMEOUT);
        if expired || (pending.creates.is_empty() && pending.deletes.is_empty()) {
            owners.remove(owner);
            return true;
        }
        false
    }

    /// Forgets an owner (it was deleted).
    pub fn forget(&self, owner: &str) {
        self.owners.lock().expect("expectations lock").remove(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_are_satisfied_once_seen() {
        let e = Expectations::default();
        e.expect_creations("rs/ns/a", ["a-1".to_string(), "a-2".to_string()]);
        assert!(!e.satisfied("rs/ns/a", |n| if n == "a-1" { Seen::Present } else { Seen::Absent }));
        assert!(e.satisfied("rs/ns/a", |_| Seen::Present));
        assert!(e.satisfied("rs/ns/other", |_| Seen::Absent));
    }

    #[test]
    fn deletions_are_satisfied_when_gone_or_terminating() {
        let e = Expectations::default();
        e.expect_deletions("k", ["p".to_string(), "q".to_string()]);
        assert!(!e.satisfied("k", |n| if n == "p" { Seen::Terminating } else { Seen::Present }));
        assert!(e.satisfied("k", |_| Seen::Absent));
    }
}
