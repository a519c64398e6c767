//! ClusterRole aggregation (upstream `pkg/controller/clusterroleaggregation`): a ClusterRole
//! with an `aggregationRule` gets, as its `rules`, the union of the rules of every other
//! ClusterRole its selectors match (sorted by role name, duplicates dropped). This is how
//! the bootstrap `admin`, `edit` and `view` roles get their rules, and how a user extends
//! them by labelling a role `rbac.authorization.k8s.io/aggregate-to-view: "true"`.
//! Aggregation chains (`view` is aggregated into `edit`) settle as each update is watched.

use crate::context::Context;
use futures::StreamExt;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::api::{Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// Runs until the ClusterRole watch ends.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    let api: Api<ClusterRole> = Api::all(ctx.client.clone());
    let (roles, writer) = reflector::store();
    let mut events = std::pin::pin!(watcher(api.clone(), watcher::Config::default()).default_backoff().reflect(writer));
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    let (mut dirty, mut listed) = (false, false);
    loop {
        tokio::select! {
            event = events.next() => match event {
                None => return Ok(()),
                Some(Ok(watcher::Event::Init | watcher::Event::InitApply(_))) => continue,
                Some(Ok(watcher::Event::InitDone)) => (dirty, listed) = (true, true),
                Some(Ok(_)) => dirty = true,
                Some(Err(e)) => tracing::debug!("clusterrole watch: {e}"),
            },
            _ = retry.tick(), if dirty => {}
        }
        if dirty && listed {
            dirty = !sync_all(&api, &roles).await;
        }
    }
}

/// Updates every aggregated role whose rules differ from its aggregation; false if a write
/// failed (retried within a second).
async fn sync_all(api: &Api<ClusterRole>, roles: &Store<ClusterRole>) -> bool {
    let all = roles.state();
    let mut ok = true;
    for role in all.iter().filter(|r| r.aggregation_rule.is_some()) {
        let wanted = aggregated_rules(role, &all);
        if wanted == role.rules.clone().unwrap_or_default() {
            continue;
        }
        let patch = serde_json::json!({ "rules": wanted });
        if let Err(e) = api.patch(&role.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            tracing::warn!(role = role.name_any(), "aggregating rules: {e}");
            ok = false;
        }
    }
    ok
}

/// The union of the rules of the roles `role`'s selectors match, as upstream orders it.
fn aggregated_rules(role: &ClusterRole, all: &[Arc<ClusterRole>]) -> Vec<PolicyRule> {
    let mut sorted: Vec<&Arc<ClusterRole>> = all.iter().filter(|r| r.name_any() != role.name_any()).collect();
    sorted.sort_by_key(|r| r.name_any());
    let mut rules: Vec<PolicyRule> = Vec::new();
    for selector in role.aggregation_rule.iter().flat_map(|a| a.cluster_role_selectors.iter().flatten()) {
        let Ok(selector) = Selector::try_from(selector.clone()) else { continue };
        for other in sorted.iter().filter(|r| selector.matches(r.labels())) {
            for rule in other.rules.iter().flatten() {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(value: serde_json::Value) -> Arc<ClusterRole> {
        Arc::new(serde_json::from_value(value).unwrap())
    }

    #[test]
    fn unions_the_selected_roles_by_name_without_duplicates() {
        let get_pods = serde_json::json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]});
        let all = vec![
            role(serde_json::json!({"metadata": {"name": "view"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "view"}}]}})),
            role(serde_json::json!({"metadata": {"name": "z-extra", "labels": {"agg": "view"}}, "rules": [get_pods, {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}]})),
            role(serde_json::json!({"metadata": {"name": "a-extra", "labels": {"agg": "view"}}, "rules": [get_pods]})),
            role(serde_json::json!({"metadata": {"name": "other"}, "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]})),
        ];
        let rules = aggregated_rules(&all[0], &all);
        let verbs: Vec<&str> = rules.iter().map(|r| r.verbs[0].as_str()).collect();
        assert_eq!(verbs, ["get", "list"]);
    }

    #[test]
    fn match_expressions_select_too() {
        let all = vec![
            role(serde_json::json!({"metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}]}})),
            role(serde_json::json!({"metadata": {"name": "in", "labels": {"tier": "a"}}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]})),
            role(serde_json::json!({"metadata": {"name": "out", "labels": {"tier": "b"}}, "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}]})),
        ];
        assert_eq!(aggregated_rules(&all[0], &all).len(), 1);
    }
}
