//! From the metrics' proposal to the replicas actually set (upstream `horizontal.go`
//! `normalizeDesiredReplicas*`): min/max, the stabilization window, the scale-rate limits
//! of `spec.behavior` (or the legacy 2x/4-pods limit without one). Pure: the remembered
//! recommendations and scale events live in a [`History`] per HPA, `now` is passed in.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v2::{HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscalerBehavior};

/// A condition to set on the HPA: (type, status, reason, message).
pub type ConditionUpdate = (&'static str, &'static str, &'static str, String);

#[derive(Clone, Copy, Debug)]
struct Recommendation {
    replicas: i32,
    at: Timestamp,
}

#[derive(Clone, Copy, Debug)]
struct ScaleEvent {
    /// Replicas added or removed (non-negative).
    change: i32,
    at: Timestamp,
    outdated: bool,
}

/// What the controller remembers of one HPA between syncs.
#[derive(Clone, Debug, Default)]
pub struct History {
    recommendations: Vec<Recommendation>,
    scale_up_events: Vec<ScaleEvent>,
    scale_down_events: Vec<ScaleEvent>,
}

impl History {
    /// Upstream `recordInitialRecommendation`: the current size, when nothing is known yet.
    pub fn record_initial(&mut self, current: i32, now: Timestamp) {
        if self.recommendations.is_empty() {
            self.recommendations.push(Recommendation { replicas: current, at: now });
        }
    }

    /// Records an unstabilized recommendation, reusing the slot `replace` (one older than
    /// every window) if there is one.
    fn record(&mut self, replicas: i32, now: Timestamp, replace: Option<usize>) {
        let rec = Recommendation { replicas, at: now };
        match replace {
            Some(i) => self.recommendations[i] = rec,
            None => self.recommendations.push(rec),
        }
    }

    /// Upstream `storeScaleEvent` (only with a behavior: the legacy path never reads them).
    pub fn store_scale_event(&mut self, behavior: Option<&HorizontalPodAutoscalerBehavior>, previous: i32, new: i32, now: Timestamp) {
        let Some(behavior) = behavior else { return };
        let (events, rules, change) = if new > previous {
            (&mut self.scale_up_events, scale_up_rules(behavior.scale_up.as_ref()), new - previous)
        } else {
            (&mut self.scale_down_events, scale_down_rules(behavior.scale_down.as_ref(), None), previous - new)
        };
        let longest = rules.policies.iter().flatten().map(|p| p.period_seconds).max().unwrap_or(0);
        let cutoff = now - SignedDuration::from_secs(longest.into());
        for e in events.iter_mut() {
            if e.at < cutoff {
                e.outdated = true;
            }
        }
        let event = ScaleEvent { change, at: now, outdated: false };
        match events.iter().rposition(|e| e.outdated) {
            Some(i) => events[i] = event,
            None => events.push(event),
        }
    }
}

fn policy(type_: &str, value: i32, period_seconds: i32) -> HPAScalingPolicy {
    HPAScalingPolicy { type_: type_.into(), value, period_seconds }
}

/// Upstream `GenerateHPAScaleUpRules`: the API server's defaults, filled in again here so
/// a behavior stored without them still works.
pub fn scale_up_rules(rules: Option<&HPAScalingRules>) -> HPAScalingRules {
    let mut r = rules.cloned().unwrap_or_default();
    r.stabilization_window_seconds.get_or_insert(0);
    r.select_policy.get_or_insert_with(|| "Max".into());
    r.policies.get_or_insert_with(|| vec![policy("Pods", 4, 15), policy("Percent", 100, 15)]);
    r
}

/// Upstream `GenerateHPAScaleDownRules` plus `maybeInitScaleDownStabilizationWindow`: the
/// window comes from `--horizontal-pod-autoscaler-downscale-stabilization` when unset.
pub fn scale_down_rules(rules: Option<&HPAScalingRules>, default_window: Option<SignedDuration>) -> HPAScalingRules {
    let mut r = rules.cloned().unwrap_or_default();
    if let Some(window) = default_window {
        r.stabilization_window_seconds.get_or_insert(window.as_secs() as i32);
    }
    r.select_policy.get_or_insert_with(|| "Max".into());
    r.policies.get_or_insert_with(|| vec![policy("Percent", 100, 15)]);
    r
}

/// The bounds and sizes normalization works with (upstream `NormalizationArg`).
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// `spec.minReplicas` (default 1).
    pub min: i32,
    /// `spec.maxReplicas`.
    pub max: i32,
    /// The target's `spec.replicas` now.
    pub current: i32,
}

