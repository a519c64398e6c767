//! The kubelet's HTTPS server (upstream `pkg/kubelet/server/server.go`): container logs,
//! exec, attach, port-forward and resource metrics for the API server. TLS with the node's serving
//! certificate; callers must present a client certificate from the cluster CA, and only
//! the API server's kubelet-client identity (or `system:masters`) is allowed.
//!
//! Map: [`logs`] (CRI log files), [`streaming`] (runtime streaming URLs, proxied),
//! [`resource_metrics`] (`/metrics/resource`: CPU and memory for the metrics API).

pub mod logs;
pub mod resource_metrics;
pub mod streaming;

use crate::cri::{api, Cri};
use crate::pods::runtime_config::{LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

/// A response of this server.
pub type Reply = Response<BoxBody<Bytes, Infallible>>;

/// The common name of the API server's client certificate for kubelets
/// (kubeadm's `apiserver-kubelet-client`).
pub const APISERVER_CLIENT_CN: &str = "kube-apiserver-kubelet-client";

/// TLS material of the server, as PEM.
#[derive(Clone)]
pub struct TlsConfig {
    /// The node's serving certificate.
    pub cert: Vec<u8>,
    /// Its private key.
    pub key: Vec<u8>,
    /// The CA that signs accepted client certificates.
    pub client_ca: Vec<u8>,
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// TLS setup failed.
    #[error("kubelet server TLS setup failed: {0}")]
    Tls(#[from] openssl::error::ErrorStack),
    /// The port could not be bound.
    #[error("kubelet server cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A bound, not yet serving, kubelet server.
pub struct KubeletServer {
    listener: tokio::net::TcpListener,
    acceptor: Arc<SslAcceptor>,
}

impl KubeletServer {
    /// Binds `addr` (port 0 picks a free port) and prepares TLS.
    pub async fn bind(addr: std::net::SocketAddr, tls: &TlsConfig) -> Result<KubeletServer, ServerError> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
        Ok(KubeletServer { listener, acceptor: Arc::new(acceptor(tls)?) })
    }

    /// The bound port (what the Node advertises in `daemonEndpoints`).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `stop` turns true.
    pub async fn serve(self, cri: Cri, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let (tcp, _) = tokio::select! {
                _ = stop.changed() => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("kubelet server accept failed: {e}");
                        continue;
                    }
                },
            };
            let acceptor = self.acceptor.clone();
            let cri = cri.clone();
            tokio::spawn(async move {
                let Ok(ssl) = openssl::ssl::Ssl::new(acceptor.context()) else { return };
                let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, tcp) else { return };
                if std::pin::Pin::new(&mut stream).accept().await.is_err() {
                    return;
                }
                let caller = stream.ssl().peer_certificate().map(|c| Caller::from_certificate(&c));
                let service = hyper::service::service_fn(move |req| {
                    let cri = cri.clone();
                    let caller = caller.clone();
                    async move { Ok::<_, Infallible>(handle(&cri, caller.as_ref(), req).await) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await;
            });
        }
    }
}

fn acceptor(tls: &TlsConfig) -> Result<SslAcceptor, openssl::error::ErrorStack> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    let cert = openssl::x509::X509::from_pem(&tls.cert)?;
    b.set_certificate(&cert)?;
    let key = openssl::pkey::PKey::private_key_from_pem(&tls.key)?;
    b.set_private_key(&key)?;
    let ca = openssl::x509::X509::from_pem(&tls.client_ca)?;
    b.cert_store_mut().add_cert(ca.clone())?;
    let mut names = openssl::stack::Stack::new()?;
    names.push(ca.subject_name().to_owned()?)?;
    b.set_client_ca_list(names);
    // Ask for a certificate; requests without one get the 401 below.
    b.set_verify(SslVerifyMode::PEER);
    b.set_session_id_context(b"ironkube-kubelet")?;
    Ok(b.build())
}

/// Who called, from the verified client certificate.
#[derive(Clone, Debug)]
struct Caller {
    user: String,
    groups: Vec<String>,
}

