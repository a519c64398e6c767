//! What only a durable backend promises: data and revisions survive a restart or a crash,
//! the file stays bounded under churn, and opening fails clearly.

use super::manual_compaction;
use crate::storage::{FILE_NAME, RedbOptions, RedbStorage, Storage, StorageError, WAL_FILE_NAME};
use bytes::Bytes;
use futures::future::join_all;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn open(dir: &Path) -> Arc<RedbStorage> {
    Arc::new(RedbStorage::open_with(dir, manual_compaction()).expect("open the store"))
}

fn backend_message(result: Result<RedbStorage, StorageError>) -> String {
    match result {
        Err(StorageError::Backend(message)) => message,
        Err(other) => panic!("expected a backend error, got {other:?}"),
        Ok(_) => panic!("expected the open to fail"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_data_history_and_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let (a2, compacted, last) = {
        let s = open(dir.path());
        let a1 = s.create("/k/a", Bytes::from_static(b"1")).await.unwrap();
        let a2 = s.update("/k/a", Bytes::from_static(b"2"), a1.mod_revision).await.unwrap();
        let compacted = s.current_revision().await.unwrap();
        s.compact(compacted).await.unwrap();
        s.create("/k/b", Bytes::from_static(b"b")).await.unwrap();
        let (_, last) = s.delete("/k/b", None).await.unwrap();
        (a2, compacted, last)
    };
    let s = open(dir.path());
    assert_eq!(s.current_revision().await.unwrap(), last);
    assert_eq!(s.get("/k/a").await.unwrap(), Some(a2.clone()));
    assert_eq!(s.get("/k/b").await.unwrap(), None);
    assert!(matches!(s.watch("/k/", compacted - 1).await, Err(StorageError::Compacted { oldest, .. }) if oldest == compacted));
    let mut watch = s.watch("/k/", compacted).await.unwrap();
    let replayed: Vec<i64> = {
        use futures::StreamExt;
        let mut out = Vec::new();
        for _ in 0..2 {
            out.push(watch.next().await.unwrap().unwrap().revision());
        }
        out
    };
    assert_eq!(replayed, vec![last - 1, last]);
    // Revisions continue where they stopped, even though the newest row was a deletion.
    let next = s.update("/k/a", Bytes::from_static(b"3"), a2.mod_revision).await.unwrap();
    assert_eq!(next.mod_revision, last + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    // 8 concurrent writers; each remembers exactly what was acknowledged to it.
    let acknowledged: Vec<(String, Bytes, i64)> = join_all((0..8).map(|w| {
        let s = s.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..25 {
                let key = format!("/crash/{w}/{i}");
                let value = Bytes::from(format!("{w}-{i}"));
                let kv = s.create(&key, value.clone()).await.unwrap();
                acked.push((key, value, kv.mod_revision));
            }
            // Overwrite one key many times: only the last acknowledged value may survive.
            let key = format!("/crash/{w}/0");
            let mut revision = acked[0].2;
            for i in 0..10 {
                let value = Bytes::from(format!("{w}-0-{i}"));
                revision = s.update(&key, value.clone(), revision).await.unwrap().mod_revision;
                acked[0] = (key.clone(), value, revision);
            }
            acked
        })
    }))
    .await
    .into_iter()
    .flat_map(|acked| acked.unwrap())
    .collect();
    let newest = acknowledged.iter().map(|(_, _, r)| *r).max().unwrap();

    // The files as a kill -9 leaves them: copied while the store is open, never closed, so
    // redb repairs the database on open and the WAL replays the batches committed since
    // the last checkpoint (nothing writes while the two are copied).
    for file in [FILE_NAME, WAL_FILE_NAME] {
        std::fs::copy(dir.path().join(file), crashed.path().join(file)).unwrap();
    }
    let check = |s: Arc<RedbStorage>| {
        let acknowledged = acknowledged.clone();
        async move {
            for (key, value, revision) in &acknowledged {
                let kv = s.get(key).await.unwrap().unwrap_or_else(|| panic!("{key} was acknowledged but is lost"));
                assert_eq!((&kv.value, kv.mod_revision), (value, *revision), "{key}");
            }
            assert_eq!(s.current_revision().await.unwrap(), newest);
            let after = s.create("/crash/after", Bytes::from_static(b"x")).await.unwrap();
            assert_eq!(after.mod_revision, newest + 1);
            let (live, _) = s.verify().unwrap();
            assert_eq!(live, acknowledged.len() as u64 + 1);
        }
    };
    check(open(crashed.path())).await;
    drop(s);
    check(open(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_holds_what_the_database_file_does_not_yet() {
    let dir = tempfile::tempdir().unwrap();
    let options = RedbOptions { checkpoint_every: Duration::from_secs(3600), ..manual_compaction() };
    let s = Arc::new(RedbStorage::open_with(dir.path(), options).unwrap());
    let mut acked = Vec::new();
    for i in 0..20 {
        acked.push(s.create(&format!("/wal/{i}"), Bytes::from(format!("v{i}"))).await.unwrap());
    }
    // As a kill -9 leaves them, with and without the WAL.
    let (with_wal, without_wal) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for file in [FILE_NAME, WAL_FILE_NAME] {
        std::fs::copy(dir.path().join(file), with_wal.path().join(file)).unwrap();
    }
    std::fs::copy(dir.path().join(FILE_NAME), without_wal.path().join(FILE_NAME)).unwrap();
    // No checkpoint ran: the database file alone has none of the writes (so the next
    // check really tests the replay).
    assert_eq!(open(without_wal.path()).get("/wal/0").await.unwrap(), None);
    let replayed = open(with_wal.path());
    for kv in &acked {
        assert_eq!(replayed.get(&kv.key).await.unwrap().as_ref(), Some(kv));
    }
    assert_eq!(replayed.current_revision().await.unwrap(), acked.last().unwrap().mod_revision);
    // Once replayed the data is in the database file: a second crash right after loses nothing.
    drop(replayed);
    std::fs::remove_file(with_wal.path().join(WAL_FILE_NAME)).unwrap();
    assert_eq!(open(with_wal.path()).get("/wal/19").await.unwrap().as_ref(), acked.last());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_leaves_only_current_versions_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    super::cases::compaction_keeps_every_live_key(s.clone()).await;
    // After compacting at the newest revision, the log holds exactly one row per live key:
    // the one the index points at (checked row by row by `verify`).
    let (live, log_rows) = s.verify().unwrap();
    assert_eq!(live, 900 + 10);
    assert_eq!(log_rows, live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_stays_bounded_under_churn() {
    const KEYS: usize = 10;
    const UPDATES_PER_KEY: usize = 2000; // 20,000 updates in all
    const KEEP: i64 = 1000; // revisions of history kept at each compaction
    // Bound: 10 live values plus about 1,000 rows of history of ~300 bytes is well under
    // 1 MiB of data; redb's pages, B-tree slack and not-yet-reused free pages stay within
    // a few MiB. Without compaction the log alone would hold 20,000 rows (over 6 MiB).
    const BOUND: u64 = 4 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let value = Bytes::from(vec![b'l'; 256]); // about a Lease object
    join_all((0..KEYS).map(|k| {
        let (s, value) = (s.clone(), value.clone());
        tokio::spawn(async move {
            let key = format!("/registry/leases/kube-node-lease/node-{k}");
            let mut revision = s.create(&key, value.clone()).await.unwrap().mod_revision;
            for i in 1..=UPDATES_PER_KEY {
                revision = s.update(&key, value.clone(), revision).await.unwrap().mod_revision;
                if k == 0 && i % 100 == 0 {
                    let current = s.current_revision().await.unwrap();
                    s.compact(current - KEEP).await.unwrap();
                }
            }
        })
    }))
    .await
    .into_iter()
    .for_each(|r| r.unwrap());
    let current = s.current_revision().await.unwrap();
    s.compact(current - KEEP).await.unwrap();
    let (live, log_rows) = s.verify().unwrap();
    assert_eq!(live, KEYS as u64);
    assert!(log_rows <= KEEP as u64 + KEYS as u64, "{log_rows} log rows after compaction");
    let size = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
    println!("state.redb after {} updates: {size} bytes", KEYS * UPDATES_PER_KEY);
    assert!(size < BOUND, "state.redb grew to {size} bytes (bound {BOUND})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_compactor_forgets_old_history() {
    let dir = tempfile::tempdir().unwrap();
    let options = RedbOptions {
        compact_interval: Some(Duration::from_millis(10)),
        retain_for: Duration::from_secs(3600),
        retain_revisions: 5,
        ..RedbOptions::default()
    };
    let s = RedbStorage::open_with(dir.path(), options).unwrap();
    let mut kv = s.create("/bg/a", Bytes::from_static(b"0")).await.unwrap();
    for _ in 0..20 {
        kv = s.update("/bg/a", Bytes::from_static(b"1"), kv.mod_revision).await.unwrap();
    }
    // Wait (at most 20 s, not a timing assertion) for a compaction to happen.
    let mut compacted = false;
    for _ in 0..2000 {
        if matches!(s.watch("/bg/", 1).await, Err(StorageError::Compacted { .. })) {
            compacted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(compacted, "the background compactor never ran");
    // Only the last 5 revisions are forgotten-proof; the live value is intact.
    assert!(s.watch("/bg/", kv.mod_revision - 5).await.is_ok());
    assert_eq!(s.get("/bg/a").await.unwrap(), Some(kv));
    // Dropping the store stops the compactor and releases the file.
    drop(s);
    RedbStorage::open_with(dir.path(), manual_compaction()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_file_in_use_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let message = backend_message(RedbStorage::open_with(dir.path(), manual_compaction()));
    assert!(message.contains("in use by another process"), "{message}");
    assert!(message.contains(FILE_NAME), "{message}");
    drop(first);
    // Released on drop: the next open works.
    open(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_damaged_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE_NAME), vec![0xAB; 64 * 1024]).unwrap();
    let message = backend_message(RedbStorage::open_with(dir.path(), manual_compaction()));
    assert!(message.contains(FILE_NAME), "{message}");

    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let message = backend_message(RedbStorage::open_with(&not_a_dir, manual_compaction()));
    assert!(message.contains("plain-file"), "{message}");
}

/// A file many times the page cache: writes spill pages to the file between commits and
/// reads come back through the file, with nothing lost or stale after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_larger_than_the_page_cache_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let small_cache = || RedbOptions { cache_size: 1 << 20, ..manual_compaction() };
    let value = |i: usize, round: u8| Bytes::from(vec![round.wrapping_add(i as u8); 4096]);
    let keys = 2_000; // 8 MiB of values, 8x the cache
    {
        let s = Arc::new(RedbStorage::open_with(dir.path(), small_cache()).unwrap());
        let created = join_all((0..keys).map(|i| {
            let s = s.clone();
            async move { s.create(&format!("/k/{i:05}"), value(i, 0)).await.unwrap() }
        }))
        .await;
        join_all(created.iter().enumerate().filter(|(i, _)| i % 2 == 0).map(|(i, kv)| {
            let s = s.clone();
            async move { s.update(&format!("/k/{i:05}"), value(i, 1), kv.mod_revision).await.unwrap() }
        }))
        .await;
    }
    let s = RedbStorage::open_with(dir.path(), small_cache()).unwrap();
    for i in 0..keys {
        let got = s.get(&format!("/k/{i:05}")).await.unwrap().expect("every key is there");
        assert_eq!(got.value, value(i, if i % 2 == 0 { 1 } else { 0 }), "key {i}");
    }
}
