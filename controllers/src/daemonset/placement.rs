//! Where a DaemonSet's pods go (upstream `pkg/controller/daemon/util` and
//! `NodeShouldRunDaemonPod`): which nodes should run one, the tolerations every daemon pod
//! gets, and the node-name affinity that pins a pod to its node for the scheduler.
//!
//! The node tests are the scheduler's own predicates (`NodeAffinity`, `TaintToleration`).

use crate::scheduler::filters::node_affinity::selector_and_affinity_match;
use crate::scheduler::filters::taint_toleration::{blocks_scheduling, has_untolerated};
use k8s_openapi::api::apps::v1::DaemonSet;
use crate::cached_pod::CachedPod;
use k8s_openapi::api::core::v1::{Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec, Toleration};
use kube::ResourceExt;

/// Label with the DaemonSet's template generation (upstream `DaemonSetTemplateGenerationKey`).
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// DaemonSet annotation with its template generation (set by the API server).
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// Adds the tolerations every daemon pod has (upstream `AddOrUpdateDaemonPodTolerations`):
/// node problems and cordons never evict or block it.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        let toleration = Toleration { key: Some(key.into()), operator: Some("Exists".into()), effect: Some(effect.into()), ..Default::default() };
        // Upstream `AddOrUpdateTolerationInPodSpec`: one with the same key, operator, value
        // and effect is replaced; otherwise it is added.
        let same = |t: &Toleration| t.key == toleration.key && t.effect == toleration.effect && t.operator.as_deref().unwrap_or("Equal") == "Exists" && t.value.as_deref().unwrap_or_default().is_empty();
        match tolerations.iter_mut().find(|t| same(t)) {
            Some(t) => *t = toleration,
            None => tolerations.push(toleration),
        }
    }
}

/// The spec of the pod the DaemonSet would run on a node, as far as the placement test
/// reads it (upstream `NewPod`: the template with the daemon tolerations; the node name
/// is checked on its own).
fn candidate_spec(ds: &DaemonSet) -> PodSpec {
    let mut spec = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    add_daemon_tolerations(&mut spec);
    spec
}

/// Upstream `NodeShouldRunDaemonPod`: `(should_run, should_continue_running)`. A node that
/// fails the template's node name, node selector or required affinity gets no pod; one with
/// an untolerated NoSchedule/NoExecute taint gets no new pod, and keeps a running one unless
/// a NoExecute taint is untolerated.
pub fn should_run(ds: &DaemonSet, node: &Node) -> (bool, bool) {
    let name = node.name_any();
    let template_node = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref()).and_then(|s| s.node_name.as_deref()).unwrap_or_default();
    if !template_node.is_empty() && template_node != name {
        return (false, false);
    }
    let spec = candidate_spec(ds);
    static EMPTY: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    if !selector_and_affinity_match(spec.node_selector.as_ref(), spec.affinity.as_ref(), &name, node.metadata.labels.as_ref().unwrap_or(&EMPTY)) {
        return (false, false);
    }
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    if has_untolerated(taints, tolerations, blocks_scheduling) {
        return (false, !has_untolerated(taints, tolerations, |e| e == "NoExecute"));
    }
    (true, true)
}

/// Pins a pod to `node` for the scheduler (upstream `ReplaceDaemonSetPodNodeNameNodeAffinity`):
/// the required node affinity becomes `matchFields metadata.name In [node]`, other affinity
/// kept.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement { key: "metadata.name".into(), operator: "In".into(), values: Some(vec![node.into()]) }]),
        match_expressions: None,
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector { node_selector_terms: vec![term] });
}

/// The node a daemon pod is for: its `nodeName`, else the node its affinity pins it to
/// (upstream `GetTargetNodeName`).
pub fn target_node(pod: &CachedPod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name);
    }
    let terms = &spec.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution.as_ref()?.node_selector_terms;
    terms.iter().flat_map(|t| t.match_fields.iter().flatten()).find(|r| r.key == "metadata.name" && r.operator == "In").and_then(|r| match r.values.as_deref() {
        Some([only]) => Some(only.as_str()),
        _ => None,
    })
}

