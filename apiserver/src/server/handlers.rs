//! The HTTP edge: turns a request into one registry call and the result into a response
//! in the representation the client asked for. No kind-specific code lives here.

use super::negotiate::{self, Output};
use super::request::{self, ResourcePath, Route};
use super::AppState;
use crate::discovery;
use crate::error::ApiError;
use crate::filters::authn::Identity;
use crate::openapi::OpenApi;
use crate::filters::authz::{self, Attributes};
use crate::patch::PatchType;
use crate::registry::kinds::{self, Kind};
use crate::registry::{binding, eviction, scale};
use crate::registry::store::{DeleteOptions, Deleted, Listed, FieldValidation, ListOptions, Target, WatchEvent, WriteOptions};
use crate::registry::table::{self, IncludeObject};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::Extension;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body accepted (upstream's limit for JSON bodies is 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

type Query = HashMap<String, String>;

/// The one handler behind every path.
pub async fn dispatch(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>, req: Request) -> Response<Body> {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_string);
    match handle(&state, &who, req).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e, accept.as_deref()),
    }
}

async fn handle(state: &AppState, who: &Identity, req: Request) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    let query: Query = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let route = request::route(&path);
    let public = matches!(route, Route::Health | Route::Version);
    // A client certificate wins (upstream's union authenticator tries x509 first); a
    // presented bearer token must be valid, whatever the path.
    let token_identity;
    let who = match crate::filters::authn::bearer_token(req.headers()) {
        Some(token) if who.is_anonymous() => {
            token_identity = state.tokens.authenticate(&state.store, token).await?;
            &token_identity
        }
        _ => who,
    };
    if !public && who.is_anonymous() {
        return Err(ApiError::Unauthorized);
    }
    let impersonated = crate::filters::impersonation::impersonate(&state.store, who.clone(), req.headers()).await?;
    let who = &impersonated;
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_string);
    // `/openapi/v2` negotiates its own media types; a proxied request's belong to the backend.
    let proxied = matches!(&route, Route::Resource(r) if r.is_proxy());
    let output = if route == Route::OpenApiV2 || proxied { Output::Json } else { negotiate::negotiate(accept.as_deref())? };
    let method = req.method().clone();
    if !matches!(route, Route::Resource(_)) && method != Method::GET
        && (public || !matches!(route, Route::Unknown)) {
            return Err(ApiError::MethodNotAllowed);
        }
    if !public && !matches!(route, Route::Resource(_)) {
        authz::authorize_request(&state.store, who, &Attributes { verb: "get", path: Some(&path), ..Default::default() }).await?;
    }
    match route {
        Route::Health => Ok(text(StatusCode::OK, "ok")),
        Route::Version => Ok(json_response(StatusCode::OK, &version(), Output::Json, &[])),
        Route::Api if output == Output::AggregatedDiscovery => Ok(aggregated(discovery::aggregated(true))),
        Route::Api => Ok(json_response(StatusCode::OK, &discovery::api_versions(&state.advertise), output, &[])),
        Route::Apis if output == Output::AggregatedDiscovery => Ok(aggregated(discovery::aggregated(false))),
        Route::Apis => Ok(json_response(StatusCode::OK, &discovery::api_group_list(), output, &[])),
        Route::Group(g) => discovery::api_group_doc(&g).map(|d| json_response(StatusCode::OK, &d, output, &[])).ok_or(ApiError::NoRoute),
        Route::GroupVersion(g, v) => discovery::api_resource_list(&g, &v).map(|d| json_response(StatusCode::OK, &d, output, &[])).ok_or(ApiError::NoRoute),
        Route::OpenApiV2 => Ok(super::openapi_v2::response(OpenApi::global(), req.headers())),
        Route::OpenApiV3(p) if p.is_empty() => Ok(bytes_response(OpenApi::global().v3_index(), "application/json")),
        Route::OpenApiV3(p) => {
            let api = OpenApi::global();
            let body = api.v3(&p).ok_or(ApiError::NoRoute)?;
            let hash = api.v3_hash(&p).unwrap_or_default();
            let mut resp = bytes_response(body, "application/json");
            if let Ok(etag) = HeaderValue::from_str(&format!("\"{hash}\"")) {
                resp.headers_mut().insert(header::ETAG, etag);
            }
            // A URL carrying the current hash never changes (kubectl caches it forever).
            let cache = if query.get("hash") == Some(&hash) { "public, immutable" } else { "no-cache, private" };
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            Ok(resp)
        }
        Route::OpenIdConfiguration => Ok(openid_response(&state.tokens.openid_configuration(), "application/json")),
        Route::Jwks => Ok(openid_response(&state.tokens.jwks(), "application/jwk-set+json")),
        Route::Resource(r) => resource(state, who, r, method, query, output, req).await,
        Route::Unknown => Err(ApiError::NoRoute),
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "35",
        "emulationMajor": "1",
        "emulationMinor": "35",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "34",
        "gitVersion": "v1.35.0-ironkube",
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if std::env::consts::ARCH == "x86_64" { "amd64" } else { std::env::consts::ARCH }),
    })
}

