//! Durable embedded backend: one redb file, `<dir>/state.redb`.
//!
//! Layout (see [`tables`]): an append-only revision log (revision -> key, value or
//! tombstone, create revision, revision of the version it replaced), a latest-value index
//! (key -> mod revision, create revision, value) and a few persisted counters (newest and
//! compacted revision). Current reads use the index only; reads at an older revision and
//! watch replay use the log.
//!
//! Writes go through one writer thread that commits queued writes together (group commit:
//! one WAL append and fsync per batch, `<dir>/state.wal`, see [`wal`]; the redb file is
//! made durable by periodic checkpoints) and acknowledges each only once durable; events
//! are broadcast to watchers after the commit. Opening replays the WAL into the file. A second thread compacts history older than
//! [`RedbOptions::retain_for`] every [`RedbOptions::compact_interval`].

mod codec;
mod compactor;
mod read;
mod tables;
mod wal;
mod writer;

use super::{Event, KeyValue, ListResult, Result, Storage, StorageError, WatchStream, check_size};
use bytes::Bytes;
use compactor::{Compactor, Retention};
use futures::StreamExt;
use read::Snapshot;
use redb::{Database, ReadableTable};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use tables::{COMPACTED, FORMAT, FORMAT_VERSION, INDEX, INITIAL_REVISION, LOG, META, REVISION};
use tokio::sync::{broadcast, mpsc, oneshot};
use writer::{Op, Request, Shared, Writer};

/// Name of the database file inside the data directory.
pub const FILE_NAME: &str = "state.redb";

pub use wal::FILE_NAME as WAL_FILE_NAME;

/// Writes waiting for the writer before callers are made to wait.
const QUEUE: usize = 4096;

/// Events buffered for slow watchers before they are told to relist.
const FAN_OUT: usize = 16_384;

/// Tuning of a [`RedbStorage`]. `Default` is what `ironkube up` should use.
#[derive(Clone, Debug)]
pub struct RedbOptions {
    /// How often the background compactor runs; `None` runs none (call
    /// [`Storage::compact`] yourself).
    pub compact_interval: Option<Duration>,
    /// History older than this is compacted (watches and reads from before fail with
    /// [`StorageError::Compacted`], i.e. 410 Gone).
    pub retain_for: Duration,
    /// At most this many revisions of history are kept, however recent.
    pub retain_revisions: i64,
    /// Longest time between durable commits of the database file while writes come in
    /// (each write is durable in the WAL before it is acknowledged either way). Bounds the
    /// file's growth (pages freed by non-durable commits are reused only after a durable
    /// one) and the WAL replayed after a crash.
    pub checkpoint_every: Duration,
    /// Memory redb may use for its page cache (read pages and dirty pages not yet written
    /// to the file). redb's own default is 1 GiB, all of it resident once the file is
    /// that big; the watch cache serves reads from memory already, and the kernel's page
    /// cache keeps the file's pages anyway. With 64 MiB the API server holding 100,000
    /// pods went from 683 to 394 MiB after a cold start (1,021 to 670 MiB while creating
    /// them) at the same create rate and durable writes/s.
    pub cache_size: usize,
}

impl Default for RedbOptions {
    /// Compacts every minute, keeping 5 minutes and at most 100,000 revisions of history
    /// (the apiserver's own etcd compaction interval is 5 minutes); checkpoints every
    /// 250 ms; a 64 MiB page cache.
    fn default() -> Self {
        Self {
            compact_interval: Some(Duration::from_secs(60)),
            retain_for: Duration::from_secs(300),
            retain_revisions: 100_000,
            checkpoint_every: Duration::from_millis(250),
            cache_size: 64 << 20,
        }
    }
}

/// A [`Storage`] kept durably in `<dir>/state.redb`.
///
/// Opening needs no async runtime: the writer and the compactor are OS threads. Dropping
/// the last handle finishes queued writes, stops both threads and closes the file.
pub struct RedbStorage {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    path: PathBuf,
    requests: Option<mpsc::Sender<Request>>,
    events: broadcast::Sender<Event>,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    compactor: Option<Compactor>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Order matters: the compactor may be waiting on the writer, and the writer stops
        // only once every request sender is gone.
        self.compactor.take();
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Any backend failure as a [`StorageError::Backend`].
fn backend(error: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(error.to_string())
}

fn open_error(path: &Path, error: redb::DatabaseError) -> StorageError {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StorageError::Backend(format!(
            "cannot open {}: it is in use by another process (is another ironkube running on this data directory?)",
            path.display()
        )),
        other => StorageError::Backend(format!("cannot open {}: {other}", path.display())),
    }
}

