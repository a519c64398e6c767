//! Schema-aware walks over JSON objects (structured-merge-diff's typed values): the
//! field set of an object, the merge of an applied configuration into the live
//! object, the comparison of two objects, and the removal of fields.
//!
//! The schema is the server's own table of the upstream types ([`crate::schema`], the
//! same facts `/openapi/v2` publishes as `x-kubernetes-list-type` and friends). Maps
//! merge key by key; lists are atomic, sets (`v:` items) or maps keyed by their
//! list-map keys (`k:` items). Values without a schema are "deduced": objects merge
//! key by key, lists and scalars are atomic.

use super::fieldset::{self, FieldSet};
use crate::schema::{self, Field, ListStrategy, Shape};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The schema of one value.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    /// An object with known fields.
    Struct(&'static [Field]),
    /// An object with arbitrary keys.
    Map {
        /// Definition of the values, None for scalars.
        value: Option<&'static str>,
        /// Owned as one unit (`x-kubernetes-map-type: atomic`).
        atomic: bool,
    },
    /// A list.
    List {
        /// Definition of the items, None for scalars.
        item: Option<&'static str>,
        /// Atomic, set, or map with its keys.
        strategy: ListStrategy,
    },
    /// A scalar, or a value owned as one unit.
    Leaf,
    /// No schema: objects are granular, everything else atomic.
    Deduced,
}

/// How a value is walked, from its schema and its actual JSON.
enum Walk {
    Leaf,
    Object,
    SetList,
    MapList(&'static [&'static str]),
}

/// An error in the applied configuration (upstream answers these as 422/400).
#[derive(Debug, PartialEq)]
pub struct ShapeError(pub String);

impl Ty {
    /// The type of a definition by OpenAPI name (`io.k8s.api.apps.v1.Deployment`).
    pub fn of_definition(name: Option<&str>) -> Ty {
        match name.and_then(schema::fields) {
            Some([]) => Ty::Leaf,
            Some(fields) => Ty::Struct(fields),
            None => Ty::Deduced,
        }
    }

    fn of_shape(shape: Shape) -> Ty {
        match shape {
            Shape::Scalar => Ty::Leaf,
            Shape::Object(def) => Ty::of_definition(Some(def)),
            Shape::List { item, strategy } => Ty::List { item, strategy },
            Shape::Map { value, atomic } => Ty::Map { value, atomic },
            Shape::Any => Ty::Deduced,
        }
    }

    /// The type of field or key `name` of an object of this type.
    pub fn field(self, name: &str) -> Ty {
        match self {
            Ty::Struct(fields) => match fields.binary_search_by(|f| f.json.cmp(name)) {
                Ok(i) => Ty::of_shape(fields[i].shape),
                Err(_) if matches!(name, "apiVersion" | "kind") => Ty::Leaf,
                Err(_) => Ty::Deduced,
            },
            Ty::Map { value, .. } => Ty::of_definition(value),
            _ => Ty::Deduced,
        }
    }

    /// Whether `name` is a declared field (struct fields are not members of a field
    /// set by themselves; map keys are).
    fn declares(self, name: &str) -> bool {
        matches!(self, Ty::Struct(fields) if fields.binary_search_by(|f| f.json.cmp(name)).is_ok())
    }

    fn item(self) -> Ty {
        match self {
            Ty::List { item: Some(def), .. } => Ty::of_definition(Some(def)),
            _ => Ty::Leaf,
        }
    }

    fn walk(self, v: &Value) -> Walk {
        match (self, v) {
            (Ty::Struct(_) | Ty::Map { atomic: false, .. } | Ty::Deduced, Value::Object(_)) => Walk::Object,
            (Ty::List { strategy: ListStrategy::Set, .. }, Value::Array(_)) => Walk::SetList,
            (Ty::List { strategy: ListStrategy::Map(keys), .. }, Value::Array(_)) => Walk::MapList(keys),
            _ => Walk::Leaf,
        }
    }
}

