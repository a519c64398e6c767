//! The one API error type, and its mapping to a `metav1.Status` (the HTTP edge uses
//! [`ApiError::status`]). Variants carry typed data; messages are built here, in
//! upstream's wording (`k8s.io/apimachinery/pkg/api/errors`).

use crate::registry::strategy::Cause;
use serde_json::{json, Value};

/// A request failure, classified the way upstream classifies it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404 for a missing object.
    #[error("{resource} {name:?} not found")]
    NotFound {
        /// Group-qualified resource, e.g. `deployments.apps`.
        resource: String,
        /// Group (for details).
        group: String,
        /// Plural resource (for details).
        kind: String,
        /// Object name.
        name: String,
    },
    /// 404 for a path the server does not serve.
    #[error("the server could not find the requested resource")]
    NoRoute,
    /// 409 on create of an existing name.
    #[error("{resource} {name:?} already exists")]
    AlreadyExists {
        /// Group-qualified resource.
        resource: String,
        /// Group.
        group: String,
        /// Plural resource.
        kind: String,
        /// Object name.
        name: String,
    },
    /// 409 on a stale resourceVersion or failed precondition.
    #[error("Operation cannot be fulfilled on {resource} {name:?}: {reason}")]
    Conflict {
        /// Group-qualified resource.
        resource: String,
        /// Group.
        group: String,
        /// Plural resource.
        kind: String,
        /// Object name.
        name: String,
        /// Why, e.g. "the object has been modified; ...".
        reason: String,
    },
    /// 409 from server-side apply: fields owned by other managers would change.
    #[error("{message}")]
    ApplyConflict {
        /// Upstream's "Apply failed with N conflict(s): ..." text.
        message: String,
        /// (field path, "conflict with <manager>") per conflicting field.
        causes: Vec<(String, String)>,
    },
    /// 422 with field causes.
    #[error("{}", invalid_message(.kind, .group, .name, .causes))]
    Invalid {
        /// Kind, e.g. `Deployment`.
        kind: String,
        /// Group.
        group: String,
        /// Object name.
        name: String,
        /// Field errors.
        causes: Vec<Cause>,
    },
    /// 403 with a cause, e.g. a terminating namespace.
    #[error("{resource} {name:?} is forbidden: {message}")]
    Forbidden {
        /// Group-qualified resource.
        resource: String,
        /// Group.
        group: String,
        /// Plural resource.
        kind: String,
        /// Object name.
        name: String,
        /// Explanation.
        message: String,
        /// Optional cause (reason, message, field).
        cause: Option<(String, String, String)>,
    },
    /// 403 from the authorizer.
    #[error("{0}")]
    Unauthorized403(String),
    /// 401.
    #[error("Unauthorized")]
    Unauthorized,
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 405.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 405 for a verb a resource's storage lacks (upstream `NewMethodNotSupported`).
    #[error("{action} is not supported on resources of kind \"{resource}.{group}\"")]
    MethodNotSupported {
        /// Group.
        group: String,
        /// Plural resource.
        resource: String,
        /// The verb, e.g. `watch`.
        action: String,
    },
    /// 406.
    #[error("{0}")]
    NotAcceptable(String),
    /// 410 (reason Expired).
    #[error("{0}")]
    Expired(String),
    /// 413.
    #[error("Request entity too large: {0}")]
    TooLarge(String),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 500.
    #[error("{0}")]
    Internal(String),
    /// 501 for a path that exists upstream but is not built here yet.
    #[error("{0}")]
    NotImplemented(String),
    /// A patch that could not be applied; the patch module classifies it.
    #[error("{0}")]
    Patch(#[from] crate::patch::PatchError),
    /// 504 / 500 storage timeouts and similar.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 429, e.g. an eviction the disruption budget does not allow now.
    #[error("{message}")]
    TooManyRequests {
        /// What is refused.
        message: String,
        /// `details.retryAfterSeconds` and the `Retry-After` header (0: neither).
        retry_after_seconds: u32,
        /// (reason, message) per cause.
        causes: Vec<(String, String)>,
    },
}

fn invalid_message(kind: &str, group: &str, name: &str, causes: &[Cause]) -> String {
    let gk = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    let items: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
    let list = match items.len() {
        1 => items[0].clone(),
        _ => format!("[{}]", items.join(", ")),
    };
    format!("{gk} {name:?} is invalid: {list}")
}

