//! The HTTP/1.1 upgrade pass-through (exec, attach, port-forward) that both the API server
//! (towards the kubelet) and the kubelet server (towards the runtime's streaming server)
//! do: send the client's upgrade request to a backend over a fresh connection; on `101`
//! answer the client with the backend's `101` and splice the two upgraded connections
//! byte for byte; otherwise relay the backend's answer.
//!
//! A crate of its own so that neither server depends on the other.

use bytes::Bytes;
use http::{header, HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Sends `req` (no body) over a new HTTP/1.1 connection on `io`, keeping the connection
/// able to upgrade. The backend's answer as is (`hyper::upgrade::on` it after a `101`).
pub async fn send<IO>(io: IO, req: Request<()>) -> Result<Response<Incoming>, hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn.with_upgrades());
    let (parts, ()) = req.into_parts();
    sender.send_request(Request::from_parts(parts, Empty::<Bytes>::new())).await
}

/// The request to send to the backend at `host:port` for `path_and_query`: the client's
/// method and headers less `Host` and those in `skip`.
pub fn forward_request(method: &http::Method, client_headers: &HeaderMap, host: &str, port: u16, path_and_query: &str, skip: &[header::HeaderName]) -> Request<()> {
    let mut out = Request::builder().method(method.clone()).uri(path_and_query);
    for (name, value) in client_headers {
        if name != header::HOST && !skip.contains(name) {
            out = out.header(name, value);
        }
    }
    out.header(header::HOST, format!("{host}:{port}")).body(()).expect("valid request")
}

/// What to answer the client: the backend's `101` (the splice already runs) or its
/// refusal with the body read in full.
pub async fn pass_through<IO>(io: IO, req: Request<()>, client: OnUpgrade) -> Result<Response<Bytes>, hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let resp = send(io, req).await?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        return Ok(Response::from_parts(parts, bytes));
    }
    let mut answer = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    for (name, value) in resp.headers() {
        answer = answer.header(name, value);
    }
    let backend = hyper::upgrade::on(resp);
    tokio::spawn(async move {
        let (Ok(client), Ok(backend)) = (client.await, backend.await) else { return };
        let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(backend)).await;
    });
    Ok(answer.body(Bytes::new()).expect("valid response"))
}
