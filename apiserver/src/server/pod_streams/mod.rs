//! The pod subresources served by the pod's kubelet: `log`, `exec`, `attach` and
//! `portforward`. Options are validated here as upstream does
//! (`pkg/registry/core/pod/strategy.go`: `LogLocation`, `streamLocation`), then the request
//! goes to the node's kubelet server (InternalIP, `daemonEndpoints` port) with the API
//! server's kubelet-client certificate. Logs are streamed back; upgrade requests (SPDY,
//! older WebSocket protocols) are proxied byte for byte after the kubelet's `101`;
//! WebSocket v5 exec/attach and tunnelled port-forward are translated ([`websocket`]).
//!
//! Map: [`spdy`] (client end of an SPDY/3.1 session), [`websocket`] (the translations).

mod spdy;
mod websocket;

use super::AppState;
use crate::error::ApiError;
use crate::registry::kinds;
use crate::registry::store::Target;
use axum::body::Body;
use axum::extract::Request;
use http::{header, Response, StatusCode};
use http_body_util::BodyExt;
use websocket::Mode;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
use serde_json::Value;

/// The API server's TLS client for kubelets.
pub struct KubeletClient {
    connector: SslConnector,
}

impl KubeletClient {
    /// From the cluster CA (verifies kubelet serving certificates) and the API server's
    /// kubelet-client pair.
    pub fn new(pki: &super::pki::Pki) -> Result<KubeletClient, super::StartError> {
        pki.kubelet_client()?;
        let mut b = SslConnector::builder(SslMethod::tls_client())?;
        b.set_ca_file(pki.dir.join("ca.crt"))?;
        b.set_certificate_file(pki.dir.join("apiserver-kubelet-client.crt"), SslFiletype::PEM)?;
        b.set_private_key_file(pki.dir.join("apiserver-kubelet-client.key"), SslFiletype::PEM)?;
        b.set_alpn_protos(b"\x08http/1.1")?;
        Ok(KubeletClient { connector: b.build() })
    }

    async fn connect(&self, host: &str, port: u16) -> Result<tokio_openssl::SslStream<tokio::net::TcpStream>, String> {
        let tcp = tokio::net::TcpStream::connect((host, port)).await.map_err(|e| format!("dial tcp {host}:{port}: {e}"))?;
        self.handshake(tcp, host).await
    }

    /// The TLS handshake with the kubelet at `host` over `tcp`.
    pub(crate) async fn handshake(&self, tcp: tokio::net::TcpStream, host: &str) -> Result<tokio_openssl::SslStream<tokio::net::TcpStream>, String> {
        let ssl = self.connector.configure().and_then(|c| c.into_ssl(host)).map_err(|e| e.to_string())?;
        let mut stream = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
        std::pin::Pin::new(&mut stream).connect().await.map_err(|e| format!("tls: {e}"))?;
        Ok(stream)
    }

