//! `ironkube`: one binary for the whole cluster. This file only parses flags and hands
//! over to the component libraries (see `up.rs` for the all-in-one composition).

mod components;
mod dns;
mod proxy;
mod up;

use ironkube::{cluster_dns, node};

use clap::{Args, Parser, Subcommand};

/// jemalloc instead of glibc's malloc: the API server allocates and frees many small
/// values per request (JSON trees, managed fields), and glibc's arenas took about a fifth
/// of its CPU during a burst of creates. With jemalloc, ConfigMap creates/s rose 1.39x and
/// `up`'s pod creates 1.52x for 5% more memory (mimalloc: as fast, 25% more memory).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ironkube", version, about = "A Kubernetes cluster in Rust")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start an all-in-one cluster (API server and, as root, containerd and the kubelet).
    Up(Box<up::UpArgs>),
    /// Run only the API server.
    Apiserver(ServerArgs),
    /// Run the controller manager (leader-elected: several may run, one acts).
    Controllers(ControllersArgs),
    /// Run the scheduler against an API server (leader-elected: several may run, one acts).
    Scheduler(SchedulerArgs),
    /// Run the kubelet against an API server and a CRI runtime.
    Kubelet(node::KubeletArgs),
    /// Build the local images (ironkube.local/busybox, ironkube.local/pause) as OCI
    /// archives from this machine's busybox-static, optionally importing them into a
    /// containerd's k8s.io namespace (`up` does this by itself).
    Images(node::ImagesArgs),
    /// Run kube-proxy (iptables mode): Services to iptables rules on this machine.
    KubeProxy(proxy::KubeProxyArgs),
    /// Run the cluster DNS: Service names under the cluster domain, other names forwarded
    /// to the host's nameservers; makes `kube-system/kube-dns` point at it.
    Dns(dns::DnsArgs),
}

/// Flags of `ironkube controllers`.
#[derive(Args, Clone, Debug)]
pub struct ControllersArgs {
    /// Kubeconfig to reach the API server with (needs a user in `system:masters`).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    #[command(flatten)]
    pub flags: components::ControllerFlags,
}

/// Flags shared by `up` and `apiserver`.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// Directory for certificates and data.
    #[arg(long, default_value = ".ironkube", env = "IRONKUBE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Where to write the admin kubeconfig (default: <data-dir>/admin.kubeconfig).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// HTTPS port of the API server (0 picks a free port).
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: std::net::IpAddr,
    /// Address advertised to clients and in the `kubernetes` Service endpoints.
    #[arg(long, default_value = "127.0.0.1")]
    pub advertise_address: std::net::IpAddr,
    /// CIDR Service ClusterIPs come from.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: String,
    /// Store objects in this etcd cluster instead of the embedded store
    /// (`http://127.0.0.1:2379[,...]`, or `https://` with the `--etcd-*file` flags, as
    /// kube-apiserver's flags).
    #[arg(long, value_delimiter = ',', env = "IRONKUBE_ETCD_SERVERS")]
    pub etcd_servers: Vec<String>,
    /// CA certificate that signed etcd's serving certificate (for `https://` etcd servers).
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,
    /// Client certificate presented to etcd (for etcd's `--client-cert-auth`).
    #[arg(long)]
    pub etcd_certfile: Option<PathBuf>,
    /// Private key of `--etcd-certfile`.
    #[arg(long)]
    pub etcd_keyfile: Option<PathBuf>,
    /// Serve reads and watches from the in-memory watch cache (`--watch-cache=false` reads
    /// storage on every request, like kube-apiserver's flag of the same name).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub watch_cache: bool,
    /// How often the resource metrics API (`kubectl top`) scrapes every kubelet, as
    /// metrics-server's flag: a Go duration (`15s`, `500ms`, `1m`).
    #[arg(long, default_value = "15s", value_parser = positive_go_duration)]
    pub metric_resolution: std::time::Duration,
}

/// A positive Go duration (`15s`, `500ms`, `1m`), as metrics-server's flag takes.
fn positive_go_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = components::go_duration(s)?;
    if d.is_zero() {
        return Err(format!("the interval must be positive, got {s:?}"));
    }
    Ok(d)
}

/// Flags of `ironkube scheduler`.
#[derive(Args, Clone, Debug)]
pub struct SchedulerArgs {
    /// Kubeconfig with the API server and credentials.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// Schedule pods whose `spec.schedulerName` is this.
    #[arg(long, default_value = "default-scheduler")]
    pub scheduler_name: String,
}


async fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let client = ironkube_controllers::client_from_kubeconfig(&args.kubeconfig, "kube-scheduler").await?;
    let config = ironkube_controllers::scheduler::Config { scheduler_name: args.scheduler_name, ..Default::default() };
    ironkube_controllers::scheduler::run_leader_elected(client, config, ironkube::shutdown_signal()).await
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    ironkube::run_command(|runtime| match cli.command {
        Command::Up(args) => runtime.block_on(up::up(*args)),
        Command::Apiserver(args) => runtime.block_on(up::apiserver_only(args)),
        Command::Scheduler(args) => runtime.block_on(scheduler(args)),
        Command::Controllers(args) => runtime.block_on(async {
            let client = ironkube_controllers::client_from_kubeconfig(&args.kubeconfig, "kube-controller-manager").await?;
            let config = ironkube_controllers::Config { root_ca: ironkube_controllers::root_ca_from_kubeconfig(&args.kubeconfig), ..args.flags.config() };
            ironkube_controllers::run(client, config, ironkube::shutdown_signal()).await?;
            Ok(())
        }),
        Command::Kubelet(args) => runtime.block_on(node::kubelet(args)),
        Command::Images(args) => node::images(args),
        Command::KubeProxy(args) => runtime.block_on(proxy::kube_proxy(args)),
        Command::Dns(args) => runtime.block_on(dns::dns(args)),
    })
}

#[cfg(test)]
mod tests {
    use super::positive_go_duration;
    use std::time::Duration;

    #[test]
    fn metric_resolution_takes_positive_go_durations() {
        assert_eq!(positive_go_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(positive_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(positive_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(positive_go_duration("15").is_err(), "Go durations need a unit");
        assert!(positive_go_duration("0s").is_err());
        assert!(positive_go_duration("-1s").is_err());
        assert!(positive_go_duration("fast").is_err());
    }
}
