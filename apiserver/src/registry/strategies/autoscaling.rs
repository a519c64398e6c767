//! HorizontalPodAutoscalers, autoscaling/v2 (`SetDefaults_HorizontalPodAutoscaler`,
//! `ValidateHorizontalPodAutoscaler`, `printHorizontalPodAutoscaler`).

use super::causes::invalid_each;
use super::json::{child, existing, int, items, s, set_default};
use super::names;
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use serde_json::{Value, json};

/// HorizontalPodAutoscaler strategy (autoscaling/v2).
pub struct Hpa;
/// The HorizontalPodAutoscaler strategy instance.
pub static HPA: Hpa = Hpa;

static HPA_COLUMNS: [Column; 6] = [
    Column::new("Reference", "string", "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count."),
    Column::new("Targets", "string", "metrics contains the specifications for which to use to calculate the desired replica count."),
    Column::new("MinPods", "string", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down."),
    Column::new("MaxPods", "string", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up."),
    Column::new("Replicas", "string", "currentReplicas is current number of replicas of pods managed by this autoscaler."),
    AGE,
];

/// Upstream `GenerateHPAScale{Up,Down}Rules`. The scale-down window stays unset: the
/// controller's `--horizontal-pod-autoscaler-downscale-stabilization` fills it in.
fn default_scaling_rules(rules: &mut Value, window: Option<i64>, policies: Value) {
    if let Some(window) = window {
        set_default(rules, "stabilizationWindowSeconds", json!(window));
    }
    set_default(rules, "selectPolicy", json!("Max"));
    set_default(rules, "policies", policies);
}

fn metric_target(target: &Value, current: Option<&Value>, name: &str) -> String {
    let prefix = if name.is_empty() { String::new() } else { format!("{name}: ") };
    if let Some(avg) = target.get("averageValue").and_then(Value::as_str) {
        let cur = current.and_then(|c| c.get("averageValue")).and_then(Value::as_str).unwrap_or("<unknown>");
        return format!("{prefix}{cur}/{avg}");
    }
    let cur = current.and_then(|c| int(c, "averageUtilization")).map(|u| format!("{u}%")).unwrap_or_else(|| "<unknown>".into());
    let want = int(target, "averageUtilization").map(|u| format!("{u}%")).unwrap_or_else(|| "<auto>".into());
    format!("{prefix}{cur}/{want}")
}

fn format_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".into();
    }
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let kind = s(spec, "type");
            let key = match kind {
                "Resource" => "resource",
                "ContainerResource" => "containerResource",
                "Pods" => "pods",
                "Object" => "object",
                "External" => "external",
                _ => return "<unknown type>".to_string(),
            };
            let source = spec.get(key).unwrap_or(&Value::Null);
            let target = source.get("target").unwrap_or(&Value::Null);
            let current = statuses.get(i).and_then(|st| st.get(key)).and_then(|st| st.get("current"));
            match kind {
                "Resource" | "ContainerResource" => metric_target(target, current, s(source, "name")),
                "Pods" => {
                    let cur = current.and_then(|c| c.get("averageValue")).and_then(Value::as_str).unwrap_or("<unknown>");
                    format!("{cur}/{}", s(target, "averageValue"))
                }
                _ => match target.get("averageValue").and_then(Value::as_str) {
                    Some(avg) => {
                        let cur = current.and_then(|c| c.get("averageValue")).and_then(Value::as_str).unwrap_or("<unknown>");
                        format!("{cur}/{avg} (avg)")
                    }
                    None => {
                        let cur = current.and_then(|c| c.get("value")).and_then(Value::as_str).unwrap_or("<unknown>");
                        format!("{cur}/{}", s(target, "value"))
                    }
                },
            }
        })
        .collect();
    if list.len() > 2 {
        format!("{} + {} more...", list[..2].join(", "), list.len() - 2)
    } else {
        list.join(", ")
    }
}

