//! Job controller (upstream `pkg/controller/job`): runs a Job's pods to `completions`
//! successes with at most `parallelism` at a time (NonIndexed or Indexed), tracks finished
//! pods through the `batch.kubernetes.io/job-tracking` finalizer and
//! `status.uncountedTerminatedPods`, re-creates failed pods with exponential back-off up to
//! `backoffLimit`, applies `podFailurePolicy`, `activeDeadlineSeconds` and `suspend`, and
//! reports the 1.35 conditions (`SuccessCriteriaMet`/`FailureTarget` first, then
//! `Complete`/`Failed` once no pod is left terminating).
//!
//! Not implemented yet: `backoffLimitPerIndex`/`maxFailedIndexes` (FailIndex counts as a
//! plain failure) and `successPolicy`.
//!
//! The arithmetic lives in [`plan`], the failure policy in [`failure_policy`]; this file
//! reads the stores, writes through the API and records Events.

use crate::cached_pod::CachedPod;
pub mod failure_policy;
pub mod plan;

use crate::error::is_code;
use crate::expectations::Seen;
use crate::ownership;
use crate::pods;
use crate::pod_control::PodControl;
use crate::{Context, Error, conditions};
use failure_policy::Verdict;
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::Selector;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use plan::Backoff;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Finalizer on every pod the controller creates, removed once the pod is counted.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// Annotation and label carrying an Indexed Job pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The `spec.managedBy` value this controller handles (unset means the same).
pub const MANAGED_BY: &str = "kubernetes.io/job-controller";
/// `source.component` of the Events.
const COMPONENT: &str = "job-controller";

const COMPLETIONS_REACHED: (&str, &str) = ("CompletionsReached", "Reached expected number of succeeded pods");
const BACKOFF_LIMIT_EXCEEDED: (&str, &str) = ("BackoffLimitExceeded", "Job has reached the specified backoff limit");
const DEADLINE_EXCEEDED: (&str, &str) = ("DeadlineExceeded", "Job was active longer than specified deadline");

struct State {
    shared: Arc<Context>,
    recorder: crate::events::EventRecorder,
    /// Pod-failure back-off per Job key (in memory, like upstream's `podBackoffStore`).
    backoff: Mutex<HashMap<String, Backoff>>,
}

/// Runs the Job controller on the shared Job and pod informers.
pub async fn run(ctx: Arc<Context>) {
    ctx.wait_for_sync().await;
    let pods = ctx.pods.subscribe();
    let orphans = release_orphans(ctx.clone(), ctx.pods.subscribe());
    let controller = Controller::for_shared_stream(ctx.jobs.subscribe(), ctx.jobs.store()).with_config(crate::workers::workers(crate::workers::FIVE));
    let owners = controller.store();
    let state = Arc::new(State { recorder: ctx.recorder(COMPONENT), shared: ctx, backoff: Mutex::default() });
    let jobs = controller
        .watches_shared_stream(pods, move |pod: Arc<CachedPod>| ownership::owners_of_pod(&owners, &pod, selector_of))
        .run(reconcile, error_policy, state)
        .for_each(|_| futures::future::ready(()));
    tokio::join!(jobs, orphans);
}

/// Removes the tracking finalizer from pods no unfinished Job controls any more (their Job
/// was deleted, e.g. by its TTL or a CronJob's history limit, or finished), so they are
/// not stuck terminating (upstream `syncOrphanPod`).
async fn release_orphans(ctx: Arc<Context>, pods: impl futures::Stream<Item = Arc<CachedPod>>) {
    let jobs = ctx.jobs.store();
    if jobs.wait_until_ready().await.is_err() {
        return;
    }
    futures::pin_mut!(pods);
    while let Some(pod) = pods.next().await {
        if !has_finalizer(&pod) {
            continue;
        }
        if let Some(owner) = ownership::controller_of(pod.as_ref()) {
            if owner.kind != "Job" || !owner.api_version.starts_with("batch/") {
                continue;
            }
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let job = jobs.get(&ObjectRef::new(&owner.name).within(&ns)).filter(|j| j.metadata.uid.as_deref() == Some(&owner.uid));
            if job.as_ref().is_some_and(|j| !is_finished(j) || j.spec.as_ref().and_then(|s| s.managed_by.as_deref()).is_some_and(|m| m != MANAGED_BY)) {
                continue;
            }
        }
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), pod.metadata.namespace.as_deref().unwrap_or_default());
        if let Err(e) = remove_finalizers(&api, &[pod.as_ref()]).await {
            tracing::warn!(pod = %pod.name_any(), error = %e, "cannot remove the job-tracking finalizer of an orphan pod");
        }
    }
}

