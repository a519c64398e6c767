//! `$setElementOrder/<field>` (upstream `mergePatchIntoOriginal`): merges the
//! named list together with its order directive and fixes the final order.

use super::context::Ctx;
use super::directives::{PATCH, SET_ELEMENT_ORDER, bad_arg, clean, field_of, no_merge_key};
use super::list::merge_list;
use super::order::{normalize, partition};
use crate::patch::PatchError;
use serde_json::{Map, Value};

/// Processes every `$setElementOrder/…` key of `patch` (removing it and the list
/// it orders from `patch`) into `original`.
pub(super) fn apply_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ctx: Ctx<'_>,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive in keys {
        let order = patch.shift_remove(&directive).unwrap_or(Value::Null);
        let Value::Array(order) = order else {
            return Err(bad_arg("[]interface {}", &order));
        };
        let field = field_of(&directive, SET_ELEMENT_ORDER)?.to_string();
        let original_list = take_list(original.get(&field))?;
        let patch_list = take_list(patch.get(&field))?;
        let (item_ctx, merge) = ctx.list_child(&field);
        let merge_key = merge.key();
        validate_order(patch_list.as_deref().unwrap_or(&[]), &order, merge_key)?;

        let live = original_list.clone().unwrap_or_default();
        let merged = match (original_list, patch_list) {
            (Some(o), None) => o,
            (None, Some(p)) => p.into_iter().filter_map(clean).collect(),
            (Some(o), Some(p)) => merge_list(o, p, item_ctx, merge, false)?,
            (None, None) => continue,
        };
        let key = (!merge_key.is_empty() && merged.iter().chain(&live).any(Value::is_object))
            .then_some(merge_key);
        let (in_order, server_only) = partition(merged, &order, key)?;
        let all = normalize(in_order, server_only, &order, &live, key)?;
        original.insert(field.clone(), Value::Array(all));
        patch.shift_remove(&field);
    }
    Ok(())
}

/// A list at `value`, `None` when absent; anything else is upstream's ErrBadArgType.
fn take_list(value: Option<&Value>) -> Result<Option<Vec<Value>>, PatchError> {
    match value {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(other) => Err(bad_arg("[]interface {}", other)),
    }
}

/// Upstream `validatePatchWithSetOrderList`: the patch items (deletions aside)
/// must appear in the order list, in the same relative order.
fn validate_order(patch: &[Value], order: &[Value], merge_key: &str) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = patch
        .iter()
        .filter(|item| {
            merge_key.is_empty() || item.get(PATCH).and_then(Value::as_str) != Some("delete")
        })
        .collect();
    let (mut p, mut o) = (0, 0);
    while p < items.len() && o < order.len() {
        if items[p].get(PATCH).is_some() {
            p += 1;
            continue;
        }
        if same_item(items[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < items.len() {
        return Err(PatchError::StrategicPatchFailed(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            Value::Array(patch.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}

fn same_item(left: &Value, right: &Value, merge_key: &str) -> Result<bool, PatchError> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    for v in [left, right] {
        if !v.is_object() {
            return Err(bad_arg("map[string]interface {}", v));
        }
        if v.get(merge_key).is_none() {
            return Err(no_merge_key(v, merge_key));
        }
    }
    Ok(left.get(merge_key) == right.get(merge_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_must_match_patch() {
        let patch = [json!({"name": "b"}), json!({"name": "a"})];
        let order = [json!({"name": "a"}), json!({"name": "b"})];
        let err = validate_order(&patch, &order, "name").unwrap_err();
        assert_eq!(err.status_code(), 500);
        assert!(validate_order(&patch[..1], &order, "name").is_ok());
        let with_delete = [
            json!({"name": "z", "$patch": "delete"}),
            json!({"name": "b"}),
        ];
        assert!(validate_order(&with_delete, &order, "name").is_ok());
    }
}
