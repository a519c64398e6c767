//! Job, CronJob and TTL-after-finished controllers through stock kubectl.
//!
//! Kubelet-less (all but the last test): these clusters run no kubelet and pods stay
//! unbound, so the tests finish pods through `pods/status` (`Cluster::mark_pods_finished`)
//! as a kubelet would. The last test runs a real Job on a kubelet (root + containerd).

use ironkube_conformance::{Cluster, assert_eventually, patience};
use serde_json::Value;
use std::time::{Duration, Instant};

fn json(c: &Cluster, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["-o", "json"]);
    serde_json::from_str(&c.ok(&full)).expect("kubectl -o json")
}

/// The job's pods that are not being deleted, by name.
fn live_pods(c: &Cluster, job: &str) -> Vec<Value> {
    let pods = json(c, &["get", "pods", "-l", &format!("batch.kubernetes.io/job-name={job}")]);
    pods["items"].as_array().cloned().unwrap_or_default().into_iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).collect()
}

/// Every pod of the job, terminating ones included.
fn all_pods(c: &Cluster, job: &str) -> usize {
    json(c, &["get", "pods", "-l", &format!("batch.kubernetes.io/job-name={job}")])["items"].as_array().map_or(0, Vec::len)
}

/// Running (not finished) pods of the job.
fn running_pods(c: &Cluster, job: &str) -> Vec<String> {
    live_pods(c, job)
        .iter()
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect()
}

fn job_json(c: &Cluster, job: &str) -> Value {
    json(c, &["get", "job", job])
}

fn condition_types(job: &Value) -> Vec<String> {
    job["status"]["conditions"].as_array().into_iter().flatten().filter(|c| c["status"] == "True").filter_map(|c| c["type"].as_str().map(String::from)).collect()
}

fn events(c: &Cluster, kind: &str, name: &str) -> Vec<(String, String)> {
    let list = json(c, &["get", "events", "--field-selector", &format!("involvedObject.kind={kind},involvedObject.name={name}")]);
    list["items"].as_array().into_iter().flatten().map(|e| (e["reason"].as_str().unwrap_or_default().to_string(), e["message"].as_str().unwrap_or_default().to_string())).collect()
}

fn has_event(c: &Cluster, kind: &str, name: &str, reason: &str) -> bool {
    events(c, kind, name).iter().any(|(r, _)| r == reason)
}

fn job_yaml(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n{spec}  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: main, image: busybox, command: ['true']}}]\n"
    )
}

/// Finishes whichever pods of `job` are running (exit code 0: succeeded), waiting until
/// `n` are running first.
fn finish_running(c: &Cluster, job: &str, n: usize, exit_code: i32) -> Vec<String> {
    assert_eventually!(running_pods(c, job).len() == n, "expected {n} running pods of {job}: {:?}", running_pods(c, job));
    let names = running_pods(c, job);
    c.mark_pods_finished(&names.iter().map(String::as_str).collect::<Vec<_>>(), exit_code);
    names
}

#[test]
fn completions_and_parallelism_complete_the_job() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &job_yaml("work", "  completions: 3\n  parallelism: 2\n"));
    assert_eventually!(running_pods(&c, "work").len() == 2, "parallelism 2 not honoured: {:?}", running_pods(&c, "work"));
    let job = job_json(&c, "work");
    let uid = job["metadata"]["uid"].as_str().unwrap().to_string();
    let pod = &live_pods(&c, "work")[0];
    assert!(pod["metadata"]["name"].as_str().unwrap().starts_with("work-"));
    assert_eq!(pod["metadata"]["generateName"], "work-");
    for (label, want) in [("batch.kubernetes.io/controller-uid", &uid), ("controller-uid", &uid), ("batch.kubernetes.io/job-name", &"work".to_string()), ("job-name", &"work".to_string())] {
        assert_eq!(pod["metadata"]["labels"][label].as_str(), Some(want.as_str()), "label {label}");
    }
    assert_eq!(pod["metadata"]["finalizers"], serde_json::json!(["batch.kubernetes.io/job-tracking"]));
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Job");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eventually!(job_json(&c, "work")["status"]["active"] == 2, "status.active: {}", job_json(&c, "work")["status"]);
    assert!(job_json(&c, "work")["status"]["startTime"].is_string());

    finish_running(&c, "work", 2, 0);
    finish_running(&c, "work", 1, 0);
    let timeout = format!("--timeout={}s", patience().as_secs());
    c.ok(&["wait", "--for=condition=complete", "job/work", &timeout]);
    let job = job_json(&c, "work");
    assert_eq!(condition_types(&job), ["SuccessCriteriaMet", "Complete"]);
    assert_eq!(job["status"]["succeeded"], 3);
    assert_eq!(job["status"]["ready"], 0);
    assert!(job["status"]["active"].is_null());
    assert!(job["status"]["completionTime"].is_string());
    assert_eq!(job["status"]["uncountedTerminatedPods"], serde_json::json!({}));
    let reason = job["status"]["conditions"][1]["reason"].as_str().unwrap().to_string();
    assert_eq!(reason, "CompletionsReached");
    // Counted pods lose the tracking finalizer.
    assert_eventually!(live_pods(&c, "work").iter().all(|p| p["metadata"]["finalizers"].as_array().is_none_or(Vec::is_empty)), "finalizers left on pods: {:?}", live_pods(&c, "work"));
    assert_eventually!(has_event(&c, "Job", "work", "Completed"), "no Completed event: {:?}", events(&c, "Job", "work"));
    assert_eq!(events(&c, "Job", "work").iter().filter(|(r, _)| r == "SuccessfulCreate").count(), 3);
    let table = c.ok(&["get", "job", "work"]);
    assert!(table.contains("Complete") && table.contains("3/3"), "{table}");
}

