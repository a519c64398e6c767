//! The metrics clients (upstream `pkg/controller/podautoscaler/metrics/client.go`):
//! resource metrics from `metrics.k8s.io/v1beta1` PodMetrics, and the custom and external
//! metrics APIs, which ironkube does not serve — asking them fails the way upstream's
//! clients fail when those APIs are not registered.

use super::replicas::{PodMetric, PodMetrics};
use crate::error::api_message;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `metrics.k8s.io/v1beta1` PodMetrics (wire format of upstream `k8s.io/metrics`).
#[derive(Clone, Debug, Deserialize)]
pub struct PodMetricsItem {
    /// The pod's name and namespace.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// When the sample was taken.
    pub timestamp: Time,
    /// The window it covers (a Go duration, e.g. `30s`).
    #[serde(default)]
    pub window: String,
    /// Usage per container.
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
}

/// One container's usage in a PodMetrics.
#[derive(Clone, Debug, Deserialize)]
pub struct ContainerMetrics {
    /// Container name.
    pub name: String,
    /// Usage by resource name (`cpu`, `memory`).
    #[serde(default)]
    pub usage: BTreeMap<String, Quantity>,
}

/// `PodMetricsList`.
#[derive(Clone, Debug, Deserialize)]
pub struct PodMetricsList {
    /// The samples.
    #[serde(default)]
    pub items: Vec<PodMetricsItem>,
}

/// Parses a Go `time.Duration` string (`1m30s`, `500ms`, `1.5h`).
pub fn parse_go_duration(text: &str) -> Result<SignedDuration, String> {
    let bad = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(SignedDuration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if end == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..end].parse().map_err(|_| bad())?;
        rest = &rest[end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        nanos += number * scale;
        rest = &rest[unit_end..];
    }
    let d = SignedDuration::from_nanos(nanos.round() as i64);
    Ok(if negative { -d } else { d })
}

/// `resource.NewMilliQuantity(v, DecimalSI)` in its canonical form (`250m`, `1`, `5k`).
pub fn milli_quantity(milli: i64) -> Quantity {
    if milli % 1000 != 0 {
        return Quantity(format!("{milli}m"));
    }
    let mut value = milli / 1000;
    let mut suffix = 0;
    const SUFFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    while value != 0 && value % 1000 == 0 && suffix < SUFFIXES.len() - 1 {
        value /= 1000;
        suffix += 1;
    }
    Quantity(format!("{value}{}", SUFFIXES[suffix]))
}

/// Upstream `getPodMetrics` (sum over containers; a pod missing the resource in any
/// container, or without containers, has no sample) and `getContainerMetrics` (only the
/// named container).
pub fn pod_metrics(items: &[PodMetricsItem], resource: &str, container: &str) -> PodMetrics {
    let mut res = PodMetrics::with_capacity(items.len());
    for m in items {
        let sample = |value| PodMetric { timestamp: m.timestamp.0, window: parse_go_duration(&m.window).unwrap_or(SignedDuration::ZERO), value };
        let name = m.metadata.name.clone().unwrap_or_default();
        if !container.is_empty() {
            let usage = m.containers.iter().find(|c| c.name == container).and_then(|c| c.usage.get(resource));
            if let Some(q) = usage {
                res.insert(name, sample(milli(q)));
            }
            continue;
        }
        let values: Option<Vec<i64>> = m.containers.iter().map(|c| c.usage.get(resource).map(milli)).collect();
        if let Some(values) = values.filter(|v| !v.is_empty()) {
            res.insert(name, sample(values.iter().sum()));
        }
    }
    res
}

fn milli(q: &Quantity) -> i64 {
    ironkube_quantity::milli_value(&q.0).unwrap_or(0)
}

/// Upstream `GetResourceMetric`: every matching pod's sample of `resource` and the first
/// sample's timestamp.
pub async fn resource_metric(client: &kube::Client, namespace: &str, selector: &str, resource: &str, container: &str) -> Result<(PodMetrics, Timestamp), String> {
    let query = form_query(selector);
    let url = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods?{query}");
    let request = http::Request::get(url).body(Vec::new()).map_err(|e| e.to_string())?;
    let list: PodMetricsList = client.request(request).await.map_err(|e| format!("unable to fetch metrics from resource metrics API: {}", client_message(&e, "pods", "metrics.k8s.io")))?;
    let Some(first) = list.items.first() else {
        return Err("no metrics returned from resource metrics API".into());
    };
    Ok((pod_metrics(&list.items, resource, container), first.timestamp.0))
}

fn form_query(selector: &str) -> String {
    let mut query = String::from("labelSelector=");
    for b in selector.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => query.push(b as char),
            _ => query.push_str(&format!("%{b:02X}")),
        }
    }
    query
}

/// The message client-go shows for a failed request: the Status message, or for a 404
/// without one its generic "could not find the requested resource (get ...)".
fn client_message(e: &kube::Error, resource: &str, group: &str) -> String {
    match e {
        kube::Error::Api(s) if s.code == 404 && (s.message.is_empty() || s.message.contains("page not found")) => {
            format!("the server could not find the requested resource (get {resource}.{group})")
        }
        other => api_message(other),
    }
}

