//! ironkube kubelet: drives containerd over CRI, CNI pod networking, node lease.
//!
//! Not built yet: issue 6 brings it. Until then [`run`] refuses honestly.

/// Why the component cannot run.
#[derive(Debug, thiserror::Error)]
#[error("the kubelet is not implemented yet (tracked in issue 6); use --no-kubelet")]
pub struct NotImplemented;

/// Runs the kubelet. Always fails until issue 6 lands.
pub fn run() -> Result<(), NotImplemented> {
    Err(NotImplemented)
}