/// The Job's pod selector; None when missing, invalid or empty.
pub fn selector_of(job: &Job) -> Option<Selector> {
    let selector: Selector = job.spec.as_ref()?.selector.clone()?.try_into().ok()?;
    (!selector.selects_all()).then_some(selector)
}

fn condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_ && c.status == "True")
}

/// Whether the Job has its `Complete` or `Failed` condition (upstream `IsJobFinished`).
pub fn is_finished(job: &Job) -> bool {
    finished_at(job).is_some()
}

/// When the Job finished: the transition time of its `Complete` or `Failed` condition.
pub fn finished_at(job: &Job) -> Option<Timestamp> {
    let cond = condition(job, "Complete").or_else(|| condition(job, "Failed"))?;
    Some(cond.last_transition_time.as_ref().map(|t| t.0).unwrap_or_else(Timestamp::now))
}

fn key(job: &Job) -> String {
    format!("Job/{}/{}", job.namespace().unwrap_or_default(), job.name_any())
}

fn error_policy(job: Arc<Job>, err: &Error, _: Arc<State>) -> Action {
    match err {
        Error::Api(e) if is_code(e, 409) => tracing::debug!(job = %job.name_any(), error = %err, "conflict; retrying"),
        _ => tracing::warn!(job = %job.name_any(), error = %err, "job sync failed"),
    }
    match err {
        Error::Invalid { .. } => Action::await_change(),
        _ => Action::requeue(Duration::from_secs(1)),
    }
}

fn has_finalizer(pod: &CachedPod) -> bool {
    pod.metadata.finalizers.iter().flatten().any(|f| f == TRACKING_FINALIZER)
}

fn phase(pod: &CachedPod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// Whether a pod counts as failed (upstream `isPodFailed`): phase Failed, or being
/// deleted before succeeding unless only failed pods are replaced.
fn is_failed(pod: &CachedPod, only_failed_replaced: bool) -> bool {
    phase(pod) == "Failed" || (!only_failed_replaced && pod.metadata.deletion_timestamp.is_some() && phase(pod) != "Succeeded")
}

/// Being deleted but not yet terminal (`status.terminating`).
fn is_terminating(pod: &CachedPod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && !matches!(phase(pod), "Succeeded" | "Failed")
}

/// When a pod finished: its last container termination, else now.
fn finish_time(pod: &CachedPod, now: Timestamp) -> Timestamp {
    let status = pod.status.as_ref();
    status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref().map(|t| t.0))
        .max()
        .unwrap_or(now)
}

/// An Indexed Job pod's valid completion index (annotation, else label).
fn pod_index(pod: &CachedPod, completions: i32) -> Option<i32> {
    let from = |m: &Option<std::collections::BTreeMap<String, String>>| m.as_ref()?.get(COMPLETION_INDEX)?.parse::<i32>().ok();
    let index = from(&pod.metadata.annotations).or_else(|| from(&pod.metadata.labels))?;
    (0..completions).contains(&index).then_some(index)
}

/// Total container restarts of active pods reached `backoffLimit` with `restartPolicy:
/// OnFailure` (upstream `pastBackoffLimitOnFailure`).
fn past_backoff_limit_on_failure(job: &Job, active: &[&CachedPod], backoff_limit: i32) -> bool {
    if job.spec.as_ref().and_then(|s| s.template.spec.as_ref()).and_then(|s| s.restart_policy.as_deref()) != Some("OnFailure") {
        return false;
    }
    let restarts: i32 = active
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| s.container_statuses.iter().flatten().chain(s.init_container_statuses.iter().flatten()))
        .map(|c| c.restart_count)
        .sum();
    if backoff_limit == 0 { restarts > 0 } else { restarts >= backoff_limit }
}

