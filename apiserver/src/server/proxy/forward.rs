//! What a proxied request and its answer look like on the other side, as upstream's
//! `UpgradeAwareHandler` (`k8s.io/apimachinery/pkg/util/proxy/upgradeaware.go`), its
//! rewriting `Transport` (`transport.go`) and Go's `httputil.ReverseProxy` shape them:
//! the backend path, hop-by-hop headers, `X-Forwarded-*`, redirects and CORS headers.

use http::{header, HeaderMap, HeaderName, HeaderValue};

/// The decoded request path (upstream works on Go's decoded `URL.Path`).
pub fn decode_path(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// What Go escapes in a path it sends (`url.URL.EscapedPath` without a raw path): all
/// but letters, digits, `-_.~` and `$&+,/:;=@`.
const PATH_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b';')
    .remove(b'=')
    .remove(b'@');

/// A decoded path escaped for the request line, as Go writes it.
pub fn escape_path(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, PATH_ESCAPES).to_string()
}

/// The path after `…/{name}/proxy` in `request_path` (decoded), as upstream's
/// connect options see it: `""`, or `/rest` with the request's trailing slash kept.
pub fn subpath(request_path: &str) -> String {
    // `api/v1[/namespaces/{ns}]/{resource}/{name}/proxy/rest…`
    let parts: Vec<&str> = request_path.trim_matches('/').split('/').collect();
    let resource_at = if parts.get(2) == Some(&"namespaces") { 4 } else { 2 };
    let rest = parts.get(resource_at + 3..).unwrap_or_default();
    let mut p = rest.join("/");
    if !p.is_empty() && !p.starts_with('/') {
        p.insert(0, '/');
    }
    if request_path.ends_with('/') && !p.ends_with('/') {
        p.push('/');
    }
    p
}

/// The backend path for `subpath`: Go's `path.Join("", subpath)` (cleaned), with the
/// request's trailing slash put back (`UpgradeAwareHandler.ServeHTTP`).
pub fn backend_path(subpath: &str, request_path: &str) -> String {
    let mut p = if subpath.is_empty() { String::new() } else { clean(subpath) };
    if request_path.ends_with('/') && !p.ends_with('/') {
        p.push('/');
    }
    p
}

/// Go's `path.Clean` for rooted paths: no empty, `.` or `..` segments, no trailing slash.
fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// Go's `path.Join(prefix, p)` keeping `p`'s trailing slash (`Transport.RoundTrip`'s
/// `X-Forwarded-Uri` and `rewriteURL`).
fn join_keeping_slash(prefix: &str, p: &str) -> String {
    let mut joined = clean(&format!("{prefix}/{p}"));
    if p.ends_with('/') && !joined.ends_with('/') {
        joined.push('/');
    }
    joined
}

/// The request path before the backend path: what the client must prefix to backend
/// URLs (upstream `defaultProxyTransport`'s `PathPrepend`).
pub fn path_prepend(request_path: &str, backend_path: &str) -> String {
    let mut suffix = backend_path.to_string();
    if request_path.ends_with('/') && !suffix.ends_with('/') {
        suffix.push('/');
    }
    request_path.strip_suffix(suffix.as_str()).unwrap_or(request_path).to_string()
}

