//! Reads from one consistent snapshot (a redb read transaction).
//!
//! The current state comes from the index, which points at the log row holding each
//! key's current value. A list at an older revision starts from
//! the index and undoes, per key, everything the log holds after that revision: the first
//! log row after it names (by `prev_revision`) the version that was current then. Watch
//! replay walks the log from the requested revision.

use super::codec::{decode_index, decode_log};
use super::tables::{COMPACTED, INDEX, INITIAL_REVISION, LOG, META, REVISION};
use super::backend;
use crate::storage::{Event, KeyValue, ListResult, Result, StorageError};
use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable};
use std::collections::BTreeMap;
use std::ops::Bound;

/// A read transaction with its tables and the revisions it sees.
pub(super) struct Snapshot {
    log: ReadOnlyTable<i64, &'static [u8]>,
    index: ReadOnlyTable<&'static str, &'static [u8]>,
    /// Newest revision visible in this snapshot.
    pub revision: i64,
    /// Compaction point visible in this snapshot.
    pub compacted: i64,
}

impl Snapshot {
    /// Opens a snapshot of the committed state.
    pub fn begin(db: &Database) -> Result<Self> {
        let txn = db.begin_read().map_err(backend)?;
        let meta = txn.open_table(META).map_err(backend)?;
        let read = |name| -> Result<Option<i64>> { Ok(meta.get(name).map_err(backend)?.map(|g| g.value())) };
        let revision = read(REVISION)?.unwrap_or(INITIAL_REVISION);
        let compacted = read(COMPACTED)?.unwrap_or(0);
        Ok(Self {
            log: txn.open_table(LOG).map_err(backend)?,
            index: txn.open_table(INDEX).map_err(backend)?,
            revision,
            compacted,
        })
    }

