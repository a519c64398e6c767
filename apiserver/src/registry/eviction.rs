//! Evicting a pod: the `pods/eviction` subresource (upstream `EvictionREST`,
//! `pkg/registry/core/pod/storage/eviction.go`), what `kubectl drain` calls. An eviction
//! is a delete that respects the PodDisruptionBudget covering the pod:
//! - a pod that is Pending, finished or already being deleted is deleted at once;
//! - otherwise the one budget selecting it must allow a disruption: the server takes
//!   one (`status.disruptionsAllowed - 1`) and records the pod in `status.disruptedPods`
//!   (so the disruption controller does not count it as healthy) before deleting it;
//! - no budget left answers 429 `TooManyRequests` with a `DisruptionBudget` cause, which
//!   `kubectl drain` retries; a budget the controller has not caught up with yet
//!   (`observedGeneration` behind) answers 429 with a 10 s retry;
//! - an unready pod does not use up the budget when the budget is satisfied anyway (or
//!   its `unhealthyPodEvictionPolicy` is `AlwaysAllow`); its delete is then conditional
//!   on the resourceVersion read, so a pod turning ready meanwhile is not evicted;
//! - more than one budget: upstream's 500 ("does not support").

use super::meta::now;
use super::store::{DeleteOptions, ListOptions, Store, Target, WriteOptions};
use super::strategies::labels::{selector_is_empty, selector_matches};
use super::strategies::pod_printer::condition_true;
use crate::error::ApiError;
use serde_json::{json, Value};

/// Upstream `MaxDisruptedPodSize`: evictions the disruption controller has not yet seen.
const MAX_DISRUPTED_PODS: usize = 2000;

/// Retries of a pod read-and-delete that keeps meeting concurrent writes.
const CONFLICT_RETRIES: usize = 20;

/// What an eviction answers when it did not fail: the Status and its HTTP code.
pub struct Answer {
    /// HTTP status code.
    pub code: u16,
    /// The `Status` body.
    pub status: Value,
}

/// Evicts pod `url_name` in `pods.namespace` as `eviction` (a `policy/v1` or `v1beta1`
/// Eviction) asks. `delete` carries the request's own `dryRun`; the eviction's
/// `deleteOptions` are merged into it.
pub async fn create(store: &Store, pods: Target<'_>, url_name: &str, eviction: Value, mut delete: DeleteOptions, opts: &WriteOptions) -> Result<Answer, ApiError> {
    let name = eviction.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    if name != url_name {
        return Err(ApiError::BadRequest("name in URL does not match name in Eviction object".into()));
    }
    let namespace = eviction.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    if !namespace.is_empty() && Some(namespace) != pods.namespace {
        return Err(ApiError::BadRequest("the namespace of the provided object does not match the namespace sent on the request".into()));
    }
    if let Some(options) = eviction.get("deleteOptions").filter(|o| o.is_object()) {
        // Upstream `propagateDryRun`: the request's dryRun fills an empty one in the body;
        // two non-empty ones must agree.
        let body_dry_run = options.get("dryRun").and_then(Value::as_array).filter(|d| !d.is_empty());
        if delete.dry_run && body_dry_run.is_some_and(|d| d.as_slice() != [json!("All")]) {
            return Err(ApiError::BadRequest(format!(
                "Non-matching dry-run options in request and content: [All] and {}",
                options.get("dryRun").cloned().unwrap_or(json!([]))
            )));
        }
        delete.merge_body(options);
    }
    let caller_set_version = delete.precondition_resource_version.is_some();

    // Pods whose disruption has already happened (or not started) need no budget.
    let mut attempts = 0;
    let pod = loop {
        let pod = store.get(pods, name).await?;
        if !can_ignore_budget(&pod) {
            break pod;
        }
        let mut options = delete.clone();
        if is_pending(&pod) && !caller_set_version {
            options.precondition_resource_version = resource_version(&pod);
        }
        match store.delete(pods, name, &options).await {
            Err(ApiError::Conflict { .. }) if !caller_set_version && attempts < CONFLICT_RETRIES => attempts += 1,
            Err(e) => return Err(e),
            Ok(_) => return Ok(success()),
        }
    };

    let budgets = covering_budgets(store, pods.namespace.unwrap_or_default(), &pod).await?;
    let mut conditional_delete = false;
    match budgets.as_slice() {
        [] => {}
        [budget] => {
            let budget_name = budget.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            if !is_ready(&pod) && unready_pod_may_go(budget) {
                conditional_delete = true;
            } else {
                take_disruption(store, pods.namespace.unwrap_or_default(), &budget_name, name, delete.dry_run, opts).await?;
            }
        }
        _ => {
            return Ok(Answer {
                code: 500,
                status: json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 500,
                    "message": "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                }),
            })
        }
    }
    let mut options = delete.clone();
    if conditional_delete && !caller_set_version {
        options.precondition_resource_version = resource_version(&pod);
    }
    match store.delete(pods, name, &options).await {
        Err(ApiError::Conflict { .. }) if conditional_delete && !caller_set_version => {
            let budget = budgets[0].pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
            Err(still_processing(budget))
        }
        Err(e) => Err(e),
        Ok(_) => Ok(success()),
    }
}

