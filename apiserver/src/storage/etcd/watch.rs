//! An etcd watch as a storage [`WatchStream`].
//!
//! The etcd watch starts *at* `after` (not after it) so that etcd itself refuses a start
//! older than its compaction point exactly when our contract does (`after` < compacted);
//! the event at `after` itself is dropped.

use super::convert::key_value;
use crate::storage::{Event, Result, StorageError, WatchStream};
use etcd_client::{EventType, WatchResponse};
use futures::StreamExt;
use std::collections::VecDeque;

/// What the stream carries between polls.
struct State {
    watch: etcd_client::WatchStream,
    after: i64,
    /// Highest revision delivered so far (for the error when etcd compacts under us).
    last: i64,
    pending: VecDeque<Result<Event>>,
    done: bool,
}

/// Converts one etcd event; `None` for a delete whose previous value etcd no longer has.
fn event(e: &etcd_client::Event) -> Option<Event> {
    let kv = key_value(e.kv()?);
    match e.event_type() {
        EventType::Put => Some(Event::Put { kv, prev: e.prev_kv().map(key_value) }),
        EventType::Delete => {
            let prev = e.prev_kv().map(key_value)?;
            Some(Event::Delete { prev, revision: kv.mod_revision })
        }
    }
}

impl State {
    /// Queues what one etcd response says; marks the end when etcd cancelled the watch.
    fn absorb(&mut self, response: WatchResponse) {
        if response.compact_revision() > 0 {
            self.pending.push_back(Err(StorageError::Compacted { requested: self.last, oldest: response.compact_revision() }));
            self.done = true;
            return;
        }
        if response.canceled() {
            self.pending.push_back(Err(StorageError::Backend(format!("etcd cancelled the watch: {}", response.cancel_reason()))));
            self.done = true;
            return;
        }
        for e in response.events() {
            match event(e) {
                Some(event) if event.revision() > self.after => {
                    self.last = event.revision();
                    self.pending.push_back(Ok(event));
                }
                Some(_) => {}
                None => {
                    self.pending.push_back(Err(StorageError::Backend(
                        "etcd sent a deletion without the deleted value (compacted meanwhile)".into(),
                    )));
                    self.done = true;
                    return;
                }
            }
        }
    }
}

/// Waits for etcd's answer to the watch creation. A start older than the compaction
/// point is answered (right after "created") with the compaction revision.
pub(super) async fn created(watch: &mut etcd_client::WatchStream, after: i64, expect_compacted: bool) -> Result<Vec<WatchResponse>> {
    let mut early = Vec::new();
    loop {
        let response = watch
            .message()
            .await
            .map_err(super::convert::backend)?
            .ok_or_else(|| StorageError::Backend("etcd closed the watch stream".into()))?;
        if response.compact_revision() > 0 {
            return Err(StorageError::Compacted { requested: after, oldest: response.compact_revision() });
        }
        let created = response.created();
        early.push(response);
        if created && !expect_compacted {
            return Ok(early);
        }
    }
}

/// The stream of events after `after`, starting with responses already received.
pub(super) fn stream(watch: etcd_client::WatchStream, after: i64, early: Vec<WatchResponse>) -> WatchStream {
    let mut state = State { watch, after, last: after, pending: VecDeque::new(), done: false };
    for response in early {
        state.absorb(response);
    }
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.pending.pop_front() {
                return Some((item, state));
            }
            if state.done {
                return None;
            }
            match state.watch.message().await {
                Ok(Some(response)) => state.absorb(response),
                Ok(None) => {
                    state.pending.push_back(Err(StorageError::Backend("etcd closed the watch stream".into())));
                    state.done = true;
                }
                Err(e) => {
                    state.pending.push_back(Err(super::convert::backend(e)));
                    state.done = true;
                }
            }
        }
    })
    .boxed()
}
