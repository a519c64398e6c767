//! The generic store: one implementation of create, get, list, update, patch, delete,
//! deletecollection and watch for every kind (upstream
//! `apiserver/pkg/registry/generic/registry/store.go`). What differs per kind comes from
//! the kind's [`Strategy`]; what Kubernetes semantics need from storage is only the
//! [`Storage`] trait.

use super::allocator::Allocators;
use super::kinds::Kind;
use super::continue_token::{decode_continue, encode_continue};
use super::apply::{self, ApplyError, Ty, Writer};
use super::meta::{self, metadata_mut, now};
use super::selectors::{FieldSelector, LabelSelector, SelectableAttrs};
use super::strategy::Cause;
use crate::cache::{CachedEvent, Delivery, EventAttrs, EventType, WatchCache};
use crate::error::ApiError;
use crate::patch::{self, PatchType};
use crate::storage::{Event, KeyValue, Storage, StorageError};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

/// Where a request points: a kind and, for namespaced kinds, a namespace.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// The kind.
    pub kind: &'static Kind,
    /// The namespace (`None` for cluster-scoped kinds or all-namespace lists).
    pub namespace: Option<&'a str>,
}

/// `fieldValidation` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Unknown fields fail the request (400).
    Strict,
    /// Unknown fields are dropped and reported in `Warning` headers (the server default).
    #[default]
    Warn,
    /// Unknown fields are dropped silently.
    Ignore,
}

impl FieldValidation {
    /// Parses the parameter; unknown values are a 400 like upstream.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation parameter unsupported: {other}. Valid values are \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }
}

/// Options shared by every write.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: run everything but the storage write.
    pub dry_run: bool,
    /// How to treat unknown fields.
    pub field_validation: FieldValidation,
    /// Name recorded in `managedFields` (`fieldManager`, else the client's user agent).
    pub field_manager: String,
    /// Whether the request named its `fieldManager` (server-side apply requires it).
    pub explicit_field_manager: bool,
    /// `force` (server-side apply only): take over fields other managers own.
    pub force: Option<bool>,
}

/// How a write records field ownership in `managedFields`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tracking {
    /// An `Update` by the request's field manager.
    Update,
    /// Already recorded (server-side apply computed the object and its managers).
    Done,
    /// Not recorded (the server's own binding writes).
    Skip,
}

/// Options of a delete (query parameters or a `DeleteOptions` body).
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy`: `Orphan`, `Background`, `Foreground`.
    pub propagation_policy: Option<String>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Takes the fields a `DeleteOptions` body sets (a DELETE's body, an Eviction's
    /// `deleteOptions`) over those from the query.
    pub fn merge_body(&mut self, body: &Value) {
        if let Some(g) = body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            self.grace_period_seconds = Some(g);
        }
        if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
            self.propagation_policy = Some(p.to_string());
        }
        if body.get("orphanDependents") == Some(&json!(true)) && self.propagation_policy.is_none() {
            self.propagation_policy = Some("Orphan".into());
        }
        if let Some(p) = body.get("preconditions") {
            self.precondition_uid = p.get("uid").and_then(Value::as_str).map(str::to_string);
            self.precondition_resource_version = p.get("resourceVersion").and_then(Value::as_str).map(str::to_string);
        }
        if body.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|x| x == "All")) {
            self.dry_run = true;
        }
    }
}

/// Options of a list or watch.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `limit` (0 = all).
    pub limit: usize,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
    /// `allowWatchBookmarks`.
    pub allow_bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<u64>,
}

/// The result of a write.
#[derive(Debug)]
pub struct Written {
    /// The object as stored (or as it would be, for dry runs).
    pub object: Value,
    /// `Warning` header texts.
    pub warnings: Vec<String>,
    /// Whether the write created the object (201) rather than changing it (200).
    pub created: bool,
}

/// The result of a delete.
#[derive(Debug)]
pub enum Deleted {
    /// The object is gone; carries its last state.
    Gone(Value),
    /// The object is being deleted (finalizers or grace period); carries its new state.
    Pending(Value),
}

/// One listed object: still in stored form when no selector needed to look inside it
/// (so a plain JSON list never parses it), or already decoded.
#[derive(Debug, Clone)]
pub enum Listed {
    /// The stored bytes and revisions (shared with the watch cache).
    Stored(Arc<KeyValue>),
    /// A decoded object (resourceVersion set, apiVersion/kind present).
    Object(Value),
}

impl Listed {
    /// The object as JSON with apiVersion, kind and resourceVersion.
    pub fn object(&self, kind: &Kind) -> Result<Value, ApiError> {
        match self {
            Listed::Stored(kv) => decode(kind, kv),
            Listed::Object(v) => Ok(v.clone()),
        }
    }

    /// The object as JSON bytes with apiVersion, kind and resourceVersion, spliced from
    /// the stored bytes without parsing them when it can be.
    pub fn to_json(&self, kind: &Kind) -> Result<Vec<u8>, ApiError> {
        match self {
            Listed::Stored(kv) if kind.conversion.is_none() => {
                let mut out = Vec::with_capacity(kv.value.len() + 64);
                splice_resource_version(&kv.value, kv.mod_revision, &type_meta(kind), &mut out)?;
                Ok(out)
            }
            other => serde_json::to_vec(&other.object(kind)?).map_err(|e| ApiError::Internal(e.to_string())),
        }
    }

    /// The length [`Listed::write_list_item`] will write, when known without encoding.
    pub fn list_item_len(&self) -> Option<usize> {
        match self {
            Listed::Stored(kv) => spliced_len(&kv.value, kv.mod_revision, 0),
            Listed::Object(_) => None,
        }
    }

    /// Appends the object as a list item (upstream list items carry no apiVersion/kind).
    /// Stored bytes are copied with the resourceVersion spliced into `metadata`.
    pub fn write_list_item(&self, out: &mut Vec<u8>) -> Result<(), ApiError> {
        match self {
            Listed::Stored(kv) => splice_resource_version(&kv.value, kv.mod_revision, "", out),
            Listed::Object(v) => {
                let mut v = v.clone();
                if let Some(m) = v.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
                serde_json::to_writer(out, &v).map_err(|e| ApiError::Internal(e.to_string()))
            }
        }
    }

    /// Appends the object as a `PartialObjectMetadata` list item (upstream sets kind and
    /// apiVersion on each), cut from the stored bytes when the kind is stored as served.
    pub fn write_metadata_item(&self, kind: &Kind, meta_version: &str, out: &mut Vec<u8>) -> Result<(), ApiError> {
        match self {
            Listed::Stored(kv) if kind.conversion.is_none() => write_partial_metadata(kv, meta_version, out),
            other => serde_json::to_writer(out, &super::table::partial_metadata(&other.object(kind)?, meta_version))
                .map_err(|e| ApiError::Internal(e.to_string())),
        }
    }
}

/// A list page.
#[derive(Debug)]
pub struct ListPage {
    /// Items.
    pub items: Vec<Listed>,
    /// Revision the list was served at.
    pub revision: i64,
    /// Continue token for the next page.
    pub continue_token: Option<String>,
    /// Items left after this page, when known and no selector filtered.
    pub remaining: Option<i64>,
}

/// One watch event in API terms.
#[derive(Clone)]
pub enum WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED` with the object.
    Object(&'static str, Value),
    /// `BOOKMARK` at a revision; `initial_end` marks the end of `sendInitialEvents`.
    Bookmark(i64, bool),
    /// `ERROR` with a Status (e.g. 410 Expired).
    Error(Value),
    /// An event whose object is still in stored form (no selector needed to look inside):
    /// written to JSON by splicing, shared between watchers when it comes from the cache.
    Raw {
        /// The kind the watch is for.
        kind: &'static Kind,
        /// ADDED, MODIFIED or DELETED.
        event_type: EventType,
        /// The object at the event's revision.
        object: Arc<KeyValue>,
        /// The cache's event (its line is encoded once for every watcher).
        shared: Option<Arc<CachedEvent>>,
    },
}

impl std::fmt::Debug for WatchEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchEvent::Object(t, v) => f.debug_tuple("Object").field(t).field(v).finish(),
            WatchEvent::Bookmark(rv, end) => f.debug_tuple("Bookmark").field(rv).field(end).finish(),
            WatchEvent::Error(v) => f.debug_tuple("Error").field(v).finish(),
            WatchEvent::Raw { kind, event_type, object, .. } => {
                f.debug_struct("Raw").field("kind", &kind.kind).field("event_type", event_type).field("object", object).finish()
            }
        }
    }
}

impl WatchEvent {
    /// The JSON watch line of a [`WatchEvent::Raw`] (shared when the cache made it);
    /// `None` for other events.
    pub fn raw_line(&self) -> Option<Result<Bytes, ApiError>> {
        let WatchEvent::Raw { kind, event_type, object, shared } = self else { return None };
        Some(match shared {
            Some(ev) if ev.event_type == *event_type => {
                if let Some(line) = ev.line.get() {
                    return Some(Ok(line.clone()));
                }
                watch_line(kind, *event_type, object).map(|line| ev.line.get_or_init(|| line).clone())
            }
            _ => watch_line(kind, *event_type, object),
        })
    }

    /// The `PartialObjectMetadata` watch line of a [`WatchEvent::Raw`] of a kind stored
    /// as served, cut from the stored bytes; `None` for other events and kinds.
    pub fn raw_metadata_line(&self, meta_version: &str) -> Option<Result<Bytes, ApiError>> {
        let WatchEvent::Raw { kind, event_type, object, .. } = self else { return None };
        kind.conversion.is_none().then(|| metadata_watch_line(*event_type, meta_version, object))
    }

    /// The event's type and object as JSON (parsing a raw object).
    pub fn into_object(self) -> Option<(&'static str, Value)> {
        match self {
            WatchEvent::Object(t, v) => Some((t, v)),
            WatchEvent::Raw { kind, event_type, object, .. } => decode(kind, &object).ok().map(|v| (event_type.as_str(), v)),
            _ => None,
        }
    }
}

/// The one store behind every resource.
pub struct Store {
    storage: Arc<dyn Storage>,
    cache: Option<WatchCache>,
    allocators: Mutex<Allocators>,
}

/// The subresource name of a server-computed pod binding (see [`Store::guaranteed_update`]).
pub const BINDING: &str = "binding";

/// How often a watch without the cache gets a bookmark (upstream: once a minute).
const BOOKMARK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

const OBJECT_LIMIT: usize = crate::storage::MAX_VALUE_BYTES;

