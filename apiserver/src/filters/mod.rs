//! Request filters that run before the registry: authentication, impersonation and authorization.

pub mod authn;
pub mod authz;
pub mod impersonation;
pub mod rbac;
