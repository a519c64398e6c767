//! Deployment status and its conditions (upstream `sync.go` `calculateStatus`, `progress.go`
//! `syncRolloutStatus`, `deployment_util.go` `DeploymentComplete`/`DeploymentProgressing`/
//! `DeploymentTimedOut`).

use crate::conditions;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::{Value, json};

/// Counts and conditions of a Deployment's status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// Sum of the ReplicaSets' `status.replicas`.
    pub replicas: i32,
    /// The new ReplicaSet's `status.replicas`.
    pub updated: i32,
    /// Sum of `status.readyReplicas`.
    pub ready: i32,
    /// Sum of `status.availableReplicas`.
    pub available: i32,
    /// Sum of `spec.replicas` minus available, at least 0.
    pub unavailable: i32,
    /// `metadata.generation` observed.
    pub observed_generation: i64,
    /// `status.collisionCount`.
    pub collision_count: Option<i32>,
    /// The conditions (JSON, in order).
    pub conditions: Vec<Value>,
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

/// The Deployment's `spec.replicas` (default 1).
pub fn desired(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

impl Status {
    /// The status currently stored on `d`.
    pub fn of(d: &Deployment) -> Status {
        let s = d.status.clone().unwrap_or_default();
        Status {
            replicas: s.replicas.unwrap_or(0),
            updated: s.updated_replicas.unwrap_or(0),
            ready: s.ready_replicas.unwrap_or(0),
            available: s.available_replicas.unwrap_or(0),
            unavailable: s.unavailable_replicas.unwrap_or(0),
            observed_generation: s.observed_generation.unwrap_or(0),
            collision_count: s.collision_count,
            conditions: s.conditions.iter().flatten().filter_map(|c| serde_json::to_value(c).ok()).collect(),
        }
    }

    /// Upstream `calculateStatus`, including the `Available` condition.
    pub fn calculate(d: &Deployment, all: &[&ReplicaSet], new: Option<&ReplicaSet>, max_unavailable: i32, now: Timestamp) -> Status {
        let sum = |f: fn(&ReplicaSet) -> i32| all.iter().map(|rs| f(rs)).sum::<i32>();
        fn st(rs: &ReplicaSet) -> k8s_openapi::api::apps::v1::ReplicaSetStatus {
            rs.status.clone().unwrap_or_default()
        }
        let available = sum(|rs| st(rs).available_replicas.unwrap_or(0));
        let current = Status::of(d);
        let mut conditions = current.conditions.clone();
        if available >= desired(d) - max_unavailable {
            conditions::set(&mut conditions, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now, true);
        } else {
            conditions::set(&mut conditions, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now, true);
        }
        Status {
            replicas: sum(|rs| st(rs).replicas),
            updated: new.map_or(0, |rs| st(rs).replicas),
            ready: sum(|rs| st(rs).ready_replicas.unwrap_or(0)),
            available,
            unavailable: (sum(spec_replicas) - available).max(0),
            observed_generation: d.metadata.generation.unwrap_or(0),
            collision_count: current.collision_count,
            conditions,
        }
    }

    /// The status object to write (zero counts omitted like upstream's `omitempty`).
    pub fn to_json(&self) -> Value {
        let opt = |n: i32| if n == 0 { Value::Null } else { json!(n) };
        json!({
            "replicas": opt(self.replicas),
            "updatedReplicas": opt(self.updated),
            "readyReplicas": opt(self.ready),
            "availableReplicas": opt(self.available),
            "unavailableReplicas": opt(self.unavailable),
            "observedGeneration": self.observed_generation,
            "collisionCount": self.collision_count,
            "conditions": if self.conditions.is_empty() { Value::Null } else { Value::Array(self.conditions.clone()) },
        })
    }

    fn progressing(&self) -> Option<&Value> {
        conditions::get(&self.conditions, "Progressing")
    }
}

/// All replicas updated and available, and the status is current (upstream `DeploymentComplete`).
pub fn complete(d: &Deployment, s: &Status) -> bool {
    let want = desired(d);
    s.updated == want && s.replicas == want && s.available == want && s.observed_generation >= d.metadata.generation.unwrap_or(0)
}

/// Whether `new` shows progress over `old` (upstream `DeploymentProgressing`).
fn progressing(old: &Status, new: &Status) -> bool {
    new.updated > old.updated || (new.replicas - new.updated) < (old.replicas - old.updated) || new.ready > old.ready || new.available > old.available
}

/// `spec.progressDeadlineSeconds` when it is set (not "infinite").
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.progress_deadline_seconds).filter(|&s| s != i32::MAX)
}

