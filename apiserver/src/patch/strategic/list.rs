//! Merging two lists under strategic merge patch rules (upstream `mergeSlice`).

use super::context::{Ctx, ListMerge};
use super::directives::{PATCH, bad_arg, clean, no_merge_key};
use super::merge_map;
use super::order::{index_of, normalize, partition};
use crate::patch::PatchError;
use crate::patch::error::messages;
use serde_json::Value;

/// Merges list `patch` into list `original` according to `merge`;
/// `delete_list` marks a `$deleteFromPrimitiveList` list.
pub(super) fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    item_ctx: Ctx<'_>,
    merge: ListMerge,
    delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if merge == ListMerge::Replace && !delete_list {
        return Ok(patch.into_iter().filter_map(clean).collect());
    }
    merge_slice(original, patch, item_ctx, merge.key(), delete_list)
}

#[derive(PartialEq)]
enum ItemKind {
    Map,
    Scalar,
}

/// Upstream `sliceElementType`: all items must be of one JSON type, not lists.
fn item_kind(original: &[Value], patch: &[Value]) -> Result<ItemKind, PatchError> {
    let mut first: Option<&Value> = None;
    for item in original.iter().chain(patch) {
        if item.is_array() {
            return Err(PatchError::StrategicPatchInvalid(
                messages::NO_LIST_OF_LISTS,
            ));
        }
        match first {
            None => first = Some(item),
            Some(f) if std::mem::discriminant(f) != std::mem::discriminant(item) => {
                return Err(PatchError::StrategicPatchFailed(format!(
                    "list element types are not identical: {} and {}",
                    Value::Array(original.to_vec()),
                    Value::Array(patch.to_vec())
                )));
            }
            Some(_) => {}
        }
    }
    Ok(if first.is_some_and(Value::is_object) {
        ItemKind::Map
    } else {
        ItemKind::Scalar
    })
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    item_ctx: Ctx<'_>,
    merge_key: &str,
    delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    if item_kind(&original, &patch)? == ItemKind::Scalar {
        if delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for item in original.iter().chain(&patch) {
            if !merged.contains(item) {
                merged.push(item.clone());
            }
        }
        let (in_patch, server_only) = partition(merged, &patch, None)?;
        return normalize(in_patch, server_only, &patch, &original, None);
    }
    if merge_key.is_empty() {
        return Err(PatchError::StrategicPatchFailed(format!(
            "cannot merge lists without merge key for {}",
            item_ctx.name()
        )));
    }
    let (original, patch) = apply_item_directives(original, patch, merge_key)?;
    let merged = merge_items(original.clone(), &patch, merge_key, item_ctx)?;
    let (in_patch, server_only) = partition(merged, &patch, Some(merge_key))?;
    normalize(in_patch, server_only, &patch, &original, Some(merge_key))
}

/// Upstream `mergeSliceWithSpecialElements`: handles items carrying `$patch`.
/// Returns the new original and the patch items left to merge.
fn apply_item_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(PATCH) else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(value) = item.get(merge_key) else {
                    return Err(no_merge_key(&item, merge_key));
                };
                original.retain(|o| o.get(merge_key) != Some(value));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(PatchError::StrategicPatchFailed(
                    "merging lists cannot yet be specified in the patch".to_string(),
                ));
            }
            _ => {
                return Err(PatchError::StrategicPatchFailed(format!(
                    "unknown patch type: {directive} in map: {item}"
                )));
            }
        }
    }
    if replace {
        return Ok((rest.into_iter().filter_map(clean).collect(), Vec::new()));
    }
    Ok((original, rest))
}

/// Upstream `mergeSliceWithoutSpecialElements`: merges each patch item into the
/// original item with the same merge key value, or appends it.
fn merge_items(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    item_ctx: Ctx<'_>,
) -> Result<Vec<Value>, PatchError> {
    for item in patch {
        if item.get(merge_key).is_none() {
            return Err(no_merge_key(item, merge_key));
        }
        let Value::Object(patch_map) = item else {
            return Err(bad_arg("map[string]interface {}", item));
        };
        match index_of(&original, item, Some(merge_key)) {
            Some(i) => {
                let Value::Object(orig_map) = std::mem::take(&mut original[i]) else {
                    return Err(bad_arg("map[string]interface {}", &original[i]));
                };
                original[i] = Value::Object(merge_map(orig_map, patch_map.clone(), item_ctx)?);
            }
            None => original.extend(clean(item.clone())),
        }
    }
    Ok(original)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arr(v: Value) -> Vec<Value> {
        match v {
            Value::Array(a) => a,
            _ => panic!("not an array"),
        }
    }

    #[test]
    fn set_union_and_delete_list() {
        let set = ListMerge::Merge { key: "" };
        let out = merge_list(
            arr(json!(["a", "b"])),
            arr(json!(["b", "c"])),
            Ctx::Unknown,
            set,
            false,
        )
        .unwrap();
        assert_eq!(out, arr(json!(["a", "b", "c"])));
        let out = merge_list(
            arr(json!(["a", "b"])),
            arr(json!(["c"])),
            Ctx::Unknown,
            set,
            false,
        )
        .unwrap();
        assert_eq!(
            out,
            arr(json!(["c", "a", "b"])),
            "new items go first, like upstream"
        );
        let out = merge_list(
            arr(json!(["a", "b", "c"])),
            arr(json!(["b"])),
            Ctx::Unknown,
            set,
            true,
        )
        .unwrap();
        assert_eq!(out, arr(json!(["a", "c"])));
    }

    #[test]
    fn replace_strategy_takes_patch() {
        let out = merge_list(
            arr(json!([1, 2])),
            arr(json!([3])),
            Ctx::Unknown,
            ListMerge::Replace,
            false,
        )
        .unwrap();
        assert_eq!(out, arr(json!([3])));
    }

    #[test]
    fn item_directives() {
        let by_name = ListMerge::Merge { key: "name" };
        let original = arr(json!([{"name": "a", "v": 1}, {"name": "b", "v": 2}]));
        let out = merge_list(
            original.clone(),
            arr(json!([{"name": "a", "$patch": "delete"}])),
            Ctx::Unknown,
            by_name,
            false,
        )
        .unwrap();
        assert_eq!(out, arr(json!([{"name": "b", "v": 2}])));
        let out = merge_list(
            original.clone(),
            arr(json!([{"$patch": "replace"}, {"name": "c"}])),
            Ctx::Unknown,
            by_name,
            false,
        )
        .unwrap();
        assert_eq!(out, arr(json!([{"name": "c"}])));
        let err = merge_list(
            original.clone(),
            arr(json!([{"name": "a", "$patch": "bogus"}])),
            Ctx::Unknown,
            by_name,
            false,
        )
        .unwrap_err();
        assert_eq!(err.status_code(), 500);
        let err = merge_list(
            original,
            arr(json!([{"v": 3}])),
            Ctx::Unknown,
            by_name,
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("does not contain declared merge key: name")
        );
    }

    #[test]
    fn lists_of_lists_are_422() {
        let err = merge_list(
            arr(json!([[1]])),
            arr(json!([[2]])),
            Ctx::Unknown,
            ListMerge::Merge { key: "" },
            false,
        )
        .unwrap_err();
        assert_eq!(err.status_code(), 422);
    }
}