impl Store {
    /// A store over `storage`, with Service IPs from `service_cidr`.
    pub fn new(storage: Arc<dyn Storage>, service_cidr: &str) -> Result<Self, String> {
        Ok(Store { storage, cache: None, allocators: Mutex::new(Allocators::new(service_cidr)?) })
    }

    /// Serves reads and watches from `cache` (built over the same storage).
    pub fn with_cache(mut self, cache: WatchCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The watch cache, if the store has one.
    pub fn cache(&self) -> Option<&WatchCache> {
        self.cache.as_ref()
    }

    /// The first service IP (for the `kubernetes` Service and the serving certificate).
    pub fn first_service_ip(&self) -> std::net::Ipv4Addr {
        self.allocators.lock().unwrap().first_ip()
    }

    /// The underlying storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Re-reads stored Services into the allocators (at start-up).
    pub async fn restore_allocations(&self) -> Result<(), ApiError> {
        let list = self.storage.list("/registry/services/", None, 0, None).await.map_err(storage_error)?;
        let mut alloc = self.allocators.lock().unwrap();
        for kv in list.items {
            let obj: Value = serde_json::from_slice(&kv.value).map_err(|e| ApiError::Internal(e.to_string()))?;
            for ip in service_ips(&obj) {
                let _ = alloc.claim_ip(ip);
            }
            for port in node_ports(&obj) {
                let _ = alloc.claim_port(port);
            }
        }
        Ok(())
    }

    // ----- keys -----

    fn key(&self, t: Target, name: &str) -> String {
        match (t.kind.namespaced, t.namespace) {
            (true, Some(ns)) => format!("/registry/{}/{}/{}", t.kind.storage_resource(), ns, name),
            _ => format!("/registry/{}/{}", t.kind.storage_resource(), name),
        }
    }

    fn prefix(&self, t: Target) -> String {
        match (t.kind.namespaced, t.namespace) {
            (true, Some(ns)) => format!("/registry/{}/{}/", t.kind.storage_resource(), ns),
            _ => format!("/registry/{}/", t.kind.storage_resource()),
        }
    }

    // ----- reads -----

    /// GET one object (consistent: read from storage, like upstream).
    pub async fn get(&self, t: Target<'_>, name: &str) -> Result<Value, ApiError> {
        self.get_at(t, name, None).await
    }

    /// GET with a `resourceVersion`: unset is a consistent read from storage; `0` is any
    /// cached state; `N` is a cached state not older than `N` (upstream serves both from
    /// the watch cache).
    pub async fn get_at(&self, t: Target<'_>, name: &str, resource_version: Option<&str>) -> Result<Value, ApiError> {
        decode(t.kind, &*self.get_stored(t, name, resource_version).await?)
    }

    /// [`Store::get_at`] without decoding: the stored bytes (in the storage resource's
    /// form; see [`Kind::conversion`]).
    pub async fn get_stored(&self, t: Target<'_>, name: &str, resource_version: Option<&str>) -> Result<Arc<KeyValue>, ApiError> {
        let key = self.key(t, name);
        if let (Some(cache), Some(rv)) = (self.ready_cache(), resource_version.filter(|rv| !rv.is_empty())) {
            let rv = parse_rv(rv)?;
            if rv == 0 || cache.wait_for(rv).await {
                return cache.get(&key).0.ok_or_else(|| not_found(t.kind, name));
            }
        }
        let kv = self.storage.get(&key).await.map_err(storage_error)?;
        kv.map(Arc::new).ok_or_else(|| not_found(t.kind, name))
    }

    async fn get_kv(&self, t: Target<'_>, name: &str) -> Result<(Value, i64), ApiError> {
        let kv = self.storage.get(&self.key(t, name)).await.map_err(storage_error)?;
        let kv = kv.ok_or_else(|| not_found(t.kind, name))?;
        Ok((decode(t.kind, &kv)?, kv.mod_revision))
    }

    /// The watch cache, when there is one and it is serving.
    fn ready_cache(&self) -> Option<&WatchCache> {
        self.cache.as_ref().filter(|c| c.is_ready())
    }

    /// LIST with selectors, paging and resourceVersion semantics: from the watch cache
    /// when it can answer at the asked revision, else from storage.
    pub async fn list(&self, t: Target<'_>, opts: &ListOptions) -> Result<ListPage, ApiError> {
        let filter = Filter::new(t.kind, opts)?;
        let prefix = self.prefix(t);
        let read = self.read_at(opts, &prefix).await?;
        if let Some(cache) = self.ready_cache() {
            let cached = match &read {
                ReadAt::Continue(rev, start) => cache.list(&prefix, Some(start), Some(*rev)),
                ReadAt::Exact(rev) => cache.list(&prefix, None, Some(*rev)),
                ReadAt::NotOlderThan(rev) => match cache.wait_for(*rev).await {
                    true => cache.list(&prefix, None, None),
                    false => None,
                },
                ReadAt::Any => cache.list(&prefix, None, None),
                ReadAt::Consistent => match cache.wait_fresh().await.map_err(storage_error)? {
                    true => cache.list(&prefix, None, None),
                    false => None,
                },
            };
            if let Some((items, revision)) = cached {
                return self.cached_page(t, &prefix, items, revision, &filter, opts);
            }
        }
        self.list_storage(t, &prefix, read, &filter, opts).await
    }

    /// Which state a list asks for (and the errors upstream gives for bad combinations).
    async fn read_at(&self, opts: &ListOptions, prefix: &str) -> Result<ReadAt, ApiError> {
        if let Some(token) = opts.continue_token.as_deref().filter(|c| !c.is_empty()) {
            let (rev, start) = decode_continue(token, prefix)?;
            return Ok(ReadAt::Continue(rev, start));
        }
        match opts.resource_version.as_deref().filter(|rv| !rv.is_empty()) {
            Some("0") => Ok(ReadAt::Any),
            Some(rv) => {
                let rv = parse_rv(rv)?;
                match opts.resource_version_match.as_deref() {
                    Some("Exact") => Ok(ReadAt::Exact(rv)),
                    Some("NotOlderThan") | None => {
                        let current = self.storage.current_revision().await.map_err(storage_error)?;
                        if rv > current {
                            return Err(ApiError::ServiceUnavailable(format!("Too large resource version: {rv}, current: {current}")));
                        }
                        Ok(ReadAt::NotOlderThan(rv))
                    }
                    Some(other) => Err(ApiError::BadRequest(format!(
                        "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                    ))),
                }
            }
            None if opts.resource_version_match.as_deref().is_some_and(|m| !m.is_empty()) => {
                Err(ApiError::BadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided".into()))
            }
            None => Ok(ReadAt::Consistent),
        }
    }

    /// A page from cached objects (already in key order, after the continue key).
    fn cached_page(&self, t: Target<'_>, prefix: &str, items: Vec<Arc<KeyValue>>, revision: i64, filter: &Filter, opts: &ListOptions) -> Result<ListPage, ApiError> {
        let total = items.len();
        let mut page = Vec::with_capacity(if opts.limit > 0 { opts.limit.min(total) } else { total });
        let mut last: Option<Arc<KeyValue>> = None;
        let mut left = 0;
        for (i, kv) in items.into_iter().enumerate() {
            if opts.limit > 0 && page.len() >= opts.limit {
                left = total - i;
                break;
            }
            last = Some(kv.clone());
            if let Some(item) = listed(t.kind, filter, kv)? {
                page.push(item);
            }
        }
        let continue_token = match (left > 0, &last) {
            (true, Some(kv)) => Some(encode_continue(revision, &kv.key[prefix.len()..])),
            _ => None,
        };
        let remaining = (continue_token.is_some() && filter.is_empty()).then_some(left as i64);
        Ok(ListPage { items: page, revision, continue_token, remaining })
    }

    /// A page read from storage, in batches until the limit is filled.
    async fn list_storage(&self, t: Target<'_>, prefix: &str, read: ReadAt, filter: &Filter, opts: &ListOptions) -> Result<ListPage, ApiError> {
        let (mut revision, mut start_after) = match read {
            ReadAt::Continue(rev, start) => (Some(rev), Some(start)),
            ReadAt::Exact(rev) => (Some(rev), None),
            _ => (None, None),
        };
        let mut items = Vec::new();
        let mut last_key: Option<String> = None;
        let mut more;
        let mut remaining;
        let batch = if opts.limit == 0 { 0 } else { opts.limit.max(100) };
        loop {
            let page = self
                .storage
                .list(prefix, start_after.as_deref(), batch, revision)
                .await
                .map_err(|e| match e {
                    StorageError::Compacted { requested, .. } if opts.continue_token.is_some() => ApiError::Expired(format!(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list. (revision {requested})"
                    )),
                    StorageError::Compacted { requested, oldest } => {
                        ApiError::Expired(format!("too old resource version: {requested} ({oldest})"))
                    }
                    other => storage_error(other),
                })?;
            revision = Some(page.revision);
            more = page.more;
            remaining = page.remaining;
            let fetched = page.items.len();
            for (i, kv) in page.items.into_iter().enumerate() {
                last_key = Some(kv.key.clone());
                if let Some(item) = listed(t.kind, filter, Arc::new(kv))? {
                    items.push(item);
                }
                if opts.limit > 0 && items.len() >= opts.limit {
                    more = more || i + 1 < fetched;
                    remaining = remaining.map(|r| r + (fetched - i - 1) as i64);
                    break;
                }
            }
            if opts.limit == 0 || items.len() >= opts.limit || !page.more {
                break;
            }
            start_after = last_key.clone();
        }
        let revision = revision.unwrap_or_default();
        let continue_token = match (opts.limit > 0 && more, &last_key) {
            (true, Some(key)) => Some(encode_continue(revision, &key[prefix.len()..])),
            _ => None,
        };
        let remaining = if continue_token.is_some() && filter.is_empty() { remaining.filter(|r| *r > 0) } else { None };
        Ok(ListPage { items, revision, continue_token, remaining })
    }

    /// WATCH: a stream of events after the requested resourceVersion (with the initial
    /// state first for `resourceVersion=""`/`"0"` or `sendInitialEvents=true`), and
    /// bookmarks when asked for. Served by the watch cache; a watch from before the
    /// cache's event window (e.g. resuming across a restart) replays storage history
    /// instead, which answers 410 Expired once that history is compacted.
    pub async fn watch(&self, t: Target<'_>, opts: &ListOptions) -> Result<BoxStream<'static, WatchEvent>, ApiError> {
        let filter = Arc::new(Filter::new(t.kind, opts)?);
        let rv = opts.resource_version.as_deref().unwrap_or("");
        let send_initial = opts.send_initial_events.unwrap_or(rv.is_empty() || rv == "0");
        if opts.send_initial_events == Some(true) && opts.resource_version_match.as_deref() != Some("NotOlderThan") {
            return Err(ApiError::Invalid {
                kind: "ListOptions".into(),
                group: "meta.k8s.io".into(),
                name: String::new(),
                causes: vec![Cause::forbidden(
                    "sendInitialEvents",
                    "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
                )],
            });
        }
        if let Some(cache) = self.ready_cache()
            && let Some(events) = self.watch_cached(cache, t, opts, filter.clone(), send_initial).await?
        {
            return Ok(events);
        }
        self.watch_storage(t, opts, filter, send_initial).await
    }

    async fn watch_cached(
        &self,
        cache: &WatchCache,
        t: Target<'_>,
        opts: &ListOptions,
        filter: Arc<Filter>,
        send_initial: bool,
    ) -> Result<Option<BoxStream<'static, WatchEvent>>, ApiError> {
        let kind = t.kind;
        let rv = opts.resource_version.as_deref().unwrap_or("");
        // Unset means "from the latest state": a consistent read, like a list.
        if rv.is_empty() {
            cache.wait_fresh().await.map_err(storage_error)?;
        }
        let after = match rv {
            _ if send_initial => {
                if !rv.is_empty() && rv != "0" {
                    cache.wait_for(parse_rv(rv)?).await;
                }
                None
            }
            "" | "0" => Some(cache.revision()),
            rv => Some(parse_rv(rv)?),
        };
        let Ok(reg) = cache.watch(&self.prefix(t), after, opts.allow_bookmarks) else { return Ok(None) };
        let end = (opts.send_initial_events == Some(true) && opts.allow_bookmarks).then_some(WatchEvent::Bookmark(reg.revision, true));
        let watch = CachedWatch {
            kind,
            filter,
            initial: reg.initial.into_iter(),
            end,
            backlog: reg.backlog.into_iter(),
            receiver: reg.receiver,
        };
        Ok(Some(watch.boxed()))
    }

    /// The watch path without a cache: one storage subscription per watcher.
    async fn watch_storage(&self, t: Target<'_>, opts: &ListOptions, filter: Arc<Filter>, send_initial: bool) -> Result<BoxStream<'static, WatchEvent>, ApiError> {
        let kind = t.kind;
        let prefix = self.prefix(t);
        let rv = opts.resource_version.as_deref().unwrap_or("");
        let mut initial = Vec::new();
        let after = if send_initial {
            let list_opts = ListOptions { label_selector: opts.label_selector.clone(), field_selector: opts.field_selector.clone(), ..Default::default() };
            let page = self.list_storage(t, &prefix, ReadAt::Consistent, &filter, &list_opts).await?;
            for item in &page.items {
                initial.push(WatchEvent::Object("ADDED", item.object(kind)?));
            }
            page.revision
        } else if rv.is_empty() || rv == "0" {
            self.storage.current_revision().await.map_err(storage_error)?
        } else {
            parse_rv(rv)?
        };
        if opts.send_initial_events == Some(true) && opts.allow_bookmarks {
            initial.push(WatchEvent::Bookmark(after, true));
        }
        let events = match self.storage.watch(&prefix, after).await {
            Ok(events) => events,
            Err(StorageError::Compacted { requested, oldest }) => {
                let status = ApiError::Expired(format!("too old resource version: {requested} ({oldest})")).status();
                return Ok(futures::stream::iter(vec![WatchEvent::Error(status)]).boxed());
            }
            Err(e) => return Err(storage_error(e)),
        };
        let live = events.map(move |event| match event {
            Ok(event) => PendingEvent::from_storage(event).into_watch_event(kind, &filter),
            Err(StorageError::Compacted { requested, oldest }) => {
                Some(WatchEvent::Error(ApiError::Expired(format!("too old resource version: {requested} ({oldest})")).status()))
            }
            Err(e) => Some(WatchEvent::Error(storage_error(e).status())),
        });
        // Bookmarks once a minute at the storage's revision.
        let bookmarks = opts.allow_bookmarks;
        let storage = self.storage.clone();
        let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
            tokio::time::Instant::now() + BOOKMARK_INTERVAL,
            BOOKMARK_INTERVAL,
        ))
        .filter(move |_| futures::future::ready(bookmarks))
        .then(move |_| {
            let storage = storage.clone();
            async move { storage.current_revision().await.ok().map(|rv| WatchEvent::Bookmark(rv, false)) }
        });
        let live = futures::stream::select(live, ticks).filter_map(futures::future::ready);
        Ok(futures::stream::iter(initial).chain(live).boxed())
    }

    /// The current revision (for bookmarks).
    pub async fn current_revision(&self) -> Result<i64, ApiError> {
        self.storage.current_revision().await.map_err(storage_error)
    }

    // ----- writes -----

    /// CREATE.
    pub async fn create(&self, t: Target<'_>, body: Value, opts: &WriteOptions) -> Result<Written, ApiError> {
        self.create_tracked(t, body, opts, Tracking::Update).await
    }

    async fn create_tracked(&self, t: Target<'_>, body: Value, opts: &WriteOptions, tracking: Tracking) -> Result<Written, ApiError> {
        let kind = t.kind;
        let (mut obj, warnings) = self.decode_body(kind, body, opts.field_validation)?;
        self.set_namespace(t, &mut obj)?;
        let md = metadata_mut(&mut obj);
        let name = md.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let generate = md.get("generateName").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() && generate.is_empty() {
            return Err(invalid(kind, "", vec![Cause {
                reason: "FieldValueRequired",
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            }]));
        }
        for key in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            md.remove(key);
        }
        md.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        md.insert("creationTimestamp".into(), json!(now()));
        if kind.strategy.tracks_generation() {
            md.insert("generation".into(), json!(1));
        } else {
            md.remove("generation");
        }
        kind.strategy.default(&mut obj);
        kind.strategy.prepare_for_create(&mut obj);
        if kind.namespaced {
            self.check_namespace_open(t, &name_or(&obj, &generate)).await?;
        }
        if kind.group.is_empty() && kind.resource == "persistentvolumeclaims" {
            let classes = self.storage.list("/registry/storageclasses/", None, 0, None).await.map_err(storage_error)?;
            let classes: Vec<Value> = classes.items.iter().filter_map(|kv| serde_json::from_slice(&kv.value).ok()).collect();
            super::strategies::admit_default_storage_class(&mut obj, &classes);
        }
        // generateName collisions are retried like upstream (a few attempts).
        for attempt in 0..8 {
            if name.is_empty() {
                metadata_mut(&mut obj).insert("name".into(), json!(meta::generate_name(&generate)));
            }
            let current_name = name_of(&obj);
            let mut causes = Vec::new();
            self.validate_metadata(kind, &obj, &mut causes);
            kind.strategy.validate(&obj, &mut causes);
            if !causes.is_empty() {
                return Err(invalid(kind, &current_name, causes));
            }
            if tracking == Tracking::Update {
                let api_version = kind.api_version();
                // A shape error leaves ownership unrecorded, like upstream's UpdateNoErrors.
                let _ = apply::track_update(&writer(kind, &api_version, opts, None), None, &mut obj);
            }
            let claimed = self.allocate_service(kind, &mut obj, None, &current_name)?;
            if opts.dry_run {
                self.release_service(&claimed);
                return Ok(Written { object: obj, warnings, created: true });
            }
            let bytes = encode(kind, &obj)?;
            match self.storage.create(&self.key(t, &current_name), bytes).await {
                Ok(kv) => {
                    set_rv(&mut obj, kv.mod_revision);
                    return Ok(Written { object: obj, warnings, created: true });
                }
                Err(StorageError::AlreadyExists(_)) if name.is_empty() && attempt < 7 => {
                    self.release_service(&claimed);
                    continue;
                }
                Err(e) => {
                    self.release_service(&claimed);
                    return Err(match e {
                        StorageError::AlreadyExists(_) => already_exists(kind, &current_name),
                        other => storage_error(other),
                    });
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// UPDATE (PUT) of the main resource or of the `status` subresource.
    pub async fn update(
        &self,
        t: Target<'_>,
        name: &str,
        body: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let (new, warnings) = self.decode_body(t.kind, body, opts.field_validation)?;
        let (old, old_rv) = self.get_kv(t, name).await?;
        let tracking = if subresource == Some(BINDING) { Tracking::Skip } else { Tracking::Update };
        let mut written = self.write_update(t, name, new, old, old_rv, subresource, opts, tracking).await?;
        written.warnings.extend(warnings);
        Ok(written)
    }

    /// PATCH: applies the patch to the current object and updates, retrying on conflicts
    /// when the patch itself did not pin a resourceVersion.
    pub async fn patch(
        &self,
        t: Target<'_>,
        name: &str,
        patch_type: PatchType,
        patch_body: &[u8],
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if patch_type == PatchType::Apply {
            return self.apply_patch(t, name, patch_body, subresource, opts).await;
        }
        if opts.force.is_some() {
            return Err(patch_options_invalid("force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch"));
        }
        self.guaranteed_update(t, name, subresource, opts, |old| Ok(patch::apply(&t.kind.definition, old, patch_type, patch_body)?)).await
    }

    /// Server-side apply (`application/apply-patch+yaml`): merges the configuration
    /// into the live object under field ownership; a missing object is created
    /// (upstream's patcher with `forceAllowCreate`).
    async fn apply_patch(&self, t: Target<'_>, name: &str, body: &[u8], subresource: Option<&str>, opts: &WriteOptions) -> Result<Written, ApiError> {
        let kind = t.kind;
        if !opts.explicit_field_manager || opts.field_manager.is_empty() {
            return Err(patch_options_invalid("fieldManager", "FieldValueRequired", "Required value: is required for apply patch"));
        }
        let config = parse_apply_config(kind, body)?;
        let api_version = kind.api_version();
        let w = writer(kind, &api_version, opts, subresource);
        let force = opts.force.unwrap_or(false);
        let run = |live: &Value| apply::apply(&w, live, &config, force).map_err(|e| apply_error(kind, e));
        match self.get_kv(t, name).await {
            Err(ApiError::NotFound { .. }) if subresource.is_none() => {
                let mut obj = run(&json!({}))?;
                let body_name = name_of(&obj);
                if !body_name.is_empty() && body_name != name {
                    return Err(ApiError::BadRequest(format!(
                        "the name of the object ({body_name}) does not match the name on the URL ({name})"
                    )));
                }
                metadata_mut(&mut obj).insert("name".into(), json!(name));
                let (obj, warnings) = self.decode_body(kind, obj, opts.field_validation)?;
                let mut written = self.create_tracked(t, obj, opts, Tracking::Done).await?;
                written.warnings.extend(warnings);
                Ok(written)
            }
            Err(e) => Err(e),
            Ok(_) => self.update_with(t, name, subresource, opts, Tracking::Done, run).await,
        }
    }

    /// Read-modify-write (upstream `GuaranteedUpdate`): `change` computes the new object
    /// from the current one and the result goes through the update path; a write that
    /// lost a race is retried on the fresh object, unless the new object pinned a
    /// resourceVersion of its own. Errors from `change` end the update as they are.
    pub async fn guaranteed_update(
        &self,
        t: Target<'_>,
        name: &str,
        subresource: Option<&str>,
        opts: &WriteOptions,
        change: impl FnMut(&Value) -> Result<Value, ApiError>,
    ) -> Result<Written, ApiError> {
        let tracking = if subresource == Some(BINDING) { Tracking::Skip } else { Tracking::Update };
        self.update_with(t, name, subresource, opts, tracking, change).await
    }

    async fn update_with(
        &self,
        t: Target<'_>,
        name: &str,
        subresource: Option<&str>,
        opts: &WriteOptions,
        tracking: Tracking,
        mut change: impl FnMut(&Value) -> Result<Value, ApiError>,
    ) -> Result<Written, ApiError> {
        for _ in 0..5 {
            let (old, old_rv) = self.get_kv(t, name).await?;
            let changed = change(&old)?;
            // A binding is the stored (canonical) pod with the binding's already
            // normalized fields set: decoding it again would change nothing.
            let (new, warnings) = match subresource {
                Some(BINDING) => (changed, Vec::new()),
                _ => self.decode_body(t.kind, changed, opts.field_validation)?,
            };
            let pinned = rv_of(&new).is_some_and(|rv| rv != old_rv.to_string());
            match self.write_update(t, name, new, old, old_rv, subresource, opts, tracking).await {
                Err(ApiError::Conflict { .. }) if !pinned => continue,
                Ok(mut written) => {
                    written.warnings.extend(warnings);
                    return Ok(written);
                }
                Err(e) => return Err(e),
            }
        }
        Err(conflict(t.kind, name, "the object has been modified; please apply your changes to the latest version and try again"))
    }

    /// The shared update path of PUT and PATCH.
    #[allow(clippy::too_many_arguments)]
    async fn write_update(
        &self,
        t: Target<'_>,
        name: &str,
        mut new: Value,
        old: Value,
        old_rv: i64,
        subresource: Option<&str>,
        opts: &WriteOptions,
        tracking: Tracking,
    ) -> Result<Written, ApiError> {
        let kind = t.kind;
        self.set_namespace(t, &mut new)?;
        let body_name = name_of(&new);
        if body_name.is_empty() {
            metadata_mut(&mut new).insert("name".into(), json!(name));
        } else if body_name != name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        // Optimistic concurrency: a resourceVersion in the body must match.
        if rv_of(&new).is_some_and(|rv| !rv.is_empty() && rv != old_rv.to_string()) {
            return Err(conflict(kind, name, "the object has been modified; please apply your changes to the latest version and try again"));
        }
        // System fields are the server's.
        {
            let old_md = old.get("metadata").cloned().unwrap_or_default();
            let md = metadata_mut(&mut new);
            for key in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
                match old_md.get(key) {
                    Some(v) => md.insert(key.into(), v.clone()),
                    None => md.remove(key),
                };
            }
            md.remove("selfLink");
            md.remove("resourceVersion");
        }
        let mut old_plain = old.clone();
        strip_rv(&mut old_plain);
        match subresource {
            Some("status") => {
                // Only status (and metadata other than labels) may change through /status.
                let status = new.get("status").cloned();
                let labels = old.pointer("/metadata/labels").cloned();
                let mut merged = old_plain.clone();
                if let Some(obj) = merged.as_object_mut() {
                    match status {
                        Some(s) => obj.insert("status".into(), s),
                        None => obj.remove("status"),
                    };
                    let md = new.get("metadata").cloned().unwrap_or_default();
                    obj.insert("metadata".into(), md);
                }
                match labels {
                    Some(l) => metadata_mut(&mut merged).insert("labels".into(), l),
                    None => metadata_mut(&mut merged).remove("labels"),
                };
                new = merged;
            }
            // The server computed the whole object from the stored one (`pods/binding`:
            // node, annotations and the PodScheduled condition); upstream writes it to
            // storage directly, past the pod update strategy.
            Some(BINDING) => {}
            Some("finalize") => {
                // Upstream's namespace finalize strategy: only spec.finalizers changes.
                let fins = new.pointer("/spec/finalizers").cloned().unwrap_or_else(|| json!([]));
                let mut merged = old_plain.clone();
                merged["spec"]["finalizers"] = fins;
                new = merged;
            }
            _ if kind.strategy.has_status() => {
                match old.get("status") {
                    Some(s) => new.as_object_mut().map(|o| o.insert("status".into(), s.clone())),
                    None => new.as_object_mut().map(|o| o.remove("status")),
                };
            }
            _ => {}
        }
        kind.strategy.default(&mut new);
        if !matches!(subresource, Some("finalize")) {
            kind.strategy.prepare_for_update(&mut new, &old_plain);
        }
        if kind.strategy.tracks_generation() && subresource != Some(BINDING) && spec_changed(&old_plain, &new) {
            let generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0) + 1;
            metadata_mut(&mut new).insert("generation".into(), json!(generation));
        }
        let mut causes = Vec::new();
        self.validate_metadata(kind, &new, &mut causes);
        if subresource != Some(BINDING) {
            kind.strategy.validate_update(&new, &old_plain, &mut causes);
        }
        if !causes.is_empty() {
            return Err(invalid(kind, name, causes));
        }
        match tracking {
            Tracking::Update => {
                let api_version = kind.api_version();
                // A shape error leaves ownership unrecorded, like upstream's UpdateNoErrors.
                let _ = apply::track_update(&writer(kind, &api_version, opts, subresource), Some(&old_plain), &mut new);
            }
            Tracking::Skip => match old_plain.pointer("/metadata/managedFields") {
                Some(m) => {
                    metadata_mut(&mut new).insert("managedFields".into(), m.clone());
                }
                None => {
                    metadata_mut(&mut new).remove("managedFields");
                }
            },
            Tracking::Done => {}
        }
        // Unchanged objects are not written (the resourceVersion stays the same).
        if new == old_plain {
            return Ok(Written { object: old, warnings: Vec::new(), created: false });
        }
        // A deleting object whose last finalizer went away is deleted now.
        let finalizing = new.pointer("/metadata/deletionTimestamp").is_some() && !blocks_deletion(kind, &new);
        let claimed = self.allocate_service(kind, &mut new, Some(&old_plain), name)?;
        if opts.dry_run {
            self.release_service(&claimed);
            return Ok(Written { object: new, warnings: Vec::new(), created: false });
        }
        let key = self.key(t, name);
        if finalizing {
            let (_, revision) = self.storage.delete(&key, Some(old_rv)).await.map_err(|e| self.write_error(kind, name, e))?;
            self.release_service(&service_claims(&old_plain));
            set_rv(&mut new, revision);
            return Ok(Written { object: new, warnings: Vec::new(), created: false });
        }
        match self.storage.update(&key, encode(kind, &new)?, old_rv).await {
            Ok(kv) => {
                self.release_dropped(&old_plain, &new);
                set_rv(&mut new, kv.mod_revision);
                Ok(Written { object: new, warnings: Vec::new(), created: false })
            }
            Err(e) => {
                self.release_service(&claimed);
                Err(self.write_error(kind, name, e))
            }
        }
    }

    /// DELETE one object, honouring preconditions, finalizers, propagation policy and
    /// the pod grace period.
    pub async fn delete(&self, t: Target<'_>, name: &str, opts: &DeleteOptions) -> Result<Deleted, ApiError> {
        // A write that lands between the read and the delete (a controller's status
        // update) is retried on the fresh object, like upstream's conditional delete;
        // a resourceVersion precondition is the caller's and is never retried.
        let mut attempts = 0;
        loop {
            match self.delete_once(t, name, opts).await {
                Err(ApiError::Conflict { .. }) if opts.precondition_resource_version.is_none() && attempts < 4 => attempts += 1,
                other => return other,
            }
        }
    }

    async fn delete_once(&self, t: Target<'_>, name: &str, opts: &DeleteOptions) -> Result<Deleted, ApiError> {
        let kind = t.kind;
        let (old, old_rv) = self.get_kv(t, name).await?;
        if let Some(uid) = &opts.precondition_uid {
            let actual = old.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
            if uid != actual {
                return Err(conflict(kind, name, &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                )));
            }
        }
        if let Some(rv) = &opts.precondition_resource_version
            && *rv != old_rv.to_string() {
                return Err(conflict(kind, name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {old_rv}"
                )));
            }
        let mut new = old.clone();
        strip_rv(&mut new);
        let mut fins = finalizers(&new);
        match opts.propagation_policy.as_deref() {
            Some("Foreground") => add_finalizer(&mut fins, "foregroundDeletion"),
            Some("Orphan") => add_finalizer(&mut fins, "orphan"),
            Some("Background") | None => {}
            Some(other) => {
                return Err(invalid(kind, name, vec![Cause::not_supported(
                    "propagationPolicy",
                    &json!(other),
                    &["Foreground", "Background", "Orphan"],
                )]))
            }
        }
        let grace = self.grace_period(kind, &new, opts.grace_period_seconds);
        if fins.is_empty() && grace == 0 && !namespace_finalizers(kind, &new) {
            if opts.dry_run {
                return Ok(Deleted::Gone(old));
            }
            let (_, revision) = self
                .storage
                .delete(&self.key(t, name), Some(old_rv))
                .await
                .map_err(|e| self.write_error(kind, name, e))?;
            self.release_service(&service_claims(&new));
            set_rv(&mut new, revision);
            return Ok(Deleted::Gone(new));
        }
        // Graceful: mark and keep until finalizers are removed / the grace period ends.
        if new.pointer("/metadata/deletionTimestamp").is_some() {
            if namespace_finalizers(kind, &new) {
                // Upstream's namespace REST answers a repeated delete with this conflict.
                return Err(conflict(kind, name, "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."));
            }
            // Upstream (`deletionFinalizersForGarbageCollection`): a new propagation policy
            // on an object already being deleted swaps the GC finalizers.
            let mut updated = finalizers(&new);
            match opts.propagation_policy.as_deref() {
                Some("Foreground") => {
                    updated.retain(|f| f != "orphan");
                    add_finalizer(&mut updated, "foregroundDeletion");
                }
                Some("Orphan") => {
                    updated.retain(|f| f != "foregroundDeletion");
                    add_finalizer(&mut updated, "orphan");
                }
                Some("Background") => updated.retain(|f| f != "orphan" && f != "foregroundDeletion"),
                _ => {}
            }
            if updated == finalizers(&new) || opts.dry_run {
                return Ok(Deleted::Pending(old));
            }
            metadata_mut(&mut new).insert("finalizers".into(), json!(updated));
            let in_grace = new.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0) > 0;
            if updated.is_empty() && !in_grace {
                let (_, revision) = self.storage.delete(&self.key(t, name), Some(old_rv)).await.map_err(|e| self.write_error(kind, name, e))?;
                self.release_service(&service_claims(&new));
                set_rv(&mut new, revision);
                return Ok(Deleted::Gone(new));
            }
            let kv = self.storage.update(&self.key(t, name), encode(kind, &new)?, old_rv).await.map_err(|e| self.write_error(kind, name, e))?;
            set_rv(&mut new, kv.mod_revision);
            return Ok(Deleted::Pending(new));
        }
        let md = metadata_mut(&mut new);
        md.insert("deletionTimestamp".into(), json!(now()));
        md.insert("deletionGracePeriodSeconds".into(), json!(grace));
        if !fins.is_empty() {
            md.insert("finalizers".into(), json!(fins));
        }
        if kind.kind == "Namespace" {
            new["status"] = json!({ "phase": "Terminating" });
        }
        if opts.dry_run {
            return Ok(Deleted::Pending(new));
        }
        let kv = self
            .storage
            .update(&self.key(t, name), encode(kind, &new)?, old_rv)
            .await
            .map_err(|e| self.write_error(kind, name, e))?;
        set_rv(&mut new, kv.mod_revision);
        Ok(Deleted::Pending(new))
    }

    /// DELETECOLLECTION: deletes every object the list options select.
    pub async fn delete_collection(&self, t: Target<'_>, list: &ListOptions, opts: &DeleteOptions) -> Result<Vec<Value>, ApiError> {
        let page = self.list(t, list).await?;
        let mut deleted = Vec::new();
        for item in page.items {
            let item = item.object(t.kind)?;
            let name = name_of(&item);
            let ns = item.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
            let target = Target { kind: t.kind, namespace: ns.as_deref().or(t.namespace) };
            match self.delete(target, &name, opts).await {
                Ok(Deleted::Gone(obj)) | Ok(Deleted::Pending(obj)) => deleted.push(obj),
                Err(ApiError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    // ----- helpers -----

    /// Decodes a request body through the upstream type: checks apiVersion/kind, reports
    /// or rejects unknown fields per `fieldValidation`, and returns the canonical form.
    fn decode_body(&self, kind: &Kind, body: Value, validation: FieldValidation) -> Result<(Value, Vec<String>), ApiError> {
        if !body.is_object() {
            return Err(ApiError::BadRequest(format!(
                "{} in version {:?} cannot be handled as a {}: the body must be a JSON object",
                kind.kind, kind.version, kind.kind
            )));
        }
        if let Some(v) = body.get("apiVersion").and_then(Value::as_str)
            && v != kind.api_version() {
                return Err(ApiError::BadRequest(format!(
                    "the API version in the data ({v}) does not match the expected API version ({})",
                    kind.api_version()
                )));
            }
        if let Some(k) = body.get("kind").and_then(Value::as_str)
            && k != kind.kind {
                return Err(ApiError::BadRequest(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    kind.kind
                )));
            }
        let mut body = body;
        body["apiVersion"] = json!(kind.api_version());
        body["kind"] = json!(kind.kind);
        let normalized = kind.typed.normalize(body.clone()).map_err(|e| {
            ApiError::BadRequest(format!("{} in version {:?} cannot be handled as a {}: {e}", kind.kind, kind.version, kind.kind))
        })?;
        let mut unknown = Vec::new();
        unknown_fields(&body, &normalized, "", &mut unknown);
        let mut warnings = Vec::new();
        if !unknown.is_empty() {
            match validation {
                FieldValidation::Strict => {
                    let list: Vec<String> = unknown.iter().map(|f| format!("unknown field {f:?}")).collect();
                    return Err(ApiError::BadRequest(format!("strict decoding error: {}", list.join(", "))));
                }
                FieldValidation::Warn => warnings.extend(unknown.iter().map(|f| format!("unknown field {f:?}"))),
                FieldValidation::Ignore => {}
            }
        }
        Ok((normalized, warnings))
    }

    fn set_namespace(&self, t: Target, obj: &mut Value) -> Result<(), ApiError> {
        let md = metadata_mut(obj);
        if !t.kind.namespaced {
            md.remove("namespace");
            return Ok(());
        }
        let url_ns = t.namespace.unwrap_or_default();
        match md.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != url_ns => Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            )),
            _ => {
                md.insert("namespace".into(), json!(url_ns));
                Ok(())
            }
        }
    }

    async fn check_namespace_open(&self, t: Target<'_>, name: &str) -> Result<(), ApiError> {
        let ns = t.namespace.unwrap_or_default();
        let key = format!("/registry/namespaces/{ns}");
        // Like upstream's NamespaceLifecycle admission: the cached namespace first, and a
        // live read when it is not there (yet).
        let cached = self.ready_cache().and_then(|c| c.get(&key).0);
        let kv = match cached {
            Some(kv) => Some(kv),
            None => self.storage.get(&key).await.map_err(storage_error)?.map(Arc::new),
        };
        let Some(kv) = kv else {
            return Err(ApiError::NotFound { resource: "namespaces".into(), group: String::new(), kind: "namespaces".into(), name: ns.into() });
        };
        let obj = decode(ns_kind(), &kv)?;
        if obj.pointer("/metadata/deletionTimestamp").is_some() || obj.pointer("/status/phase") == Some(&json!("Terminating")) {
            let message = format!("unable to create new content in namespace {ns} because it is being terminated");
            return Err(ApiError::Forbidden {
                resource: t.kind.group_resource(),
                group: t.kind.group.into(),
                kind: t.kind.resource.into(),
                name: name.into(),
                message: message.clone(),
                cause: Some(("NamespaceTerminating".into(), message, "metadata.namespace".into())),
            });
        }
        Ok(())
    }

    fn validate_metadata(&self, kind: &Kind, obj: &Value, causes: &mut Vec<Cause>) {
        let name = name_of(obj);
        for problem in meta::check_name(kind.strategy.name_rule(), &name) {
            causes.push(Cause::invalid("metadata.name", &json!(name), problem));
        }
        if let Some(md) = obj.get("metadata") {
            meta::validate_labels_annotations(md, "metadata", causes);
        }
    }

    fn grace_period(&self, kind: &Kind, obj: &Value, requested: Option<i64>) -> i64 {
        if kind.kind != "Pod" {
            return 0;
        }
        // Upstream: a pod that never reached a node is deleted at once.
        let scheduled = obj.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        let phase = obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default();
        if !scheduled || phase == "Succeeded" || phase == "Failed" {
            return 0;
        }
        requested
            .or_else(|| obj.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
            .unwrap_or(30)
            .max(0)
    }

    fn write_error(&self, kind: &Kind, name: &str, e: StorageError) -> ApiError {
        match e {
            StorageError::Conflict { .. } => conflict(kind, name, "the object has been modified; please apply your changes to the latest version and try again"),
            StorageError::NotFound(_) => not_found(kind, name),
            other => storage_error(other),
        }
    }

    /// Allocates ClusterIPs and NodePorts for a Service being written; returns what was
    /// newly claimed so a failed write can give it back.
    fn allocate_service(&self, kind: &Kind, obj: &mut Value, old: Option<&Value>, name: &str) -> Result<Claims, ApiError> {
        let mut claims = Claims::default();
        if kind.kind != "Service" || !kind.group.is_empty() {
            return Ok(claims);
        }
        let mut alloc = self.allocators.lock().unwrap();
        let svc_type = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
        let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).and_then(Value::as_str).map(str::to_string);
        let fail = |claims: &Claims, alloc: &mut Allocators, field: &str, value: Value, e: String| {
            for ip in &claims.ips {
                alloc.release_ip(*ip);
            }
            for p in &claims.ports {
                alloc.release_port(*p);
            }
            invalid(kind, name, vec![Cause::invalid(field, &value, e)])
        };
        if svc_type != "ExternalName" {
            let requested = obj.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or_default().to_string();
            match (requested.as_str(), &old_ip) {
                ("None", _) => {}
                (ip, Some(old)) if ip.is_empty() || ip == old => {
                    obj["spec"]["clusterIP"] = json!(old);
                }
                ("", None) => {
                    let ip = alloc.allocate_ip().map_err(|e| fail(&claims, &mut alloc, "spec.clusterIPs", json!([]), format!("failed to allocate IP: {e}")))?;
                    claims.ips.push(ip);
                    obj["spec"]["clusterIP"] = json!(ip.to_string());
                }
                (ip, _) => {
                    let parsed: std::net::Ipv4Addr = ip.parse().map_err(|_| {
                        fail(&claims, &mut alloc, "spec.clusterIPs[0]", json!(ip), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".into())
                    })?;
                    alloc.claim_ip(parsed).map_err(|e| {
                        fail(&claims, &mut alloc, "spec.clusterIPs", json!([ip]), format!("failed to allocate IP {ip}: {e}"))
                    })?;
                    claims.ips.push(parsed);
                }
            }
            let ip = obj.pointer("/spec/clusterIP").cloned().unwrap_or(json!(""));
            if ip != json!("") {
                obj["spec"]["clusterIPs"] = json!([ip]);
            }
        }
        if svc_type == "NodePort" || svc_type == "LoadBalancer" {
            let old_ports: Vec<u16> = old.map(node_ports).unwrap_or_default();
            let count = obj.pointer("/spec/ports").and_then(Value::as_array).map_or(0, Vec::len);
            for i in 0..count {
                let port = obj["spec"]["ports"][i].get("nodePort").and_then(Value::as_u64).unwrap_or(0) as u16;
                if port == 0 {
                    let p = alloc.allocate_port().map_err(|e| fail(&claims, &mut alloc, &format!("spec.ports[{i}].nodePort"), json!(0), format!("failed to allocate port: {e}")))?;
                    claims.ports.push(p);
                    obj["spec"]["ports"][i]["nodePort"] = json!(p);
                } else if !old_ports.contains(&port) {
                    alloc.claim_port(port).map_err(|e| fail(&claims, &mut alloc, &format!("spec.ports[{i}].nodePort"), json!(port), e.to_string()))?;
                    claims.ports.push(port);
                }
            }
        }
        Ok(claims)
    }

    fn release_service(&self, claims: &Claims) {
        let mut alloc = self.allocators.lock().unwrap();
        for ip in &claims.ips {
            alloc.release_ip(*ip);
        }
        for p in &claims.ports {
            alloc.release_port(*p);
        }
    }

    /// After an update, gives back what the old Service held and the new one does not.
    fn release_dropped(&self, old: &Value, new: &Value) {
        let (old_c, new_c) = (service_claims(old), service_claims(new));
        let dropped = Claims {
            ips: old_c.ips.into_iter().filter(|ip| !new_c.ips.contains(ip)).collect(),
            ports: old_c.ports.into_iter().filter(|p| !new_c.ports.contains(p)).collect(),
        };
        self.release_service(&dropped);
    }
}

/// ClusterIPs and NodePorts one Service holds.
#[derive(Default, Debug)]
struct Claims {
    ips: Vec<std::net::Ipv4Addr>,
    ports: Vec<u16>,
}

fn service_claims(obj: &Value) -> Claims {
    if obj.get("kind") != Some(&json!("Service")) {
        return Claims::default();
    }
    Claims { ips: service_ips(obj), ports: node_ports(obj) }
}

fn service_ips(obj: &Value) -> Vec<std::net::Ipv4Addr> {
    obj.pointer("/spec/clusterIP").and_then(Value::as_str).and_then(|s| s.parse().ok()).into_iter().collect()
}

fn node_ports(obj: &Value) -> Vec<u16> {
    obj.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| ports.iter().filter_map(|p| p.get("nodePort").and_then(Value::as_u64)).map(|p| p as u16).collect())
        .unwrap_or_default()
}

/// Label and field selectors of a list or watch.
struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    fn new(kind: &Kind, opts: &ListOptions) -> Result<Self, ApiError> {
        let labels = match opts.label_selector.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(LabelSelector::parse(s).map_err(ApiError::BadRequest)?),
            None => None,
        };
        let fields = match opts.field_selector.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => {
                let sel = FieldSelector::parse(s).map_err(ApiError::BadRequest)?;
                let selectable = selectable_attrs(kind, &json!({}));
                if let Some(field) = sel.fields().find(|field| selectable.field(field).is_none()) {
                    return Err(ApiError::BadRequest(format!("field label not supported: {field}")));
                }
                Some(sel)
            }
            None => None,
        };
        Ok(Filter { labels, fields })
    }

    fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    /// Whether an object with these attributes is selected (every field the selector
    /// names was checked to be selectable when the filter was made).
    fn matches(&self, attrs: &SelectableAttrs) -> bool {
        self.labels.as_ref().is_none_or(|sel| sel.matches(&attrs.labels))
            && self.fields.as_ref().is_none_or(|sel| sel.matches(|field| attrs.field(field)).unwrap_or(false))
    }
}