impl Strategy for Hpa {
    fn has_status(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        let Some(spec) = child(obj, "spec") else { return };
        set_default(spec, "minReplicas", json!(1));
        if super::json::len_of(spec, "metrics") == 0 {
            spec["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]);
        }
        if let Some(behavior) = existing(spec, "behavior") {
            if let Some(up) = child(behavior, "scaleUp") {
                default_scaling_rules(up, Some(0), json!([{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]));
            }
            if let Some(down) = child(behavior, "scaleDown") {
                default_scaling_rules(down, None, json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]));
            }
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"desiredReplicas": 0});
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let min = int(spec, "minReplicas");
        let max = int(spec, "maxReplicas").unwrap_or(0);
        if let Some(m) = min.filter(|m| *m < 1) {
            causes.push(Cause::invalid("spec.minReplicas", &json!(m), "must be greater than or equal to 1"));
        }
        if max < 1 {
            causes.push(Cause::invalid("spec.maxReplicas", &json!(max), "must be greater than 0"));
        }
        if min.is_some_and(|m| max < m) {
            causes.push(Cause::invalid("spec.maxReplicas", &json!(max), "must be greater than or equal to `minReplicas`"));
        }
        let target = spec.get("scaleTargetRef").unwrap_or(&Value::Null);
        for key in ["kind", "name"] {
            let v = s(target, key);
            if v.is_empty() {
                causes.push(Cause::required(format!("spec.scaleTargetRef.{key}")));
            } else {
                invalid_each(causes, &format!("spec.scaleTargetRef.{key}"), &json!(v), names::path_segment(v));
            }
        }
        for (i, m) in items(spec, "metrics").iter().enumerate() {
            let kind = s(m, "type");
            if !["Object", "Pods", "Resource", "ContainerResource", "External"].contains(&kind) {
                causes.push(Cause::invalid(format!("spec.metrics[{i}].type"), &json!(kind), "must be either External, Object, Pods, Resource or ContainerResource"));
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        &HPA_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let target = spec.get("scaleTargetRef").unwrap_or(&Value::Null);
        let status = obj.get("status").unwrap_or(&Value::Null);
        vec![
            json!(format!("{}/{}", s(target, "kind"), s(target, "name"))),
            json!(format_metrics(items(spec, "metrics"), items(status, "currentMetrics"))),
            json!(int(spec, "minReplicas").map(|m| m.to_string()).unwrap_or_else(|| "<unset>".into())),
            json!(int(spec, "maxReplicas").unwrap_or(0)),
            json!(int(status, "currentReplicas").unwrap_or(0)),
            age(obj),
        ]
    }
}

/// autoscaling/v1 HorizontalPodAutoscaler strategy: the v2 strategy, applied to the v2
/// form of the object (the two versions are one stored object).
pub struct HpaV1;
/// The autoscaling/v1 HorizontalPodAutoscaler strategy instance.
pub static HPA_V1: HpaV1 = HpaV1;

fn v2_of(v1: &Value) -> Value {
    (crate::registry::conversion::HPA_V1.to_storage)(v1.clone())
}

impl Strategy for HpaV1 {
    fn has_status(&self) -> bool {
        HPA.has_status()
    }
    fn tracks_generation(&self) -> bool {
        HPA.tracks_generation()
    }
    fn default(&self, obj: &mut Value) {
        let mut v2 = v2_of(obj);
        HPA.default(&mut v2);
        *obj = (crate::registry::conversion::HPA_V1.from_storage)(v2);
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        let mut v2 = v2_of(obj);
        HPA.prepare_for_create(&mut v2);
        *obj = (crate::registry::conversion::HPA_V1.from_storage)(v2);
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        HPA.validate(&v2_of(obj), causes);
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        HPA.validate_update(&v2_of(obj), &v2_of(old), causes);
    }
    fn columns(&self) -> &'static [Column] {
        HPA.columns()
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        HPA.row(&v2_of(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpa_defaults_and_targets() {
        let mut hpa = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5, "behavior": {}}});
        HPA.default(&mut hpa);
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(hpa["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"], 0);
        assert_eq!(hpa["spec"]["behavior"]["scaleDown"]["selectPolicy"], "Max");
        assert!(hpa["spec"]["behavior"]["scaleDown"].get("stabilizationWindowSeconds").is_none());
        let row = HPA.row(&hpa);
        assert_eq!(&row[..4], &[json!("Deployment/web"), json!("cpu: <unknown>/80%"), json!("1"), json!(5)]);
        let mut causes = Vec::new();
        hpa["spec"]["maxReplicas"] = json!(0);
        HPA.validate(&hpa, &mut causes);
        assert_eq!(causes.len(), 2);
    }
}
