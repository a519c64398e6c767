//! Status conditions as upstream's `Set*Condition` helpers treat them: setting a condition
//! that already holds with the same status and reason changes nothing; a new reason with the
//! same status keeps `lastTransitionTime`. Conditions are JSON values so every kind's
//! condition type (ReplicaSet, ReplicationController, Deployment, Job) shares one helper.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

/// `t` as the API writes a `metav1.Time`.
pub fn time(t: Timestamp) -> Value {
    serde_json::to_value(Time(t)).unwrap_or(Value::Null)
}

/// The condition of `type_`, if present.
pub fn get<'a>(conditions: &'a [Value], type_: &str) -> Option<&'a Value> {
    conditions.iter().find(|c| c["type"] == type_)
}

/// Removes the condition of `type_`.
pub fn remove(conditions: &mut Vec<Value>, type_: &str) {
    conditions.retain(|c| c["type"] != type_);
}

/// Sets a condition (`with_update_time` adds `lastUpdateTime`, as Deployment conditions have).
pub fn set(conditions: &mut Vec<Value>, type_: &str, status: &str, reason: &str, message: &str, now: Timestamp, with_update_time: bool) {
    let existing = get(conditions, type_).cloned();
    if let Some(c) = &existing
        && c["status"] == status
        && c["reason"] == reason
    {
        return;
    }
    let mut cond = json!({"type": type_, "status": status, "lastTransitionTime": time(now), "reason": reason, "message": message});
    if with_update_time {
        cond["lastUpdateTime"] = time(now);
    }
    if let Some(c) = existing
        && c["status"] == status
    {
        cond["lastTransitionTime"] = c["lastTransitionTime"].clone();
    }
    remove(conditions, type_);
    conditions.push(cond);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_status_and_reason_is_a_no_op_and_same_status_keeps_transition_time() {
        let t0 = Timestamp::from_second(1000).unwrap();
        let t1 = Timestamp::from_second(2000).unwrap();
        let mut c = Vec::new();
        set(&mut c, "Progressing", "True", "A", "a", t0, true);
        set(&mut c, "Progressing", "True", "A", "changed", t1, true);
        assert_eq!(c[0]["message"], "a");
        set(&mut c, "Progressing", "True", "B", "b", t1, true);
        assert_eq!(c[0]["lastTransitionTime"], time(t0));
        assert_eq!(c[0]["lastUpdateTime"], time(t1));
        set(&mut c, "Progressing", "False", "C", "c", t1, true);
        assert_eq!(c[0]["lastTransitionTime"], time(t1));
        assert_eq!(c.len(), 1);
    }
}