/// What selectors read of an object of `kind` (upstream's `GetAttrs`).
fn selectable_attrs(kind: &Kind, obj: &Value) -> SelectableAttrs {
    let labels = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    let namespace = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut fields = vec![("metadata.name", name_of(obj)), ("metadata.namespace", namespace)];
    fields.extend(kind.strategy.selectable_fields(obj));
    SelectableAttrs { labels, fields }
}

/// Which state a list reads.
enum ReadAt {
    /// A continue token: the list's revision and the last key returned.
    Continue(i64, String),
    /// `resourceVersionMatch=Exact`.
    Exact(i64),
    /// `resourceVersion=N` (NotOlderThan).
    NotOlderThan(i64),
    /// `resourceVersion=0`: any state.
    Any,
    /// No resourceVersion: the latest state.
    Consistent,
}

/// A list item from a stored value: kept in stored form when nothing needs to look inside
/// it, else decoded (and dropped when the selectors do not match).
fn listed(kind: &Kind, filter: &Filter, kv: Arc<KeyValue>) -> Result<Option<Listed>, ApiError> {
    if filter.is_empty() && kind.conversion.is_none() {
        return Ok(Some(Listed::Stored(kv)));
    }
    let obj = decode(kind, &kv)?;
    Ok(filter.matches(&selectable_attrs(kind, &obj)).then_some(Listed::Object(obj)))
}