impl Caller {
    fn from_certificate(cert: &openssl::x509::X509Ref) -> Caller {
        let entries = |nid| {
            cert.subject_name().entries_by_nid(nid).filter_map(|e| e.data().to_string().ok()).collect::<Vec<_>>()
        };
        Caller { user: entries(openssl::nid::Nid::COMMONNAME).into_iter().next().unwrap_or_default(), groups: entries(openssl::nid::Nid::ORGANIZATIONNAME) }
    }

    fn allowed(&self) -> bool {
        self.user == APISERVER_CLIENT_CN || self.groups.iter().any(|g| g == "system:masters")
    }
}

/// An empty body.
pub fn empty() -> BoxBody<Bytes, Infallible> {
    Full::new(Bytes::new()).boxed()
}

/// A plain-text answer (upstream's kubelet answers errors as text; the API server wraps
/// them in a Status).
pub fn text(code: StatusCode, body: impl Into<String>) -> Reply {
    Response::builder()
        .status(code)
        .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.into())).boxed())
        .expect("valid response")
}

fn query_pairs(req: &Request<Incoming>) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect()
}

async fn handle(cri: &Cri, caller: Option<&Caller>, req: Request<Incoming>) -> Reply {
    let Some(caller) = caller else { return text(StatusCode::UNAUTHORIZED, "Unauthorized") };
    if !caller.allowed() {
        return text(StatusCode::FORBIDDEN, format!("Forbidden (user={}, verb={}, path={})", caller.user, req.method().as_str().to_lowercase(), req.uri().path()));
    }
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let query = query_pairs(&req);
    let is_get = req.method() == Method::GET;
    let is_get_or_post = is_get || req.method() == Method::POST;
    match parts.as_slice() {
        ["healthz"] => text(StatusCode::OK, "ok"),
        ["metrics", "resource"] if is_get => {
            let body = resource_metrics::render(&resource_metrics::collect(cri).await);
            Response::builder()
                .status(StatusCode::OK)
                .header(hyper::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
                .body(Full::new(Bytes::from(body)).boxed())
                .expect("valid response")
        }
        ["containerLogs", ns, pod, container] if is_get => container_logs(cri, ns, pod, container, &query).await,
        ["exec", ns, pod, container] | ["exec", ns, pod, _, container] if is_get_or_post => {
            let cmd: Vec<String> = query.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.clone()).collect();
            if cmd.is_empty() {
                return text(StatusCode::BAD_REQUEST, "you must specify at least 1 command");
            }
            match running_container(cri, ns, pod, container).await {
                Ok(id) => streaming::serve(cri, streaming::Stream::Exec { container_id: id, cmd, flags: streaming::Flags::from_query(&query) }, req).await,
                Err(reply) => reply,
            }
        }
        ["attach", ns, pod, container] | ["attach", ns, pod, _, container] if is_get_or_post => match running_container(cri, ns, pod, container).await {
            Ok(id) => streaming::serve(cri, streaming::Stream::Attach { container_id: id, flags: streaming::Flags::from_query(&query) }, req).await,
            Err(reply) => reply,
        },
        ["portForward", ns, pod] | ["portForward", ns, pod, _] if is_get_or_post => match (ready_sandbox(cri, ns, pod).await, streaming::ports_from_query(&query)) {
            (_, Err(e)) => text(StatusCode::BAD_REQUEST, e),
            (Some(id), Ok(ports)) => streaming::serve(cri, streaming::Stream::PortForward { sandbox_id: id, ports }, req).await,
            (None, Ok(_)) => text(StatusCode::NOT_FOUND, format!("pod not found (\"{pod}_{ns}\")")),
        },
        _ if parts.first().is_some_and(|p| ["containerLogs", "exec", "attach", "portForward", "healthz", "metrics"].contains(p)) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

fn labels(ns: &str, pod: &str, container: Option<&str>) -> HashMap<String, String> {
    let mut l = HashMap::from([(LABEL_POD_NAMESPACE.to_string(), ns.to_string()), (LABEL_POD_NAME.to_string(), pod.to_string())]);
    if let Some(c) = container {
        l.insert(LABEL_CONTAINER_NAME.to_string(), c.to_string());
    }
    l
}

/// The pod's ready sandbox.
async fn ready_sandbox(cri: &Cri, ns: &str, pod: &str) -> Option<String> {
    let filter = api::PodSandboxFilter {
        label_selector: labels(ns, pod, None),
        state: Some(api::PodSandboxStateValue { state: api::PodSandboxState::SandboxReady as i32 }),
        ..Default::default()
    };
    let list = cri.runtime.clone().list_pod_sandbox(api::ListPodSandboxRequest { filter: Some(filter) }).await.ok()?.into_inner().items;
    list.into_iter().max_by_key(|s| s.created_at).map(|s| s.id)
}

/// The instances of one container of a pod, newest first.
async fn instances(cri: &Cri, ns: &str, pod: &str, container: &str) -> Vec<api::Container> {
    let filter = api::ContainerFilter { label_selector: labels(ns, pod, Some(container)), ..Default::default() };
    let mut list = cri.runtime.clone().list_containers(api::ListContainersRequest { filter: Some(filter) }).await.map(|r| r.into_inner().containers).unwrap_or_default();
    list.sort_by_key(|c| std::cmp::Reverse((c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0), c.created_at)));
    list
}

/// The running instance of a container, or the kubelet's "container not found" answer.
async fn running_container(cri: &Cri, ns: &str, pod: &str, container: &str) -> Result<String, Reply> {
    instances(cri, ns, pod, container)
        .await
        .into_iter()
        .find(|c| c.state == api::ContainerState::ContainerRunning as i32)
        .map(|c| c.id)
        .ok_or_else(|| text(StatusCode::NOT_FOUND, format!("container not found (\"{container}\")")))
}

async fn container_logs(cri: &Cri, ns: &str, pod: &str, container: &str, query: &[(String, String)]) -> Reply {
    let opts = match logs::LogOptions::from_query(query) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.0),
    };
    let all = instances(cri, ns, pod, container).await;
    let chosen = if opts.previous {
        match all.get(1) {
            Some(c) => c,
            None => return text(StatusCode::BAD_REQUEST, format!("previous terminated container \"{container}\" in pod \"{pod}\" not found")),
        }
    } else {
        match all.first() {
            Some(c) => c,
            None => return text(StatusCode::BAD_REQUEST, format!("container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating")),
        }
    };
    let status = cri
        .runtime
        .clone()
        .container_status(api::ContainerStatusRequest { container_id: chosen.id.clone(), verbose: false })
        .await
        .ok()
        .and_then(|r| r.into_inner().status);
    let Some(status) = status else {
        return text(StatusCode::NOT_FOUND, format!("container \"{container}\" in pod \"{pod}\" is not available"));
    };
    if status.log_path.is_empty() {
        return text(StatusCode::NOT_FOUND, format!("container \"{container}\" in pod \"{pod}\" has no log file"));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let id = chosen.id.clone();
    let runtime = cri.clone();
    let exited = move || -> futures::future::BoxFuture<'static, bool> {
        let mut rt = runtime.runtime.clone();
        let id = id.clone();
        Box::pin(async move {
            rt.container_status(api::ContainerStatusRequest { container_id: id, verbose: false })
                .await
                .ok()
                .and_then(|r| r.into_inner().status)
                .is_none_or(|s| s.state != api::ContainerState::ContainerRunning as i32)
        })
    };
    tokio::spawn(logs::stream(status.log_path.into(), opts, tx, exited));
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx).map(|chunk| Ok::<_, Infallible>(Frame::data(Bytes::from(chunk)))));
    Response::builder()
        .status(StatusCode::OK)
        .header(hyper::header::CONTENT_TYPE, "text/plain")
        .body(BodyExt::boxed(body))
        .expect("valid response")
}
