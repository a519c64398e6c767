//! The replica calculator (upstream `pkg/controller/podautoscaler/replica_calculator.go`
//! and `metrics/utilization.go`): from the pods a target selects and their metrics, how
//! many replicas would bring the metric to its target. Pure functions: the caller fetches
//! pods and metrics, these decide.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Container, Pod};
use std::collections::{HashMap, HashSet};

/// One pod's metric sample (upstream `metrics.PodMetric`), in milli-units.
#[derive(Clone, Debug, PartialEq)]
pub struct PodMetric {
    /// When the sample was taken.
    pub timestamp: Timestamp,
    /// The window the sample covers.
    pub window: SignedDuration,
    /// The value, in milli-units (millicores, millibytes).
    pub value: i64,
}

/// Samples by pod name (upstream `PodMetricsInfo`).
pub type PodMetrics = HashMap<String, PodMetric>;

/// The usage-ratio band inside which nothing changes (upstream `Tolerances`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerances {
    /// How far below 1.0 the ratio may fall.
    pub scale_down: f64,
    /// How far above 1.0 the ratio may rise.
    pub scale_up: f64,
}

impl Tolerances {
    /// The same tolerance both ways (`--horizontal-pod-autoscaler-tolerance`).
    pub fn both(t: f64) -> Self {
        Tolerances { scale_down: t, scale_up: t }
    }

    /// Whether a usage ratio is close enough to 1.0 to leave the replicas alone.
    pub fn is_within(&self, ratio: f64) -> bool {
        (1.0 - self.scale_down) <= ratio && ratio <= (1.0 + self.scale_up)
    }
}

/// How long a fresh pod's CPU samples are distrusted (upstream
/// `--horizontal-pod-autoscaler-cpu-initialization-period`, 5 min, and
/// `--horizontal-pod-autoscaler-initial-readiness-delay`, 30 s).
#[derive(Clone, Copy, Debug)]
pub struct Readiness {
    /// While a pod is younger than this, a sample counts only when taken a full window
    /// after the pod became ready.
    pub cpu_initialization_period: SignedDuration,
    /// After the initialization period, a pod not ready yet is ignored if it turned
    /// unready within this delay of starting (it has never been ready).
    pub initial_readiness_delay: SignedDuration,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness { cpu_initialization_period: SignedDuration::from_mins(5), initial_readiness_delay: SignedDuration::from_secs(30) }
    }
}

