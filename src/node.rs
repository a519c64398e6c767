//! The node half of `ironkube up` and the standalone `ironkube kubelet`: containerd with
//! its own directories, the CNI network, the local images, then the kubelet.

use anyhow::Context;
use clap::Args;
use ironkube_kubelet::cni::CniNetwork;
use ironkube_kubelet::containerd::{Containerd, ContainerdConfig};
use ironkube_kubelet::{cri, local_images};
use std::path::{Path, PathBuf};

/// Which node this is: flags of `up`, `kubelet` and `dns` (the DNS server names the node
/// on the `kube-dns` endpoint and points it at the node IP).
#[derive(Args, Clone, Debug)]
pub struct NodeIdentityFlags {
    /// Node name (default: the hostname).
    #[arg(long)]
    pub hostname_override: Option<String>,
    /// The node's InternalIP (default: the address of the default route).
    #[arg(long)]
    pub node_ip: Option<String>,
}

impl NodeIdentityFlags {
    /// `--hostname-override`, else the hostname.
    pub fn node_name(&self) -> String {
        self.hostname_override.clone().unwrap_or_else(ironkube_kubelet::hostname)
    }

    /// `--node-ip`, else the address of the default route.
    pub fn node_ip(&self) -> String {
        self.node_ip.clone().unwrap_or_else(ironkube_kubelet::default_node_ip)
    }
}

/// Node flags shared by `up` and `kubelet`.
#[derive(Args, Clone, Debug)]
pub struct NodeArgs {
    /// CRI socket (`unix://` optional). `up` starts containerd there unless something
    /// already answers (default: <data-dir>/containerd/containerd.sock).
    #[arg(long)]
    pub container_runtime_endpoint: Option<String>,
    #[command(flatten)]
    pub identity: NodeIdentityFlags,
    /// The node's pod CIDR (CNI host-local range); give each node on a machine its own.
    #[arg(long, default_value = "10.244.0.0/24")]
    pub pod_cidr: String,
    /// Port of the kubelet server (logs, exec, attach, port-forward); 0 picks a free port.
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    #[command(flatten)]
    pub dns: crate::cluster_dns::ClusterDnsFlags,
}

impl NodeArgs {
    fn socket(&self, data_dir: &Path) -> PathBuf {
        match &self.container_runtime_endpoint {
            Some(e) => cri::socket_path(e),
            None => data_dir.join("containerd/containerd.sock"),
        }
    }

    /// The kubelet config for a node whose files live under `data_dir`.
    pub fn kubelet_config(&self, data_dir: &Path, remove_pods_on_exit: bool) -> ironkube_kubelet::Config {
        ironkube_kubelet::Config {
            node_name: self.identity.node_name(),
            cri_socket: self.socket(data_dir),
            root_dir: data_dir.join("kubelet"),
            pod_cidr: Some(self.pod_cidr.clone()),
            node_ip: self.identity.node_ip(),
            remove_pods_on_exit,
            kubelet_port: self.kubelet_port,
            cluster_dns: self.dns.cluster_dns.clone(),
            cluster_domain: self.dns.cluster_domain.clone(),
            resolv_conf: self.dns.resolv_conf(),
        }
    }
}

/// The node's runtime side, torn down in reverse on drop of [`NodeRuntime::stop`].
pub struct NodeRuntime {
    containerd: Containerd,
    network: CniNetwork,
}

/// Whether this process can run pods (root is needed for containerd, mounts and CNI).
pub fn can_run_pods() -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("needs root".into());
    }
    if which("containerd").is_none() {
        return Err("containerd is not installed (apt-get install containerd runc containernetworking-plugins)".into());
    }
    Ok(())
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(bin)).find(|p| p.is_file()))
}

impl NodeRuntime {
    /// Writes the CNI config, starts containerd if needed and imports missing local images.
    pub async fn start(data_dir: &Path, args: &NodeArgs) -> anyhow::Result<NodeRuntime> {
        let socket = args.socket(data_dir);
        let cni_conf_dir = data_dir.join("cni/net.d");
        let network = CniNetwork { pod_cidr: args.pod_cidr.clone(), conf_dir: cni_conf_dir.clone(), ipam_dir: data_dir.join("cni/ipam") };
        // Pods of a crashed earlier run still use the bridge while their containerd lives.
        let fresh = !ironkube_kubelet::containerd::answers(&socket);
        network.install(fresh).context("cannot write the CNI configuration")?;
        let cfg = ContainerdConfig {
            socket: socket.clone(),
            dir: data_dir.join("containerd"),
            cni_conf_dir,
            cni_bin_dir: PathBuf::from("/usr/lib/cni"),
            sandbox_image: local_images::PAUSE.into(),
        };
        let containerd = tokio::task::spawn_blocking(move || Containerd::ensure(&cfg)).await?.context("cannot start containerd")?;
        let runtime = NodeRuntime { containerd, network };
        let client = cri::Cri::connect(&socket).await?;
        // The socket opens before the CRI plugin has initialized ("server is not
        // initialized yet"): wait until it answers.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while let Err(e) = client.version().await {
            if std::time::Instant::now() > deadline {
                return Err(e).context("containerd's CRI plugin did not come up");
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut missing = Vec::new();
        for image in [local_images::PAUSE, local_images::BUSYBOX] {
            let spec = cri::api::ImageSpec { image: image.into(), ..Default::default() };
            let present = client.images.clone().image_status(cri::api::ImageStatusRequest { image: Some(spec), verbose: false }).await?.into_inner().image.is_some();
            if !present {
                missing.push(image);
            }
        }
        if !missing.is_empty() {
            let dir = data_dir.join("images");
            let socket = socket.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let (busybox, pause) = local_images::build(&dir)?;
                for (name, archive) in [(local_images::PAUSE, pause), (local_images::BUSYBOX, busybox)] {
                    if missing.contains(&name) {
                        local_images::import(&socket, &archive)?;
                    }
                }
                Ok(())
            })
            .await??;
        }
        Ok(runtime)
    }

    /// How containerd came to run: "started", "adopted" (an earlier run's) or "already running".
    pub fn containerd_origin(&self) -> &'static str {
        if self.containerd.started_here() {
            "started"
        } else if self.containerd.owned() {
            "adopted from an earlier run"
        } else {
            "already running"
        }
    }

    /// Stops containerd (when we started it) and removes the bridge.
    pub fn stop(mut self) {
        let ours = self.containerd.owned();
        self.containerd.stop();
        if ours {
            self.network.remove_bridge();
        }
    }
}

