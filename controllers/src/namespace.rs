//! Namespace controller (upstream `pkg/controller/namespace`, `deletion/namespaced_resources_deleter.go`):
//! when a namespace is being deleted, deletes everything in it (every namespaced kind
//! found through discovery), reports progress in the namespace's status conditions, and
//! once nothing is left removes the `kubernetes` finalizer through `namespaces/{name}/finalize`,
//! after which the API server deletes the namespace.

use crate::context::Context;
use crate::error::{is_not_found, retry_soon, Error};
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::{verbs, ApiCapabilities, ApiResource, Discovery, Scope};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The finalizer token this controller owns in `spec.finalizers`.
pub const FINALIZER: &str = "kubernetes";

/// Runs the controller until its watch ends.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    Controller::new(Api::<Namespace>::all(ctx.client.clone()), watcher::Config::default())
        .with_config(crate::workers::workers(crate::workers::NAMESPACE))
        .run(reconcile, retry_soon, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// What one pass of content deletion found.
#[derive(Debug, Default, PartialEq)]
pub struct Progress {
    /// Discovery error, if discovery failed.
    pub discovery_error: Option<String>,
    /// One message per resource whose deletion failed.
    pub delete_errors: Vec<String>,
    /// Instances left, by `resource.group`.
    pub remaining: BTreeMap<String, usize>,
    /// Instances left holding a finalizer, by finalizer.
    pub finalizers: BTreeMap<String, usize>,
}

impl Progress {
    fn done(&self) -> bool {
        self.discovery_error.is_none() && self.delete_errors.is_empty() && self.remaining.values().all(|n| *n == 0)
    }
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let finalizers = ns.spec.as_ref().and_then(|s| s.finalizers.clone()).unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let progress = delete_all_content(&ctx.client, &name).await;
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let mut updated = (*ns).clone();
    let status = updated.status.get_or_insert_with(Default::default);
    if update_conditions(status.conditions.get_or_insert_with(Vec::new), &progress, Timestamp::now()) {
        updated.metadata.managed_fields = None;
        match api.replace_status(&name, &PostParams::default(), &updated).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => return Err(e.into()),
        }
    }
    if !progress.done() {
        // Upstream requeues after an estimate of the remaining graceful deletions.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let mut finalize = api.get(&name).await?;
    if let Some(spec) = finalize.spec.as_mut() {
        spec.finalizers = Some(finalizers.into_iter().filter(|f| f != FINALIZER).collect());
    }
    finalize.metadata.managed_fields = None;
    api.replace_subresource("finalize", &name, &PostParams::default(), &finalize)
        .await?;
    Ok(Action::await_change())
}

/// Deletes every instance of every namespaced, deletable kind in `namespace` and counts
/// what is left (upstream `deleteAllContent`).
async fn delete_all_content(client: &kube::Client, namespace: &str) -> Progress {
    let mut progress = Progress::default();
    let discovery = match Discovery::new(client.clone()).run().await {
        Ok(d) => d,
        Err(e) => {
            progress.discovery_error = Some(e.to_string());
            return progress;
        }
    };
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            if !deletable(&caps) {
                continue;
            }
            match delete_content_of(client, namespace, &resource, &caps).await {
                Ok((left, fins)) => {
                    if left > 0 {
                        *progress.remaining.entry(format!("{}.{}", resource.plural, resource.group)).or_default() += left;
                    }
                    for f in fins {
                        *progress.finalizers.entry(f).or_default() += 1;
                    }
                }
                Err(e) => progress.delete_errors.push(format!("{}.{}: {e}", resource.plural, resource.group)),
            }
        }
    }
    progress
}

fn deletable(caps: &ApiCapabilities) -> bool {
    caps.scope == Scope::Namespaced && caps.supports_operation(verbs::LIST) && caps.supports_operation(verbs::DELETE)
}

