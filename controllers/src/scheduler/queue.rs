//! The scheduling queue (upstream `backend/queue/scheduling_queue.go`, simplified):
//! an active heap ordered by priority then arrival, a back-off area for pods that
//! failed recently, and an unschedulable area that cluster changes empty into back-off.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

/// Upstream `podInitialBackoffSeconds`.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Upstream `podMaxBackoffSeconds`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream `podMaxInUnschedulablePodsDuration`: retried at least this often.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

#[derive(Debug, PartialEq, Eq)]
struct Entry {
    priority: i32,
    seq: u64,
    key: String,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority.cmp(&other.priority).then(other.seq.cmp(&self.seq))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug)]
enum Place {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
}

impl Place {
    /// When a parked pod becomes active again without a cluster change.
    fn due(&self) -> Option<Instant> {
        match *self {
            Place::Active => None,
            Place::Backoff(at) => Some(at),
            Place::Unschedulable(since) => Some(since + MAX_UNSCHEDULABLE),
        }
    }
}

#[derive(Debug)]
struct Tracked {
    priority: i32,
    attempts: u32,
    place: Place,
}

/// Pods waiting for a node, by key.
#[derive(Debug, Default)]
pub struct Queue {
    active: BinaryHeap<Entry>,
    pods: HashMap<String, Tracked>,
    seq: u64,
    /// Parked pods by due time, earliest first. An entry is stale (and skipped) when its
    /// pod has moved since; so a flush costs only the pods that are due, not every pod.
    parked: BinaryHeap<Reverse<(Instant, String)>>,
}

/// The back-off after `attempts` failures: 1s, 2s, 4s … 10s.
pub fn backoff(attempts: u32) -> Duration {
    let doubled = INITIAL_BACKOFF.saturating_mul(1u32 << attempts.saturating_sub(1).min(8));
    doubled.min(MAX_BACKOFF)
}

impl Queue {
    fn push_active(&mut self, key: &str, priority: i32) {
        self.seq += 1;
        self.active.push(Entry { priority, seq: self.seq, key: key.to_string() });
    }

    /// Moves a tracked pod to `place`, noting when it is due.
    fn park(&mut self, key: &str, place: Place) {
        if let Some(t) = self.pods.get_mut(key) {
            if let Some(at) = place.due() {
                self.parked.push(Reverse((at, key.to_string())));
            }
            t.place = place;
        }
    }

    /// A pod the watch shows unscheduled. New pods become active; a known pod that
    /// changed while unschedulable moves to back-off (its change may help).
    pub fn add_or_update(&mut self, key: &str, priority: i32) {
        match self.pods.get_mut(key) {
            None => {
                self.pods.insert(key.to_string(), Tracked { priority, attempts: 0, place: Place::Active });
                self.push_active(key, priority);
            }
            Some(t) => {
                t.priority = priority;
                if let Place::Unschedulable(since) = t.place {
                    let at = since + backoff(t.attempts);
                    self.park(key, Place::Backoff(at));
                }
            }
        }
    }

    /// Forgets a pod (deleted, or bound).
    pub fn remove(&mut self, key: &str) {
        self.pods.remove(key);
    }

    /// The next pod to schedule, highest priority first.
    pub fn pop(&mut self) -> Option<String> {
        while let Some(e) = self.active.pop() {
            if self.pods.get(&e.key).is_some_and(|t| matches!(t.place, Place::Active)) {
                // Stays tracked (as in flight) until done() or unschedulable().
                self.park(&e.key, Place::Backoff(Instant::now() + MAX_UNSCHEDULABLE));
                return Some(e.key);
            }
        }
        None
    }

    /// The pod was placed: stop tracking it.
    pub fn done(&mut self, key: &str) {
        self.pods.remove(key);
    }

    /// No node fits (or binding failed): park the pod until the cluster changes.
    pub fn unschedulable(&mut self, key: &str, now: Instant) {
        if let Some(t) = self.pods.get_mut(key) {
            t.attempts += 1;
            self.park(key, Place::Unschedulable(now));
        }
    }

    /// A failed binding: retry after the back-off regardless of cluster changes.
    pub fn retry_later(&mut self, key: &str, now: Instant) {
        if let Some(t) = self.pods.get_mut(key) {
            t.attempts += 1;
            let at = now + backoff(t.attempts);
            self.park(key, Place::Backoff(at));
        }
    }

    /// The cluster changed: every unschedulable pod is retried after its back-off.
    pub fn cluster_changed(&mut self) {
        for (key, t) in &mut self.pods {
            if let Place::Unschedulable(since) = t.place {
                let at = since + backoff(t.attempts);
                t.place = Place::Backoff(at);
                self.parked.push(Reverse((at, key.clone())));
            }
        }
    }

    /// Moves pods whose back-off ended (and long-parked ones) to active; returns the
    /// next instant something is due, if any.
    pub fn flush(&mut self, now: Instant) -> Option<Instant> {
        while let Some(Reverse((at, _))) = self.parked.peek() {
            if *at > now {
                return Some(*at);
            }
            let Some(Reverse((at, key))) = self.parked.pop() else { break };
            let Some(t) = self.pods.get_mut(&key) else { continue };
            if t.place.due() == Some(at) {
                t.place = Place::Active;
                let priority = t.priority;
                self.push_active(&key, priority);
            }
        }
        None
    }

    /// Pods in the active heap (approximate: may count stale entries).
    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_then_arrival_order() {
        let mut q = Queue::default();
        q.add_or_update("low", 0);
        q.add_or_update("high", 100);
        q.add_or_update("low2", 0);
        assert_eq!(q.pop().as_deref(), Some("high"));
        assert_eq!(q.pop().as_deref(), Some("low"));
        assert_eq!(q.pop().as_deref(), Some("low2"));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_change_and_their_backoff() {
        let mut q = Queue::default();
        let t0 = Instant::now();
        q.add_or_update("p", 0);
        assert_eq!(q.pop().as_deref(), Some("p"));
        q.unschedulable("p", t0);
        q.flush(t0 + Duration::from_secs(5));
        assert_eq!(q.pop(), None, "nothing changed");
        q.cluster_changed();
        assert!(q.flush(t0).is_some(), "still backing off");
        assert_eq!(q.pop(), None);
        q.flush(t0 + INITIAL_BACKOFF);
        assert_eq!(q.pop().as_deref(), Some("p"));
        q.done("p");
        q.cluster_changed();
        q.flush(t0 + MAX_BACKOFF);
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn a_pod_that_moved_is_not_woken_at_its_old_due_time() {
        let mut q = Queue::default();
        let t0 = Instant::now();
        q.add_or_update("p", 0);
        assert_eq!(q.pop().as_deref(), Some("p"));
        q.retry_later("p", t0);
        q.flush(t0 + Duration::from_millis(10));
        q.unschedulable("p", t0 + Duration::from_millis(10));
        assert!(q.flush(t0 + backoff(1)).is_some(), "still parked");
        assert_eq!(q.pop(), None, "the back-off entry is stale: the pod waits for a change");
        q.flush(t0 + Duration::from_millis(10) + MAX_UNSCHEDULABLE);
        assert_eq!(q.pop().as_deref(), Some("p"), "retried after the longest wait");
    }

    #[test]
    fn backoff_doubles_up_to_the_max() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(10), MAX_BACKOFF);
    }
}
