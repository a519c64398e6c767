//! `ironkube up`: starts the API server in-process, waits until it answers `/readyz`
//! over TLS, writes the admin kubeconfig and says what it did, one line per step.

use crate::{components, ServerArgs};
use anyhow::Context;
use clap::Args;
use ironkube::shutdown_signal;
use ironkube_apiserver::storage::{EtcdOptions, EtcdStorage, EtcdTls, RedbStorage, Storage};
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
    #[command(flatten)]
    controllers: components::ControllerFlags,
    #[command(flatten)]
    node: crate::node::NodeArgs,
    #[command(flatten)]
    proxy: crate::proxy::ProxyFlags,
    #[command(flatten)]
    dns: crate::dns::DnsFlags,
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
    let storage = open_store(args).await?;
    step("store", store_description(args), t0);
    let config = Config {
        data_dir: args.data_dir.clone(),
        service_cidr: args.service_cluster_ip_range.clone(),
        advertise_address: args.advertise_address,
        secure_port: port,
        storage,
        watch_cache: args.watch_cache,
        metric_resolution: args.metric_resolution,
    };
    let server = Server::new(config).await.context("cannot start the API server")?;
    let pki_dir = args.data_dir.join("pki");
    step("certificates", format!("{} {}", if had_pki { "reused" } else { "generated in" }, pki_dir.display()), t0);
    Ok(Started { server, listener, port })
}

/// The embedded store in the data directory, or etcd when `--etcd-servers` is given.
async fn open_store(args: &ServerArgs) -> anyhow::Result<Arc<dyn Storage>> {
    if args.etcd_servers.is_empty() {
        return Ok(Arc::new(RedbStorage::open(&args.data_dir).context("cannot open the store")?));
    }
    let tls = EtcdTls { ca_file: args.etcd_cafile.clone(), cert_file: args.etcd_certfile.clone(), key_file: args.etcd_keyfile.clone() };
    let options = EtcdOptions { tls, ..EtcdOptions::default() };
    let etcd = EtcdStorage::connect(&args.etcd_servers, options).await.context("cannot use etcd")?;
    Ok(Arc::new(etcd))
}