    /// `GET path` on the kubelet at `host:port`: the status and the whole body (at most
    /// `limit` bytes).
    pub async fn get(&self, host: &str, port: u16, path: &str, limit: usize) -> Result<(StatusCode, bytes::Bytes), String> {
        let stream = self.connect(host, port).await?;
        let req = http::Request::builder().uri(path).header(header::HOST, format!("{host}:{port}")).body(()).map_err(|e| e.to_string())?;
        let resp = ironkube_httpupgrade::send(stream, req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = http_body_util::Limited::new(resp.into_body(), limit).collect().await.map_err(|e| e.to_string())?;
        Ok((status, body.to_bytes()))
    }
}

/// Whether `sub` is one of the subresources served here.
pub fn handles(sub: &str) -> bool {
    matches!(sub, "log" | "exec" | "attach" | "portforward")
}

/// Serves `pods/<sub>` for the pod `name` in `ns`.
pub async fn serve(state: &AppState, sub: &str, ns: &str, name: &str, req: Request) -> Result<Response<Body>, ApiError> {
    let pods = kinds::find("", "v1", "pods").ok_or(ApiError::NoRoute)?;
    let pod = state.store.get(Target { kind: pods, namespace: Some(ns) }, name).await?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let container = match sub {
        "portforward" => String::new(),
        _ => validate_container(&pod, name, get("container").unwrap_or_default())?,
    };
    let node_name = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    if node_name.is_empty() {
        if sub == "log" {
            // Upstream answers an empty stream for a pod that is not scheduled yet.
            return Ok(Response::builder().status(StatusCode::OK).header(header::CONTENT_TYPE, "text/plain").body(Body::empty()).expect("valid response"));
        }
        return Err(ApiError::BadRequest(format!("pod {name} does not have a host assigned")));
    }
    let upgrade = req.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    if sub != "log" && upgrade.is_none() {
        return Err(ApiError::BadRequest("Upgrade request required".into()));
    }
    let mode = websocket::mode(sub, req.headers());
    let nodes = kinds::find("", "v1", "nodes").ok_or(ApiError::NoRoute)?;
    let node = state.store.get(Target { kind: nodes, namespace: None }, node_name).await?;
    let (host, port) = kubelet_address(&node, node_name);
    let flag = |k: &str| get(k).is_some_and(|v| v == "true" || v == "1");
    let (path, params) = {
    let mut params = form_urlencoded::Serializer::new(String::new());
    let path = match sub {
        "log" => {
            for k in ["follow", "previous", "timestamps"] {
                if flag(k) {
                    params.append_pair(k, "true");
                }
            }
            for k in ["sinceSeconds", "sinceTime", "tailLines", "limitBytes"] {
                if let Some(v) = get(k) {
                    params.append_pair(k, v);
                }
            }
            format!("/containerLogs/{ns}/{name}/{container}")
        }
        "exec" | "attach" => {
            for k in ["stdin", "stdout", "stderr", "tty"] {
                if flag(k) {
                    params.append_pair(k, "1");
                }
            }
            if sub == "exec" {
                for (_, c) in query.iter().filter(|(k, _)| k == "command") {
                    params.append_pair("command", c);
                }
            }
            format!("/{sub}/{ns}/{name}/{container}")
        }
        _ => {
            // `ports=80,8080` or repeated `ports`; the kubelet wants one `port` each.
            for (_, v) in query.iter().filter(|(k, _)| k == "ports") {
                for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    params.append_pair("port", p);
                }
            }
            format!("/portForward/{ns}/{name}")
        }
    };
    (path, params.finish())
    };
    let uri = if params.is_empty() { path } else { format!("{path}?{params}") };
    let backend = |e: String| ApiError::Internal(format!("error dialing backend: {e}"));
    let stream = state.kubelet.connect(&host, port).await.map_err(backend)?;
    let skip = [header::AUTHORIZATION, header::CONTENT_LENGTH];
    if sub == "log" {
        let out = http::Request::builder().uri(&uri).header(header::HOST, format!("{host}:{port}")).body(()).map_err(|e| ApiError::Internal(e.to_string()))?;
        let resp = ironkube_httpupgrade::send(stream, out).await.map_err(|e| backend(e.to_string()))?;
        return log_response(resp).await;
    }
    if mode == Mode::PassThrough {
        let out = ironkube_httpupgrade::forward_request(req.method(), req.headers(), &host, port, &uri, &skip);
        let resp = ironkube_httpupgrade::pass_through(stream, out, hyper::upgrade::on(req)).await.map_err(|e| backend(e.to_string()))?;
        // A refusal is relayed as is (kubectl prints "unable to upgrade connection: <body>").
        return Ok(resp.map(Body::from));
    }
    // Translated: an SPDY upgrade of our own with the kubelet, then the client's WebSocket.
    let (protocol, spdy_protocol) = match mode {
        Mode::Tunnel => (websocket::PORT_FORWARD_TUNNEL, websocket::SPDY_PORT_FORWARD),
        _ => (websocket::V5, websocket::SPDY_REMOTE_COMMAND),
    };
    let answer = websocket::accept(req.headers(), protocol).map_err(ApiError::BadRequest)?;
    let out = http::Request::builder()
        .method(http::Method::POST)
        .uri(&uri)
        .header(header::HOST, format!("{host}:{port}"))
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1")
        .header("X-Stream-Protocol-Version", spdy_protocol)
        .body(())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let resp = ironkube_httpupgrade::send(stream, out).await.map_err(|e| backend(e.to_string()))?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        return Ok(Response::from_parts(parts, Body::from(bytes)));
    }
    tracing::info!(ns, pod = name, sub, protocol, "pod stream over WebSocket, translated to SPDY with the kubelet");
    let want = websocket::Streams { stdin: flag("stdin"), stdout: flag("stdout"), stderr: flag("stderr"), tty: flag("tty") };
    let client = hyper::upgrade::on(req);
    let kubelet = hyper::upgrade::on(resp);
    tokio::spawn(async move {
        let (Ok(client), Ok(kubelet)) = (client.await, kubelet.await) else { return };
        match mode {
            Mode::Tunnel => websocket::tunnel(client, kubelet).await,
            _ => websocket::translate(client, kubelet, want).await,
        }
    });
    answer.body(Body::empty()).map_err(|e| ApiError::Internal(e.to_string()))
}

