//! List ordering after a strategic merge, as upstream does it: patch items in
//! patch (or `$setElementOrder`) order, server-only items in live order,
//! interleaved by their live positions.

use super::directives::{bad_arg, no_merge_key};
use crate::patch::PatchError;
use serde_json::Value;

/// The value identifying a list item: its merge key value for maps, itself otherwise.
fn identity<'v>(item: &'v Value, merge_key: Option<&str>) -> Option<&'v Value> {
    match merge_key {
        Some(key) => item.get(key),
        None => Some(item),
    }
}

/// Position of `item` in `list` by identity, if present.
pub(super) fn index_of(list: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    let wanted = identity(item, merge_key);
    list.iter().position(|v| identity(v, merge_key) == wanted)
}

/// Splits `merged` into (items present in `by`, the others), keeping order.
pub(super) fn partition(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut present = Vec::with_capacity(merged.len());
    let mut others = Vec::new();
    for item in merged {
        if let Some(key) = merge_key {
            if !item.is_object() {
                return Err(bad_arg("map[string]interface {}", &item));
            }
            if item.get(key).is_none() {
                return Err(no_merge_key(&item, key));
            }
        }
        if index_of(by, &item, merge_key).is_some() {
            present.push(item);
        } else {
            others.push(item);
        }
    }
    Ok((present, others))
}

/// Stable sort of `items` by their position in `order`; unknown items go last.
fn sort_by_order(items: &mut [Value], order: &[Value], merge_key: Option<&str>) {
    items.sort_by_cached_key(|item| index_of(order, item, merge_key).unwrap_or(usize::MAX));
}

/// Upstream `normalizeElementOrder`: sorts `patch_items` by `patch_order` and
/// `server_only` by `server_order`, then interleaves them.
pub(super) fn normalize(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    if let Some(key) = merge_key {
        for item in patch_items.iter().chain(&server_only).chain(patch_order) {
            if item.get(key).is_none() {
                return Err(no_merge_key(item, key));
            }
        }
    }
    sort_by_order(&mut patch_items, patch_order, merge_key);
    sort_by_order(&mut server_only, server_order, merge_key);
    Ok(interleave(
        server_only,
        patch_items,
        server_order,
        merge_key,
    ))
}

/// Upstream `mergeSortedSlice`: takes from `right` (patch items) unless the next
/// `left` (server-only) item precedes it in the live order.
fn interleave(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (index_of(server_order, l, merge_key), index_of(server_order, r, merge_key)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(v: &[Value]) -> Vec<&str> {
        v.iter().map(|i| i["name"].as_str().unwrap()).collect()
    }

    #[test]
    fn server_items_keep_live_positions() {
        let live = vec![
            json!({"name": "a"}),
            json!({"name": "b"}),
            json!({"name": "c"}),
        ];
        let patch = vec![json!({"name": "b"}), json!({"name": "d"})];
        let merged = vec![
            json!({"name": "a"}),
            json!({"name": "b"}),
            json!({"name": "c"}),
            json!({"name": "d"}),
        ];
        let (p, s) = partition(merged, &patch, Some("name")).unwrap();
        let out = normalize(p, s, &patch, &live, Some("name")).unwrap();
        assert_eq!(names(&out), ["a", "b", "d", "c"]);
    }

    #[test]
    fn set_element_order_wins() {
        let live = vec![json!({"name": "a"}), json!({"name": "b"})];
        let order = vec![json!({"name": "b"}), json!({"name": "a"})];
        let (p, s) = partition(live.clone(), &order, Some("name")).unwrap();
        let out = normalize(p, s, &order, &live, Some("name")).unwrap();
        assert_eq!(names(&out), ["b", "a"]);
    }

    #[test]
    fn scalars() {
        let live = vec![json!("x"), json!("y")];
        let patch = vec![json!("z")];
        let merged = vec![json!("x"), json!("y"), json!("z")];
        let (p, s) = partition(merged, &patch, None).unwrap();
        assert_eq!(
            normalize(p, s, &patch, &live, None).unwrap(),
            vec![json!("z"), json!("x"), json!("y")]
        );
    }

    #[test]
    fn missing_merge_key_is_an_error() {
        let err = partition(vec![json!({"x": 1})], &[], Some("name")).unwrap_err();
        assert_eq!(err.status_code(), 500);
    }
}
