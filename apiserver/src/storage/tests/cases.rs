//! The contract of [`Storage`], as test cases any backend must pass.

use crate::storage::{Event, KeyValue, MAX_VALUE_BYTES, Storage, StorageError, WatchStream};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::join_all;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

type Store = Arc<dyn Storage>;

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn keys(items: &[KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

/// The next `n` events of a watch (fails the test instead of hanging).
async fn next_events(stream: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        let item = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("a watch event within 20 s")
            .expect("the watch stream to stay open");
        out.push(item.expect("a watch event, not an error"));
    }
    out
}

pub async fn create_and_get(s: Store) {
    let start = s.current_revision().await.unwrap();
    let kv = s.create("/a/1", b("one")).await.unwrap();
    assert_eq!(kv.key, "/a/1");
    assert_eq!(kv.value, b("one"));
    assert!(kv.mod_revision > start);
    assert_eq!(kv.create_revision, kv.mod_revision);
    assert_eq!(s.current_revision().await.unwrap(), kv.mod_revision);
    assert_eq!(s.get("/a/1").await.unwrap(), Some(kv.clone()));
    assert_eq!(s.get("/a/2").await.unwrap(), None);

    match s.create("/a/1", b("again")).await {
        Err(StorageError::AlreadyExists(key)) => assert_eq!(key, "/a/1"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // A failed write changes nothing, not even the revision.
    assert_eq!(s.current_revision().await.unwrap(), kv.mod_revision);
    assert_eq!(s.get("/a/1").await.unwrap(), Some(kv.clone()));

    let second = s.create("/a/2", b("two")).await.unwrap();
    assert_eq!(second.mod_revision, kv.mod_revision + 1);
}

pub async fn update_checks_the_revision(s: Store) {
    let kv = s.create("/u/a", b("one")).await.unwrap();
    match s.update("/u/a", b("x"), kv.mod_revision + 100).await {
        Err(StorageError::Conflict { key, expected, actual }) => {
            assert_eq!((key.as_str(), expected, actual), ("/u/a", kv.mod_revision + 100, kv.mod_revision));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(matches!(s.update("/u/missing", b("x"), 1).await, Err(StorageError::NotFound(k)) if k == "/u/missing"));

    let updated = s.update("/u/a", b("two"), kv.mod_revision).await.unwrap();
    assert_eq!(updated.value, b("two"));
    assert_eq!(updated.create_revision, kv.create_revision);
    assert_eq!(updated.mod_revision, kv.mod_revision + 1);
    assert_eq!(s.current_revision().await.unwrap(), updated.mod_revision);
    // The old revision is stale now.
    assert!(matches!(
        s.update("/u/a", b("three"), kv.mod_revision).await,
        Err(StorageError::Conflict { actual, .. }) if actual == updated.mod_revision
    ));
    assert_eq!(s.get("/u/a").await.unwrap(), Some(updated));
}

pub async fn delete_checks_the_revision(s: Store) {
    assert!(matches!(s.delete("/d/a", None).await, Err(StorageError::NotFound(_))));
    assert!(matches!(s.delete("/d/a", Some(5)).await, Err(StorageError::NotFound(_))));
    let kv = s.create("/d/a", b("one")).await.unwrap();
    assert!(matches!(
        s.delete("/d/a", Some(kv.mod_revision - 1)).await,
        Err(StorageError::Conflict { expected, actual, .. }) if expected == kv.mod_revision - 1 && actual == kv.mod_revision
    ));
    assert_eq!(s.get("/d/a").await.unwrap(), Some(kv.clone()));

    let (prev, revision) = s.delete("/d/a", Some(kv.mod_revision)).await.unwrap();
    assert_eq!(prev, kv);
    assert_eq!(revision, kv.mod_revision + 1);
    assert_eq!(s.current_revision().await.unwrap(), revision);
    assert_eq!(s.get("/d/a").await.unwrap(), None);
    assert!(matches!(s.delete("/d/a", None).await, Err(StorageError::NotFound(_))));

    // Re-created, the key starts a new life.
    let again = s.create("/d/a", b("two")).await.unwrap();
    assert_eq!(again.create_revision, revision + 1);
    let (prev, _) = s.delete("/d/a", None).await.unwrap();
    assert_eq!(prev, again);
}

pub async fn concurrent_writers_are_checked_one_by_one(s: Store) {
    // Many creates of one key at once: exactly one wins.
    let creates = join_all((0..20).map(|i| {
        let s = s.clone();
        async move { s.create("/race/key", b(&format!("v{i}"))).await }
    }))
    .await;
    assert_eq!(creates.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(creates.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, StorageError::AlreadyExists(_))));
    let kv = s.get("/race/key").await.unwrap().unwrap();

    // Many updates from the same revision at once: exactly one wins, the rest conflict.
    let updates = join_all((0..20).map(|i| {
        let s = s.clone();
        async move { s.update("/race/key", b(&format!("u{i}")), kv.mod_revision).await }
    }))
    .await;
    let winners: Vec<&KeyValue> = updates.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1);
    assert!(updates.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, StorageError::Conflict { .. })));
    assert_eq!(s.get("/race/key").await.unwrap().as_ref(), Some(winners[0]));

    // Independent writes at once each get their own revision.
    let current = s.current_revision().await.unwrap();
    let many = join_all((0..50).map(|i| {
        let s = s.clone();
        async move { s.create(&format!("/race/many/{i:02}"), b("x")).await.unwrap().mod_revision }
    }))
    .await;
    let mut revisions = many.clone();
    revisions.sort();
    assert_eq!(revisions, ((current + 1)..=(current + 50)).collect::<Vec<_>>());
}

pub async fn list_orders_and_pages(s: Store) {
    for key in ["/p/c", "/p/a", "/q/a", "/p/e", "/pp/x", "/p/b", "/p/d", "/o/z"] {
        s.create(key, b(key)).await.unwrap();
    }
    let current = s.current_revision().await.unwrap();
    let all = s.list("/p/", None, 0, None).await.unwrap();
    assert_eq!(keys(&all.items), ["/p/a", "/p/b", "/p/c", "/p/d", "/p/e"]);
    assert_eq!((all.revision, all.more, all.remaining), (current, false, Some(0)));
    assert_eq!(all.items[0].value, b("/p/a"));

    let first = s.list("/p/", None, 2, None).await.unwrap();
    assert_eq!(keys(&first.items), ["/p/a", "/p/b"]);
    assert_eq!((first.more, first.remaining), (true, Some(3)));
    let second = s.list("/p/", Some("/p/b"), 2, Some(first.revision)).await.unwrap();
    assert_eq!(keys(&second.items), ["/p/c", "/p/d"]);
    assert_eq!((second.more, second.remaining), (true, Some(1)));
    let third = s.list("/p/", Some("/p/d"), 2, Some(first.revision)).await.unwrap();
    assert_eq!(keys(&third.items), ["/p/e"]);
    assert_eq!((third.more, third.remaining), (false, Some(0)));

    let exact = s.list("/p/", None, 5, None).await.unwrap();
    assert_eq!((exact.items.len(), exact.more), (5, false));
    let empty = s.list("/none/", None, 0, None).await.unwrap();
    assert!(empty.items.is_empty() && !empty.more);
    let at_current = s.list("/p/", None, 0, Some(current)).await.unwrap();
    assert_eq!(at_current.items, all.items);
    assert!(matches!(s.list("/p/", None, 0, Some(current + 1)).await, Err(StorageError::FutureRevision(r)) if r == current + 1));
}

pub async fn list_at_a_past_revision(s: Store) {
    let a1 = s.create("/h/a", b("a1")).await.unwrap();
    let b1 = s.create("/h/b", b("b1")).await.unwrap();
    let r1 = s.current_revision().await.unwrap();
    let a2 = s.update("/h/a", b("a2"), a1.mod_revision).await.unwrap();
    s.delete("/h/b", None).await.unwrap();
    let c1 = s.create("/h/c", b("c1")).await.unwrap();
    s.create("/other/z", b("z")).await.unwrap();
    let r2 = s.current_revision().await.unwrap();
    // A key deleted and re-created since.
    s.delete("/h/a", None).await.unwrap();
    let a3 = s.create("/h/a", b("a3")).await.unwrap();

    let then = s.list("/h/", None, 0, Some(r1)).await.unwrap();
    assert_eq!(then.revision, r1);
    assert_eq!(then.items, vec![a1.clone(), b1.clone()]);
    assert_eq!((then.more, then.remaining), (false, Some(0)));

    let page = s.list("/h/", None, 1, Some(r1)).await.unwrap();
    assert_eq!((page.items.clone(), page.more, page.remaining), (vec![a1.clone()], true, Some(1)));
    let rest = s.list("/h/", Some("/h/a"), 1, Some(r1)).await.unwrap();
    assert_eq!((rest.items.clone(), rest.more), (vec![b1.clone()], false));

    assert_eq!(s.list("/h/", None, 0, Some(r2)).await.unwrap().items, vec![a2, c1.clone()]);
    assert_eq!(s.list("/h/", None, 0, Some(a1.mod_revision)).await.unwrap().items, vec![a1]);
    assert_eq!(s.list("/h/", None, 0, None).await.unwrap().items, vec![a3, c1]);
    assert_eq!(s.list("/other/", None, 0, Some(r1)).await.unwrap().items, vec![]);
}

pub async fn watch_from_current_sees_later_changes_under_prefix(s: Store) {
    s.create("/w/old", b("old")).await.unwrap();
    let from = s.current_revision().await.unwrap();
    let mut watch = s.watch("/w/", from).await.unwrap();
    let kv1 = s.create("/w/a", b("1")).await.unwrap();
    s.create("/x/a", b("elsewhere")).await.unwrap();
    s.create("/wx", b("not under /w/")).await.unwrap();
    let kv2 = s.update("/w/a", b("2"), kv1.mod_revision).await.unwrap();
    let (prev, deleted) = s.delete("/w/a", None).await.unwrap();
    assert_eq!(prev, kv2);
    let events = next_events(&mut watch, 3).await;
    assert_eq!(events, vec![
        Event::Put { kv: kv1.clone(), prev: None },
        Event::Put { kv: kv2.clone(), prev: Some(kv1) },
        Event::Delete { prev: kv2, revision: deleted },
    ]);
    // Nothing else arrived in between: the next event is the next change under /w/.
    let kv3 = s.create("/w/b", b("3")).await.unwrap();
    assert_eq!(next_events(&mut watch, 1).await, vec![Event::Put { kv: kv3, prev: None }]);
}

pub async fn watch_replays_from_zero_and_from_the_past(s: Store) {
    let a1 = s.create("/r/a", b("a1")).await.unwrap();
    let b1 = s.create("/r/b", b("b1")).await.unwrap();
    let a2 = s.update("/r/a", b("a2"), a1.mod_revision).await.unwrap();
    let (_, deleted) = s.delete("/r/b", Some(b1.mod_revision)).await.unwrap();
    s.create("/s/x", b("other prefix")).await.unwrap();
    let history = vec![
        Event::Put { kv: a1.clone(), prev: None },
        Event::Put { kv: b1.clone(), prev: None },
        Event::Put { kv: a2.clone(), prev: Some(a1.clone()) },
        Event::Delete { prev: b1, revision: deleted },
    ];

    let mut from_zero = s.watch("/r/", 0).await.unwrap();
    assert_eq!(next_events(&mut from_zero, 4).await, history);
    let mut from_past = s.watch("/r/", a1.mod_revision).await.unwrap();
    assert_eq!(next_events(&mut from_past, 3).await, history[1..]);
    let mut from_now = s.watch("/r/", s.current_revision().await.unwrap()).await.unwrap();

    // All three continue live, without repeating anything.
    let c = s.create("/r/c", b("c")).await.unwrap();
    let live = vec![Event::Put { kv: c, prev: None }];
    assert_eq!(next_events(&mut from_zero, 1).await, live);
    assert_eq!(next_events(&mut from_past, 1).await, live);
    assert_eq!(next_events(&mut from_now, 1).await, live);
}

pub async fn watch_has_no_gaps_or_duplicates_while_writing(s: Store) {
    const WRITES: i64 = 60;
    let start = s.current_revision().await.unwrap();
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..WRITES {
                s.create(&format!("/g/{i:03}"), b("x")).await.unwrap();
            }
        })
    };
    // Watches opened at whatever revision is current while the writer runs.
    let mut watches = Vec::new();
    while watches.is_empty() || (!writer.is_finished() && watches.len() < 20) {
        let after = s.current_revision().await.unwrap();
        watches.push((after, s.watch("/g/", after).await.unwrap()));
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    let last = start + WRITES;
    assert_eq!(s.current_revision().await.unwrap(), last);
    for (after, mut watch) in watches {
        let events = next_events(&mut watch, (last - after) as usize).await;
        let revisions: Vec<i64> = events.iter().map(Event::revision).collect();
        assert_eq!(revisions, ((after + 1)..=last).collect::<Vec<_>>(), "watch from {after}");
    }
}

