//! Tests of the gnostic protobuf form of `/openapi/v2`: decoded back with prost and read
//! the way kubectl reads it (kube-openapi `pkg/util/proto` `NewOpenAPIData`).

use super::gnostic::*;
use super::v2_proto::{to_message, to_protobuf};
use super::OpenApi;
use prost::Message;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::LazyLock;

static API: OpenApi = OpenApi::new();

static DOC: LazyLock<Document> = LazyLock::new(|| Document::decode(API.v2_protobuf().as_ref()).unwrap_or_default());

static JSON: LazyLock<Value> = LazyLock::new(|| serde_json::from_slice(&API.v2()).unwrap_or(Value::Null));

fn definitions(doc: &Document) -> BTreeMap<&str, &Schema> {
    let defs = doc.definitions.as_ref().map(|d| d.additional_properties.as_slice()).unwrap_or_default();
    defs.iter().filter_map(|n| Some((n.name.as_str(), n.value.as_ref()?))).collect()
}

/// A vendor extension's value, parsed from its YAML text as kubectl does.
fn extension(exts: &[NamedAny], name: &str) -> Option<Value> {
    let any = exts.iter().find(|e| e.name == name)?.value.as_ref()?;
    serde_yaml::from_str(&any.yaml).ok()
}

fn property<'a>(schema: &'a Schema, name: &str) -> Option<&'a Schema> {
    schema.properties.as_ref()?.additional_properties.iter().find(|p| p.name == name)?.value.as_ref()
}

fn types(schema: &Schema) -> Vec<&str> {
    schema.r#type.as_ref().map(|t| t.value.iter().map(String::as_str).collect()).unwrap_or_default()
}