/// A kubelet log answer as the client sees it: the stream on success; otherwise a Status
/// built from the kubelet's text (upstream `GenericHttpResponseChecker`).
async fn log_response(resp: hyper::Response<hyper::body::Incoming>) -> Result<Response<Body>, ApiError> {
    let code = resp.status();
    if code.is_success() {
        return Ok(Response::builder().status(StatusCode::OK).header(header::CONTENT_TYPE, "text/plain").body(Body::new(resp.into_body())).expect("valid response"));
    }
    let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]).trim().to_string();
    Err(match code {
        StatusCode::BAD_REQUEST => ApiError::BadRequest(text),
        _ => ApiError::Internal(text),
    })
}

/// The kubelet's host and port from the Node: its InternalIP (else Hostname, else the
/// name) and `daemonEndpoints.kubeletEndpoint.Port` (10250 when unset).
pub(crate) fn kubelet_address(node: &Value, name: &str) -> (String, u16) {
    let addresses = node["status"]["addresses"].as_array().cloned().unwrap_or_default();
    let by_type = |t: &str| addresses.iter().find(|a| a["type"] == t).and_then(|a| a["address"].as_str()).map(str::to_string);
    let host = by_type("InternalIP").or_else(|| by_type("Hostname")).unwrap_or_else(|| name.to_string());
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"].as_u64().filter(|p| *p > 0 && *p < 65536).unwrap_or(10250) as u16;
    (host, port)
}

/// The container a request is for (upstream `validateContainer`).
fn validate_container(pod: &Value, name: &str, container: &str) -> Result<String, ApiError> {
    let spec = &pod["spec"];
    let names_of = |field: &str| -> Vec<String> {
        spec[field].as_array().map(|cs| cs.iter().filter_map(|c| c["name"].as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let all: Vec<String> = ["initContainers", "containers", "ephemeralContainers"].iter().flat_map(|f| names_of(f)).collect();
    if container.is_empty() {
        let main = names_of("containers");
        return match main.len() {
            1 => Ok(main[0].clone()),
            0 => Err(ApiError::BadRequest(format!("a container name must be specified for pod {name}"))),
            _ => Err(ApiError::BadRequest(format!("a container name must be specified for pod {name}, choose one of: [{}]", all.join(" ")))),
        };
    }
    if !all.iter().any(|c| c == container) {
        return Err(ApiError::BadRequest(format!("container {container} is not valid for pod {name}")));
    }
    Ok(container.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_is_defaulted_only_for_one() {
        let one = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(validate_container(&one, "p", "").unwrap(), "a");
        let two = json!({"spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b"}]}});
        let e = validate_container(&two, "p", "").unwrap_err();
        assert_eq!(e.to_string(), "a container name must be specified for pod p, choose one of: [i a b]");
        assert_eq!(validate_container(&two, "p", "i").unwrap(), "i");
        assert_eq!(validate_container(&two, "p", "x").unwrap_err().to_string(), "container x is not valid for pod p");
    }

    #[test]
    fn kubelet_address_from_the_node() {
        let node = json!({"status": {"addresses": [{"type": "Hostname", "address": "h"}, {"type": "InternalIP", "address": "10.0.0.5"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 12345}}}});
        assert_eq!(kubelet_address(&node, "n"), ("10.0.0.5".to_string(), 12345));
        assert_eq!(kubelet_address(&json!({}), "n"), ("n".to_string(), 10250));
    }
}
