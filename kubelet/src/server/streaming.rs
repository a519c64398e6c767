//! `/exec`, `/attach` and `/portForward`: asks the runtime for a streaming URL (CRI
//! `Exec`, `Attach`, `PortForward`) and proxies the client's upgrade request there, so the
//! client speaks to containerd's streaming server (SPDY/3.1, and the channel WebSocket
//! protocols up to v4) through us. Mirrors upstream `pkg/kubelet/server/server.go`
//! (`getExec` → `proxyStream`).

use super::{text, Reply};
use crate::cri::{api, Cri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

/// What a streaming request asks the runtime for.
pub enum Stream {
    /// Run a command.
    Exec { container_id: String, cmd: Vec<String>, flags: Flags },
    /// Attach to the main process.
    Attach { container_id: String, flags: Flags },
    /// Forward ports of the sandbox: `ports` from the query (WebSocket clients), else
    /// named by the client in its SPDY streams.
    PortForward { sandbox_id: String, ports: Vec<i32> },
}

/// Which standard streams are wanted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// Pass stdin.
    pub stdin: bool,
    /// Pass stdout.
    pub stdout: bool,
    /// Pass stderr.
    pub stderr: bool,
    /// Allocate a TTY.
    pub tty: bool,
}

impl Flags {
    /// From `stdin=1&stdout=1&stderr=1&tty=1` (`true` also accepted).
    pub fn from_query(q: &[(String, String)]) -> Flags {
        let on = |k: &str| q.iter().any(|(n, v)| n == k && (v == "1" || v == "true"));
        Flags { stdin: on("stdin"), stdout: on("stdout"), stderr: on("stderr"), tty: on("tty") }
    }
}

/// Gets the runtime's URL for `what` and proxies `req` to it.
pub async fn serve(cri: &Cri, what: Stream, req: Request<Incoming>) -> Reply {
    let mut rt = cri.runtime.clone();
    let url = match what {
        Stream::Exec { container_id, cmd, flags } => rt
            .exec(api::ExecRequest { container_id, cmd, tty: flags.tty, stdin: flags.stdin, stdout: flags.stdout, stderr: flags.stderr && !flags.tty })
            .await
            .map(|r| r.into_inner().url),
        Stream::Attach { container_id, flags } => rt
            .attach(api::AttachRequest { container_id, tty: flags.tty, stdin: flags.stdin, stdout: flags.stdout, stderr: flags.stderr && !flags.tty })
            .await
            .map(|r| r.into_inner().url),
        Stream::PortForward { sandbox_id, ports } => rt.port_forward(api::PortForwardRequest { pod_sandbox_id: sandbox_id, port: ports }).await.map(|r| r.into_inner().url),
    };
    match url {
        Ok(url) => proxy_upgrade(&url, req).await,
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("unable to get a streaming URL from the runtime: {}", e.message())),
    }
}

/// The `port` query parameters (upstream `portforward.NewV4Options`).
pub fn ports_from_query(q: &[(String, String)]) -> Result<Vec<i32>, String> {
    q.iter()
        .filter(|(k, _)| k == "port")
        .flat_map(|(_, v)| v.split(','))
        .map(|p| match p.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("unable to parse \"{p}\" as a port: invalid port")),
            Ok(n) => Ok(i32::from(n)),
        })
        .collect()
}

/// Passes `req` (method, headers, the client's query, upgrade) through to the runtime's
/// streaming `url` over plain HTTP/1.1 (upstream `proxyStream`: the runtime's location with
/// the request's query, which carries the WebSocket port-forward's `port`s).
async fn proxy_upgrade(url: &str, mut req: Request<Incoming>) -> Reply {
    let Ok(target) = url.parse::<hyper::Uri>() else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, format!("the runtime returned an invalid streaming URL {url:?}"));
    };
    let (Some(host), Some(port)) = (target.host(), target.port_u16().or(Some(80))) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, format!("the runtime returned an invalid streaming URL {url:?}"));
    };
    let tcp = match tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)).await {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("cannot reach the runtime's streaming server at {url}: {e}")),
    };
    let path = match (target.query(), req.uri().query()) {
        (None, Some(q)) => format!("{}?{q}", target.path()),
        _ => target.path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into()),
    };
    let out = ironkube_httpupgrade::forward_request(req.method(), req.headers(), host, port, &path, &[]);
    match ironkube_httpupgrade::pass_through(tcp, out, hyper::upgrade::on(&mut req)).await {
        Ok(resp) => resp.map(|b| Full::new(b).boxed()),
        Err(e) => text(StatusCode::BAD_GATEWAY, format!("streaming server request failed: {e}")),
    }
}
