//! Kubernetes protobuf request bodies. Placeholder until the decoder lands.

/// The protobuf media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Whether a body starts with the protobuf magic `k8s\0`.
pub fn is_protobuf(body: &[u8]) -> bool {
    body.starts_with(b"k8s\0")
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProtoError(pub String);

/// Decodes a protobuf body into upstream JSON.
pub fn decode(_body: &[u8]) -> Result<serde_json::Value, ProtoError> {
    Err(ProtoError("protobuf request bodies are not supported yet".into()))
}
