//! ironkube controllers and scheduler (kube-runtime `Controller`s talking to the API).
//!
//! Not built yet: issue 7 brings them. Until then [`run`] refuses honestly, so
//! `ironkube controllers` never pretends to reconcile anything.
//! The scheduler is [`scheduler::run`].

pub mod scheduler;

/// Why the component cannot run.
#[derive(Debug, thiserror::Error)]
#[error("the controllers are not implemented yet (tracked in issue 7)")]
pub struct NotImplemented;

/// Runs the controller manager. Always fails until issue 7 lands.
pub fn run() -> Result<(), NotImplemented> {
    Err(NotImplemented)
}