/// The custom metrics API (`custom.metrics.k8s.io`) as upstream's client reaches it: it
/// discovers the group first. ironkube serves no such API, so unless something registered
/// it this is upstream's "no custom metrics API ... registered"; if it is registered, ironkube
/// cannot read it and says so.
pub async fn custom_metrics_unavailable(client: &kube::Client) -> String {
    const GROUP: &str = "custom.metrics.k8s.io";
    let message = match client.list_api_groups().await {
        Err(e) => api_message(&e),
        Ok(groups) if groups.groups.iter().all(|g| g.name != GROUP) => format!("no custom metrics API ({GROUP}) registered"),
        Ok(_) => format!("the {GROUP} API is registered, but ironkube's HPA controller does not read it"),
    };
    format!("unable to fetch metrics from custom metrics API: {message}")
}

/// The external metrics API, asked as upstream's client does (a plain GET of
/// `/apis/external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric>`); the API server's
/// answer (404 unless something serves it) is the error.
pub async fn external_metric(client: &kube::Client, namespace: &str, metric: &str, selector: Option<&LabelSelector>) -> Result<(Vec<i64>, Timestamp), String> {
    let query = form_query(&selector.map(selector_string).unwrap_or_default());
    let url = format!("/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}?{query}");
    let request = http::Request::get(url).body(Vec::new()).map_err(|e| e.to_string())?;
    let fail = |m: String| format!("unable to fetch metrics from external metrics API: {m}");
    let list: serde_json::Value = client.request(request).await.map_err(|e| fail(client_message(&e, metric, "external.metrics.k8s.io")))?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Err("no metrics returned from external metrics API".into());
    }
    let values = items.iter().map(|i| i["value"].as_str().and_then(ironkube_quantity::milli_value).unwrap_or(0)).collect();
    let at = serde_json::from_value::<Time>(items[0]["timestamp"].clone()).map(|t| t.0).unwrap_or_else(|_| Timestamp::now());
    Ok((values, at))
}

/// A LabelSelector as a query string (`metav1.LabelSelectorAsSelector(...).String()`).
pub fn selector_string(sel: &LabelSelector) -> String {
    let mut parts: Vec<String> = sel.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default();
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({})", e.key, values.join(",")),
            "NotIn" => format!("{} notin ({})", e.key, values.join(",")),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.sort();
    parts.join(",")
}

/// A `*metav1.LabelSelector` as Go's `%+v` prints it in upstream's messages (its generated
/// `String()`; `nil` when absent).
pub fn go_selector(sel: Option<&LabelSelector>) -> String {
    let Some(sel) = sel else { return "nil".into() };
    let labels: String = sel.match_labels.iter().flatten().map(|(k, v)| format!("{k}: {v},")).collect();
    let exprs: String = sel
        .match_expressions
        .iter()
        .flatten()
        .map(|e| format!("LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},", e.key, e.operator, e.values.clone().unwrap_or_default().join(" ")))
        .collect();
    format!("&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("15s").unwrap(), SignedDuration::from_secs(15));
        assert_eq!(parse_go_duration("1m30s").unwrap(), SignedDuration::from_secs(90));
        assert_eq!(parse_go_duration("500ms").unwrap(), SignedDuration::from_millis(500));
        assert_eq!(parse_go_duration("1.5h").unwrap(), SignedDuration::from_mins(90));
        assert_eq!(parse_go_duration("0").unwrap(), SignedDuration::ZERO);
        assert_eq!(parse_go_duration("15").unwrap_err(), "time: missing unit in duration \"15\"");
        assert_eq!(parse_go_duration("15x").unwrap_err(), "time: unknown unit \"x\" in duration \"15x\"");
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn milli_quantities_are_canonical() {
        assert_eq!(milli_quantity(250).0, "250m");
        assert_eq!(milli_quantity(1000).0, "1");
        assert_eq!(milli_quantity(1500).0, "1500m");
        assert_eq!(milli_quantity(0).0, "0");
        assert_eq!(milli_quantity(104_857_600_000).0, "104857600");
        assert_eq!(milli_quantity(5_000_000).0, "5k");
    }

    #[test]
    fn pod_metrics_sum_containers_and_drop_incomplete_pods() {
        let list: PodMetricsList = serde_json::from_value(serde_json::json!({"items": [
            {"metadata": {"name": "a"}, "timestamp": "2026-01-01T00:00:00Z", "window": "10.5s",
             "containers": [{"name": "x", "usage": {"cpu": "100m", "memory": "1Mi"}}, {"name": "y", "usage": {"cpu": "250000000n"}}]},
            {"metadata": {"name": "b"}, "timestamp": "2026-01-01T00:00:00Z", "window": "30s", "containers": []},
        ]}))
        .unwrap();
        let cpu = pod_metrics(&list.items, "cpu", "");
        assert_eq!(cpu["a"].value, 350);
        assert_eq!(cpu["a"].window, SignedDuration::from_millis(10_500));
        assert!(!cpu.contains_key("b"));
        assert!(pod_metrics(&list.items, "memory", "").is_empty());
        assert_eq!(pod_metrics(&list.items, "memory", "x")["a"].value, 1_048_576_000);
        assert!(pod_metrics(&list.items, "memory", "y").is_empty());
    }

    #[test]
    fn selectors_print_as_upstream() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]})).unwrap();
        assert_eq!(selector_string(&sel), "a=1,b=2,k in (x,y)");
        assert_eq!(go_selector(Some(&sel)), "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}");
        assert_eq!(go_selector(None), "nil");
        assert_eq!(form_query("app in (a,b)"), "labelSelector=app%20in%20%28a%2Cb%29");
    }
}