/// Hop-by-hop headers Go's reverse proxy removes both ways, besides those the
/// `Connection` header names.
const HOP_BY_HOP: [&str; 9] =
    ["connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

/// Removes hop-by-hop headers (Go's `removeHopByHopHeaders`).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Headers the API server consumed itself and never passes on: the credentials (upstream's
/// authentication filter deletes `Authorization`) and impersonation requests (its
/// impersonation filter deletes them).
pub fn remove_consumed(headers: &mut HeaderMap) {
    headers.remove(header::AUTHORIZATION);
    let impersonation: Vec<HeaderName> = headers.keys().filter(|k| k.as_str().starts_with("impersonate-")).cloned().collect();
    for name in impersonation {
        headers.remove(name);
    }
}

/// The request headers for the backend: the client's less hop-by-hop and consumed
/// ones, `X-Forwarded-For` extended with the client's address and `X-Forwarded-Uri` set
/// to the path the client used.
pub fn request_headers(client: &HeaderMap, client_ip: Option<std::net::IpAddr>, forwarded_uri: &str) -> HeaderMap {
    let mut headers = client.clone();
    remove_hop_by_hop(&mut headers);
    remove_consumed(&mut headers);
    append_forwarded_for(&mut headers, client_ip);
    if let Ok(v) = HeaderValue::from_str(forwarded_uri) {
        headers.insert("x-forwarded-uri", v);
    }
    headers
}

/// Appends the client's address to `X-Forwarded-For` (Go's reverse proxy; upstream's
/// upgrade path does the same with `AppendForwardedForHeader`).
pub fn append_forwarded_for(headers: &mut HeaderMap, client_ip: Option<std::net::IpAddr>) {
    let Some(ip) = client_ip else { return };
    let prior: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    let value = if prior.is_empty() { ip.to_string() } else { format!("{}, {ip}", prior.join(", ")) };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert("x-forwarded-for", v);
    }
}

/// `X-Forwarded-Uri`: the client's path for the backend path.
pub fn forwarded_uri(prepend: &str, backend_path: &str) -> String {
    join_keeping_slash(prepend, backend_path)
}

/// The response headers for the client: the backend's less hop-by-hop and CORS headers
/// (`corsRemovingTransport`), with a redirect to the backend itself pointed back
/// through the proxy (`Transport.rewriteURL`).
pub fn response_headers(backend: &HeaderMap, prepend: &str, backend_host: &str, request_host: &str) -> HeaderMap {
    let mut headers = backend.clone();
    remove_hop_by_hop(&mut headers);
    for name in ["access-control-allow-credentials", "access-control-allow-headers", "access-control-allow-methods", "access-control-allow-origin"] {
        headers.remove(name);
    }
    if let Some(location) = backend.get(header::LOCATION).and_then(|v| v.to_str().ok()) {
        let rewritten = rewrite_url(location, prepend, backend_host, request_host);
        if let Ok(v) = HeaderValue::from_str(&rewritten) {
            headers.insert(header::LOCATION, v);
        }
    }
    headers
}

