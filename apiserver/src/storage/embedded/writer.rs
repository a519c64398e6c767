//! The single writer: group commit and compaction.
//!
//! One OS thread owns every write transaction. It takes the first queued request, drains
//! whatever else is queued (up to [`MAX_BATCH`]), applies each write in one transaction,
//! checking each one's precondition on its own, appends the batch's rows to the WAL and
//! syncs it (one sequential write and one fsync for the whole batch, see [`super::wal`]),
//! commits the transaction (non-durably: the WAL is what makes it durable; every
//! `RedbOptions::checkpoint_every` or [`CHECKPOINT_BYTES`] of WAL the commit is a durable
//! one and the WAL starts over), then answers every caller and publishes the events.
//! While writers are concurrent it waits up to [`LINGER`] for stragglers before committing,
//! so one commit carries every writer that is about to send.
//! Nobody hears about a write before its commit is durable.

use super::backend;
use super::codec::{IndexRow, LogRow, decode_index, decode_log};
use super::read::logged_version;
use super::tables::{COMPACTED, INDEX, LOG, META, REVISION};
use super::wal::{Batch, Wal};
use crate::storage::{Event, KeyValue, Result, StorageError};
use bytes::Bytes;
use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Most requests applied in one transaction.
const MAX_BATCH: usize = 1024;

/// Most value bytes applied in one transaction (bounds the memory a batch pins).
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// How long the writer waits for one more request once the queue is empty, when the
/// previous batch showed concurrent writers. Callers answered by the last commit need a
/// few tens of microseconds to send their next write; without this wait the writer starts
/// a commit with the first few of them, the rest queue behind it, and the writers split
/// into two half-size cohorts that each pay a full commit (fsync). Small next to a commit,
/// and never paid by a lone writer.
const LINGER: Duration = Duration::from_micros(30);

/// Most WAL bytes between durable redb commits.
const CHECKPOINT_BYTES: u64 = 16 << 20;

/// A change a caller asks for.
pub(super) enum Op {
    /// Create if absent.
    Create { key: String, value: Bytes },
    /// Replace if the mod revision is `expected`.
    Update { key: String, value: Bytes, expected: i64 },
    /// Remove if the mod revision is `expected` (any when `None`).
    Delete { key: String, expected: Option<i64> },
}

impl Op {
    fn value_len(&self) -> usize {
        match self {
            Op::Create { value, .. } | Op::Update { value, .. } => value.len(),
            Op::Delete { .. } => 0,
        }
    }
}

/// What the writer thread receives.
pub(super) enum Request {
    /// A write; answered with its event once durable.
    Write(Op, oneshot::Sender<Result<Event>>),
    /// Compact at a revision; answered with the compaction point now in effect.
    Compact(i64, oneshot::Sender<Result<i64>>),
}

/// State the writer publishes to readers.
pub(super) struct Shared {
    /// Newest durable revision.
    pub revision: AtomicI64,
}

/// The writer thread's state.
pub(super) struct Writer {
    pub db: Arc<Database>,
    pub requests: mpsc::Receiver<Request>,
    pub events: broadcast::Sender<Event>,
    pub shared: Arc<Shared>,
    /// Newest committed revision.
    pub revision: i64,
    /// Where each batch is made durable before its non-durable redb commit.
    pub wal: Wal,
    /// When the last durable redb commit ran.
    pub checkpointed: Instant,
    /// Longest time between durable redb commits while writes come in.
    pub checkpoint_every: Duration,
}

type Reply = oneshot::Sender<Result<Event>>;

