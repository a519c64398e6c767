//! Tests over the generated documents, some against upstream's v1.35 swagger.json when
//! the shared reference data is present (skipped otherwise).

use super::refs;
use super::OpenApi;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::LazyLock;

static API: OpenApi = OpenApi::new();

static V2: LazyLock<Value> = LazyLock::new(|| serde_json::from_slice(&API.v2()).unwrap_or(Value::Null));

fn v3(path: &str) -> Value {
    API.v3(path).and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null)
}

fn reference() -> Option<&'static Value> {
    static REF: LazyLock<Option<Value>> = LazyLock::new(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/reference/k8s-v1.35/api/openapi-spec/swagger.json");
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    });
    if REF.is_none() {
        eprintln!("reference swagger.json absent: skipping comparison");
    }
    REF.as_ref()
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    serde_json::json!({"group": group, "kind": kind, "version": version})
}

#[test]
fn kind_and_list_definitions_carry_gvk_lists() {
    let defs = &V2["definitions"];
    assert_eq!(defs["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"], serde_json::json!([gvk("apps", "v1", "Deployment")]));
    assert_eq!(defs["io.k8s.api.apps.v1.DeploymentList"]["x-kubernetes-group-version-kind"], serde_json::json!([gvk("apps", "v1", "DeploymentList")]));
    assert_eq!(defs["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"], serde_json::json!([gvk("", "v1", "Pod")]));
    let schemas = &v3("apis/apps/v1")["components"]["schemas"];
    assert_eq!(schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"], serde_json::json!([gvk("apps", "v1", "Deployment")]));
    // Every kind of the kinds table has a definition with its GVK in its v3 document.
    for kind in crate::registry::kinds::KINDS.iter() {
        let key = super::gvk::gv_key(kind.group, kind.version);
        let doc = v3(&key);
        let ext = &doc["components"]["schemas"][&kind.definition]["x-kubernetes-group-version-kind"];
        let list = ext.as_array().unwrap_or_else(|| panic!("{} has no GVK list in {key}", kind.definition));
        assert!(list.contains(&gvk(kind.group, kind.version, kind.kind)), "{}", kind.definition);
    }
}

#[test]
fn deployment_matches_upstream_definition() {
    let Some(reference) = reference() else { return };
    for name in ["io.k8s.api.apps.v1.Deployment", "io.k8s.api.apps.v1.DeploymentList", "io.k8s.api.apps.v1.DeploymentSpec"] {
        let ours = &V2["definitions"][name];
        let theirs = &reference["definitions"][name];
        let keys = |v: &Value| v["properties"].as_object().map(|m| m.keys().cloned().collect::<BTreeSet<_>>());
        assert_eq!(keys(ours), keys(theirs), "{name} properties");
        assert_eq!(set_of(&ours["required"]), set_of(&theirs["required"]), "{name} required");
        assert_eq!(ours["x-kubernetes-group-version-kind"], theirs["x-kubernetes-group-version-kind"], "{name} gvk");
    }
}

fn set_of(v: &Value) -> BTreeSet<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect()
}

/// We do not speak CBOR; upstream lists it among content types.
fn without_cbor(v: &Value) -> Value {
    match v.as_array() {
        Some(a) => a.iter().filter(|t| !t.as_str().is_some_and(|t| t.contains("cbor"))).cloned().collect(),
        None => v.clone(),
    }
}

/// Every definition we serve that upstream also has: same property names, required list,
/// and per property the same type, format and `$ref`.
#[test]
fn all_definitions_match_upstream_shapes() {
    let Some(reference) = reference() else { return };
    let mut problems = Vec::new();
    let defs = V2["definitions"].as_object().cloned().unwrap_or_default();
    for (name, ours) in &defs {
        let Some(theirs) = reference["definitions"].get(name) else {
            problems.push(format!("{name}: not upstream"));
            continue;
        };
        if set_of(&ours["required"]) != set_of(&theirs["required"]) {
            problems.push(format!("{name}: required {} vs {}", ours["required"], theirs["required"]));
        }
        let (Some(op), Some(tp)) = (ours["properties"].as_object(), theirs["properties"].as_object()) else { continue };
        for (prop, tv) in tp {
            let Some(ov) = op.get(prop) else {
                problems.push(format!("{name}.{prop}: missing"));
                continue;
            };
            for key in ["type", "format", "$ref"] {
                if ov[key] != tv[key] {
                    problems.push(format!("{name}.{prop}: {key} {} vs {}", ov[key], tv[key]));
                }
            }
            if ov["items"]["$ref"] != tv["items"]["$ref"] || ov["items"]["type"] != tv["items"]["type"] {
                problems.push(format!("{name}.{prop}: items differ"));
            }
        }
        for prop in op.keys().filter(|p| !tp.contains_key(*p)) {
            problems.push(format!("{name}.{prop}: not upstream"));
        }
    }
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));
}

