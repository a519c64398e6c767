//! Storage: a key/value store with global revisions that knows nothing about Kubernetes.
//!
//! Bytes in, bytes out, a revision on every result (kine's `Backend`, etcd's MVCC model).
//! `update` and `delete` take the revision the caller expects; `list` returns the revision
//! it was served at; `watch` replays history from a revision and fails with
//! [`StorageError::Compacted`] once that history is gone (the API answers 410 Gone).

#[cfg(test)]
mod bench;
mod embedded;
mod etcd;
mod memory;
#[cfg(test)]
mod tests;

pub use embedded::{FILE_NAME, RedbOptions, RedbStorage, WAL_FILE_NAME};
pub use etcd::{EtcdOptions, EtcdStorage, EtcdTls};
pub use memory::MemoryStorage;

use bytes::Bytes;
use futures::stream::BoxStream;

/// One stored value and the revisions that describe it.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// Full key, e.g. `/registry/configmaps/default/kube-root-ca.crt`.
    pub key: String,
    /// The serialized object.
    pub value: Bytes,
    /// Revision at which the key was created.
    pub create_revision: i64,
    /// Revision of the last change (the object's resourceVersion).
    pub mod_revision: i64,
}

/// A page of a list.
#[derive(Clone, Debug)]
pub struct ListResult {
    /// Items in key order.
    pub items: Vec<KeyValue>,
    /// The revision the list was served at.
    pub revision: i64,
    /// Whether more keys follow the last item.
    pub more: bool,
    /// Number of keys after this page, if known.
    pub remaining: Option<i64>,
}

/// One change, as seen by a watcher.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A key was created.
    Put {
        /// The new value.
        kv: KeyValue,
        /// The previous value, if the key existed.
        prev: Option<KeyValue>,
    },
    /// A key was deleted at `revision`.
    Delete {
        /// The value just before deletion.
        prev: KeyValue,
        /// The deletion revision.
        revision: i64,
    },
}

impl Event {
    /// Revision at which the event happened.
    pub fn revision(&self) -> i64 {
        match self {
            Event::Put { kv, .. } => kv.mod_revision,
            Event::Delete { revision, .. } => *revision,
        }
    }
    /// Key the event is about.
    pub fn key(&self) -> &str {
        match self {
            Event::Put { kv, .. } => &kv.key,
            Event::Delete { prev, .. } => &prev.key,
        }
    }
}

/// Errors from a backend. Classified by variant; callers never parse messages.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// `create` found the key already present.
    #[error("key {0} already exists")]
    AlreadyExists(String),
    /// The key does not exist.
    #[error("key {0} not found")]
    NotFound(String),
    /// The expected revision did not match; carries the current value.
    #[error("key {key} was modified (expected revision {expected}, found {actual})")]
    Conflict {
        /// The key.
        key: String,
        /// What the caller expected.
        expected: i64,
        /// What is stored.
        actual: i64,
    },
    /// The requested revision has been compacted away.
    #[error("revision {requested} has been compacted (oldest available is {oldest})")]
    Compacted {
        /// Revision asked for.
        requested: i64,
        /// Oldest revision still available.
        oldest: i64,
    },
    /// The requested revision is in the future.
    #[error("revision {0} is newer than the store")]
    FutureRevision(i64),
    /// The value exceeds the store's size limit.
    #[error("value of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the value.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// The backend failed (I/O, network, corruption).
    #[error("storage backend error: {0}")]
    Backend(String),
}

/// Result alias for storage calls.
pub type Result<T> = std::result::Result<T, StorageError>;

/// Largest value a backend accepts (etcd's default request limit is 1.5 MiB).
pub const MAX_VALUE_BYTES: usize = 1536 * 1024;

/// Refuses values larger than [`MAX_VALUE_BYTES`], before any backend sees them.
pub(crate) fn check_size(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StorageError::TooLarge { size: value.len(), limit: MAX_VALUE_BYTES });
    }
    Ok(())
}

/// A stream of events from a watch, in revision order.
pub type WatchStream = BoxStream<'static, Result<Event>>;

/// The storage contract every backend implements and passes one shared test suite for.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Reads one key at the current revision.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;
    /// Lists keys under `prefix` strictly after `start_after` (if given), at `revision`
    /// (current if `None`), at most `limit` items (0 = no limit).
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        revision: Option<i64>,
    ) -> Result<ListResult>;
    /// Creates `key` if absent; returns the new revision.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue>;
    /// Replaces `key` if its mod revision is `expected`; returns the new value.
    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Result<KeyValue>;
    /// Deletes `key` if its mod revision is `expected` (any when `None`); returns the
    /// deleted value and the deletion revision.
    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<(KeyValue, i64)>;
    /// Streams every change under `prefix` with a revision greater than `after`.
    async fn watch(&self, prefix: &str, after: i64) -> Result<WatchStream>;
    /// The newest revision.
    async fn current_revision(&self) -> Result<i64>;
    /// Forgets history older than `revision` (the latest value of every key is kept).
    async fn compact(&self, revision: i64) -> Result<()>;
}
