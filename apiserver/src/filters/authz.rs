//! Authorization. Until RBAC is built, only `system:masters` may do anything; everybody
//! else gets upstream's 403 message, so nothing is silently allowed.

use super::authn::Identity;
use crate::error::ApiError;

/// What a request wants to do, for the authorizer and its messages.
#[derive(Debug, Default)]
pub struct Attributes<'a> {
    /// Verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: &'a str,
    /// API group.
    pub group: &'a str,
    /// Resource (plural), with `/subresource` when present.
    pub resource: &'a str,
    /// Namespace, if any.
    pub namespace: Option<&'a str>,
    /// Object name, if any.
    pub name: Option<&'a str>,
    /// Non-resource path (e.g. `/apis`) when not a resource request.
    pub path: Option<&'a str>,
}

/// Allows the request or explains the refusal as upstream does.
pub fn authorize(who: &Identity, attrs: &Attributes) -> Result<(), ApiError> {
    if who.groups.iter().any(|g| g == "system:masters") || basic_user_may(who, attrs) {
        return Ok(());
    }
    let user = &who.user;
    let message = match attrs.path {
        Some(path) => format!("forbidden: User {user:?} cannot {} path {path:?}", attrs.verb),
        None => {
            let scope = match attrs.namespace {
                Some(ns) => format!(" in the namespace {ns:?}"),
                None => " at the cluster scope".into(),
            };
            format!(
                "{} is forbidden: User {user:?} cannot {} resource {:?} in API group {:?}{scope}",
                resource_prefix(attrs),
                attrs.verb,
                attrs.resource,
                attrs.group
            )
        }
    };
    Err(ApiError::Unauthorized403(message))
}

/// What upstream's default `system:basic-user` and `system:discovery` roles grant every
/// authenticated user: asking about themselves, and reading discovery and OpenAPI.
fn basic_user_may(who: &Identity, attrs: &Attributes) -> bool {
    if !who.groups.iter().any(|g| g == "system:authenticated") {
        return false;
    }
    match attrs.path {
        Some(path) => {
            let discovery = ["/api", "/apis", "/openapi", "/version", "/healthz", "/livez", "/readyz"]
                .iter()
                .any(|p| path == *p || path.starts_with(&format!("{p}/")));
            // `system:service-account-issuer-discovery`, bound to `system:serviceaccounts`.
            let issuer_discovery = who.groups.iter().any(|g| g == "system:serviceaccounts")
                && (path == "/.well-known/openid-configuration" || path == "/openid/v1/jwks");
            attrs.verb == "get" && (discovery || issuer_discovery)
        }
        None => {
            attrs.verb == "create"
                && matches!(
                    (attrs.group, attrs.resource),
                    ("authorization.k8s.io", "selfsubjectaccessreviews" | "selfsubjectrulesreviews")
                        | ("authentication.k8s.io", "selfsubjectreviews")
                )
        }
    }
}

fn resource_prefix(attrs: &Attributes) -> String {
    let base = attrs.resource.split('/').next().unwrap_or_default();
    let gr = if attrs.group.is_empty() { base.to_string() } else { format!("{base}.{}", attrs.group) };
    match attrs.name {
        Some(name) => format!("{gr} {name:?}"),
        None => gr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_masters_pass() {
        let admin = Identity { user: "admin".into(), groups: vec!["system:masters".into()], ..Default::default() };
        let bob = Identity { user: "bob".into(), groups: vec!["system:authenticated".into()], ..Default::default() };
        let attrs = Attributes { verb: "list", group: "", resource: "pods", namespace: Some("default"), ..Default::default() };
        assert!(authorize(&admin, &attrs).is_ok());
        let err = authorize(&bob, &attrs).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
    }
}
