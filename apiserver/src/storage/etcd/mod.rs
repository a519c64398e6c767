//! etcd backend (`--etcd-servers`): the storage contract on an etcd v3 cluster, the way
//! kube-apiserver uses etcd.
//!
//! Keys are stored as given (`/registry/<resource>/<namespace>/<name>`, as upstream) and
//! values are our stored JSON bytes. etcd's own revisions are the revisions of the
//! contract: every successful write is one etcd transaction (compare `mod_revision`, then
//! put or delete), so creates, updates and deletes with a precondition are atomic on the
//! server. Lists are ranges at a revision with a limit; watches are etcd watches with the
//! previous value attached. A background task compacts like kube-apiserver: every
//! interval it compacts to the revision it saw one interval earlier.

mod compactor;
mod convert;
mod tls;
mod watch;

pub use tls::EtcdTls;

use super::{KeyValue, ListResult, Result, Storage, StorageError, WatchStream, check_size};
use bytes::Bytes;
use convert::{Refusal, backend, key_value, prefix_end, refusal, with_causes};
use etcd_client::{Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Largest gRPC message the client accepts: a list of many objects near the size limit.
const MAX_RESPONSE_BYTES: usize = 1 << 31;

/// How many times a request that did not get through is tried again, and the pause
/// between tries after the first few (which go straight to another member).
const RETRIES: u32 = 40;
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Whether a request may be repeated after any failure (reads) or only after one that
/// certainly did not reach etcd (writes: a write cut off mid-way may have been applied).
#[derive(Clone, Copy, PartialEq)]
enum Repeatable {
    Read,
    Write,
}

/// Runs `call` until it succeeds, fails for good, or the tries run out. The client
/// balances over all endpoints and keeps a dead member in rotation, so a refused
/// connection is retried at once: the next try usually goes to a live member.
async fn retrying<T, F, Fut>(kind: Repeatable, mut call: F) -> std::result::Result<T, etcd_client::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
{
    let mut attempt = 0;
    loop {
        let error = match call().await {
            Ok(answer) => return Ok(answer),
            Err(error) => error,
        };
        let retry = match refusal(&error) {
            Refusal::Undelivered => true,
            Refusal::Unavailable => kind == Repeatable::Read,
            _ => false,
        };
        if !retry || attempt >= RETRIES {
            return Err(error);
        }
        attempt += 1;
        if attempt > 3 {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

/// How long etcd may take to answer the first request.
const STARTUP_ANSWER: Duration = Duration::from_secs(10);

/// How long a compacted watch start may take to be confirmed by etcd.
const COMPACTION_ANSWER: Duration = Duration::from_secs(5);

/// Tuning of an [`EtcdStorage`]. `Default` is what `ironkube` uses.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// How often history is compacted, each time to the revision seen one interval
    /// earlier (so at least one interval of history is kept); `None` compacts only when
    /// [`Storage::compact`] is called.
    pub compact_interval: Option<Duration>,
    /// CA, client certificate and key for `https://` endpoints.
    pub tls: EtcdTls,
}

impl Default for EtcdOptions {
    /// Every 5 minutes, like kube-apiserver's `--etcd-compaction-interval`.
    fn default() -> Self {
        Self { compact_interval: Some(Duration::from_secs(300)), tls: EtcdTls::default() }
    }
}

/// A [`Storage`] on an etcd cluster.
pub struct EtcdStorage {
    kv: etcd_client::KvClient,
    watch: etcd_client::WatchClient,
    endpoints: Vec<String>,
    /// The newest compaction revision this process knows of (for [`StorageError::Compacted`]).
    compacted: Arc<AtomicI64>,
    compactor: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for EtcdStorage {
    fn drop(&mut self) {
        if let Some(compactor) = self.compactor.take() {
            compactor.abort();
        }
    }
}

impl EtcdStorage {
    /// Connects to `endpoints` (`http://host:port`) and checks that etcd answers.
    pub async fn connect(endpoints: &[String], options: EtcdOptions) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(StorageError::Backend("no etcd endpoints given".into()));
        }
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        if tls::wants_tls(endpoints, &options.tls)? {
            connect = connect.with_openssl_tls(options.tls.client_config()?);
        }
        let client = etcd_client::Client::connect(endpoints, Some(connect))
            .await
            .map_err(|e| StorageError::Backend(format!("cannot connect to etcd at {}: {}", endpoints.join(","), with_causes(&e))))?;
        let mut storage = Self {
            kv: client.kv_client().max_decoding_message_size(MAX_RESPONSE_BYTES),
            watch: client.watch_client().max_decoding_message_size(MAX_RESPONSE_BYTES),
            endpoints: endpoints.to_vec(),
            compacted: Arc::new(AtomicI64::new(0)),
            compactor: None,
        };
        let unanswered = |why: String| StorageError::Backend(format!("etcd at {} does not answer: {why}", endpoints.join(",")));
        match tokio::time::timeout(STARTUP_ANSWER, storage.current_revision()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(unanswered(e.to_string())),
            Err(_) => return Err(unanswered(format!("no answer within {} s", STARTUP_ANSWER.as_secs()))),
        }
        if let Some(interval) = options.compact_interval {
            storage.compactor = Some(tokio::spawn(compactor::run(storage.kv.clone(), storage.compacted.clone(), interval)));
        }
        Ok(storage)
    }

    /// The endpoints this store talks to.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    fn kv(&self) -> etcd_client::KvClient {
        self.kv.clone()
    }

    /// A range read, retried while members fail.
    async fn get_range(&self, key: Vec<u8>, options: Option<GetOptions>) -> std::result::Result<etcd_client::GetResponse, etcd_client::Error> {
        retrying(Repeatable::Read, || {
            let (mut kv, key, options) = (self.kv(), key.clone(), options.clone());
            async move { kv.get(key, options).await }
        })
        .await
    }

    /// The error for a read at `requested` that etcd refused as compacted.
    fn compacted_error(&self, requested: i64) -> StorageError {
        let known = self.compacted.load(Ordering::SeqCst);
        StorageError::Compacted { requested, oldest: if known > requested { known } else { requested + 1 } }
    }

    /// Runs `txn`; on failure of the comparison, the current value of `key` (the `or_else`
    /// branch of every write here reads it).
    async fn write(&self, key: &str, txn: Txn) -> Result<std::result::Result<etcd_client::TxnResponse, Option<KeyValue>>> {
        let response = retrying(Repeatable::Write, || {
            let (mut kv, txn) = (self.kv(), txn.clone());
            async move { kv.txn(txn).await }
        })
        .await
        .map_err(backend)?;
        if response.succeeded() {
            return Ok(Ok(response));
        }
        let current = response.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(get) => Some(get.kvs().first().map(key_value)),
            _ => None,
        });
        match current {
            Some(current) => Ok(Err(current)),
            None => Err(StorageError::Backend(format!("etcd answered a failed write of {key} without its current value"))),
        }
    }
}

