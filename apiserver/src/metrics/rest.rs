//! GET and LIST of `nodes` and `pods` in `metrics.k8s.io/v1beta1`, as metrics-server's
//! `pkg/api` (`node.go`, `pod.go`, `filter.go`, `table.go`) answers them: the objects
//! come from the Nodes and Pods (label selector, `metadata.name`/`metadata.namespace`
//! field selector) that have metrics; a named object without metrics is a 404
//! (`podmetrics.metrics.k8s.io "ns/name" not found`); other verbs are 405 (a watch with
//! upstream's "watch is not supported" message).

use super::format;
use super::points::{PodUsage, Usage};
use super::{GROUP, VERSION};
use crate::error::ApiError;
use crate::registry::kinds;
use crate::registry::strategies::quantity;
use crate::registry::selectors::FieldSelector;
use crate::registry::store::{ListOptions, Target};
use crate::registry::table::{self, IncludeObject};
use crate::server::handlers::json_response;
use crate::server::negotiate::Output;
use crate::server::request::ResourcePath;
use crate::server::AppState;
use axum::body::Body;
use http::{Response, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Answers a request for `/apis/metrics.k8s.io/...` (already authorized for `verb`).
pub async fn serve(state: &AppState, r: &ResourcePath, verb: &str, query: &HashMap<String, String>, output: Output) -> Result<Response<Body>, ApiError> {
    let resource = super::RESOURCES.iter().find(|res| res.name == r.resource).filter(|_| r.version == VERSION).ok_or(ApiError::NoRoute)?;
    if r.subresource.is_some() || (!resource.namespaced && r.namespace.is_some()) {
        return Err(ApiError::NoRoute);
    }
    if verb == "watch" {
        // metrics-server's storage is no Watcher.
        return Err(ApiError::MethodNotSupported { group: GROUP.into(), resource: resource.name.into(), action: "watch".into() });
    }
    if !super::VERBS.contains(&verb) || (r.namespace.is_none() && resource.namespaced && verb != "list") {
        return Err(ApiError::MethodNotAllowed);
    }
    let source = kinds::find("", "v1", resource.name).ok_or(ApiError::NoRoute)?;
    let target = Target { kind: source, namespace: r.namespace.as_deref() };
    let to_metrics = |obj: &Value| match resource.namespaced {
        true => pod_metrics(state, obj),
        false => node_metrics(state, obj),
    };
    if let Some(name) = r.name.as_deref() {
        let obj = state.store.get(target, name).await.map_err(|e| match e {
            // The node lister's wording (`node "x" not found`).
            ApiError::NotFound { name, .. } if !resource.namespaced => ApiError::NotFound { resource: "node".into(), group: String::new(), kind: "node".into(), name },
            other => other,
        })?;
        let metrics = to_metrics(&obj).ok_or_else(|| {
            let kind = if resource.namespaced { "podmetrics" } else { "nodemetrics" };
            let name = match r.namespace.as_deref() {
                Some(ns) => format!("{ns}/{name}"),
                None => name.to_string(),
            };
            ApiError::NotFound { resource: format!("{kind}.{GROUP}"), group: GROUP.into(), kind: kind.into(), name }
        })?;
        return Ok(respond(resource.namespaced, vec![metrics], false, output, query));
    }
    let fields = match query.get("fieldSelector").filter(|s| !s.is_empty()) {
        Some(s) => Some(field_selector(s)?),
        None => None,
    };
    let opts = ListOptions { label_selector: query.get("labelSelector").cloned(), ..Default::default() };
    let page = state.store.list(target, &opts).await?;
    let mut items = Vec::new();
    for item in &page.items {
        let obj = item.object(source)?;
        if let Some(fields) = &fields {
            let lookup = |f: &str| match f {
                "metadata.name" => obj["metadata"]["name"].as_str(),
                _ => Some(obj["metadata"]["namespace"].as_str().unwrap_or_default()),
            };
            if !fields.matches(lookup).map_err(ApiError::BadRequest)? {
                continue;
            }
        }
        items.extend(to_metrics(&obj));
    }
    // The order the API lists in: by namespace, then name.
    items.sort_by(|a, b| (&a["metadata"]["namespace"].as_str(), &a["metadata"]["name"].as_str()).cmp(&(&b["metadata"]["namespace"].as_str(), &b["metadata"]["name"].as_str())));
    Ok(respond(resource.namespaced, items, true, output, query))
}

/// A field selector over what metrics-server's scheme can select: only
/// `metadata.name` and `metadata.namespace` (apimachinery's default conversion).
fn field_selector(input: &str) -> Result<FieldSelector, ApiError> {
    let selector = FieldSelector::parse(input).map_err(ApiError::BadRequest)?;
    if let Some(other) = selector.fields().find(|f| !matches!(*f, "metadata.name" | "metadata.namespace")) {
        return Err(ApiError::BadRequest(format!("{other:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")));
    }
    Ok(selector)
}

fn metadata(obj: &Value, namespaced: bool) -> Value {
    let md = &obj["metadata"];
    let mut out = json!({ "name": md["name"] });
    if namespaced {
        out["namespace"] = md["namespace"].clone();
    }
    // metrics-server stamps the time of the request.
    out["creationTimestamp"] = json!(format::time(jiff::Timestamp::now().as_nanosecond() as i64));
    if md["labels"].as_object().is_some_and(|l| !l.is_empty()) {
        out["labels"] = md["labels"].clone();
    }
    out
}

fn usage(u: &Usage) -> Value {
    json!({ "cpu": format::cpu(u.cpu_nanocores), "memory": format::memory(u.memory) })
}

/// The NodeMetrics of a Node, if it has two points.
fn node_metrics(state: &AppState, node: &Value) -> Option<Value> {
    let name = node["metadata"]["name"].as_str()?;
    let u = state.metrics.with_points(|p| p.node(name))?;
    Some(json!({
        "kind": "NodeMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": metadata(node, false),
        "timestamp": format::time(u.timestamp_ns),
        "window": format::duration(u.window_ns),
        "usage": usage(&u),
    }))
}

/// The PodMetrics of a Pod, if every container has two points.
fn pod_metrics(state: &AppState, pod: &Value) -> Option<Value> {
    let (ns, name) = (pod["metadata"]["namespace"].as_str()?, pod["metadata"]["name"].as_str()?);
    let PodUsage { timestamp_ns, window_ns, containers } = state.metrics.with_points(|p| p.pod(ns, name))?;
    Some(json!({
        "kind": "PodMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": metadata(pod, true),
        "timestamp": format::time(timestamp_ns),
        "window": format::duration(window_ns),
        "containers": containers.iter().map(|(c, u)| json!({ "name": c, "usage": usage(u) })).collect::<Vec<_>>(),
    }))
}

fn respond(pods: bool, items: Vec<Value>, list: bool, output: Output, query: &HashMap<String, String>) -> Response<Body> {
    match output {
        Output::Table(version) => json_response(StatusCode::OK, &table_doc(&items, version, query), Output::Json, &[]),
        Output::Metadata(version) => {
            let partial = |o: &Value| table::partial_metadata(o, version);
            let doc = match list {
                true => json!({ "kind": "PartialObjectMetadataList", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": {}, "items": items.iter().map(partial).collect::<Vec<_>>() }),
                false => partial(&items[0]),
            };
            json_response(StatusCode::OK, &doc, Output::Json, &[])
        }
        other => {
            let doc = match list {
                true => json!({
                    "kind": if pods { "PodMetricsList" } else { "NodeMetricsList" },
                    "apiVersion": format!("{GROUP}/{VERSION}"),
                    "metadata": {},
                    "items": items,
                }),
                false => items.into_iter().next().unwrap_or_default(),
            };
            json_response(StatusCode::OK, &doc, if other == Output::Yaml { Output::Yaml } else { Output::Json }, &[])
        }
    }
}

/// metrics-server's Table: Name, one column per resource (sorted: cpu, memory), Window;
/// a pod's row sums its containers. No columns when there are no rows.
fn table_doc(items: &[Value], version: &str, query: &HashMap<String, String>) -> Value {
    let include = IncludeObject::parse(query.get("includeObject").map(String::as_str));
    let column = |name: &str, format: &str, description: &str| json!({ "name": name, "type": "string", "format": format, "description": description, "priority": 0 });
    let columns = match items.is_empty() {
        true => Value::Null,
        false => json!([column("Name", "name", "Name of the resource"), column("cpu", "quantity", ""), column("memory", "quantity", ""), column("Window", "duration", "")]),
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let (cpu, memory) = match o.get("usage") {
                Some(u) => (u["cpu"].clone(), u["memory"].clone()),
                None => pod_totals(o),
            };
            table::row(vec![o["metadata"]["name"].clone(), cpu, memory, o["window"].clone()], o, include, version)
        })
        .collect();
    json!({ "kind": "Table", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": {}, "columnDefinitions": columns, "rows": rows })
}

/// The sum of a PodMetrics' container usages, as quantities.
fn pod_totals(pod: &Value) -> (Value, Value) {
    let (mut cpu, mut memory) = (0u64, 0u64);
    for c in pod["containers"].as_array().into_iter().flatten() {
        // `nanos` reads a quantity in nano-units: nanocores for CPU.
        let read = |q: &Value, per_unit: i128| q.as_str().and_then(quantity::nanos).and_then(|n| u64::try_from(n / per_unit).ok()).unwrap_or(0);
        cpu += read(&c["usage"]["cpu"], 1);
        memory += read(&c["usage"]["memory"], 1_000_000_000);
    }
    (json!(format::cpu(cpu)), json!(format::memory(memory)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_selectors_only_on_metadata() {
        assert!(field_selector("metadata.name=a,metadata.namespace!=b").is_ok());
        let e = field_selector("spec.nodeName=x").unwrap_err();
        assert_eq!(e.to_string(), "\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"");
        assert_eq!(e.code(), 400);
    }

    #[test]
    fn pod_rows_sum_their_containers() {
        let pod = json!({"containers": [
            {"name": "a", "usage": {"cpu": "250m", "memory": "1Mi"}},
            {"name": "b", "usage": {"cpu": "1500u", "memory": "1024Ki"}},
        ]});
        assert_eq!(pod_totals(&pod), (json!("251500u"), json!("2Mi")));
        let doc = table_doc(&[json!({"metadata": {"name": "p"}, "window": "15s", "containers": pod["containers"]})], "v1", &HashMap::new());
        assert_eq!(doc["rows"][0]["cells"], json!(["p", "251500u", "2Mi", "15s"]));
        assert_eq!(doc["columnDefinitions"][1]["name"], "cpu");
        assert_eq!(table_doc(&[], "v1", &HashMap::new())["columnDefinitions"], Value::Null);
    }
}