fn verb_of(method: &Method, r: &ResourcePath, query: &Query) -> Result<&'static str, ApiError> {
    let watch = r.watch_prefix || query.get("watch").is_some_and(|w| w == "true" || w == "1");
    Ok(match (method.as_str(), r.name.is_some()) {
        ("GET", false) if watch => "watch",
        ("GET", true) if watch => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", false) => "create",
        ("POST", true) if r.subresource.is_some() => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return Err(ApiError::MethodNotAllowed),
    })
}

async fn resource(
    state: &AppState,
    who: &Identity,
    r: ResourcePath,
    method: Method,
    query: Query,
    output: Output,
    req: Request,
) -> Result<Response<Body>, ApiError> {
    if r.group == crate::metrics::GROUP {
        let verb = verb_of(&method, &r, &query)?;
        let attributes = Attributes { verb, group: crate::metrics::GROUP, resource: &r.resource, namespace: r.namespace.as_deref(), name: r.name.as_deref(), path: None };
        authz::authorize_request(&state.store, who, &attributes).await?;
        return crate::metrics::rest::serve(state, &r, verb, &query, output).await;
    }
    let kind = kinds::find(&r.group, &r.version, &r.resource).ok_or(ApiError::NoRoute)?;
    if kind.namespaced != r.namespace.is_some() && !(kind.namespaced && r.name.is_none() && r.namespace.is_none()) {
        return Err(ApiError::NoRoute);
    }
    let verb = if r.is_proxy() { super::proxy::connect_verb(&method) } else { verb_of(&method, &r, &query)? };
    // Across all namespaces a namespaced kind can only be listed or watched.
    if kind.namespaced && r.namespace.is_none() && !matches!(verb, "list" | "watch") {
        return Err(ApiError::MethodNotAllowed);
    }
    let sub_label = r.subresource.as_ref().map(|s| format!("{}/{s}", kind.resource));
    authz::authorize_request(&state.store, who, &Attributes {
        verb,
        group: kind.group,
        resource: sub_label.as_deref().unwrap_or(kind.resource),
        namespace: r.namespace.as_deref(),
        name: r.name.as_deref(),
        path: None,
    })
    .await?;
    if r.is_proxy() && kind.group.is_empty() && super::proxy::handles(kind.resource) {
        return super::proxy::serve(state, kind.resource, r.namespace.as_deref(), r.name.as_deref().unwrap_or_default(), req).await;
    }
    let target = Target { kind, namespace: r.namespace.as_deref() };
    let store = &state.store;
    let name = r.name.clone().unwrap_or_default();
    let headers = req.headers().clone();
    let write = write_options(&query, &headers)?;

    if let Some(sub) = r.subresource.as_deref() {
        let spec = kind.subresource(sub).ok_or(ApiError::NoRoute)?;
        if !spec.verbs.contains(&verb) {
            return Err(ApiError::MethodNotAllowed);
        }
        if !spec.implemented {
            return Err(ApiError::NotImplemented(format!(
                "the {sub} subresource of {} is not implemented by this server yet",
                kind.group_resource()
            )));
        }
        if kind.resource == "pods" && kind.group.is_empty() && super::pod_streams::handles(sub) {
            return super::pod_streams::serve(state, sub, r.namespace.as_deref().unwrap_or_default(), &name, req).await;
        }
        return match (sub, verb) {
            ("status", "get") => Ok(object_response(StatusCode::OK, kind, store.get(target, &name).await?, output, &query, &[])),
            ("status", "update") => {
                let body = read_body(req).await?;
                let w = store.update(target, &name, body, Some("status"), &write).await?;
                Ok(object_response(StatusCode::OK, kind, w.object, output, &query, &w.warnings))
            }
            ("status", "patch") => {
                let (pt, bytes) = patch_body(req).await?;
                let w = store.patch(target, &name, pt, &bytes, Some("status"), &write).await?;
                Ok(object_response(StatusCode::OK, kind, w.object, output, &query, &w.warnings))
            }
            ("finalize", "update") => {
                let body = read_body(req).await?;
                let w = store.update(target, &name, body, Some("finalize"), &write).await?;
                Ok(object_response(StatusCode::OK, kind, w.object, output, &query, &w.warnings))
            }
            ("scale", "get") => Ok(json_response(StatusCode::OK, &scale::get(store, target, &name).await?, output, &[])),
            ("scale", "update") => {
                let body = read_body(req).await?;
                Ok(json_response(StatusCode::OK, &scale::update(store, target, &name, body, &write).await?, output, &[]))
            }
            ("scale", "patch") => {
                let (pt, bytes) = patch_body(req).await?;
                Ok(json_response(StatusCode::OK, &scale::patch(store, target, &name, pt, &bytes, &write).await?, output, &[]))
            }
            ("token", "create") if kind.resource == "serviceaccounts" && kind.group.is_empty() => {
                let body = read_body(req).await?;
                let answer = state.tokens.create(store, r.namespace.as_deref().unwrap_or_default(), &name, body).await?;
                Ok(json_response(StatusCode::CREATED, &answer, output, &[]))
            }
            ("eviction", "create") => {
                let body = read_body(req).await?;
                let delete = DeleteOptions { dry_run: write.dry_run, ..Default::default() };
                let answer = eviction::create(store, target, &name, body, delete, &write).await?;
                let code = StatusCode::from_u16(answer.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Ok(json_response(code, &answer.status, output, &[]))
            }
            ("binding", "create") => {
                let body = read_body(req).await?;
                let binding_kind = kinds::find("", "v1", "bindings").ok_or(ApiError::NoRoute)?;
                let status = binding::create(store, target, binding_kind, Some(&name), body, &write).await?;
                Ok(json_response(StatusCode::CREATED, &status, output, &[]))
            }
            _ => Err(ApiError::MethodNotAllowed),
        };
    }
    if !kind.allows(verb) {
        return Err(ApiError::MethodNotAllowed);
    }
    if kind.binds_pods && verb == "create" {
        let body = read_body(req).await?;
        let pods = kinds::find("", "v1", "pods").ok_or(ApiError::NoRoute)?;
        let pods = Target { kind: pods, namespace: r.namespace.as_deref() };
        let status = binding::create(store, pods, kind, None, body, &write).await?;
        return Ok(json_response(StatusCode::CREATED, &status, output, &[]));
    }
    if let (Some(review), "create") = (kind.review, verb) {
        let body = read_body(req).await?;
        let typed = kind.typed.normalize(with_type(kind, body)).map_err(|e| {
            ApiError::BadRequest(format!("{} in version {:?} cannot be handled as a {}: {e}", kind.kind, kind.version, kind.kind))
        })?;
        // The rules of the subject under review: the caller, or the user a
        // (Local)SubjectAccessReview names.
        let subject = crate::registry::reviews::subject_of(kind, &typed, who);
        let rules = if authz::is_master(&subject) { Default::default() } else { crate::filters::rbac::rules_for(store, &subject).await? };
        return Ok(object_response(StatusCode::CREATED, kind, review(&typed, who, &rules)?, output, &query, &[]));
    }
    match verb {
        "get" => {
            let stored = store.get_stored(target, &name, query.get("resourceVersion").map(String::as_str)).await?;
            let item = Listed::Stored(stored);
            if output == Output::Json {
                // Spliced from the stored bytes, never parsed.
                let body = item.to_json(kind)?;
                return Ok(Response::builder().status(StatusCode::OK).header(header::CONTENT_TYPE, "application/json").body(Body::from(body)).unwrap());
            }
            Ok(object_response(StatusCode::OK, kind, item.object(kind)?, output, &query, &[]))
        }
        "list" => {
            let page = store.list(target, &list_options(&query)?).await?;
            list_response(kind, page, output, &query)
        }
        "watch" => {
            let mut opts = list_options(&query)?;
            if let Some(n) = r.name.as_deref() {
                opts.field_selector = Some(format!("metadata.name={n}"));
            }
            let events = store.watch(target, &opts).await?;
            Ok(watch_response(kind, events, opts, output, &query))
        }
        "create" => {
            let body = read_body(req).await?;
            let w = store.create(target, body, &write).await?;
            let code = if w.created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(object_response(code, kind, w.object, output, &query, &w.warnings))
        }
        "update" => {
            let body = read_body(req).await?;
            let w = store.update(target, &name, body, None, &write).await?;
            Ok(object_response(StatusCode::OK, kind, w.object, output, &query, &w.warnings))
        }
        "patch" => {
            let (pt, bytes) = patch_body(req).await?;
            let w = store.patch(target, &name, pt, &bytes, None, &write).await?;
            // A server-side apply may create the object.
            let code = if w.created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(object_response(code, kind, w.object, output, &query, &w.warnings))
        }
        "delete" => {
            let opts = delete_options(&query, req).await?;
            match store.delete(target, &name, &opts).await? {
                Deleted::Gone(obj) if returns_deleted_object(kind) => Ok(object_response(StatusCode::OK, kind, obj, output, &query, &[])),
                Deleted::Gone(obj) => Ok(json_response(StatusCode::OK, &success_status(kind, &obj), output, &[])),
                Deleted::Pending(obj) => Ok(object_response(StatusCode::ACCEPTED, kind, obj, output, &query, &[])),
            }
        }
        "deletecollection" => {
            let list = list_options(&query)?;
            let opts = delete_options(&query, req).await?;
            let items = store.delete_collection(target, &list, &opts).await?;
            let rv = store.current_revision().await?;
            let items = items.into_iter().map(Listed::Object).collect();
            let page = crate::registry::store::ListPage { items, revision: rv, continue_token: None, remaining: None };
            list_response(kind, page, Output::Json, &query)
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Upstream registries that answer DELETE with the object rather than a Status.
fn returns_deleted_object(kind: &Kind) -> bool {
    matches!((kind.group, kind.kind), ("", "Pod" | "Namespace" | "Service" | "PersistentVolume" | "PersistentVolumeClaim"))
}

fn success_status(kind: &Kind, obj: &Value) -> Value {
    let mut details = json!({
        "name": obj.pointer("/metadata/name").cloned().unwrap_or_default(),
        "kind": kind.resource,
        "uid": obj.pointer("/metadata/uid").cloned().unwrap_or_default(),
    });
    if !kind.group.is_empty() {
        details["group"] = json!(kind.group);
    }
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details })
}

fn write_options(query: &Query, headers: &HeaderMap) -> Result<WriteOptions, ApiError> {
    let dry_run = match query.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!("dryRun: Unsupported value: {other:?}: supported values: \"All\"")))
        }
    };
    let field_manager = query.get("fieldManager").cloned().unwrap_or_else(|| {
        // Upstream defaults the manager to the user agent's program name.
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .unwrap_or("unknown")
            .to_string()
    });
    let force = match query.get("force").map(String::as_str) {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0" | "") => Some(false),
        Some(other) => return Err(ApiError::BadRequest(format!("strconv.ParseBool: parsing {other:?}: invalid syntax"))),
    };
    Ok(WriteOptions {
        dry_run,
        field_validation: FieldValidation::parse(query.get("fieldValidation").map(String::as_str))?,
        explicit_field_manager: query.get("fieldManager").is_some_and(|m| !m.is_empty()),
        field_manager,
        force,
    })
}