/// A watch served by the cache: the initial objects (filtered as they are taken), the
/// end-of-initial-events bookmark, the window's events after the requested revision, then
/// live deliveries. One struct rather than chained stream combinators: it is polled once
/// per event per watcher, and a write seen by 1,000 watchers polls it 1,000 times in a row.
struct CachedWatch {
    kind: &'static Kind,
    filter: Arc<Filter>,
    initial: std::vec::IntoIter<Arc<KeyValue>>,
    end: Option<WatchEvent>,
    backlog: std::vec::IntoIter<Arc<CachedEvent>>,
    receiver: tokio::sync::mpsc::Receiver<Delivery>,
}

impl futures::Stream for CachedWatch {
    type Item = WatchEvent;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<WatchEvent>> {
        use std::task::{Poll, ready};
        let this = self.get_mut();
        let (kind, filter) = (this.kind, &*this.filter);
        for object in this.initial.by_ref() {
            let event = PendingEvent { event_type: EventType::Added, object, prev: None, shared: None };
            if let Some(out) = event.into_watch_event(kind, filter) {
                return Poll::Ready(Some(out));
            }
        }
        if let Some(end) = this.end.take() {
            return Poll::Ready(Some(end));
        }
        for event in this.backlog.by_ref() {
            if let Some(out) = PendingEvent::from_cached(event).into_watch_event(kind, filter) {
                return Poll::Ready(Some(out));
            }
        }
        loop {
            let out = match ready!(this.receiver.poll_recv(cx)) {
                None => return Poll::Ready(None),
                Some(Delivery::Bookmark(rv)) => Some(WatchEvent::Bookmark(rv, false)),
                Some(Delivery::Event(event)) => PendingEvent::from_cached(event).into_watch_event(kind, filter),
            };
            if out.is_some() {
                return Poll::Ready(out);
            }
        }
    }
}