/// For every path and method both documents have, the operationId, action and GVK agree.
#[test]
fn operations_match_upstream() {
    let Some(reference) = reference() else { return };
    let mut problems = Vec::new();
    let mut compared = 0;
    for (path, item) in V2["paths"].as_object().into_iter().flatten() {
        let Some(theirs) = reference["paths"].get(path) else {
            problems.push(format!("{path}: not upstream"));
            continue;
        };
        for (method, op) in item.as_object().into_iter().flatten().filter(|(m, _)| *m != "parameters") {
            let Some(top) = theirs.get(method) else {
                problems.push(format!("{method} {path}: not upstream"));
                continue;
            };
            compared += 1;
            for key in ["operationId", "x-kubernetes-action", "x-kubernetes-group-version-kind", "consumes"] {
                if op[key] != without_cbor(&top[key]) {
                    problems.push(format!("{method} {path}: {key} {} vs {}", op[key], top[key]));
                }
            }
        }
    }
    assert!(compared > 300, "compared only {compared}");
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn v3_apps_patch_declares_field_validation() {
    let doc = v3("apis/apps/v1");
    assert_eq!(doc["openapi"], "3.0.0");
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"], gvk("apps", "v1", "Deployment"));
    let params = patch["parameters"].as_array().cloned().unwrap_or_default();
    assert!(params.iter().any(|p| p["name"] == "fieldValidation" && p["in"] == "query"), "{patch}");
    let content = patch["requestBody"]["content"].as_object().cloned().unwrap_or_default();
    assert!(content.contains_key("application/strategic-merge-patch+json"));
    assert!(content.contains_key("application/merge-patch+json"));
}

/// kubectl takes the first PATCH operation with a matching GVK, in map order: all of them
/// (status, scale, ...) must declare fieldValidation.
#[test]
fn every_patch_and_write_operation_declares_field_validation() {
    for key in API.v3_paths() {
        let doc = v3(&key);
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in ["patch", "put", "post"] {
                let Some(op) = item.get(method) else { continue };
                let names: Vec<&str> = op["parameters"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
                for want in ["fieldValidation", "dryRun", "fieldManager"] {
                    assert!(names.contains(&want), "{method} {path} in {key} lacks {want}");
                }
                assert!(op["x-kubernetes-group-version-kind"].is_object(), "{method} {path}");
            }
        }
    }
}

fn assert_refs_resolve(doc: &Value, prefix: &str, container: &Value, label: &str) {
    let mut found = BTreeSet::new();
    refs::collect(doc, prefix, &mut found);
    assert!(!found.is_empty(), "{label}: no refs at all");
    for name in found {
        assert!(container.get(&name).is_some(), "{label}: unresolved $ref {name}");
    }
    // No ref in another form slipped through.
    let mut all = BTreeSet::new();
    refs::collect(doc, "", &mut all);
    assert!(all.iter().all(|r| r.starts_with(prefix)), "{label}: foreign refs");
}

#[test]
fn every_ref_resolves_within_its_document() {
    assert_refs_resolve(&V2, "#/definitions/", &V2["definitions"], "v2");
    for key in API.v3_paths() {
        let doc = v3(&key);
        assert_refs_resolve(&doc, "#/components/schemas/", &doc["components"]["schemas"], &key);
    }
}

#[test]
fn v3_documents_hold_only_what_they_reference() {
    let doc = v3("apis/apps/v1");
    let schemas = doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
    assert!(schemas.contains_key("io.k8s.api.core.v1.PodSpec"));
    assert!(schemas.contains_key("io.k8s.api.autoscaling.v1.Scale"));
    assert!(!schemas.contains_key("io.k8s.api.batch.v1.Job"));
    assert!(!schemas.contains_key("io.k8s.api.core.v1.Node"));
    let doc = v3("version");
    assert_eq!(doc["components"]["schemas"].as_object().map(|m| m.len()), Some(1));
}

#[test]
fn index_points_at_hashed_documents() {
    let index: Value = serde_json::from_slice(&API.v3_index()).unwrap_or(Value::Null);
    for key in ["api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "apis/batch/v1", "version"] {
        let hash = API.v3_hash(key).unwrap_or_default();
        assert_eq!(hash.len(), 128, "{key}");
        assert_eq!(index["paths"][key]["serverRelativeURL"], format!("/openapi/v3/{key}?hash={hash}"));
    }
    assert!(API.v3("apis/nope/v1").is_none());
    assert_eq!(API.v3("/apis/apps/v1/"), API.v3("apis/apps/v1"));
}

#[test]
fn pod_containers_carry_patch_merge_key() {
    let containers = &V2["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    let v3_containers = &v3("api/v1")["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(v3_containers["x-kubernetes-patch-merge-key"], "name");
}

#[test]
fn int_or_string_and_formats() {
    let defs = &V2["definitions"];
    assert_eq!(defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"], "int-or-string");
    assert_eq!(defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["x-kubernetes-int-or-string"], true);
    assert_eq!(defs["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"], "date-time");
    assert_eq!(defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]["format"], "int32");
}

/// Run with `--ignored --nocapture` to see generation time and sizes.
#[test]
#[ignore]
fn generation_time_and_sizes() {
    let api = OpenApi::new();
    let t = std::time::Instant::now();
    let v2 = api.v2();
    let t2 = t.elapsed();
    let t = std::time::Instant::now();
    let index = api.v3_index();
    let t3 = t.elapsed();
    let total: usize = api.v3_paths().iter().filter_map(|p| api.v3(p)).map(|b| b.len()).sum();
    println!("v2: {} bytes in {t2:?}; v3: {} documents, {total} bytes (+ index {} bytes) in {t3:?}", v2.len(), api.v3_paths().len(), index.len());
    for p in api.v3_paths() {
        println!("  {p}: {} bytes", api.v3(&p).map_or(0, |b| b.len()));
    }
}

/// Writes every document under `$OPENAPI_DUMP_DIR` (`v2.json`, `v3/index.json`,
/// `v3/<key>.json`) for trying them with a real kubectl; does nothing when it is unset.
#[test]
#[ignore]
fn dump_documents() {
    let Some(dir) = std::env::var_os("OPENAPI_DUMP_DIR").map(PathBuf::from) else { return };
    let write = |rel: &str, bytes: &[u8]| {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
        }
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    };
    write("v2.json", &API.v2());
    write("v3/index.json", &API.v3_index());
    for key in API.v3_paths() {
        write(&format!("v3/{key}.json"), &API.v3(&key).unwrap_or_default());
    }
}