impl Writer {
    /// Serves requests until every sender is gone.
    pub fn run(mut self) {
        let mut last_batch = 0;
        while let Some(first) = self.requests.blocking_recv() {
            let mut writes: Vec<(Op, Reply)> = Vec::new();
            let mut compactions = Vec::new();
            let mut bytes = 0;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Write(op, reply) => {
                        bytes += op.value_len();
                        writes.push((op, reply));
                    }
                    Request::Compact(revision, reply) => compactions.push((revision, reply)),
                }
                if writes.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                    next = self.requests.try_recv().ok();
                    if next.is_none() && last_batch > 1 {
                        next = self.linger();
                    }
                }
            }
            last_batch = writes.len();
            if !writes.is_empty() {
                self.commit_writes(writes);
            }
            for (revision, reply) in compactions {
                let _ = reply.send(self.compact(revision));
            }
        }
        if let Err(e) = self.checkpoint() {
            tracing::error!(error = %e, "the final storage checkpoint failed (the WAL still holds every write)");
        }
    }

    /// Whether the next commit should be durable.
    fn checkpoint_due(&self) -> bool {
        self.wal.len() >= CHECKPOINT_BYTES || self.checkpointed.elapsed() >= self.checkpoint_every
    }

    /// Makes every commit so far durable in the redb file and starts a new WAL generation.
    fn checkpoint(&mut self) -> std::result::Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        txn.commit()?;
        self.after_durable_commit()
    }

    /// Starts a new WAL generation once a durable redb commit has completed. Never fails
    /// the batch: its writes are durable already (a failed shrink only leaves the file big).
    fn after_durable_commit(&mut self) -> std::result::Result<(), redb::Error> {
        if let Err(e) = self.wal.restart() {
            tracing::warn!(error = %e, "could not shrink the storage WAL");
        }
        self.checkpointed = Instant::now();
        Ok(())
    }

    /// The next request if one arrives within [`LINGER`]. Yields rather than sleeps: a
    /// sleep this short overshoots by the timer slack (about 50 µs).
    fn linger(&mut self) -> Option<Request> {
        let start = Instant::now();
        loop {
            std::thread::yield_now();
            if let Ok(request) = self.requests.try_recv() {
                return Some(request);
            }
            if start.elapsed() >= LINGER {
                return None;
            }
        }
    }

    fn commit_writes(&mut self, writes: Vec<(Op, Reply)>) {
        match self.apply_all(&writes) {
            Ok((results, last)) => {
                self.revision = last;
                self.shared.revision.store(last, Ordering::SeqCst);
                // Answer the writers before publishing: a watch event may fan out to
                // thousands of watchers, and a writer woken after it waits behind their
                // tasks in the runtime's queues (a create's ack took 13 ms instead of 2 with
                // 1,000 watchers). Both happen after the commit is durable.
                let mut events = Vec::with_capacity(results.len());
                for ((_, reply), result) in writes.into_iter().zip(results) {
                    if let Ok(event) = &result {
                        events.push(event.clone());
                    }
                    let _ = reply.send(result);
                }
                for event in events {
                    let _ = self.events.send(event);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "storage write transaction failed");
                for (_, reply) in writes {
                    let _ = reply.send(Err(StorageError::Backend(e.to_string())));
                }
            }
        }
    }

    /// Applies the batch in one transaction, makes it durable (WAL, or a durable commit when
    /// a checkpoint is due) and commits it; returns each write's outcome and the newest
    /// revision. An `Err` means nothing was committed.
    fn apply_all(&mut self, writes: &[(Op, Reply)]) -> std::result::Result<(Vec<Result<Event>>, i64), redb::Error> {
        let txn = self.db.begin_write()?;
        let mut next = self.revision;
        let mut results = Vec::with_capacity(writes.len());
        let mut batch = Batch::new();
        {
            let mut log = txn.open_table(LOG)?;
            let mut index = txn.open_table(INDEX)?;
            for (op, _) in writes {
                let result = apply(op, next + 1, &mut log, &mut index, &mut batch)?;
                if result.is_ok() {
                    next += 1;
                }
                results.push(result);
            }
            if next != self.revision {
                txn.open_table(META)?.insert(REVISION, next)?;
            }
        }
        if batch.is_empty() {
            // Every write failed its precondition: nothing to make durable.
            txn.abort()?;
        } else {
            self.commit(txn, &mut batch)?;
        }
        Ok((results, next))
    }

    /// Commits a transaction holding `batch`'s rows, durably: through the WAL, or as a
    /// durable redb commit (a checkpoint) when one is due.
    fn commit(&mut self, mut txn: WriteTransaction, batch: &mut Batch) -> std::result::Result<(), redb::Error> {
        if self.checkpoint_due() {
            txn.commit()?;
            return self.after_durable_commit();
        }
        if let Err(e) = self.wal.append(batch) {
            txn.abort()?;
            return Err(redb::Error::Io(e));
        }
        txn.set_durability(Durability::None).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        txn.commit()?;
        Ok(())
    }

    /// Removes every log row superseded at or before `target` (clamped to the newest
    /// revision), and every tombstone at or before it. The row holding a live key's current
    /// value has no successor, so it is never removed. Returns the compaction point.
    pub fn compact(&mut self, target: i64) -> Result<i64> {
        self.try_compact(target).map_err(backend)
    }

    fn try_compact(&mut self, target: i64) -> std::result::Result<i64, redb::Error> {
        let txn = self.db.begin_write()?;
        let target = target.min(self.revision);
        let (done, changed);
        {
            let mut meta = txn.open_table(META)?;
            let compacted = meta.get(COMPACTED)?.map(|g| g.value()).unwrap_or(0);
            if target <= compacted {
                (done, changed) = (compacted, false);
            } else {
                let mut log = txn.open_table(LOG)?;
                // Rows in (compacted, target] name what they superseded; all such rows are
                // visited exactly once over the life of the store.
                let mut doomed: Vec<(i64, String)> = Vec::new();
                for row in log.range((compacted + 1)..=target)? {
                    let (revision, bytes) = row?;
                    let decoded = decode_log(bytes.value()).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
                    if decoded.prev_revision > 0 {
                        doomed.push((decoded.prev_revision, decoded.key.to_string()));
                    }
                    if decoded.value.is_none() {
                        doomed.push((revision.value(), decoded.key.to_string()));
                    }
                }
                for (revision, key) in doomed {
                    let same_key = match log.get(revision)? {
                        Some(row) => decode_log(row.value()).is_ok_and(|r| r.key == key),
                        None => continue,
                    };
                    if same_key {
                        log.remove(revision)?;
                    } else {
                        tracing::warn!(revision, key, "compaction kept a log row that names another key");
                    }
                }
                meta.insert(COMPACTED, target)?;
                (done, changed) = (target, true);
            }
        }
        if changed {
            // Durable: it also makes every earlier non-durable commit durable.
            txn.commit()?;
            self.after_durable_commit()?;
        } else {
            txn.abort()?;
        }
        Ok(done)
    }
}

