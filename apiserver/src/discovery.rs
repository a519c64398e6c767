//! Discovery documents, all derived from the kinds table: `/api`, `/api/v1`, `/apis`,
//! `/apis/<group>`, `/apis/<group>/<version>` and aggregated discovery
//! (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`), which kubectl 1.35 asks for first.

use crate::metrics;
use crate::registry::kinds::{Kind, KINDS};
use serde_json::{json, Value};

/// Media type parameters of an aggregated discovery response.
pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Served groups (non-core) in table order, each with its versions in preference order;
/// then `metrics.k8s.io`, which is computed rather than stored (last, as upstream lists
/// an aggregated group of its priority).
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for k in KINDS.iter().filter(|k| !k.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == k.group) {
            Some((_, versions)) if !versions.contains(&k.version) => versions.push(k.version),
            Some(_) => {}
            None => out.push((k.group, vec![k.version])),
        }
    }
    out.push((metrics::GROUP, vec![metrics::VERSION]));
    out
}

/// The resources of the metrics group version, if that is what `group`/`version` name.
fn metrics_resources(group: &str, version: &str) -> &'static [metrics::Resource] {
    if group == metrics::GROUP && version == metrics::VERSION { metrics::RESOURCES } else { &[] }
}

fn kinds_of<'a>(group: &'a str, version: &'a str) -> impl Iterator<Item = &'static Kind> + 'a {
    KINDS.iter().filter(move |k| k.group == group && k.version == version)
}

/// Upstream `StorageVersionHash`: base64 of the first 8 bytes of sha256("group/version/kind").
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    use base64::Engine;
    let digest = openssl::sha::sha256(format!("{group}/{version}/{kind}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": server_address }],
    })
}

fn group_version(group: &str, version: &str) -> Value {
    json!({ "groupVersion": format!("{group}/{version}"), "version": version })
}

fn api_group(group: &str, versions: &[&str]) -> Value {
    json!({
        "name": group,
        "versions": versions.iter().map(|v| group_version(group, v)).collect::<Vec<_>>(),
        "preferredVersion": group_version(group, versions[0]),
    })
}

/// `/apis` (APIGroupList).
pub fn api_group_list() -> Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": groups().iter().map(|(g, vs)| api_group(g, vs)).collect::<Vec<_>>(),
    })
}

/// `/apis/<group>` (APIGroup), if served.
pub fn api_group_doc(group: &str) -> Option<Value> {
    let (g, vs) = groups().into_iter().find(|(g, _)| *g == group)?;
    let mut doc = api_group(g, &vs);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `/api/v1` or `/apis/<group>/<version>` (APIResourceList), if served.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for k in kinds_of(group, version) {
        let mut r = json!({
            "name": k.resource,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": k.verbs,
        });
        if !k.short_names.is_empty() {
            r["shortNames"] = json!(k.short_names);
        }
        if !k.categories.is_empty() {
            r["categories"] = json!(k.categories);
        }
        if k.verbs.contains(&"list") || k.verbs.contains(&"create") && k.verbs.len() > 1 {
            r["storageVersionHash"] = json!(storage_version_hash(k.group, k.version, k.kind));
        }
        resources.push(r);
        for s in &k.subresources {
            let mut sr = json!({
                "name": format!("{}/{}", k.resource, s.name),
                "singularName": "",
                "namespaced": k.namespaced,
                "kind": if s.kind.is_empty() { k.kind } else { s.kind },
                "verbs": s.verbs,
            });
            if !s.group.is_empty() {
                sr["group"] = json!(s.group);
                sr["version"] = json!(s.version);
            }
            resources.push(sr);
        }
    }
    for m in metrics_resources(group, version) {
        resources.push(json!({ "name": m.name, "singularName": "", "namespaced": m.namespaced, "kind": m.kind, "verbs": metrics::VERBS }));
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources }))
}

