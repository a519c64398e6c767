//! Pure decisions of the Job controller: how many pods to run, which completion indexes
//! are missing, the pod-failure back-off and when the deadline passes.

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeSet;
use std::time::Duration;

/// First delay before re-creating pods after a failure (upstream `DefaultJobPodFailureBackOff`).
pub const POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
/// Longest delay (upstream `MaxJobPodFailureBackOff`).
pub const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10 * 60);
/// Most pods created or deleted in one sync (upstream `MaxPodCreateDeletePerSync`).
pub const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// Most uids kept in `status.uncountedTerminatedPods` (upstream `MaxUncountedPods`).
pub const MAX_UNCOUNTED_PODS: usize = 500;

/// Pods that should be running (upstream `manageJob`'s `wantActive`): `parallelism`, but
/// never more than the completions still missing; without `completions` (a work queue),
/// no new pods once one succeeded.
pub fn want_active(completions: Option<i32>, parallelism: i32, succeeded: i32, active: i32) -> i32 {
    match completions {
        None if succeeded > 0 => active,
        None => parallelism,
        Some(c) => (c - succeeded).clamp(0, parallelism.max(0)),
    }
}

/// Delay after `failures` consecutive pod failures: 10 s doubling, at most 10 min
/// (upstream `getRemainingTimeForFailuresCount`).
pub fn backoff_delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doublings = failures - 1;
    if doublings >= 16 {
        return MAX_POD_FAILURE_BACKOFF;
    }
    (POD_FAILURE_BACKOFF * 2u32.pow(doublings)).min(MAX_POD_FAILURE_BACKOFF)
}

/// Failures since the last success, kept in memory per Job (upstream `backoffRecord`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    /// Pods failed since the last pod succeeded.
    pub failures_after_last_success: u32,
    /// When the last of them finished.
    pub last_failure: Option<Timestamp>,
}

impl Backoff {
    /// The record after pods newly finished (their finish times; upstream
    /// `newBackoffRecord`): a success resets the count to the failures that came after it.
    pub fn after(self, succeeded: &[Timestamp], failed: &[Timestamp]) -> Backoff {
        if failed.is_empty() && succeeded.is_empty() {
            return self;
        }
        let last_failure = failed.iter().max().copied();
        match succeeded.iter().max() {
            None => Backoff { failures_after_last_success: self.failures_after_last_success + count_u32(failed.len()), last_failure: last_failure.or(self.last_failure) },
            Some(last_success) => {
                let later: Vec<_> = failed.iter().filter(|t| *t > last_success).collect();
                Backoff { failures_after_last_success: count_u32(later.len()), last_failure: later.into_iter().max().copied() }
            }
        }
    }

    /// How long pod creation must still wait at `now`.
    pub fn remaining(&self, now: Timestamp) -> Duration {
        let Some(last) = self.last_failure else { return Duration::ZERO };
        let delay = backoff_delay(self.failures_after_last_success);
        let elapsed = now.duration_since(last).max(SignedDuration::ZERO).unsigned_abs();
        delay.saturating_sub(elapsed)
    }
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// How long until `activeDeadlineSeconds` passes (zero: it has), None without a deadline
/// or before the Job started.
pub fn deadline_remaining(start: Option<Timestamp>, active_deadline_seconds: Option<i64>, now: Timestamp) -> Option<Duration> {
    let deadline = start? + SignedDuration::from_secs(active_deadline_seconds?);
    Some(now.duration_until(deadline).max(SignedDuration::ZERO).unsigned_abs())
}

/// Parses `status.completedIndexes` (`"1,3-5"`); malformed parts are skipped.
pub fn parse_indexes(s: &str) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(i) = part.parse() {
                    out.insert(i);
                }
            }
        }
    }
    out
}

/// Formats indexes as `status.completedIndexes` does: ascending, runs of more than one
/// as `a-b`.
pub fn format_indexes(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last += 1;
            iter.next();
        }
        parts.push(if first == last { first.to_string() } else { format!("{first}-{last}") });
    }
    parts.join(",")
}

/// The lowest `count` indexes below `completions` that neither succeeded nor have an
/// active pod (upstream `firstPendingIndexes`).
pub fn pending_indexes(completions: i32, succeeded: &BTreeSet<i32>, active: &BTreeSet<i32>, count: usize) -> Vec<i32> {
    (0..completions.max(0)).filter(|i| !succeeded.contains(i) && !active.contains(i)).take(count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn want_active_respects_completions_and_parallelism() {
        assert_eq!(want_active(Some(5), 2, 0, 0), 2);
        assert_eq!(want_active(Some(5), 2, 4, 1), 1);
        assert_eq!(want_active(Some(5), 2, 5, 1), 0);
        assert_eq!(want_active(Some(5), 2, 7, 0), 0);
        assert_eq!(want_active(None, 3, 0, 1), 3);
        assert_eq!(want_active(None, 3, 1, 2), 2, "a work queue starts nothing after a success");
        assert_eq!(want_active(Some(3), 0, 0, 2), 0, "parallelism 0 pauses");
    }

    #[test]
    fn backoff_doubles_from_ten_seconds_to_ten_minutes() {
        assert_eq!(backoff_delay(0), Duration::ZERO);
        assert_eq!(backoff_delay(1), Duration::from_secs(10));
        assert_eq!(backoff_delay(2), Duration::from_secs(20));
        assert_eq!(backoff_delay(4), Duration::from_secs(80));
        assert_eq!(backoff_delay(7), Duration::from_secs(600), "640 s capped");
        assert_eq!(backoff_delay(100), Duration::from_secs(600));
    }

    #[test]
    fn backoff_record_counts_failures_after_the_last_success() {
        let t = |s: i64| Timestamp::from_second(s).unwrap();
        let b = Backoff::default().after(&[], &[t(10), t(12)]);
        assert_eq!(b, Backoff { failures_after_last_success: 2, last_failure: Some(t(12)) });
        assert_eq!(b.remaining(t(22)), Duration::from_secs(10));
        assert_eq!(b.remaining(t(40)), Duration::ZERO);
        let reset = b.after(&[t(20)], &[t(15), t(25)]);
        assert_eq!(reset, Backoff { failures_after_last_success: 1, last_failure: Some(t(25)) });
        assert_eq!(reset.after(&[t(30)], &[]), Backoff::default());
        assert_eq!(reset.after(&[], &[]), reset);
    }

    #[test]
    fn deadline_counts_from_start_time() {
        let t = |s: i64| Timestamp::from_second(s).unwrap();
        assert_eq!(deadline_remaining(Some(t(100)), Some(30), t(110)), Some(Duration::from_secs(20)));
        assert_eq!(deadline_remaining(Some(t(100)), Some(30), t(200)), Some(Duration::ZERO));
        assert_eq!(deadline_remaining(None, Some(30), t(200)), None);
        assert_eq!(deadline_remaining(Some(t(100)), None, t(200)), None);
    }

    #[test]
    fn completed_indexes_round_trip() {
        let set = parse_indexes("0-2,4,7-8");
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 4, 7, 8]);
        assert_eq!(format_indexes(&set), "0-2,4,7-8");
        assert_eq!(format_indexes(&BTreeSet::new()), "");
        assert_eq!(format_indexes(&[3, 5].into()), "3,5");
    }

    #[test]
    fn pending_indexes_skip_succeeded_and_running() {
        assert_eq!(pending_indexes(5, &[0, 2].into(), &[1].into(), 10), [3, 4]);
        assert_eq!(pending_indexes(5, &BTreeSet::new(), &BTreeSet::new(), 2), [0, 1]);
    }
}
