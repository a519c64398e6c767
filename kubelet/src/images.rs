//! Getting a container's image ready per `imagePullPolicy` (upstream
//! `pkg/kubelet/images/image_manager.go`), with the same event reasons and messages.

use crate::cri::{Cri, api};

/// The local registry host: images under it exist only on this node, so a present image
/// counts as pulled even with `imagePullPolicy: Always` (there is nothing to pull from).
pub const LOCAL_REGISTRY: &str = "ironkube.local/";

/// Outcome of [`ensure`].
#[derive(Debug)]
pub enum Pulled {
    /// Already present (event `Pulled`, "Container image ... already present on machine").
    Present(String),
    /// Pulled now; the image ref.
    Pulled(String),
}

/// Why an image is not available: the waiting reason and message.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// `ErrImageNeverPull`.
    #[error("Container image \"{0}\" is not present with pull policy of Never")]
    NeverPull(String),
    /// `ErrImagePull`.
    #[error("{0}")]
    Pull(String),
}

impl PullError {
    /// The container waiting reason.
    pub fn reason(&self) -> &'static str {
        match self {
            PullError::NeverPull(_) => "ErrImageNeverPull",
            PullError::Pull(_) => "ErrImagePull",
        }
    }
}

async fn present(cri: &Cri, image: &str) -> Option<String> {
    let resp = cri.images.clone().image_status(api::ImageStatusRequest { image: Some(api::ImageSpec { image: image.into(), ..Default::default() }), verbose: false }).await.ok()?;
    resp.into_inner().image.map(|i| i.id)
}

/// Makes `image` available according to `policy` (`Always`, `IfNotPresent`, `Never`).
pub async fn ensure(cri: &Cri, image: &str, policy: &str) -> Result<Pulled, PullError> {
    let local = present(cri, image).await;
    let must_pull = policy == "Always" && !image.starts_with(LOCAL_REGISTRY);
    if let (Some(id), false) = (&local, must_pull) {
        return Ok(Pulled::Present(id.clone()));
    }
    if policy == "Never" {
        return Err(PullError::NeverPull(image.into()));
    }
    let req = api::PullImageRequest { image: Some(api::ImageSpec { image: image.into(), ..Default::default() }), auth: None, sandbox_config: None };
    match cri.images.clone().pull_image(req).await {
        Ok(r) => Ok(Pulled::Pulled(r.into_inner().image_ref)),
        Err(e) => Err(PullError::Pull(format!("failed to pull and unpack image \"{image}\": {}", e.message()))),
    }
}
