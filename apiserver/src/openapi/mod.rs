//! OpenAPI v2 and v3 documents generated from the k8s-openapi types and the kinds table.
//!
//! - `/openapi/v2`: one swagger 2.0 document with every path and definition.
//! - `/openapi/v3`: an index of documents, each at `/openapi/v3/<key>?hash=<HASH>`.
//! - `/openapi/v3/<key>`: `api`, `apis`, `apis/<group>`, `version`, and one per served
//!   group-version (`api/v1`, `apis/apps/v1`) holding its paths and only the schemas they
//!   reference.
//!
//! Documents are built lazily on first use (v2 and v3 separately, so a client that only
//! reads v3 never pays for v2) and kept as serialized bytes.
//!
//! Serving notes for the HTTP layer: answer v3 documents with `ETag: "<hash>"`; when the
//! request's `hash` query matches, upstream adds `Cache-Control: public, immutable` (and
//! redirects a stale hash to the current URL). `/openapi/v2` is served as JSON or, on
//! request, as gnostic's `openapi.v2.Document` protobuf ([`OpenApi::v2_protobuf`], what
//! kubectl asks for to validate files client-side), built from the JSON on first use;
//! both carry the same `ETag` (SHA-512 of the JSON), as upstream.

mod definitions;
pub mod extensions;
mod gnostic;
mod gvk;
mod model;
mod params;
mod paths;
mod refs;
mod v2;
mod v2_proto;
mod v3;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod v2_proto_tests;

use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

/// The version reported in the documents' `info`.
pub const INFO_VERSION: &str = "v1.35.0";

/// The OpenAPI documents of this server, built on first use and cached as bytes.
pub struct OpenApi {
    v2: OnceLock<V2Doc>,
    v2_protobuf: OnceLock<Bytes>,
    v3: OnceLock<V3Set>,
}

struct V2Doc {
    json: Bytes,
    etag: String,
    built: SystemTime,
}

struct V3Doc {
    bytes: Bytes,
    hash: String,
}

struct V3Set {
    index: Bytes,
    docs: BTreeMap<String, V3Doc>,
}

static GLOBAL: OpenApi = OpenApi::new();

impl Default for OpenApi {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenApi {
    /// An instance with nothing built yet.
    pub const fn new() -> OpenApi {
        OpenApi { v2: OnceLock::new(), v2_protobuf: OnceLock::new(), v3: OnceLock::new() }
    }

    /// The process-wide instance.
    pub fn global() -> &'static OpenApi {
        &GLOBAL
    }

    /// The `/openapi/v2` document (JSON).
    pub fn v2(&self) -> Bytes {
        self.v2_doc().json.clone()
    }

    /// The `/openapi/v2` document as gnostic `openapi.v2.Document` protobuf, converted
    /// from the JSON on first use (upstream derives it from the JSON the same way).
    pub fn v2_protobuf(&self) -> Bytes {
        self.v2_protobuf.get_or_init(|| build_v2_protobuf(&self.v2_doc().json)).clone()
    }

    /// The `ETag` value (unquoted) of `/openapi/v2`: upper-case hex SHA-512 of the JSON.
    /// Upstream gives the protobuf form the same tag (responses vary on `Accept`).
    pub fn v2_etag(&self) -> String {
        self.v2_doc().etag.clone()
    }

    /// When the v2 document was built (its `Last-Modified`).
    pub fn v2_built(&self) -> SystemTime {
        self.v2_doc().built
    }

    fn v2_doc(&self) -> &V2Doc {
        self.v2.get_or_init(build_v2)
    }

    /// The `/openapi/v3` index: `{"paths": {"<key>": {"serverRelativeURL": "/openapi/v3/<key>?hash=<HASH>"}}}`.
    pub fn v3_index(&self) -> Bytes {
        self.v3_set().index.clone()
    }

    /// The document at `/openapi/v3/<path>`, e.g. `apis/apps/v1`; `None` if there is none.
    pub fn v3(&self, path: &str) -> Option<Bytes> {
        self.v3_set().docs.get(path.trim_matches('/')).map(|d| d.bytes.clone())
    }

    /// The hash of the document at `/openapi/v3/<path>` (upper-case hex SHA-512 of its
    /// bytes, as upstream), for `ETag` and the `hash` query of immutable URLs.
    pub fn v3_hash(&self, path: &str) -> Option<String> {
        self.v3_set().docs.get(path.trim_matches('/')).map(|d| d.hash.clone())
    }

    /// The keys of all v3 documents, in index order.
    pub fn v3_paths(&self) -> Vec<String> {
        self.v3_set().docs.keys().cloned().collect()
    }

    fn v3_set(&self) -> &V3Set {
        self.v3.get_or_init(build_v3)
    }
}

fn to_bytes(value: &Value) -> Bytes {
    // Serializing a `Value` cannot fail: all map keys are strings.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn hash(bytes: &[u8]) -> String {
    openssl::sha::sha512(bytes).iter().map(|b| format!("{b:02X}")).collect()
}

fn build_v2() -> V2Doc {
    let docs = paths::documents();
    let defs = definitions::build();
    let json = to_bytes(&v2::document(&docs, defs, INFO_VERSION));
    V2Doc { etag: hash(&json), json, built: SystemTime::now() }
}

fn build_v2_protobuf(json: &[u8]) -> Bytes {
    let started = Instant::now();
    let swagger: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
    let converted = v2_proto::to_protobuf(&swagger);
    if !converted.unconverted.is_empty() {
        tracing::warn!(unconverted = ?converted.unconverted, "parts of /openapi/v2 have no gnostic protobuf form");
    }
    tracing::debug!(bytes = converted.bytes.len(), elapsed = ?started.elapsed(), "built /openapi/v2 protobuf");
    Bytes::from(converted.bytes)
}

fn build_v3() -> V3Set {
    let defs = definitions::build();
    let mut docs = BTreeMap::new();
    let mut index = Map::new();
    for doc in paths::documents() {
        let bytes = to_bytes(&v3::document(&doc, &defs, INFO_VERSION));
        let hash = hash(&bytes);
        index.insert(
            doc.key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={hash}", doc.key)}),
        );
        docs.insert(doc.key, V3Doc { bytes, hash });
    }
    V3Set { index: to_bytes(&json!({"paths": index})), docs }
}