/// Deletes the instances of one kind; returns how many are left and their finalizers.
async fn delete_content_of(client: &kube::Client, namespace: &str, resource: &ApiResource, caps: &ApiCapabilities) -> Result<(usize, Vec<String>), kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    let dp = DeleteParams::background();
    if caps.supports_operation(verbs::DELETE_COLLECTION) {
        api.delete_collection(&dp, &ListParams::default()).await?;
    } else {
        for item in api.list_metadata(&ListParams::default()).await?.items {
            match api.delete(&item.name_any(), &dp).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let left = api.list_metadata(&ListParams::default()).await?.items;
    let finalizers = left.iter().flat_map(|o| o.metadata.finalizers.clone().unwrap_or_default()).collect();
    Ok((left.len(), finalizers))
}

/// The condition types this controller maintains, in upstream's order.
const CONDITION_TYPES: [&str; 5] = [
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
];

/// The condition a healthy pass reports for `type_` (upstream `okReasons`/`okMessages`).
fn ok_condition(type_: &str) -> (&'static str, &'static str) {
    match type_ {
        "NamespaceDeletionDiscoveryFailure" => ("ResourcesDiscovered", "All resources successfully discovered"),
        "NamespaceDeletionGroupVersionParsingFailure" => ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
        "NamespaceDeletionContentFailure" => ("ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
        "NamespaceFinalizersRemaining" => ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
        _ => ("ContentRemoved", "All content successfully removed"),
    }
}

/// The failing condition for `type_`, if this pass found a failure of that kind.
fn failing_condition(type_: &str, p: &Progress) -> Option<(&'static str, String)> {
    match type_ {
        "NamespaceDeletionDiscoveryFailure" => p.discovery_error.as_ref().map(|e| ("DiscoveryFailed", e.clone())),
        "NamespaceDeletionContentFailure" if !p.delete_errors.is_empty() => {
            let mut msgs = p.delete_errors.clone();
            msgs.sort();
            Some(("ContentDeletionFailed", format!("Failed to delete all resource types, {} remaining: {}", msgs.len(), msgs.join(", "))))
        }
        "NamespaceContentRemaining" if p.remaining.values().any(|n| *n > 0) => {
            let list: Vec<String> = p.remaining.iter().filter(|(_, n)| **n > 0).map(|(r, n)| format!("{r} has {n} resource instances")).collect();
            Some(("SomeResourcesRemain", format!("Some resources are remaining: {}", list.join(", "))))
        }
        "NamespaceFinalizersRemaining" if p.finalizers.values().any(|n| *n > 0) => {
            let list: Vec<String> = p.finalizers.iter().filter(|(_, n)| **n > 0).map(|(f, n)| format!("{f} in {n} resource instances")).collect();
            Some(("SomeFinalizersRemain", format!("Some content in the namespace has finalizers remaining: {}", list.join(", "))))
        }
        _ => None,
    }
}

/// Brings `conditions` in line with `progress` (upstream `updateConditions`); true when
/// anything changed. A transition time moves only when the status flips.
pub fn update_conditions(conditions: &mut Vec<NamespaceCondition>, progress: &Progress, now: Timestamp) -> bool {
    let mut changed = false;
    for type_ in CONDITION_TYPES {
        let (status, reason, message) = match failing_condition(type_, progress) {
            Some((reason, message)) => ("True", reason, message),
            None => {
                let (reason, message) = ok_condition(type_);
                ("False", reason, message.to_string())
            }
        };
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => {
                conditions.push(NamespaceCondition {
                    type_: type_.into(),
                    status: status.into(),
                    reason: Some(reason.into()),
                    message: Some(message),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
            Some(c) => {
                if c.status != status || c.reason.as_deref() != Some(reason) || c.message.as_deref() != Some(message.as_str()) {
                    if c.status != status {
                        c.last_transition_time = Some(Time(now));
                    }
                    c.status = status.into();
                    c.reason = Some(reason.into());
                    c.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_report_remaining_content_then_clear() {
        let mut conditions = Vec::new();
        let mut p = Progress::default();
        p.remaining.insert("configmaps.".into(), 2);
        p.finalizers.insert("example.com/hold".into(), 1);
        assert!(update_conditions(&mut conditions, &p, Timestamp::now()));
        assert_eq!(conditions.len(), 5);
        let remaining = conditions.iter().find(|c| c.type_ == "NamespaceContentRemaining").unwrap();
        assert_eq!(remaining.status, "True");
        assert_eq!(remaining.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(remaining.message.as_deref(), Some("Some resources are remaining: configmaps. has 2 resource instances"));
        let fins = conditions.iter().find(|c| c.type_ == "NamespaceFinalizersRemaining").unwrap();
        assert_eq!(fins.message.as_deref(), Some("Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"));
        // Same progress: nothing to write.
        assert!(!update_conditions(&mut conditions, &p, Timestamp::now()));
        assert!(update_conditions(&mut conditions, &Progress::default(), Timestamp::now()));
        assert!(conditions.iter().all(|c| c.status == "False"));
        let discovered = conditions.iter().find(|c| c.type_ == "NamespaceDeletionDiscoveryFailure").unwrap();
        assert_eq!(discovered.reason.as_deref(), Some("ResourcesDiscovered"));
        let fins = conditions.iter().find(|c| c.type_ == "NamespaceFinalizersRemaining").unwrap();
        assert_eq!(fins.reason.as_deref(), Some("ContentHasNoFinalizers"));
    }

    #[test]
    fn discovery_failure_is_reported() {
        let mut conditions = Vec::new();
        let p = Progress { discovery_error: Some("boom".into()), ..Default::default() };
        update_conditions(&mut conditions, &p, Timestamp::now());
        let c = conditions.iter().find(|c| c.type_ == "NamespaceDeletionDiscoveryFailure").unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("True", Some("DiscoveryFailed")));
        assert!(!p.done());
    }
}
