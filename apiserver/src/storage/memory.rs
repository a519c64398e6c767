//! In-memory backend: a latest-value map plus a bounded revision log.
//!
//! Used by tests and as the reference the durable backends are checked against. History
//! older than the log window is compacted automatically; reads at an old revision are
//! answered by undoing logged events newer than that revision.

use super::{Event, KeyValue, ListResult, Result, Storage, StorageError, WatchStream, check_size};
use bytes::Bytes;
use futures::StreamExt;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

/// How many events the log keeps before compacting the oldest.
const DEFAULT_WINDOW: usize = 100_000;

struct State {
    latest: BTreeMap<String, KeyValue>,
    log: VecDeque<Event>,
    revision: i64,
    /// Every event with a revision greater than this is in `log`.
    compacted: i64,
}

/// A [`Storage`] kept in memory.
pub struct MemoryStorage {
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
    window: usize,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::with_window(DEFAULT_WINDOW)
    }
}

impl MemoryStorage {
    /// A store that keeps at most `window` events of history.
    pub fn with_window(window: usize) -> Self {
        let (events, _) = broadcast::channel(16_384);
        Self {
            state: Mutex::new(State {
                latest: BTreeMap::new(),
                log: VecDeque::new(),
                revision: 1,
                // Nothing happened at or before revision 1, so history is complete from 0.
                compacted: 0,
            }),
            events,
            window,
        }
    }

    fn record(&self, state: &mut State, event: Event) {
        state.log.push_back(event.clone());
        while state.log.len() > self.window {
            if let Some(old) = state.log.pop_front() {
                state.compacted = old.revision();
            }
        }
        let _ = self.events.send(event);
    }
}

#[async_trait::async_trait]
impl Storage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.state.lock().unwrap().latest.get(key).cloned())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        revision: Option<i64>,
    ) -> Result<ListResult> {
        let state = self.state.lock().unwrap();
        let at = revision.unwrap_or(state.revision);
        if at > state.revision {
            return Err(StorageError::FutureRevision(at));
        }
        if at < state.compacted {
            return Err(StorageError::Compacted { requested: at, oldest: state.compacted });
        }
        let start = match start_after {
            Some(after) => std::ops::Bound::Excluded(after.to_string()),
            None => std::ops::Bound::Included(prefix.to_string()),
        };
        let in_prefix = |k: &String| k.starts_with(prefix);
        if at == state.revision {
            let mut iter = state
                .latest
                .range((start, std::ops::Bound::Unbounded))
                .take_while(|(k, _)| in_prefix(k));
            let items: Vec<KeyValue> = match limit {
                0 => iter.by_ref().map(|(_, v)| v.clone()).collect(),
                n => iter.by_ref().take(n).map(|(_, v)| v.clone()).collect(),
            };
            let remaining = iter.count() as i64;
            return Ok(ListResult { items, revision: at, more: remaining > 0, remaining: Some(remaining) });
        }
        // Rebuild the view at `at`: undo every logged event newer than it.
        let mut view: BTreeMap<String, Option<KeyValue>> = BTreeMap::new();
        for event in state.log.iter().rev().take_while(|e| e.revision() > at) {
            if !event.key().starts_with(prefix) {
                continue;
            }
            let before = match event {
                Event::Put { prev, .. } => prev.clone(),
                Event::Delete { prev, .. } => Some(prev.clone()),
            };
            view.insert(event.key().to_string(), before);
        }
        let mut merged: BTreeMap<&str, &KeyValue> = state
            .latest
            .range((start.clone(), std::ops::Bound::Unbounded))
            .take_while(|(k, _)| in_prefix(k))
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        for (key, before) in &view {
            let after_start = match &start {
                std::ops::Bound::Excluded(s) => key > s,
                _ => true,
            };
            if !after_start {
                continue;
            }
            match before {
                Some(kv) => merged.insert(key.as_str(), kv),
                None => merged.remove(key.as_str()),
            };
        }
        let total = merged.len();
        let take = if limit == 0 { total } else { limit.min(total) };
        let items: Vec<KeyValue> = merged.into_values().take(take).cloned().collect();
        let remaining = (total - take) as i64;
        Ok(ListResult { items, revision: at, more: remaining > 0, remaining: Some(remaining) })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_size(&value)?;
        let mut state = self.state.lock().unwrap();
        if state.latest.contains_key(key) {
            return Err(StorageError::AlreadyExists(key.to_string()));
        }
        state.revision += 1;
        let kv = KeyValue {
            key: key.to_string(),
            value,
            create_revision: state.revision,
            mod_revision: state.revision,
        };
        state.latest.insert(key.to_string(), kv.clone());
        self.record(&mut state, Event::Put { kv: kv.clone(), prev: None });
        Ok(kv)
    }

    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Result<KeyValue> {
        check_size(&value)?;
        let mut state = self.state.lock().unwrap();
        let prev = state.latest.get(key).cloned().ok_or_else(|| StorageError::NotFound(key.to_string()))?;
        if prev.mod_revision != expected {
            return Err(StorageError::Conflict { key: key.to_string(), expected, actual: prev.mod_revision });
        }
        state.revision += 1;
        let kv = KeyValue {
            key: key.to_string(),
            value,
            create_revision: prev.create_revision,
            mod_revision: state.revision,
        };
        state.latest.insert(key.to_string(), kv.clone());
        self.record(&mut state, Event::Put { kv: kv.clone(), prev: Some(prev) });
        Ok(kv)
    }

    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<(KeyValue, i64)> {
        let mut state = self.state.lock().unwrap();
        let prev = state.latest.get(key).cloned().ok_or_else(|| StorageError::NotFound(key.to_string()))?;
        if let Some(expected) = expected
            && prev.mod_revision != expected {
                return Err(StorageError::Conflict { key: key.to_string(), expected, actual: prev.mod_revision });
            }
        state.revision += 1;
        let revision = state.revision;
        state.latest.remove(key);
        self.record(&mut state, Event::Delete { prev: prev.clone(), revision });
        Ok((prev, revision))
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<WatchStream> {
        let (backlog, receiver) = {
            let state = self.state.lock().unwrap();
            if after < state.compacted {
                return Err(StorageError::Compacted { requested: after, oldest: state.compacted });
            }
            let backlog: Vec<Event> = state
                .log
                .iter()
                .filter(|e| e.revision() > after && e.key().starts_with(prefix))
                .cloned()
                .collect();
            // Subscribing under the lock means no event falls between backlog and live.
            (backlog, self.events.subscribe())
        };
        let last = backlog.last().map(|e| e.revision()).unwrap_or(after);
        let prefix = prefix.to_string();
        let live = tokio_stream::wrappers::BroadcastStream::new(receiver).filter_map(move |item| {
            let prefix = prefix.clone();
            async move {
                match item {
                    Ok(event) if event.revision() > last && event.key().starts_with(&prefix) => Some(Ok(event)),
                    Ok(_) => None,
                    // A watcher that fell behind the fan-out buffer must relist.
                    Err(_) => Some(Err(StorageError::Compacted { requested: last, oldest: last + 1 })),
                }
            }
        });
        Ok(futures::stream::iter(backlog.into_iter().map(Ok)).chain(live).boxed())
    }

    async fn current_revision(&self) -> Result<i64> {
        Ok(self.state.lock().unwrap().revision)
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        while state.log.front().is_some_and(|e| e.revision() <= revision) {
            state.log.pop_front();
        }
        state.compacted = state.compacted.max(revision.min(state.revision));
        Ok(())
    }
}
