//! CronJob controller (upstream `pkg/controller/cronjob`, the v2 controller): creates a
//! Job named `<cronjob>-<minutes since epoch>` at each scheduled time (5-field schedules,
//! descriptors, `spec.timeZone`), honouring `concurrencyPolicy`, `startingDeadlineSeconds`
//! and `suspend`; tracks `status.active`, `lastScheduleTime` and `lastSuccessfulTime`;
//! prunes finished Jobs beyond the history limits; records upstream's Events.
//!
//! Decisions over an explicit `now` live in [`decide`] and [`jobs_to_prune`] (and
//! [`schedule`]); the clock is only read in `reconcile`.

pub mod schedule;

use crate::error::{api_message, is_code};
use crate::{Context, Error, job, ownership};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use schedule::{Missed, Schedule};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Annotation on each Job with its scheduled time (RFC 3339 in the CronJob's zone).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// `source.component` of the Events.
const COMPONENT: &str = "cronjob-controller";
/// Requeue a little after the next scheduled time (upstream `nextScheduleDelta`).
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

struct State {
    shared: Arc<Context>,
    recorder: crate::events::EventRecorder,
}

/// Runs the CronJob controller (CronJobs, and the shared Job informer for their Jobs).
pub async fn run(ctx: Arc<Context>) {
    ctx.wait_for_sync().await;
    let jobs = ctx.jobs.subscribe();
    let controller = Controller::new(Api::<CronJob>::all(ctx.client.clone()), watcher::Config::default()).with_config(crate::workers::workers(crate::workers::FIVE));
    let state = Arc::new(State { recorder: ctx.recorder(COMPONENT), shared: ctx });
    controller
        .watches_shared_stream(jobs, |job: Arc<Job>| {
            let owner = ownership::controller_of(job.as_ref()).filter(|r| r.kind == "CronJob")?;
            Some(ObjectRef::<CronJob>::new(&owner.name).within(&job.namespace().unwrap_or_default()))
        })
        .run(reconcile, crate::error::retry_soon, state)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// What to do at `now` (upstream `nextScheduleTime` and the `tooLate` check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No start time is due.
    Wait,
    /// Start the run scheduled at this time (`many_missed`: warn about missed times).
    Start {
        /// The scheduled time.
        scheduled: Timestamp,
        /// More than 100 start times were missed.
        many_missed: bool,
    },
    /// The due run is past `startingDeadlineSeconds`.
    TooLate {
        /// The scheduled time.
        scheduled: Timestamp,
    },
}

/// Decides whether a run is due at `now`: the most recent scheduled time after the last
/// one (or the CronJob's creation), never looking further back than
/// `startingDeadlineSeconds`.
pub fn decide(cronjob: &CronJob, schedule: &Schedule, now: Timestamp) -> Decision {
    let spec = cronjob.spec.as_ref();
    let deadline = spec.and_then(|s| s.starting_deadline_seconds).map(SignedDuration::from_secs);
    let last = cronjob.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0);
    let mut earliest = last.or(cronjob.metadata.creation_timestamp.as_ref().map(|t| t.0)).unwrap_or(now);
    if let Some(d) = deadline {
        earliest = earliest.max(now - d);
    }
    match schedule.most_recent(earliest, now) {
        (None, _) => Decision::Wait,
        (Some(t), _) if deadline.is_some_and(|d| t + d < now) => Decision::TooLate { scheduled: t },
        (Some(t), missed) => Decision::Start { scheduled: t, many_missed: missed == Missed::Many },
    }
}

/// How long until the next scheduled time after `now` (plus a small delta).
pub fn until_next(schedule: &Schedule, now: Timestamp) -> Option<Duration> {
    let next = schedule.next_after(now)?;
    Some(now.duration_until(next).unsigned_abs() + NEXT_SCHEDULE_DELTA)
}

fn job_condition(job: &Job) -> Option<&'static str> {
    let conds = job.status.as_ref()?.conditions.as_ref()?;
    let is = |t: &str| conds.iter().any(|c| c.type_ == t && c.status == "True");
    if is("Complete") {
        Some("Complete")
    } else if is("Failed") {
        Some("Failed")
    } else {
        None
    }
}

/// Finished Jobs beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`, oldest
/// first by start time (upstream `removeOldestJobs`; Jobs without a start time count as
/// the newest).
pub fn jobs_to_prune<'a>(jobs: &[&'a Job], successful_limit: Option<i32>, failed_limit: Option<i32>) -> Vec<&'a Job> {
    let mut prune = Vec::new();
    for (condition, limit) in [("Complete", successful_limit), ("Failed", failed_limit)] {
        let Some(limit) = limit else { continue };
        let mut finished: Vec<&Job> = jobs.iter().copied().filter(|j| job_condition(j) == Some(condition)).collect();
        let excess = finished.len().saturating_sub(usize::try_from(limit).unwrap_or(0));
        let start = |j: &Job| j.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0);
        finished.sort_by(|a, b| match (start(a), start(b)) {
            (Some(x), Some(y)) if x != y => x.cmp(&y),
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => a.name_any().cmp(&b.name_any()),
        });
        prune.extend(finished.into_iter().take(excess));
    }
    prune
}

