//! OpenAPI v2 and v3 documents generated from the k8s-openapi types.
//! Placeholder until the generator lands: both answer "not implemented".

use bytes::Bytes;

/// The server's OpenAPI documents.
pub struct OpenApi;

static GLOBAL: OpenApi = OpenApi;

impl OpenApi {
    /// The process-wide documents.
    pub fn global() -> &'static OpenApi {
        &GLOBAL
    }
    /// `/openapi/v2`.
    pub fn v2(&self) -> Bytes {
        Bytes::new()
    }
    /// `/openapi/v3`.
    pub fn v3_index(&self) -> Bytes {
        Bytes::new()
    }
    /// `/openapi/v3/<path>`.
    pub fn v3(&self, _path: &str) -> Option<Bytes> {
        None
    }
}
