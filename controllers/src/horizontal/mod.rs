//! HorizontalPodAutoscaler controller (upstream `pkg/controller/podautoscaler/horizontal.go`):
//! every sync period (and when an HPA's spec changes) reads the target's `/scale`, computes
//! the replicas its metrics call for ([`replicas`]), bounds them ([`normalize`]), writes the
//! new size through `/scale` and the HPA's status, with upstream's conditions, events and
//! messages.
//!
//! Resource metrics come from `metrics.k8s.io/v1beta1`; the custom and external metrics
//! APIs are not served by ironkube, so `Pods`, `Object` and `External` metrics fail the way
//! upstream fails without them ([`metrics`]). Like upstream, the controller never writes
//! `status.observedGeneration`.

pub mod metrics;
pub mod normalize;
pub mod replicas;
mod target;

use crate::context::Context;
use crate::error::{api_message, Error};
use crate::events::EventRecorder;
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v2::{
    ContainerResourceMetricStatus, CrossVersionObjectReference, ExternalMetricStatus, HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerStatus, MetricIdentifier,
    MetricSpec, MetricStatus, MetricTarget, MetricValueStatus, ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use normalize::{Bounds, ConditionUpdate, History};
use replicas::{Readiness, Tolerances};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Tunables (upstream kube-controller-manager `--horizontal-pod-autoscaler-*` flags).
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--horizontal-pod-autoscaler-sync-period` (15 s).
    pub sync_period: Duration,
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (5 min).
    pub downscale_stabilization: SignedDuration,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 min) and
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub readiness: Readiness,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { sync_period: Duration::from_secs(15), tolerance: 0.1, downscale_stabilization: SignedDuration::from_mins(5), readiness: Readiness::default() }
    }
}

impl Settings {
    /// Settings from the flags' durations (sync period, tolerance, downscale
    /// stabilization, cpu initialization period, initial readiness delay).
    pub fn new(sync_period: Duration, tolerance: f64, downscale_stabilization: Duration, cpu_initialization_period: Duration, initial_readiness_delay: Duration) -> Self {
        let signed = |d: Duration| SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
        Settings {
            sync_period,
            tolerance,
            downscale_stabilization: signed(downscale_stabilization),
            readiness: Readiness { cpu_initialization_period: signed(cpu_initialization_period), initial_readiness_delay: signed(initial_readiness_delay) },
        }
    }
}

/// The event source upstream uses.
const COMPONENT: &str = "horizontal-pod-autoscaler";

struct State {
    ctx: Arc<Context>,
    events: EventRecorder,
    settings: Settings,
    /// Recommendations and scale events per HPA (`namespace/name`).
    history: Mutex<HashMap<String, History>>,
    /// The pods each HPA selected at its last sync (upstream's `hpaSelectors`), to find
    /// pods two HPAs fight over.
    selected: Mutex<HashMap<String, HashSet<String>>>,
    targets: target::Resolver,
}

/// Runs the controller until its watch ends.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    let api = Api::<HorizontalPodAutoscaler>::all(ctx.client.clone());
    let (hpas, writer) = reflector::store();
    let state = Arc::new(State {
        events: ctx.recorder(COMPONENT),
        settings: ctx.config.hpa.clone(),
        targets: target::Resolver::new(ctx.client.clone()),
        history: Mutex::default(),
        selected: Mutex::default(),
        ctx,
    });
    let deleted = state.clone();
    // Status writes (ours, every sync) do not trigger a sync; spec changes do. A deleted
    // HPA's history goes with it.
    let spec_changes = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .inspect(move |event| {
            if let Ok(watcher::Event::Delete(hpa)) = event {
                deleted.forget(&key_of(hpa));
            }
        })
        .applied_objects()
        .predicate_filter(|hpa: &HorizontalPodAutoscaler| Some(spec_hash(hpa)), Default::default());
    Controller::for_stream(spec_changes, hpas)
        .with_config(crate::workers::workers(crate::workers::FIVE))
        .run(reconcile, |_, _, state: Arc<State>| Action::requeue(state.settings.sync_period), state)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn spec_hash(hpa: &HorizontalPodAutoscaler) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&hpa.spec).unwrap_or_default().hash(&mut h);
    h.finish()
}

fn key_of(hpa: &HorizontalPodAutoscaler) -> String {
    format!("{}/{}", hpa.namespace().unwrap_or_default(), hpa.name_any())
}

async fn reconcile(hpa: Arc<HorizontalPodAutoscaler>, state: Arc<State>) -> Result<Action, Error> {
    let mut hpa = (*hpa).clone();
    let original = hpa.status.clone();
    let key = key_of(&hpa);
    if let Err(e) = state.autoscale(&mut hpa, &original, &key).await {
        tracing::debug!(hpa = %key, error = %e, "horizontal pod autoscaler sync failed");
    }
    Ok(Action::requeue(state.settings.sync_period))
}

/// Upstream `setConditionInList`: the transition time moves only when the status does;
/// reason and message always follow.
fn set_condition(hpa: &mut HorizontalPodAutoscaler, (type_, status, reason, message): ConditionUpdate, now: Timestamp) {
    let conditions = hpa.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new);
    let i = match conditions.iter().position(|c| c.type_ == type_) {
        Some(i) => i,
        None => {
            conditions.push(HorizontalPodAutoscalerCondition { type_: type_.into(), ..Default::default() });
            conditions.len() - 1
        }
    };
    let c = &mut conditions[i];
    if c.status != status {
        c.last_transition_time = Some(Time(now));
    }
    c.status = status.into();
    c.reason = Some(reason.into());
    c.message = Some(message);
}

/// One metric's failure: the reason of the `ScalingActive=False` condition (and of the
/// event already recorded), the message, and the error as the caller reports it.
struct MetricFailure {
    reason: &'static str,
    message: String,
    error: String,
}

/// What a metric proposes.
struct Proposal {
    replicas: i32,
    metric: String,
    status: MetricStatus,
}

impl State {
    /// Drops what is remembered about a deleted HPA (upstream does it when the deleted
    /// key comes off its queue).
    fn forget(&self, key: &str) {
        self.history.lock().expect("hpa lock").remove(key);
        self.selected.lock().expect("hpa lock").remove(key);
    }

    fn tolerances(&self, hpa: &HorizontalPodAutoscaler) -> Tolerances {
        let mut t = Tolerances::both(self.settings.tolerance);
        let behavior = hpa.spec.as_ref().and_then(|s| s.behavior.as_ref());
        let value = |q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| ironkube_quantity::milli_value(&q.0).map(|m| m as f64 / 1000.0);
        if let Some(v) = behavior.and_then(|b| b.scale_down.as_ref()).and_then(|r| r.tolerance.as_ref()).and_then(value) {
            t.scale_down = v;
        }
        if let Some(v) = behavior.and_then(|b| b.scale_up.as_ref()).and_then(|r| r.tolerance.as_ref()).and_then(value) {
            t.scale_up = v;
        }
        t
    }

    async fn update_status_if_needed(&self, original: &Option<HorizontalPodAutoscalerStatus>, hpa: &HorizontalPodAutoscaler) -> Result<(), String> {
        if serde_json::to_value(original).ok() == serde_json::to_value(&hpa.status).ok() {
            return Ok(());
        }
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.ctx.client.clone(), &hpa.namespace().unwrap_or_default());
        if let Err(e) = api.replace_status(&hpa.name_any(), &PostParams::default(), hpa).await {
            let message = api_message(&e);
            self.events.warning(hpa, "FailedUpdateStatus", message.clone());
            return Err(format!("failed to update status for {}: {message}", hpa.name_any()));
        }
        Ok(())
    }

    /// `FailedGetScale`: event, `AbleToScale=False`, status written.
    async fn failed_get_scale(&self, hpa: &mut HorizontalPodAutoscaler, original: &Option<HorizontalPodAutoscalerStatus>, err: String, now: Timestamp) -> Result<(), String> {
        self.events.warning(&*hpa, "FailedGetScale", err.clone());
        set_condition(hpa, ("AbleToScale", "False", "FailedGetScale", format!("the HPA controller was unable to get the target's current scale: {err}")), now);
        self.update_status_if_needed(original, hpa).await?;
        Err(err)
    }

    /// Upstream `reconcileAutoscaler`.
    async fn autoscale(&self, hpa: &mut HorizontalPodAutoscaler, original: &Option<HorizontalPodAutoscalerStatus>, key: &str) -> Result<(), String> {
        let now = Timestamp::now();
        let spec = hpa.spec.clone().unwrap_or_default();
        let namespace = hpa.namespace().unwrap_or_default();
        let target_ref: &CrossVersionObjectReference = &spec.scale_target_ref;
        let reference = format!("{}/{}/{}", target_ref.kind, namespace, target_ref.name);

        let (api, scale) = match self.targets.scale(&namespace, target_ref).await {
            Ok(found) => found,
            Err(e) => return self.failed_get_scale(hpa, original, e, now).await,
        };
        set_condition(hpa, ("AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale".into()), now);
        let current = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        self.history.lock().expect("hpa lock").entry(key.to_string()).or_default().record_initial(current, now);
        let min = spec.min_replicas.unwrap_or(1);
        let max = spec.max_replicas;

        let mut statuses: Option<Vec<MetricStatus>> = None;
        let mut desired = 0;
        let mut reason = String::new();
        let mut result = Ok(());
        let rescale;
        if current == 0 && min != 0 {
            rescale = false;
            set_condition(hpa, ("ScalingActive", "False", "ScalingDisabled", "scaling is disabled since the replica count of the target is zero".into()), now);
        } else if current > max {
            reason = "Current number of replicas above Spec.MaxReplicas".into();
            desired = max;
            rescale = desired != current;
        } else if current < min {
            reason = "Current number of replicas below Spec.MinReplicas".into();
            desired = min;
            rescale = desired != current;
        } else {
            let selector = scale.status.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default();
            let outcome = self.compute_replicas_for_metrics(hpa, key, &selector, current, scale.status.as_ref().map_or(0, |s| s.replicas), now).await;
            statuses = outcome.statuses;
            if let Some(err) = outcome.error {
                if outcome.replicas == -1 {
                    self.set_current(hpa, current, statuses);
                    self.update_status_if_needed(original, hpa).await?;
                    self.events.warning(&*hpa, "FailedComputeMetricsReplicas", err.clone());
                    return Err(format!("failed to compute desired number of replicas based on listed metrics for {reference}: {err}"));
                }
                // Some metrics work: scale on them, but report the error.
                result = Err(err);
            }
            let mut rescale_metric = String::new();
            if outcome.replicas > desired {
                desired = outcome.replicas;
                rescale_metric = outcome.metric;
            }
            if desired > current {
                reason = format!("{rescale_metric} above target");
            }
            if desired < current {
                reason = "All metrics below target".into();
            }
            let bounds = Bounds { min, max, current };
            let mut conditions = Vec::new();
            {
                let mut history = self.history.lock().expect("hpa lock");
                let history = history.entry(key.to_string()).or_default();
                desired = match &spec.behavior {
                    None => normalize::normalize(history, bounds, desired, self.settings.downscale_stabilization, now, &mut conditions),
                    Some(b) => normalize::normalize_with_behavior(history, b, bounds, desired, self.settings.downscale_stabilization, now, &mut conditions),
                };
            }
            for c in conditions {
                set_condition(hpa, c, now);
            }
            rescale = desired != current;
        }

        if rescale {
            if let Err(e) = target::set_replicas(&api, scale, desired).await {
                self.events.warning(&*hpa, "FailedRescale", format!("New size: {desired}; reason: {reason}; error: {e}"));
                set_condition(hpa, ("AbleToScale", "False", "FailedUpdateScale", format!("the HPA controller was unable to update the target scale: {e}")), now);
                self.set_current(hpa, current, statuses);
                self.update_status_if_needed(original, hpa).await?;
                return Err(format!("failed to rescale {reference}: {e}"));
            }
            set_condition(hpa, ("AbleToScale", "True", "SucceededRescale", format!("the HPA controller was able to update the target scale to {desired}")), now);
            self.events.normal(&*hpa, "SuccessfulRescale", format!("New size: {desired}; reason: {reason}"));
            self.history.lock().expect("hpa lock").entry(key.to_string()).or_default().store_scale_event(spec.behavior.as_ref(), current, desired, now);
            tracing::info!(hpa = %key, current, desired, reason = %reason, "successfully rescaled");
        } else {
            desired = current;
        }
        let status = hpa.status.get_or_insert_with(Default::default);
        status.current_replicas = Some(current).filter(|c| *c != 0);
        status.desired_replicas = desired;
        status.current_metrics = statuses;
        if rescale {
            status.last_scale_time = Some(Time(now));
        }
        // Upstream's setStatus builds a fresh status without it.
        status.observed_generation = None;
        self.update_status_if_needed(original, hpa).await?;
        result
    }

    /// Upstream `setCurrentReplicasAndMetricsInStatus`.
    fn set_current(&self, hpa: &mut HorizontalPodAutoscaler, current: i32, statuses: Option<Vec<MetricStatus>>) {
        let status = hpa.status.get_or_insert_with(Default::default);
        status.current_replicas = Some(current).filter(|c| *c != 0);
        status.current_metrics = statuses;
        status.observed_generation = None;
    }

    /// Upstream `validateAndParseSelector`: the selected pods, or the failure already
    /// reported (event and `ScalingActive=False`).
    async fn selected_pods(&self, hpa: &mut HorizontalPodAutoscaler, key: &str, selector: &str, now: Timestamp) -> Result<Vec<Pod>, String> {
        if selector.is_empty() {
            let err = "selector is required".to_string();
            self.events.warning(&*hpa, "SelectorRequired", err.clone());
            set_condition(hpa, ("ScalingActive", "False", "InvalidSelector", "the HPA target's scale is missing a selector".into()), now);
            return Err(err);
        }
        let namespace = hpa.namespace().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &namespace);
        let pods = match api.list(&ListParams::default().labels(selector).match_any()).await {
            Ok(list) => list.items,
            Err(e) if crate::error::is_code(&e, 400) => {
                let err = format!("couldn't convert selector into a corresponding internal selector object: {}", api_message(&e));
                self.events.warning(&*hpa, "InvalidSelector", err.clone());
                set_condition(hpa, ("ScalingActive", "False", "InvalidSelector", err.clone()), now);
                return Err(err);
            }
            Err(e) => return Err(format!("unable to get pods while calculating replica count: {}", api_message(&e))),
        };
        let names: HashSet<String> = pods.iter().map(|p| p.name_any()).collect();
        let mut rivals: Vec<String> = {
            let mut selected = self.selected.lock().expect("hpa lock");
            selected.insert(key.to_string(), names.clone());
            let prefix = format!("{namespace}/");
            selected.iter().filter(|(k, pods)| k.as_str() != key && k.starts_with(&prefix) && !pods.is_disjoint(&names)).map(|(k, _)| k.clone()).collect()
        };
        if !rivals.is_empty() {
            rivals.push(key.to_string());
            rivals.sort();
            // Go prints each selectors.Key{Name, Namespace} as `{name namespace}`.
            let listed: Vec<String> = rivals.iter().map(|k| k.split_once('/').map(|(ns, n)| format!("{{{n} {ns}}}")).unwrap_or_default()).collect();
            let err = format!("pods by selector {selector} are controlled by multiple HPAs: [{}]", listed.join(" "));
            self.events.warning(&*hpa, "AmbiguousSelector", err.clone());
            set_condition(hpa, ("ScalingActive", "False", "AmbiguousSelector", err.clone()), now);
            return Err(err);
        }
        Ok(pods)
    }

    /// Upstream `computeReplicasForMetrics`.
    async fn compute_replicas_for_metrics(&self, hpa: &mut HorizontalPodAutoscaler, key: &str, selector: &str, spec_replicas: i32, status_replicas: i32, now: Timestamp) -> MetricsOutcome {
        let pods = match self.selected_pods(hpa, key, selector, now).await {
            Ok(pods) => pods,
            Err(error) => return MetricsOutcome { replicas: -1, metric: String::new(), statuses: None, error: Some(error) },
        };
        let specs = hpa.spec.as_ref().and_then(|s| s.metrics.clone()).unwrap_or_default();
        let mut statuses = vec![MetricStatus::default(); specs.len()];
        let (mut replicas, mut metric) = (0, String::new());
        let mut first_failure: Option<MetricFailure> = None;
        let mut invalid = 0;
        for (i, spec) in specs.iter().enumerate() {
            match self.compute_replicas_for_metric(hpa, spec, spec_replicas, status_replicas, selector, &pods, now).await {
                Ok(p) => {
                    statuses[i] = p.status;
                    if replicas == 0 || p.replicas > replicas {
                        replicas = p.replicas;
                        metric = p.metric;
                    }
                }
                Err(f) => {
                    invalid += 1;
                    first_failure.get_or_insert(f);
                }
            }
        }
        let error = first_failure.as_ref().map(|f| format!("invalid metrics ({invalid} invalid out of {}), first error is: {}", specs.len(), f.error));
        if let Some(f) = first_failure.filter(|_| invalid >= specs.len() || replicas < spec_replicas) {
            set_condition(hpa, ("ScalingActive", "False", f.reason, f.message), now);
            return MetricsOutcome { replicas: -1, metric: String::new(), statuses: Some(statuses), error };
        }
        set_condition(hpa, ("ScalingActive", "True", "ValidMetricFound", format!("the HPA was able to successfully calculate a replica count from {metric}")), now);
        MetricsOutcome { replicas, metric, statuses: Some(statuses), error }
    }

    /// Records upstream's `getUnableComputeReplicaCountCondition` event and builds the failure.
    fn unable(&self, hpa: &HorizontalPodAutoscaler, reason: &'static str, event_error: &str, error: String) -> MetricFailure {
        self.events.warning(hpa, reason, event_error.to_string());
        MetricFailure { reason, message: format!("the HPA was unable to compute the replica count: {event_error}"), error }
    }

    /// Upstream `computeReplicasForMetric` and the `computeStatusFor*Metric` it calls.
    #[allow(clippy::too_many_arguments)]
    async fn compute_replicas_for_metric(
        &self,
        hpa: &HorizontalPodAutoscaler,
        spec: &MetricSpec,
        spec_replicas: i32,
        status_replicas: i32,
        selector: &str,
        pods: &[Pod],
        now: Timestamp,
    ) -> Result<Proposal, MetricFailure> {
        let namespace = hpa.namespace().unwrap_or_default();
        let tolerances = self.tolerances(hpa);
        match spec.type_.as_str() {
            "Resource" | "ContainerResource" => {
                let (name, container, target, reason) = match (&spec.resource, &spec.container_resource) {
                    (Some(r), _) if spec.type_ == "Resource" => (r.name.clone(), String::new(), r.target.clone(), "FailedGetResourceMetric"),
                    (_, Some(c)) if spec.type_ == "ContainerResource" => (c.name.clone(), c.container.clone(), c.target.clone(), "FailedGetContainerResourceMetric"),
                    _ => {
                        let err = format!("unknown metric source type {:?}", spec.type_);
                        return Err(self.unable(hpa, "InvalidMetricSourceType", &err, err.clone()));
                    }
                };
                let outer = |e: &str| if container.is_empty() { format!("failed to get {name} resource metric value: {e}") } else { format!("failed to get {container} container metric value: {e}") };
                match self.resource_proposal(&namespace, selector, &name, &container, &target, spec_replicas, tolerances, pods, now).await {
                    Ok((replicas, metric, current)) => {
                        let status = if container.is_empty() {
                            MetricStatus { type_: "Resource".into(), resource: Some(ResourceMetricStatus { name, current }), ..Default::default() }
                        } else {
                            MetricStatus { type_: "ContainerResource".into(), container_resource: Some(ContainerResourceMetricStatus { name, container, current }), ..Default::default() }
                        };
                        Ok(Proposal { replicas, metric, status })
                    }
                    Err(e) => Err(self.unable(hpa, reason, &e, outer(&e))),
                }
            }
            "Pods" => {
                let metric = spec.pods.as_ref().map(|p| p.metric.name.clone()).unwrap_or_default();
                let inner = format!("unable to get metric {metric}: {}", metrics::custom_metrics_unavailable(&self.ctx.client).await);
                Err(self.unable(hpa, "FailedGetPodsMetric", &inner, format!("failed to get pods metric value: {inner}")))
            }
            "Object" => {
                let Some(source) = spec.object.as_ref() else { return Err(self.unknown(hpa, spec)) };
                let target = &source.target;
                let object = &source.described_object;
                let (has_value, has_average) = (target.type_ == "Value" && target.value.is_some(), target.type_ == "AverageValue" && target.average_value.is_some());
                if !has_value && !has_average {
                    let err = "invalid object metric source: neither a value target nor an average value target was set".to_string();
                    return Err(self.unable(hpa, "FailedGetObjectMetric", &err, format!("failed to get object metric value: {err}")));
                }
                // Upstream's format string shifts its arguments; the message reads as it does there.
                let inner = format!("unable to get metric {}: {} on {} {}/{}", source.metric.name, object.kind, namespace, object.name, metrics::custom_metrics_unavailable(&self.ctx.client).await);
                let error = if has_value { inner.clone() } else { format!("failed to get {} object metric: {inner}", source.metric.name) };
                Err(self.unable(hpa, "FailedGetObjectMetric", &inner, format!("failed to get object metric value: {error}")))
            }
            "External" => {
                let Some(source) = spec.external.as_ref() else { return Err(self.unknown(hpa, spec)) };
                self.external_proposal(hpa, source, spec_replicas, status_replicas, tolerances, pods).await
            }
            _ => Err(self.unknown(hpa, spec)),
        }
    }

    fn unknown(&self, hpa: &HorizontalPodAutoscaler, spec: &MetricSpec) -> MetricFailure {
        let err = format!("unknown metric source type {:?}", spec.type_);
        self.unable(hpa, "InvalidMetricSourceType", &err, err.clone())
    }

    /// Upstream `computeStatusForResourceMetricGeneric`: (replicas, metric name, current).
    #[allow(clippy::too_many_arguments)]
    async fn resource_proposal(
        &self,
        namespace: &str,
        selector: &str,
        resource: &str,
        container: &str,
        target: &MetricTarget,
        current: i32,
        tolerances: Tolerances,
        pods: &[Pod],
        now: Timestamp,
    ) -> Result<(i32, String, MetricValueStatus), String> {
        let fetch = || async {
            metrics::resource_metric(&self.ctx.client, namespace, selector, resource, container).await.map(|(m, _)| m).map_err(|e| format!("unable to get metrics for resource {resource}: {e}"))
        };
        if let Some(average) = &target.average_value {
            let target_usage = ironkube_quantity::milli_value(&average.0).unwrap_or(0);
            let (replicas, usage) = fetch()
                .await
                .and_then(|m| replicas::plain_metric_replicas(current, target_usage, resource, tolerances, pods, m, self.settings.readiness, now))
                .map_err(|e| format!("failed to get {resource} usage: {e}"))?;
            let status = MetricValueStatus { average_value: Some(metrics::milli_quantity(usage)), ..Default::default() };
            return Ok((replicas, format!("{resource} resource"), status));
        }
        let Some(utilization) = target.average_utilization else {
            return Err("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set".into());
        };
        let p = fetch()
            .await
            .and_then(|m| replicas::resource_replicas(current, utilization, resource, tolerances, pods, m, container, self.settings.readiness, now))
            .map_err(|e| format!("failed to get {resource} utilization: {e}"))?;
        let kind = if container.is_empty() { "resource" } else { "container resource" };
        let status = MetricValueStatus { average_utilization: Some(p.utilization), average_value: Some(metrics::milli_quantity(p.raw)), value: None };
        Ok((p.replicas, format!("{resource} {kind} utilization (percentage of request)"), status))
    }

    /// Upstream `computeStatusForExternalMetric` with the replica calculator's external
    /// cases; the values come from whatever serves `external.metrics.k8s.io` (nothing in
    /// ironkube, so this reports upstream's failure).
    async fn external_proposal(
        &self,
        hpa: &HorizontalPodAutoscaler,
        source: &k8s_openapi::api::autoscaling::v2::ExternalMetricSource,
        spec_replicas: i32,
        status_replicas: i32,
        tolerances: Tolerances,
        pods: &[Pod],
    ) -> Result<Proposal, MetricFailure> {
        let namespace = hpa.namespace().unwrap_or_default();
        let name = &source.metric.name;
        let selector = source.metric.selector.as_ref();
        let milli = |q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| ironkube_quantity::milli_value(&q.0).unwrap_or(0);
        let outer = |e: &str| format!("failed to get {name} external metric value: {e}");
        let (average, value) = (source.target.average_value.as_ref().map(milli), source.target.value.as_ref().map(milli));
        if average.is_none() && value.is_none() {
            let err = "invalid external metric source: neither a value target nor an average value target was set".to_string();
            return Err(self.unable(hpa, "FailedGetExternalMetric", &err, outer(&err)));
        }
        let values = match metrics::external_metric(&self.ctx.client, &namespace, name, selector).await {
            Ok((values, _)) => values,
            Err(e) => {
                let inner = format!("unable to get external metric {namespace}/{name}/{}: {e}", metrics::go_selector(selector));
                let error = if average.is_some() { format!("failed to get {name} external metric: {inner}") } else { format!("failed to get external metric {name}: {inner}") };
                return Err(self.unable(hpa, "FailedGetExternalMetric", &inner, outer(&error)));
            }
        };
        let usage = values.iter().fold(0i64, |a, v| a.saturating_add(*v));
        let identifier = MetricIdentifier { name: name.clone(), selector: source.metric.selector.clone() };
        let metric = format!("external metric {name}({})", metrics::go_selector(selector));
        let (replicas, current) = if let Some(per_pod) = average {
            let ratio = usage as f64 / (per_pod as f64 * status_replicas as f64);
            let replicas = if tolerances.is_within(ratio) { status_replicas } else { (usage as f64 / per_pod as f64).ceil().min(i32::MAX as f64) as i32 };
            let avg = (usage as f64 / status_replicas as f64).ceil() as i64;
            (replicas, MetricValueStatus { average_value: Some(metrics::milli_quantity(avg)), ..Default::default() })
        } else {
            let ratio = usage as f64 / value.unwrap_or(1) as f64;
            let replicas = if spec_replicas == 0 {
                ratio.ceil() as i32
            } else if tolerances.is_within(ratio) {
                spec_replicas
            } else {
                let ready = pods
                    .iter()
                    .filter_map(|p| p.status.as_ref())
                    .filter(|s| s.phase.as_deref() == Some("Running") && s.conditions.as_deref().and_then(crate::pods::ready_since_in).is_some())
                    .count();
                (ratio * ready as f64).ceil().min(i32::MAX as f64) as i32
            };
            (replicas, MetricValueStatus { value: Some(metrics::milli_quantity(usage)), ..Default::default() })
        };
        let status = MetricStatus { type_: "External".into(), external: Some(ExternalMetricStatus { metric: identifier, current }), ..Default::default() };
        Ok(Proposal { replicas, metric, status })
    }
}

/// What `compute_replicas_for_metrics` found (upstream's multiple returns; `replicas`
/// -1 when the HPA cannot act at all).
struct MetricsOutcome {
    replicas: i32,
    metric: String,
    statuses: Option<Vec<MetricStatus>>,
    error: Option<String>,
}
