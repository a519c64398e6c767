//! The ironkube API server: the Kubernetes API over HTTPS, served from one generic
//! registry over a storage trait.
//!
//! Map of the crate (request flow top to bottom):
//! - [`server`]: TLS listener, request parsing, content negotiation, errors as `Status`.
//! - [`filters`]: authentication and authorization.
//! - [`serviceaccount`]: service-account tokens (TokenRequest, bearer authentication, OIDC discovery).
//! - [`discovery`]: `/api`, `/apis`, aggregated discovery.
//! - [`metrics`]: the resource metrics API (`metrics.k8s.io`), scraped from the kubelets.
//! - [`openapi`]: `/openapi/v2` and `/openapi/v3` from the k8s-openapi types.
//! - [`registry`]: the kinds table, the generic store and the per-kind strategies.
//! - [`patch`]: JSON patch, merge patch, strategic merge patch.
//! - [`proto`]: decoding Kubernetes protobuf request bodies.
//! - [`schema`]: per-type field facts (list merge keys) generated from k8s-openapi.
//! - [`error`]: the API error type and its `Status` body.
//! - [`cache`]: the watch cache between the registry and storage.
//! - [`storage`]: the storage trait and its backends.

#![warn(missing_docs)]
// `ApiError` carries the typed data of a Status body (names, causes); it is large, but
// only on the cold error path, so it is not boxed.
#![allow(clippy::result_large_err)]

pub mod cache;
pub mod discovery;
pub mod error;
pub mod filters;
pub mod metrics;
pub mod openapi;
pub mod patch;
pub mod proto;
pub mod registry;
pub mod schema;
pub mod server;
pub mod serviceaccount;
pub mod storage;

pub use server::{Config, Server};
