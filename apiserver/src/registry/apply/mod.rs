//! Server-side apply and field ownership (upstream `fieldmanager` over
//! structured-merge-diff), for every kind the registry serves.
//!
//! Every write records who set which field in `metadata.managedFields`:
//! [`track_update`] for create, update and the non-apply patches (operation `Update`),
//! [`apply`] for `application/apply-patch+yaml` (operation `Apply`), which merges the
//! applied configuration into the live object by the schema, removes the fields the
//! manager applied before and no longer applies (unless someone else owns them), and
//! refuses to change fields other managers own unless forced.

mod fieldset;
mod managers;
mod typed;
#[cfg(test)]
mod tests;

use super::meta::{metadata_mut, now};
pub use fieldset::FieldSet;
use managers::{Entry, APPLY, UPDATE};
pub use typed::{ShapeError, Ty};
use serde_json::{json, Value};

/// The annotation of client-side apply, kept in step by `kubectl` server-side applies.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Who writes what.
#[derive(Clone, Copy, Debug)]
pub struct Writer<'a> {
    /// The kind's schema.
    pub ty: Ty,
    /// `apps/v1`.
    pub api_version: &'a str,
    /// The field manager.
    pub manager: &'a str,
    /// `status`, `scale`, ... or None for the main resource.
    pub subresource: Option<&'a str>,
    /// Whether the kind has a status that the main resource's writes reset.
    pub has_status: bool,
}

/// A failed apply.
#[derive(Debug)]
pub enum ApplyError {
    /// The configuration does not fit the schema (duplicate list keys, ...).
    Shape(ShapeError),
    /// Fields owned by other managers would change: (manager as upstream prints it, path).
    Conflicts(Vec<(String, String)>),
}

impl From<ShapeError> for ApplyError {
    fn from(e: ShapeError) -> Self {
        ApplyError::Shape(e)
    }
}

impl ApplyError {
    /// Upstream's conflict message (`Apply failed with N conflict(s): ...`).
    pub fn conflict_message(conflicts: &[(String, String)]) -> String {
        if let [(manager, path)] = conflicts {
            return format!("Apply failed with 1 conflict: conflict with {manager}: {path}");
        }
        let mut lines = Vec::new();
        let mut last: Option<&String> = None;
        for (manager, path) in conflicts {
            if last != Some(manager) {
                lines.push(format!("conflicts with {manager}:"));
                last = Some(manager);
            }
            lines.push(format!("- {path}"));
        }
        format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
    }
}

/// Fields no manager owns (upstream's `stripMeta` set and the reset fields of status).
fn owned_part(set: FieldSet, w: &Writer) -> FieldSet {
    let mut set = set;
    for member in ["f:apiVersion", "f:kind", "f:metadata"] {
        set.remove_member(&[member]);
    }
    for meta in IGNORED_METADATA {
        set.remove_member(&["f:metadata", meta]);
    }
    set.remove_subtree(&["f:metadata", "f:managedFields"]);
    match w.subresource {
        None if w.has_status => set.remove_subtree(&["f:status"]),
        Some("status") => {
            set.remove_subtree(&["f:spec"]);
            set.remove_subtree(&["f:metadata", "f:labels"]);
        }
        _ => {}
    }
    set.pruned()
}

/// Metadata fields no manager owns (upstream's fieldpath ignore list).
const IGNORED_METADATA: [&str; 10] = [
    "f:name",
    "f:namespace",
    "f:creationTimestamp",
    "f:selfLink",
    "f:uid",
    "f:clusterName",
    "f:generation",
    "f:resourceVersion",
    "f:deletionTimestamp",
    "f:deletionGracePeriodSeconds",
];

fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(md) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("managedFields");
    }
    out
}

fn store_entries(obj: &mut Value, entries: &[Entry]) {
    match managers::encode(entries) {
        Some(list) => {
            metadata_mut(obj).insert("managedFields".into(), list);
        }
        None => {
            metadata_mut(obj).remove("managedFields");
        }
    }
}

/// Records an `Update` by `w` from `old` (None on create) to `new` in
/// `new.metadata.managedFields` (upstream `FieldManager.Update`): managed fields sent
/// with the object replace the stored ones (on the main resource); the writer takes
/// the fields it added or changed from everyone, removed fields leave every set.
pub fn track_update(w: &Writer, old: Option<&Value>, new: &mut Value) -> Result<(), ShapeError> {
    let empty = json!({});
    let old = old.unwrap_or(&empty);
    let mut entries = (w.subresource.is_none().then(|| managers::decode(new)).flatten())
        .or_else(|| managers::decode(old))
        .unwrap_or_default();
    let cmp = typed::compare(&without_managed_fields(old), &without_managed_fields(new), w.ty)?;
    let changed = cmp.added.union(&cmp.modified);
    for e in &mut entries {
        e.set = e.set.difference(&changed).difference(&cmp.removed);
    }
    let mine = owned_part(changed, w);
    if !mine.is_empty() {
        let subresource = w.subresource.unwrap_or("");
        match entries.iter_mut().find(|e| e.is(w.manager, UPDATE, subresource, w.api_version)) {
            Some(e) => {
                e.set = e.set.union(&mine);
                e.time = Some(now());
            }
            None => entries.push(Entry {
                manager: w.manager.to_string(),
                operation: UPDATE.into(),
                api_version: w.api_version.to_string(),
                time: Some(now()),
                subresource: subresource.to_string(),
                set: mine,
            }),
        }
    }
    store_entries(new, &entries);
    Ok(())
}