/// Upstream `normalizeDesiredReplicas` (no behavior): the highest recommendation within
/// the downscale stabilization window, then min/max and at most max(2x, 4) on the way up.
pub fn normalize(history: &mut History, bounds: Bounds, desired: i32, window: SignedDuration, now: Timestamp, conditions: &mut Vec<ConditionUpdate>) -> i32 {
    let cutoff = now - window;
    let mut stabilized = desired;
    let mut old = None;
    for (i, rec) in history.recommendations.iter().enumerate() {
        if rec.at < cutoff {
            old = Some(i);
        } else if rec.replicas > stabilized {
            stabilized = rec.replicas;
        }
    }
    history.record(desired, now, old);
    if stabilized != desired {
        conditions.push(("AbleToScale", "True", "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation".into()));
    } else {
        conditions.push(("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size".into()));
    }
    let (replicas, reason, message) = with_rules(bounds.current, stabilized, bounds.min, bounds.max);
    conditions.push(("ScalingLimited", if replicas == stabilized { "False" } else { "True" }, reason, message.into()));
    replicas
}

/// Upstream `convertDesiredReplicasWithRules`.
fn with_rules(current: i32, desired: i32, min: i32, max: i32) -> (i32, &'static str, &'static str) {
    let scale_up_limit = (2.0 * current as f64).max(4.0) as i32;
    let (maximum, reason, message) = if max > scale_up_limit {
        (scale_up_limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
    } else {
        (max, "TooManyReplicas", "the desired replica count is more than the maximum replica count")
    };
    if desired < min {
        return (min, "TooFewReplicas", "the desired replica count is less than the minimum replica count");
    }
    if desired > maximum {
        return (maximum, reason, message);
    }
    (desired, "DesiredWithinRange", "the desired count is within the acceptable range")
}

/// Upstream `normalizeDesiredReplicasWithBehaviors`: stabilize within each direction's
/// window, then limit the rate by the policies.
#[allow(clippy::too_many_arguments)]
pub fn normalize_with_behavior(
    history: &mut History,
    behavior: &HorizontalPodAutoscalerBehavior,
    bounds: Bounds,
    desired: i32,
    default_down_window: SignedDuration,
    now: Timestamp,
    conditions: &mut Vec<ConditionUpdate>,
) -> i32 {
    let up = scale_up_rules(behavior.scale_up.as_ref());
    let down = scale_down_rules(behavior.scale_down.as_ref(), Some(default_down_window));
    let stabilized = stabilize(history, &up, &down, bounds.current, desired, now);
    if stabilized != desired {
        if desired >= bounds.current {
            conditions.push(("AbleToScale", "True", "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation".into()));
        } else {
            conditions.push(("AbleToScale", "True", "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation".into()));
        }
    } else {
        conditions.push(("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size".into()));
    }
    let (replicas, reason, message) = with_behavior_rate(history, &up, &down, bounds, stabilized, now);
    conditions.push(("ScalingLimited", if replicas == stabilized { "False" } else { "True" }, reason, message.into()));
    replicas
}

/// Upstream `stabilizeRecommendationWithBehaviors`.
fn stabilize(history: &mut History, up: &HPAScalingRules, down: &HPAScalingRules, current: i32, desired: i32, now: Timestamp) -> i32 {
    let up_cutoff = now - SignedDuration::from_secs(up.stabilization_window_seconds.unwrap_or(0).into());
    let down_cutoff = now - SignedDuration::from_secs(down.stabilization_window_seconds.unwrap_or(0).into());
    let (mut up_rec, mut down_rec) = (desired, desired);
    let mut old = None;
    for (i, rec) in history.recommendations.iter().enumerate() {
        if rec.at > up_cutoff {
            up_rec = up_rec.min(rec.replicas);
        }
        if rec.at > down_cutoff {
            down_rec = down_rec.max(rec.replicas);
        }
        if rec.at < up_cutoff && rec.at < down_cutoff {
            old = Some(i);
        }
    }
    history.record(desired, now, old);
    current.max(up_rec).min(down_rec)
}

/// Upstream `convertDesiredReplicasWithBehaviorRate`.
fn with_behavior_rate(history: &History, up: &HPAScalingRules, down: &HPAScalingRules, bounds: Bounds, desired: i32, now: Timestamp) -> (i32, &'static str, &'static str) {
    if desired > bounds.current {
        let limit = scale_up_limit(bounds.current, &history.scale_up_events, &history.scale_down_events, up, now).max(bounds.current);
        let (maximum, reason, message) = if bounds.max > limit {
            (limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
        } else {
            (bounds.max, "TooManyReplicas", "the desired replica count is more than the maximum replica count")
        };
        if desired > maximum {
            return (maximum, reason, message);
        }
    } else if desired < bounds.current {
        let limit = scale_down_limit(bounds.current, &history.scale_up_events, &history.scale_down_events, down, now).min(bounds.current);
        let (minimum, reason, message) = if bounds.min < limit {
            (limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")
        } else {
            (bounds.min, "TooFewReplicas", "the desired replica count is less than the minimum replica count")
        };
        if desired < minimum {
            return (minimum, reason, message);
        }
    }
    (desired, "DesiredWithinRange", "the desired count is within the acceptable range")
}

/// Upstream `getReplicasChangePerPeriod`.
fn change_in_period(period_seconds: i32, events: &[ScaleEvent], now: Timestamp) -> i32 {
    let cutoff = now - SignedDuration::from_secs(period_seconds.into());
    events.iter().filter(|e| e.at > cutoff).map(|e| e.change).sum()
}

/// The replicas at the start of a policy's period.
fn period_start(current: i32, p: &HPAScalingPolicy, ups: &[ScaleEvent], downs: &[ScaleEvent], now: Timestamp) -> i32 {
    current - change_in_period(p.period_seconds, ups, now) + change_in_period(p.period_seconds, downs, now)
}

/// Upstream `calculateScaleUpLimitWithScalingRules`.
fn scale_up_limit(current: i32, ups: &[ScaleEvent], downs: &[ScaleEvent], rules: &HPAScalingRules, now: Timestamp) -> i32 {
    let select = rules.select_policy.as_deref().unwrap_or("Max");
    if select == "Disabled" {
        return current;
    }
    let proposals = rules.policies.iter().flatten().map(|p| {
        let start = period_start(current, p, ups, downs, now);
        match p.type_.as_str() {
            "Pods" => start + p.value,
            _ => (start as f64 * (1.0 + p.value as f64 / 100.0)).ceil() as i32,
        }
    });
    if select == "Min" { proposals.fold(i32::MAX, i32::min) } else { proposals.fold(i32::MIN, i32::max) }
}

/// Upstream `calculateScaleDownLimitWithBehaviors`.
fn scale_down_limit(current: i32, ups: &[ScaleEvent], downs: &[ScaleEvent], rules: &HPAScalingRules, now: Timestamp) -> i32 {
    let select = rules.select_policy.as_deref().unwrap_or("Max");
    if select == "Disabled" {
        return current;
    }
    let proposals = rules.policies.iter().flatten().map(|p| {
        let start = period_start(current, p, ups, downs, now);
        match p.type_.as_str() {
            "Pods" => start - p.value,
            _ => (start as f64 * (1.0 - p.value as f64 / 100.0)) as i32,
        }
    });
    if select == "Min" { proposals.fold(i32::MIN, i32::max) } else { proposals.fold(i32::MAX, i32::min) }
}

#[cfg(test)]
mod tests {
    //! Behaviour of upstream `horizontal_test.go`'s normalization cases.
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn rules(window: Option<i32>, select: &str, policies: Vec<HPAScalingPolicy>) -> Option<HPAScalingRules> {
        Some(HPAScalingRules { stabilization_window_seconds: window, select_policy: Some(select.into()), policies: Some(policies), tolerance: None })
    }

    fn bounds(min: i32, max: i32, current: i32) -> Bounds {
        Bounds { min, max, current }
    }

    fn reason(conditions: &[ConditionUpdate], type_: &str) -> (&'static str, &'static str) {
        let c = conditions.iter().rev().find(|c| c.0 == type_).unwrap();
        (c.1, c.2)
    }

    #[test]
    fn legacy_limits_scale_up_to_double_or_four() {
        let mut c = Vec::new();
        let mut h = History::default();
        assert_eq!(normalize(&mut h, bounds(1, 100, 3), 20, SignedDuration::from_mins(5), t(0), &mut c), 6);
        assert_eq!(reason(&c, "ScalingLimited"), ("True", "ScaleUpLimit"));
        let mut h = History::default();
        assert_eq!(normalize(&mut h, bounds(1, 100, 1), 20, SignedDuration::from_mins(5), t(0), &mut c), 4);
        let mut h = History::default();
        assert_eq!(normalize(&mut h, bounds(1, 5, 3), 20, SignedDuration::from_mins(5), t(0), &mut c), 5);
        assert_eq!(reason(&c, "ScalingLimited"), ("True", "TooManyReplicas"));
        let mut h = History::default();
        assert_eq!(normalize(&mut h, bounds(2, 5, 3), 1, SignedDuration::ZERO, t(0), &mut c), 2);
        assert_eq!(reason(&c, "ScalingLimited"), ("True", "TooFewReplicas"));
    }

    #[test]
    fn legacy_scale_down_is_stabilized_for_the_window() {
        let window = SignedDuration::from_mins(5);
        let mut h = History::default();
        let mut c = Vec::new();
        h.record_initial(5, t(0));
        // Within 5 minutes of recommending 5, a recommendation of 2 stays 5.
        assert_eq!(normalize(&mut h, bounds(1, 10, 5), 2, window, t(60), &mut c), 5);
        assert_eq!(reason(&c, "AbleToScale"), ("True", "ScaleDownStabilized"));
        // Once every higher recommendation is older than the window, it goes through.
        assert_eq!(normalize(&mut h, bounds(1, 10, 5), 2, window, t(400), &mut c), 2);
        assert_eq!(reason(&c, "AbleToScale"), ("True", "ReadyForNewScale"));
        assert_eq!(reason(&c, "ScalingLimited"), ("False", "DesiredWithinRange"));
    }

    #[test]
    fn default_behavior_scale_up_is_max_of_4_pods_and_100_percent_per_15s() {
        let behavior = HorizontalPodAutoscalerBehavior::default();
        let mut c = Vec::new();
        let mut h = History::default();
        assert_eq!(normalize_with_behavior(&mut h, &behavior, bounds(1, 100, 1), 50, SignedDuration::from_mins(5), t(0), &mut c), 5);
        assert_eq!(reason(&c, "ScalingLimited"), ("True", "ScaleUpLimit"));
        h.store_scale_event(Some(&behavior), 1, 5, t(0));
        // Within the same 15 s period the limit counts from the period's start (1 replica).
        assert_eq!(normalize_with_behavior(&mut h, &behavior, bounds(1, 100, 5), 50, SignedDuration::from_mins(5), t(5), &mut c), 5);
        // After the period: max(5 + 4, 5 * 200%) = 10.
        assert_eq!(normalize_with_behavior(&mut h, &behavior, bounds(1, 100, 5), 50, SignedDuration::from_mins(5), t(20), &mut c), 10);
    }

    #[test]
    fn select_policy_min_and_disabled() {
        let up = rules(Some(0), "Min", vec![policy("Pods", 4, 60), policy("Percent", 100, 60)]);
        let behavior = HorizontalPodAutoscalerBehavior { scale_up: up, scale_down: None };
        let mut c = Vec::new();
        assert_eq!(normalize_with_behavior(&mut History::default(), &behavior, bounds(1, 100, 10), 50, SignedDuration::ZERO, t(0), &mut c), 14);
        let disabled = HorizontalPodAutoscalerBehavior { scale_up: rules(Some(0), "Disabled", vec![policy("Pods", 4, 60)]), scale_down: None };
        assert_eq!(normalize_with_behavior(&mut History::default(), &disabled, bounds(1, 100, 10), 50, SignedDuration::ZERO, t(0), &mut c), 10);
        assert_eq!(reason(&c, "ScalingLimited"), ("True", "ScaleUpLimit"));
    }

    #[test]
    fn scale_down_policies_and_percent_rounding() {
        let down = rules(Some(0), "Max", vec![policy("Percent", 10, 60), policy("Pods", 1, 60)]);
        let behavior = HorizontalPodAutoscalerBehavior { scale_up: None, scale_down: down };
        let mut c = Vec::new();
        // Max change: 10% of 30 = 3 pods vs 1 pod → 27.
        assert_eq!(normalize_with_behavior(&mut History::default(), &behavior, bounds(1, 100, 30), 5, SignedDuration::ZERO, t(0), &mut c), 27);
        assert_eq!(reason(&c, "ScalingLimited"), ("True", "ScaleDownLimit"));
        // Events inside the period are subtracted from what is left.
        let mut h = History::default();
        h.store_scale_event(Some(&behavior), 30, 27, t(0));
        assert_eq!(normalize_with_behavior(&mut h, &behavior, bounds(1, 100, 27), 5, SignedDuration::ZERO, t(10), &mut c), 27);
        assert_eq!(normalize_with_behavior(&mut h, &behavior, bounds(1, 100, 27), 5, SignedDuration::ZERO, t(70), &mut c), 24);
    }

    #[test]
    fn stabilization_windows_both_ways() {
        // Scale-up window 60 s: the lowest recent recommendation wins.
        let behavior = HorizontalPodAutoscalerBehavior { scale_up: rules(Some(60), "Max", vec![policy("Pods", 100, 15)]), scale_down: rules(Some(0), "Max", vec![policy("Percent", 100, 15)]) };
        let mut h = History::default();
        let mut c = Vec::new();
        h.record_initial(3, t(0));
        assert_eq!(normalize_with_behavior(&mut h, &behavior, bounds(1, 100, 3), 10, SignedDuration::ZERO, t(10), &mut c), 3);
        assert_eq!(reason(&c, "AbleToScale"), ("True", "ScaleUpStabilized"));
        assert_eq!(normalize_with_behavior(&mut h, &behavior, bounds(1, 100, 3), 10, SignedDuration::ZERO, t(100), &mut c), 10);
        // Scale-down without a window in the spec uses the controller's default (5 min).
        let behavior = HorizontalPodAutoscalerBehavior { scale_up: None, scale_down: rules(None, "Max", vec![policy("Percent", 100, 15)]) };
        let mut h = History::default();
        h.record_initial(8, t(0));
        assert_eq!(normalize_with_behavior(&mut h, &behavior, bounds(1, 100, 8), 2, SignedDuration::from_mins(5), t(60), &mut c), 8);
        assert_eq!(reason(&c, "AbleToScale"), ("True", "ScaleDownStabilized"));
        assert_eq!(normalize_with_behavior(&mut h, &behavior, bounds(1, 100, 8), 2, SignedDuration::from_mins(5), t(400), &mut c), 2);
    }
}