#[test]
fn backoff_limit_fails_the_job_after_a_backoff() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &job_yaml("flaky", "  backoffLimit: 1\n"));
    let first = finish_running(&c, "flaky", 1, 1);
    assert_eventually!(job_json(&c, "flaky")["status"]["failed"] == 1, "failure not counted: {}", job_json(&c, "flaky")["status"]);
    assert!(condition_types(&job_json(&c, "flaky")).is_empty(), "one failure is within backoffLimit 1");
    // The replacement comes after the 10 s pod-failure back-off.
    assert_eventually!(running_pods(&c, "flaky").iter().any(|p| !first.contains(p)), "no replacement pod");
    finish_running(&c, "flaky", 1, 1);
    let timeout = format!("--timeout={}s", patience().as_secs());
    c.ok(&["wait", "--for=condition=failed", "job/flaky", &timeout]);
    let job = job_json(&c, "flaky");
    assert_eq!(condition_types(&job), ["FailureTarget", "Failed"]);
    assert_eq!(job["status"]["conditions"][1]["reason"], "BackoffLimitExceeded");
    assert_eq!(job["status"]["conditions"][1]["message"], "Job has reached the specified backoff limit");
    assert_eq!(job["status"]["failed"], 2);
    assert_eventually!(has_event(&c, "Job", "flaky", "BackoffLimitExceeded"), "no event: {:?}", events(&c, "Job", "flaky"));
}

#[test]
fn active_deadline_fails_the_job_and_deletes_its_pods() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &job_yaml("slow", "  parallelism: 2\n  completions: 4\n  activeDeadlineSeconds: 2\n"));
    assert_eventually!(condition_types(&job_json(&c, "slow")).contains(&"Failed".to_string()), "never failed: {}", job_json(&c, "slow")["status"]);
    let job = job_json(&c, "slow");
    assert_eq!(condition_types(&job), ["FailureTarget", "Failed"]);
    assert_eq!(job["status"]["conditions"][1]["reason"], "DeadlineExceeded");
    assert_eq!(job["status"]["conditions"][1]["message"], "Job was active longer than specified deadline");
    assert_eventually!(live_pods(&c, "slow").is_empty(), "active pods not deleted: {:?}", running_pods(&c, "slow"));
    assert_eventually!(has_event(&c, "Job", "slow", "DeadlineExceeded"), "no event: {:?}", events(&c, "Job", "slow"));
    assert!(has_event(&c, "Job", "slow", "SuccessfulDelete"));
}