/// The Job for the run scheduled at `scheduled` (upstream `getJobFromTemplate2`).
pub fn job_for(cronjob: &CronJob, scheduled: Timestamp) -> Job {
    let spec = cronjob.spec.as_ref();
    let template = spec.map(|s| &s.job_template);
    let meta = template.and_then(|t| t.metadata.clone()).unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    let zone = spec.and_then(|s| s.time_zone.as_deref());
    annotations.insert(SCHEDULED_TIMESTAMP.into(), Schedule::format_in_zone(scheduled, zone));
    Job {
        metadata: ObjectMeta {
            name: Some(schedule::job_name(&cronjob.name_any(), scheduled)),
            namespace: cronjob.namespace(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![ownership::controller_ref(cronjob)]),
            ..Default::default()
        },
        spec: Some(template.and_then(|t| t.spec.clone()).unwrap_or_default()),
        status: None,
    }
}

fn reference(job: &Job) -> ObjectReference {
    let mut r = job.object_ref(&());
    r.field_path = None;
    r
}

async fn reconcile(cached: Arc<CronJob>, state: Arc<State>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let api: Api<CronJob> = Api::namespaced(state.shared.client.clone(), &ns);
    let jobs_api: Api<Job> = Api::namespaced(state.shared.client.clone(), &ns);
    // Read fresh: the informer may not show this controller's last status write yet.
    let cj = match api.get(&cached.name_any()).await {
        Ok(cj) => cj,
        Err(e) if is_code(&e, 404) => return Ok(Action::await_change()),
        Err(e) => return Err(e.into()),
    };
    let rec = &state.recorder;
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    let jobs: Vec<Arc<Job>> = state
        .shared
        .jobs
        .store()
        .state()
        .into_iter()
        .filter(|j| j.namespace().as_deref() == Some(&ns) && ownership::controller_of(j.as_ref()).is_some_and(|r| r.uid == uid))
        .collect();
    let old_status = cj.status.clone().unwrap_or_default();
    let mut active: Vec<ObjectReference> = old_status.active.clone().unwrap_or_default();
    let mut last_successful = old_status.last_successful_time.as_ref().map(|t| t.0);
    let mut last_schedule = old_status.last_schedule_time.as_ref().map(|t| t.0);
    let in_active = |active: &[ObjectReference], uid: &Option<String>| active.iter().any(|r| r.uid == *uid);

    // Reconcile status.active with the Jobs that exist.
    for j in &jobs {
        let condition = job_condition(j);
        if !in_active(&active, &j.metadata.uid) && condition.is_none() {
            rec.warning(&cj, "UnexpectedJob", format!("Saw a job that the controller did not create or forgot: {}", j.name_any()));
        } else if in_active(&active, &j.metadata.uid)
            && let Some(condition) = condition
        {
            active.retain(|r| r.uid != j.metadata.uid);
            rec.normal(&cj, "SawCompletedJob", format!("Saw completed job: {}, condition: {condition}", j.name_any()));
        }
        if condition == Some("Complete")
            && let Some(done) = j.status.as_ref().and_then(|s| s.completion_time.as_ref()).map(|t| t.0)
            && last_successful.is_none_or(|t| done > t)
        {
            last_successful = Some(done);
        }
    }
    let children: HashSet<&str> = jobs.iter().filter_map(|j| j.metadata.uid.as_deref()).collect();
    for r in active.clone() {
        if r.uid.as_deref().is_some_and(|u| children.contains(u)) {
            continue;
        }
        match jobs_api.get(r.name.as_deref().unwrap_or_default()).await {
            Err(e) if is_code(&e, 404) => {
                rec.normal(&cj, "MissingJob", format!("Active job went missing: {}", r.name.as_deref().unwrap_or_default()));
                active.retain(|a| a.uid != r.uid);
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
    }

    let mut next = None;
    let mut result = Ok(());
    let spec = cj.spec.clone().unwrap_or_default();
    if cj.metadata.deletion_timestamp.is_none() && spec.suspend != Some(true) {
        match Schedule::parse(&spec.schedule, spec.time_zone.as_deref()) {
            Err(e) if spec.time_zone.is_some() && e.starts_with("unknown time zone") => {
                rec.warning(&cj, "UnknownTimeZone", format!("invalid timeZone: {:?}: {e}", spec.time_zone.as_deref().unwrap_or_default()));
            }
            Err(e) => rec.warning(&cj, "UnparseableSchedule", format!("unparseable schedule: {:?} : {e}", spec.schedule)),
            Ok(sched) => {
                let now = Timestamp::now();
                next = until_next(&sched, now);
                result = start_due_run(&state, &cj, &jobs_api, decide(&cj, &sched, now), &mut active, &mut last_schedule).await;
            }
        }
    }

    // Prune finished Jobs beyond the history limits.
    let job_refs: Vec<&Job> = jobs.iter().map(Arc::as_ref).collect();
    for victim in jobs_to_prune(&job_refs, spec.successful_jobs_history_limit, spec.failed_jobs_history_limit) {
        if delete_job(rec, &cj, &jobs_api, victim).await {
            active.retain(|r| r.uid != victim.metadata.uid);
        }
    }

    let status = json!({
        "active": if active.is_empty() { serde_json::Value::Null } else { json!(active) },
        "lastScheduleTime": last_schedule.map(Time),
        "lastSuccessfulTime": last_successful.map(Time),
    });
    let old = json!({
        "active": old_status.active.filter(|a| !a.is_empty()),
        "lastScheduleTime": old_status.last_schedule_time,
        "lastSuccessfulTime": old_status.last_successful_time,
    });
    if status != old {
        let patch = json!({"metadata": {"resourceVersion": cj.metadata.resource_version}, "status": status});
        match api.patch_status(&cj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {}
            Err(e) if is_code(&e, 404) => return Ok(Action::await_change()),
            Err(e) => return Err(e.into()),
        }
    }
    result?;
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// Starts the run `decision` calls for, if the concurrency policy allows.
async fn start_due_run(state: &State, cj: &CronJob, jobs_api: &Api<Job>, decision: Decision, active: &mut Vec<ObjectReference>, last_schedule: &mut Option<Timestamp>) -> Result<(), Error> {
    let rec = &state.recorder;
    let (scheduled, many_missed) = match decision {
        Decision::Wait => return Ok(()),
        Decision::TooLate { scheduled } => {
            rec.warning(cj, "MissSchedule", format!("Missed scheduled time to start a job: {}", schedule::rfc1123z(scheduled)));
            return Ok(());
        }
        Decision::Start { scheduled, many_missed } => (scheduled, many_missed),
    };
    if many_missed {
        rec.warning(cj, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".into());
    }
    let job = job_for(cj, scheduled);
    let name = job.name_any();
    if active.iter().any(|r| r.name.as_deref() == Some(&name)) || *last_schedule == Some(scheduled) {
        return Ok(());
    }
    let policy = cj.spec.as_ref().and_then(|s| s.concurrency_policy.as_deref()).unwrap_or("Allow");
    if policy == "Forbid" && !active.is_empty() {
        rec.normal(cj, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid".into());
        return Ok(());
    }
    if policy == "Replace" {
        for r in active.clone() {
            let running = match jobs_api.get(r.name.as_deref().unwrap_or_default()).await {
                Ok(j) => j,
                Err(e) => {
                    rec.warning(cj, "FailedGet", format!("Get job: {}", api_message(&e)));
                    return Err(e.into());
                }
            };
            if !delete_job(rec, cj, jobs_api, &running).await {
                return Err(Error::Retry(format!("could not replace job {}/{}", running.namespace().unwrap_or_default(), running.name_any())));
            }
            active.retain(|a| a.uid != running.metadata.uid);
        }
    }
    let created = match jobs_api.create(&PostParams::default(), &job).await {
        Ok(created) => {
            rec.normal(cj, "SuccessfulCreate", format!("Created job {name}"));
            created
        }
        Err(e) if is_code(&e, 409) => {
            // Created by an earlier sync whose status write was lost (the name is the lock).
            let existing = jobs_api.get(&name).await?;
            let ours = ownership::controller_of(&existing).is_some_and(|r| Some(&r.uid) == cj.metadata.uid.as_ref());
            if !ours || active.iter().any(|r| r.uid == existing.metadata.uid) {
                return Ok(());
            }
            existing
        }
        Err(e) => {
            rec.warning(cj, "FailedCreate", format!("Error creating job: {}", api_message(&e)));
            return Err(e.into());
        }
    };
    active.push(reference(&created));
    *last_schedule = Some(scheduled);
    Ok(())
}

/// Deletes a Job with background propagation (upstream `deleteJob`).
async fn delete_job(rec: &crate::events::EventRecorder, cj: &CronJob, api: &Api<Job>, victim: &Job) -> bool {
    let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
    match api.delete(&victim.name_any(), &params).await {
        Ok(_) => {
            rec.normal(cj, "SuccessfulDelete", format!("Deleted job {}", victim.name_any()));
            true
        }
        Err(e) if is_code(&e, 404) => true,
        Err(e) => {
            rec.warning(cj, "FailedDelete", format!("Deleted job: {}", api_message(&e)));
            false
        }
    }
}


/// Whether a Job is finished (shared with the Job controller's definition).
pub fn is_finished(j: &Job) -> bool {
    job::is_finished(j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{CronJobSpec, CronJobStatus, JobCondition, JobStatus};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cronjob(created: &str, last: Option<&str>, deadline: Option<i64>) -> CronJob {
        CronJob {
            metadata: ObjectMeta { name: Some("c".into()), namespace: Some("ns".into()), creation_timestamp: Some(Time(ts(created))), ..Default::default() },
            spec: Some(CronJobSpec { schedule: "*/10 * * * *".into(), starting_deadline_seconds: deadline, time_zone: Some("UTC".into()), ..Default::default() }),
            status: Some(CronJobStatus { last_schedule_time: last.map(|l| Time(ts(l))), ..Default::default() }),
        }
    }

    #[test]
    fn decides_the_most_recent_unmet_time() {
        let sched = Schedule::parse("*/10 * * * *", Some("UTC")).unwrap();
        let cj = cronjob("2025-01-01T10:01:00Z", None, None);
        assert_eq!(decide(&cj, &sched, ts("2025-01-01T10:05:00Z")), Decision::Wait);
        assert_eq!(decide(&cj, &sched, ts("2025-01-01T10:25:00Z")), Decision::Start { scheduled: ts("2025-01-01T10:20:00Z"), many_missed: false });
        let ran = cronjob("2025-01-01T10:01:00Z", Some("2025-01-01T10:20:00Z"), None);
        assert_eq!(decide(&ran, &sched, ts("2025-01-01T10:25:00Z")), Decision::Wait, "already ran at 10:20");
        let long_ago = cronjob("2024-01-01T00:00:00Z", None, None);
        assert_eq!(decide(&long_ago, &sched, ts("2025-01-01T10:25:00Z")), Decision::Start { scheduled: ts("2025-01-01T10:20:00Z"), many_missed: true });
    }

    #[test]
    fn starting_deadline_limits_how_far_back_runs_start() {
        let sched = Schedule::parse("*/10 * * * *", Some("UTC")).unwrap();
        let cj = cronjob("2024-01-01T00:00:00Z", None, Some(60));
        assert_eq!(decide(&cj, &sched, ts("2025-01-01T10:25:00Z")), Decision::Wait, "10:20 is more than 60 s ago");
        assert_eq!(decide(&cj, &sched, ts("2025-01-01T10:20:30Z")), Decision::Start { scheduled: ts("2025-01-01T10:20:00Z"), many_missed: false });
        assert_eq!(until_next(&sched, ts("2025-01-01T10:20:30Z")), Some(Duration::from_secs(570) + NEXT_SCHEDULE_DELTA));
    }

    fn finished(name: &str, condition: &str, start: Option<i64>) -> Job {
        Job {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: None,
            status: Some(JobStatus {
                start_time: start.map(|s| Time(Timestamp::from_second(s).unwrap())),
                conditions: Some(vec![JobCondition { type_: condition.into(), status: "True".into(), ..Default::default() }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn prunes_the_oldest_finished_jobs_beyond_the_limits() {
        let jobs = [finished("a", "Complete", Some(3)), finished("b", "Complete", Some(1)), finished("c", "Complete", None), finished("d", "Failed", Some(2)), finished("e", "Failed", Some(5))];
        let refs: Vec<&Job> = jobs.iter().collect();
        let names = |v: Vec<&Job>| v.iter().map(|j| j.name_any()).collect::<Vec<_>>();
        assert_eq!(names(jobs_to_prune(&refs, Some(1), Some(1))), ["b", "a", "d"]);
        assert_eq!(names(jobs_to_prune(&refs, Some(3), None)), Vec::<String>::new());
        assert_eq!(names(jobs_to_prune(&refs, Some(0), Some(0))), ["b", "a", "c", "d", "e"]);
    }

    #[test]
    fn jobs_carry_the_scheduled_time() {
        let mut cj = cronjob("2025-01-01T00:00:00Z", None, None);
        cj.spec.as_mut().unwrap().time_zone = Some("Europe/Berlin".into());
        cj.metadata.uid = Some("u".into());
        let job = job_for(&cj, ts("2025-01-01T10:20:00Z"));
        assert_eq!(job.metadata.name.as_deref(), Some("c-28928780"));
        assert_eq!(job.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP], "2025-01-01T11:20:00+01:00");
        assert_eq!(job.metadata.owner_references.unwrap()[0].kind, "CronJob");
    }
}
