//! `ironkube-kubelet`: the kubelet alone, for machines that only run pods (worker nodes;
//! upstream ships its kubelet as its own binary too). The flags and the code are those of
//! `ironkube kubelet`; what differs is the binary: without the API server, the controllers
//! and kube-proxy linked in, the kubelet's code is packed into far fewer pages, so the
//! process maps and keeps resident much less of it (issue 6's kubelet RSS).

use clap::Parser;

#[derive(Parser)]
#[command(name = "ironkube-kubelet", version, about = "The ironkube kubelet: runs a node's pods against an API server and a CRI runtime")]
struct Cli {
    #[command(flatten)]
    kubelet: ironkube::node::KubeletArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    ironkube::run_command(|runtime| runtime.block_on(ironkube::node::kubelet(cli.kubelet)))
}