fn timed_out(d: &Deployment, s: &Status, now: Timestamp) -> bool {
    let (Some(deadline), Some(cond)) = (progress_deadline(d), s.progressing()) else { return false };
    match cond["reason"].as_str() {
        Some("NewReplicaSetAvailable") => false,
        Some("ProgressDeadlineExceeded") => true,
        _ => cond["lastUpdateTime"].as_str().and_then(|t| t.parse::<Timestamp>().ok()).is_some_and(|from| from + jiff::SignedDuration::from_secs(deadline.into()) < now),
    }
}

/// Upstream `syncRolloutStatus`: the `Progressing` condition from the previous and new
/// status, and `ReplicaFailure` from the ReplicaSets.
pub fn with_rollout_conditions(d: &Deployment, mut s: Status, all: &[&ReplicaSet], new: Option<&ReplicaSet>, now: Timestamp) -> Status {
    let old = Status::of(d);
    if progress_deadline(d).is_none() {
        conditions::remove(&mut s.conditions, "Progressing");
    }
    let current = old.progressing().cloned();
    let is_complete = s.replicas == s.updated && current.as_ref().is_some_and(|c| c["reason"] == "NewReplicaSetAvailable");
    if progress_deadline(d).is_some() && !is_complete {
        let new_name = new.and_then(|rs| rs.metadata.name.clone()).unwrap_or_default();
        if complete(d, &s) {
            if new.is_some() {
                let msg = format!("ReplicaSet \"{new_name}\" has successfully progressed.");
                conditions::set(&mut s.conditions, "Progressing", "True", "NewReplicaSetAvailable", &msg, now, true);
            }
        } else if progressing(&old, &s) {
            let msg = format!("ReplicaSet \"{new_name}\" is progressing.");
            // Progress refreshes lastUpdateTime (the deadline's start) even with the same reason.
            conditions::remove(&mut s.conditions, "Progressing");
            let mut cond = json!({"type": "Progressing", "status": "True", "lastUpdateTime": conditions::time(now), "lastTransitionTime": conditions::time(now), "reason": "ReplicaSetUpdated", "message": msg});
            if let Some(c) = current.as_ref().filter(|c| c["status"] == "True") {
                cond["lastTransitionTime"] = c["lastTransitionTime"].clone();
            }
            s.conditions.push(cond);
        } else if timed_out(d, &s, now) {
            let msg = format!("ReplicaSet \"{new_name}\" has timed out progressing.");
            conditions::set(&mut s.conditions, "Progressing", "False", "ProgressDeadlineExceeded", &msg, now, true);
        }
    }
    let failure = new.into_iter().chain(all.iter().copied()).find_map(|rs| {
        rs.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "ReplicaFailure" && c.status == "True").cloned()
    });
    match failure {
        Some(c) => conditions::set(&mut s.conditions, "ReplicaFailure", "True", c.reason.as_deref().unwrap_or_default(), c.message.as_deref().unwrap_or_default(), now, true),
        None => conditions::remove(&mut s.conditions, "ReplicaFailure"),
    }
    s
}