/// A pod for `job` from its template, with the tracking finalizer and, for Indexed Jobs,
/// the completion index (annotation, label, hostname, `JOB_COMPLETION_INDEX`).
fn pod_for(job: &Job, index: Option<i32>) -> Pod {
    let spec = job.spec.as_ref().expect("job has a spec");
    let name = job.name_any();
    let mut pod = pods::from_template(&spec.template, &job.namespace().unwrap_or_default(), &name, ownership::controller_ref(job));
    pod.metadata.finalizers.get_or_insert_with(Vec::new).push(TRACKING_FINALIZER.into());
    if let Some(i) = index {
        let suffix = format!("-{i}-");
        let mut prefix = format!("{name}{suffix}");
        // Generated names are at most 63 characters; the API server appends 5.
        if prefix.len() > 58 {
            prefix = format!("{}{suffix}", &name[..58 - suffix.len()]);
        }
        pod.metadata.generate_name = Some(prefix);
        pod.metadata.annotations.get_or_insert_with(Default::default).insert(COMPLETION_INDEX.into(), i.to_string());
        pod.metadata.labels.get_or_insert_with(Default::default).insert(COMPLETION_INDEX.into(), i.to_string());
        if let Some(pod_spec) = pod.spec.as_mut() {
            pod_spec.hostname.get_or_insert_with(|| format!("{name}-{i}"));
            let env = EnvVar {
                name: "JOB_COMPLETION_INDEX".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector { field_path: format!("metadata.labels['{COMPLETION_INDEX}']"), api_version: None }),
                    ..Default::default()
                }),
                value: None,
            };
            for c in pod_spec.containers.iter_mut().chain(pod_spec.init_containers.iter_mut().flatten()) {
                let vars = c.env.get_or_insert_with(Vec::new);
                if !vars.iter().any(|e| e.name == env.name) {
                    vars.push(env.clone());
                }
            }
        }
    }
    pod
}

/// Conditions as JSON values so the shared [`conditions`] helpers apply.
struct Conditions(Vec<Value>);

impl Conditions {
    fn of(status: &JobStatus) -> Self {
        Conditions(status.conditions.iter().flatten().filter_map(|c| serde_json::to_value(c).ok()).collect())
    }
    fn is_true(&self, type_: &str) -> bool {
        conditions::get(&self.0, type_).is_some_and(|c| c["status"] == "True")
    }
    fn reason_message(&self, type_: &str) -> Option<(String, String)> {
        let c = conditions::get(&self.0, type_).filter(|c| c["status"] == "True")?;
        Some((c["reason"].as_str().unwrap_or_default().into(), c["message"].as_str().unwrap_or_default().into()))
    }
    /// Sets a condition; Job conditions also carry `lastProbeTime`.
    fn set(&mut self, type_: &str, status: &str, (reason, message): (&str, &str), now: Timestamp) {
        conditions::set(&mut self.0, type_, status, reason, message, now, false);
        for c in &mut self.0 {
            if c.get("lastProbeTime").is_none_or(Value::is_null) {
                c["lastProbeTime"] = c["lastTransitionTime"].clone();
            }
        }
    }
    fn into_list(self) -> Option<Vec<JobCondition>> {
        let list: Vec<JobCondition> = self.0.into_iter().filter_map(|c| serde_json::from_value(c).ok()).collect();
        (!list.is_empty()).then_some(list)
    }
}

/// Pods to create and delete in one sync.
#[derive(Default)]
struct PodChanges {
    create: Vec<Option<i32>>,
    delete: Vec<Arc<CachedPod>>,
}

