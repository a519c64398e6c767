//! The Pod table row (upstream `printPod`): READY, STATUS (phase, init progress, container
//! waiting/terminated reasons, Terminating), RESTARTS with "(5m ago)", and the wide columns.

use super::json::{items, s};
use crate::registry::table::{Column, age, human_duration};
use serde_json::{Value, json};

/// Pod columns after Name.
pub static POD_COLUMNS: [Column; 8] = [
    Column::new("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    Column::new("Status", "string", "The aggregate status of the containers in this pod."),
    Column::new(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    crate::registry::table::AGE,
    Column::wide("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
    Column::wide("Node", "string", "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName."),
    Column::wide("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods."),
    Column::wide("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness."),
];

fn parse_ts(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_str).and_then(|t| t.parse::<jiff::Timestamp>().ok()).map(|t| t.as_second())
}

/// Whether the pod status's condition `kind` is `True`.
pub(crate) fn condition_true(status: &Value, kind: &str) -> bool {
    items(status, "conditions").iter().any(|c| s(c, "type") == kind && s(c, "status") == "True")
}

fn last_finished(cs: &Value) -> Option<i64> {
    parse_ts(cs.pointer("/lastState/terminated/finishedAt"))
}

fn terminated_reason(t: &Value, prefix: &str) -> String {
    let reason = s(t, "reason");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    match t.get("signal").and_then(Value::as_i64).unwrap_or(0) {
        0 => format!("{prefix}ExitCode:{}", t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)),
        sig => format!("{prefix}Signal:{sig}"),
    }
}

/// The cells of one pod row (without Name), wide columns included.
pub fn pod_row(pod: &Value, now: i64) -> Vec<Value> {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let status = pod.get("status").unwrap_or(&Value::Null);
    let init_specs = items(spec, "initContainers");
    let is_sidecar = |name: &str| init_specs.iter().any(|c| s(c, "name") == name && s(c, "restartPolicy") == "Always");
    let total = items(spec, "containers").len() + init_specs.iter().filter(|c| s(c, "restartPolicy") == "Always").count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<i64> = None;
    let mut last_sidecar_restart: Option<i64> = None;
    let phase = s(status, "phase");
    let mut reason = if s(status, "reason").is_empty() { phase.to_string() } else { s(status, "reason").to_string() };
    if items(status, "conditions").iter().any(|c| s(c, "type") == "PodScheduled" && s(c, "reason") == "SchedulingGated") {
        reason = "SchedulingGated".into();
    }
    let mut initializing = false;
    let init_statuses = items(status, "initContainerStatuses");
    for (i, cs) in init_statuses.iter().enumerate() {
        let count = cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        restarts += count;
        let finished = last_finished(cs);
        last_restart = last_restart.max(finished);
        let sidecar = is_sidecar(s(cs, "name"));
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = last_sidecar_restart.max(finished);
        }
        let state = cs.get("state").unwrap_or(&Value::Null);
        let terminated = state.get("terminated").filter(|t| t.is_object());
        let waiting_reason = state.get("waiting").map(|w| s(w, "reason")).unwrap_or("");
        if terminated.is_some_and(|t| t.get("exitCode").and_then(Value::as_i64).unwrap_or(0) == 0) {
            continue;
        }
        if sidecar && cs.get("started").and_then(Value::as_bool) == Some(true) {
            if cs.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = terminated_reason(t, "Init:");
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    if !initializing || condition_true(status, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for cs in items(status, "containerStatuses").iter().rev() {
            restarts += cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            last_restart = last_restart.max(last_finished(cs));
            let state = cs.get("state").unwrap_or(&Value::Null);
            let waiting = state.get("waiting").filter(|w| w.is_object());
            let terminated = state.get("terminated").filter(|t| t.is_object());
            if let Some(w) = waiting.filter(|w| !s(w, "reason").is_empty()) {
                reason = s(w, "reason").to_string();
            } else if let Some(t) = terminated {
                reason = terminated_reason(t, "");
            } else if cs.get("ready").and_then(Value::as_bool) == Some(true) && state.get("running").is_some_and(Value::is_object) {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(status, "Ready") { "Running".into() } else { "NotReady".into() };
        }
    }
    let deleting = pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    if deleting && s(status, "reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration((now - t).max(0))),
        _ => restarts.to_string(),
    };
    let or_none = |v: &str| if v.is_empty() { "<none>".to_string() } else { v.to_string() };
    let ip = items(status, "podIPs").first().map(|p| s(p, "ip")).unwrap_or("");
    let gates = items(spec, "readinessGates");
    let gates_cell = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let ok = gates
            .iter()
            .filter(|g| {
                items(status, "conditions").iter().find(|c| s(c, "type") == s(g, "conditionType")).is_some_and(|c| s(c, "status") == "True")
            })
            .count();
        format!("{ok}/{}", gates.len())
    };
    vec![
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        age(pod),
        json!(or_none(ip)),
        json!(or_none(s(spec, "nodeName"))),
        json!(or_none(s(status, "nominatedNodeName"))),
        json!(gates_cell),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        jiff::Timestamp::now().as_second()
    }

    #[test]
    fn pending_pod() {
        let pod = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
        let row = pod_row(&pod, now());
        assert_eq!(row[0], "0/1");
        assert_eq!(row[1], "Pending");
        assert_eq!(row[2], "0");
        assert_eq!(row[3], "<unknown>");
        assert_eq!(&row[4..], &[json!("<none>"), json!("<none>"), json!("<none>"), json!("<none>")]);
    }

    #[test]
    fn running_pod_with_restarts_and_waiting_container() {
        let finished = jiff::Timestamp::from_second(now() - 300).unwrap().to_string();
        let pod = json!({
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": finished}}}
            ]}
        });
        let row = pod_row(&pod, now());
        assert_eq!(row[0], "1/2");
        assert_eq!(row[1], "CrashLoopBackOff");
        assert_eq!(row[2], "3 (5m ago)");
        assert_eq!(row[4], "10.0.0.5");
        assert_eq!(row[5], "n1");
    }

    #[test]
    fn init_progress_and_terminating() {
        let pod = json!({
            "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"waiting": {"reason": "PodInitializing"}}}]}
        });
        assert_eq!(pod_row(&pod, now())[1], "Terminating");
        let mut p2 = pod.clone();
        p2["metadata"] = json!({});
        assert_eq!(pod_row(&p2, now())[1], "Init:0/1");
    }
}
