//! The OpenAPI 3.0 documents served at `/openapi/v3/<group-version>`: that document's paths
//! and only the schemas they reference, transitively.

use super::definitions::{names, V2_REF};
use super::model::{ApiDoc, Operation, PathItem, PATCH_TYPES};
use super::refs;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Prefix of every `$ref` in v3 documents.
pub(crate) const V3_REF: &str = "#/components/schemas/";

/// One v3 document. `definitions` are the v2-form definitions from
/// [`super::definitions::build`]; the needed ones are converted.
pub(crate) fn document(doc: &ApiDoc, definitions: &Map<String, Value>, version: &str) -> Value {
    let mut paths = Map::new();
    let mut roots = BTreeSet::new();
    for item in &doc.paths {
        let v = path_item(item, &mut roots);
        paths.insert(item.path.clone(), v);
    }
    let mut schemas = Map::new();
    for name in refs::closure(roots, definitions, V2_REF) {
        if let Some(def) = definitions.get(&name) {
            schemas.insert(name.clone(), definition(&name, def));
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}
            }
        }
    })
}

fn path_item(item: &PathItem, roots: &mut BTreeSet<String>) -> Value {
    let mut out = Map::new();
    for op in &item.ops {
        out.insert(op.method.as_str().into(), operation(op, roots));
    }
    if !item.params.is_empty() {
        out.insert("parameters".into(), item.params.iter().map(|p| p.v3()).collect());
    }
    Value::Object(out)
}

fn schema_ref(definition: &str, roots: &mut BTreeSet<String>) -> Value {
    roots.insert(definition.to_string());
    json!({"$ref": format!("{V3_REF}{definition}")})
}

fn operation(op: &Operation, roots: &mut BTreeSet<String>) -> Value {
    let mut out = json!({
        "tags": [op.tag],
        "description": op.description,
        "operationId": op.id,
    });
    if !op.params.is_empty() {
        out["parameters"] = op.params.iter().map(|p| p.v3()).collect();
    }
    if let Some(body) = &op.body {
        let types: Vec<&str> = if body.patch { PATCH_TYPES.to_vec() } else { vec!["*/*"] };
        let mut content = Map::new();
        for t in types {
            content.insert(t.into(), json!({"schema": schema_ref(&body.definition, roots)}));
        }
        let mut rb = json!({"content": content});
        if body.required {
            rb["required"] = Value::Bool(true);
        }
        out["requestBody"] = rb;
    }
    let mut responses = Map::new();
    for r in &op.responses {
        let mut v = json!({"description": r.description});
        if let Some(d) = &r.definition {
            let mut content = Map::new();
            for t in op.produces() {
                content.insert(t.into(), json!({"schema": schema_ref(d, roots)}));
            }
            v["content"] = Value::Object(content);
        }
        responses.insert(r.code.into(), v);
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    out["responses"] = Value::Object(responses);
    if let Some(action) = op.action {
        out["x-kubernetes-action"] = action.into();
    }
    if let Some(gvk) = &op.gvk {
        out["x-kubernetes-group-version-kind"] = gvk.to_value();
    }
    out
}

/// Converts one v2-form definition to v3 form.
pub(crate) fn definition(name: &str, def: &Value) -> Value {
    let mut v = convert(def);
    if let Some(obj) = v.as_object_mut() {
        let one_of = match name {
            names::INT_OR_STRING => Some(json!([{"type": "integer"}, {"type": "string"}])),
            names::QUANTITY => Some(json!([{"type": "string"}, {"type": "number"}])),
            _ => None,
        };
        if let Some(one_of) = one_of {
            obj.remove("type");
            obj.insert("oneOf".into(), one_of);
        }
    }
    v
}

/// Rewrites `$ref`s to components and wraps a `$ref` that has siblings (a description) in
/// `allOf`, as upstream does: OpenAPI 3.0 ignores `$ref` siblings, and kubectl explain
/// prints both the field's and the type's description from that shape.
fn convert(schema: &Value) -> Value {
    let Some(obj) = schema.as_object() else { return schema.clone() };
    let mut out = Map::new();
    for (k, v) in obj {
        let v = match k.as_str() {
            "properties" => match v.as_object() {
                Some(props) => Value::Object(props.iter().map(|(p, s)| (p.clone(), convert(s))).collect()),
                None => v.clone(),
            },
            "items" | "additionalProperties" | "not" => convert(v),
            "allOf" | "oneOf" | "anyOf" => match v.as_array() {
                Some(items) => items.iter().map(convert).collect(),
                None => v.clone(),
            },
            "$ref" => match v.as_str().and_then(|r| r.strip_prefix(V2_REF)) {
                Some(name) => Value::String(format!("{V3_REF}{name}")),
                None => v.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    if out.len() > 1
        && let Some(r) = out.remove("$ref")
    {
        out.insert("allOf".into(), json!([{"$ref": r}]));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_with_description_becomes_all_of() {
        let v = convert(&json!({"properties": {
            "spec": {"$ref": "#/definitions/X", "description": "d"},
            "bare": {"$ref": "#/definitions/Y"},
            "list": {"type": "array", "items": {"$ref": "#/definitions/Z"}},
        }}));
        assert_eq!(v["properties"]["spec"], json!({"description": "d", "allOf": [{"$ref": "#/components/schemas/X"}]}));
        assert_eq!(v["properties"]["bare"], json!({"$ref": "#/components/schemas/Y"}));
        assert_eq!(v["properties"]["list"]["items"], json!({"$ref": "#/components/schemas/Z"}));
    }

    #[test]
    fn int_or_string_is_a_union_in_v3() {
        let v = definition(names::INT_OR_STRING, &json!({"type": "string", "format": "int-or-string"}));
        assert!(v.get("type").is_none());
        assert_eq!(v["oneOf"], json!([{"type": "integer"}, {"type": "string"}]));
    }
}