/// The path element of each item of a non-atomic list, checking for duplicates.
fn item_elements(walk: &Walk, items: &[Value]) -> Result<Vec<String>, ShapeError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let element = match walk {
            Walk::MapList(keys) => {
                let mut values = BTreeMap::new();
                for k in keys.iter() {
                    match item.get(*k).filter(|v| !v.is_null()).cloned().or_else(|| key_default(k)) {
                        Some(v) => {
                            values.insert(*k, v);
                        }
                        // A key the schema lists as optional-with-default on a later key
                        // (e.g. `protocol`) is defaulted above; a missing first key is an error.
                        None if values.is_empty() => {
                            return Err(ShapeError(format!(
                                "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                            )))
                        }
                        None => {}
                    }
                }
                fieldset::key(&values)
            }
            _ => fieldset::value(item),
        };
        if !seen.insert(element.clone()) {
            let shown = fieldset::display_path(std::slice::from_ref(&element));
            return Err(ShapeError(format!("duplicate entries for key {shown}")));
        }
        out.push(element);
    }
    Ok(out)
}

/// Schema defaults of list-map keys (upstream's OpenAPI declares `protocol`'s default
/// `TCP` on ports; structured-merge-diff fills missing keys from such defaults).
fn key_default(key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::from("TCP"))
}

/// The fields set in `v` (upstream `TypedValue.ToFieldSet`).
pub fn field_set(v: &Value, ty: Ty) -> Result<FieldSet, ShapeError> {
    let mut set = FieldSet::default();
    add_fields(v, ty, &mut Vec::new(), &mut set)?;
    Ok(set)
}

fn add_fields(v: &Value, ty: Ty, path: &mut Vec<String>, set: &mut FieldSet) -> Result<(), ShapeError> {
    match ty.walk(v) {
        Walk::Leaf => set.insert(path),
        Walk::Object => {
            for (k, child) in v.as_object().into_iter().flatten() {
                path.push(fieldset::field(k));
                add_fields(child, ty.field(k), path, set)?;
                let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                if empty || !ty.declares(k) {
                    set.insert(path);
                }
                path.pop();
            }
        }
        walk @ (Walk::SetList | Walk::MapList(_)) => {
            let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
            for (element, item) in item_elements(&walk, items)?.into_iter().zip(items) {
                path.push(element);
                add_fields(item, ty.item(), path, set)?;
                set.insert(path);
                path.pop();
            }
        }
    }
    Ok(())
}