/// Pods sorted by how their samples count (upstream `groupPods`).
#[derive(Debug, Default, PartialEq)]
pub struct PodGroups {
    /// Pods whose sample counts.
    pub ready: usize,
    /// Pending pods, and (for cpu) pods not ready or still initializing.
    pub unready: HashSet<String>,
    /// Running pods without a sample.
    pub missing: HashSet<String>,
    /// Deleted and failed pods.
    pub ignored: HashSet<String>,
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// Upstream `groupPods`.
pub fn group_pods(pods: &[Pod], metrics: &PodMetrics, resource: &str, readiness: Readiness, now: Timestamp) -> PodGroups {
    let mut groups = PodGroups::default();
    for pod in pods {
        let pod_name = name(pod);
        if pod.metadata.deletion_timestamp.is_some() || phase(pod) == "Failed" {
            groups.ignored.insert(pod_name);
            continue;
        }
        if phase(pod) == "Pending" {
            groups.unready.insert(pod_name);
            continue;
        }
        let Some(metric) = metrics.get(&pod_name) else {
            groups.missing.insert(pod_name);
            continue;
        };
        if resource == "cpu" && cpu_sample_unready(pod, metric, readiness, now) {
            groups.unready.insert(pod_name);
            continue;
        }
        groups.ready += 1;
    }
    groups
}

/// Whether a pod's CPU sample must not be trusted yet (the cpu branch of `groupPods`).
fn cpu_sample_unready(pod: &Pod, metric: &PodMetric, readiness: Readiness, now: Timestamp) -> bool {
    let status = pod.status.as_ref();
    let condition = status.and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    let start = status.and_then(|s| s.start_time.as_ref()).map(|t| t.0);
    let (Some(condition), Some(start)) = (condition, start) else { return true };
    // A missing lastTransitionTime reads as Go's zero time: long ago.
    let transition = condition.last_transition_time.as_ref().map(|t| t.0).unwrap_or(Timestamp::MIN);
    if start + readiness.cpu_initialization_period > now {
        // Still initializing: skip unready pods and samples not a full window after readiness changed.
        condition.status == "False" || metric.timestamp < transition.saturating_add(metric.window).unwrap_or(Timestamp::MAX)
    } else {
        // Unready and never been ready.
        condition.status == "False" && start + readiness.initial_readiness_delay > transition
    }
}

/// Each pod's request of `resource` in milli-units (upstream `calculateRequests`): the
/// named container's, else the pod-level request when the pod sets one, else the sum of
/// its containers' (restartable init containers included).
pub fn calculate_requests(pods: &[Pod], container: &str, resource: &str) -> Result<HashMap<String, i64>, String> {
    let mut requests = HashMap::with_capacity(pods.len());
    for pod in pods {
        let pod_name = name(pod);
        let pod_level = pod.spec.as_ref().and_then(|s| s.resources.as_ref()).and_then(|r| r.requests.as_ref()).filter(|r| r.keys().any(|k| k == "cpu" || k == "memory"));
        let request = match pod_level {
            Some(reqs) if container.is_empty() => {
                let q = reqs.get(resource).ok_or_else(|| format!("missing pod-level request for {resource} in Pod {pod_name}"))?;
                milli(&q.0)
            }
            _ => container_requests(pod, &pod_name, container, resource)?,
        };
        requests.insert(pod_name, request);
    }
    Ok(requests)
}

fn milli(quantity: &str) -> i64 {
    ironkube_quantity::milli_value(quantity).unwrap_or(0)
}

fn container_requests(pod: &Pod, pod_name: &str, container: &str, resource: &str) -> Result<i64, String> {
    let Some(spec) = pod.spec.as_ref() else { return Ok(0) };
    let sidecars = spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let containers: Vec<&Container> = spec.containers.iter().chain(sidecars).collect();
    let mut request = 0;
    for c in containers {
        if container.is_empty() || container == c.name {
            let q = c
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get(resource))
                .ok_or_else(|| format!("missing request for {resource} in container {} of Pod {pod_name}", c.name))?;
            request += milli(&q.0);
        }
        if container == c.name {
            return Ok(request);
        }
    }
    if !container.is_empty() {
        return Err(format!("container {container} not found in Pod {pod_name}"));
    }
    Ok(request)
}

/// Upstream `GetResourceUtilizationRatio`: (usage ratio, utilization %, average raw value).
pub fn resource_utilization_ratio(metrics: &PodMetrics, requests: &HashMap<String, i64>, target_utilization: i32) -> Result<(f64, i32, i64), String> {
    let (mut metrics_total, mut requests_total, mut entities) = (0i64, 0i64, 0i64);
    for (pod, metric) in metrics {
        // A sample of a pod without a request is extraneous.
        let Some(request) = requests.get(pod) else { continue };
        metrics_total += metric.value;
        requests_total += request;
        entities += 1;
    }
    if requests_total == 0 {
        return Err("no metrics returned matched known pods".into());
    }
    let utilization = (metrics_total * 100 / requests_total) as i32;
    Ok((utilization as f64 / target_utilization as f64, utilization, metrics_total / entities))
}

/// Upstream `GetMetricUsageRatio`: (usage ratio, average value).
pub fn metric_usage_ratio(metrics: &PodMetrics, target_usage: i64) -> (f64, i64) {
    let total: i64 = metrics.values().map(|m| m.value).sum();
    let current = total / metrics.len().max(1) as i64;
    (current as f64 / target_usage as f64, current)
}

