//! Errors of the controllers.

/// Why a reconcile or the manager failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    /// An object cannot be handled as it is (e.g. an invalid selector); not retried soon.
    #[error("{kind} {name}: {message}")]
    Invalid {
        /// Kind of the object.
        kind: &'static str,
        /// namespace/name of the object.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The kubeconfig cannot be read or used.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// Reading or writing the leader Lease failed in a way retries cannot fix.
    #[error("leader election: {0}")]
    Leader(String),
}

/// Whether `e` is an API answer with HTTP status `code` (e.g. 404, 409).
pub fn is_code(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}
