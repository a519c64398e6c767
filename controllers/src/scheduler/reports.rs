//! What the scheduler tells the API after a decision (the `Scheduled` event, or the
//! `PodScheduled=False` condition and `FailedScheduling` event), written by a few
//! workers in the order the decisions were made.
//!
//! The queue holds at most one report per pod: a newer decision about a pod whose
//! report has not gone out yet replaces it in place (upstream's event broadcaster drops
//! events when it falls behind, and its condition write is of the latest decision too).
//! So the backlog is bounded by the number of pods, and each entry is small: a task per
//! report waiting for a permit held a whole API call's future (tens of KiB), and 100,000
//! unschedulable pods grew `ironkube up` by gigabytes.

use crate::cached_pod::CachedPod;
use super::binder::Binder;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// A decision to report.
#[derive(Clone, Debug)]
pub enum Report {
    /// The pod was bound to `node`: a `Scheduled` event.
    Scheduled {
        /// The pod as decided on.
        pod: Arc<CachedPod>,
        /// Where it was bound.
        node: String,
    },
    /// No node fits: the `PodScheduled=False` condition and a `FailedScheduling` event.
    Unschedulable {
        /// The pod as decided on.
        pod: Arc<CachedPod>,
        /// Why (upstream's diagnosis message).
        message: String,
    },
}

/// The queue of reports, shared by the scheduler loop (which pushes) and the workers.
#[derive(Default)]
pub struct Reports {
    queue: Mutex<Queue>,
    pushed: Notify,
}

#[derive(Default)]
struct Queue {
    order: VecDeque<String>,
    latest: HashMap<String, Report>,
}

impl Reports {
    /// Queues the report of the pod `key`, replacing one not yet taken.
    pub fn push(&self, key: String, report: Report) {
        let mut queue = self.queue.lock().unwrap();
        if queue.latest.insert(key.clone(), report).is_none() {
            queue.order.push_back(key);
        }
        drop(queue);
        self.pushed.notify_one();
    }

    /// The oldest queued report, if any.
    pub fn pop(&self) -> Option<Report> {
        let mut queue = self.queue.lock().unwrap();
        let key = queue.order.pop_front()?;
        queue.latest.remove(&key)
    }

    /// Reports waiting to be written.
    pub fn len(&self) -> usize {
        self.queue.lock().unwrap().order.len()
    }

    /// Whether no report waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One writer: takes reports until the scheduler stops (its task is aborted).
    pub async fn work(self: Arc<Self>, binder: Binder) {
        loop {
            match self.pop() {
                Some(Report::Scheduled { pod, node }) => binder.record_scheduled(&pod, &node).await,
                Some(Report::Unschedulable { pod, message }) => binder.report_unschedulable(&pod, &message).await,
                // `notify_one` keeps a permit when no worker waits, so a push between the
                // empty `pop` and this wait is not missed.
                None => self.pushed.notified().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unschedulable(name: &str, message: &str) -> Report {
        let mut pod = CachedPod::default();
        pod.metadata.name = Some(name.into());
        Report::Unschedulable { pod: Arc::new(pod), message: message.into() }
    }

    fn message(report: Option<Report>) -> String {
        match report {
            Some(Report::Unschedulable { message, .. }) => message,
            other => panic!("expected an unschedulable report, got {other:?}"),
        }
    }

    #[test]
    fn one_report_per_pod_in_first_decision_order() {
        let reports = Reports::default();
        reports.push("ns/a".into(), unschedulable("a", "a1"));
        reports.push("ns/b".into(), unschedulable("b", "b1"));
        reports.push("ns/a".into(), unschedulable("a", "a2"));
        assert_eq!(reports.len(), 2);
        assert_eq!(message(reports.pop()), "a2", "the newer decision replaced the queued one, in its place");
        assert_eq!(message(reports.pop()), "b1");
        assert!(reports.pop().is_none());
        reports.push("ns/a".into(), unschedulable("a", "a3"));
        assert_eq!(message(reports.pop()), "a3", "a report taken is gone: the next one queues anew");
        assert!(reports.is_empty());
    }
}