/// What the calculator proposes for a utilization target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UtilizationProposal {
    /// Replicas.
    pub replicas: i32,
    /// Average utilization (percent of requests) over the pods with samples.
    pub utilization: i32,
    /// Average raw usage (milli-units).
    pub raw: i64,
}

/// Why the samples cannot be used (upstream's shared messages).
fn check_pods(pods: &[Pod]) -> Result<(), String> {
    if pods.is_empty() {
        return Err("no pods returned by selector while calculating replica count".into());
    }
    Ok(())
}

const NO_READY_METRICS: &str = "did not receive metrics for targeted pods (pods might be unready)";

/// Upstream `GetResourceReplicas` after the metrics are fetched: replicas for a target
/// utilization of `resource` (percent of requests).
#[allow(clippy::too_many_arguments)]
pub fn resource_replicas(
    current: i32,
    target_utilization: i32,
    resource: &str,
    tolerances: Tolerances,
    pods: &[Pod],
    mut metrics: PodMetrics,
    container: &str,
    readiness: Readiness,
    now: Timestamp,
) -> Result<UtilizationProposal, String> {
    check_pods(pods)?;
    let groups = group_pods(pods, &metrics, resource, readiness, now);
    metrics.retain(|pod, _| !groups.ignored.contains(pod) && !groups.unready.contains(pod));
    if metrics.is_empty() {
        return Err(NO_READY_METRICS.into());
    }
    let requests = calculate_requests(pods, container, resource)?;
    let (ratio, utilization, raw) = resource_utilization_ratio(&metrics, &requests, target_utilization)?;
    let proposal = |replicas| UtilizationProposal { replicas, utilization, raw };

    let scale_up_with_unready = !groups.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && groups.missing.is_empty() {
        if tolerances.is_within(ratio) {
            return Ok(proposal(current));
        }
        return Ok(proposal((ratio * groups.ready as f64).ceil() as i32));
    }
    // Be conservative: missing pods use 100% (or the target, if higher) on a scale-down
    // and nothing on a scale-up; unready pods use nothing on a scale-up.
    let fallback = |pod: &str| if ratio < 1.0 { requests.get(pod).copied().unwrap_or(0) * i64::from(target_utilization.max(100)) / 100 } else { 0 };
    if ratio != 1.0 {
        for pod in &groups.missing {
            metrics.insert(pod.clone(), PodMetric { timestamp: now, window: SignedDuration::ZERO, value: fallback(pod) });
        }
    }
    if scale_up_with_unready {
        for pod in &groups.unready {
            metrics.insert(pod.clone(), PodMetric { timestamp: now, window: SignedDuration::ZERO, value: 0 });
        }
    }
    let (new_ratio, _, _) = resource_utilization_ratio(&metrics, &requests, target_utilization)?;
    Ok(proposal(conservative_replicas(current, ratio, new_ratio, metrics.len(), tolerances)))
}

/// The end of both calculators once missing and unready pods are filled in: no change
/// when within tolerance or when filling in flipped the direction.
fn conservative_replicas(current: i32, ratio: f64, new_ratio: f64, samples: usize, tolerances: Tolerances) -> i32 {
    if tolerances.is_within(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
        return current;
    }
    let replicas = (new_ratio * samples as f64).ceil() as i32;
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return current;
    }
    replicas
}