pub async fn compaction_makes_old_revisions_unavailable(s: Store) {
    let a1 = s.create("/c/a", b("a1")).await.unwrap();
    let a2 = s.update("/c/a", b("a2"), a1.mod_revision).await.unwrap();
    s.create("/c/b", b("b1")).await.unwrap();
    let (_, deleted) = s.delete("/c/b", None).await.unwrap();
    let a3 = s.update("/c/a", b("a3"), a2.mod_revision).await.unwrap();

    s.compact(deleted).await.unwrap();
    match s.watch("/c/", deleted - 1).await {
        Err(StorageError::Compacted { requested, oldest }) => assert_eq!((requested, oldest), (deleted - 1, deleted)),
        Err(other) => panic!("expected Compacted, got {other:?}"),
        Ok(_) => panic!("expected Compacted, got a watch"),
    }
    assert!(matches!(s.list("/c/", None, 0, Some(deleted - 1)).await, Err(StorageError::Compacted { .. })));
    // From the compaction point on, history is intact.
    let mut watch = s.watch("/c/", deleted).await.unwrap();
    assert_eq!(next_events(&mut watch, 1).await, vec![Event::Put { kv: a3.clone(), prev: Some(a2.clone()) }]);
    assert_eq!(s.list("/c/", None, 0, Some(deleted)).await.unwrap().items, vec![a2]);
    assert_eq!(s.list("/c/", None, 0, None).await.unwrap().items, vec![a3.clone()]);

    // Compacting an older revision changes nothing; a future one stops at the newest.
    s.compact(a1.mod_revision).await.unwrap();
    assert!(s.watch("/c/", deleted).await.is_ok());
    assert!(matches!(s.watch("/c/", deleted - 1).await, Err(StorageError::Compacted { .. })));
    let current = s.current_revision().await.unwrap();
    s.compact(current + 100).await.unwrap();
    assert!(matches!(s.watch("/c/", current - 1).await, Err(StorageError::Compacted { .. })));
    let mut watch = s.watch("/c/", current).await.unwrap();
    assert_eq!(s.get("/c/a").await.unwrap(), Some(a3.clone()));
    assert_eq!(s.list("/c/", None, 0, None).await.unwrap().items, vec![a3.clone()]);
    let a4 = s.update("/c/a", b("a4"), a3.mod_revision).await.unwrap();
    assert_eq!(next_events(&mut watch, 1).await, vec![Event::Put { kv: a4, prev: Some(a3) }]);
}