fn list_options(query: &Query) -> Result<ListOptions, ApiError> {
    let limit = match query.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("invalid limit {l:?}")))?.max(0) as usize,
        None => 0,
    };
    let flag = |k: &str| query.get(k).is_some_and(|v| v == "true" || v == "1");
    Ok(ListOptions {
        label_selector: query.get("labelSelector").cloned(),
        field_selector: query.get("fieldSelector").cloned(),
        limit,
        continue_token: query.get("continue").cloned(),
        resource_version: query.get("resourceVersion").cloned(),
        resource_version_match: query.get("resourceVersionMatch").cloned(),
        allow_bookmarks: flag("allowWatchBookmarks"),
        send_initial_events: query.get("sendInitialEvents").map(|v| v == "true" || v == "1"),
        timeout_seconds: query.get("timeoutSeconds").and_then(|t| t.parse().ok()),
    })
}

async fn delete_options(query: &Query, req: Request) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions {
        grace_period_seconds: query.get("gracePeriodSeconds").and_then(|g| g.parse().ok()),
        propagation_policy: query.get("propagationPolicy").cloned(),
        dry_run: query.get("dryRun").is_some_and(|d| d == "All"),
        ..Default::default()
    };
    if query.get("orphanDependents").is_some_and(|o| o == "true") && opts.propagation_policy.is_none() {
        opts.propagation_policy = Some("Orphan".into());
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = read_bytes(req).await?;
    if !bytes.is_empty() {
        opts.merge_body(&negotiate::decode_body(content_type.as_deref(), &bytes)?);
    }
    Ok(opts)
}