/// Upstream `rewriteURL` with the transport's empty scheme and host (the API server's
/// own request URL has neither): an absolute path on the backend (or on the host the
/// client asked for) gets the proxy prefix; other hosts and relative URLs stay.
pub fn rewrite_url(target: &str, prepend: &str, backend_host: &str, request_host: &str) -> String {
    let (host, rest) = match target.split_once("://") {
        Some((_, after)) => match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        },
        None if target.starts_with("//") => match target[2..].find('/') {
            Some(i) => (&target[2..2 + i], &target[2 + i..]),
            None => (&target[2..], ""),
        },
        None => ("", target),
    };
    let different_host = !host.is_empty() && host != backend_host && host != request_host;
    if different_host || !rest.starts_with('/') {
        return target.to_string();
    }
    let (path, tail) = match rest.find(['?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    // Without a scheme and host of its own the transport keeps them only for a URL on
    // the host the client asked for; any other URL on the backend loses them.
    let keep_origin = !host.is_empty() && host == request_host;
    let origin = if keep_origin { &target[..target.len() - rest.len()] } else { "" };
    if path.starts_with(prepend) {
        return format!("{origin}{path}{tail}");
    }
    format!("{origin}{}{tail}", join_keeping_slash(prepend, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subpaths_and_backend_paths_as_upstream() {
        let p = "/api/v1/namespaces/default/pods/web:8080/proxy";
        assert_eq!(subpath(p), "");
        assert_eq!(backend_path(&subpath(p), p), "");
        let p = "/api/v1/namespaces/default/pods/web:8080/proxy/";
        assert_eq!(subpath(p), "/");
        assert_eq!(backend_path(&subpath(p), p), "/");
        let p = "/api/v1/namespaces/default/services/web:80/proxy/a//b/./c/../healthz";
        assert_eq!(backend_path(&subpath(p), p), "/a/b/healthz");
        let p = "/api/v1/nodes/n1/proxy/metrics/resource/";
        assert_eq!(subpath(p), "/metrics/resource/");
        assert_eq!(backend_path(&subpath(p), p), "/metrics/resource/");
        // Names and namespaces called "proxy" are names.
        let p = "/api/v1/namespaces/proxy/services/proxy/proxy/proxy/x";
        assert_eq!(backend_path(&subpath(p), p), "/proxy/x");
        assert_eq!(backend_path("/../../etc", "/x/proxy/../../etc"), "/etc");
    }

    #[test]
    fn paths_are_decoded_then_escaped_as_go() {
        let p = decode_path("/api/v1/nodes/n%3A1/proxy/a%2Fb/c%20d");
        assert_eq!(p, "/api/v1/nodes/n:1/proxy/a/b/c d");
        assert_eq!(backend_path(&subpath(&p), &p), "/a/b/c d");
        assert_eq!(escape_path("/a b/ü?x#y/@:=,;+&$~-_.!*'()"), "/a%20b/%C3%BC%3Fx%23y/@:=,;+&$~-_.%21%2A%27%28%29");
    }

    #[test]
    fn prefix_and_forwarded_uri() {
        let p = "/api/v1/namespaces/default/pods/web/proxy/a/b/";
        let prepend = path_prepend(p, "/a/b/");
        assert_eq!(prepend, "/api/v1/namespaces/default/pods/web/proxy");
        assert_eq!(forwarded_uri(&prepend, "/a/b/"), p);
        assert_eq!(forwarded_uri(&prepend, "/a"), "/api/v1/namespaces/default/pods/web/proxy/a");
    }

    #[test]
    fn hop_by_hop_consumed_and_forwarded_headers() {
        let mut client = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "gzip"),
            ("authorization", "Bearer t"),
            ("impersonate-user", "bob"),
            ("impersonate-extra-scopes", "x"),
            ("accept", "text/plain"),
            ("x-forwarded-for", "192.0.2.1"),
        ] {
            client.append(k, HeaderValue::from_static(v));
        }
        let out = request_headers(&client, Some("10.0.0.7".parse().unwrap()), "/api/v1/nodes/n/proxy/x");
        let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["accept", "x-forwarded-for", "x-forwarded-uri"]);
        assert_eq!(out["x-forwarded-for"], "192.0.2.1, 10.0.0.7");
        assert_eq!(out["x-forwarded-uri"], "/api/v1/nodes/n/proxy/x");
    }

    #[test]
    fn responses_lose_cors_and_redirects_come_back_through_the_proxy() {
        let mut backend = HeaderMap::new();
        backend.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        backend.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        backend.insert("content-type", HeaderValue::from_static("text/plain"));
        backend.insert("location", HeaderValue::from_static("/login/?next=%2F"));
        let prepend = "/api/v1/namespaces/default/services/web:80/proxy";
        let out = response_headers(&backend, prepend, "10.0.0.5:8080", "127.0.0.1:8001");
        let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["content-type", "location"]);
        assert_eq!(out["location"], "/api/v1/namespaces/default/services/web:80/proxy/login/?next=%2F");
        assert_eq!(rewrite_url("http://10.0.0.5:8080/a", prepend, "10.0.0.5:8080", "h"), format!("{prepend}/a"));
        assert_eq!(rewrite_url("http://127.0.0.1:8001/a", prepend, "10.0.0.5:8080", "127.0.0.1:8001"), format!("http://127.0.0.1:8001{prepend}/a"));
        assert_eq!(rewrite_url("https://example.com/a", prepend, "10.0.0.5:8080", "h"), "https://example.com/a");
        assert_eq!(rewrite_url("next/page", prepend, "10.0.0.5:8080", "h"), "next/page");
        assert_eq!(rewrite_url(&format!("{prepend}/x"), prepend, "10.0.0.5:8080", "h"), format!("{prepend}/x"));
    }
}