impl RedbStorage {
    /// Opens (creating if needed) `<dir>/state.redb` with [`RedbOptions::default`], which
    /// starts the automatic compactor.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, RedbOptions::default())
    }

    /// Opens (creating if needed) `<dir>/state.redb`. After a crash, redb repairs the file
    /// on open; every write that was acknowledged is still there.
    pub fn open_with(dir: impl AsRef<Path>, options: RedbOptions) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|e| StorageError::Backend(format!("cannot create the data directory {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        // redb may panic rather than fail on a file damaged outside it: report, don't crash.
        let opened = std::panic::catch_unwind(|| redb::Builder::new().set_cache_size(options.cache_size).create(&path))
            .map_err(|_| StorageError::Backend(format!("cannot open {}: the file is damaged", path.display())))?;
        let db = Arc::new(opened.map_err(|e| open_error(&path, e))?);
        let cannot_open = |e: &dyn std::fmt::Display| StorageError::Backend(format!("cannot open {}: {e}", path.display()));
        let durable = init(&db).map_err(|e| cannot_open(&e))?;
        let (mut wal, replayed) = wal::Wal::open(dir, durable).map_err(|e| cannot_open(&e))?;
        let revision = replay(&db, durable, replayed).map_err(|e| cannot_open(&e))?;
        wal.restart().map_err(|e| cannot_open(&e))?;

        let (requests, queue) = mpsc::channel(QUEUE);
        let (events, _) = broadcast::channel(FAN_OUT);
        let shared = Arc::new(Shared { revision: AtomicI64::new(revision) });
        let writer = Writer {
            db: db.clone(),
            requests: queue,
            events: events.clone(),
            shared: shared.clone(),
            revision,
            wal,
            checkpointed: std::time::Instant::now(),
            checkpoint_every: options.checkpoint_every,
        };
        let spawn_error = |e: std::io::Error| StorageError::Backend(format!("cannot start the storage threads: {e}"));
        let writer = std::thread::Builder::new()
            .name("ironkube-storage-writer".into())
            .spawn(move || writer.run())
            .map_err(spawn_error)?;
        let compactor = match options.compact_interval {
            Some(interval) => Some(
                Compactor::spawn(
                    interval,
                    Retention::new(options.retain_for, options.retain_revisions),
                    requests.downgrade(),
                    shared.clone(),
                )
                .map_err(spawn_error)?,
            ),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path,
                requests: Some(requests),
                events,
                shared,
                writer: Some(writer),
                compactor,
            }),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn write(&self, op: Op) -> Result<Event> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Write(op, reply)).await?;
        answer.await.map_err(|_| StorageError::Backend("the storage writer stopped".into()))?
    }

    async fn send(&self, request: Request) -> Result<()> {
        let requests = self.inner.requests.as_ref().ok_or_else(|| StorageError::Backend("the store is closed".into()))?;
        requests.send(request).await.map_err(|_| StorageError::Backend("the storage writer stopped".into()))
    }

    /// Runs `read` on a snapshot, off the async threads.
    async fn read<T: Send + 'static>(&self, read: impl FnOnce(&Snapshot) -> Result<T> + Send + 'static) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || read(&Snapshot::begin(&inner.db)?))
            .await
            .map_err(|e| StorageError::Backend(format!("storage read failed: {e}")))?
    }

    /// Checks that the log holds every live key's current version; returns (live keys,
    /// log rows). For tests.
    #[cfg(test)]
    pub(crate) fn verify(&self) -> Result<(u64, u64)> {
        Snapshot::begin(&self.inner.db)?.verify()
    }
}