pub async fn values_up_to_the_limit_are_accepted(s: Store) {
    let largest = Bytes::from(vec![b'x'; MAX_VALUE_BYTES]);
    let kv = s.create("/big/a", largest.clone()).await.unwrap();
    assert_eq!(s.get("/big/a").await.unwrap().unwrap().value, largest);
    let kv = s.update("/big/a", largest.clone(), kv.mod_revision).await.unwrap();

    let too_large = Bytes::from(vec![b'y'; MAX_VALUE_BYTES + 1]);
    let rejected = |r: Result<KeyValue, StorageError>| {
        matches!(r, Err(StorageError::TooLarge { size, limit }) if size == MAX_VALUE_BYTES + 1 && limit == MAX_VALUE_BYTES)
    };
    assert!(rejected(s.create("/big/b", too_large.clone()).await));
    assert!(rejected(s.update("/big/a", too_large, kv.mod_revision).await));
    assert_eq!(s.get("/big/b").await.unwrap(), None);
    assert_eq!(s.get("/big/a").await.unwrap(), Some(kv.clone()));
    assert_eq!(s.current_revision().await.unwrap(), kv.mod_revision);
}

pub async fn compaction_keeps_every_live_key(s: Store) {
    // 1,000 keys written once, never touched again.
    let created = join_all((0..1000).map(|i| {
        let s = s.clone();
        async move { s.create(&format!("/keep/{i:04}"), b(&format!("v{i}"))).await.unwrap() }
    }))
    .await;
    for i in 0..10 {
        s.create(&format!("/churn/{i}"), b("0")).await.unwrap();
    }
    // 10 other keys churn; compaction runs between rounds, at several points.
    for round in 0..5 {
        join_all((0..10).map(|i| {
            let s = s.clone();
            async move {
                let key = format!("/churn/{i}");
                for step in 0..20 {
                    let kv = s.get(&key).await.unwrap().unwrap();
                    s.update(&key, b(&format!("{round}-{step}")), kv.mod_revision).await.unwrap();
                }
            }
        }))
        .await;
        if round == 2 {
            // Some of the quiet keys go away for good.
            for i in (0..1000).step_by(10) {
                s.delete(&format!("/keep/{i:04}"), None).await.unwrap();
            }
        }
        let current = s.current_revision().await.unwrap();
        s.compact(current - 30 * (round % 2)).await.unwrap();
    }
    let current = s.current_revision().await.unwrap();
    s.compact(current).await.unwrap();

    for (i, kv) in created.iter().enumerate() {
        let expected = if i % 10 == 0 { None } else { Some(kv.clone()) };
        assert_eq!(s.get(&kv.key).await.unwrap(), expected, "key {}", kv.key);
    }
    let listed = s.list("/keep/", None, 0, None).await.unwrap();
    assert_eq!(listed.items.len(), 900);
    assert!(listed.items.iter().all(|kv| created.contains(kv)));
    for i in 0..10 {
        assert_eq!(s.get(&format!("/churn/{i}")).await.unwrap().unwrap().value, b("4-19"));
    }
}