/// Upstream `calcPlainMetricReplicas`: replicas for an average value target (raw
/// resource usage or a per-pod metric). Returns (replicas, average usage).
#[allow(clippy::too_many_arguments)]
pub fn plain_metric_replicas(
    current: i32,
    target_usage: i64,
    resource: &str,
    tolerances: Tolerances,
    pods: &[Pod],
    mut metrics: PodMetrics,
    readiness: Readiness,
    now: Timestamp,
) -> Result<(i32, i64), String> {
    check_pods(pods)?;
    let groups = group_pods(pods, &metrics, resource, readiness, now);
    metrics.retain(|pod, _| !groups.ignored.contains(pod) && !groups.unready.contains(pod));
    if metrics.is_empty() {
        return Err(NO_READY_METRICS.into());
    }
    let (ratio, usage) = metric_usage_ratio(&metrics, target_usage);
    let scale_up_with_unready = !groups.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && groups.missing.is_empty() {
        if tolerances.is_within(ratio) {
            return Ok((current, usage));
        }
        return Ok(((ratio * groups.ready as f64).ceil() as i32, usage));
    }
    // Missing pods use exactly the target on a scale-down, nothing on a scale-up.
    if ratio != 1.0 {
        let fill = if ratio < 1.0 { target_usage } else { 0 };
        for pod in &groups.missing {
            metrics.insert(pod.clone(), PodMetric { timestamp: now, window: SignedDuration::ZERO, value: fill });
        }
    }
    if scale_up_with_unready {
        for pod in &groups.unready {
            metrics.insert(pod.clone(), PodMetric { timestamp: now, window: SignedDuration::ZERO, value: 0 });
        }
    }
    let (new_ratio, _) = metric_usage_ratio(&metrics, target_usage);
    Ok((conservative_replicas(current, ratio, new_ratio, metrics.len(), tolerances), usage))
}

#[cfg(test)]
mod tests {
    //! Cases ported from upstream `replica_calculator_test.go` (same numbers).
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    /// A pod as the upstream tests build them: running, ready since long ago, started an
    /// hour ago, one container requesting `request` milli of cpu and memory.
    fn pod(name: &str, request: i64) -> Pod {
        let long_ago = now() - SignedDuration::from_hours(1);
        Pod {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    resources: Some(ResourceRequirements {
                        requests: Some([("cpu".to_string(), Quantity(format!("{request}m"))), ("memory".to_string(), Quantity(format!("{request}m")))].into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                start_time: Some(Time(long_ago)),
                conditions: Some(vec![PodCondition { type_: "Ready".into(), status: "True".into(), last_transition_time: Some(Time(long_ago)), ..Default::default() }]),
                ..Default::default()
            }),
        }
    }

    fn with_phase(mut p: Pod, phase: &str) -> Pod {
        p.status.as_mut().unwrap().phase = Some(phase.into());
        p
    }

    fn unready(mut p: Pod, since: Timestamp, start: Timestamp) -> Pod {
        let status = p.status.as_mut().unwrap();
        status.start_time = Some(Time(start));
        status.conditions = Some(vec![PodCondition { type_: "Ready".into(), status: "False".into(), last_transition_time: Some(Time(since)), ..Default::default() }]);
        p
    }

    fn samples(values: &[(&str, i64)]) -> PodMetrics {
        values
            .iter()
            .map(|(n, v)| (n.to_string(), PodMetric { timestamp: now() - SignedDuration::from_secs(10), window: SignedDuration::from_secs(60), value: *v }))
            .collect()
    }

    fn cpu(current: i32, target: i32, pods: &[Pod], metrics: PodMetrics) -> Result<UtilizationProposal, String> {
        resource_replicas(current, target, "cpu", Tolerances::both(0.1), pods, metrics, "", Readiness::default(), now())
    }

    #[test]
    fn scale_up() {
        let pods = [pod("a", 1000), pod("b", 1000), pod("c", 1000)];
        let p = cpu(3, 30, &pods, samples(&[("a", 300), ("b", 500), ("c", 700)])).unwrap();
        assert_eq!((p.replicas, p.utilization, p.raw), (5, 50, 500));
    }

    #[test]
    fn scale_down() {
        let pods: Vec<Pod> = (0..5).map(|i| pod(&format!("p{i}"), 1000)).collect();
        let p = cpu(5, 50, &pods, samples(&[("p0", 100), ("p1", 300), ("p2", 500), ("p3", 250), ("p4", 250)])).unwrap();
        assert_eq!((p.replicas, p.utilization), (3, 28));
    }

    #[test]
    fn within_tolerance_keeps_current() {
        let pods = [pod("a", 1000), pod("b", 1000), pod("c", 1000)];
        // 1.05 of target: inside 10%.
        let p = cpu(3, 100, &pods, samples(&[("a", 1010), ("b", 1030), ("c", 1110)])).unwrap();
        assert_eq!((p.replicas, p.utilization), (3, 105));
        // A narrower configured scale-up tolerance acts on the same numbers.
        let narrow = Tolerances { scale_down: 0.1, scale_up: 0.01 };
        let p = resource_replicas(3, 100, "cpu", narrow, &pods, samples(&[("a", 1010), ("b", 1030), ("c", 1110)]), "", Readiness::default(), now()).unwrap();
        assert_eq!(p.replicas, 4);
    }

    #[test]
    fn unready_pods_count_as_zero_on_scale_up() {
        // Upstream TestReplicaCalcScaleUpUnreadyLessScale: 3 pods, one unready since start.
        let start = now() - SignedDuration::from_secs(20);
        let pods = [unready(pod("a", 1000), start, start), pod("b", 1000), pod("c", 1000)];
        let p = cpu(3, 30, &pods, samples(&[("a", 300), ("b", 500), ("c", 700)])).unwrap();
        assert_eq!((p.replicas, p.utilization, p.raw), (4, 60, 600));
    }

    #[test]
    fn unready_pods_do_not_cause_scale_up_alone() {
        // Upstream TestReplicaCalcScaleUpUnreadyNoScale.
        let start = now() - SignedDuration::from_secs(20);
        let pods = [pod("a", 1000), unready(pod("b", 1000), start, start), unready(pod("c", 1000), start, start)];
        let p = cpu(3, 30, &pods, samples(&[("a", 400), ("b", 500), ("c", 700)])).unwrap();
        assert_eq!((p.replicas, p.utilization), (3, 40));
    }

    #[test]
    fn pending_pods_are_unready_and_failed_or_deleted_are_ignored() {
        let mut deleted = pod("d", 1000);
        deleted.metadata.deletion_timestamp = Some(Time(now()));
        let pods = [pod("a", 1000), with_phase(pod("b", 1000), "Pending"), with_phase(pod("c", 1000), "Failed"), deleted];
        let groups = group_pods(&pods, &samples(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]), "cpu", Readiness::default(), now());
        assert_eq!(groups.ready, 1);
        assert_eq!(groups.unready, HashSet::from(["b".to_string()]));
        assert_eq!(groups.ignored, HashSet::from(["c".to_string(), "d".to_string()]));
    }