/// Server-side apply of `config` by `w` to `live` (an empty object when creating):
/// the merged object, with its `managedFields`, ready for the update path.
pub fn apply(w: &Writer, live: &Value, config: &Value, force: bool) -> Result<Value, ApplyError> {
    let subresource = w.subresource.unwrap_or("");
    let mut entries = managers::decode(live).unwrap_or_default();
    let live_plain = without_managed_fields(live);
    let mut merged = typed::merge(&live_plain, config, w.ty)?;
    let applied = owned_part(typed::field_set(config, w.ty)?, w);
    let mine = entries.iter().position(|e| e.is(w.manager, APPLY, subresource, w.api_version));
    let previous = mine.map(|i| entries[i].set.clone()).unwrap_or_default();
    // Fields this manager applied before and omits now go, unless someone owns them.
    let dropped = previous.difference(&applied);
    if !dropped.is_empty() {
        let owned = entries
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != mine)
            .fold(applied.clone(), |acc, (_, e)| acc.union(&e.set));
        typed::remove(&mut merged, w.ty, &dropped, Some(&owned))?;
    }
    let cmp = typed::compare(&live_plain, &merged, w.ty)?;
    let changed = cmp.added.union(&cmp.modified);
    let mut conflicts = Vec::new();
    let mut conflicting = FieldSet::default();
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) == mine {
            continue;
        }
        let taken = e.set.intersection(&changed);
        for path in taken.paths() {
            conflicts.push((e.display(), fieldset::display_path(&path)));
        }
        conflicting = conflicting.union(&taken);
        e.set = e.set.difference(&taken).difference(&cmp.removed);
    }
    let allowed = || allowed_by_last_applied(w, &live_plain).is_some_and(|a| conflicting.difference(&a).is_empty());
    if !conflicts.is_empty() && !force && !allowed() {
        conflicts.sort();
        return Err(ApplyError::Conflicts(conflicts));
    }
    let object_changed = !cmp.added.is_empty() || !cmp.modified.is_empty() || !cmp.removed.is_empty();
    match mine {
        Some(i) => {
            let e = &mut entries[i];
            if object_changed || e.set != applied || e.api_version != w.api_version {
                e.time = Some(now());
            }
            e.set = applied;
            e.api_version = w.api_version.to_string();
        }
        None => entries.push(Entry {
            manager: w.manager.to_string(),
            operation: APPLY.into(),
            api_version: w.api_version.to_string(),
            time: Some(now()),
            subresource: subresource.to_string(),
            set: applied,
        }),
    }
    store_entries(&mut merged, &entries);
    sync_last_applied(w, live, config, &mut merged);
    Ok(merged)
}

/// Upstream's `lastAppliedManager`: a `kubectl` server-side apply may take over the
/// fields a client-side apply recorded in the annotation, where they still hold their
/// applied values (kubectl then migrates the client-side manager's entry itself).
fn allowed_by_last_applied(w: &Writer, live: &Value) -> Option<FieldSet> {
    if w.manager != "kubectl" {
        return None;
    }
    let text = live.pointer("/metadata/annotations")?.get(LAST_APPLIED)?.as_str()?;
    let last: Value = serde_json::from_str(text).ok()?;
    let set = typed::field_set(&last, w.ty).ok()?;
    let cmp = typed::compare(&last, live, w.ty).ok()?;
    Some(set.difference(&cmp.modified).difference(&cmp.added).difference(&cmp.removed))
}

/// Upstream's `lastAppliedUpdater`: a `kubectl` server-side apply to an object that
/// was client-side applied before keeps the annotation in step, so a later
/// client-side apply computes the right patch.
fn sync_last_applied(w: &Writer, live: &Value, config: &Value, merged: &mut Value) {
    let annotations = "/metadata/annotations";
    if w.manager != "kubectl" || live.pointer(annotations).and_then(|a| a.get(LAST_APPLIED)).is_none() {
        return;
    }
    let mut applied = config.clone();
    if let Some(a) = applied.pointer_mut(annotations).and_then(Value::as_object_mut) {
        a.remove(LAST_APPLIED);
        if a.is_empty() {
            metadata_mut(&mut applied).remove("annotations");
        }
    }
    let md = metadata_mut(merged);
    if let Some(a) = md.get_mut("annotations").and_then(Value::as_object_mut) {
        a.insert(LAST_APPLIED.into(), Value::String(applied.to_string()));
    }
}
