//! Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.
//! Placeholder until the full module lands: strategic merge patch is refused honestly.

use serde_json::Value;

/// The patch formats a client can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    StrategicMerge,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// Maps a Content-Type to a patch type.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// A patch that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// 400: the patch body is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 415: the patch type is not supported.
    #[error("{0}")]
    Unsupported(String),
}

/// Applies `patch` of type `kind` to `original`.
pub fn apply(_definition: &str, original: &Value, kind: PatchType, patch: &[u8]) -> Result<Value, PatchError> {
    let parsed: Value = serde_json::from_slice(patch).map_err(|e| PatchError::BadRequest(e.to_string()))?;
    match kind {
        PatchType::Merge => {
            let mut out = original.clone();
            json_patch::merge(&mut out, &parsed);
            Ok(out)
        }
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_value(parsed).map_err(|e| PatchError::BadRequest(e.to_string()))?;
            let mut out = original.clone();
            json_patch::patch(&mut out, &p).map_err(|e| PatchError::BadRequest(e.to_string()))?;
            Ok(out)
        }
        _ => Err(PatchError::Unsupported("this patch type is not supported yet".into())),
    }
}