/// Binds the kubelet server on all addresses at the configured port (0 = a free one)
/// with a serving certificate for the node issued from the cluster CA.
pub async fn bind_kubelet_server(pki: &ironkube_apiserver::server::pki::Pki, config: &ironkube_kubelet::Config) -> anyhow::Result<ironkube_kubelet::server::KubeletServer> {
    let hosts = vec![config.node_name.clone(), config.node_ip.clone(), "localhost".into(), "127.0.0.1".into()];
    let serving = pki.serving_for(&format!("system:node:{}", config.node_name), &hosts)?;
    let tls = ironkube_kubelet::server::TlsConfig { cert: serving.cert, key: serving.key, client_ca: pki.ca_cert()? };
    let addr = std::net::SocketAddr::from(([0, 0, 0, 0], config.kubelet_port));
    Ok(ironkube_kubelet::server::KubeletServer::bind(addr, &tls).await?)
}


/// Flags of `ironkube kubelet`.
#[derive(Args, Debug)]
pub struct KubeletArgs {
    /// Kubeconfig to reach the API server with.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Directory for pod volumes and logs.
    #[arg(long, default_value = "/var/lib/ironkube-kubelet")]
    pub root_dir: PathBuf,
    #[command(flatten)]
    pub node: NodeArgs,
    /// The kubelet server's certificate (PEM); with the key and client CA it enables
    /// logs, exec, attach and port-forward.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// The kubelet server's private key (PEM).
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA whose client certificates may call the kubelet server (the cluster CA).
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
}

/// `ironkube kubelet`: runs against an existing runtime and API server until SIGTERM;
/// pods keep running when it stops, and a restarted kubelet adopts them.
pub async fn kubelet(args: KubeletArgs) -> anyhow::Result<()> {
    let client = ironkube_controllers::client_from_kubeconfig(&args.kubeconfig, "kubelet").await?;
    let mut config = args.node.kubelet_config(&args.root_dir, false);
    config.root_dir = args.root_dir.clone();
    if args.node.container_runtime_endpoint.is_none() {
        config.cri_socket = PathBuf::from("/run/containerd/containerd.sock");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    match (&args.tls_cert_file, &args.tls_private_key_file, &args.client_ca_file) {
        (Some(cert), Some(key), Some(ca)) => {
            let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
            let tls = ironkube_kubelet::server::TlsConfig { cert: read(cert)?, key: read(key)?, client_ca: read(ca)? };
            let server = ironkube_kubelet::server::KubeletServer::bind(std::net::SocketAddr::from(([0, 0, 0, 0], config.kubelet_port)), &tls).await?;
            config.kubelet_port = server.port();
            println!("kubelet: serving logs, exec, attach and port-forward on port {}", config.kubelet_port);
            tokio::spawn(server.serve(cri::Cri::connect(&config.cri_socket).await?, stop_rx));
        }
        _ => println!("kubelet: server off (logs, exec, attach and port-forward need --tls-cert-file, --tls-private-key-file and --client-ca-file)"),
    }
    let kubelet = ironkube_kubelet::Kubelet::start(client, config).await?;
    println!("kubelet: node {} Ready", kubelet.node_name());
    kubelet.run(crate::shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    Ok(())
}

/// Flags of `ironkube images`.
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Directory to write `busybox.oci.tar` and `pause.oci.tar` to.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Import both into the containerd at this socket (namespace k8s.io).
    #[arg(long)]
    pub import_to: Option<PathBuf>,
}

/// `ironkube images`.
pub fn images(args: ImagesArgs) -> anyhow::Result<()> {
    let (busybox, pause) = local_images::build(&args.out)?;
    println!("{} -> {}\n{} -> {}", local_images::BUSYBOX, busybox.display(), local_images::PAUSE, pause.display());
    if let Some(socket) = &args.import_to {
        for archive in [&pause, &busybox] {
            local_images::import(socket, archive)?;
        }
        println!("imported into {} (namespace k8s.io)", socket.display());
    }
    Ok(())
}