fn success() -> Answer {
    Answer { code: 201, status: json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201 }) }
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default()
}

fn is_pending(pod: &Value) -> bool {
    phase(pod) == "Pending" && !is_deleting(pod)
}

fn is_deleting(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// Upstream `canIgnorePDB`.
fn can_ignore_budget(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed" | "Pending") || is_deleting(pod)
}

fn is_ready(pod: &Value) -> bool {
    pod.get("status").is_some_and(|status| condition_true(status, "Ready"))
}

fn resource_version(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string)
}

/// An unready pod does not count as healthy: evicting it costs the budget nothing
/// when the policy says so or the budget is met without it.
fn unready_pod_may_go(budget: &Value) -> bool {
    let int = |p: &str| budget.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    budget.pointer("/spec/unhealthyPodEvictionPolicy").and_then(Value::as_str) == Some("AlwaysAllow")
        || (int("/status/currentHealthy") >= int("/status/desiredHealthy") && int("/status/desiredHealthy") > 0)
}

/// The budgets in the namespace whose (non-empty) selector matches the pod's labels.
async fn covering_budgets(store: &Store, namespace: &str, pod: &Value) -> Result<Vec<Value>, ApiError> {
    let kind = super::kinds::find("policy", "v1", "poddisruptionbudgets").ok_or(ApiError::NoRoute)?;
    let page = store.list(Target { kind, namespace: Some(namespace) }, &ListOptions::default()).await?;
    let labels = pod.pointer("/metadata/labels");
    let mut budgets = Vec::new();
    for item in &page.items {
        let budget = item.object(kind)?;
        let selector = budget.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
        // A budget with no selector selects nothing (upstream's rule for evictions).
        if selector.is_object() && !selector_is_empty(&selector) && selector_matches(&selector, labels) {
            budgets.push(budget);
        }
    }
    Ok(budgets)
}

/// Upstream `checkAndDecrement`, as one read-modify-write of the budget's status.
async fn take_disruption(store: &Store, namespace: &str, budget: &str, pod: &str, dry_run: bool, opts: &WriteOptions) -> Result<(), ApiError> {
    let kind = super::kinds::find("policy", "v1", "poddisruptionbudgets").ok_or(ApiError::NoRoute)?;
    let target = Target { kind, namespace: Some(namespace) };
    if dry_run {
        let current = store.get(target, budget).await?;
        return decremented(&current, pod).map(drop);
    }
    store.guaranteed_update(target, budget, Some("status"), opts, |current| decremented(current, pod)).await.map(drop)
}

/// The budget with one disruption taken for `pod`, or why none may be taken.
fn decremented(budget: &Value, pod: &str) -> Result<Value, ApiError> {
    let name = budget.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let int = |p: &str| budget.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    if int("/status/observedGeneration") < int("/metadata/generation") {
        return Err(still_processing(name));
    }
    let allowed = int("/status/disruptionsAllowed");
    let forbidden = |message: &str| ApiError::Forbidden {
        resource: "poddisruptionbudget.policy".into(),
        group: "policy".into(),
        kind: "poddisruptionbudget".into(),
        name: name.into(),
        message: message.into(),
        cause: None,
    };
    if allowed < 0 {
        return Err(forbidden("pdb disruptions allowed is negative"));
    }
    let disrupted = budget.pointer("/status/disruptedPods").and_then(Value::as_object).map_or(0, |m| m.len());
    if disrupted > MAX_DISRUPTED_PODS {
        return Err(forbidden("DisruptedPods map too big - too many evictions not confirmed by PDB controller"));
    }
    if allowed == 0 {
        return Err(ApiError::TooManyRequests {
            message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
            retry_after_seconds: 0,
            causes: vec![(
                "DisruptionBudget".into(),
                format!("The disruption budget {name} needs {} healthy pods and has {} currently", int("/status/desiredHealthy"), int("/status/currentHealthy")),
            )],
        });
    }
    let mut updated = budget.clone();
    let status = updated["status"].as_object_mut().ok_or_else(|| ApiError::Internal("budget without status".into()))?;
    status.insert("disruptionsAllowed".into(), json!(allowed - 1));
    if allowed - 1 == 0 {
        set_disruption_allowed_condition(status, budget.pointer("/metadata/generation").cloned().unwrap_or(json!(0)));
    }
    let pods = status.entry("disruptedPods").or_insert_with(|| json!({}));
    if !pods.is_object() {
        *pods = json!({});
    }
    pods[pod] = json!(now());
    Ok(updated)
}