/// A change on its way to one watcher, from the cache or from a storage watch.
struct PendingEvent {
    event_type: EventType,
    /// The object to show (for a deletion: its last state at the deletion revision).
    object: Arc<KeyValue>,
    prev: Option<Arc<KeyValue>>,
    /// The cache's shared event, whose encoded line all watchers reuse.
    shared: Option<Arc<CachedEvent>>,
}

impl PendingEvent {
    fn from_cached(ev: Arc<CachedEvent>) -> Self {
        PendingEvent { event_type: ev.event_type, object: ev.object.clone(), prev: ev.prev.clone(), shared: Some(ev) }
    }

    fn from_storage(event: Event) -> Self {
        match event {
            Event::Put { kv, prev } => PendingEvent {
                event_type: if prev.is_some() { EventType::Modified } else { EventType::Added },
                object: Arc::new(kv),
                prev: prev.map(Arc::new),
                shared: None,
            },
            Event::Delete { prev, revision } => PendingEvent {
                event_type: EventType::Deleted,
                object: Arc::new(KeyValue { mod_revision: revision, ..prev }),
                prev: None,
                shared: None,
            },
        }
    }

    /// The API watch event, applying the filter like upstream: an object that stops
    /// matching is DELETED, one that starts matching is ADDED. Without conversion the
    /// object is passed on unparsed; selectors are evaluated on its attributes, read from
    /// the stored form once per cached event for every watcher ([`CachedEvent::attrs`]).
    fn into_watch_event(self, kind: &'static Kind, filter: &Filter) -> Option<WatchEvent> {
        if kind.conversion.is_some() {
            return self.into_converted_watch_event(kind, filter);
        }
        if filter.is_empty() {
            return Some(WatchEvent::Raw { kind, event_type: self.event_type, object: self.object, shared: self.shared });
        }
        let of = |kv: &KeyValue| serde_json::from_slice::<Value>(&kv.value).ok().map(|obj| selectable_attrs(kind, &obj));
        let local;
        let attrs = match &self.shared {
            Some(ev) => ev.attrs(of),
            None => {
                local = EventAttrs { object: of(&self.object), prev: self.prev.as_deref().and_then(of) };
                &local
            }
        };
        let matches = |attrs: &Option<SelectableAttrs>| attrs.as_ref().map(|a| filter.matches(a));
        let event_type = transition(self.event_type, self.prev.is_some(), matches(&attrs.object)?, matches(&attrs.prev))?;
        Some(WatchEvent::Raw { kind, event_type, object: self.object, shared: self.shared })
    }