async fn read_bytes(req: Request) -> Result<bytes::Bytes, ApiError> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY_BYTES);
    use http_body_util::BodyExt;
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(ApiError::TooLarge(format!("limit is {MAX_BODY_BYTES}")))
        }
        Err(e) => Err(ApiError::BadRequest(format!("error reading the request body: {e}"))),
    }
}

/// Reads and decodes a JSON/YAML/protobuf object body.
pub async fn read_body(req: Request) -> Result<Value, ApiError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = read_bytes(req).await?;
    negotiate::decode_body(content_type.as_deref(), &bytes)
}

/// Reads a patch body and its type.
pub async fn patch_body(req: Request) -> Result<(PatchType, bytes::Bytes), ApiError> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let pt = PatchType::from_content_type(&ct).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
        ))
    })?;
    Ok((pt, read_bytes(req).await?))
}

// ----- responses -----

fn text(code: StatusCode, body: &'static str) -> Response<Body> {
    Response::builder().status(code).header(header::CONTENT_TYPE, "text/plain; charset=utf-8").body(Body::from(body)).unwrap()
}

fn bytes_response(bytes: bytes::Bytes, content_type: &'static str) -> Response<Body> {
    Response::builder().status(StatusCode::OK).header(header::CONTENT_TYPE, content_type).body(Body::from(bytes)).unwrap()
}

