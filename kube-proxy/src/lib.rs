//! ironkube kube-proxy: Services to nftables/iptables rules.
//!
//! Not built yet. Until then [`run`] refuses honestly.

/// Why the component cannot run.
#[derive(Debug, thiserror::Error)]
#[error("kube-proxy is not implemented yet")]
pub struct NotImplemented;

/// Runs kube-proxy. Always fails until it is built.
pub fn run() -> Result<(), NotImplemented> {
    Err(NotImplemented)
}
