//! The swagger 2.0 document served at `/openapi/v2`.

use super::definitions::V2_REF;
use super::model::{ApiDoc, Operation, PathItem};
use serde_json::{json, Map, Value};

/// The whole v2 document: every path of every document, and all definitions.
pub(crate) fn document(docs: &[ApiDoc], definitions: Map<String, Value>, version: &str) -> Value {
    let mut paths = Map::new();
    for item in docs.iter().flat_map(|d| &d.paths) {
        paths.insert(item.path.clone(), path_item(item));
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}
        },
        "security": [{"BearerToken": []}],
    })
}

fn path_item(item: &PathItem) -> Value {
    let mut out = Map::new();
    for op in &item.ops {
        out.insert(op.method.as_str().into(), operation(op));
    }
    if !item.params.is_empty() {
        out.insert("parameters".into(), item.params.iter().map(|p| p.v2()).collect());
    }
    Value::Object(out)
}

fn schema_ref(definition: &str) -> Value {
    json!({"$ref": format!("{V2_REF}{definition}")})
}

fn operation(op: &Operation) -> Value {
    let mut parameters: Vec<Value> = Vec::new();
    if let Some(body) = &op.body {
        let mut p = json!({"in": "body", "name": "body", "schema": schema_ref(&body.definition)});
        if body.required {
            p["required"] = Value::Bool(true);
        }
        parameters.push(p);
    }
    parameters.extend(op.params.iter().map(|p| p.v2()));
    let mut responses = Map::new();
    for r in &op.responses {
        let mut v = json!({"description": r.description});
        if let Some(d) = &r.definition {
            v["schema"] = schema_ref(d);
        }
        responses.insert(r.code.into(), v);
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    let mut out = json!({
        "consumes": op.consumes(),
        "description": op.description,
        "operationId": op.id,
        "produces": op.produces(),
        "responses": responses,
        "schemes": ["https"],
        "tags": [op.tag],
    });
    if !parameters.is_empty() {
        out["parameters"] = Value::Array(parameters);
    }
    if let Some(action) = op.action {
        out["x-kubernetes-action"] = action.into();
    }
    if let Some(gvk) = &op.gvk {
        out["x-kubernetes-group-version-kind"] = gvk.to_value();
    }
    out
}