/// The OIDC documents, cacheable like upstream's (`max-age=3600`).
fn openid_response(doc: &Value, content_type: &'static str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(Body::from(doc.to_string()))
        .unwrap()
}

fn aggregated(doc: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, discovery::AGGREGATED_CONTENT_TYPE)
        .body(Body::from(serde_json::to_vec(&doc).unwrap_or_default()))
        .unwrap()
}

/// Serializes `value` as JSON or YAML with `Warning` headers.
pub fn json_response(code: StatusCode, value: &Value, output: Output, warnings: &[String]) -> Response<Body> {
    let (body, ct) = match output {
        Output::Yaml => (serde_yaml::to_string(value).unwrap_or_default().into_bytes(), "application/yaml"),
        _ => (serde_json::to_vec(value).unwrap_or_default(), "application/json"),
    };
    let mut resp = Response::builder().status(code).header(header::CONTENT_TYPE, ct).body(Body::from(body)).unwrap();
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {w:?}")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

fn error_response(e: &ApiError, accept: Option<&str>) -> Response<Body> {
    let output = match negotiate::negotiate(accept) {
        Ok(Output::Yaml) => Output::Yaml,
        _ => Output::Json,
    };
    let code = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(code, &e.status(), output, &[]);
    if matches!(e, ApiError::Unauthorized) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"kubernetes-master\""));
    }
    if let ApiError::TooManyRequests { retry_after_seconds: seconds @ 1.., .. } = e {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
    }
    resp
}

