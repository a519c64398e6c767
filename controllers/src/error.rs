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
    /// Anything else worth a retry (the message says what).
    #[error("{0}")]
    Retry(String),
}

/// Whether `e` is an API answer with HTTP status `code` (e.g. 404, 409).
pub fn is_code(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// True when a kube error is the API's 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    is_code(e, 404)
}

/// True when a kube error is the API's 409 (AlreadyExists or Conflict).
pub fn is_conflict(e: &kube::Error) -> bool {
    is_code(e, 409)
}

/// The API's message for an error (what upstream puts in events), else the error.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// Error policy of controllers without a finer one: retry after a second, log at debug.
pub fn retry_soon<K>(_obj: std::sync::Arc<K>, error: &Error, _ctx: std::sync::Arc<impl Sized>) -> kube::runtime::controller::Action {
    tracing::debug!("reconcile failed, retrying: {error}");
    kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(1))
}
