//! `$ref` handling: collecting the definitions a value references, transitively.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Adds every `$ref` target under `value` that starts with `prefix` to `out` (names only).
pub(crate) fn collect(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(name) = v.as_str().and_then(|r| r.strip_prefix(prefix)) {
                        out.insert(name.to_string());
                    }
                } else {
                    collect(v, prefix, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, prefix, out)),
        _ => {}
    }
}

/// The names in `roots` plus every definition they reference, transitively.
/// Names missing from `defs` are kept (callers check resolution separately).
pub(crate) fn closure(roots: BTreeSet<String>, defs: &Map<String, Value>, prefix: &str) -> BTreeSet<String> {
    let mut done = BTreeSet::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if !done.insert(name.clone()) {
            continue;
        }
        if let Some(def) = defs.get(&name) {
            let mut found = BTreeSet::new();
            collect(def, prefix, &mut found);
            todo.extend(found.into_iter().filter(|n| !done.contains(n)));
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn closure_follows_refs_transitively_and_stops_on_cycles() {
        let defs = json!({
            "A": {"properties": {"b": {"$ref": "#/definitions/B"}}},
            "B": {"items": {"$ref": "#/definitions/C"}},
            "C": {"properties": {"a": {"$ref": "#/definitions/A"}}},
            "D": {},
        });
        let defs = defs.as_object().cloned().unwrap_or_default();
        let got = closure(["A".to_string()].into(), &defs, "#/definitions/");
        assert_eq!(got.into_iter().collect::<Vec<_>>(), ["A", "B", "C"]);
    }
}