fn include_object(query: &Query) -> IncludeObject {
    IncludeObject::parse(query.get("includeObject").map(String::as_str))
}

fn table_doc(kind: &Kind, objects: &[Value], version: &str, metadata: Value, query: &Query, with_columns: bool) -> Value {
    let include = include_object(query);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| table::row(table::cells_for(kind.strategy, o), o, include, version))
        .collect();
    let columns = if with_columns { table::definitions_for(kind.strategy) } else { Vec::new() };
    let mut doc = serde_json::Map::new();
    doc.insert("kind".into(), json!("Table"));
    doc.insert("apiVersion".into(), json!(format!("meta.k8s.io/{version}")));
    doc.insert("metadata".into(), metadata);
    doc.insert("columnDefinitions".into(), Value::Array(columns));
    doc.insert("rows".into(), Value::Array(rows));
    Value::Object(doc)
}

fn with_type(kind: &Kind, mut obj: Value) -> Value {
    if let Some(o) = obj.as_object_mut() {
        o.insert("apiVersion".into(), json!(kind.api_version()));
        o.insert("kind".into(), json!(kind.kind));
    }
    obj
}

fn object_response(code: StatusCode, kind: &Kind, obj: Value, output: Output, query: &Query, warnings: &[String]) -> Response<Body> {
    let obj = with_type(kind, obj);
    match output {
        Output::Table(v) => {
            let rv = obj.pointer("/metadata/resourceVersion").cloned().unwrap_or_default();
            json_response(code, &table_doc(kind, &[obj], v, json!({ "resourceVersion": rv }), query, true), Output::Json, warnings)
        }
        Output::Metadata(v) => json_response(code, &table::partial_metadata(&obj, v), Output::Json, warnings),
        other => json_response(code, &obj, other, warnings),
    }
}

