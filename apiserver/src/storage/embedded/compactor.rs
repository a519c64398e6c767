//! Automatic compaction: a background thread that periodically asks the writer to forget
//! history older than the retention window, so the file stays bounded under churn (leases,
//! node heartbeats) without anyone calling `compact`.

use super::writer::{Request, Shared};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Decides the compaction point from revisions sampled over time: history is kept for
/// `retain_for` and for at most `retain_revisions` revisions, whichever is less.
pub(super) struct Retention {
    retain_for: Duration,
    retain_revisions: i64,
    /// (when, newest revision then), oldest first.
    samples: VecDeque<(Instant, i64)>,
}

impl Retention {
    /// A policy keeping `retain_for` of time and at most `retain_revisions` revisions.
    pub fn new(retain_for: Duration, retain_revisions: i64) -> Self {
        Self { retain_for, retain_revisions: retain_revisions.max(0), samples: VecDeque::new() }
    }

    /// Records that `current` is the newest revision at `now`; returns the revision to
    /// compact at (0: nothing to compact yet).
    pub fn observe(&mut self, now: Instant, current: i64) -> i64 {
        self.samples.push_back((now, current));
        let mut by_age = 0;
        while let Some(&(when, revision)) = self.samples.front() {
            if now.saturating_duration_since(when) < self.retain_for {
                break;
            }
            by_age = revision;
            self.samples.pop_front();
        }
        by_age.max(current - self.retain_revisions).max(0)
    }
}

/// The running compactor thread; stops when dropped.
pub(super) struct Compactor {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Compactor {
    /// Starts a thread that every `interval` sends the writer a compaction request. It holds
    /// only a weak handle on the writer's queue, so it never keeps the store open.
    pub fn spawn(
        interval: Duration,
        mut retention: Retention,
        requests: mpsc::WeakSender<Request>,
        shared: Arc<Shared>,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new().name("ironkube-storage-compactor".into()).spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let target = retention.observe(Instant::now(), shared.revision.load(Ordering::SeqCst));
                if target == 0 {
                    continue;
                }
                let Some(requests) = requests.upgrade() else { return };
                let (reply, done) = oneshot::channel();
                if requests.blocking_send(Request::Compact(target, reply)).is_err() {
                    return;
                }
                drop(requests);
                match done.blocking_recv() {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, target, "automatic compaction failed"),
                    Err(_) => return,
                }
            }
        })?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newer_of_the_age_and_count_limits() {
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        let mut policy = Retention::new(5 * minute, 1000);
        // Slow churn: the count limit is never reached, age decides.
        assert_eq!(policy.observe(t0, 100), 0);
        assert_eq!(policy.observe(t0 + minute, 200), 0);
        assert_eq!(policy.observe(t0 + 4 * minute, 300), 0);
        assert_eq!(policy.observe(t0 + 5 * minute, 400), 100);
        assert_eq!(policy.observe(t0 + 6 * minute, 500), 200);
        // A burst: the count limit is newer than the age limit.
        assert_eq!(policy.observe(t0 + 7 * minute, 5000), 4000);
        // Age limit without new writes: compacts up to what was current 5 minutes ago.
        assert_eq!(policy.observe(t0 + 12 * minute, 5000), 5000);
    }

    #[test]
    fn a_zero_window_compacts_everything() {
        let mut policy = Retention::new(Duration::ZERO, 0);
        assert_eq!(policy.observe(Instant::now(), 42), 42);
    }
}
