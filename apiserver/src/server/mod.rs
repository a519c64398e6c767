//! The HTTPS server: TLS with client-certificate authentication (openssl), one handler
//! behind every path, graceful shutdown. `Server::new(config)` prepares certificates,
//! storage and the bootstrap objects; `serve(listener, shutdown)` answers requests.

mod bootstrap;
mod bootstrap_policy;
pub mod handlers;
mod list_body;
pub mod negotiate;
mod openapi_v2;
pub mod pki;
pub mod pod_streams;
pub mod proxy;
pub mod request;
mod tls_stream;
mod watch_body;

use crate::cache::{CacheConfig, WatchCache};
use crate::filters::authn::Identity;
use crate::registry::store::Store;
use crate::storage::Storage;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use openssl::ssl::{AlpnError, SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Everything a server needs to start.
#[derive(Clone)]
pub struct Config {
    /// Directory for certificates (and, with the embedded store, data).
    pub data_dir: PathBuf,
    /// Service CIDR for ClusterIPs.
    pub service_cidr: String,
    /// Address clients should use (in `/api` and the `kubernetes` endpoints).
    pub advertise_address: std::net::IpAddr,
    /// The port clients connect to (for the `kubernetes` Service's endpoints).
    pub secure_port: u16,
    /// Storage backend.
    pub storage: Arc<dyn Storage>,
    /// Serve reads and watches from a watch cache (upstream `--watch-cache`, default on).
    pub watch_cache: bool,
    /// How often the resource metrics API scrapes the kubelets (metrics-server's
    /// `--metric-resolution`, default 15 s).
    pub metric_resolution: Duration,
}

/// Errors while starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Certificates could not be created or read.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// TLS setup failed.
    #[error("TLS setup failed: {0}")]
    Tls(#[from] openssl::error::ErrorStack),
    /// The configuration is wrong.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Bootstrap objects could not be written.
    #[error("bootstrap failed: {0}")]
    Bootstrap(#[from] crate::error::ApiError),
}

/// Shared state of the request handlers.
pub struct AppState {
    /// The generic store.
    pub store: Arc<Store>,
    /// `host:port` advertised in `/api`.
    pub advertise: String,
    /// TLS client for kubelet servers (pod logs, exec, attach, port-forward).
    pub kubelet: pod_streams::KubeletClient,
    /// Service-account token issuer and authenticator.
    pub tokens: crate::serviceaccount::Tokens,
    /// The resource metrics API's scraped points.
    pub metrics: crate::metrics::Metrics,
}

/// A prepared API server.
pub struct Server {
    state: Arc<AppState>,
    acceptor: Arc<SslAcceptor>,
    pki: pki::Pki,
}

impl Server {
    /// Prepares certificates, TLS and bootstrap objects.
    pub async fn new(config: Config) -> Result<Self, StartError> {
        let mut store = Store::new(config.storage.clone(), &config.service_cidr).map_err(StartError::Config)?;
        if config.watch_cache {
            store = store.with_cache(WatchCache::spawn(config.storage.clone(), CacheConfig::default()));
        }
        let store = Arc::new(store);
        let pki = pki::Pki::new(config.data_dir.join("pki"));
        let mut hosts = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            "kubernetes.default.svc.cluster.local".into(),
            store.first_service_ip().to_string(),
            config.advertise_address.to_string(),
        ];
        if let Ok(h) = hostname() {
            hosts.push(h);
        }
        hosts.dedup();
        pki.ensure(&hosts)?;
        // Generating the RSA service-account key (first start only) is the slowest step;
        // it runs while storage is restored and the bootstrap objects are written.
        let sa_key = {
            let pki = pki.clone();
            tokio::task::spawn_blocking(move || pki.service_account_key())
        };
        let acceptor = tls_acceptor(&pki)?;
        store.restore_allocations().await?;
        bootstrap::run(&store, config.advertise_address, config.secure_port).await?;
        let advertise = SocketAddr::new(config.advertise_address, config.secure_port).to_string();
        let kubelet = pod_streams::KubeletClient::new(&pki)?;
        let sa_key = sa_key.await.map_err(|e| StartError::Config(format!("service-account key generation failed: {e}")))??;
        let tokens = crate::serviceaccount::Tokens::new(crate::serviceaccount::jwt::SigningKey::new(sa_key)?);
        let metrics = crate::metrics::Metrics::new(config.metric_resolution);
        Ok(Server { state: Arc::new(AppState { store, advertise, kubelet, tokens, metrics }), acceptor: Arc::new(acceptor), pki })
    }

    /// The certificates (for writing kubeconfigs).
    pub fn pki(&self) -> &pki::Pki {
        &self.pki
    }

    /// The router (usable in-process in tests with an `Identity` extension).
    pub fn router(&self) -> Router {
        Router::new().fallback(handlers::dispatch).with_state(self.state.clone())
    }

    /// Serves HTTPS on `listener` until `shutdown` resolves, then drains for up to 5 s.
    pub async fn serve(self, listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        let router = self.router();
        let scraper = tokio::spawn(crate::metrics::scraper::run(self.state.clone()));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::pin!(shutdown);
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            continue;
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    let acceptor = self.acceptor.clone();
                    let router = router.clone();
                    let mut stop = stop_rx.clone();
                    connections.spawn(async move {
                        let Ok(ssl) = openssl::ssl::Ssl::new(acceptor.context()) else { return };
                        let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, tcp) else { return };
                        if let Err(e) = std::pin::Pin::new(&mut stream).accept().await {
                            tracing::debug!("TLS handshake failed: {e}");
                            return;
                        }
                        let identity = stream
                            .ssl()
                            .peer_certificate()
                            .map(|c| Identity::from_certificate(&c))
                            .unwrap_or_default();
                        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(identity.clone());
                            req.extensions_mut().insert(proxy::PeerAddr(peer));
                            let router = router.clone();
                            async move {
                                use tower::ServiceExt;
                                router.oneshot(req.map(axum::body::Body::new)).await
                            }
                        });
                        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls_stream::TlsStream(stream)), service);
                        tokio::pin!(conn);
                        tokio::select! {
                            _ = conn.as_mut() => {}
                            _ = stop.changed() => {
                                conn.as_mut().graceful_shutdown();
                                let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                            }
                        }
                    });
                    while connections.try_join_next().is_some() {}
                }
            }
        }
        scraper.abort();
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(6), async { while connections.join_next().await.is_some() {} }).await;
        Ok(())
    }
}

fn tls_acceptor(pki: &pki::Pki) -> Result<SslAcceptor, StartError> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_certificate_chain_file(pki.dir.join("apiserver.crt"))?;
    b.set_private_key_file(pki.dir.join("apiserver.key"), SslFiletype::PEM)?;
    b.set_ca_file(pki.dir.join("ca.crt"))?;
    let ca = openssl::x509::X509::from_pem(&pki.ca_cert()?)?;
    let mut names = openssl::stack::Stack::new()?;
    names.push(ca.subject_name().to_owned()?)?;
    b.set_client_ca_list(names);
    // Ask for a client certificate but let requests without one through to the 401 logic.
    b.set_verify(SslVerifyMode::PEER);
    // Clients that resume TLS sessions (kube-rs over openssl) fail the handshake with
    // "session id context uninitialized" unless a server verifying peers names one.
    b.set_session_id_context(b"ironkube-apiserver")?;
    b.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x02h2\x08http/1.1", client).ok_or(AlpnError::NOACK)
    });
    Ok(b.build())
}

/// The machine's host name.
pub fn hostname() -> std::io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?.trim().to_string())
}