/// When to look again for a deadline that has not passed yet (upstream `requeueStuckDeployment`).
pub fn requeue_for_deadline(d: &Deployment, s: &Status, now: Timestamp) -> Option<std::time::Duration> {
    let deadline = progress_deadline(d)?;
    let cond = s.progressing()?;
    if cond["status"] != "True" || cond["reason"] == "NewReplicaSetAvailable" || complete(d, s) {
        return None;
    }
    let from: Timestamp = cond["lastUpdateTime"].as_str()?.parse().ok()?;
    let at = from + jiff::SignedDuration::from_secs(deadline.into());
    Some(now.duration_until(at).unsigned_abs().max(std::time::Duration::from_secs(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, ReplicaSetSpec, ReplicaSetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn deploy(replicas: i32) -> Deployment {
        Deployment {
            metadata: ObjectMeta { generation: Some(2), ..Default::default() },
            spec: Some(DeploymentSpec { replicas: Some(replicas), progress_deadline_seconds: Some(600), ..Default::default() }),
            status: None,
        }
    }

    fn rs(name: &str, spec: i32, replicas: i32, available: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: Some(ReplicaSetSpec { replicas: Some(spec), ..Default::default() }),
            status: Some(ReplicaSetStatus { replicas, available_replicas: Some(available), ready_replicas: Some(available), ..Default::default() }),
        }
    }

    #[test]
    fn status_counts_and_available_condition() {
        let d = deploy(4);
        let (old, new) = (rs("old", 3, 3, 3), rs("new", 1, 1, 0));
        let s = Status::calculate(&d, &[&old, &new], Some(&new), 1, Timestamp::now());
        assert_eq!((s.replicas, s.updated, s.ready, s.available, s.unavailable), (4, 1, 3, 3, 1));
        assert_eq!(conditions::get(&s.conditions, "Available").unwrap()["reason"], "MinimumReplicasAvailable");
        let s = with_rollout_conditions(&d, s, &[&old, &new], Some(&new), Timestamp::now());
        assert_eq!(conditions::get(&s.conditions, "Progressing").unwrap()["reason"], "ReplicaSetUpdated");
        let unavailable = Status::calculate(&d, &[&rs("new", 4, 4, 2)], None, 1, Timestamp::now());
        assert_eq!(conditions::get(&unavailable.conditions, "Available").unwrap()["reason"], "MinimumReplicasUnavailable");
    }

    #[test]
    fn complete_rollout_reports_new_replica_set_available() {
        let d = deploy(2);
        let new = rs("web-abc", 2, 2, 2);
        let s = Status::calculate(&d, &[&new], Some(&new), 0, Timestamp::now());
        let s = with_rollout_conditions(&d, s, &[&new], Some(&new), Timestamp::now());
        let p = conditions::get(&s.conditions, "Progressing").unwrap();
        assert_eq!(p["reason"], "NewReplicaSetAvailable");
        assert_eq!(p["message"], "ReplicaSet \"web-abc\" has successfully progressed.");
    }

    #[test]
    fn no_progress_past_the_deadline_times_out() {
        let mut d = deploy(2);
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let mut conds = Vec::new();
        conditions::set(&mut conds, "Progressing", "True", "ReplicaSetUpdated", "x", t0, true);
        d.status = Some(serde_json::from_value(json!({"replicas": 2, "updatedReplicas": 2, "conditions": conds})).unwrap());
        let new = rs("web-abc", 2, 2, 0);
        let later = t0 + jiff::SignedDuration::from_secs(601);
        let s = Status::calculate(&d, &[&new], Some(&new), 0, later);
        assert_eq!(requeue_for_deadline(&d, &s, t0 + jiff::SignedDuration::from_secs(100)), Some(std::time::Duration::from_secs(500)));
        let s = with_rollout_conditions(&d, s, &[&new], Some(&new), later);
        assert_eq!(conditions::get(&s.conditions, "Progressing").unwrap()["reason"], "ProgressDeadlineExceeded");
    }
}
