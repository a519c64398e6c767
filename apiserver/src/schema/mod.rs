//! Per-type field facts generated from k8s-openapi (list merge keys, strategies).
//! (Being written; see issue 4.)