fn discovery_resource(k: &Kind) -> Value {
    let mut r = json!({
        "resource": k.resource,
        "responseKind": { "group": "", "version": "", "kind": k.kind },
        "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": k.singular,
        "verbs": k.verbs,
    });
    if !k.short_names.is_empty() {
        r["shortNames"] = json!(k.short_names);
    }
    if !k.categories.is_empty() {
        r["categories"] = json!(k.categories);
    }
    if !k.subresources.is_empty() {
        r["subresources"] = k
            .subresources
            .iter()
            .map(|s| {
                json!({
                    "subresource": s.name,
                    "responseKind": {
                        "group": s.group,
                        "version": s.version,
                        "kind": if s.kind.is_empty() { k.kind } else { s.kind },
                    },
                    "verbs": s.verbs,
                })
            })
            .collect();
    }
    r
}

/// A metrics resource in aggregated discovery, as the aggregator shows metrics-server's
/// (no singular name: metrics-server declares none).
fn metrics_discovery_resource(m: &metrics::Resource) -> Value {
    json!({
        "resource": m.name,
        "responseKind": { "group": "", "version": "", "kind": m.kind },
        "scope": if m.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": "",
        "verbs": metrics::VERBS,
    })
}

fn discovery_group(group: &str, versions: &[&str]) -> Value {
    let mut meta = json!({ "name": group });
    if group.is_empty() {
        meta = json!({});
    }
    json!({
        "metadata": meta,
        "versions": versions
            .iter()
            .map(|v| json!({
                "version": v,
                "resources": kinds_of(group, v).map(discovery_resource).chain(metrics_resources(group, v).iter().map(metrics_discovery_resource)).collect::<Vec<_>>(),
                "freshness": "Current",
            }))
            .collect::<Vec<_>>(),
    })
}

/// Aggregated discovery for `/api` (core only) or `/apis` (every other group).
pub fn aggregated(core: bool) -> Value {
    let items = if core {
        vec![discovery_group("", &["v1"])]
    } else {
        groups().iter().map(|(g, vs)| discovery_group(g, vs)).collect()
    };
    json!({ "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_version_hash_matches_upstream() {
        // Values from upstream's /apis/apps/v1 document.
        assert_eq!(storage_version_hash("apps", "v1", "DaemonSet"), "dd7pWHUlMKQ=");
        assert_eq!(storage_version_hash("apps", "v1", "ControllerRevision"), "85nkx63pcBU=");
    }

    #[test]
    fn aggregated_has_short_names_and_categories_outside_core() {
        let doc = aggregated(false);
        let apps = doc["items"].as_array().unwrap().iter().find(|g| g["metadata"]["name"] == "apps").unwrap();
        let deploy = apps["versions"][0]["resources"].as_array().unwrap().iter().find(|r| r["resource"] == "deployments").unwrap();
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["categories"], json!(["all"]));
        assert_eq!(deploy["subresources"][0]["responseKind"]["kind"], "Scale");
    }

    #[test]
    fn the_metrics_group_is_served_last_with_two_read_only_resources() {
        let list = api_group_list();
        let last = list["groups"].as_array().unwrap().last().unwrap();
        assert_eq!(last["name"], "metrics.k8s.io");
        assert_eq!(last["preferredVersion"]["groupVersion"], "metrics.k8s.io/v1beta1");
        assert_eq!(api_group_doc("metrics.k8s.io").unwrap()["kind"], "APIGroup");
        let resources = api_resource_list("metrics.k8s.io", "v1beta1").unwrap();
        assert_eq!(resources["resources"], json!([
            {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]},
        ]));
        assert!(api_resource_list("metrics.k8s.io", "v1").is_none());
        let doc = aggregated(false);
        let group = doc["items"].as_array().unwrap().last().unwrap();
        assert_eq!(group["metadata"]["name"], "metrics.k8s.io");
        assert_eq!(group["versions"][0]["resources"][1]["scope"], "Namespaced");
        assert_eq!(group["versions"][0]["resources"][0]["responseKind"]["kind"], "NodeMetrics");
    }
}
