//! Content negotiation: which representation a client asked for in `Accept`, and how a
//! request body is decoded from its `Content-Type`.

use crate::error::ApiError;
use serde_json::Value;

/// The representation of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Plain JSON.
    Json,
    /// YAML.
    Yaml,
    /// `meta.k8s.io` Table of the given version (`v1` or `v1beta1`).
    Table(&'static str),
    /// `PartialObjectMetadata(List)` of the given version.
    Metadata(&'static str),
    /// Aggregated discovery (`apidiscovery.k8s.io/v2`).
    AggregatedDiscovery,
}

struct MediaRange<'a> {
    essence: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

impl MediaRange<'_> {
    fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

fn parse(header: &str) -> Vec<MediaRange<'_>> {
    header
        .split(',')
        .map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let essence = parts.next().unwrap_or_default();
            let params = parts.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim(), v.trim().trim_matches('"'))).collect();
            MediaRange { essence, params }
        })
        .collect()
}

/// Picks the first representation in `Accept` this server can produce.
pub fn negotiate(accept: Option<&str>) -> Result<Output, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output::Json);
    };
    for range in parse(accept) {
        let json_like = matches!(range.essence, "application/json" | "*/*" | "application/*");
        match (range.essence, range.param("as"), range.param("g"), range.param("v")) {
            (_, Some("Table"), Some("meta.k8s.io"), Some(v @ ("v1" | "v1beta1"))) if json_like => {
                return Ok(Output::Table(if v == "v1" { "v1" } else { "v1beta1" }))
            }
            (_, Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io"), Some(v @ ("v1" | "v1beta1"))) if json_like => {
                return Ok(Output::Metadata(if v == "v1" { "v1" } else { "v1beta1" }))
            }
            (_, Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2")) if json_like => {
                return Ok(Output::AggregatedDiscovery)
            }
            (_, Some(_), _, _) => continue,
            ("application/yaml", None, _, _) => return Ok(Output::Yaml),
            (_, None, _, _) if json_like => return Ok(Output::Json),
            _ => continue,
        }
    }
    Err(ApiError::NotAcceptable(
        "only the following media types are accepted: application/json, application/yaml".into(),
    ))
}

/// Decodes a request body according to its Content-Type: JSON, YAML or Kubernetes protobuf.
pub fn decode_body(content_type: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    let essence = content_type.and_then(|c| c.split(';').next()).map(str::trim).unwrap_or("application/json");
    if essence == crate::proto::MEDIA_TYPE || crate::proto::is_protobuf(body) {
        return crate::proto::decode(body).map_err(|e| ApiError::BadRequest(e.to_string()));
    }
    match essence {
        "application/yaml" => serde_yaml::from_slice::<Value>(body).map_err(|e| ApiError::BadRequest(format!("error converting YAML to JSON: yaml: {e}"))),
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(json_error),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other})"
        ))),
    }
}

/// A 400 that says where JSON went wrong.
pub fn json_error(e: serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!("error decoding request body as JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_headers() {
        assert_eq!(
            negotiate(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")).unwrap(),
            Output::Table("v1")
        );
        assert_eq!(
            negotiate(Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")).unwrap(),
            Output::AggregatedDiscovery
        );
        assert_eq!(negotiate(Some("application/vnd.kubernetes.protobuf, */*")).unwrap(), Output::Json);
        assert_eq!(negotiate(Some("application/yaml")).unwrap(), Output::Yaml);
        assert!(negotiate(Some("application/vnd.kubernetes.protobuf")).is_err());
    }

    #[test]
    fn malformed_json_says_where() {
        let err = decode_body(Some("application/json"), b"{\n  \"a\": ,\n}").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