/// Applies one write at `revision`. The outer error aborts the batch; the inner one is this
/// write's own failure (its precondition), which leaves the tables untouched.
fn apply(
    op: &Op,
    revision: i64,
    log: &mut Table<i64, &[u8]>,
    index: &mut Table<&str, &[u8]>,
    batch: &mut Batch,
) -> std::result::Result<Result<Event>, redb::Error> {
    let key = match op {
        Op::Create { key, .. } | Op::Update { key, .. } | Op::Delete { key, .. } => key.as_str(),
    };
    let current = match index.get(key)? {
        Some(row) => match decode_index(row.value()) {
            Ok(row) => Some(row),
            Err(e) => return Ok(Err(backend(e))),
        },
        None => None,
    };
    let check = |expected: i64, current: &IndexRow| {
        if current.mod_revision == expected {
            Ok(())
        } else {
            Err(StorageError::Conflict { key: key.to_string(), expected, actual: current.mod_revision })
        }
    };
    // The replaced version, for the event: read from the log only once the write is sure.
    let replaced = |current: &IndexRow| logged_version(log, current.mod_revision, key);
    let event = match (op, current) {
        (Op::Create { .. }, Some(_)) => return Ok(Err(StorageError::AlreadyExists(key.to_string()))),
        (Op::Update { .. } | Op::Delete { .. }, None) => return Ok(Err(StorageError::NotFound(key.to_string()))),
        (Op::Create { value, .. }, None) => {
            put(log, index, batch, key, value, revision, revision, 0)?;
            let kv = KeyValue { key: key.to_string(), value: value.clone(), create_revision: revision, mod_revision: revision };
            Event::Put { kv, prev: None }
        }
        (Op::Update { value, expected, .. }, Some(current)) => {
            if let Err(e) = check(*expected, &current) {
                return Ok(Err(e));
            }
            let prev = match replaced(&current) {
                Ok(prev) => prev,
                Err(e) => return Ok(Err(e)),
            };
            put(log, index, batch, key, value, revision, prev.create_revision, prev.mod_revision)?;
            let kv = KeyValue {
                key: key.to_string(),
                value: value.clone(),
                create_revision: prev.create_revision,
                mod_revision: revision,
            };
            Event::Put { kv, prev: Some(prev) }
        }
        (Op::Delete { expected, .. }, Some(current)) => {
            if let Some(Err(e)) = expected.map(|expected| check(expected, &current)) {
                return Ok(Err(e));
            }
            let prev = match replaced(&current) {
                Ok(prev) => prev,
                Err(e) => return Ok(Err(e)),
            };
            let row = LogRow { key, value: None, create_revision: prev.create_revision, prev_revision: prev.mod_revision };
            let row = row.encode();
            log.insert(revision, row.as_slice())?;
            batch.push(revision, &row);
            index.remove(key)?;
            Event::Delete { prev, revision }
        }
    };
    Ok(Ok(event))
}

#[allow(clippy::too_many_arguments)]
fn put(
    log: &mut Table<i64, &[u8]>,
    index: &mut Table<&str, &[u8]>,
    batch: &mut Batch,
    key: &str,
    value: &[u8],
    revision: i64,
    create_revision: i64,
    prev_revision: i64,
) -> std::result::Result<(), redb::Error> {
    let row = LogRow { key, value: Some(value), create_revision, prev_revision }.encode();
    log.insert(revision, row.as_slice())?;
    batch.push(revision, &row);
    index.insert(key, IndexRow { mod_revision: revision, create_revision }.encode().as_slice())?;
    Ok(())
}