/// The DaemonSet's template generation, if the API server set it.
pub fn template_generation(ds: &DaemonSet) -> Option<&str> {
    ds.metadata.annotations.as_ref()?.get(TEMPLATE_GENERATION_ANNOTATION).map(String::as_str)
}

/// Whether the pod runs the current template (upstream `IsPodUpdated`): its
/// `controller-revision-hash` is `hash` or its template generation is the DaemonSet's.
pub fn is_updated(pod: &CachedPod, hash: &str, generation: Option<&str>) -> bool {
    let label = |k: &str| pod.metadata.labels.as_ref().and_then(|l| l.get(k)).map(String::as_str);
    (!hash.is_empty() && label(crate::history::POD_REVISION_LABEL) == Some(hash)) || (generation.is_some() && label(TEMPLATE_GENERATION_LABEL) == generation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(template_spec: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": template_spec}}}))
        .unwrap()
    }

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}})).unwrap()
    }

    #[test]
    fn placement_follows_selector_affinity_and_taints() {
        let plain = ds(json!({"containers": []}));
        assert_eq!(should_run(&plain, &node("n", json!({}), json!([]))), (true, true));
        let selective = ds(json!({"containers": [], "nodeSelector": {"disk": "ssd"}}));
        assert_eq!(should_run(&selective, &node("n", json!({}), json!([]))), (false, false));
        assert_eq!(should_run(&selective, &node("n", json!({"disk": "ssd"}), json!([]))), (true, true));
        let no_schedule = node("n", json!({}), json!([{"key": "k", "effect": "NoSchedule"}]));
        assert_eq!(should_run(&plain, &no_schedule), (false, true));
        let no_execute = node("n", json!({}), json!([{"key": "k", "effect": "NoExecute"}]));
        assert_eq!(should_run(&plain, &no_execute), (false, false));
        let tolerating = ds(json!({"containers": [], "tolerations": [{"key": "k", "operator": "Exists"}]}));
        assert_eq!(should_run(&tolerating, &no_execute), (true, true));
        // Daemon pods tolerate cordons and node conditions.
        let cordoned = node("n", json!({}), json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]));
        assert_eq!(should_run(&plain, &cordoned), (true, true));
        let named = ds(json!({"containers": [], "nodeName": "other"}));
        assert_eq!(should_run(&named, &node("n", json!({}), json!([]))), (false, false));
    }

    #[test]
    fn default_tolerations_are_added_once() {
        let mut spec = PodSpec { host_network: Some(true), ..Default::default() };
        add_daemon_tolerations(&mut spec);
        add_daemon_tolerations(&mut spec);
        let keys: Vec<_> = spec.tolerations.as_ref().unwrap().iter().map(|t| t.key.clone().unwrap()).collect();
        assert_eq!(keys.len(), 7);
        assert!(keys.contains(&"node.kubernetes.io/network-unavailable".to_string()));
    }

    #[test]
    fn pinning_and_target_node() {
        let mut spec: PodSpec = serde_json::from_value(json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "x", "operator": "Exists"}]}]}},
            "podAffinity": {}}})).unwrap();
        pin_to_node(&mut spec, "n1");
        let pod = crate::cached_pod::from_pod(&k8s_openapi::api::core::v1::Pod { spec: Some(spec), ..Default::default() });
        assert_eq!(target_node(&pod), Some("n1"));
        let terms = &pod.spec.as_ref().unwrap().affinity.as_ref().unwrap().node_affinity.as_ref().unwrap().required_during_scheduling_ignored_during_execution.as_ref().unwrap().node_selector_terms;
        assert_eq!(terms.len(), 1);
        assert!(pod.spec.as_ref().unwrap().affinity.as_ref().unwrap().pod_affinity.is_some());
        let bound = crate::cached_pod::from_pod(&k8s_openapi::api::core::v1::Pod { spec: Some(PodSpec { node_name: Some("n2".into()), ..Default::default() }), ..Default::default() });
        assert_eq!(target_node(&bound), Some("n2"));
        assert_eq!(target_node(&CachedPod::default()), None);
    }
}