#[test]
fn indexed_job_runs_each_index_once() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &job_yaml("idx", "  completions: 3\n  parallelism: 3\n  completionMode: Indexed\n"));
    assert_eventually!(running_pods(&c, "idx").len() == 3, "3 indexed pods expected");
    let mut by_index = std::collections::BTreeMap::new();
    for p in live_pods(&c, "idx") {
        let index = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"].as_str().unwrap().to_string();
        assert_eq!(p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"].as_str(), Some(index.as_str()));
        assert_eq!(p["spec"]["hostname"], format!("idx-{index}"));
        assert_eq!(p["metadata"]["generateName"], format!("idx-{index}-"));
        assert!(p["spec"]["containers"][0]["env"].as_array().unwrap().iter().any(|e| e["name"] == "JOB_COMPLETION_INDEX"));
        by_index.insert(index, p["metadata"]["name"].as_str().unwrap().to_string());
    }
    assert_eq!(by_index.keys().collect::<Vec<_>>(), ["0", "1", "2"]);
    c.mark_pods_finished(&[&by_index["0"], &by_index["2"]], 0);
    assert_eventually!(job_json(&c, "idx")["status"]["completedIndexes"] == "0,2", "completedIndexes: {}", job_json(&c, "idx")["status"]);
    c.mark_pods_finished(&[&by_index["1"]], 0);
    let timeout = format!("--timeout={}s", patience().as_secs());
    c.ok(&["wait", "--for=condition=complete", "job/idx", &timeout]);
    let job = job_json(&c, "idx");
    assert_eq!(job["status"]["completedIndexes"], "0-2");
    assert_eq!(job["status"]["succeeded"], 3);
}

#[test]
fn pod_failure_policy_fails_the_job_on_an_exit_code() {
    let c = Cluster::start();
    let spec = "  backoffLimit: 6\n  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes: {containerName: main, operator: In, values: [42]}\n";
    c.ok_with_input(&["apply", "-f", "-"], &job_yaml("policy", spec));
    let pods = finish_running(&c, "policy", 1, 42);
    assert_eventually!(condition_types(&job_json(&c, "policy")).contains(&"Failed".to_string()), "never failed: {}", job_json(&c, "policy")["status"]);
    let cond = &job_json(&c, "policy")["status"]["conditions"][1];
    assert_eq!(cond["reason"], "PodFailurePolicy");
    assert_eq!(cond["message"], format!("Container main for pod default/{} failed with exit code 42 matching FailJob rule at index 0", pods[0]));
}