fn revision_of(response: &etcd_client::TxnResponse) -> Result<i64> {
    response.header().map(|h| h.revision()).ok_or_else(|| StorageError::Backend("etcd answered without a header".into()))
}

/// The value a put replaced, from a transaction whose only operation was that put.
fn replaced(response: &etcd_client::TxnResponse) -> Option<KeyValue> {
    response.op_responses().into_iter().find_map(|op| match op {
        TxnOpResponse::Put(put) => put.prev_key().map(key_value),
        _ => None,
    })
}

#[async_trait::async_trait]
impl Storage for EtcdStorage {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let response = self.get_range(key.as_bytes().to_vec(), None).await.map_err(backend)?;
        Ok(response.kvs().first().map(key_value))
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        revision: Option<i64>,
    ) -> Result<ListResult> {
        let start = match start_after {
            // The first key after `start_after`.
            Some(after) => [after.as_bytes(), &[0]].concat(),
            None => prefix.as_bytes().to_vec(),
        };
        let mut options = GetOptions::new().with_range(prefix_end(prefix)).with_limit(limit as i64);
        if let Some(revision) = revision {
            options = options.with_revision(revision);
        }
        let response = match self.get_range(start, Some(options)).await {
            Ok(response) => response,
            Err(e) => {
                return Err(match (refusal(&e), revision) {
                    (Refusal::Compacted, Some(at)) => self.compacted_error(at),
                    (Refusal::FutureRevision, Some(at)) => StorageError::FutureRevision(at),
                    _ => backend(e),
                });
            }
        };
        let served_at = match revision {
            Some(at) => at,
            None => response.header().map(|h| h.revision()).unwrap_or_default(),
        };
        let items: Vec<KeyValue> = response.kvs().iter().map(key_value).collect();
        let remaining = (response.count() - items.len() as i64).max(0);
        Ok(ListResult { items, revision: served_at, more: response.more(), remaining: Some(remaining) })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_size(&value)?;
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value.to_vec(), None)])
            .or_else([TxnOp::get(key, None)]);
        match self.write(key, txn).await? {
            Ok(response) => {
                let revision = revision_of(&response)?;
                Ok(KeyValue { key: key.to_string(), value, create_revision: revision, mod_revision: revision })
            }
            Err(_) => Err(StorageError::AlreadyExists(key.to_string())),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Result<KeyValue> {
        check_size(&value)?;
        let txn = Txn::new()
            .when([Compare::version(key, CompareOp::Greater, 0), Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key, value.to_vec(), Some(PutOptions::new().with_prev_key()))])
            .or_else([TxnOp::get(key, None)]);
        match self.write(key, txn).await? {
            Ok(response) => {
                let revision = revision_of(&response)?;
                let prev = replaced(&response)
                    .ok_or_else(|| StorageError::Backend(format!("etcd replaced {key} without returning the previous value")))?;
                Ok(KeyValue { key: key.to_string(), value, create_revision: prev.create_revision, mod_revision: revision })
            }
            Err(None) => Err(StorageError::NotFound(key.to_string())),
            Err(Some(current)) => Err(StorageError::Conflict { key: key.to_string(), expected, actual: current.mod_revision }),
        }
    }

    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<(KeyValue, i64)> {
        let mut conditions = vec![Compare::version(key, CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            conditions.push(Compare::mod_revision(key, CompareOp::Equal, expected));
        }
        let txn = Txn::new()
            .when(conditions)
            .and_then([TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key()))])
            .or_else([TxnOp::get(key, None)]);
        match self.write(key, txn).await? {
            Ok(response) => {
                let revision = revision_of(&response)?;
                let prev = response.op_responses().into_iter().find_map(|op| match op {
                    TxnOpResponse::Delete(delete) => delete.prev_kvs().first().map(key_value),
                    _ => None,
                });
                let prev = prev.ok_or_else(|| StorageError::Backend(format!("etcd deleted {key} without returning its value")))?;
                Ok((prev, revision))
            }
            Err(None) => Err(StorageError::NotFound(key.to_string())),
            Err(Some(current)) => Err(StorageError::Conflict {
                key: key.to_string(),
                expected: expected.unwrap_or_default(),
                actual: current.mod_revision,
            }),
        }
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<WatchStream> {
        // etcd reads start revision 0 as "now": history from the beginning starts at 1.
        let start = after.max(1);
        // Whether `after` is still in etcd's history: a read there says so.
        let probe = GetOptions::new().with_revision(start).with_count_only().with_limit(1);
        let compacted = match self.get_range(prefix.as_bytes().to_vec(), Some(probe)).await {
            Ok(_) => false,
            Err(e) => match refusal(&e) {
                Refusal::Compacted => true,
                Refusal::FutureRevision => false,
                _ => return Err(backend(e)),
            },
        };
        let options = etcd_client::WatchOptions::new()
            .with_range(prefix_end(prefix))
            .with_start_revision(start)
            .with_prev_key();
        let mut stream = retrying(Repeatable::Read, || {
            let (mut client, options) = (self.watch.clone(), options.clone());
            async move { client.watch(prefix, Some(options)).await }
        })
        .await
        .map_err(backend)?;
        let early = if compacted {
            // etcd names the compaction revision right after creating the watch.
            match tokio::time::timeout(COMPACTION_ANSWER, watch::created(&mut stream, after, true)).await {
                Ok(Err(StorageError::Compacted { requested, oldest })) => {
                    self.compacted.fetch_max(oldest, Ordering::SeqCst);
                    return Err(StorageError::Compacted { requested, oldest });
                }
                Ok(Err(other)) => return Err(other),
                Ok(Ok(_)) | Err(_) => return Err(self.compacted_error(after)),
            }
        } else {
            watch::created(&mut stream, after, false).await?
        };
        Ok(watch::stream(stream, after, early))
    }

    async fn current_revision(&self) -> Result<i64> {
        // Any read carries the store's revision in its header; this one reads no key.
        let response = self.get_range(vec![0], Some(GetOptions::new().with_count_only())).await.map_err(backend)?;
        response.header().map(|h| h.revision()).ok_or_else(|| StorageError::Backend("etcd answered without a header".into()))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let revision = revision.min(self.current_revision().await?);
        if revision <= self.compacted.load(Ordering::SeqCst) || revision < 1 {
            return Ok(());
        }
        compactor::compact(&self.kv, &self.compacted, revision).await
    }
}