impl ApiError {
    /// HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::Forbidden { .. } | ApiError::Unauthorized403(_) => 403,
            ApiError::Unauthorized => 401,
            ApiError::BadRequest(_) => 400,
            ApiError::MethodNotAllowed | ApiError::MethodNotSupported { .. } => 405,
            ApiError::NotAcceptable(_) => 406,
            ApiError::Expired(_) => 410,
            ApiError::TooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Internal(_) => 500,
            ApiError::NotImplemented(_) => 501,
            ApiError::ServiceUnavailable(_) => 503,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Patch(e) => e.status_code(),
        }
    }

    /// Upstream `StatusReason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::Forbidden { .. } | ApiError::Unauthorized403(_) => "Forbidden",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::MethodNotAllowed | ApiError::MethodNotSupported { .. } => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::Expired(_) => "Expired",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Internal(_) => "InternalError",
            ApiError::NotImplemented(_) => "NotImplemented",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
            ApiError::Patch(e) => e.reason(),
        }
    }

    /// The `metav1.Status` body.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound { group, kind, name, .. }
            | ApiError::AlreadyExists { group, kind, name, .. }
            | ApiError::Conflict { group, kind, name, .. } => Some(details(name, group, kind)),
            ApiError::MethodNotSupported { group, resource, .. } => Some(details("", group, resource)),
            ApiError::Forbidden { group, kind, name, cause, .. } => {
                let mut d = details(name, group, kind);
                if let Some((reason, message, field)) = cause {
                    d["causes"] = json!([{ "reason": reason, "message": message, "field": field }]);
                }
                Some(d)
            }
            ApiError::Invalid { kind, group, name, causes } => {
                let mut d = details(name, group, kind);
                d["causes"] = causes
                    .iter()
                    .map(|c| json!({ "reason": c.reason, "message": c.message, "field": c.field }))
                    .collect();
                Some(d)
            }
            ApiError::ApplyConflict { causes, .. } => Some(json!({
                "causes": causes
                    .iter()
                    .map(|(field, message)| json!({ "reason": "FieldManagerConflict", "message": message, "field": field }))
                    .collect::<Vec<_>>()
            })),
            ApiError::Internal(message) => Some(json!({ "causes": [{ "message": message }] })),
            ApiError::TooManyRequests { retry_after_seconds, causes, .. } => {
                let mut d = json!({ "causes": causes.iter().map(|(reason, message)| json!({ "reason": reason, "message": message })).collect::<Vec<_>>() });
                if *retry_after_seconds > 0 {
                    d["retryAfterSeconds"] = json!(retry_after_seconds);
                }
                Some(d)
            }
            _ => None,
        };
        if let Some(d) = details {
            status["details"] = d;
        }
        if matches!(self, ApiError::NoRoute) {
            status["details"] = json!({});
        }
        status
    }
}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = serde_json::Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(kind));
    Value::Object(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_lists_causes_like_upstream() {
        let err = ApiError::Invalid {
            kind: "Deployment".into(),
            group: "apps".into(),
            name: "web".into(),
            causes: vec![Cause::required("spec.selector"), Cause::required("spec.template.spec.containers")],
        };
        assert_eq!(
            err.to_string(),
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.template.spec.containers: Required value]"
        );
        let status = err.status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["details"]["causes"][1]["field"], "spec.template.spec.containers");
    }

    #[test]
    fn not_found_details() {
        let err = ApiError::NotFound { resource: "pods".into(), group: "".into(), kind: "pods".into(), name: "x".into() };
        assert_eq!(err.to_string(), "pods \"x\" not found");
        assert_eq!(err.status()["details"], json!({"name": "x", "kind": "pods"}));
    }

    #[test]
    fn method_not_supported_names_the_resource() {
        let err = ApiError::MethodNotSupported { group: "metrics.k8s.io".into(), resource: "pods".into(), action: "watch".into() };
        assert_eq!(err.to_string(), "watch is not supported on resources of kind \"pods.metrics.k8s.io\"");
        let status = err.status();
        assert_eq!((status["code"].as_u64(), status["reason"].as_str()), (Some(405), Some("MethodNotAllowed")));
        assert_eq!(status["details"], json!({"group": "metrics.k8s.io", "kind": "pods"}));
    }
}
