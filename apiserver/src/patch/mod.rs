//! Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.
//!
//! [`apply`] takes the stored object as JSON, the patch body and its
//! [`PatchType`], and returns the patched JSON. It does not decode or validate
//! the result as an API object and does not handle resourceVersion
//! preconditions: the generic store does both. Errors carry the HTTP status
//! upstream kube-apiserver would answer with (see [`PatchError`]).

mod error;
mod json_patch;
mod merge_patch;
mod strategic;

pub use error::PatchError;

use serde_json::Value;

/// The patch formats of the Kubernetes API, by request `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    StrategicMerge,
    /// `application/apply-patch+yaml` (server-side apply): merged under field ownership
    /// by `registry::apply`, not by [`apply`].
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` header value; parameters such as
    /// `; charset=utf-8` are ignored. `None` means 415 Unsupported Media Type.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let media = ct.split(';').next().unwrap_or("").trim();
        match media.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    /// The media type string of this patch type.
    pub fn content_type(&self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Applies `patch` (the raw request body) of type `kind` to `original`, an object
/// of the OpenAPI definition `definition` (e.g. `io.k8s.api.apps.v1.Deployment`).
///
/// The definition only matters for strategic merge patch, which needs the
/// schema's list merge keys; an unknown definition (a custom resource) makes a
/// strategic merge patch fail with 415 like upstream.
pub fn apply(
    definition: &str,
    original: &Value,
    kind: PatchType,
    patch: &[u8],
) -> Result<Value, PatchError> {
    if kind == PatchType::Apply {
        return Err(PatchError::ApplyNotSupported);
    }
    // Upstream validates every non-apply body as JSON before anything else.
    let patch: Value = serde_json::from_slice(patch).map_err(|_| PatchError::InvalidJson)?;
    let result = match kind {
        PatchType::Json => json_patch::apply(original, patch)?,
        PatchType::Merge => merge_patch::apply(original, &patch),
        PatchType::StrategicMerge => strategic::apply(definition, original, patch)?,
        PatchType::Apply => unreachable!("handled above"),
    };
    if !result.is_object() {
        return Err(PatchError::NotAnObject(format!(
            "the patched document is not a JSON object: {}",
            truncate(&result.to_string(), 200)
        )));
    }
    Ok(result)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests;