fn list_metadata(page: &crate::registry::store::ListPage) -> Value {
    let mut md = json!({ "resourceVersion": page.revision.to_string() });
    if let Some(c) = &page.continue_token {
        md["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        md["remainingItemCount"] = json!(r);
    }
    md
}

fn list_response(kind: &Kind, page: crate::registry::store::ListPage, output: Output, query: &Query) -> Result<Response<Body>, ApiError> {
    let metadata = list_metadata(&page);
    match output {
        Output::Table(v) => {
            let objects = page.items.iter().map(|i| i.object(kind)).collect::<Result<Vec<_>, _>>()?;
            Ok(json_response(StatusCode::OK, &table_doc(kind, &objects, v, metadata, query, true), Output::Json, &[]))
        }
        Output::Metadata(v) => {
            let head = list_head("PartialObjectMetadataList", &format!("meta.k8s.io/{v}"), metadata)?;
            Ok(streamed_list(super::list_body::ListBody::metadata_only(head, page, kind, v)?))
        }
        Output::Yaml => {
            let items = page.items.iter().map(|i| i.object(kind)).collect::<Result<Vec<_>, _>>()?;
            let doc = json!({ "kind": kind.list_kind, "apiVersion": kind.api_version(), "metadata": metadata, "items": items });
            Ok(json_response(StatusCode::OK, &doc, Output::Yaml, &[]))
        }
        _ => {
            // Plain JSON: items are written from their stored bytes, never parsed, and
            // streamed with an exact Content-Length (see `list_body`).
            let head = list_head(&kind.list_kind, &kind.api_version(), metadata)?;
            Ok(streamed_list(super::list_body::ListBody::new(head, page)?))
        }
    }
}

/// A list document up to and including `"items":[`.
fn list_head(list_kind: &str, api_version: &str, metadata: Value) -> Result<Vec<u8>, ApiError> {
    let mut head = serde_json::to_vec(&json!({ "kind": list_kind, "apiVersion": api_version, "metadata": metadata }))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    head.pop();
    head.extend_from_slice(b",\"items\":[");
    Ok(head)
}

/// A `200` streaming a JSON list with its exact `Content-Length`.
fn streamed_list(body: super::list_body::ListBody) -> Response<Body> {
    let length = hyper::body::Body::size_hint(&body).exact().unwrap_or_default();
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, length)
        .body(Body::new(body))
        .unwrap()
}

/// Streams watch events as newline-delimited JSON, in the representation asked for, until
/// the requested timeout (bookmarks come from the store).
fn watch_response(
    kind: &'static Kind,
    events: futures::stream::BoxStream<'static, WatchEvent>,
    opts: ListOptions,
    output: Output,
    query: &Query,
) -> Response<Body> {
    let timeout = Duration::from_secs(opts.timeout_seconds.unwrap_or(1800 + rand::random_range(0..1800)));
    let query = query.clone();
    let mut first = true;
    let body = super::watch_body::WatchBody::new(events, timeout, move |event| {
        let line = encode_event(kind, event, output, &query, first);
        first = false;
        line
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::new(body))
        .unwrap()
}

fn encode_event(kind: &Kind, event: WatchEvent, output: Output, query: &Query, first: bool) -> bytes::Bytes {
    if !matches!(output, Output::Table(_) | Output::Metadata(_))
        && let Some(Ok(line)) = event.raw_line()
    {
        return line;
    }
    if let Output::Metadata(v) = output
        && let Some(Ok(line)) = event.raw_metadata_line(v)
    {
        return line;
    }
    let (kind_str, object) = match event {
        WatchEvent::Object(..) | WatchEvent::Raw { .. } => {
            let Some((t, obj)) = event.into_object() else { return bytes::Bytes::new() };
            let obj = with_type(kind, obj);
            let obj = match output {
                Output::Table(v) => {
                    let rv = obj.pointer("/metadata/resourceVersion").cloned().unwrap_or_default();
                    table_doc(kind, &[obj], v, json!({ "resourceVersion": rv }), query, first)
                }
                Output::Metadata(v) => table::partial_metadata(&obj, v),
                _ => obj,
            };
            (t, obj)
        }
        WatchEvent::Bookmark(rv, initial_end) => {
            let mut md = json!({ "resourceVersion": rv.to_string() });
            if initial_end {
                md["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
            }
            let obj = match output {
                Output::Table(v) => json!({ "kind": "Table", "apiVersion": format!("meta.k8s.io/{v}"), "metadata": md, "columnDefinitions": [], "rows": [] }),
                Output::Metadata(v) => json!({ "kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{v}"), "metadata": md }),
                _ => json!({ "kind": kind.kind, "apiVersion": kind.api_version(), "metadata": md }),
            };
            ("BOOKMARK", obj)
        }
        WatchEvent::Error(status) => ("ERROR", status),
    };
    let mut line = serde_json::to_vec(&json!({ "type": kind_str, "object": object })).unwrap_or_default();
    line.push(b'\n');
    bytes::Bytes::from(line)
}
