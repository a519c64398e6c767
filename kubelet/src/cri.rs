//! The CRI v1 connection: one tonic channel over the runtime's unix socket, shared by the
//! runtime and image services (cheap to clone).

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use std::path::{Path, PathBuf};
use tonic::transport::{Channel, Endpoint, Uri};

pub use k8s_cri::v1 as api;

/// Failures talking to the container runtime.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// The socket could not be reached.
    #[error("cannot connect to the container runtime at {path}: {source}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A call returned an error status.
    #[error("CRI call failed: {0}")]
    Call(#[from] tonic::Status),
}

/// Clients of the CRI runtime and image services over one channel.
#[derive(Clone)]
pub struct Cri {
    /// `runtime.v1.RuntimeService`.
    pub runtime: RuntimeServiceClient<Channel>,
    /// `runtime.v1.ImageService`.
    pub images: ImageServiceClient<Channel>,
}

/// Strips an optional `unix://` scheme from a `--container-runtime-endpoint` value.
pub fn socket_path(endpoint: &str) -> PathBuf {
    PathBuf::from(endpoint.strip_prefix("unix://").unwrap_or(endpoint))
}

impl Cri {
    /// Connects to the CRI socket (the connection is made now, so a missing runtime fails here).
    pub async fn connect(path: &Path) -> Result<Cri, CriError> {
        let socket = path.to_path_buf();
        let channel = Endpoint::from_static("http://[::1]:0")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(socket).await?)) }
            }))
            .await
            .map_err(|source| CriError::Connect { path: path.to_path_buf(), source })?;
        Ok(Cri { runtime: RuntimeServiceClient::new(channel.clone()), images: ImageServiceClient::new(channel) })
    }

    /// `Version`: the runtime's name and version, e.g. `containerd`, `1.6.20`.
    pub async fn version(&self) -> Result<api::VersionResponse, CriError> {
        Ok(self.runtime.clone().version(api::VersionRequest { version: "v1".into() }).await?.into_inner())
    }
}
