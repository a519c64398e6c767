//! TTL-after-finished controller (upstream `pkg/controller/ttlafterfinished`): deletes a
//! Job `spec.ttlSecondsAfterFinished` seconds after its `Complete` or `Failed` condition,
//! with background propagation (the garbage collector then removes its pods).

use crate::error::is_code;
use crate::{Context, Error, job};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::ResourceExt;
use std::sync::Arc;
use std::time::Duration;

/// When a finished Job expires, if it has a TTL (upstream `getFinishAndExpireTime`).
pub fn expires_at(job: &Job) -> Option<Timestamp> {
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    Some(job::finished_at(job)? + SignedDuration::from_secs(ttl.into()))
}

/// Runs the controller on the shared Job informer.
pub async fn run(ctx: Arc<Context>) {
    ctx.wait_for_sync().await;
    Controller::for_shared_stream(ctx.jobs.subscribe(), ctx.jobs.store())
        .with_config(crate::workers::workers(crate::workers::FIVE))
        .run(reconcile, crate::error::retry_soon, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, Error> {
    if job.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(expiry) = expires_at(&job) else { return Ok(Action::await_change()) };
    let now = Timestamp::now();
    if expiry > now {
        return Ok(Action::requeue(now.duration_until(expiry).unsigned_abs() + Duration::from_millis(100)));
    }
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
    // Re-read: the TTL may have been changed or removed since the informer saw the Job.
    let fresh = match api.get(&job.name_any()).await {
        Ok(j) => j,
        Err(e) if is_code(&e, 404) => return Ok(Action::await_change()),
        Err(e) => return Err(e.into()),
    };
    match expires_at(&fresh) {
        Some(t) if t <= now => {}
        Some(t) => return Ok(Action::requeue(now.duration_until(t).unsigned_abs() + Duration::from_millis(100))),
        None => return Ok(Action::await_change()),
    }
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions { uid: fresh.metadata.uid.clone(), resource_version: fresh.metadata.resource_version.clone() }),
        ..Default::default()
    };
    tracing::info!(job = %fresh.name_any(), "deleting finished job after its TTL");
    match api.delete(&fresh.name_any(), &params).await {
        Ok(_) => Ok(Action::await_change()),
        Err(e) if is_code(&e, 404) || is_code(&e, 409) => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn expires_ttl_seconds_after_the_terminal_condition() {
        let finished = Timestamp::from_second(1000).unwrap();
        let mut job = Job { spec: Some(JobSpec { ttl_seconds_after_finished: Some(30), ..Default::default() }), ..Default::default() };
        assert_eq!(expires_at(&job), None, "not finished");
        job.status = Some(JobStatus {
            conditions: Some(vec![JobCondition { type_: "Failed".into(), status: "True".into(), last_transition_time: Some(Time(finished)), ..Default::default() }]),
            ..Default::default()
        });
        assert_eq!(expires_at(&job), Some(Timestamp::from_second(1030).unwrap()));
        job.spec.as_mut().unwrap().ttl_seconds_after_finished = None;
        assert_eq!(expires_at(&job), None, "no TTL");
    }
}
