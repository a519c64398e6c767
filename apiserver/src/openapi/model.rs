//! The neutral model of paths and operations that both renderers (v2, v3) read.

use super::gvk::Gvk;
use super::params::Param;

/// An HTTP method of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// GET.
    Get,
    /// PUT.
    Put,
    /// POST.
    Post,
    /// DELETE.
    Delete,
    /// PATCH.
    Patch,
}

impl Method {
    /// Lower-case name, the key in a path item.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Patch => "patch",
        }
    }
}

/// A request body.
#[derive(Clone, Debug)]
pub(crate) struct Body {
    /// Definition name of the body schema.
    pub definition: String,
    /// A patch body (the patch content types), not a plain object.
    pub patch: bool,
    /// Whether a body is required.
    pub required: bool,
}

/// One response.
#[derive(Clone, Debug)]
pub(crate) struct Response {
    /// Status code, e.g. `200`.
    pub code: &'static str,
    /// Description, e.g. `OK`.
    pub description: &'static str,
    /// Definition name of the response schema.
    pub definition: Option<String>,
}

/// One operation.
#[derive(Clone, Debug)]
pub(crate) struct Operation {
    /// HTTP method.
    pub method: Method,
    /// `operationId`, e.g. `patchAppsV1NamespacedDeployment`.
    pub id: String,
    /// Human description.
    pub description: String,
    /// Tag, e.g. `apps_v1`.
    pub tag: String,
    /// `x-kubernetes-action`, when the operation acts on a kind.
    pub action: Option<&'static str>,
    /// `x-kubernetes-group-version-kind` (an object on operations).
    pub gvk: Option<Gvk>,
    /// Operation-level parameters.
    pub params: Vec<Param>,
    /// Request body.
    pub body: Option<Body>,
    /// Responses besides 401.
    pub responses: Vec<Response>,
    /// Whether watch streams are among the produced content types.
    pub streaming: bool,
    /// Whether only JSON is produced (`/version/`).
    pub json_only: bool,
}

/// A path with its shared parameters and operations.
#[derive(Clone, Debug)]
pub(crate) struct PathItem {
    /// The path, e.g. `/apis/apps/v1/namespaces/{namespace}/deployments/{name}`.
    pub path: String,
    /// Parameters shared by all operations.
    pub params: Vec<Param>,
    /// Operations.
    pub ops: Vec<Operation>,
}

/// One `/openapi/v3/<key>` document's paths.
#[derive(Clone, Debug)]
pub(crate) struct ApiDoc {
    /// Key, e.g. `apis/apps/v1`.
    pub key: String,
    /// Paths.
    pub paths: Vec<PathItem>,
}

/// Content types a patch body may have.
pub(crate) const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// Content types responses are produced in.
pub(crate) const PRODUCES: &[&str] = &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];

/// Extra content types of list and watch responses.
pub(crate) const WATCH_PRODUCES: &[&str] = &["application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"];

impl Operation {
    /// The content types this operation's responses come in.
    pub fn produces(&self) -> Vec<&'static str> {
        if self.json_only {
            return vec!["application/json"];
        }
        let mut v = PRODUCES.to_vec();
        if self.streaming {
            v.extend_from_slice(WATCH_PRODUCES);
        }
        v
    }

    /// The content types this operation accepts (swagger 2.0 `consumes`): the patch types,
    /// any for object operations, and what it produces for the discovery operations.
    pub fn consumes(&self) -> Vec<&'static str> {
        match (&self.body, self.action) {
            (Some(b), _) if b.patch => PATCH_TYPES.to_vec(),
            (None, None) => self.produces(),
            _ => vec!["*/*"],
        }
    }
}