    /// The current value of `key`.
    pub fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        match self.index.get(key).map_err(backend)? {
            Some(row) => Ok(Some(self.version(decode_index(row.value()).map_err(backend)?.mod_revision, key)?)),
            None => Ok(None),
        }
    }

    /// Fails unless history after `revision` is complete (not compacted).
    pub fn check_history(&self, revision: i64) -> Result<()> {
        if revision < self.compacted {
            return Err(StorageError::Compacted { requested: revision, oldest: self.compacted });
        }
        Ok(())
    }

    /// The value a put row at `revision` stored.
    fn version(&self, revision: i64, key: &str) -> Result<KeyValue> {
        logged_version(&self.log, revision, key)
    }

    /// Lists like [`Storage::list`](crate::storage::Storage::list).
    pub fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize, at: Option<i64>) -> Result<ListResult> {
        let at = at.unwrap_or(self.revision);
        if at > self.revision {
            return Err(StorageError::FutureRevision(at));
        }
        self.check_history(at)?;
        // Never start before the prefix, or the prefix scan below would stop at once.
        let start = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let in_range = |key: &str| {
            key.starts_with(prefix)
                && match start {
                    Bound::Excluded(after) => key > after,
                    _ => true,
                }
        };
        let overrides = if at < self.revision { self.undo_after(at, &in_range)? } else { BTreeMap::new() };
        let mut page = Page { items: Vec::new(), limit, remaining: 0 };
        let mut pending = overrides.into_iter().peekable();
        for row in self.index.range::<&str>((start, Bound::Unbounded)).map_err(backend)? {
            let (key, value) = row.map_err(backend)?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            // Keys deleted since `at` are in the overrides only: emit those sorting first.
            while let Some((_, then)) = pending.next_if(|(k, _)| k.as_str() < key) {
                page.push_option(then);
            }
            match pending.next_if(|(k, _)| k == key) {
                Some((_, then)) => page.push_option(then),
                None => page.push_with(|| self.version(decode_index(value.value()).map_err(backend)?.mod_revision, key))?,
            }
        }
        for (_, then) in pending {
            page.push_option(then);
        }
        Ok(page.finish(at))
    }

    /// For every key in range touched after `at`, its version at `at` (`None`: absent).
    fn undo_after(&self, at: i64, in_range: &dyn Fn(&str) -> bool) -> Result<BTreeMap<String, Option<KeyValue>>> {
        let mut then = BTreeMap::new();
        for row in self.log.range((at + 1)..=self.revision).map_err(backend)? {
            let (_, bytes) = row.map_err(backend)?;
            let bytes = bytes.value();
            let decoded = decode_log(bytes).map_err(backend)?;
            if !in_range(decoded.key) || then.contains_key(decoded.key) {
                continue;
            }
            let version = match decoded.prev_revision {
                0 => None,
                prev => Some(self.version(prev, decoded.key)?),
            };
            then.insert(decoded.key.to_string(), version);
        }
        Ok(then)
    }

    /// Every change under `prefix` after `after`, as events, in revision order.
    pub fn replay(&self, prefix: &str, after: i64) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        if after >= self.revision {
            return Ok(events);
        }
        for row in self.log.range((after + 1)..=self.revision).map_err(backend)? {
            let (revision, bytes) = row.map_err(backend)?;
            let revision = revision.value();
            let bytes = bytes.value();
            let decoded = decode_log(bytes).map_err(backend)?;
            if !decoded.key.starts_with(prefix) {
                continue;
            }
            let prev = match decoded.prev_revision {
                0 => None,
                prev => Some(self.version(prev, decoded.key)?),
            };
            events.push(match (decoded.to_key_value(revision), prev) {
                (Some(kv), prev) => Event::Put { kv, prev },
                (None, Some(prev)) => Event::Delete { prev, revision },
                (None, None) => {
                    return Err(StorageError::Backend(format!("tombstone {revision} names no deleted version")));
                }
            });
        }
        Ok(events)
    }

    /// Checks that every live key's current version is in the log, with the same value;
    /// returns (live keys, log rows). For tests.
    #[cfg(test)]
    pub fn verify(&self) -> Result<(u64, u64)> {
        use redb::ReadableTableMetadata;
        let mut live = 0;
        for row in self.index.iter().map_err(backend)? {
            let (key, value) = row.map_err(backend)?;
            let current = decode_index(value.value()).map_err(backend)?;
            let logged = self.version(current.mod_revision, key.value())?;
            if logged.create_revision != current.create_revision {
                return Err(StorageError::Backend(format!("log and index disagree on {}", key.value())));
            }
            live += 1;
        }
        Ok((live, self.log.len().map_err(backend)?))
    }
}

/// The value the put row at `revision` of `key` stored, from a log table of any
/// transaction.
pub(super) fn logged_version(log: &impl ReadableTable<i64, &'static [u8]>, revision: i64, key: &str) -> Result<KeyValue> {
    let row = log
        .get(revision)
        .map_err(backend)?
        .ok_or_else(|| StorageError::Backend(format!("log row {revision} of {key} is missing")))?;
    let decoded = decode_log(row.value()).map_err(backend)?;
    if decoded.key != key {
        return Err(StorageError::Backend(format!("log row {revision} is about {}, not {key}", decoded.key)));
    }
    decoded
        .to_key_value(revision)
        .ok_or_else(|| StorageError::Backend(format!("log row {revision} of {key} is a tombstone")))
}

/// Collects a page of a list and counts what does not fit.
struct Page {
    items: Vec<KeyValue>,
    limit: usize,
    remaining: i64,
}

impl Page {
    fn full(&self) -> bool {
        self.limit != 0 && self.items.len() >= self.limit
    }

    fn push_option(&mut self, kv: Option<KeyValue>) {
        if let Some(kv) = kv {
            if self.full() {
                self.remaining += 1;
            } else {
                self.items.push(kv);
            }
        }
    }

    /// Pushes a value decoded only if it fits on the page.
    fn push_with(&mut self, make: impl FnOnce() -> Result<KeyValue>) -> Result<()> {
        if self.full() {
            self.remaining += 1;
        } else {
            self.items.push(make()?);
        }
        Ok(())
    }

    fn finish(self, revision: i64) -> ListResult {
        ListResult { items: self.items, revision, more: self.remaining > 0, remaining: Some(self.remaining) }
    }
}
