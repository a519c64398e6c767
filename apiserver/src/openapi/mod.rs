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
//! redirects a stale hash to the current URL). kubectl requests `/openapi/v2` as protobuf
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`), which this module does
//! not produce.

mod definitions;
pub mod extensions;
mod gvk;
mod model;
mod params;
mod paths;
mod refs;
mod v2;
mod v3;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The version reported in the documents' `info`.
pub const INFO_VERSION: &str = "v1.35.0";

/// The OpenAPI documents of this server, built on first use and cached as bytes.
pub struct OpenApi {
    v2: OnceLock<Bytes>,
    v3: OnceLock<V3Set>,
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
        OpenApi { v2: OnceLock::new(), v3: OnceLock::new() }
    }

    /// The process-wide instance.
    pub fn global() -> &'static OpenApi {
        &GLOBAL
    }

    /// The `/openapi/v2` document (JSON).
    pub fn v2(&self) -> Bytes {
        self.v2.get_or_init(build_v2).clone()
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

fn build_v2() -> Bytes {
    let docs = paths::documents();
    let defs = definitions::build();
    to_bytes(&v2::document(&docs, defs, INFO_VERSION))
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
