//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`; the `Impersonate-User`,
//! `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-<key>` headers), as
//! upstream's `WithImpersonation` filter: every requested user, service account, group, uid
//! and extra value must be allowed the `impersonate` verb (RBAC: `users`, `serviceaccounts`,
//! `groups` in the core group; `uids` and `userextras/<key>` in `authentication.k8s.io`),
//! then the request runs as the impersonated identity.

use super::authn::Identity;
use super::authz::{authorize_request, Attributes};
use crate::error::ApiError;
use crate::registry::store::Store;

const EXTRA_PREFIX: &str = "impersonate-extra-";

/// One thing a request asks to act as.
#[derive(Debug, PartialEq)]
enum Request {
    User(String),
    ServiceAccount { namespace: String, name: String },
    Group(String),
    Uid(String),
    Extra { key: String, value: String },
}

impl Request {
    /// The authorization check upstream makes for this request.
    fn attributes(&self) -> Attributes<'_> {
        let (group, resource, namespace, name) = match self {
            Request::User(name) => ("", "users", None, name),
            Request::ServiceAccount { namespace, name } => ("", "serviceaccounts", Some(namespace.as_str()), name),
            Request::Group(name) => ("", "groups", None, name),
            Request::Uid(uid) => ("authentication.k8s.io", "uids", None, uid),
            Request::Extra { key, value } => ("authentication.k8s.io", key.as_str(), None, value),
        };
        Attributes { verb: "impersonate", group, resource, namespace, name: Some(name), path: None }
    }
}

fn header_values<'a>(headers: &'a http::HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).filter(|v| !v.is_empty())
}

/// The impersonation requests in `headers`, in upstream's order (user, groups, extras, uid).
fn requests(headers: &http::HeaderMap) -> Result<Vec<Request>, ApiError> {
    let mut out = Vec::new();
    let user = header_values(headers, "impersonate-user").next();
    if let Some(user) = user {
        match user.strip_prefix("system:serviceaccount:").and_then(|rest| rest.split_once(':')) {
            Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() && !name.contains(':') => {
                out.push(Request::ServiceAccount { namespace: namespace.into(), name: name.into() })
            }
            _ => out.push(Request::User(user.into())),
        }
    }
    out.extend(header_values(headers, "impersonate-group").map(|g| Request::Group(g.into())));
    for (name, value) in headers {
        let Some(key) = name.as_str().strip_prefix(EXTRA_PREFIX) else { continue };
        let key = percent_decode(key);
        if let Ok(value) = value.to_str() {
            out.push(Request::Extra { key: format!("userextras/{key}"), value: value.into() });
        }
    }
    out.extend(header_values(headers, "impersonate-uid").next().map(|u| Request::Uid(u.into())));
    if user.is_none() && !out.is_empty() {
        let asked: Vec<String> = out.iter().map(|r| format!("{r:?}")).collect();
        return Err(ApiError::Internal(format!("requested [{}] without impersonating a user", asked.join(" "))));
    }
    Ok(out)
}

/// Extra keys travel percent-encoded in header names (upstream's `unescapeExtraKey`).
fn percent_decode(key: &str) -> String {
    form_urlencoded::parse(format!("k={}", key.replace('+', "%2B")).as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_else(|| key.into())
}

/// The identity the request runs as: `who` itself without impersonation headers, else the
/// impersonated one once every request is authorized (upstream's 403 message otherwise).
pub async fn impersonate(store: &Store, who: Identity, headers: &http::HeaderMap) -> Result<Identity, ApiError> {
    let requests = requests(headers)?;
    if requests.is_empty() {
        return Ok(who);
    }
    for request in &requests {
        authorize_request(store, &who, &request.attributes()).await?;
    }
    Ok(identity_of(requests, headers.contains_key("impersonate-group")))
}

/// Builds the impersonated identity as upstream does: a service account without explicit
/// groups gets its groups; every non-anonymous user gets `system:authenticated` unless
/// `system:authenticated` or `system:unauthenticated` was asked for.
fn identity_of(requests: Vec<Request>, groups_specified: bool) -> Identity {
    let mut who = Identity::default();
    for request in requests {
        match request {
            Request::User(name) => who.user = name,
            Request::ServiceAccount { namespace, name } => {
                who.user = format!("system:serviceaccount:{namespace}:{name}");
                if !groups_specified {
                    who.groups = vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{namespace}")];
                }
            }
            Request::Group(group) => who.groups.push(group),
            Request::Uid(uid) => who.uid = uid,
            Request::Extra { key, value } => {
                let key = key.trim_start_matches("userextras/").to_string();
                who.extra.entry(key).or_default().push(value);
            }
        }
    }
    let has = |g: &str| who.groups.iter().any(|x| x == g);
    if who.user == "system:anonymous" {
        if !has("system:unauthenticated") {
            who.groups.push("system:unauthenticated".into());
        }
    } else if !has("system:authenticated") && !has("system:unauthenticated") {
        who.groups.push("system:authenticated".into());
    }
    who
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn service_accounts_get_their_groups_unless_groups_are_given() {
        let reqs = requests(&headers(&[("Impersonate-User", "system:serviceaccount:ns:robot")])).unwrap();
        assert_eq!(reqs, vec![Request::ServiceAccount { namespace: "ns".into(), name: "robot".into() }]);
        let who = identity_of(reqs, false);
        assert_eq!(who.user, "system:serviceaccount:ns:robot");
        assert_eq!(who.groups, ["system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"]);
        let h = headers(&[("Impersonate-User", "system:serviceaccount:ns:robot"), ("Impersonate-Group", "devs")]);
        let who = identity_of(requests(&h).unwrap(), true);
        assert_eq!(who.groups, ["devs", "system:authenticated"]);
    }

    #[test]
    fn users_groups_uids_and_extras_are_each_checked() {
        let h = headers(&[
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "a"),
            ("Impersonate-Group", "b"),
            ("Impersonate-Uid", "1234"),
            ("Impersonate-Extra-Scopes%2Fx", "view"),
        ]);
        let reqs = requests(&h).unwrap();
        let attrs: Vec<(String, String, String)> =
            reqs.iter().map(|r| r.attributes()).map(|a| (a.group.into(), a.resource.into(), a.name.unwrap().into())).collect();
        assert_eq!(
            attrs,
            [
                ("".into(), "users".into(), "jane".into()),
                ("".into(), "groups".into(), "a".into()),
                ("".into(), "groups".into(), "b".into()),
                ("authentication.k8s.io".into(), "userextras/scopes/x".into(), "view".into()),
                ("authentication.k8s.io".into(), "uids".into(), "1234".into()),
            ]
        );
        let who = identity_of(reqs, true);
        assert_eq!((who.user.as_str(), who.uid.as_str()), ("jane", "1234"));
        assert_eq!(who.groups, ["a", "b", "system:authenticated"]);
        assert_eq!(who.extra.get("scopes/x").unwrap(), &["view"]);
    }

    #[test]
    fn groups_without_a_user_are_an_error_and_anonymous_stays_unauthenticated() {
        assert!(matches!(requests(&headers(&[("Impersonate-Group", "a")])), Err(ApiError::Internal(m)) if m.contains("without impersonating a user")));
        assert!(requests(&headers(&[])).unwrap().is_empty());
        let who = identity_of(requests(&headers(&[("Impersonate-User", "system:anonymous")])).unwrap(), false);
        assert_eq!(who.groups, ["system:unauthenticated"]);
    }
}
