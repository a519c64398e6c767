//! Authorization: `system:masters` may do anything (upstream binds it to `cluster-admin`);
//! everybody else is judged by RBAC (`super::rbac`) and refused with upstream's 403
//! message. The discovery and self-review rights every authenticated user has from the
//! bootstrap bindings are checked first without reading the RBAC objects.

use super::authn::Identity;
use super::rbac::Rules;
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

/// Whether the caller is in `system:masters` (allowed everything, no RBAC lookup).
pub fn is_master(who: &Identity) -> bool {
    who.groups.iter().any(|g| g == "system:masters")
}

/// Authorizes a request, reading the RBAC objects only when the cheap checks refuse.
pub async fn authorize_request(store: &crate::registry::store::Store, who: &Identity, attrs: &Attributes<'_>) -> Result<(), ApiError> {
    let refused = match authorize(who, attrs, &Rules::default()) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if who.is_anonymous() {
        return Err(refused);
    }
    let rules = super::rbac::rules_for(store, who).await?;
    authorize(who, attrs, &rules).map_err(|_| refused)
}

/// Allows the request (masters, the bootstrap basics, or `rules` from RBAC) or explains
/// the refusal as upstream does.
pub fn authorize(who: &Identity, attrs: &Attributes, rules: &Rules) -> Result<(), ApiError> {
    if is_master(who) || basic_user_may(who, attrs) || super::rbac::allows(rules, attrs) {
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

/// What upstream's default `system:basic-user`, `system:discovery`,
/// `system:public-info-viewer` and `system:service-account-issuer-discovery` bindings grant
/// (bootstrapped as RBAC objects too): asking about themselves, and reading discovery,
/// OpenAPI and the service-account issuer documents.
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
        assert!(authorize(&admin, &attrs, &Rules::default()).is_ok());
        let err = authorize(&bob, &attrs, &Rules::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
    }
}
