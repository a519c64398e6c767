//! Pure decisions of the ReplicaSet controller: creation batches and status.

use crate::cached_pod::CachedPod;
use super::Replicated;
use crate::conditions;
use crate::pods::{self, Availability};
use jiff::Timestamp;
use serde_json::{Value, json};

/// The status a ReplicaSet/ReplicationController should report (upstream `calculateStatus`).
#[derive(Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Active pods.
    pub replicas: i32,
    /// Active pods carrying every label of the template.
    pub fully_labeled: i32,
    /// Ready pods.
    pub ready: i32,
    /// Pods ready for minReadySeconds.
    pub available: i32,
    /// The generation this status describes.
    pub observed_generation: i64,
    /// `(reason, message)` of a failed create/delete: the `ReplicaFailure` condition.
    pub failure: Option<(&'static str, String)>,
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl ReplicaStatus {
    /// Status for `owner` with its active pods at `now`; `failure` when managing pods failed.
    pub fn calculate<K: Replicated>(owner: &K, active: &[&CachedPod], now: Timestamp, failure: Option<(&'static str, String)>) -> Self {
        let template_labels = owner.template().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.clone()).unwrap_or_default();
        let fully_labeled = active
            .iter()
            .filter(|p| template_labels.iter().all(|(k, v)| p.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v)))
            .count();
        ReplicaStatus {
            replicas: count(active.len()),
            fully_labeled: count(fully_labeled),
            ready: count(active.iter().filter(|p| pods::is_ready(p)).count()),
            available: count(active.iter().filter(|p| pods::availability(p, owner.min_ready_seconds(), now) == Availability::Yes).count()),
            observed_generation: owner.meta().generation.unwrap_or(0),
            failure,
        }
    }

    /// The `status` to write given the `current` one: zero counts omitted like upstream's
    /// `omitempty`; other conditions kept; `ReplicaFailure` kept unchanged while it holds
    /// (its lastTransitionTime too), added or removed otherwise.
    pub fn to_json(&self, current: &Value) -> Value {
        let opt = |n: i32| if n == 0 { Value::Null } else { json!(n) };
        let mut conditions: Vec<Value> = current["conditions"].as_array().cloned().unwrap_or_default();
        match &self.failure {
            None => conditions::remove(&mut conditions, "ReplicaFailure"),
            Some((reason, message)) => conditions::set(&mut conditions, "ReplicaFailure", "True", reason, message, Timestamp::now(), false),
        }
        json!({
            "replicas": self.replicas,
            "fullyLabeledReplicas": opt(self.fully_labeled),
            "readyReplicas": opt(self.ready),
            "availableReplicas": opt(self.available),
            "observedGeneration": self.observed_generation,
            "conditions": if conditions.is_empty() { Value::Null } else { Value::Array(conditions) },
        })
    }

    /// Whether writing [`Self::to_json`] would change `current`.
    pub fn differs_from(&self, current: &Value) -> bool {
        let desired = self.to_json(current);
        desired.as_object().into_iter().flatten().any(|(k, v)| {
            let now = current.get(k).unwrap_or(&Value::Null);
            match (k.as_str(), v) {
                ("conditions", Value::Array(want)) => now.as_array().is_none_or(|have| have.len() != want.len() || have.iter().zip(want).any(|(h, w)| h["reason"] != w["reason"] || h["type"] != w["type"])),
                _ => now != v,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_omits_zero_counts_and_manages_replica_failure() {
        let s = ReplicaStatus { replicas: 2, fully_labeled: 2, ready: 0, available: 0, observed_generation: 3, failure: Some(("FailedCreate", "quota".into())) };
        let v = s.to_json(&json!({}));
        assert_eq!(v["readyReplicas"], Value::Null);
        assert_eq!(v["conditions"][0]["reason"], "FailedCreate");
        assert!(s.differs_from(&json!({"replicas": 2, "fullyLabeledReplicas": 2, "observedGeneration": 3})));
        assert!(!s.differs_from(&v));
        let ok = ReplicaStatus { failure: None, ..s };
        assert_eq!(ok.to_json(&v)["conditions"], Value::Null);
    }
}
