//! Errors of the patch module, each carrying what the HTTP layer needs to answer
//! like upstream kube-apiserver (`handlers/patch.go`, `strategicpatch`).

/// Why a patch could not be applied.
///
/// [`PatchError::status_code`] and [`PatchError::reason`] give the HTTP status
/// and the `Status.reason` upstream uses; `Display` gives the `Status.message`.
/// Conflicts (409: resourceVersion or uid mismatch) are the store's business and
/// never come from this module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// 415 UnsupportedMediaType: [`crate::patch::apply`] was handed a server-side
    /// apply; those are merged under field ownership by `registry::apply` (the
    /// registry never routes them here).
    #[error(
        "server-side apply (application/apply-patch+yaml) is not a patch of this kind; \
         the server merges it under field ownership"
    )]
    ApplyNotSupported,

    /// 415 UnsupportedMediaType: strategic merge patch requested for a type without
    /// a known schema (custom resources); upstream only offers json and merge patch
    /// for those.
    #[error(
        "the body of the request was in an unknown format - accepted media types include: \
         application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )]
    StrategicMergeUnsupported,

    /// 400 BadRequest: the body is not valid JSON (upstream: "invalid JSON patch").
    #[error("invalid JSON patch")]
    InvalidJson,

    /// 400 BadRequest: the body is JSON but not a patch document of the right form
    /// (a JSON patch that is not an array of operations, a strategic merge patch
    /// that is not an object).
    #[error("{0}")]
    Malformed(String),

    /// 413 RequestEntityTooLarge: a JSON patch with more than 10000 operations.
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations {
        /// The limit (10000).
        max: usize,
        /// Operations in the request.
        got: usize,
    },

    /// 422 Invalid: a JSON patch operation failed (a `test` that did not match, a
    /// path that does not exist, ...). Upstream answers with the generic message
    /// "the server rejected our request due to an error in our request"; the
    /// detail is kept here for logs and a friendlier message.
    #[error("the server rejected our request due to an error in our request: {0}")]
    JsonPatchFailed(String),

    /// 400 BadRequest: a strategic merge patch directive has the wrong form
    /// (upstream `mergepatch.ErrBadPatchFormatFor*`: `$retainKeys` not a list or
    /// not covering the patched keys, a bad `$setElementOrder` or
    /// `$deleteFromPrimitiveList` list).
    #[error("{0}")]
    BadStrategicPatch(&'static str),

    /// 422 Invalid: the strategic merge patch cannot be applied to this data
    /// (upstream `ErrNoListOfLists`, `ErrPatchContentNotMatchRetainKeys`).
    #[error("{0}")]
    StrategicPatchInvalid(&'static str),

    /// 500 InternalError (reason Unknown): any other strategic merge patch failure.
    /// Upstream passes these plain errors through unchanged, which makes them 500s:
    /// an unknown `$patch` value, a list item without its merge key, a
    /// `$setElementOrder` list that contradicts the patch list, mixed list item types.
    #[error("{0}")]
    StrategicPatchFailed(String),

    /// 422 Invalid: the patched document is not a JSON object, so it cannot be an
    /// API object (e.g. a merge patch whose body is an array).
    #[error("{0}")]
    NotAnObject(String),
}

impl PatchError {
    /// The HTTP status code upstream kube-apiserver answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::ApplyNotSupported | PatchError::StrategicMergeUnsupported => 415,
            PatchError::InvalidJson
            | PatchError::Malformed(_)
            | PatchError::BadStrategicPatch(_) => 400,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::JsonPatchFailed(_)
            | PatchError::StrategicPatchInvalid(_)
            | PatchError::NotAnObject(_) => 422,
            PatchError::StrategicPatchFailed(_) => 500,
        }
    }

    /// The `Status.reason` upstream puts in its answer (`""` means "Unknown").
    pub fn reason(&self) -> &'static str {
        match self.status_code() {
            415 => "UnsupportedMediaType",
            400 => "BadRequest",
            413 => "RequestEntityTooLarge",
            422 => "Invalid",
            _ => "",
        }
    }
}

/// Upstream `mergepatch` error texts used by [`PatchError::BadStrategicPatch`]
/// and [`PatchError::StrategicPatchInvalid`].
pub(crate) mod messages {
    /// `mergepatch.ErrBadPatchFormatForPrimitiveList`.
    pub const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
    /// `mergepatch.ErrBadPatchFormatForRetainKeys`.
    pub const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
    /// `mergepatch.ErrBadPatchFormatForSetElementOrderList`.
    pub const BAD_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";
    /// `mergepatch.ErrNoListOfLists`.
    pub const NO_LIST_OF_LISTS: &str = "lists of lists are not supported";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_follow_upstream() {
        assert_eq!(PatchError::ApplyNotSupported.status_code(), 415);
        assert_eq!(PatchError::InvalidJson.status_code(), 400);
        assert_eq!(PatchError::InvalidJson.to_string(), "invalid JSON patch");
        assert_eq!(PatchError::JsonPatchFailed("x".into()).status_code(), 422);
        assert_eq!(PatchError::JsonPatchFailed("x".into()).reason(), "Invalid");
        assert_eq!(
            PatchError::BadStrategicPatch(messages::BAD_RETAIN_KEYS).status_code(),
            400
        );
        assert_eq!(
            PatchError::StrategicPatchInvalid(messages::NO_LIST_OF_LISTS).status_code(),
            422
        );
        assert_eq!(
            PatchError::StrategicPatchFailed("x".into()).status_code(),
            500
        );
        assert_eq!(PatchError::StrategicPatchFailed("x".into()).reason(), "");
        let too_many = PatchError::TooManyOperations {
            max: 10000,
            got: 10001,
        };
        assert_eq!(too_many.status_code(), 413);
        assert_eq!(
            too_many.to_string(),
            "The allowed maximum operations in a JSON patch is 10000, got 10001"
        );
    }
}
