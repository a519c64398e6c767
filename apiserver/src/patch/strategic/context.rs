//! Where a strategic merge patch is in the schema: which definition describes
//! the current map, and how its fields merge.

use crate::schema::{self, ListStrategy, Shape};

/// The schema of the map being merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ctx<'a> {
    /// An object of this OpenAPI definition.
    Def(&'a str),
    /// A map with arbitrary keys whose values are of this definition (or scalars).
    MapValues(Option<&'static str>),
    /// Free-form or unknown data: maps merge, lists are replaced.
    Unknown,
}

/// How a list field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListMerge {
    /// Replaced by the patch list (no `patchStrategy=merge` upstream).
    Replace,
    /// Merged: objects by this merge key, scalars as a set (`key` empty).
    Merge {
        /// The `patchMergeKey`, empty for lists of scalars.
        key: &'static str,
    },
}

impl ListMerge {
    /// The merge key, empty when there is none.
    pub(super) fn key(&self) -> &'static str {
        match self {
            ListMerge::Replace => "",
            ListMerge::Merge { key } => key,
        }
    }
}

impl<'a> Ctx<'a> {
    fn shape(&self, key: &str) -> Option<Shape> {
        match self {
            Ctx::Def(def) => schema::field(def, key).map(|f| f.shape),
            Ctx::MapValues(Some(def)) => Some(Shape::Object(def)),
            Ctx::MapValues(None) | Ctx::Unknown => None,
        }
    }

    /// The context of the map value at `key`, and whether upstream declares
    /// `patchStrategy=replace` for it.
    pub(super) fn map_child(&self, key: &str) -> (Ctx<'a>, bool) {
        let replace = matches!(self, Ctx::Def(def) if schema::patch_replaces(def, key));
        let child = match self.shape(key) {
            Some(Shape::Object(def)) => Ctx::Def(def),
            Some(Shape::Map { value, .. }) => Ctx::MapValues(value),
            _ => Ctx::Unknown,
        };
        (child, replace)
    }

    /// The context of the items of the list at `key`, and how the list merges.
    pub(super) fn list_child(&self, key: &str) -> (Ctx<'a>, ListMerge) {
        match self.shape(key) {
            Some(Shape::List { item, strategy }) => {
                let item_ctx = item.map_or(Ctx::Unknown, Ctx::Def);
                let merge = match strategy {
                    ListStrategy::Atomic => ListMerge::Replace,
                    ListStrategy::Set => ListMerge::Merge { key: "" },
                    ListStrategy::Map(keys) => ListMerge::Merge {
                        key: keys.first().copied().unwrap_or(""),
                    },
                };
                (item_ctx, merge)
            }
            _ => (Ctx::Unknown, ListMerge::Replace),
        }
    }

    /// A name for error messages.
    pub(super) fn name(&self) -> &str {
        match self {
            Ctx::Def(def) => def,
            Ctx::MapValues(Some(def)) => def,
            Ctx::MapValues(None) | Ctx::Unknown => "<unknown>",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigates_deployment_to_containers() {
        let (spec, replace) = Ctx::Def("io.k8s.api.apps.v1.Deployment").map_child("spec");
        assert!(!replace);
        let (tpl, _) = spec.map_child("template");
        let (pod_spec, _) = tpl.map_child("spec");
        assert_eq!(pod_spec, Ctx::Def("io.k8s.api.core.v1.PodSpec"));
        let (item, merge) = pod_spec.list_child("containers");
        assert_eq!(item, Ctx::Def("io.k8s.api.core.v1.Container"));
        assert_eq!(merge, ListMerge::Merge { key: "name" });
        assert_eq!(pod_spec.list_child("tolerations").1, ListMerge::Replace);
        assert_eq!(
            Ctx::Unknown.list_child("x"),
            (Ctx::Unknown, ListMerge::Replace)
        );
    }

    #[test]
    fn map_values_and_replace_strategy() {
        let (labels, _) =
            Ctx::Def("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").map_child("labels");
        assert_eq!(labels, Ctx::MapValues(None));
        let (_, replace) =
            Ctx::Def("io.k8s.api.policy.v1.PodDisruptionBudgetSpec").map_child("selector");
        assert!(replace);
    }
}
