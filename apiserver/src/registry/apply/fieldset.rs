//! Field sets (structured-merge-diff's `fieldpath.Set`) and their `FieldsV1` form.
//!
//! A set is a tree whose edges are path elements in their `FieldsV1` spelling:
//! `f:<field>` (a struct field or map key), `k:{"name":"web"}` (an item of an
//! associative list, its keys as sorted JSON), `v:"a"` (an item of a set list),
//! `i:0` (a list index). A node is a *member* when the path ending there is in the set.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Whether the path ending at this node is in the set.
    pub member: bool,
    /// Longer paths, by their next element.
    pub children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    /// No paths at all.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds `path`.
    pub fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// The node at `element`, if any.
    pub fn child(&self, element: &str) -> Option<&FieldSet> {
        self.children.get(element)
    }

    /// Whether `path` is a member.
    pub fn has(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Paths in `self` or `other`.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (k, v) in &other.children {
            let merged = match out.children.get(k) {
                Some(mine) => mine.union(v),
                None => v.clone(),
            };
            out.children.insert(k.clone(), merged);
        }
        out
    }

    /// Paths in `self` and not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && !other.member, children: BTreeMap::new() };
        for (k, v) in &self.children {
            let rest = match other.children.get(k) {
                Some(theirs) => v.difference(theirs),
                None => v.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(k.clone(), rest);
            }
        }
        out
    }

    /// Paths in both.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && other.member, children: BTreeMap::new() };
        for (k, v) in &self.children {
            if let Some(theirs) = other.children.get(k) {
                let both = v.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(k.clone(), both);
                }
            }
        }
        out
    }

    /// Removes `path` and everything under it (nodes left empty may stay: see
    /// [`FieldSet::pruned`]).
    pub fn remove_subtree(&mut self, path: &[&str]) {
        self.remove(path, true);
    }

    /// Removes the single member `path`; its children stay.
    pub fn remove_member(&mut self, path: &[&str]) {
        self.remove(path, false);
    }

    fn remove(&mut self, path: &[&str], subtree: bool) {
        let Some((first, rest)) = path.split_first() else { return };
        let Some(child) = self.children.get_mut(*first) else { return };
        match (rest.is_empty(), subtree) {
            (true, true) => {
                self.children.remove(*first);
            }
            (true, false) => child.member = false,
            (false, _) => child.remove(rest, subtree),
        }
    }

    /// The set without nodes that hold no path.
    pub fn pruned(mut self) -> FieldSet {
        self.children = std::mem::take(&mut self.children)
            .into_iter()
            .map(|(k, v)| (k, v.pruned()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        self
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, v) in &self.children {
            prefix.push(k.clone());
            v.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` JSON of the set: `{}` for a member leaf, `".": {}` marking a
    /// member that also has children.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        let children: Vec<_> = self.children.iter().filter(|(_, v)| !v.is_empty()).collect();
        if self.member && !children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, v) in children {
            map.insert(k.clone(), v.to_fields_v1());
        }
        Value::Object(map)
    }

    /// Parses `FieldsV1` JSON; `None` when it is not a FieldsV1 tree.
    pub fn from_fields_v1(v: &Value) -> Option<FieldSet> {
        let obj = v.as_object()?;
        let mut set = FieldSet::default();
        for (k, child) in obj {
            if k == "." {
                set.member = true;
                continue;
            }
            if !matches!(k.get(..2), Some("f:" | "k:" | "v:" | "i:")) {
                return None;
            }
            let mut node = FieldSet::from_fields_v1(child)?;
            if node.children.is_empty() {
                node.member = true;
            }
            set.children.insert(k.clone(), node);
        }
        Some(set)
    }
}

/// A path as upstream prints it in conflict messages: `.spec.replicas`,
/// `.spec.containers[name="web"].image`, `.metadata.finalizers[="a"]`.
pub fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        let (tag, rest) = element.split_at(2.min(element.len()));
        match tag {
            "f:" => {
                out.push('.');
                out.push_str(rest);
            }
            "k:" => {
                let keys: Map<String, Value> = serde_json::from_str(rest).unwrap_or_default();
                let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            "v:" => out.push_str(&format!("[={rest}]")),
            _ => out.push_str(&format!("[{rest}]")),
        }
    }
    out
}

/// The element of a struct field or map key.
pub fn field(name: &str) -> String {
    format!("f:{name}")
}

/// The element of an associative-list item with these key values (sorted by name).
pub fn key(keys: &BTreeMap<&str, Value>) -> String {
    let map: Map<String, Value> = keys.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    format!("k:{}", Value::Object(map))
}

/// The element of a set-list item.
pub fn value(v: &Value) -> String {
    format!("v:{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(paths: &[&[&str]]) -> FieldSet {
        let mut s = FieldSet::default();
        for p in paths {
            s.insert(&p.iter().map(|e| e.to_string()).collect::<Vec<_>>());
        }
        s
    }

    #[test]
    fn removing_a_member_keeps_its_children_and_a_subtree_goes_whole() {
        let mut s = set(&[&["f:metadata"], &["f:metadata", "f:name"], &["f:metadata", "f:labels", "f:app"], &["f:data", "f:a"]]);
        s.remove_member(&["f:metadata"]);
        s.remove_member(&["f:metadata", "f:name"]);
        s.remove_member(&["f:absent", "f:x"]);
        assert_eq!(s.clone().pruned().paths(), vec![vec!["f:data".to_string(), "f:a".into()], vec!["f:metadata".into(), "f:labels".into(), "f:app".into()]]);
        s.remove_subtree(&["f:metadata", "f:labels"]);
        let pruned = s.pruned();
        assert_eq!(pruned, set(&[&["f:data", "f:a"]]));
        assert!(pruned.child("f:metadata").is_none(), "an emptied node is pruned");
    }
}