#[test]
fn decodes_back_with_gvk_extensions_and_definitions() {
    let doc = &*DOC;
    assert_eq!(doc.swagger, "2.0");
    assert_eq!(doc.info.as_ref().map(|i| i.title.as_str()), Some("Kubernetes"));
    let defs = definitions(doc);
    assert_eq!(defs.len(), JSON["definitions"].as_object().map_or(0, |m| m.len()));

    let pod = defs["io.k8s.api.core.v1.Pod"];
    assert_eq!(extension(&pod.vendor_extension, "x-kubernetes-group-version-kind"), Some(json!([{"group": "", "kind": "Pod", "version": "v1"}])));
    assert_eq!(types(pod), ["object"]);
    assert_eq!(property(pod, "spec").map(|s| s.r#ref.as_str()), Some("#/definitions/io.k8s.api.core.v1.PodSpec"));
    assert!(!pod.description.is_empty());

    let deployment = defs["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        extension(&deployment.vendor_extension, "x-kubernetes-group-version-kind"),
        Some(json!([{"group": "apps", "kind": "Deployment", "version": "v1"}]))
    );

    // Every kind of the kinds table maps to its definition through its GVK, as kubectl
    // builds its GVK → model table.
    let mut by_gvk = BTreeMap::new();
    for (name, schema) in &defs {
        let Some(Value::Array(gvks)) = extension(&schema.vendor_extension, "x-kubernetes-group-version-kind") else { continue };
        for gvk in gvks {
            by_gvk.insert((gvk["group"].as_str().map(String::from), gvk["version"].as_str().map(String::from), gvk["kind"].as_str().map(String::from)), *name);
        }
    }
    for kind in crate::registry::kinds::KINDS.iter() {
        let key = (Some(kind.group.to_string()), Some(kind.version.to_string()), Some(kind.kind.to_string()));
        assert_eq!(by_gvk.get(&key), Some(&kind.definition.as_str()), "{}", kind.definition);
    }

    let containers = defs["io.k8s.api.core.v1.PodSpec"];
    assert!(containers.required.contains(&"containers".to_string()));
    let containers = property(containers, "containers").unwrap_or_else(|| panic!("PodSpec.containers"));
    assert_eq!(types(containers), ["array"]);
    let item = containers.items.as_ref().map(|i| i.schema.as_slice()).unwrap_or_default();
    assert_eq!(item.len(), 1);
    assert_eq!(item[0].r#ref, "#/definitions/io.k8s.api.core.v1.Container");
    assert_eq!(extension(&containers.vendor_extension, "x-kubernetes-patch-merge-key"), Some(json!("name")));
    assert_eq!(extension(&containers.vendor_extension, "x-kubernetes-list-map-keys"), Some(json!(["name"])));

    let data = property(defs["io.k8s.api.core.v1.ConfigMap"], "data").unwrap_or_else(|| panic!("ConfigMap.data"));
    assert_eq!(types(data), ["object"]);
    let value = match data.additional_properties.as_deref().and_then(|a| a.oneof.as_ref()) {
        Some(additional_properties_item::Oneof::Schema(s)) => types(s),
        other => panic!("ConfigMap.data additionalProperties: {other:?}"),
    };
    assert_eq!(value, ["string"]);

    let int_or_string = defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(int_or_string.format, "int-or-string");
    assert_eq!(extension(&int_or_string.vendor_extension, "x-kubernetes-int-or-string"), Some(json!(true)));
}

#[test]
fn the_served_document_converts_completely() {
    let (message, unconverted) = to_message(&JSON);
    assert!(unconverted.is_empty(), "{unconverted:#?}");
    assert_eq!(&message, &*DOC);
}

#[test]
fn patch_operations_declare_field_validation() {
    // kubectl's query-param verifier looks for `fieldValidation` on the PATCH of the GVK's path.
    let paths = DOC.paths.as_ref().map(|p| p.path.as_slice()).unwrap_or_default();
    assert_eq!(paths.len(), JSON["paths"].as_object().map_or(0, |m| m.len()));
    let item = paths.iter().find(|p| p.name == "/api/v1/namespaces/{namespace}/configmaps/{name}").and_then(|p| p.value.as_ref());
    let patch = item.and_then(|i| i.patch.as_ref()).unwrap_or_else(|| panic!("configmap PATCH"));
    assert_eq!(extension(&patch.vendor_extension, "x-kubernetes-group-version-kind"), Some(json!({"group": "", "kind": "ConfigMap", "version": "v1"})));
    assert!(patch.consumes.iter().any(|c| c == "application/strategic-merge-patch+json"));
    let query_names: Vec<&str> = patch
        .parameters
        .iter()
        .filter_map(|p| match &p.oneof {
            Some(parameters_item::Oneof::Parameter(Parameter { oneof: Some(parameter::Oneof::NonBodyParameter(nb)) })) => match &nb.oneof {
                Some(non_body_parameter::Oneof::QueryParameterSubSchema(q)) => Some(q.name.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(query_names.contains(&"fieldValidation"), "{query_names:?}");
    let body = patch.parameters.iter().find_map(|p| match &p.oneof {
        Some(parameters_item::Oneof::Parameter(Parameter { oneof: Some(parameter::Oneof::BodyParameter(b)) })) => Some(b),
        _ => None,
    });
    assert_eq!(body.and_then(|b| b.schema.as_ref()).map(|s| s.r#ref.as_str()), Some("#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"));
    let ok = patch.responses.as_ref().and_then(|r| r.response_code.iter().find(|c| c.name == "200"));
    match ok.and_then(|c| c.value.as_ref()).and_then(|v| v.oneof.as_ref()) {
        Some(response_value::Oneof::Response(r)) => {
            assert_eq!(r.schema.as_ref().and_then(|s| s.schema.as_ref()).map(|s| s.r#ref.as_str()), Some("#/definitions/io.k8s.api.core.v1.ConfigMap"));
        }
        other => panic!("200 response: {other:?}"),
    }
    // Path-level parameters (`name`, `namespace`) are path parameters.
    let path_params = item.map(|i| i.parameters.as_slice()).unwrap_or_default();
    assert!(path_params.iter().any(|p| matches!(&p.oneof,
        Some(parameters_item::Oneof::Parameter(Parameter { oneof: Some(parameter::Oneof::NonBodyParameter(NonBodyParameter {
            oneof: Some(non_body_parameter::Oneof::PathParameterSubSchema(pp)) })) })) if pp.name == "namespace" && pp.required)));
}

/// The rules kube-openapi's `NewOpenAPIData` enforces (kubectl rejects the whole document
/// when one definition breaks them): a `$ref` names a definition and has no type or
/// properties; an array has exactly one item schema; at most one type, a known one.
#[test]
fn every_definition_parses_as_kubectl_reads_it() {
    let defs = definitions(&DOC);
    fn check(s: &Schema, at: &str, names: &BTreeSet<&str>) {
        if !s.r#ref.is_empty() {
            let target = s.r#ref.strip_prefix("#/definitions/").unwrap_or_else(|| panic!("{at}: ref {}", s.r#ref));
            assert!(names.contains(target), "{at}: unknown model {target}");
            assert!(s.properties.as_ref().is_none_or(|p| p.additional_properties.is_empty()), "{at}: $ref with properties");
            assert!(types(s).is_empty(), "{at}: $ref with a type");
            return;
        }
        let t = types(s);
        assert!(t.len() <= 1, "{at}: several types");
        match t.first().copied() {
            Some("array") => {
                let items = s.items.as_ref().map(|i| i.schema.as_slice()).unwrap_or_default();
                assert_eq!(items.len(), 1, "{at}: array items");
                check(&items[0], &format!("{at}[]"), names);
            }
            Some("object") | None => {
                for p in s.properties.iter().flat_map(|p| &p.additional_properties) {
                    if let Some(v) = &p.value {
                        check(v, &format!("{at}.{}", p.name), names);
                    }
                }
                if let Some(additional_properties_item::Oneof::Schema(v)) = s.additional_properties.as_deref().and_then(|a| a.oneof.as_ref()) {
                    check(v, &format!("{at}{{}}"), names);
                }
            }
            Some(p) => assert!(["string", "number", "integer", "boolean"].contains(&p), "{at}: unknown primitive {p}"),
        }
    }
    let names: BTreeSet<&str> = defs.keys().copied().collect();
    for (name, schema) in &defs {
        check(schema, name, &names);
    }
}

#[test]
fn gnostic_mapping_of_the_unions() {
    let swagger = json!({
        "swagger": "2.0",
        "info": {"title": "t", "version": "v"},
        "parameters": {"q": {"in": "query", "name": "watch", "type": "boolean", "uniqueItems": true}},
        "paths": {
            "/x/{name}": {
                "parameters": [{"$ref": "#/parameters/q"}, {"in": "path", "name": "name", "required": true, "type": "string"}],
                "post": {
                    "parameters": [
                        {"in": "body", "name": "body", "required": true, "schema": {"$ref": "#/definitions/A"}},
                        {"in": "header", "name": "h", "type": "string"},
                        {"in": "formData", "name": "f", "type": "integer", "maximum": 3, "enum": [1, 2]}
                    ],
                    "responses": {"201": {"description": "Created", "schema": {"$ref": "#/definitions/A"}}, "default": {"$ref": "#/responses/e"}},
                    "x-kubernetes-action": "post"
                }
            }
        },
        "definitions": {
            "A": {
                "type": "object",
                "properties": {
                    "open": {"type": "object", "additionalProperties": true},
                    "either": {"type": ["string", "null"]},
                    "mode": {"type": "string", "enum": ["on", "off", ""], "default": "on"}
                },
                "x-kubernetes-unions": [{"discriminator": "mode", "fields-to-discriminateBy": {"open": "Open"}}]
            }
        },
        "securityDefinitions": {"BearerToken": {"description": "Bearer", "in": "header", "name": "authorization", "type": "apiKey"}},
        "security": [{"BearerToken": []}]
    });
    let (doc, unconverted) = to_message(&swagger);
    assert!(unconverted.is_empty(), "{unconverted:?}");
    assert_eq!(Document::decode(to_protobuf(&swagger).bytes.as_slice()).ok().as_ref(), Some(&doc));

    let item = doc.paths.as_ref().and_then(|p| p.path.first()).and_then(|p| p.value.as_ref()).unwrap_or_else(|| panic!("path"));
    assert!(matches!(&item.parameters[0].oneof, Some(parameters_item::Oneof::JsonReference(r)) if r.r#ref == "#/parameters/q"));
    let post = item.post.as_ref().unwrap_or_else(|| panic!("post"));
    let kinds: Vec<&str> = post
        .parameters
        .iter()
        .map(|p| match &p.oneof {
            Some(parameters_item::Oneof::Parameter(Parameter { oneof: Some(parameter::Oneof::BodyParameter(_)) })) => "body",
            Some(parameters_item::Oneof::Parameter(Parameter { oneof: Some(parameter::Oneof::NonBodyParameter(nb)) })) => match &nb.oneof {
                Some(non_body_parameter::Oneof::HeaderParameterSubSchema(_)) => "header",
                Some(non_body_parameter::Oneof::FormDataParameterSubSchema(f)) => {
                    assert_eq!(f.maximum, 3.0);
                    assert_eq!(f.r#enum.iter().map(|a| a.yaml.as_str()).collect::<Vec<_>>(), ["1\n", "2\n"]);
                    "formData"
                }
                _ => "other",
            },
            _ => "none",
        })
        .collect();
    assert_eq!(kinds, ["body", "header", "formData"]);
    let responses = post.responses.as_ref().map(|r| r.response_code.as_slice()).unwrap_or_default();
    assert_eq!(responses.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["201", "default"]);
    assert!(matches!(responses[1].value.as_ref().and_then(|v| v.oneof.as_ref()), Some(response_value::Oneof::JsonReference(_))));

    let a = definitions(&doc)["A"];
    let open = property(a, "open").and_then(|o| o.additional_properties.as_deref()).and_then(|a| a.oneof.as_ref());
    assert_eq!(open, Some(&additional_properties_item::Oneof::Boolean(true)));
    assert_eq!(property(a, "either").map(types), Some(vec!["string", "null"]));
    let mode = property(a, "mode").unwrap_or_else(|| panic!("mode"));
    // Strings stay quoted, so YAML 1.1 readers (kubectl's yaml.v2) keep `on` a string.
    assert_eq!(mode.r#enum.iter().map(|a| a.yaml.as_str()).collect::<Vec<_>>(), ["\"on\"\n", "\"off\"\n", "\"\"\n"]);
    assert_eq!(mode.default.as_ref().map(|d| d.yaml.as_str()), Some("\"on\"\n"));
    let unions = extension(&a.vendor_extension, "x-kubernetes-unions");
    assert_eq!(unions, Some(json!([{"discriminator": "mode", "fields-to-discriminateBy": {"open": "Open"}}])));
    let security = doc.security_definitions.as_ref().map(|s| s.additional_properties.as_slice()).unwrap_or_default();
    assert!(matches!(security[0].value.as_ref().and_then(|v| v.oneof.as_ref()),
        Some(security_definitions_item::Oneof::ApiKeySecurity(k)) if k.name == "authorization" && k.r#in == "header"));
    assert_eq!(doc.security[0].additional_properties[0].name, "BearerToken");
}

#[test]
fn what_gnostic_rejects_is_reported_not_dropped() {
    let swagger = json!({"swagger": "2.0", "definitions": {"A": {"type": "array", "items": [{"type": "string"}], "nullable": true}}});
    let (_, unconverted) = to_message(&swagger);
    assert_eq!(unconverted, ["A: schema", "A: nullable"]);
}

/// Upstream's own v1.35 swagger.json converts without loss (when the reference data is present).
#[test]
fn upstream_swagger_converts_completely() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/k8s-v1.35/api/openapi-spec/swagger.json");
    let Ok(text) = std::fs::read(path) else {
        eprintln!("reference swagger.json absent: skipping");
        return;
    };
    let swagger: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
    let (doc, unconverted) = to_message(&swagger);
    assert!(unconverted.is_empty(), "{unconverted:#?}");
    assert_eq!(definitions(&doc).len(), swagger["definitions"].as_object().map_or(0, |m| m.len()));
}
