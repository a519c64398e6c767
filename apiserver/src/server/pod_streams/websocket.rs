//! WebSocket clients of exec, attach and port-forward, served as upstream's API server does
//! (`staging/src/k8s.io/apiserver/pkg/util/proxy/streamtranslator.go`, `streamtunnel.go`):
//!
//! - exec/attach offering `v5.channel.k8s.io` (kubectl ≥ 1.30, the Python client): the
//!   channel protocol is translated here to an SPDY session (`v4.channel.k8s.io`) with
//!   the kubelet. Channels: 0 stdin, 1 stdout, 2 stderr, 3 error (a Status JSON),
//!   4 resize; v5 adds the close signal (`[255, channel]`) that ends stdin.
//! - port-forward offering `SPDY/3.1+portforward.k8s.io` (kubectl ≥ 1.31): the client
//!   speaks SPDY inside binary WebSocket messages; those bytes are tunnelled to an SPDY
//!   upgrade with the kubelet.
//! - Older WebSocket protocols (v1–v4 channel, `portforward.k8s.io` channel framing) are
//!   passed through to the kubelet and the runtime's streaming server, which speaks them.

use super::spdy::{self, Event};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::HeaderMap;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The remote-command protocol with the close signal.
pub const V5: &str = "v5.channel.k8s.io";
/// SPDY port-forward tunnelled in WebSocket messages.
pub const PORT_FORWARD_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
/// What we ask the kubelet for: the SPDY remote-command protocol with a Status on the
/// error stream.
pub const SPDY_REMOTE_COMMAND: &str = "v4.channel.k8s.io";
/// The SPDY port-forward protocol.
pub const SPDY_PORT_FORWARD: &str = "portforward.k8s.io";

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE_SIGNAL: u8 = 255;

/// How a pod stream request is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SPDY, or a WebSocket protocol the runtime speaks itself: proxied byte for byte.
    PassThrough,
    /// WebSocket v5 exec/attach, translated to SPDY.
    Translate,
    /// WebSocket-tunnelled SPDY port-forward.
    Tunnel,
}

/// The mode for `sub` from the request headers.
pub fn mode(sub: &str, headers: &HeaderMap) -> Mode {
    if !is_websocket(headers) {
        return Mode::PassThrough;
    }
    let offered = offered_protocols(headers);
    match sub {
        "exec" | "attach" if offered.iter().any(|p| p == V5) => Mode::Translate,
        "portforward" if offered.iter().any(|p| p == PORT_FORWARD_TUNNEL) => Mode::Tunnel,
        _ => Mode::PassThrough,
    }
}

fn is_websocket(headers: &HeaderMap) -> bool {
    let has = |name: http::HeaderName, token: &str| {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has(http::header::CONNECTION, "upgrade") && has(http::header::UPGRADE, "websocket")
}

fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The `101` that accepts the client's WebSocket with `protocol`.
pub fn accept(headers: &HeaderMap, protocol: &str) -> Result<http::response::Builder, String> {
    let key = headers.get(http::header::SEC_WEBSOCKET_KEY).ok_or("missing Sec-WebSocket-Key")?;
    Ok(http::Response::builder()
        .status(http::StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::SEC_WEBSOCKET_ACCEPT, tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()))
        .header(http::header::SEC_WEBSOCKET_PROTOCOL, protocol))
}

/// Which streams an exec/attach asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Streams {
    /// stdin=true.
    pub stdin: bool,
    /// stdout=true.
    pub stdout: bool,
    /// stderr=true (no stderr stream with a TTY: it is merged).
    pub stderr: bool,
    /// tty=true.
    pub tty: bool,
}

async fn server_socket(client: Upgraded) -> WebSocketStream<TokioIo<Upgraded>> {
    WebSocketStream::from_raw_socket(TokioIo::new(client), Role::Server, None).await
}