    /// [`Self::into_watch_event`] for a kind stored in another version: decoded and
    /// converted for every watcher.
    fn into_converted_watch_event(self, kind: &'static Kind, filter: &Filter) -> Option<WatchEvent> {
        let obj = decode(kind, &self.object).ok()?;
        let now = filter.matches(&selectable_attrs(kind, &obj));
        let before = self.prev.as_ref().and_then(|p| decode(kind, p).ok()).map(|o| filter.matches(&selectable_attrs(kind, &o)));
        let event_type = transition(self.event_type, self.prev.is_some(), now, before)?;
        Some(WatchEvent::Object(event_type.as_str(), obj))
    }
}

/// What a watcher with selectors sees of a change (upstream's cacher): `now`/`before`
/// say whether the object matches after and before it; `None` when the watcher sees
/// nothing.
fn transition(event_type: EventType, had_prev: bool, now: bool, before: Option<bool>) -> Option<EventType> {
    if event_type == EventType::Deleted {
        return now.then_some(EventType::Deleted);
    }
    match (had_prev, now, before) {
        (false, true, _) => Some(EventType::Added),
        (true, true, Some(true)) => Some(EventType::Modified),
        (true, true, _) => Some(EventType::Added),
        (true, false, Some(true)) => Some(EventType::Deleted),
        _ => None,
    }
}