/// Upstream `UpdateDisruptionAllowedCondition` once no disruption is left.
fn set_disruption_allowed_condition(status: &mut serde_json::Map<String, Value>, generation: Value) {
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions.as_array_mut().expect("an array");
    let existing = list.iter().position(|c| c["type"] == "DisruptionAllowed");
    let transition = match existing.map(|i| &list[i]) {
        Some(old) if old["status"] == "False" => old.get("lastTransitionTime").cloned().unwrap_or(json!(now())),
        _ => json!(now()),
    };
    let condition = json!({
        "type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods", "message": "",
        "observedGeneration": generation, "lastTransitionTime": transition,
    });
    match existing {
        Some(i) => list[i] = condition,
        None => list.push(condition),
    }
}

/// Upstream `createTooManyRequestsError`.
fn still_processing(budget: &str) -> ApiError {
    ApiError::TooManyRequests {
        message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        retry_after_seconds: 10,
        causes: vec![("DisruptionBudget".into(), format!("The disruption budget {budget} is still being processed by the server."))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(allowed: i64, generation: i64, observed: i64) -> Value {
        json!({"metadata": {"name": "web", "generation": generation},
               "status": {"disruptionsAllowed": allowed, "observedGeneration": observed, "desiredHealthy": 2, "currentHealthy": 2,
                          "expectedPods": 3, "conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods"}]}})
    }

    #[test]
    fn taking_the_last_disruption_records_the_pod_and_the_condition() {
        let after = decremented(&budget(1, 1, 1), "web-0").unwrap();
        assert_eq!(after["status"]["disruptionsAllowed"], 0);
        assert!(after["status"]["disruptedPods"]["web-0"].is_string());
        assert_eq!(after["status"]["conditions"][0]["status"], "False");
        assert_eq!(after["status"]["conditions"][0]["reason"], "InsufficientPods");
        let two = decremented(&budget(2, 1, 1), "web-0").unwrap();
        assert_eq!(two["status"]["conditions"][0]["status"], "True", "a disruption is still left");
    }

    #[test]
    fn no_disruption_left_is_429_with_the_budget_cause() {
        let err = decremented(&budget(0, 1, 1), "web-0").unwrap_err();
        assert_eq!(err.code(), 429);
        let status = err.status();
        assert_eq!(status["reason"], "TooManyRequests");
        assert_eq!(status["message"], "Cannot evict pod as it would violate the pod's disruption budget.");
        assert_eq!(status["details"]["causes"][0], json!({"reason": "DisruptionBudget", "message": "The disruption budget web needs 2 healthy pods and has 2 currently"}));
        assert!(status["details"].get("retryAfterSeconds").is_none());
    }

    #[test]
    fn a_budget_not_yet_observed_asks_to_retry_later() {
        let status = decremented(&budget(1, 2, 1), "web-0").unwrap_err().status();
        assert_eq!(status["code"], 429);
        assert_eq!(status["details"]["retryAfterSeconds"], 10);
    }

    #[test]
    fn pending_finished_and_deleting_pods_need_no_budget() {
        assert!(can_ignore_budget(&json!({"status": {"phase": "Pending"}})));
        assert!(can_ignore_budget(&json!({"status": {"phase": "Succeeded"}})));
        assert!(can_ignore_budget(&json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}})));
        assert!(!can_ignore_budget(&json!({"status": {"phase": "Running"}})));
    }
}
