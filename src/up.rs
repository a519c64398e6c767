//! `ironkube up`: starts the API server in-process, waits until it answers `/readyz`
//! over TLS, writes the admin kubeconfig and says what it did, one line per step.

use crate::ServerArgs;
use anyhow::Context;
use clap::Args;
use ironkube_apiserver::storage::RedbStorage;
use ironkube_apiserver::{Config, Server};
use std::sync::Arc;
use std::time::Instant;

/// Flags of `ironkube up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Run the control plane only (no kubelet on this machine).
    #[arg(long)]
    no_kubelet: bool,
}

/// Prints a line; a closed stdout (e.g. piped into `head`) must not stop the cluster.
fn say(line: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn step(name: &str, detail: impl std::fmt::Display, since: Instant) {
    say(format_args!("  {name:<14} {detail} ({} ms)", since.elapsed().as_millis()));
}

struct Started {
    server: Server,
    listener: tokio::net::TcpListener,
    port: u16,
}

async fn start(args: &ServerArgs, t0: Instant) -> anyhow::Result<Started> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data directory {}", args.data_dir.display()))?;
    std::fs::read_dir(&args.data_dir).with_context(|| format!("cannot read the data directory {}", args.data_dir.display()))?;
    let addr = std::net::SocketAddr::new(args.bind_address, args.secure_port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!("port {} is already in use (is another API server running? pick another with --secure-port)", args.secure_port),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!("not allowed to listen on {addr} (ports below 1024 need root)"),
        _ => anyhow::anyhow!("cannot listen on {addr}: {e}"),
    })?;
    let port = listener.local_addr()?.port();
    let had_pki = args.data_dir.join("pki/ca.crt").exists();
    let storage = Arc::new(RedbStorage::open(&args.data_dir).context("cannot open the store")?);
    step("store", format!("embedded, {}", storage.path().display()), t0);
    let config = Config {
        data_dir: args.data_dir.clone(),
        service_cidr: args.service_cluster_ip_range.clone(),
        advertise_address: args.advertise_address,
        secure_port: port,
        storage,
    };
    let server = Server::new(config).await.context("cannot start the API server")?;
    let pki_dir = args.data_dir.join("pki");
    step("certificates", format!("{} {}", if had_pki { "reused" } else { "generated in" }, pki_dir.display()), t0);
    Ok(Started { server, listener, port })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Waits until `/readyz` answers over TLS (proves the listener, TLS and router work).
async fn wait_ready(port: u16, ca: &[u8]) -> anyhow::Result<()> {
    use openssl::ssl::{SslConnector, SslMethod};
    let mut b = SslConnector::builder(SslMethod::tls_client())?;
    b.cert_store_mut().add_cert(openssl::x509::X509::from_pem(ca)?)?;
    let connector = b.build();
    for _ in 0..200 {
        if let Ok(tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let ssl = connector.configure()?.into_ssl("localhost")?;
            let mut stream = tokio_openssl::SslStream::new(ssl, tcp)?;
            if std::pin::Pin::new(&mut stream).connect().await.is_ok() {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
                let mut buf = Vec::new();
                stream.read_to_end(&mut buf).await.ok();
                if buf.starts_with(b"HTTP/1.1 200") {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    anyhow::bail!("the API server did not become ready")
}

/// Starts the scheduler in-process as an API client of its own
/// (`system:kube-scheduler`, in `system:masters` until RBAC lands), with a kubeconfig
/// in the data directory.
fn start_scheduler(
    pki: &ironkube_apiserver::server::pki::Pki,
    data_dir: &std::path::Path,
    url: &str,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let path = data_dir.join("scheduler.kubeconfig");
    let pair = pki.client("system:kube-scheduler", Some("system:masters"))?;
    pki.write_kubeconfig(&path, url, "system:kube-scheduler", &pair).context("cannot write the scheduler kubeconfig")?;
    Ok(tokio::spawn(async move {
        let result = match crate::client_from(&path).await {
            Ok(client) => ironkube_controllers::scheduler::run(client, Default::default()).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "the scheduler stopped");
        }
        result
    }))
}

async fn run(args: ServerArgs, no_kubelet: Option<bool>) -> anyhow::Result<()> {
    let t0 = Instant::now();
    say(format_args!("ironkube: starting"));
    let Started { server, listener, port } = start(&args, t0).await?;
    let kubeconfig = args.kubeconfig.clone().unwrap_or_else(|| args.data_dir.join("admin.kubeconfig"));
    let url = format!("https://{}:{port}", if args.advertise_address.is_unspecified() { "127.0.0.1".to_string() } else { args.advertise_address.to_string() });
    let pki = server.pki().clone();
    pki.write_kubeconfig(&kubeconfig, &url, "admin", &pki.admin()?).context("cannot write the kubeconfig")?;
    let ca = pki.ca_cert()?;
    let serving = tokio::spawn(server.serve(listener, shutdown_signal()));
    wait_ready(port, &ca).await?;
    step("API ready", &url, t0);
    match no_kubelet {
        Some(true) => step("kubelet", "skipped (--no-kubelet)", t0),
        Some(false) => step("kubelet", "not built yet (issue 6): this cluster stores objects but runs no pods", t0),
        None => {}
    }
    step("controllers", "not built yet (issue 7): Deployments stay at 0 replicas", t0);
    // `ironkube up` runs the components; `ironkube apiserver` (no_kubelet == None) does not.
    let scheduler = match no_kubelet {
        Some(_) => Some(start_scheduler(&pki, &args.data_dir, &url)?),
        None => None,
    };
    if scheduler.is_some() {
        step("scheduler", "running (default-scheduler)", t0);
    }
    let shown = kubeconfig.display().to_string();
    say(format_args!("\nCluster is up. To use it:\n  export KUBECONFIG={shown}\n  kubectl get ns\nPress Ctrl-C (or send SIGTERM) to stop."));
    serving.await.context("server task failed")?.context("server failed")?;
    if let Some(task) = scheduler {
        task.abort();
    }
    say(format_args!("ironkube: stopped"));
    Ok(())
}

/// `ironkube up`.
pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    run(args.server, Some(args.no_kubelet)).await
}

/// `ironkube apiserver`.
pub async fn apiserver_only(args: ServerArgs) -> anyhow::Result<()> {
    run(args, None).await
}