/// The watch line `{"type":..,"object":{..}}\n` of a stored object, written without
/// parsing it (kind, apiVersion and resourceVersion are spliced in).
pub fn watch_line(kind: &Kind, event_type: EventType, kv: &KeyValue) -> Result<Bytes, ApiError> {
    let mut out = Vec::with_capacity(kv.value.len() + 96);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(event_type.as_str().as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    splice_resource_version(&kv.value, kv.mod_revision, &type_meta(kind), &mut out)?;
    out.extend_from_slice(b"}\n");
    Ok(Bytes::from(out))
}

/// The `PartialObjectMetadata` watch line of a stored object (what metadata-only
/// watchers such as the garbage collector get), cut from the stored bytes (see
/// [`write_partial_metadata`]).
fn metadata_watch_line(event_type: EventType, meta_version: &str, kv: &KeyValue) -> Result<Bytes, ApiError> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(event_type.as_str().as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    write_partial_metadata(kv, meta_version, &mut out)?;
    out.extend_from_slice(b"}\n");
    Ok(Bytes::from(out))
}

/// Appends the `PartialObjectMetadata` of a stored object of a kind stored as served:
/// only its metadata is scanned, the rest is neither parsed nor copied.
fn write_partial_metadata(kv: &KeyValue, meta_version: &str, out: &mut Vec<u8>) -> Result<(), ApiError> {
    out.extend_from_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/");
    out.extend_from_slice(meta_version.as_bytes());
    out.extend_from_slice(b"\",\"metadata\":");
    stored_metadata(kv, out)?;
    out.push(b'}');
    Ok(())
}

/// Appends the object's `metadata` with its resourceVersion, from the stored form.
fn stored_metadata(kv: &KeyValue, out: &mut Vec<u8>) -> Result<(), ApiError> {
    let corrupt = |why: &str| ApiError::Internal(format!("stored object {} {why}", kv.key));
    if !kv.value.starts_with(SPLICE_PREFIX) {
        return Err(corrupt("does not start with its metadata"));
    }
    // The metadata object starts at its '{'; skipping it as one JSON value finds its end.
    let start = SPLICE_PREFIX.len() - 1;
    let mut values = serde_json::Deserializer::from_slice(&kv.value[start..]).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => {}
        _ => return Err(corrupt("has unreadable metadata")),
    }
    let end = start + values.byte_offset();
    out.push(b'{');
    push_resource_version_then(out, kv.mod_revision, &kv.value[SPLICE_PREFIX.len()..end]);
    Ok(())
}

// ----- small pure helpers -----


/// Decodes a stored object and restores what storage leaves out: apiVersion, kind and
/// the resourceVersion (the key's revision).
fn decode(kind: &Kind, kv: &KeyValue) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(&kv.value).map_err(|e| ApiError::Internal(format!("stored object {} is corrupt: {e}", kv.key)))?;
    if let Some(c) = kind.conversion {
        obj = (c.from_storage)(obj);
    }
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(kind.api_version()));
        m.insert("kind".into(), json!(kind.kind));
    }
    set_rv(&mut obj, kv.mod_revision);
    Ok(obj)
}

/// The stored form: `metadata` first (so a list can splice the resourceVersion in without
/// parsing), no apiVersion/kind (the key says which kind it is), no resourceVersion.
fn encode(kind: &Kind, obj: &Value) -> Result<Bytes, ApiError> {
    let converted;
    let obj = match kind.conversion {
        Some(c) => {
            converted = (c.to_storage)(obj.clone());
            &converted
        }
        None => obj,
    };
    let empty = Map::new();
    let mut bytes = serde_json::to_vec(&StoredForm(obj.as_object().unwrap_or(&empty))).map_err(|e| ApiError::Internal(e.to_string()))?;
    if bytes.len() > OBJECT_LIMIT {
        return Err(ApiError::TooLarge(format!("object is {} bytes; the limit is {OBJECT_LIMIT}", bytes.len())));
    }
    // `Bytes` keeps a vector's whole allocation, and the writer grew it by doubling: the
    // cache and the event window hold these for as long as the object lives.
    bytes.shrink_to_fit();
    Ok(Bytes::from(bytes))
}

/// An object serialized in its stored form (see [`encode`]) straight from the API
/// form, without copying it.
struct StoredForm<'a>(&'a Map<String, Value>);

impl serde::Serialize for StoredForm<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        match self.0.get("metadata") {
            Some(Value::Object(md)) => {
                let without_rv = md.iter().filter(|(k, _)| k.as_str() != "resourceVersion");
                map.serialize_entry("metadata", &SerializeEntries(std::cell::Cell::new(Some(without_rv))))?
            }
            Some(other) => map.serialize_entry("metadata", other)?,
            None => map.serialize_entry("metadata", &Map::new())?,
        }
        for (k, v) in self.0 {
            if !matches!(k.as_str(), "metadata" | "apiVersion" | "kind") {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// A map serialized from an iterator of entries (once).
struct SerializeEntries<I>(std::cell::Cell<Option<I>>);

impl<'a, I: Iterator<Item = (&'a String, &'a Value)>> serde::Serialize for SerializeEntries<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.take().into_iter().flatten())
    }
}

/// `"kind":"<Kind>","apiVersion":"<v>",` for splicing into a stored object.
fn type_meta(kind: &Kind) -> String {
    format!("\"kind\":\"{}\",\"apiVersion\":\"{}\",", kind.kind, kind.api_version())
}

/// What [`splice_resource_version`] writes for `stored` at `revision` with a type meta
/// of `type_meta_len` bytes; `None` when the stored object is not in the spliceable form.
fn spliced_len(stored: &[u8], revision: i64, type_meta_len: usize) -> Option<usize> {
    let rest = stored.strip_prefix(SPLICE_PREFIX)?;
    let comma = usize::from(rest.first() != Some(&b'}'));
    let digits = revision.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 1 + usize::from(revision < 0);
    Some(stored.len() + type_meta_len + RV_FIELD.len() + digits + 1 + comma)
}

/// Every stored object starts with its metadata (see [`encode`]).
const SPLICE_PREFIX: &[u8] = b"{\"metadata\":{";
const RV_FIELD: &[u8] = b"\"resourceVersion\":\"";

/// Copies a stored object, inserting `type_meta` (e.g. `"kind":"Pod","apiVersion":"v1",`)
/// first and `"resourceVersion":"<rev>"` as the first field of its leading `metadata` object.
fn splice_resource_version(stored: &[u8], revision: i64, type_meta: &str, out: &mut Vec<u8>) -> Result<(), ApiError> {
    let rest = stored
        .strip_prefix(SPLICE_PREFIX)
        .ok_or_else(|| ApiError::Internal("stored object does not start with its metadata".into()))?;
    out.reserve(stored.len() + type_meta.len() + 48);
    out.push(b'{');
    out.extend_from_slice(type_meta.as_bytes());
    out.extend_from_slice(&SPLICE_PREFIX[1..]);
    push_resource_version_then(out, revision, rest);
    Ok(())
}

/// Writes `"resourceVersion":"<revision>"` as the first member of a metadata object
/// whose opening brace is written, then the stored members `rest` (up to and with the
/// closing brace).
fn push_resource_version_then(out: &mut Vec<u8>, revision: i64, rest: &[u8]) {
    out.extend_from_slice(RV_FIELD);
    // Written in place: no string per item.
    use std::io::Write as _;
    let _ = write!(out, "{revision}");
    out.push(b'"');
    if rest.first() != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(rest);
}

fn ns_kind() -> &'static Kind {
    super::kinds::find("", "v1", "namespaces").expect("namespaces are served")
}


/// The object's name.
pub fn name_of(obj: &Value) -> String {
    obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string()
}

fn name_or(obj: &Value, fallback: &str) -> String {
    let n = name_of(obj);
    if n.is_empty() { fallback.to_string() } else { n }
}

fn rv_of(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string)
}

fn set_rv(obj: &mut Value, rv: i64) {
    metadata_mut(obj).insert("resourceVersion".into(), json!(rv.to_string()));
}

fn strip_rv(obj: &mut Value) {
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("resourceVersion");
    }
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn add_finalizer(fins: &mut Vec<String>, f: &str) {
    if !fins.iter().any(|x| x == f) {
        fins.push(f.to_string());
    }
}

fn parse_rv(rv: &str) -> Result<i64, ApiError> {
    rv.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv}")))
}

/// Whether anything besides metadata and status changed (bumps `generation`).
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|o| o.iter().filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")).map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    strip(old) != strip(new)
}

/// The field-ownership view of a write.
fn writer<'a>(kind: &Kind, api_version: &'a str, opts: &'a WriteOptions, subresource: Option<&'a str>) -> Writer<'a> {
    Writer {
        ty: Ty::of_definition(Some(&kind.definition)),
        api_version,
        manager: if opts.field_manager.is_empty() { "unknown" } else { &opts.field_manager },
        subresource,
        has_status: kind.strategy.has_status(),
    }
}

/// A 422 about the request's PatchOptions (upstream `ValidatePatchOptions`).
fn patch_options_invalid(field: &str, reason: &'static str, message: &str) -> ApiError {
    ApiError::Invalid {
        kind: "PatchOptions".into(),
        group: "meta.k8s.io".into(),
        name: String::new(),
        causes: vec![Cause { reason, message: message.into(), field: field.into() }],
    }
}

/// The applied configuration: YAML (or JSON) of the kind's own apiVersion and kind,
/// without managedFields (upstream's apply patcher and version check).
fn parse_apply_config(kind: &Kind, body: &[u8]) -> Result<Value, ApiError> {
    let config: Value = serde_yaml::from_slice(body).map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
    if !config.is_object() {
        return Err(ApiError::BadRequest("error decoding YAML: the applied configuration is not an object".into()));
    }
    let text = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or_default();
    let api_version = kind.api_version();
    if text("apiVersion") != api_version {
        return Err(ApiError::BadRequest(format!(
            "Incorrect version specified in apply patch. Specified patch version: {}, expected: {api_version}",
            text("apiVersion")
        )));
    }
    if text("kind") != kind.kind {
        let (group, version) = text("apiVersion").rsplit_once('/').unwrap_or(("", text("apiVersion")));
        return Err(ApiError::BadRequest(format!("invalid object type: {group}/{version}, Kind={}", text("kind"))));
    }
    if config.pointer("/metadata/managedFields").is_some_and(|m| !m.is_null()) {
        return Err(ApiError::BadRequest("metadata.managedFields must be nil".into()));
    }
    Ok(config)
}

