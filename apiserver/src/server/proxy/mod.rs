//! The `proxy` subresources of pods, services and nodes
//! (`/api/v1/namespaces/{ns}/pods/{[scheme:]name[:port]}/proxy[/path]`, likewise
//! `services`, and `/api/v1/nodes/{name[:port]}/proxy[/path]`), as upstream's
//! `ProxyREST`s serve them with an `UpgradeAwareHandler`: resolve the backend
//! ([`location`]), then forward the request with its method, query and body, streaming
//! both ways ([`forward`] shapes the headers and paths; [`html`] points the links of
//! `text/html` pages back through the proxy); upgrade requests (WebSocket) are passed
//! through byte for byte after the backend's `101`.
//!
//! Authorization happens before, in the generic pipeline, with the connect verbs
//! ([`connect_verb`]) on `pods/proxy`, `services/proxy` or `nodes/proxy` and the id as
//! the name, as upstream's request info has it.

mod forward;
mod html;
mod location;

use super::AppState;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use http::{header, HeaderValue, Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use location::{Location, Transport};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long connecting to a backend may take (Go's proxy dialer: 30 s).
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The methods upstream's `ProxyREST`s connect (`proxyMethods`); others are refused.
const PROXY_METHODS: [Method; 6] = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::HEAD, Method::OPTIONS];

/// Whether `resource` (core group) has a `proxy` subresource served here.
pub fn handles(resource: &str) -> bool {
    matches!(resource, "pods" | "services" | "nodes")
}

/// The verb a connect request is authorized with (upstream `RequestInfoFactory`: GET and
/// HEAD `get`, POST `create`, PUT `update`, PATCH `patch`, DELETE `delete`, other
/// methods the empty verb, which only a `*` rule grants).
pub fn connect_verb(method: &Method) -> &'static str {
    match *method {
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "",
    }
}