/// Creates the tables on first open and checks the format; returns the newest revision.
fn init(db: &Database) -> std::result::Result<i64, redb::Error> {
    let txn = db.begin_write()?;
    let revision;
    {
        txn.open_table(LOG)?;
        txn.open_table(INDEX)?;
        let mut meta = txn.open_table(META)?;
        let format = meta.get(FORMAT)?.map(|g| g.value());
        match format {
            None => {
                meta.insert(FORMAT, FORMAT_VERSION)?;
                meta.insert(REVISION, INITIAL_REVISION)?;
                meta.insert(COMPACTED, 0)?;
            }
            Some(FORMAT_VERSION) => {}
            Some(1) => {
                migrate_v1_index(&mut txn.open_table(INDEX)?)?;
                meta.insert(FORMAT, FORMAT_VERSION)?;
            }
            Some(other) => {
                return Err(redb::Error::Corrupted(format!(
                    "layout version {other} is not supported (this build reads version {FORMAT_VERSION})"
                )));
            }
        }
        revision = meta.get(REVISION)?.map(|g| g.value()).unwrap_or(INITIAL_REVISION);
    }
    txn.commit()?;
    Ok(revision)
}

/// Applies the WAL rows written after the durable revision (their commits were not yet
/// durable in the file when the process stopped) in one durable transaction; returns the
/// newest revision.
fn replay(db: &Database, durable: i64, rows: Vec<wal::Replayed>) -> std::result::Result<i64, redb::Error> {
    let Some(last) = rows.last().map(|r| r.revision) else { return Ok(durable) };
    let txn = db.begin_write()?;
    {
        let mut log = txn.open_table(LOG)?;
        let mut index = txn.open_table(INDEX)?;
        for wal::Replayed { revision, row } in &rows {
            let decoded = codec::decode_log(row).map_err(|e| redb::Error::Corrupted(format!("WAL row {revision}: {e}")))?;
            log.insert(*revision, row.as_slice())?;
            match decoded.value {
                Some(_) => {
                    let at = codec::IndexRow { mod_revision: *revision, create_revision: decoded.create_revision };
                    index.insert(decoded.key, at.encode().as_slice())?;
                }
                None => {
                    index.remove(decoded.key)?;
                }
            }
        }
        txn.open_table(META)?.insert(REVISION, last)?;
    }
    txn.commit()?;
    tracing::info!(rows = rows.len(), from = durable + 1, to = last, "replayed the storage WAL");
    Ok(last)
}

/// Layout 1 kept each live value in the index as well as in the log: keep only the
/// revisions (the log row at the mod revision has the same value). One pass, in the
/// opening transaction, so a crash midway leaves the file at version 1.
fn migrate_v1_index(index: &mut redb::Table<&str, &[u8]>) -> std::result::Result<(), redb::Error> {
    let mut rows = Vec::new();
    for row in index.iter()? {
        let (key, value) = row?;
        let revisions = codec::decode_v1_index(value.value()).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        rows.push((key.value().to_string(), revisions));
    }
    for (key, revisions) in rows {
        index.insert(key.as_str(), revisions.encode().as_slice())?;
    }
    Ok(())
}

fn unexpected(event: Event) -> StorageError {
    StorageError::Backend(format!("the writer answered with an unexpected event at revision {}", event.revision()))
}

