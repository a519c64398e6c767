//! Request filters that run before the registry: authentication and authorization.

pub mod authn;
pub mod authz;
pub mod rbac;
