//! Small helpers for reading and defaulting `serde_json::Value` objects in upstream JSON
//! form. Absent and `null` are treated alike, as Go's nil pointers and empty strings are.

use serde_json::{Map, Value};

/// True when the key is missing, `null`, or an empty string (Go's zero value for strings
/// and nil pointers).
pub fn is_unset(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// Sets `obj[key] = value` when the key is unset (see [`is_unset`]). No-op on non-objects.
pub fn set_default(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut()
        && is_unset(map.get(key))
    {
        map.insert(key.to_string(), value);
    }
}

/// The object at `obj[key]`, created empty when missing or null. `None` if `obj` is not an
/// object or the key holds a non-object.
pub fn child<'a>(obj: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    let map = obj.as_object_mut()?;
    let slot = map.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.is_object().then_some(slot)
}

/// The object at `obj[key]` if present (never created).
pub fn existing<'a>(obj: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    obj.get_mut(key).filter(|v| v.is_object())
}

/// Calls `f` on every element of the array at `obj[key]`, if any.
pub fn each_mut(obj: &mut Value, key: &str, mut f: impl FnMut(&mut Value)) {
    if let Some(items) = obj.get_mut(key).and_then(Value::as_array_mut) {
        items.iter_mut().for_each(&mut f);
    }
}

/// The elements of the array at `obj[key]` (empty when absent).
pub fn items<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The string at `obj[key]`, or "".
pub fn s<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `obj[key]`, if it is one.
pub fn int(obj: &Value, key: &str) -> Option<i64> {
    obj.get(key).and_then(Value::as_i64)
}

/// The string map at `obj[key]` as sorted pairs (labels, selectors, annotations).
pub fn string_map(obj: &Value, key: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = obj
        .get(key)
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Number of keys of the object at `obj[key]` (0 when absent).
pub fn len_of(obj: &Value, key: &str) -> usize {
    match obj.get(key) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// The `kind` of the object (`Role` vs `ClusterRole` share a strategy).
pub fn kind_of(obj: &Value) -> &str {
    s(obj, "kind")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_default_only_fills_unset() {
        let mut v = json!({"a": "", "b": "x", "c": null});
        set_default(&mut v, "a", json!("A"));
        set_default(&mut v, "b", json!("B"));
        set_default(&mut v, "c", json!(1));
        set_default(&mut v, "d", json!(false));
        assert_eq!(v, json!({"a": "A", "b": "x", "c": 1, "d": false}));
    }

    #[test]
    fn child_creates_objects_but_not_over_scalars() {
        let mut v = json!({"x": 1});
        assert!(child(&mut v, "spec").is_some());
        assert!(child(&mut v, "x").is_none());
        assert_eq!(v["spec"], json!({}));
    }
}
