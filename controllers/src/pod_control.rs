//! Creating and deleting an owner's pods, shared by the ReplicaSet, Job and DaemonSet
//! controllers (upstream `PodControl` with `slowStartBatch`): creations go in batches of
//! 1, 2, 4, … so a create that keeps failing (quota, admission) stops after a few
//! attempts; each outcome is an event on the owner (`SuccessfulCreate`, `FailedCreate`,
//! `SuccessfulDelete`, `FailedDelete`) and is noted in the owner's expectations, so a
//! lagging pod store never makes the controller act twice.

use crate::error::{api_message, is_code};
use crate::events::EventRecorder;
use crate::expectations::Expectations;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Resource, ResourceExt};

/// Batch sizes 1, 2, 4, ... adding up to `count` (upstream `slowStartBatch`).
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let (mut remaining, mut size) = (count, 1);
    while remaining > 0 {
        let batch = size.min(remaining);
        batches.push(batch);
        remaining -= batch;
        size *= 2;
    }
    batches
}

/// Pod writes on behalf of one owner.
pub struct PodControl<'a> {
    /// The pods API of the owner's namespace.
    pub api: &'a Api<Pod>,
    /// Records the events on the owner.
    pub recorder: &'a EventRecorder,
    /// The controller's expectations.
    pub expectations: &'a Expectations,
    /// The owner's key in them.
    pub key: &'a str,
}

impl PodControl<'_> {
    /// Creates `pods` in slow-start batches; stops after the first batch in which a
    /// create failed and returns that error. Returns how many were created.
    pub async fn create<K: Resource<DynamicType = ()>>(&self, owner: &K, pods: Vec<Pod>) -> Result<usize, kube::Error> {
        const POST: PostParams = PostParams { dry_run: false, field_manager: None };
        let mut created_total = 0;
        let mut pods = pods.into_iter();
        for batch in slow_start_batches(pods.len()) {
            let results = futures::future::join_all(pods.by_ref().take(batch).map(|pod| async move { self.api.create(&POST, &pod).await })).await;
            let mut first_error = None;
            let mut created = Vec::new();
            for result in results {
                match result {
                    Ok(p) => created.push(p.name_any()),
                    Err(e) => {
                        self.recorder.warning(owner, "FailedCreate", format!("Error creating: {}", api_message(&e)));
                        first_error.get_or_insert(e);
                    }
                }
            }
            self.expectations.expect_creations(self.key, created.iter().cloned());
            created_total += created.len();
            for name in &created {
                self.recorder.normal(owner, "SuccessfulCreate", format!("Created pod: {name}"));
            }
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        Ok(created_total)
    }

    /// Deletes the named pods (all at once; a pod already gone counts as neither);
    /// returns how many were deleted, or the first error.
    pub async fn delete<K: Resource<DynamicType = ()>>(&self, owner: &K, names: &[String]) -> Result<usize, kube::Error> {
        self.expectations.expect_deletions(self.key, names.iter().cloned());
        let params = DeleteParams::default();
        let results = futures::future::join_all(names.iter().map(|name| self.api.delete(name, &params))).await;
        let mut first_error = None;
        let mut deleted = 0;
        for (name, result) in names.iter().zip(results) {
            match result {
                Ok(_) => {
                    deleted += 1;
                    self.recorder.normal(owner, "SuccessfulDelete", format!("Deleted pod: {name}"));
                }
                Err(e) if is_code(&e, 404) => {}
                Err(e) => {
                    self.recorder.warning(owner, "FailedDelete", format!("Error deleting: {}", api_message(&e)));
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(deleted), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_doubles() {
        assert_eq!(slow_start_batches(0), Vec::<usize>::new());
        assert_eq!(slow_start_batches(1), [1]);
        assert_eq!(slow_start_batches(10), [1, 2, 4, 3]);
        assert_eq!(slow_start_batches(500).iter().sum::<usize>(), 500);
    }
}