pub async fn every_revision_is_readable_until_compacted(s: Store) {
    // Cross-check reads at past revisions against a model of the state at every revision.
    let mut model: BTreeMap<String, Bytes> = BTreeMap::new();
    let mut states = Vec::new();
    for step in 0..120u32 {
        let key = format!("/m/{}", step * 7 % 13);
        let value = Bytes::from(format!("{step}"));
        match (s.get(&key).await.unwrap(), step % 5) {
            (Some(kv), 0) => {
                s.delete(&key, Some(kv.mod_revision)).await.unwrap();
                model.remove(&key);
            }
            (Some(kv), _) => {
                s.update(&key, value.clone(), kv.mod_revision).await.unwrap();
                model.insert(key, value);
            }
            (None, _) => {
                s.create(&key, value.clone()).await.unwrap();
                model.insert(key, value);
            }
        }
        states.push((s.current_revision().await.unwrap(), model.clone()));
    }
    s.compact(states[40].0).await.unwrap();
    for (revision, expected) in &states {
        let listed = s.list("/m/", None, 0, Some(*revision)).await;
        if *revision < states[40].0 {
            assert!(matches!(listed, Err(StorageError::Compacted { .. })));
            continue;
        }
        let got: BTreeMap<String, Bytes> = listed.unwrap().items.into_iter().map(|kv| (kv.key, kv.value)).collect();
        assert_eq!(&got, expected, "at revision {revision}");
    }
}

