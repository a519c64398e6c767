//! Request info: what a URL path names (upstream `apiserver/pkg/endpoints/request/requestinfo.go`).

/// A resource request's coordinates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourcePath {
    /// API group, "" for core.
    pub group: String,
    /// Version.
    pub version: String,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Plural resource.
    pub resource: String,
    /// Object name.
    pub name: Option<String>,
    /// Subresource (`status`, `scale`, ...).
    pub subresource: Option<String>,
    /// The deprecated `/watch/` path prefix was used.
    pub watch_prefix: bool,
}

impl ResourcePath {
    /// A `proxy` subresource request (its path goes on to the backend).
    pub fn is_proxy(&self) -> bool {
        self.subresource.as_deref() == Some("proxy")
    }
}

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/healthz`, `/livez`, `/readyz` (and their sub-checks).
    Health,
    /// `/version`.
    Version,
    /// `/api`.
    Api,
    /// `/apis`.
    Apis,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    GroupVersion(String, String),
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3` (empty) or `/openapi/v3/<path>`.
    OpenApiV3(String),
    /// `/.well-known/openid-configuration` (service-account issuer discovery).
    OpenIdConfiguration,
    /// `/openid/v1/jwks` (the service-account signing keys).
    Jwks,
    /// A resource URL.
    Resource(ResourcePath),
    /// Anything else.
    Unknown,
}

/// Namespace subresources that are not resources in their own right.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Parses a request path.
pub fn route(path: &str) -> Route {
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["healthz" | "livez" | "readyz", ..] => return Route::Health,
        ["version"] => return Route::Version,
        ["api"] => return Route::Api,
        ["apis"] => return Route::Apis,
        ["openapi", "v2"] => return Route::OpenApiV2,
        [".well-known", "openid-configuration"] => return Route::OpenIdConfiguration,
        ["openid", "v1", "jwks"] => return Route::Jwks,
        ["openapi", "v3"] => return Route::OpenApiV3(String::new()),
        ["openapi", "v3", rest @ ..] => return Route::OpenApiV3(rest.join("/")),
        ["api", v] => return Route::GroupVersion(String::new(), v.to_string()),
        ["apis", g] => return Route::Group(g.to_string()),
        ["apis", g, v] => return Route::GroupVersion(g.to_string(), v.to_string()),
        _ => {}
    }
    let (group, version, mut rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest.to_vec()),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest.to_vec()),
        _ => return Route::Unknown,
    };
    let mut info = ResourcePath { group, version, ..Default::default() };
    if rest.first() == Some(&"watch") {
        info.watch_prefix = true;
        rest.remove(0);
    }
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        info.namespace = Some(rest[1].to_string());
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest.drain(..2);
        }
    }
    match rest.as_slice() {
        [resource] => info.resource = resource.to_string(),
        [resource, name] => {
            info.resource = resource.to_string();
            info.name = Some(name.to_string());
        }
        // Only `proxy` takes a path after the subresource (upstream's `{path:*}` routes).
        [resource, name, sub, rest @ ..] if rest.is_empty() || *sub == "proxy" => {
            info.resource = resource.to_string();
            // A proxy id may come escaped (`web%3A8080` from the Python client); upstream
            // reads the decoded path.
            let name = if *sub == "proxy" { percent_encoding::percent_decode_str(name).decode_utf8_lossy() } else { (*name).into() };
            info.name = Some(name.into_owned());
            info.subresource = Some(sub.to_string());
        }
        _ => return Route::Unknown,
    }
    if info.resource == "namespaces" {
        // `/api/v1/namespaces/<name>[/status]`: the namespace is the object itself.
        info.namespace = None;
    }
    Route::Resource(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match route(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        let r = res("/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!((r.group.as_str(), r.namespace.as_deref(), r.resource.as_str(), r.name.as_deref(), r.subresource.as_deref()),
            ("apps", Some("default"), "deployments", Some("web"), Some("scale")));
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!((r.resource.as_str(), r.name.as_deref(), r.namespace), ("namespaces", Some("kube-system"), None));
        let r = res("/api/v1/namespaces/foo/status");
        assert_eq!((r.resource.as_str(), r.name.as_deref(), r.subresource.as_deref()), ("namespaces", Some("foo"), Some("status")));
        let r = res("/api/v1/namespaces");
        assert_eq!(r.resource, "namespaces");
        let r = res("/api/v1/watch/namespaces/default/pods");
        assert!(r.watch_prefix && r.resource == "pods");
        assert_eq!(route("/version/"), Route::Version);
        let r = res("/api/v1/namespaces/default/services/https:web:443/proxy/a/b/");
        assert_eq!((r.resource.as_str(), r.name.as_deref(), r.subresource.as_deref()), ("services", Some("https:web:443"), Some("proxy")));
        assert!(r.is_proxy());
        assert_eq!(res("/api/v1/nodes/n1%3A10250/proxy/a%2Fb").name.as_deref(), Some("n1:10250"));
        assert_eq!(route("/api/v1/namespaces/default/pods/web/status/x"), Route::Unknown);
        assert_eq!(route("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(route("/openapi/v3/apis/apps/v1"), Route::OpenApiV3("apis/apps/v1".into()));
    }
}
