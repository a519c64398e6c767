//! Strategic merge patch with upstream semantics (`strategicpatch.StrategicMergeMapPatch`
//! as used by kube-apiserver): maps merge, `null` deletes, lists merge by the
//! schema's patch merge key or as sets, directives are applied and never kept.

mod context;
mod directives;
mod element_order;
mod list;
mod order;

use crate::patch::PatchError;
use crate::schema;
use context::Ctx;
use directives::{DELETE_FROM_PRIMITIVE_LIST, PATCH, clean, clean_map, field_of};
use serde_json::{Map, Value};

/// Applies the strategic merge patch `patch` to `original`, an object of OpenAPI
/// definition `definition`.
pub(super) fn apply(definition: &str, original: &Value, patch: Value) -> Result<Value, PatchError> {
    if schema::fields(definition).is_none() {
        return Err(PatchError::StrategicMergeUnsupported);
    }
    let Value::Object(patch) = patch else {
        return Err(PatchError::Malformed(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&patch)
        )));
    };
    let original = match original {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    merge_map(original, patch, Ctx::Def(definition)).map(Value::Object)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null | Value::Object(_) => "object",
    }
}

/// Upstream `mergeMap`: merges `patch` into `original` under schema `ctx`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ctx: Ctx<'_>,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.shift_remove(PATCH) {
        match directive.as_str() {
            Some("replace") => return Ok(clean_map(patch)),
            Some("delete") => return Ok(Map::new()),
            // Upstream rejects `$patch: merge` on maps; merging is what it asks for.
            Some("merge") => {}
            _ => {
                return Err(PatchError::StrategicPatchFailed(format!(
                    "unknown patch type: {directive} in map: {}",
                    Value::Object(patch)
                )));
            }
        }
    }
    directives::apply_retain_keys(&mut original, &mut patch)?;
    element_order::apply_set_element_order(&mut original, &mut patch, ctx)?;

    for (key, patch_value) in patch {
        let (key, delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (
                field_of(&key, DELETE_FROM_PRIMITIVE_LIST)?.to_string(),
                true,
            )
        } else {
            (key, false)
        };
        if patch_value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let Some(slot) = original.get_mut(&key) else {
            if !delete_list {
                set_new(&mut original, key, patch_value);
            }
            continue;
        };
        if std::mem::discriminant(slot) != std::mem::discriminant(&patch_value) {
            if !delete_list {
                set_new(&mut original, key, patch_value);
            }
            continue;
        }
        match (std::mem::take(slot), patch_value) {
            (Value::Object(orig), Value::Object(patch_map)) => {
                let (child, replace) = ctx.map_child(&key);
                *slot = Value::Object(if replace {
                    clean_map(patch_map)
                } else {
                    merge_map(orig, patch_map, child)?
                });
            }
            (Value::Array(orig), Value::Array(patch_list)) => {
                let (item_ctx, merge) = ctx.list_child(&key);
                *slot = Value::Array(list::merge_list(
                    orig,
                    patch_list,
                    item_ctx,
                    merge,
                    delete_list,
                )?);
            }
            (_, scalar) => *slot = scalar,
        }
    }
    Ok(original)
}

/// Sets `key` to a patch value taken as-is (cleaned of directives and nulls);
/// a value that is itself a `$patch` map removes the key.
fn set_new(original: &mut Map<String, Value>, key: String, value: Value) {
    match clean(value) {
        Some(value) => {
            original.insert(key, value);
        }
        None => {
            original.shift_remove(&key);
        }
    }
}

#[cfg(test)]
mod tests;