    #[test]
    fn missing_metrics_on_scale_down_count_as_full_request() {
        // Upstream TestReplicaCalcMissingMetricsNoChangeLt: scale-down recomputed with the
        // missing pod at 100% keeps the replicas.
        let pods = [pod("a", 1000), pod("b", 1000)];
        let p = cpu(2, 100, &pods, samples(&[("a", 400)])).unwrap();
        assert_eq!((p.replicas, p.utilization), (2, 40));
        // TestReplicaCalcMissingMetricsScaleDown: 4 pods, one missing.
        let pods: Vec<Pod> = (0..4).map(|i| pod(&format!("p{i}"), 1000)).collect();
        let p = cpu(4, 50, &pods, samples(&[("p0", 100), ("p1", 100), ("p2", 100)])).unwrap();
        assert_eq!((p.replicas, p.utilization), (3, 10));
    }

    #[test]
    fn missing_metrics_on_scale_up_count_as_zero() {
        // Upstream TestReplicaCalcMissingMetricsScaleUp: 4 pods, one missing.
        let pods: Vec<Pod> = (0..4).map(|i| pod(&format!("p{i}"), 1000)).collect();
        let p = cpu(4, 50, &pods, samples(&[("p0", 800), ("p1", 800), ("p2", 800)])).unwrap();
        assert_eq!((p.replicas, p.utilization), (5, 80));
    }

