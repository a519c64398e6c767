//! The query and path parameters operations declare, in one neutral form that the v2 and
//! v3 renderers both turn into JSON.

use serde_json::{json, Value};

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum In {
    /// In the URL path (`{name}`, `{namespace}`).
    Path,
    /// In the query string.
    Query,
}

/// One declared parameter.
#[derive(Clone, Debug)]
pub(crate) struct Param {
    /// Name, e.g. `fieldValidation`.
    pub name: &'static str,
    /// Location.
    pub location: In,
    /// JSON type: `string`, `boolean` or `integer`.
    pub ty: &'static str,
    /// Human description.
    pub description: String,
}

impl Param {
    fn query(name: &'static str, ty: &'static str, description: &str) -> Param {
        Param { name, location: In::Query, ty, description: description.to_string() }
    }

    /// The v2 (swagger 2.0) form.
    pub fn v2(&self) -> Value {
        let mut v = json!({
            "description": self.description,
            "in": self.in_str(),
            "name": self.name,
            "type": self.ty,
            "uniqueItems": true,
        });
        if self.location == In::Path {
            v["required"] = Value::Bool(true);
        }
        v
    }

    /// The v3 (OpenAPI 3.0) form.
    pub fn v3(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "in": self.in_str(),
            "description": self.description,
            "schema": {"type": self.ty, "uniqueItems": true},
        });
        if self.location == In::Path {
            v["required"] = Value::Bool(true);
        }
        v
    }

    fn in_str(&self) -> &'static str {
        match self.location {
            In::Path => "path",
            In::Query => "query",
        }
    }
}

/// `{name}` of the object of `kind`.
pub(crate) fn name(kind: &str) -> Param {
    Param { name: "name", location: In::Path, ty: "string", description: format!("name of the {kind}") }
}

/// `{namespace}`.
pub(crate) fn namespace() -> Param {
    Param {
        name: "namespace",
        location: In::Path,
        ty: "string",
        description: "object name and auth scope, such as for teams and projects".to_string(),
    }
}

/// `pretty`.
pub(crate) fn pretty() -> Param {
    Param::query("pretty", "string", "If 'true', the output is pretty printed.")
}

/// `dryRun`.
pub(crate) fn dry_run() -> Param {
    Param::query(
        "dryRun",
        "string",
        "When present, modifications are not persisted. Valid values: All (process all dry run stages). \
         An unrecognized directive is an error.",
    )
}

/// `fieldManager`.
pub(crate) fn field_manager() -> Param {
    Param::query(
        "fieldManager",
        "string",
        "Name of the actor making these changes: at most 128 printable characters. Required for apply \
         patches (application/apply-patch), optional otherwise.",
    )
}

/// `fieldValidation`: kubectl looks for it on PATCH operations to detect server-side validation.
pub(crate) fn field_validation() -> Param {
    Param::query(
        "fieldValidation",
        "string",
        "How the server handles unknown or duplicate fields in the request object (POST/PUT/PATCH). \
         Ignore: drop unknown fields silently and keep the last duplicate. Warn (default): drop them and \
         report each in a Warning header. Strict: reject the request with BadRequest listing them.",
    )
}

/// `force` (apply patches).
pub(crate) fn force() -> Param {
    Param::query(
        "force",
        "boolean",
        "Force an apply request: take ownership of fields that conflict with other managers. Must be \
         unset for non-apply patches.",
    )
}

/// Parameters of create (POST) and replace (PUT).
pub(crate) fn write() -> Vec<Param> {
    vec![dry_run(), field_manager(), field_validation()]
}

/// Parameters of patch.
pub(crate) fn patch() -> Vec<Param> {
    vec![dry_run(), field_manager(), field_validation(), force()]
}

/// Parameters of delete (one object).
pub(crate) fn delete() -> Vec<Param> {
    vec![
        dry_run(),
        Param::query(
            "gracePeriodSeconds",
            "integer",
            "Seconds before the object is deleted; must be non-negative, zero means delete immediately. \
             Unset means the type's default.",
        ),
        Param::query(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "boolean",
            "Delete an object whose stored data cannot be read (corrupt or undecryptable). Dangerous; \
             requires extra permission.",
        ),
        Param::query(
            "orphanDependents",
            "boolean",
            "Deprecated: use propagationPolicy. Whether dependents are orphaned.",
        ),
        Param::query(
            "propagationPolicy",
            "string",
            "Whether and how garbage collection is performed: Orphan, Background or Foreground.",
        ),
    ]
}

/// Parameters of list and watch (on the collection).
pub(crate) fn list() -> Vec<Param> {
    vec![
        Param::query(
            "allowWatchBookmarks",
            "boolean",
            "Ask for watch events of type BOOKMARK. Ignored unless watch is set; servers may not send them.",
        ),
        Param::query("continue", "string", "The continue token of a previous chunked list call."),
        Param::query("fieldSelector", "string", "Restrict returned objects by their fields."),
        Param::query("labelSelector", "string", "Restrict returned objects by their labels."),
        Param::query(
            "limit",
            "integer",
            "Maximum number of objects returned by a list call; more are available with continue.",
        ),
        Param::query("resourceVersion", "string", "Constrains which resource versions a request may be served from."),
        Param::query(
            "resourceVersionMatch",
            "string",
            "How resourceVersion applies to list calls: Exact or NotOlderThan.",
        ),
        Param::query(
            "sendInitialEvents",
            "boolean",
            "With watch=true, start the watch with synthetic ADDED events for the current state.",
        ),
        Param::query("timeoutSeconds", "integer", "Timeout for the list/watch call."),
        Param::query("watch", "boolean", "Watch for changes and return them as a stream of add, update and remove events."),
    ]
}

/// Parameters of deletecollection: delete's plus list's (without the watch ones).
pub(crate) fn delete_collection() -> Vec<Param> {
    let mut v = delete();
    v.extend(list().into_iter().filter(|p| !matches!(p.name, "watch" | "allowWatchBookmarks")));
    v.sort_by_key(|p| p.name);
    v
}