/// Runs a v5 exec/attach: the client's WebSocket against an SPDY session with the kubelet.
pub async fn translate(client: Upgraded, kubelet: Upgraded, want: Streams) {
    let ws = server_socket(client).await;
    let (mut to_client, mut from_client) = ws.split();
    let (mut session, mut events) = spdy::client(TokioIo::new(kubelet));
    let error = session.open(&[("streamtype", "error")]);
    let stdin = want.stdin.then(|| session.open(&[("streamtype", "stdin")]));
    let stdout = want.stdout.then(|| session.open(&[("streamtype", "stdout")]));
    let stderr = (want.stderr && !want.tty).then(|| session.open(&[("streamtype", "stderr")]));
    let resize = want.tty.then(|| session.open(&[("streamtype", "resize")]));
    // Upstream writes an empty message on the lowest writable channel once the streams
    // are set up.
    let first = if stdout.is_some() { STDOUT } else if stderr.is_some() { STDERR } else { ERROR };
    if to_client.send(Message::binary(vec![first])).await.is_err() {
        return;
    }
    let mut status = Vec::new();
    let mut client_open = true;
    loop {
        tokio::select! {
            msg = from_client.next(), if client_open => match msg {
                // Text messages carry the same framing (the Python client sends str stdin as text).
                Some(Ok(m @ (Message::Binary(_) | Message::Text(_)))) => {
                    let m = m.into_data();
                    match (m.first().copied(), stdin, resize) {
                        (Some(STDIN), Some(id), _) => session.data(id, &m[1..], false),
                        (Some(RESIZE), _, Some(id)) => session.data(id, &m[1..], false),
                        (Some(CLOSE_SIGNAL), Some(id), _) if m.get(1) == Some(&STDIN) => session.data(id, &[], true),
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    // The client is gone: dropping the session closes the kubelet connection.
                    client_open = false;
                    break;
                }
                Some(Ok(_)) => {}
            },
            event = events.recv() => match event {
                Some(Event::Data { stream, data, .. }) if !data.is_empty() => {
                    let channel = if Some(stream) == stdout { STDOUT } else if Some(stream) == stderr { STDERR } else if stream == error {
                        status.extend_from_slice(&data);
                        continue;
                    } else {
                        continue;
                    };
                    let mut msg = Vec::with_capacity(1 + data.len());
                    msg.push(channel);
                    msg.extend_from_slice(&data);
                    if to_client.send(Message::binary(msg)).await.is_err() {
                        client_open = false;
                        break;
                    }
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    drop(session);
    if !client_open {
        return;
    }
    // The kubelet ended the session: its error stream held the outcome (empty = success).
    if status.is_empty() {
        status = br#"{"metadata":{},"status":"Success"}"#.to_vec();
    }
    status.insert(0, ERROR);
    let _ = to_client.send(Message::binary(status)).await;
    let _ = to_client.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await;
    // Let the close handshake finish (or the client hang up).
    while let Some(Ok(_)) = from_client.next().await {}
}

/// Runs a tunnelled port-forward: the payloads of the client's binary messages are the
/// SPDY session with the kubelet, and the kubelet's bytes go back as binary messages.
pub async fn tunnel(client: Upgraded, kubelet: Upgraded) {
    let ws = server_socket(client).await;
    let (mut to_client, mut from_client) = ws.split();
    let (mut from_kubelet, mut to_kubelet) = tokio::io::split(TokioIo::new(kubelet));
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            msg = from_client.next() => match msg {
                Some(Ok(Message::Binary(m))) => {
                    if to_kubelet.write_all(&m).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            n = from_kubelet.read(&mut buf) => match n {
                Ok(0) | Err(_) => {
                    let _ = to_client.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await;
                    break;
                }
                Ok(n) => {
                    if to_client.send(Message::Binary(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    let _ = to_kubelet.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn modes_follow_the_offered_protocols() {
        let ws = |protocols: &str| headers(&[("connection", "Upgrade"), ("upgrade", "websocket"), ("sec-websocket-protocol", protocols)]);
        assert_eq!(mode("exec", &ws("v5.channel.k8s.io")), Mode::Translate);
        assert_eq!(mode("attach", &ws("v5.channel.k8s.io, v4.channel.k8s.io")), Mode::Translate);
        assert_eq!(mode("exec", &ws("v4.channel.k8s.io,base64.channel.k8s.io")), Mode::PassThrough);
        assert_eq!(mode("portforward", &ws("SPDY/3.1+portforward.k8s.io, portforward.k8s.io")), Mode::Tunnel);
        assert_eq!(mode("portforward", &ws("v4.channel.k8s.io")), Mode::PassThrough);
        let spdy = headers(&[("connection", "Upgrade"), ("upgrade", "SPDY/3.1"), ("x-stream-protocol-version", "v4.channel.k8s.io")]);
        assert_eq!(mode("exec", &spdy), Mode::PassThrough);
    }

    #[test]
    fn accept_answers_the_key() {
        // RFC 6455 section 1.3's example.
        let h = headers(&[("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")]);
        let r = accept(&h, V5).unwrap().body(()).unwrap();
        assert_eq!(r.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(r.headers()["sec-websocket-protocol"], V5);
    }
}