    #[test]
    fn missing_pods_above_100_percent_target_use_the_target() {
        // 22% of requests against a 300% target; the missing pod counts as 300% of its
        // 1000m request: (1100 + 3000) / 6000 = 68% → ratio 0.23 → 1 replica.
        let pods: Vec<Pod> = (0..4).map(|i| pod(&format!("p{i}"), if i < 2 { 2000 } else { 1000 })).collect();
        let p = cpu(4, 300, &pods, samples(&[("p0", 300), ("p1", 400), ("p2", 400)])).unwrap();
        assert_eq!((p.replicas, p.utilization), (1, 22));
        // Counted as only 100% it would have been (1100 + 1000) / 6000 = 35% → 2.
        let p = cpu(4, 100, &pods, samples(&[("p0", 300), ("p1", 400), ("p2", 400)])).unwrap();
        assert_eq!(p.replicas, 2);
    }

    #[test]
    fn young_pods_samples_wait_a_window_after_readiness() {
        // Started 10 s ago and ready 5 s ago: a sample taken 10 s ago covers time before
        // readiness, so it is unready and does not push a scale-up.
        let mut young = pod("a", 1000);
        let status = young.status.as_mut().unwrap();
        status.start_time = Some(Time(now() - SignedDuration::from_secs(10)));
        status.conditions.as_mut().unwrap()[0].last_transition_time = Some(Time(now() - SignedDuration::from_secs(5)));
        let pods = [young, pod("b", 1000)];
        let p = cpu(2, 50, &pods, samples(&[("a", 1000), ("b", 500)])).unwrap();
        assert_eq!(p.replicas, 2);
        // Memory does not care about readiness.
        let p = resource_replicas(2, 50, "memory", Tolerances::both(0.1), &pods, samples(&[("a", 1000), ("b", 500)]), "", Readiness::default(), now()).unwrap();
        assert_eq!(p.replicas, 3);
    }

    #[test]
    fn errors_as_upstream() {
        assert_eq!(cpu(1, 50, &[], samples(&[])).unwrap_err(), "no pods returned by selector while calculating replica count");
        let pending = [with_phase(pod("a", 1000), "Pending")];
        assert_eq!(cpu(1, 50, &pending, samples(&[("a", 1)])).unwrap_err(), "did not receive metrics for targeted pods (pods might be unready)");
        let pods = [pod("a", 1000)];
        assert_eq!(cpu(1, 50, &pods, samples(&[("x", 1)])).unwrap_err(), "no metrics returned matched known pods");
        let mut no_request = pod("a", 1000);
        no_request.spec.as_mut().unwrap().containers[0].resources = None;
        assert_eq!(cpu(1, 50, &[no_request], samples(&[("a", 1)])).unwrap_err(), "missing request for cpu in container c of Pod a");
        assert_eq!(
            resource_replicas(1, 50, "cpu", Tolerances::both(0.1), &pods, samples(&[("a", 1)]), "web", Readiness::default(), now()).unwrap_err(),
            "container web not found in Pod a"
        );
    }

    #[test]
    fn plain_average_value() {
        // Upstream TestReplicaCalcScaleUpCM: 20000m/10000m average → ceil(3 * 1.5)... per pod values.
        let pods = [pod("a", 1000), pod("b", 1000), pod("c", 1000)];
        let (replicas, usage) = plain_metric_replicas(3, 15000, "", Tolerances::both(0.1), &pods, samples(&[("a", 20000), ("b", 10000), ("c", 30000)]), Readiness::default(), now()).unwrap();
        assert_eq!((replicas, usage), (4, 20000));
        // A missing pod on a scale-down counts as exactly the target.
        let (replicas, _) = plain_metric_replicas(3, 15000, "", Tolerances::both(0.1), &pods, samples(&[("a", 5000), ("b", 5000)]), Readiness::default(), now()).unwrap();
        assert_eq!(replicas, 2);
    }
}
