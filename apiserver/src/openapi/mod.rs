//! OpenAPI v2 and v3 documents generated from the k8s-openapi types.
//! (Being written; see issue 4.)