async fn reconcile(cached: Arc<Job>, state: Arc<State>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let api: Api<Job> = Api::namespaced(state.shared.client.clone(), &ns);
    let key = key(&cached);
    // Read the Job fresh: the counts in its status must never lag behind finalizers this
    // controller already removed (the informer may still hold the previous status).
    let job = match api.get(&cached.name_any()).await {
        Ok(job) => job,
        Err(e) if is_code(&e, 404) => {
            forget(&state, &key);
            return Ok(Action::await_change());
        }
        Err(e) => return Err(e.into()),
    };
    if job.metadata.deletion_timestamp.is_some() {
        forget(&state, &key);
        return Ok(Action::await_change());
    }
    let Some(spec) = job.spec.clone() else { return Ok(Action::await_change()) };
    if spec.managed_by.as_deref().is_some_and(|m| m != MANAGED_BY) {
        return Ok(Action::await_change());
    }
    let selector = selector_of(&job).ok_or_else(|| Error::Invalid { kind: "Job", name: format!("{ns}/{}", job.name_any()), message: "invalid or empty selector".into() })?;
    let pods_api: Api<Pod> = Api::namespaced(state.shared.client.clone(), &ns);
    let store = state.shared.pods.store();
    let finished = is_finished(&job);
    let owned = ownership::claim_pods(&store, &state.shared.client, &job, &selector, finished).await?;
    if finished {
        // Pods of a finished Job are counted already: just let them go.
        let with_finalizer: Vec<&CachedPod> = owned.iter().map(Arc::as_ref).filter(|p| has_finalizer(p)).collect();
        remove_finalizers(&pods_api, &with_finalizer).await?;
        forget(&state, &key);
        return Ok(Action::await_change());
    }

    let now = Timestamp::now();
    let old_status = job.status.clone().unwrap_or_default();
    let mut status = old_status.clone();
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let completions = spec.completions;
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let only_failed_replaced = spec.pod_replacement_policy.as_deref() == Some("Failed") || spec.pod_failure_policy.is_some();

    // 1. Finished pods: count those whose finalizer is gone, mark new ones as uncounted.
    let uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
    let mut uncounted_succeeded: BTreeSet<String> = uncounted.succeeded.into_iter().flatten().collect();
    let mut uncounted_failed: BTreeSet<String> = uncounted.failed.into_iter().flatten().collect();
    let by_uid: HashMap<&str, &CachedPod> = owned.iter().filter_map(|p| Some((p.metadata.uid.as_deref()?, p.as_ref()))).collect();
    let still_tracked = |uid: &String| by_uid.get(uid.as_str()).is_some_and(|p| has_finalizer(p));
    let mut succeeded = status.succeeded.unwrap_or(0);
    let mut failed = status.failed.unwrap_or(0);
    let counted_succeeded = uncounted_succeeded.iter().filter(|u| !still_tracked(u)).count();
    let counted_failed = uncounted_failed.iter().filter(|u| !still_tracked(u)).count();
    uncounted_succeeded.retain(|u| still_tracked(u));
    uncounted_failed.retain(|u| still_tracked(u));
    if !indexed {
        succeeded += count(counted_succeeded);
    }
    failed += count(counted_failed);

    // Once the Job is finishing, pods being deleted count as failed at once (they may
    // never reach a terminal phase).
    let already_finishing = Conditions::of(&status).is_true("FailureTarget") || Conditions::of(&status).is_true("SuccessCriteriaMet");
    let mut completed_indexes = plan::parse_indexes(status.completed_indexes.as_deref().unwrap_or(""));
    let mut ignored: Vec<&CachedPod> = Vec::new();
    let mut fail_job_message: Option<String> = None;
    let (mut new_succeeded_times, mut new_failed_times) = (Vec::new(), Vec::new());
    let mut active: Vec<&CachedPod> = Vec::new();
    let mut terminating = 0;
    for pod in owned.iter().map(Arc::as_ref) {
        if pods::is_active(pod) {
            active.push(pod);
        }
        if is_terminating(pod) {
            terminating += 1;
        }
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if !has_finalizer(pod) || uncounted_succeeded.contains(&uid) || uncounted_failed.contains(&uid) {
            continue;
        }
        if uncounted_succeeded.len() + uncounted_failed.len() >= plan::MAX_UNCOUNTED_PODS {
            break;
        }
        if phase(pod) == "Succeeded" {
            if indexed && let Some(i) = completions.and_then(|c| pod_index(pod, c)) {
                completed_indexes.insert(i);
            }
            new_succeeded_times.push(finish_time(pod, now));
            uncounted_succeeded.insert(uid);
        } else if is_failed(pod, only_failed_replaced && !already_finishing) {
            match failure_policy::evaluate(spec.pod_failure_policy.as_ref(), pod) {
                Verdict::Ignore => {
                    ignored.push(pod);
                    continue;
                }
                Verdict::FailJob(message) => {
                    fail_job_message.get_or_insert(message);
                }
                Verdict::FailIndex | Verdict::Count => {}
            }
            new_failed_times.push(finish_time(pod, now));
            uncounted_failed.insert(uid);
        }
    }
    let backoff = {
        let mut records = state.backoff.lock().expect("backoff lock");
        let record = records.entry(key.clone()).or_default();
        *record = record.after(&new_succeeded_times, &new_failed_times);
        *record
    };
    if indexed {
        succeeded = count(completed_indexes.len());
    }
    let succeeded_total = if indexed { succeeded } else { succeeded + count(uncounted_succeeded.len()) };
    let failed_total = failed + count(uncounted_failed.len());

    // 2. Suspension and start time.
    let mut conds = Conditions::of(&status);
    let mut events: Vec<(&str, &str, String)> = Vec::new();
    let suspended = spec.suspend == Some(true);
    if suspended {
        if !conds.is_true("Suspended") {
            conds.set("Suspended", "True", ("JobSuspended", "Job suspended"), now);
            events.push(("Normal", "Suspended", "Job suspended".into()));
        }
    } else {
        if conds.is_true("Suspended") {
            conds.set("Suspended", "False", ("JobResumed", "Job resumed"), now);
            events.push(("Normal", "Resumed", "Job resumed".into()));
            status.start_time = Some(Time(now));
        }
        status.start_time.get_or_insert(Time(now));
    }
    let start = status.start_time.as_ref().map(|t| t.0);
    let deadline = if suspended { None } else { plan::deadline_remaining(start, spec.active_deadline_seconds, now) };

    // 3. Has the Job failed or succeeded?
    if !conds.is_true("FailureTarget") && !conds.is_true("SuccessCriteriaMet") {
        let success = match (indexed, completions) {
            (true, Some(c)) => count(completed_indexes.len()) >= c,
            (_, Some(c)) => succeeded_total >= c,
            (_, None) => succeeded_total > 0 && active.is_empty(),
        };
        let failure: Option<(&str, String)> = if let Some(message) = fail_job_message {
            Some(("PodFailurePolicy", message))
        } else if failed_total > backoff_limit || past_backoff_limit_on_failure(&job, &active, backoff_limit) {
            Some((BACKOFF_LIMIT_EXCEEDED.0, BACKOFF_LIMIT_EXCEEDED.1.into()))
        } else if deadline == Some(Duration::ZERO) {
            Some((DEADLINE_EXCEEDED.0, DEADLINE_EXCEEDED.1.into()))
        } else {
            None
        };
        if let Some((reason, message)) = &failure {
            conds.set("FailureTarget", "True", (reason, message), now);
        } else if success {
            conds.set("SuccessCriteriaMet", "True", COMPLETIONS_REACHED, now);
        }
    }
    let finishing = conds.is_true("FailureTarget") || conds.is_true("SuccessCriteriaMet");

    // 4. Which pods to create and delete.
    let satisfied = state.shared.pod_expectations.satisfied(&key, |name| match store.get(&ObjectRef::new(name).within(&ns)) {
        None => Seen::Absent,
        Some(p) if p.metadata.deletion_timestamp.is_some() => Seen::Terminating,
        Some(_) => Seen::Present,
    });
    let mut changes = PodChanges::default();
    let mut requeue: Option<Duration> = deadline.filter(|d| !d.is_zero());
    if finishing || suspended {
        changes.delete = owned.iter().filter(|p| active.iter().any(|a| std::ptr::eq(*a, p.as_ref()))).cloned().collect();
    } else if satisfied {
        changes = plan_pods(&owned, &active, indexed, completions, parallelism, succeeded_total, &completed_indexes, terminating, only_failed_replaced);
        if !changes.create.is_empty() {
            let wait = backoff.remaining(now);
            if !wait.is_zero() {
                changes.create.clear();
                requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
            }
        }
    }
    changes.delete.truncate(plan::MAX_POD_CREATE_DELETE_PER_SYNC);
    changes.create.truncate(plan::MAX_POD_CREATE_DELETE_PER_SYNC);
    let created = create_pods(&state, &job, &pods_api, &key, &changes.create).await;
    let deleted = delete_pods(&state, &job, &pods_api, &key, &changes.delete).await;

    // 5. Terminal condition once every pod is counted and none is terminating.
    let deleted_count = deleted.as_ref().map_or(0, |d| *d);
    let active_now = count(active.len()) + created.as_ref().map_or(0, |c| *c) - deleted_count;
    let terminating_now = terminating + deleted_count;
    let mut finished_event = None;
    if finishing && uncounted_succeeded.is_empty() && uncounted_failed.is_empty() && terminating_now == 0 && active_now == 0 {
        if let Some((reason, message)) = conds.reason_message("FailureTarget") {
            conds.set("Failed", "True", (&reason, &message), now);
            finished_event = Some(("Warning", reason, message));
        } else if let Some((reason, message)) = conds.reason_message("SuccessCriteriaMet") {
            conds.set("Complete", "True", (&reason, &message), now);
            status.completion_time = Some(Time(now));
            finished_event = Some(("Normal", "Completed".to_string(), "Job completed".to_string()));
        }
    }
    if suspended && active_now == 0 {
        status.start_time = None;
    }

    status.active = nonzero(active_now);
    status.ready = Some(count(active.iter().filter(|p| pods::is_ready(p)).count()));
    status.terminating = Some(terminating_now);
    status.succeeded = nonzero(succeeded);
    status.failed = nonzero(failed);
    status.completed_indexes = (indexed && !completed_indexes.is_empty()).then(|| plan::format_indexes(&completed_indexes));
    status.uncounted_terminated_pods = Some(UncountedTerminatedPods {
        succeeded: (!uncounted_succeeded.is_empty()).then(|| uncounted_succeeded.iter().cloned().collect()),
        failed: (!uncounted_failed.is_empty()).then(|| uncounted_failed.iter().cloned().collect()),
    });
    status.conditions = conds.into_list();

    // 6. Write the status (conditional on the Job's resourceVersion), then release the
    //    finalizers of the pods it now accounts for.
    if serde_json::to_value(&status).ok() != serde_json::to_value(&old_status).ok() {
        let mut updated = job.clone();
        updated.status = Some(status);
        match api.replace_status(&job.name_any(), &PostParams::default(), &updated).await {
            Ok(_) => {}
            Err(e) if is_code(&e, 404) => return Ok(Action::await_change()),
            Err(e) => return Err(e.into()),
        }
    }
    let release: Vec<&CachedPod> = owned
        .iter()
        .map(Arc::as_ref)
        .filter(|p| has_finalizer(p))
        .filter(|p| p.metadata.uid.as_ref().is_some_and(|u| uncounted_succeeded.contains(u) || uncounted_failed.contains(u)))
        .chain(ignored)
        .collect();
    remove_finalizers(&pods_api, &release).await?;
    for (type_, reason, message) in events {
        record(&state, &job, type_, reason, message).await;
    }
    if let Some((type_, reason, message)) = finished_event {
        record(&state, &job, type_, &reason, message).await;
        forget(&state, &key);
    }
    created?;
    deleted?;
    Ok(match requeue {
        Some(d) => Action::requeue(d + Duration::from_millis(100)),
        None => Action::await_change(),
    })
}