/// The client's TCP address, put into each request's extensions by the server (for
/// `X-Forwarded-For`).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Serves `{resource}/{id}/proxy[/path]`.
pub async fn serve(state: &AppState, resource: &str, namespace: Option<&str>, id: &str, req: Request) -> Result<Response<Body>, ApiError> {
    if !PROXY_METHODS.contains(req.method()) {
        return Err(ApiError::MethodNotAllowed);
    }
    let namespace = namespace.unwrap_or_default();
    let location = match resource {
        "pods" => location::pod(&state.store, namespace, id).await?,
        "services" => location::service(&state.store, namespace, id).await?,
        "nodes" => location::node(&state.store, id).await?,
        _ => return Err(ApiError::NoRoute),
    };
    let request_path = forward::decode_path(req.uri().path());
    let backend_path = forward::backend_path(&forward::subpath(&request_path), &request_path);
    let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let path_and_query = format!("{}{query}", if backend_path.is_empty() { "/".to_string() } else { forward::escape_path(&backend_path) });
    if is_upgrade(req.headers()) {
        return upgrade(state, &location, &path_and_query, req).await;
    }
    // Upstream's redirect of an empty path to one with a trailing slash (issue #4958).
    if backend_path.is_empty() && matches!(*req.method(), Method::GET | Method::HEAD) {
        let target = HeaderValue::from_str(&format!("{}/{query}", forward::escape_path(&request_path))).map_err(|e| ApiError::Internal(e.to_string()))?;
        return Ok(Response::builder().status(StatusCode::MOVED_PERMANENTLY).header(header::LOCATION, target).body(Body::empty()).expect("valid response"));
    }
    let prepend = forward::path_prepend(&request_path, &backend_path);
    let request_host = request_host(&req, &location);
    let client_ip = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    let (parts, body) = req.into_parts();
    let mut out = http::Request::builder().method(parts.method).uri(&path_and_query).body(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    *out.headers_mut() = forward::request_headers(&parts.headers, client_ip, &forward::forwarded_uri(&prepend, &backend_path));
    // Go's reverse proxy sends the client's Host on (h2 clients give it as :authority).
    if let Ok(host) = HeaderValue::from_str(&request_host) {
        out.headers_mut().insert(header::HOST, host);
    }
    // HTTP/2 carries the length outside the headers; HTTP/1.1 servers (busybox httpd's
    // CGI) need it rather than a chunked body, and Go's proxy sends the request's length.
    let length = hyper::body::Body::size_hint(out.body()).exact();
    if let Some(n) = length.filter(|n| *n > 0 || matches!(*out.method(), Method::POST | Method::PUT))
        && !out.headers().contains_key(header::CONTENT_LENGTH)
    {
        out.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    let unreachable = |e: String| ApiError::ServiceUnavailable(format!("error trying to reach service: {e}"));
    let io = dial(state, &location).await.map_err(unreachable)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(conn);
    let resp = sender.send_request(out).await.map_err(|e| unreachable(e.to_string()))?;
    let (backend, body) = resp.into_parts();
    let backend_host = location.host_port();
    let mut headers = forward::response_headers(&backend.headers, &prepend, &backend_host, &request_host);
    let body = if rewrites_links(&backend.headers) {
        // Upstream reads such a page whole, too.
        let page = http_body_util::BodyExt::collect(body).await.map_err(|e| unreachable(e.to_string()))?.to_bytes();
        let page = html::rewrite_links(&page, |url| forward::rewrite_url(url, &prepend, &backend_host, &request_host));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(page.len()));
        Body::from(page)
    } else {
        Body::new(body)
    };
    let mut answer = Response::new(body);
    *answer.status_mut() = backend.status;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// Whether upstream's transport rewrites the links of this answer: an unencoded
/// `text/html` page that is not a redirect. (Upstream also inflates gzip and deflate
/// pages; those pass unchanged here.)
fn rewrites_links(backend: &http::HeaderMap) -> bool {
    let value = |name: header::HeaderName| backend.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let media = value(header::CONTENT_TYPE).split(';').next().unwrap_or_default().trim().to_string();
    media.eq_ignore_ascii_case("text/html") && !backend.contains_key(header::LOCATION) && value(header::CONTENT_ENCODING).is_empty()
}

/// Whether the request asks for a protocol upgrade (`Connection: Upgrade` and an
/// `Upgrade` header, upstream `httpstream.IsUpgradeRequest`).
fn is_upgrade(headers: &http::HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// The host the client asked for: its `Host` header, else the HTTP/2 authority.
fn request_host(req: &Request, location: &Location) -> String {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| location.host_port())
}

/// An upgrade: the client's request (less the consumed credentials, plus
/// `X-Forwarded-For`) on a new backend connection; after the backend's `101` the two
/// connections are spliced, a refusal is relayed (upstream `tryUpgrade`).
async fn upgrade(state: &AppState, location: &Location, path_and_query: &str, req: Request) -> Result<Response<Body>, ApiError> {
    let client_ip = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    let mut headers = req.headers().clone();
    forward::remove_consumed(&mut headers);
    forward::append_forwarded_for(&mut headers, client_ip);
    if !headers.contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(&request_host(&req, location))
    {
        headers.insert(header::HOST, host);
    }
    let mut out = http::Request::builder().method(req.method().clone()).uri(path_and_query).body(()).map_err(|e| ApiError::Internal(e.to_string()))?;
    *out.headers_mut() = headers;
    let backend = |e: String| ApiError::Internal(format!("error dialing backend: {e}"));
    let io = dial(state, location).await.map_err(backend)?;
    let resp = ironkube_httpupgrade::pass_through(io, out, hyper::upgrade::on(req)).await.map_err(|e| backend(e.to_string()))?;
    // A refusal (4xx/5xx) is relayed; any other answer is not an upgrade.
    let code = resp.status();
    if code != StatusCode::SWITCHING_PROTOCOLS && code.as_u16() < 400 {
        return Err(ApiError::Internal(format!("invalid upgrade response: status code {}", code.as_u16())));
    }
    Ok(resp.map(Body::from))
}

/// A byte stream to a backend (TCP, maybe TLS).
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Connects to `location`; errors read like Go's dialer's (`dial tcp 10.0.0.5:80:
/// connect: connection refused`).
async fn dial(state: &AppState, location: &Location) -> Result<Box<dyn Stream>, String> {
    let address = location.host_port();
    let port = match location.port.as_str() {
        "" if location.https => 443,
        "" => 80,
        p => p.parse::<u16>().map_err(|_| format!("dial tcp: address {address}: unknown port"))?,
    };
    let tcp = match tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect((location.host.as_str(), port))).await {
        Err(_) => return Err(format!("dial tcp {address}: i/o timeout")),
        Ok(Err(e)) => return Err(format!("dial tcp {address}: connect: {}", go_error_text(&e))),
        Ok(Ok(tcp)) => tcp,
    };
    let _ = tcp.set_nodelay(true);
    match (location.transport, location.https) {
        (Transport::Kubelet, _) => Ok(Box::new(state.kubelet.handshake(tcp, &location.host).await?)),
        (Transport::Direct, true) => {
            let ssl = insecure_connector().configure().and_then(|c| c.into_ssl(&location.host)).map_err(|e| e.to_string())?;
            let mut stream = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
            std::pin::Pin::new(&mut stream).connect().await.map_err(|e| format!("tls: {e}"))?;
            Ok(Box::new(stream))
        }
        (Transport::Direct, false) => Ok(Box::new(tcp)),
    }
}

/// The text Go prints for a socket error: the lower-case strerror without Rust's
/// `(os error N)`.
fn go_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// TLS to pods and services over `https:`: upstream's proxy transport does not verify
/// their certificates (`InsecureSkipVerify`), since pod IPs are in no certificate.
fn insecure_connector() -> &'static SslConnector {
    static CONNECTOR: OnceLock<SslConnector> = OnceLock::new();
    CONNECTOR.get_or_init(|| {
        let mut b = SslConnector::builder(SslMethod::tls_client()).expect("openssl TLS client");
        b.set_verify(SslVerifyMode::NONE);
        let _ = b.set_alpn_protos(b"\x08http/1.1");
        b.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_verbs_as_upstream_request_info() {
        let verbs: Vec<&str> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].iter().map(|m| connect_verb(&m.parse().unwrap())).collect();
        assert_eq!(verbs, ["get", "get", "create", "update", "patch", "delete", ""]);
    }

    #[test]
    fn upgrade_requests() {
        let mut h = http::HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!is_upgrade(&h));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(is_upgrade(&h));
    }

    #[test]
    fn only_plain_html_pages_are_rewritten() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        assert!(rewrites_links(&headers(&[("content-type", "text/html; charset=utf-8")])));
        assert!(!rewrites_links(&headers(&[("content-type", "text/plain")])));
        assert!(!rewrites_links(&headers(&[("content-type", "text/html"), ("content-encoding", "gzip")])));
        assert!(!rewrites_links(&headers(&[("content-type", "text/html"), ("location", "/x")])));
    }

    #[test]
    fn go_like_socket_errors() {
        let e = std::io::Error::from_raw_os_error(111);
        assert_eq!(go_error_text(&e), "connection refused");
    }
}