#[test]
fn suspend_deletes_pods_and_resume_recreates_them() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &job_yaml("pause", "  parallelism: 2\n  completions: 2\n"));
    assert_eventually!(running_pods(&c, "pause").len() == 2, "pods not created");
    c.ok(&["patch", "job", "pause", "--type=merge", "-p", r#"{"spec":{"suspend":true}}"#]);
    assert_eventually!(live_pods(&c, "pause").is_empty(), "pods of a suspended job left");
    assert_eventually!(condition_types(&job_json(&c, "pause")) == ["Suspended"], "conditions: {}", job_json(&c, "pause")["status"]);
    assert!(job_json(&c, "pause")["status"]["startTime"].is_null(), "a suspended job without pods has no startTime");
    assert!(has_event(&c, "Job", "pause", "Suspended"));
    c.ok(&["patch", "job", "pause", "--type=merge", "-p", r#"{"spec":{"suspend":false}}"#]);
    assert_eventually!(running_pods(&c, "pause").len() == 2, "pods not re-created on resume");
    let job = job_json(&c, "pause");
    let suspended = job["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Suspended").cloned().unwrap();
    assert_eq!((suspended["status"].as_str(), suspended["reason"].as_str()), (Some("False"), Some("JobResumed")));
    assert!(job["status"]["startTime"].is_string());
}

#[test]
fn ttl_after_finished_deletes_the_job() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &job_yaml("short", "  ttlSecondsAfterFinished: 1\n"));
    finish_running(&c, "short", 1, 0);
    assert_eventually!(!c.kubectl(&["get", "job", "short"]).status.success(), "job not deleted after its TTL");
    // Background propagation: the garbage collector removes the pod as well.
    assert_eventually!(live_pods(&c, "short").is_empty(), "pod of the deleted job left");
}

/// Waits for a condition across a minute boundary (a CronJob schedule's granularity).
macro_rules! within_a_minute {
    ($cond:expr, $($msg:tt)+) => {{
        let deadline = Instant::now() + Duration::from_secs(65) + patience();
        while !$cond {
            assert!(Instant::now() < deadline, $($msg)+);
            std::thread::sleep(Duration::from_millis(200));
        }
    }};
}

fn cronjob_jobs(c: &Cluster, cronjob: &str) -> Vec<String> {
    let jobs = json(c, &["get", "jobs"]);
    jobs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|j| j["metadata"]["ownerReferences"][0]["name"] == cronjob)
        .filter(|j| j["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|j| j["metadata"]["name"].as_str().map(String::from))
        .collect()
}

#[test]
fn cronjob_runs_on_schedule_with_forbid_replace_and_history() {
    let c = Cluster::start();
    for (name, policy) in [("forbid", "Forbid"), ("replace", "Replace")] {
        c.ok(&["create", "cronjob", name, "--image=busybox", "--schedule=* * * * *", "--", "true"]);
        c.ok(&["patch", "cronjob", name, "--type=merge", "-p", &format!(r#"{{"spec":{{"concurrencyPolicy":"{policy}","successfulJobsHistoryLimit":0}}}}"#)]);
        // A run missed long ago (as after downtime) makes the controller start the most
        // recent one at once, with upstream's warning about too many missed times.
        c.ok(&["patch", "cronjob", name, "--subresource=status", "--type=merge", "-p", r#"{"status":{"lastScheduleTime":"2020-01-01T00:00:00Z"}}"#]);
    }
    assert_eventually!(cronjob_jobs(&c, "forbid").len() == 1 && cronjob_jobs(&c, "replace").len() == 1, "no jobs started");
    assert_eventually!(has_event(&c, "CronJob", "forbid", "TooManyMissedTimes"), "events: {:?}", events(&c, "CronJob", "forbid"));
    let first = cronjob_jobs(&c, "forbid").remove(0);
    let job = job_json(&c, &first);
    let scheduled = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"].as_str().expect("scheduled-timestamp annotation").to_string();
    let minutes = scheduled.parse::<jiff::Timestamp>().expect("RFC 3339").as_second() / 60;
    assert_eq!(first, format!("forbid-{minutes}"), "job name = cronjob-<minutes since epoch>");
    let cj = json(&c, &["get", "cronjob", "forbid"]);
    assert_eq!(cj["status"]["active"][0]["name"], first.as_str());
    assert_eq!(cj["status"]["lastScheduleTime"].as_str(), Some(scheduled.as_str()));
    assert!(has_event(&c, "CronJob", "forbid", "SuccessfulCreate"));
    let replaced = cronjob_jobs(&c, "replace").remove(0);

    // The next minute: Forbid skips while its job runs; Replace deletes and re-creates.
    within_a_minute!(cronjob_jobs(&c, "replace").iter().any(|j| *j != replaced), "replace never started a second job");
    assert_eventually!(cronjob_jobs(&c, "replace").len() == 1, "replaced job not deleted: {:?}", cronjob_jobs(&c, "replace"));
    assert!(has_event(&c, "CronJob", "replace", "SuccessfulDelete"));
    // The replaced job's running pod loses its tracking finalizer and is really deleted
    // (not left terminating forever).
    assert_eventually!(all_pods(&c, &replaced) == 0, "pods of the replaced job left: {}", all_pods(&c, &replaced));
    assert_eventually!(has_event(&c, "CronJob", "forbid", "JobAlreadyActive"), "events: {:?}", events(&c, "CronJob", "forbid"));
    assert_eq!(cronjob_jobs(&c, "forbid"), std::slice::from_ref(&first));

    // When the job completes the CronJob notices, records the success and, with
    // successfulJobsHistoryLimit 0, deletes it.
    finish_running(&c, &first, 1, 0);
    assert_eventually!(has_event(&c, "CronJob", "forbid", "SawCompletedJob"), "events: {:?}", events(&c, "CronJob", "forbid"));
    assert_eventually!(!cronjob_jobs(&c, "forbid").contains(&first), "completed job kept beyond the history limit");
    let cj = json(&c, &["get", "cronjob", "forbid"]);
    assert!(cj["status"]["lastSuccessfulTime"].is_string(), "{}", cj["status"]);

    // A manual run from the template is a plain create.
    c.ok(&["create", "job", "manual", "--from=cronjob/replace"]);
    let manual = job_json(&c, "manual");
    assert_eq!(manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"], "manual");
    assert_eventually!(running_pods(&c, "manual").len() == 1, "manual job has no pod");
}

#[test]
fn kubelet_job_runs_to_completion_and_logs() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    c.ok(&["create", "job", "hello", "--image=ironkube.local/busybox", "--", "sh", "-c", "echo hello"]);
    let timeout = format!("--timeout={}s", patience().as_secs() * 3);
    c.ok(&["wait", "--for=condition=complete", "job/hello", &timeout]);
    assert_eq!(c.ok(&["logs", "job/hello"]).trim(), "hello");
    assert_eq!(job_json(&c, "hello")["status"]["succeeded"], 1);
}
