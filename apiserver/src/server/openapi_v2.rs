//! `GET /openapi/v2` as upstream's kube-openapi handler (`pkg/handler/handler.go`) serves it:
//! JSON or gnostic protobuf chosen from `Accept`, `Vary: Accept`, one `ETag` for both
//! forms, `Last-Modified`, and `304 Not Modified` for a matching `If-None-Match` (or,
//! without one, an `If-Modified-Since` not older than the document), as Go's
//! `http.ServeContent` does. No acceptable type is a bare 406, as upstream.
//!
//! Not done (upstream does): gzip when `Accept-Encoding` allows it, `Range` requests.

use crate::openapi::OpenApi;
use axum::body::Body;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use std::time::SystemTime;

/// The protobuf media type kubectl (client-go discovery) asks for.
const PROTOBUF_DEPRECATED: &str = "com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The protobuf media type upstream also accepts, and answers with for both.
const PROTOBUF: &str = "com.github.proto-openapi.spec.v2.v1.0+protobuf";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Json,
    Protobuf,
}

/// What upstream offers, in its order: subtype, form, `Content-Type` of the answer.
const OFFERED: [(&str, Form, &str); 3] = [
    ("json", Form::Json, "application/json"),
    (PROTOBUF_DEPRECATED, Form::Protobuf, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
    (PROTOBUF, Form::Protobuf, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
];

/// One media range of `Accept`, as goautoneg parses it.
struct Clause<'a> {
    ty: &'a str,
    subtype: &'a str,
    q: f64,
}

/// goautoneg's `ParseAccept`: media ranges with their `q` (default 1), sorted by `q`
/// (highest first), then concrete types before `*` ones.
fn parse_accept(accept: &str) -> Vec<Clause<'_>> {
    let mut clauses: Vec<Clause> = accept
        .split(',')
        .map(|part| {
            let mut pieces = part.split(';').map(str::trim);
            let media = pieces.next().unwrap_or_default();
            let (ty, subtype) = media.split_once('/').unwrap_or((media, "*"));
            let q = pieces
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim() == "q")
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(1.0);
            Clause { ty: ty.trim(), subtype: subtype.trim(), q }
        })
        .collect();
    clauses.sort_by(|a, b| {
        b.q.total_cmp(&a.q).then_with(|| (a.ty == "*").cmp(&(b.ty == "*"))).then_with(|| (a.subtype == "*").cmp(&(b.subtype == "*")))
    });
    clauses
}

/// The first offered form the sorted `Accept` clauses match (an empty `Accept` is `*/*`).
fn choose(accept: Option<&str>) -> Option<(Form, &'static str)> {
    let accept = accept.map(str::trim).filter(|a| !a.is_empty()).unwrap_or("*/*");
    parse_accept(accept).iter().find_map(|c| {
        OFFERED
            .iter()
            .find(|(subtype, _, _)| (c.ty == "application" || c.ty == "*") && (c.subtype == *subtype || c.subtype == "*"))
            .map(|(_, form, content_type)| (*form, *content_type))
    })
}

/// Whether an `If-None-Match` value names `etag` (weak comparison, `*` matches anything).
fn none_match_hits(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

fn http_date(t: SystemTime) -> Option<String> {
    let ts = jiff::Timestamp::try_from(t).ok()?;
    jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&ts).ok()
}

/// Whether the document (built at `built`) is not newer than `If-Modified-Since`.
fn not_modified_since(if_modified_since: &str, built: SystemTime) -> bool {
    let Ok(since) = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(if_modified_since) else { return false };
    jiff::Timestamp::try_from(built).is_ok_and(|built| built.as_second() <= since.as_second())
}

/// The response to `GET /openapi/v2` for these request headers.
pub fn response(api: &OpenApi, headers: &HeaderMap) -> Response<Body> {
    let header_str = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let mut resp = Response::builder().header(header::VARY, "Accept");
    let Some((form, content_type)) = choose(header_str(header::ACCEPT)) else {
        return resp.status(StatusCode::NOT_ACCEPTABLE).body(Body::empty()).unwrap_or_default();
    };
    let etag = format!("\"{}\"", api.v2_etag());
    let built = api.v2_built();
    resp = resp.header(header::ETAG, &etag);
    let not_modified = match header_str(header::IF_NONE_MATCH) {
        Some(inm) => none_match_hits(inm, &etag),
        None => header_str(header::IF_MODIFIED_SINCE).is_some_and(|ims| not_modified_since(ims, built)),
    };
    if not_modified {
        // Go's writeNotModified: no Content-Type, and no Last-Modified when an ETag is set.
        return resp.status(StatusCode::NOT_MODIFIED).body(Body::empty()).unwrap_or_default();
    }
    if let Some(date) = http_date(built) {
        resp = resp.header(header::LAST_MODIFIED, date);
    }
    let body = match form {
        Form::Json => api.v2(),
        Form::Protobuf => api.v2_protobuf(),
    };
    resp.status(StatusCode::OK).header(header::CONTENT_TYPE, content_type).body(Body::from(body)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_gets_protobuf_others_json() {
        let pb = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
        // client-go discovery's OpenAPISchema header.
        assert_eq!(choose(Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf")), Some((Form::Protobuf, pb)));
        assert_eq!(choose(Some("application/com.github.proto-openapi.spec.v2.v1.0+protobuf")), Some((Form::Protobuf, pb)));
        assert_eq!(choose(None), Some((Form::Json, "application/json")));
        assert_eq!(choose(Some("")), Some((Form::Json, "application/json")));
        assert_eq!(choose(Some("*/*")), Some((Form::Json, "application/json")));
        assert_eq!(choose(Some("application/json, */*")), Some((Form::Json, "application/json")));
        // Higher q wins; a concrete type beats a wildcard at equal q.
        assert_eq!(choose(Some("application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf")), Some((Form::Protobuf, pb)));
        assert_eq!(choose(Some("*/*, application/com.github.proto-openapi.spec.v2@v1.0+protobuf")), Some((Form::Protobuf, pb)));
        assert_eq!(choose(Some("application/yaml")), None);
        assert_eq!(choose(Some("application/vnd.kubernetes.protobuf")), None);
    }

    #[test]
    fn if_none_match_forms() {
        assert!(none_match_hits("\"AB\"", "\"AB\""));
        assert!(none_match_hits("W/\"AB\"", "\"AB\""));
        assert!(none_match_hits("\"X\", \"AB\"", "\"AB\""));
        assert!(none_match_hits("*", "\"AB\""));
        assert!(!none_match_hits("\"ABC\"", "\"AB\""));
    }

    #[test]
    fn last_modified_round_trips_through_if_modified_since() {
        let built = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let date = http_date(built).unwrap_or_default();
        assert_eq!(date, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert!(not_modified_since(&date, built + std::time::Duration::from_millis(300)));
        assert!(!not_modified_since(&date, built + std::time::Duration::from_secs(2)));
        assert!(!not_modified_since("yesterday", built));
    }
}
