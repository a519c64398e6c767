//! Runs `ironkube_controllers::run_cluster_controllers` as its own process against the
//! cluster in a kubeconfig, so its memory can be measured alone
//! (`deploy/controllers-rss.py`).
//!
//! Usage: `cluster_controllers <kubeconfig>`

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: cluster_controllers <kubeconfig>"))?;
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(async {
        let kubeconfig = kube::config::Kubeconfig::read_from(&path)?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        ironkube_controllers::run_cluster_controllers(kube::Client::try_from(config)?, Default::default()).await
    })
}
