//! The watch cache over a real (in-memory) storage: initial state, window and 410,
//! fan-out, bookmarks, consistent reads, slow watchers, relisting.

use super::*;
use crate::storage::{KeyValue, MemoryStorage};
use bytes::Bytes;
use tokio::sync::mpsc::Receiver;

fn config(window_min: usize, window_max: usize, buffer: usize, bookmarks: Duration) -> CacheConfig {
    CacheConfig {
        limits: Limits { window_min, window_max, window_fresh: Duration::from_secs(75), watcher_buffer: buffer, bookmark_interval: bookmarks },
        fresh_timeout: Duration::from_secs(3),
    }
}

fn val(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

async fn start(storage: &Arc<MemoryStorage>, cfg: CacheConfig) -> WatchCache {
    WatchCache::start(storage.clone(), cfg).await.expect("cache starts")
}

/// The next delivery, failing after a generous wait (a missing event is a failure).
async fn next(rx: &mut Receiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a delivery in time").expect("watch still open")
}

fn event(d: Delivery) -> Arc<CachedEvent> {
    match d {
        Delivery::Event(e) => e,
        Delivery::Bookmark(rv) => panic!("expected an event, got a bookmark at {rv}"),
    }
}

async fn settle(cache: &WatchCache, storage: &MemoryStorage) {
    let rev = storage.current_revision().await.unwrap();
    assert!(cache.wait_for(rev).await, "cache did not reach revision {rev}");
}

#[test]
fn resource_prefix_is_the_first_segment_after_registry() {
    assert_eq!(resource_prefix("/registry/pods/ns/a"), Some("/registry/pods/"));
    assert_eq!(resource_prefix("/registry/namespaces/a"), Some("/registry/namespaces/"));
    assert_eq!(resource_prefix("/registry/pods/"), Some("/registry/pods/"));
    assert_eq!(resource_prefix("/other/x"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_from_the_stored_objects_and_follows_writes() {
    let storage = Arc::new(MemoryStorage::default());
    storage.create("/registry/pods/a/one", val("1")).await.unwrap();
    storage.create("/registry/configmaps/a/x", val("x")).await.unwrap();
    let cache = start(&storage, CacheConfig::default()).await;
    assert_eq!(cache.object_count("/registry/pods/"), 1);
    let two = storage.create("/registry/pods/b/two", val("2")).await.unwrap();
    settle(&cache, &storage).await;
    let (items, rev) = cache.list("/registry/pods/", None, None).unwrap();
    assert_eq!(items.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), vec!["/registry/pods/a/one", "/registry/pods/b/two"]);
    assert_eq!(rev, two.mod_revision);
    // Namespace prefixes and continue keys select within the resource.
    let (items, _) = cache.list("/registry/pods/b/", None, None).unwrap();
    assert_eq!(items.len(), 1);
    let (items, _) = cache.list("/registry/pods/", Some("/registry/pods/a/one"), None).unwrap();
    assert_eq!(items.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), vec!["/registry/pods/b/two"]);
    let (got, _) = cache.get("/registry/pods/b/two");
    assert_eq!(got.unwrap().value, val("2"));
    let (old, _) = storage.delete("/registry/pods/a/one", None).await.unwrap();
    settle(&cache, &storage).await;
    assert!(cache.get(&old.key).0.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exact_revision_is_served_only_while_the_resource_is_unchanged() {
    let storage = Arc::new(MemoryStorage::default());
    let a = storage.create("/registry/pods/a/one", val("1")).await.unwrap();
    let cache = start(&storage, CacheConfig::default()).await;
    // A write to another resource does not change the pods at `a`'s revision.
    storage.create("/registry/configmaps/a/x", val("x")).await.unwrap();
    settle(&cache, &storage).await;
    assert_eq!(cache.list("/registry/pods/", None, Some(a.mod_revision)).unwrap().1, a.mod_revision);
    storage.update("/registry/pods/a/one", val("1b"), a.mod_revision).await.unwrap();
    settle(&cache, &storage).await;
    assert!(cache.list("/registry/pods/", None, Some(a.mod_revision)).is_none(), "a changed resource must be read from storage");
    // A revision the cache has not seen yet is not answered either.
    assert!(cache.list("/registry/pods/", None, Some(cache.revision() + 5)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistent_read_waits_for_the_latest_write() {
    let storage = Arc::new(MemoryStorage::default());
    let cache = start(&storage, CacheConfig::default()).await;
    for i in 0..200 {
        let kv = storage.create(&format!("/registry/configmaps/a/c{i}"), val("v")).await.unwrap();
        // Right after the write is acknowledged, a consistent read must include it.
        assert!(cache.wait_fresh().await.unwrap());
        assert!(cache.get(&kv.key).0.is_some(), "write {i} missing from a consistent read");
        assert!(cache.revision() >= kv.mod_revision);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_is_shared_by_every_watcher() {
    let storage = Arc::new(MemoryStorage::default());
    let cache = start(&storage, CacheConfig::default()).await;
    let mut all: Vec<_> = (0..50).map(|_| cache.watch("/registry/pods/", Some(cache.revision()), false).unwrap().receiver).collect();
    let mut other_ns = cache.watch("/registry/pods/b/", Some(cache.revision()), false).unwrap().receiver;
    assert_eq!(cache.watcher_count("/registry/pods/"), 51);
    let kv = storage.create("/registry/pods/a/one", val("1")).await.unwrap();
    let mut seen = Vec::new();
    for rx in &mut all {
        let e = event(next(rx).await);
        assert_eq!((e.event_type, e.revision), (EventType::Added, kv.mod_revision));
        seen.push(e);
    }
    assert!(seen.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])), "watchers got copies instead of one shared event");
    assert!(seen.iter().all(|e| Arc::ptr_eq(&e.object, &cache.get(&kv.key).0.unwrap())), "the event does not share the cached object");
    // A watcher of another namespace got nothing.
    assert!(other_ns.try_recv().is_err());
    drop(all);
    drop(other_ns);
    storage.create("/registry/pods/a/two", val("2")).await.unwrap();
    settle(&cache, &storage).await;
    assert_eq!(cache.watcher_count("/registry/pods/"), 0, "departed watchers are forgotten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_keeps_no_encoding_made_for_live_watchers() {
    let storage = Arc::new(MemoryStorage::default());
    let cache = start(&storage, CacheConfig::default()).await;
    let before = cache.revision();
    let mut rx = cache.watch("/registry/pods/", Some(before), false).unwrap().receiver;
    let kv = storage.create("/registry/pods/a/one", val("1")).await.unwrap();
    let live = event(next(&mut rx).await);
    live.line.get_or_init(|| val("an encoded line"));
    // A watcher resuming from before the change gets it from the window, fresh: nothing
    // the live watchers made was kept there, only the objects.
    let replayed = cache.watch("/registry/pods/", Some(before), false).unwrap().backlog;
    assert_eq!(replayed.iter().map(|e| e.revision).collect::<Vec<_>>(), vec![kv.mod_revision]);
    assert!(!Arc::ptr_eq(&live, &replayed[0]));
    assert!(replayed[0].line.get().is_none() && replayed[0].attrs.get().is_none());
    assert!(Arc::ptr_eq(&live.object, &replayed[0].object), "the window does not share the object");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_updates_carry_the_previous_object() {
    let storage = Arc::new(MemoryStorage::default());
    let cache = start(&storage, CacheConfig::default()).await;
    let mut rx = cache.watch("/registry/pods/", Some(cache.revision()), false).unwrap().receiver;
    let a = storage.create("/registry/pods/a/one", val("1")).await.unwrap();
    let b = storage.update("/registry/pods/a/one", val("2"), a.mod_revision).await.unwrap();
    let (_, deleted_at) = storage.delete("/registry/pods/a/one", None).await.unwrap();
    assert_eq!(event(next(&mut rx).await).event_type, EventType::Added);
    let modified = event(next(&mut rx).await);
    assert_eq!((modified.event_type, modified.prev.as_ref().unwrap().value.clone()), (EventType::Modified, val("1")));
    let deleted = event(next(&mut rx).await);
    assert_eq!(deleted.event_type, EventType::Deleted);
    assert_eq!((deleted.object.value.clone(), deleted.object.mod_revision), (val("2"), deleted_at));
    assert_eq!(deleted.prev.as_ref().unwrap().mod_revision, b.mod_revision);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_replays_recent_events_and_refuses_older_ones() {
    let storage = Arc::new(MemoryStorage::default());
    let cache = start(&storage, config(3, 3, 100, Duration::from_secs(60))).await;
    let start_rev = cache.revision();
    let mut revs = Vec::new();
    for i in 0..5 {
        revs.push(storage.create(&format!("/registry/pods/a/p{i}"), val("v")).await.unwrap().mod_revision);
    }
    settle(&cache, &storage).await;
    // Keeps the last 3 events (p2..p4): from p1's revision on, everything is there.
    let reg = cache.watch("/registry/pods/", Some(revs[1]), false).unwrap();
    assert_eq!(reg.backlog.iter().map(|e| e.revision).collect::<Vec<_>>(), revs[2..].to_vec());
    // Older than the window: the caller must answer 410 (or use another source).
    assert_eq!(cache.watch("/registry/pods/", Some(revs[0]), false).err(), Some(TooOld { requested: revs[0], oldest: revs[1] }));
    assert!(cache.watch("/registry/pods/", Some(start_rev), false).is_err());
    // A resource without events since the start keeps a complete history from the start.
    assert!(cache.watch("/registry/secrets/", Some(start_rev), false).is_ok());
    assert!(cache.watch("/registry/secrets/", Some(start_rev - 1), false).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_now_gets_the_initial_state_then_live_events_without_a_gap() {
    let storage = Arc::new(MemoryStorage::default());
    storage.create("/registry/pods/a/old", val("o")).await.unwrap();
    let cache = start(&storage, CacheConfig::default()).await;
    let writer = {
        let storage = storage.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                storage.create(&format!("/registry/pods/a/n{i:03}"), val("n")).await.unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut reg = cache.watch("/registry/pods/", None, false).unwrap();
    writer.await.unwrap();
    let mut keys: Vec<String> = reg.initial.iter().map(|kv| kv.key.clone()).collect();
    assert!(reg.initial.iter().all(|kv| kv.mod_revision <= reg.revision));
    while keys.len() < 301 {
        let e = event(next(&mut reg.receiver).await);
        assert!(e.revision > reg.revision);
        keys.push(e.object.key.clone());
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 301, "an object was lost or repeated between the snapshot and the live events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_arrive_at_the_delivered_revision() {
    let storage = Arc::new(MemoryStorage::default());
    let cache = start(&storage, config(100, 1000, 100, Duration::from_millis(50))).await;
    let mut with = cache.watch("/registry/pods/", Some(cache.revision()), true).unwrap().receiver;
    let mut without = cache.watch("/registry/pods/", Some(cache.revision()), false).unwrap().receiver;
    let kv = storage.create("/registry/pods/a/one", val("1")).await.unwrap();
    // A write to another resource moves the global revision; the bookmark follows it.
    let other = storage.create("/registry/configmaps/a/x", val("x")).await.unwrap();
    settle(&cache, &storage).await;
    assert_eq!(event(next(&mut with).await).revision, kv.mod_revision);
    let bookmark = loop {
        match next(&mut with).await {
            Delivery::Bookmark(rv) if rv >= other.mod_revision => break rv,
            Delivery::Bookmark(_) => continue,
            Delivery::Event(e) => panic!("unexpected event {e:?}"),
        }
    };
    assert_eq!(bookmark, other.mod_revision);
    assert_eq!(event(next(&mut without).await).revision, kv.mod_revision);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(without.try_recv().is_err(), "a watcher that did not ask for bookmarks got one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watcher_is_terminated_and_the_others_keep_up() {
    let storage = Arc::new(MemoryStorage::default());
    let cache = start(&storage, config(100, 1000, 4, Duration::from_secs(60))).await;
    let mut slow = cache.watch("/registry/pods/", Some(cache.revision()), false).unwrap().receiver;
    let mut fast = cache.watch("/registry/pods/", Some(cache.revision()), false).unwrap().receiver;
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < 20 {
            event(next(&mut fast).await);
            n += 1;
        }
        n
    });
    for i in 0..20 {
        storage.create(&format!("/registry/pods/a/p{i}"), val("v")).await.unwrap();
        // Give the fast reader a moment so only the one that never reads fills up.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(reader.await.unwrap(), 20);
    // The slow one gets what was buffered, then its watch ends.
    let mut got = 0;
    while let Some(d) = tokio::time::timeout(Duration::from_secs(5), slow.recv()).await.expect("terminated watch must close") {
        event(d);
        got += 1;
    }
    assert_eq!(got, 4);
    assert_eq!(cache.watcher_count("/registry/pods/"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_cache_stops_its_tasks() {
    let storage = Arc::new(MemoryStorage::default());
    let cache = start(&storage, CacheConfig::default()).await;
    let weak = Arc::downgrade(&cache.inner);
    drop(cache);
    tokio::time::sleep(Duration::from_millis(50)).await;
    storage.create("/registry/pods/a/p", val("v")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(weak.upgrade().is_none(), "the cache outlived its last handle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_objects_keep_their_value_in_the_event() {
    let storage = Arc::new(MemoryStorage::default());
    let kv: KeyValue = storage.create("/registry/pods/a/p", val("v")).await.unwrap();
    let cache = start(&storage, CacheConfig::default()).await;
    let mut rx = cache.watch("/registry/pods/", Some(cache.revision()), false).unwrap().receiver;
    storage.delete(&kv.key, Some(kv.mod_revision)).await.unwrap();
    let e = event(next(&mut rx).await);
    assert_eq!((e.event_type, e.object.value.clone()), (EventType::Deleted, val("v")));
    assert!(cache.get(&kv.key).0.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relist_replaces_the_state_and_ends_every_watch() {
    let storage = Arc::new(MemoryStorage::default());
    let kv = storage.create("/registry/pods/a/p", val("v")).await.unwrap();
    let cache = start(&storage, CacheConfig::default()).await;
    let mut rx = cache.watch("/registry/pods/", Some(cache.revision()), false).unwrap().receiver;
    let relisted = cache.inner.relist().await.unwrap();
    assert!(cache.is_ready());
    assert_eq!(relisted, storage.current_revision().await.unwrap());
    assert!(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().is_none(), "the watch was not ended");
    assert_eq!(cache.get(&kv.key).0.unwrap().value, val("v"));
    // The window restarts at the relist: older revisions must be answered elsewhere.
    assert!(cache.watch("/registry/pods/", Some(relisted - 1), false).is_err());
}