fn apply_error(kind: &Kind, e: ApplyError) -> ApiError {
    match e {
        ApplyError::Conflicts(conflicts) => ApiError::ApplyConflict {
            message: ApplyError::conflict_message(&conflicts),
            causes: conflicts.into_iter().map(|(manager, path)| (path, format!("conflict with {manager}"))).collect(),
        },
        ApplyError::Shape(e) => ApiError::BadRequest(format!(
            "failed to create typed patch object ({}, Kind={}): {}",
            kind.api_version(),
            kind.kind,
            e.0
        )),
    }
}

/// Collects paths present (non-null) in `input` but absent from the typed round-trip.
fn unknown_fields(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match b.get(k) {
                    None if !v.is_null() => out.push(p),
                    Some(tv) => unknown_fields(v, tv, &p, out),
                    _ => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                unknown_fields(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// 404 for `name` of `kind`.
pub fn not_found(kind: &Kind, name: &str) -> ApiError {
    ApiError::NotFound { resource: kind.group_resource(), group: kind.group.into(), kind: kind.resource.into(), name: name.into() }
}

fn already_exists(kind: &Kind, name: &str) -> ApiError {
    ApiError::AlreadyExists { resource: kind.group_resource(), group: kind.group.into(), kind: kind.resource.into(), name: name.into() }
}

fn conflict(kind: &Kind, name: &str, reason: &str) -> ApiError {
    ApiError::Conflict { resource: kind.group_resource(), group: kind.group.into(), kind: kind.resource.into(), name: name.into(), reason: reason.into() }
}

fn invalid(kind: &Kind, name: &str, causes: Vec<Cause>) -> ApiError {
    ApiError::Invalid { kind: kind.kind.into(), group: kind.group.into(), name: name.into(), causes }
}

fn storage_error(e: StorageError) -> ApiError {
    match e {
        StorageError::Compacted { requested, oldest } => ApiError::Expired(format!("too old resource version: {requested} ({oldest})")),
        StorageError::TooLarge { size, limit } => ApiError::TooLarge(format!("object is {size} bytes; the limit is {limit}")),
        StorageError::FutureRevision(rv) => ApiError::ServiceUnavailable(format!("Too large resource version: {rv}")),
        other => ApiError::Internal(other.to_string()),
    }
}

/// A Namespace still waiting for its `spec.finalizers` (the namespace controller's
/// `kubernetes` token) may not disappear yet.
fn namespace_finalizers(kind: &Kind, obj: &Value) -> bool {
    kind.kind == "Namespace" && obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty())
}

/// Whether anything still holds a deleting object: metadata finalizers, or for a
/// Namespace its spec finalizers (upstream `ShouldDeleteNamespaceDuringUpdate`).
fn blocks_deletion(kind: &Kind, obj: &Value) -> bool {
    !finalizers(obj).is_empty() || namespace_finalizers(kind, obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn unknown_fields_are_found_through_the_typed_round_trip() {
        let kind = super::super::kinds::find("", "v1", "configmaps").unwrap();
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "creationTimestamp": null, "bogus": 1}, "data": {"a": "b"}, "extra": true});
        let typed = kind.typed.normalize(body.clone()).unwrap();
        let mut out = Vec::new();
        unknown_fields(&body, &typed, "", &mut out);
        assert_eq!(out, vec!["metadata.bogus".to_string(), "extra".to_string()]);
    }

    fn stored(kind: &Kind, obj: Value, revision: i64) -> Arc<KeyValue> {
        Arc::new(KeyValue { key: "/registry/pods/default/p".into(), value: encode(kind, &obj).unwrap(), create_revision: 1, mod_revision: revision })
    }

    /// The watch line a watcher with `label_selector` gets for a change from `before`
    /// (`None`: created) to `after`.
    fn seen(label_selector: &str, before: Option<Value>, after: Value) -> Option<Value> {
        seen_with(ListOptions { label_selector: Some(label_selector.into()), ..Default::default() }, before, after)
    }

    /// [`seen`] for any selectors.
    fn seen_with(selectors: ListOptions, before: Option<Value>, after: Value) -> Option<Value> {
        let kind = super::super::kinds::find("", "v1", "pods").unwrap();
        let filter = Filter::new(kind, &selectors).unwrap();
        let prev = before.map(|b| stored(kind, b, 2));
        let event = PendingEvent {
            event_type: if prev.is_some() { EventType::Modified } else { EventType::Added },
            object: stored(kind, after, 3),
            prev,
            shared: None,
        };
        let line = event.into_watch_event(kind, &filter)?.raw_line().expect("a raw event").unwrap();
        Some(serde_json::from_slice(&line).unwrap())
    }

    #[test]
    fn selector_watchers_see_transitions_as_added_and_deleted() {
        let pod = |app: &str, node: &str| json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": app}}, "spec": {"nodeName": node}});
        let added = seen("app=web", None, pod("web", "")).unwrap();
        assert_eq!(added["type"], "ADDED");
        assert_eq!(added["object"]["kind"], "Pod");
        assert_eq!(added["object"]["metadata"]["resourceVersion"], "3");
        assert_eq!(seen("app=web", Some(pod("web", "")), pod("web", "n1")).unwrap()["type"], "MODIFIED");
        assert_eq!(seen("app=web", Some(pod("db", "")), pod("web", "")).unwrap()["type"], "ADDED");
        let left = seen("app=web", Some(pod("web", "")), pod("db", "")).unwrap();
        assert_eq!(left["type"], "DELETED");
        assert_eq!(left["object"]["metadata"]["labels"]["app"], "db");
        assert_eq!(seen("app=web", Some(pod("db", "")), pod("db", "n1")), None);
        assert_eq!(seen("app=web", None, pod("db", "")), None);
    }

    #[test]
    fn field_selector_watchers_see_a_pod_leave_when_it_finishes() {
        // The scheduler's watch, and the kubelet's (by node name and namespace).
        let unfinished = || ListOptions { field_selector: Some("status.phase!=Succeeded,status.phase!=Failed".into()), ..Default::default() };
        let pod = |phase: &str| json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"nodeName": "n1"}, "status": {"phase": phase}});
        assert_eq!(seen_with(unfinished(), None, pod("Pending")).unwrap()["type"], "ADDED");
        assert_eq!(seen_with(unfinished(), Some(pod("Pending")), pod("Running")).unwrap()["type"], "MODIFIED");
        assert_eq!(seen_with(unfinished(), Some(pod("Running")), pod("Succeeded")).unwrap()["type"], "DELETED");
        assert_eq!(seen_with(unfinished(), Some(pod("Succeeded")), pod("Succeeded")), None);
        let on_node = |node: &str| ListOptions { field_selector: Some(format!("spec.nodeName={node},metadata.namespace=default")), ..Default::default() };
        assert_eq!(seen_with(on_node("n1"), Some(pod("Pending")), pod("Running")).unwrap()["type"], "MODIFIED");
        assert_eq!(seen_with(on_node("n2"), Some(pod("Pending")), pod("Running")), None);
    }

    #[test]
    fn selectable_attributes_are_labels_metadata_and_the_kinds_fields() {
        let kind = super::super::kinds::find("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}}, "spec": {"nodeName": "n1", "hostNetwork": true},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}]}});
        let attrs = selectable_attrs(kind, &pod);
        assert_eq!(attrs.labels, BTreeMap::from([("app".to_string(), "web".to_string())]));
        for (field, value) in [("metadata.name", "p"), ("metadata.namespace", "ns"), ("spec.nodeName", "n1"), ("spec.hostNetwork", "true"), ("status.phase", "Running"), ("status.podIP", "10.0.0.5"), ("spec.restartPolicy", "")] {
            assert_eq!(attrs.field(field), Some(value), "{field}");
        }
        assert_eq!(attrs.field("spec.containers"), None);
        let unsupported = Filter::new(kind, &ListOptions { field_selector: Some("spec.containers=x".into()), ..Default::default() });
        assert!(matches!(unsupported, Err(ApiError::BadRequest(m)) if m == "field label not supported: spec.containers"));
    }

    #[test]
    fn the_stored_form_puts_metadata_first_without_type_and_resource_version() {
        let kind = super::super::kinds::find("", "v1", "configmaps").unwrap();
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}, "metadata": {"name": "x", "resourceVersion": "7", "uid": "u"}});
        let bytes = encode(kind, &obj).unwrap();
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), r#"{"metadata":{"name":"x","uid":"u"},"data":{"a":"b"}}"#);
        assert_eq!(&encode(kind, &json!({"data": {}})).unwrap()[..], br#"{"metadata":{},"data":{}}"#);
    }

    #[test]
    fn metadata_watch_lines_are_cut_from_the_stored_metadata() {
        let kind = super::super::kinds::find("", "v1", "configmaps").unwrap();
        let obj = json!({"metadata": {"name": "x", "namespace": "ns", "annotations": {"tricky": "}{\"},"}, "ownerReferences": [{"name": "o"}]}, "data": {"a": "b"}});
        let kv = KeyValue { key: "/registry/configmaps/ns/x".into(), value: encode(kind, &obj).unwrap(), create_revision: 3, mod_revision: 7 };
        let line = metadata_watch_line(EventType::Modified, "v1", &kv).unwrap();
        assert!(line.ends_with(b"}}\n"));
        let mut expected_metadata = obj["metadata"].clone();
        expected_metadata["resourceVersion"] = json!("7");
        assert_eq!(
            serde_json::from_slice::<Value>(&line).unwrap(),
            json!({"type": "MODIFIED", "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": expected_metadata}})
        );
        let bare = KeyValue { value: encode(kind, &json!({"data": {}})).unwrap(), ..kv.clone() };
        let line = metadata_watch_line(EventType::Added, "v1beta1", &bare).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&line).unwrap()["object"]["metadata"], json!({"resourceVersion": "7"}));
        let corrupt = KeyValue { value: Bytes::from_static(b"{\"metadata\":{\"name\":"), ..kv };
        assert!(metadata_watch_line(EventType::Added, "v1", &corrupt).is_err());
    }

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, "default/web");
        assert_eq!(decode_continue(&t, "/registry/pods/").unwrap(), (42, "/registry/pods/default/web".to_string()));
        assert!(decode_continue("not-base64!", "/registry/pods/").is_err());
    }
}