pub async fn continuing_a_list_after_compaction_fails(s: Store) {
    for i in 0..5 {
        s.create(&format!("/ct/{i}"), b("x")).await.unwrap();
    }
    let first = s.list("/ct/", None, 2, None).await.unwrap();
    assert!(first.more);
    // Writes go on; the page's revision is still readable until compacted.
    let kv = s.update("/ct/3", b("y"), first.items[0].mod_revision + 3).await.unwrap();
    let second = s.list("/ct/", Some(&first.items[1].key), 2, Some(first.revision)).await.unwrap();
    assert_eq!(keys(&second.items), ["/ct/2", "/ct/3"]);
    assert_eq!(second.items[1].value, b("x"));

    s.compact(kv.mod_revision).await.unwrap();
    match s.list("/ct/", Some(&second.items[1].key), 2, Some(first.revision)).await {
        Err(StorageError::Compacted { requested, oldest }) => {
            assert_eq!(requested, first.revision);
            assert!(oldest > first.revision && oldest <= kv.mod_revision, "oldest {oldest}");
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    // A fresh list works and sees the change.
    let fresh = s.list("/ct/", Some("/ct/2"), 0, None).await.unwrap();
    assert_eq!(fresh.items.iter().map(|kv| kv.value.clone()).collect::<Vec<_>>(), [b("y"), b("x")]);
}