/// `config` merged into `live` (upstream `TypedValue.Merge`): config wins on leaves,
/// objects merge key by key, set and map lists merge by item.
pub fn merge(live: &Value, config: &Value, ty: Ty) -> Result<Value, ShapeError> {
    match (ty.walk(config), live) {
        (Walk::Object, Value::Object(l)) => {
            let mut out = l.clone();
            for (k, c) in config.as_object().into_iter().flatten() {
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, c, ty.field(k))?,
                    None => c.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        (walk @ (Walk::SetList | Walk::MapList(_)), Value::Array(l)) => {
            let c = config.as_array().map(Vec::as_slice).unwrap_or_default();
            let live_keys = item_elements(&walk, l)?;
            let config_keys = item_elements(&walk, c)?;
            let config_at: BTreeMap<&String, usize> = config_keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
            let live_at: BTreeMap<&String, usize> = live_keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
            // Configuration items `range`, merged into their live twins.
            let emit = |range: std::ops::Range<usize>, out: &mut Vec<Value>| -> Result<(), ShapeError> {
                for (key, item) in config_keys[range.clone()].iter().zip(&c[range]) {
                    out.push(match live_at.get(key) {
                        Some(&li) => merge(&l[li], item, ty.item())?,
                        None => item.clone(),
                    });
                }
                Ok(())
            };
            // Live items keep their places; shared and new items follow the
            // configuration's order.
            let mut out = Vec::with_capacity(l.len() + c.len());
            let mut next_config = 0;
            for (li, key) in live_keys.iter().enumerate() {
                match config_at.get(key) {
                    None => out.push(l[li].clone()),
                    Some(&ci) if ci >= next_config => {
                        emit(next_config..ci + 1, &mut out)?;
                        next_config = ci + 1;
                    }
                    Some(_) => {} // already emitted in the configuration's order
                }
            }
            emit(next_config..c.len(), &mut out)?;
            Ok(Value::Array(out))
        }
        _ => Ok(config.clone()),
    }
}

/// What changed from `old` to `new` (upstream `TypedValue.Compare`).
#[derive(Debug, Default)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

/// Compares two whole objects.
pub fn compare(old: &Value, new: &Value, ty: Ty) -> Result<Comparison, ShapeError> {
    let mut c = Comparison::default();
    compare_at(Some(old), Some(new), ty, &mut Vec::new(), &mut c)?;
    Ok(c)
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

fn compare_at(old: Option<&Value>, new: Option<&Value>, ty: Ty, path: &mut Vec<String>, c: &mut Comparison) -> Result<(), ShapeError> {
    let walk_of = |v: Option<&Value>| v.map(|v| std::mem::discriminant(&ty.walk(v)));
    let same_walk = old.is_none() || new.is_none() || walk_of(old) == walk_of(new);
    let sample = new.or(old).expect("one side is present");
    let walk = if same_walk && !(is_empty_container(old) && is_empty_container(new)) { ty.walk(sample) } else { Walk::Leaf };
    match walk {
        Walk::Leaf => {
            match (old, new) {
                (None, Some(_)) => c.added.insert(path),
                (Some(_), None) => c.removed.insert(path),
                (Some(o), Some(n)) if o != n => c.modified.insert(path),
                _ => {}
            }
            return Ok(());
        }
        Walk::Object => {
            let empty = Map::new();
            let o = old.and_then(Value::as_object).unwrap_or(&empty);
            let n = new.and_then(Value::as_object).unwrap_or(&empty);
            for k in o.keys().chain(n.keys().filter(|k| !o.contains_key(*k))) {
                path.push(fieldset::field(k));
                compare_at(o.get(k), n.get(k), ty.field(k), path, c)?;
                path.pop();
            }
            // Struct-typed fields are not tracked as paths of their own (upstream
            // objects always carry their non-pointer structs, so they never appear).
            if matches!(ty, Ty::Struct(_)) {
                return Ok(());
            }
        }
        walk @ (Walk::SetList | Walk::MapList(_)) => {
            let none: Vec<Value> = Vec::new();
            let o = old.and_then(Value::as_array).unwrap_or(&none);
            let n = new.and_then(Value::as_array).unwrap_or(&none);
            let ok = item_elements(&walk, o)?;
            let nk = item_elements(&walk, n)?;
            let old_at: BTreeMap<&String, usize> = ok.iter().enumerate().map(|(i, k)| (k, i)).collect();
            let new_at: BTreeMap<&String, usize> = nk.iter().enumerate().map(|(i, k)| (k, i)).collect();
            for key in ok.iter().chain(nk.iter().filter(|k| !old_at.contains_key(k))) {
                path.push(key.clone());
                compare_at(old_at.get(key).map(|&i| &o[i]), new_at.get(key).map(|&i| &n[i]), ty.item(), path, c)?;
                path.pop();
            }
            // Lists are tracked by their items (upstream's entries show `f:containers`
            // without a `.` of its own).
            return Ok(());
        }
    }
    match (old, new) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        _ => {}
    }
    Ok(())
}

/// Removes from `v` the members of `remove`, except where `keep` owns something at or
/// below them (upstream `prune`: `RemoveItems`, then adding back owned items). A
/// container left empty by the removal goes too.
pub fn remove(v: &mut Value, ty: Ty, remove: &FieldSet, keep: Option<&FieldSet>) -> Result<(), ShapeError> {
    match ty.walk(v) {
        Walk::Leaf => {}
        Walk::Object => {
            let obj = v.as_object_mut().expect("walked as an object");
            for (element, sub) in &remove.children {
                let Some(name) = element.strip_prefix("f:") else { continue };
                let kept = keep.and_then(|k| k.child(element));
                if sub.member && kept.is_none() {
                    obj.remove(name);
                    continue;
                }
                if let Some(child) = obj.get_mut(name) {
                    let was_container = child.is_object() || child.is_array();
                    remove_child(child, ty.field(name), sub, kept)?;
                    if was_container && is_empty_container(Some(child)) && kept.is_none() {
                        obj.remove(name);
                    }
                }
            }
        }
        walk @ (Walk::SetList | Walk::MapList(_)) => {
            let items = v.as_array_mut().expect("walked as a list");
            let keys = item_elements(&walk, items)?;
            let mut out = Vec::with_capacity(items.len());
            for (key, mut item) in keys.into_iter().zip(items.drain(..)) {
                let sub = remove.child(&key);
                let kept = keep.and_then(|k| k.child(&key));
                match sub {
                    Some(s) if s.member && kept.is_none() => continue,
                    Some(s) => remove_child(&mut item, ty.item(), s, kept)?,
                    None => {}
                }
                out.push(item);
            }
            *items = out;
        }
    }
    Ok(())
}

fn remove_child(v: &mut Value, ty: Ty, sub: &FieldSet, keep: Option<&FieldSet>) -> Result<(), ShapeError> {
    if sub.children.is_empty() {
        return Ok(());
    }
    remove(v, ty, sub, keep)
}
