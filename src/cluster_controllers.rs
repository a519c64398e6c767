//! Glue that starts the controllers of `ironkube_controllers::run_cluster_controllers`
//! inside `ironkube up`: they get their own client certificate and kubeconfig (user
//! `system:kube-controller-manager`, group `system:masters`) and talk to the API like
//! any other client.

use anyhow::Context;
use ironkube_apiserver::server::pki::Pki;
use std::path::Path;

/// The user the controllers authenticate as.
const USER: &str = "system:kube-controller-manager";

/// Writes `<data-dir>/controller-manager.kubeconfig` and starts the controllers on a task.
pub async fn start(pki: &Pki, url: &str, data_dir: &Path, config: ironkube_controllers::Config) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let path = data_dir.join("controller-manager.kubeconfig");
    let pair = pki.client(USER, Some("system:masters")).context("cannot issue the controller-manager certificate")?;
    pki.write_kubeconfig(&path, url, USER, &pair).context("cannot write the controller-manager kubeconfig")?;
    let kubeconfig = kube::config::Kubeconfig::read_from(&path)?;
    let client_config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let client = kube::Client::try_from(client_config)?;
    Ok(tokio::spawn(async move {
        if let Err(e) = ironkube_controllers::run_cluster_controllers(client, config).await {
            tracing::error!("controllers stopped: {e:#}");
        }
    }))
}
