//! List `continue` tokens, shaped like upstream's: base64 of
//! `{"v":"meta.k8s.io/v1","rv":<revision>,"start":"<key after the prefix>"}`.

use crate::error::ApiError;
use serde_json::{json, Value};

/// The token for a page that ended at `start` (relative to the list prefix), at `rev`.
pub fn encode_continue(rev: i64, start: &str) -> String {
    use base64::Engine;
    let token = json!({ "v": "meta.k8s.io/v1", "rv": rev, "start": start });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

/// Revision and absolute start key of a token; a 400 for anything malformed.
pub fn decode_continue(token: &str, prefix: &str) -> Result<(i64, String), ApiError> {
    use base64::Engine;
    let bad = || ApiError::BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into());
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rev = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    if start.contains("..") || start.starts_with('/') {
        return Err(bad());
    }
    Ok((rev, format!("{prefix}{start}")))
}