fn store_description(args: &ServerArgs) -> String {
    match args.etcd_servers.is_empty() {
        true => format!("embedded, {}", args.data_dir.join(ironkube_apiserver::storage::FILE_NAME).display()),
        false => format!("etcd, {}", args.etcd_servers.join(",")),
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

/// How long the server waits for the controllers and the scheduler to stop (they release
/// their leases through it) before it stops anyway.
const COMPONENTS_STOP: std::time::Duration = std::time::Duration::from_secs(3);

/// What `up` runs besides the API server.
enum NodePlan {
    /// `ironkube apiserver`: nothing, and no mention.
    None,
    /// `--no-kubelet`.
    Skipped,
    /// A kubelet over the node's own containerd, kube-proxy and the cluster DNS.
    Kubelet(Box<crate::node::NodeArgs>, crate::proxy::ProxyFlags, crate::dns::DnsFlags),
}

async fn run(args: ServerArgs, plan: NodePlan, controllers: Option<ironkube_controllers::Config>) -> anyhow::Result<()> {
    let t0 = Instant::now();
    say(format_args!("ironkube: starting"));
    let Started { server, listener, port } = start(&args, t0).await?;
    let kubeconfig = args.kubeconfig.clone().unwrap_or_else(|| args.data_dir.join("admin.kubeconfig"));
    let url = format!("https://{}:{port}", if args.advertise_address.is_unspecified() { "127.0.0.1".to_string() } else { args.advertise_address.to_string() });
    let pki = server.pki().clone();
    pki.write_kubeconfig(&kubeconfig, &url, "admin", &pki.admin()?).context("cannot write the kubeconfig")?;
    let ca = pki.ca_cert()?;
    // The kubelet, controllers and scheduler stop first (the kubelet needs the API to
    // report NotReady, the others release their leases and close their watches), then the
    // server, which would otherwise wait for those watches to end.
    let (kubelet_done_tx, kubelet_done_rx) = tokio::sync::oneshot::channel::<()>();
    let (components_tx, components_rx) = tokio::sync::oneshot::channel::<Vec<tokio::task::JoinHandle<()>>>();
    let node_plan_has_kubelet = matches!(plan, NodePlan::Kubelet(..));
    let server_stop = async move {
        if node_plan_has_kubelet {
            let _ = kubelet_done_rx.await;
        } else {
            drop(kubelet_done_rx);
            shutdown_signal().await;
        }
        if let Ok(components) = components_rx.await {
            let all = async {
                for component in components {
                    let _ = component.await;
                }
            };
            if tokio::time::timeout(COMPONENTS_STOP, all).await.is_err() {
                tracing::warn!("the controllers or the scheduler did not stop within {COMPONENTS_STOP:?}");
            }
        }
    };
    let serving = tokio::spawn(server.serve(listener, server_stop));
    wait_ready(port, &ca).await?;
    step("API ready", &url, t0);
    let mut kubelet_task = None;
    let mut proxy_task = None;
    let mut dns_task = None;
    match plan {
        NodePlan::Skipped => step("kubelet", "skipped (--no-kubelet)", t0),
        NodePlan::None => {}
        NodePlan::Kubelet(node_args, proxy_flags, dns_flags) => match crate::node::can_run_pods() {
            Err(why) => {
                step("kubelet", format!("skipped: {why} (this cluster stores objects but runs no pods)"), t0);
                let _ = kubelet_done_tx.send(());
            }
            Ok(()) => {
                let runtime = crate::node::NodeRuntime::start(&args.data_dir, &node_args).await?;
                step("containerd", runtime.containerd_origin(), t0);
                let mut config = node_args.kubelet_config(&args.data_dir, true);
                config.cluster_dns = node_args.dns.servers_or_default(&args.service_cluster_ip_range)?;
                let cluster_dns = config.cluster_dns[0];
                let server = crate::node::bind_kubelet_server(&pki, &config).await?;
                config.kubelet_port = server.port();
                let (server_stop_tx, server_stop_rx) = tokio::sync::watch::channel(false);
                let server_cri = ironkube_kubelet::cri::Cri::connect(&config.cri_socket).await?;
                tokio::spawn(server.serve(server_cri, server_stop_rx));
                step("node API", format!("https://{}:{}", config.node_ip, config.kubelet_port), t0);
                // User `system:node:<name>`; see `components` for why it is in system:masters.
                let user = format!("system:node:{}", config.node_name);
                let kubelet_kubeconfig = components::write_kubeconfig(&pki, &args.data_dir, &url, &user, "kubelet.kubeconfig")?;
                let client = ironkube_controllers::client_from_kubeconfig(&kubelet_kubeconfig, "kubelet").await?;
                let proxy_config = proxy_flags.config(config.node_name.clone(), config.pod_cidr.clone());
                let (node_name, config_node_ip) = (config.node_name.clone(), config.node_ip.clone());
                let kubelet = ironkube_kubelet::Kubelet::start(client, config).await?;
                step("node Ready", kubelet.node_name(), t0);
                let prefix = proxy_config.chain_prefix.clone();
                proxy_task = Some(components::spawn_kube_proxy(&pki, &args.data_dir, &url, proxy_config)?);
                step("kube-proxy", format!("started (iptables, chains {prefix}-*)"), t0);
                let node_ip = config_node_ip.parse().with_context(|| format!("node IP {config_node_ip}"))?;
                let dns_config = dns_flags.config(&node_args.dns, cluster_dns, node_ip, Some(node_name));
                let listeners = crate::dns::bind(&dns_config).await?;
                let (dns_ip, listen) = (dns_config.cluster_dns, listeners.local_addr()?);
                dns_task = Some(components::spawn_dns(&pki, &args.data_dir, &url, dns_config, listeners)?);
                step("cluster DNS", format!("{dns_ip}:53 → {listen}"), t0);
                kubelet_task = Some(tokio::spawn(async move {
                    let result = kubelet.run(shutdown_signal()).await;
                    let _ = server_stop_tx.send(true);
                    runtime.stop();
                    let _ = kubelet_done_tx.send(());
                    result
                }));
            }
        },
    }
    // `ironkube up` runs the components; `ironkube apiserver` does not.
    if let Some(config) = controllers {
        let manager = components::spawn_controllers(&pki, &args.data_dir, &url, config)?;
        step("controllers", "started (leader election on kube-system/kube-controller-manager)", t0);
        let scheduler = components::spawn_scheduler(&pki, &args.data_dir, &url)?;
        step("scheduler", "started (default-scheduler)", t0);
        let _ = components_tx.send(vec![manager, scheduler]);
    } else {
        drop(components_tx);
    }
    let shown = kubeconfig.display().to_string();
    say(format_args!("\nCluster is up. To use it:\n  export KUBECONFIG={shown}\n  kubectl get ns\nPress Ctrl-C (or send SIGTERM) to stop."));
    if let Some(task) = kubelet_task {
        task.await.context("kubelet task failed")?.context("kubelet failed")?;
    }
    // Its rules come off the host before the process ends.
    if let Some(task) = proxy_task {
        let _ = task.await;
    }
    if let Some(task) = dns_task {
        let _ = task.await;
    }
    serving.await.context("server task failed")?.context("server failed")?;
    say(format_args!("ironkube: stopped"));
    Ok(())
}

/// `ironkube up`.
pub async fn up(mut args: UpArgs) -> anyhow::Result<()> {
    // Absolute, because containerd, its shims and hostPath volumes resolve it elsewhere.
    args.server.data_dir = std::path::absolute(&args.server.data_dir)
        .with_context(|| format!("cannot resolve the data directory {}", args.server.data_dir.display()))?;
    let controllers = args.controllers.with_up_defaults(&args.server.data_dir, args.node.identity.hostname_override.as_deref());
    let plan = if args.no_kubelet { NodePlan::Skipped } else { NodePlan::Kubelet(Box::new(args.node), args.proxy, args.dns) };
    run(args.server, plan, Some(controllers.config())).await
}

/// `ironkube apiserver`.
pub async fn apiserver_only(args: ServerArgs) -> anyhow::Result<()> {
    run(args, NodePlan::None, None).await
}