#[async_trait::async_trait]
impl Storage for RedbStorage {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        // A point read is a few B-tree pages, normally cached: cheaper inline than a hop
        // to the blocking pool (which doubled GET latency).
        Snapshot::begin(&self.inner.db)?.get(key)
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        revision: Option<i64>,
    ) -> Result<ListResult> {
        let prefix = prefix.to_string();
        let start_after = start_after.map(str::to_string);
        self.read(move |snapshot| snapshot.list(&prefix, start_after.as_deref(), limit, revision)).await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_size(&value)?;
        match self.write(Op::Create { key: key.to_string(), value }).await? {
            Event::Put { kv, .. } => Ok(kv),
            other => Err(unexpected(other)),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Result<KeyValue> {
        check_size(&value)?;
        match self.write(Op::Update { key: key.to_string(), value, expected }).await? {
            Event::Put { kv, .. } => Ok(kv),
            other => Err(unexpected(other)),
        }
    }

    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<(KeyValue, i64)> {
        match self.write(Op::Delete { key: key.to_string(), expected }).await? {
            Event::Delete { prev, revision } => Ok((prev, revision)),
            other => Err(unexpected(other)),
        }
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<WatchStream> {
        // Subscribe before reading: every event committed after the snapshot is then
        // received live, and live events the snapshot already covers are skipped.
        let receiver = self.inner.events.subscribe();
        let replay_prefix = prefix.to_string();
        let (backlog, seen) = self
            .read(move |snapshot| {
                snapshot.check_history(after)?;
                Ok((snapshot.replay(&replay_prefix, after)?, snapshot.revision))
            })
            .await?;
        let last = seen.max(after);
        let prefix = prefix.to_string();
        let live = tokio_stream::wrappers::BroadcastStream::new(receiver).filter_map(move |item| {
            let keep = match item {
                Ok(event) if event.revision() > last && event.key().starts_with(&prefix) => Some(Ok(event)),
                Ok(_) => None,
                // A watcher that fell behind the fan-out buffer must relist.
                Err(_) => Some(Err(StorageError::Compacted { requested: last, oldest: last + 1 })),
            };
            std::future::ready(keep)
        });
        Ok(futures::stream::iter(backlog.into_iter().map(Ok)).chain(live).boxed())
    }

    async fn current_revision(&self) -> Result<i64> {
        Ok(self.inner.shared.revision.load(Ordering::SeqCst))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Compact(revision, reply)).await?;
        answer.await.map_err(|_| StorageError::Backend("the storage writer stopped".into()))??;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::codec::{IndexRow, LogRow};
    use super::tables::{COMPACTED, FORMAT, INDEX, LOG, META, REVISION};
    use super::{FILE_NAME, RedbOptions, RedbStorage};
    use crate::storage::{Storage, StorageError};
    use bytes::Bytes;

    /// Writes a file as layout version 1 wrote it: `/a` created at 2 and updated at 3,
    /// `/b` created at 4, each index row carrying the value after its revisions.
    fn write_v1_file(dir: &std::path::Path, format: i64) {
        let db = redb::Database::create(dir.join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut log = txn.open_table(LOG).unwrap();
            let rows = [(2, "/a", "a1", 2, 0), (3, "/a", "a2", 2, 2), (4, "/b", "b1", 4, 0)];
            for (revision, key, value, create_revision, prev_revision) in rows {
                let row = LogRow { key, value: Some(value.as_bytes()), create_revision, prev_revision };
                log.insert(revision, row.encode().as_slice()).unwrap();
            }
            let mut index = txn.open_table(INDEX).unwrap();
            for (key, mod_revision, create_revision, value) in [("/a", 3, 2, "a2"), ("/b", 4, 4, "b1")] {
                let row = [&IndexRow { mod_revision, create_revision }.encode()[..], value.as_bytes()].concat();
                index.insert(key, row.as_slice()).unwrap();
            }
            let mut meta = txn.open_table(META).unwrap();
            meta.insert(FORMAT, format).unwrap();
            meta.insert(REVISION, 4).unwrap();
            meta.insert(COMPACTED, 0).unwrap();
        }
        txn.commit().unwrap();
    }

    fn options() -> RedbOptions {
        RedbOptions { compact_interval: None, ..RedbOptions::default() }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_version_1_file_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        write_v1_file(dir.path(), 1);
        let s = RedbStorage::open_with(dir.path(), options()).unwrap();
        assert_eq!(s.verify().unwrap(), (2, 3));
        let a = s.get("/a").await.unwrap().unwrap();
        assert_eq!((&a.value[..], a.create_revision, a.mod_revision), (&b"a2"[..], 2, 3));
        let listed = s.list("/", None, 0, None).await.unwrap().items;
        assert_eq!(listed.iter().map(|kv| &kv.value[..]).collect::<Vec<_>>(), [&b"a2"[..], &b"b1"[..]]);
        assert_eq!(s.list("/", None, 0, Some(2)).await.unwrap().items[0].value, Bytes::from_static(b"a1"));
        let updated = s.update("/a", Bytes::from_static(b"a3"), 3).await.unwrap();
        assert_eq!(updated.mod_revision, 5);
        drop(s);
        // Reopened, it is a version-2 file that needs no migration.
        let s = RedbStorage::open_with(dir.path(), options()).unwrap();
        assert_eq!(s.get("/a").await.unwrap().unwrap().value, Bytes::from_static(b"a3"));
    }

    #[test]
    fn a_file_from_a_newer_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_v1_file(dir.path(), 7);
        match RedbStorage::open_with(dir.path(), options()) {
            Err(StorageError::Backend(message)) => assert!(message.contains("layout version 7 is not supported"), "{message}"),
            Err(other) => panic!("expected a backend error, got {other:?}"),
            Ok(_) => panic!("a layout-7 file was opened"),
        }
    }
}