fn forget(state: &State, key: &str) {
    state.shared.pod_expectations.forget(key);
    state.backoff.lock().expect("backoff lock").remove(key);
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

async fn record(state: &State, job: &Job, type_: &str, reason: &str, message: String) {
    if type_ == "Warning" {
        state.recorder.warning(job, reason, message);
    } else {
        state.recorder.normal(job, reason, message);
    }
}

/// Pods to create (their completion index for Indexed Jobs) and delete (upstream
/// `manageJob`): Indexed Jobs first drop pods with invalid, duplicate or already
/// succeeded indexes; then active pods beyond [`plan::want_active`] go, ranked as for
/// ReplicaSets; missing pods are added (for Indexed Jobs, the lowest pending indexes).
#[allow(clippy::too_many_arguments)]
fn plan_pods(owned: &[Arc<CachedPod>], active: &[&CachedPod], indexed: bool, completions: Option<i32>, parallelism: i32, succeeded: i32, completed: &BTreeSet<i32>, terminating: i32, only_failed_replaced: bool) -> PodChanges {
    let arc_of = |p: &CachedPod| owned.iter().find(|o| std::ptr::eq(o.as_ref(), p)).cloned();
    let mut delete: Vec<&CachedPod> = Vec::new();
    let mut keep: Vec<&CachedPod> = Vec::new();
    let mut active_indexes = BTreeSet::new();
    for &pod in active {
        if indexed {
            match completions.and_then(|c| pod_index(pod, c)) {
                Some(i) if !completed.contains(&i) && active_indexes.insert(i) => keep.push(pod),
                _ => delete.push(pod),
            }
        } else {
            keep.push(pod);
        }
    }
    let want = plan::want_active(completions, parallelism, succeeded, count(keep.len()));
    let excess = usize::try_from(count(keep.len()) - want).unwrap_or(0);
    if excess > 0 {
        pods::sort_for_deletion(&mut keep);
        delete.extend(keep.drain(..excess));
    }
    let mut create = Vec::new();
    if delete.is_empty() {
        let replacing = if only_failed_replaced { terminating } else { 0 };
        let missing = usize::try_from(want - count(keep.len()) - replacing).unwrap_or(0);
        if indexed {
            let kept: BTreeSet<i32> = keep.iter().filter_map(|p| completions.and_then(|c| pod_index(p, c))).collect();
            create = plan::pending_indexes(completions.unwrap_or(0), completed, &kept, missing).into_iter().map(Some).collect();
        } else {
            create = vec![None; missing];
        }
    }
    PodChanges { create, delete: delete.into_iter().filter_map(arc_of).collect() }
}

/// Creates pods in slow-start batches; returns how many were created.
async fn create_pods(state: &State, job: &Job, api: &Api<Pod>, key: &str, indexes: &[Option<i32>]) -> Result<i32, Error> {
    let pods = indexes.iter().map(|i| pod_for(job, *i)).collect();
    Ok(count(pod_control(state, api, key).create(job, pods).await?))
}

fn pod_control<'a>(state: &'a State, api: &'a Api<Pod>, key: &'a str) -> PodControl<'a> {
    PodControl { api, recorder: &state.recorder, expectations: &state.shared.pod_expectations, key }
}

/// Deletes pods; returns how many were deleted.
async fn delete_pods(state: &State, job: &Job, api: &Api<Pod>, key: &str, victims: &[Arc<CachedPod>]) -> Result<i32, Error> {
    let names: Vec<String> = victims.iter().map(|p| p.name_any()).collect();
    Ok(count(pod_control(state, api, key).delete(job, &names).await?))
}

/// Removes the tracking finalizer (a strategic-merge `$deleteFromPrimitiveList`, so other
/// finalizers and concurrent writers are untouched).
async fn remove_finalizers(api: &Api<Pod>, pods: &[&CachedPod]) -> Result<(), Error> {
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}});
    let (params, patch) = (PatchParams::default(), Patch::Strategic(&patch));
    let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    let results = futures::future::join_all(names.iter().map(|n| api.patch(n, &params, &patch))).await;
    for result in results {
        match result {
            Err(e) if !is_code(&e, 404) => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

