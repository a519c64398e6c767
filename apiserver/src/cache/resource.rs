//! The cached state of one resource (`/registry/<resource>/`): its objects, a bounded
//! window of recent events and the watchers it fans out to (upstream `watchCache` plus the
//! cacher's watcher set). Everything is behind one short-held mutex; nothing awaits under it.

use crate::registry::selectors::SelectableAttrs;
use crate::storage::{Event, KeyValue};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The key was created.
    Added,
    /// The key was replaced.
    Modified,
    /// The key was deleted.
    Deleted,
}

impl EventType {
    /// The watch event `type` upstream writes.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change on its way to watchers, shared by every watcher that receives it, with
/// what the first watcher that needs it makes for all the others. It lives only while
/// deliveries hold it: the window keeps a [`WindowEvent`], so none of what watchers make
/// stays for the window's lifetime (kept there, the encoded lines and the parsed objects
/// held 3 GB of `up` while 100,000 pods were created).
#[derive(Debug)]
pub struct CachedEvent {
    /// The revision of the change.
    pub revision: i64,
    /// Its type.
    pub event_type: EventType,
    /// The object after the change; for a deletion, the last state with `mod_revision`
    /// set to the deletion revision (what a DELETED event shows).
    pub object: Arc<KeyValue>,
    /// The object before the change (for selector transitions).
    pub prev: Option<Arc<KeyValue>>,
    /// The encoded watch line, made by the first watcher that needs it and reused by all.
    pub line: OnceLock<Bytes>,
    /// What selectors read of the object and its previous state, made by the first
    /// watcher with selectors and reused by all (see [`EventAttrs`]).
    pub attrs: OnceLock<EventAttrs>,
}

/// One change as the event window keeps it: the objects, which it shares with the cache
/// and the events around it.
#[derive(Debug)]
struct WindowEvent {
    revision: i64,
    event_type: EventType,
    object: Arc<KeyValue>,
    prev: Option<Arc<KeyValue>>,
    at: Instant,
}

impl WindowEvent {
    /// A fresh event for watchers, with nothing made yet.
    fn to_cached(&self) -> Arc<CachedEvent> {
        Arc::new(CachedEvent {
            revision: self.revision,
            event_type: self.event_type,
            object: self.object.clone(),
            prev: self.prev.clone(),
            line: OnceLock::new(),
            attrs: OnceLock::new(),
        })
    }
}

/// The selector attributes of an event's object and previous state (`None`: absent or
/// unparsable), upstream's `watchCacheEvent` labels and fields. A watcher with selectors
/// costs a lookup in these, not a parse of its own; what it receives stays the stored
/// bytes.
#[derive(Debug)]
pub struct EventAttrs {
    /// The object after the change.
    pub object: Option<SelectableAttrs>,
    /// The object before the change.
    pub prev: Option<SelectableAttrs>,
}

impl CachedEvent {
    /// The selector attributes of the object and previous state, computed by `of` on
    /// first use.
    pub fn attrs(&self, of: impl Fn(&KeyValue) -> Option<SelectableAttrs>) -> &EventAttrs {
        self.attrs.get_or_init(|| EventAttrs { object: of(&self.object), prev: self.prev.as_deref().and_then(&of) })
    }
}

/// What a watcher receives from the cache.
#[derive(Clone, Debug)]
pub enum Delivery {
    /// A change.
    Event(Arc<CachedEvent>),
    /// Every change up to this revision has been delivered.
    Bookmark(i64),
}

/// Limits of the event window and the watchers.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The window always keeps at least this many events.
    pub window_min: usize,
    /// ... and never more than this many.
    pub window_max: usize,
    /// Between the two, events younger than this are kept (upstream keeps 75 s).
    pub window_fresh: Duration,
    /// Events buffered per watcher; a watcher whose buffer is full is terminated.
    pub watcher_buffer: usize,
    /// How often a watcher that asked for bookmarks gets one.
    pub bookmark_interval: Duration,
}

struct Watcher {
    prefix: Box<str>,
    after: i64,
    sender: mpsc::Sender<Delivery>,
    next_bookmark: Option<Instant>,
}

impl Watcher {
    /// Hands over a delivery; `false` when the watcher must go (gone, or too slow).
    fn offer(&self, delivery: Delivery) -> bool {
        match self.sender.try_send(delivery) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(prefix = %self.prefix, "terminating a watcher that cannot keep up");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// A watch registered with a resource.
pub struct Registration {
    /// The objects under the prefix when the watch started (only when asked for).
    pub initial: Vec<Arc<KeyValue>>,
    /// The revision the watch starts at.
    pub revision: i64,
    /// Window events after the requested revision.
    pub backlog: Vec<Arc<CachedEvent>>,
    /// Live deliveries.
    pub receiver: mpsc::Receiver<Delivery>,
}

/// A watch asked to start before the window: the caller decides (410 or another source).
#[derive(Debug, PartialEq, Eq)]
pub struct TooOld {
    /// The revision asked for.
    pub requested: i64,
    /// Every event after this revision is in the window.
    pub oldest: i64,
}

/// One resource's cache.
pub struct Resource {
    state: Mutex<State>,
}

struct State {
    objects: BTreeMap<String, Arc<KeyValue>>,
    /// Revision of the last change applied to this resource.
    revision: i64,
    window: VecDeque<WindowEvent>,
    /// Every event of this resource after this revision is in `window`.
    window_start: i64,
    watchers: Vec<Watcher>,
}

impl Resource {
    /// An empty resource whose history is complete after `revision`.
    pub fn new(revision: i64) -> Self {
        Resource {
            state: Mutex::new(State { objects: BTreeMap::new(), revision, window: VecDeque::new(), window_start: revision, watchers: Vec::new() }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the whole state with a fresh list at `revision`; every watcher is
    /// terminated (it resumes from its last revision and meets the new window).
    pub fn replace(&self, items: Vec<KeyValue>, revision: i64) {
        let mut st = self.lock();
        st.objects = items.into_iter().map(|kv| (kv.key.clone(), Arc::new(kv))).collect();
        st.revision = revision;
        st.window.clear();
        st.window_start = revision;
        st.watchers.clear();
    }

    /// Applies one storage event and fans it out.
    pub fn apply(&self, event: Event, limits: &Limits) {
        let mut st = self.lock();
        let revision = event.revision();
        let (event_type, object, prev) = match event {
            Event::Put { kv, prev } => {
                let object = Arc::new(kv);
                let cached_prev = st.objects.insert(object.key.clone(), object.clone());
                let prev = cached_prev.or_else(|| prev.map(Arc::new));
                let event_type = if prev.is_some() { EventType::Modified } else { EventType::Added };
                (event_type, object, prev)
            }
            Event::Delete { prev, revision } => {
                let prev = st.objects.remove(&prev.key).unwrap_or_else(|| Arc::new(prev));
                let object = Arc::new(KeyValue { mod_revision: revision, ..(*prev).clone() });
                (EventType::Deleted, object, Some(prev))
            }
        };
        st.revision = revision;
        let now = Instant::now();
        let window_event = WindowEvent { revision, event_type, object, prev, at: now };
        let event = window_event.to_cached();
        st.window.push_back(window_event);
        while st.window.len() > limits.window_max
            || (st.window.len() > limits.window_min && st.window.front().is_some_and(|e| now.duration_since(e.at) > limits.window_fresh))
        {
            if let Some(old) = st.window.pop_front() {
                st.window_start = old.revision;
            }
        }
        st.watchers.retain(|w| {
            if revision <= w.after || !event.object.key.starts_with(&*w.prefix) {
                return !w.sender.is_closed();
            }
            w.offer(Delivery::Event(event.clone()))
        });
    }

    /// The revision this resource's state is current at, given the cache-wide revision
    /// `global` (every change up to `global` has been applied everywhere).
    fn current(st: &State, global: i64) -> i64 {
        st.revision.max(global)
    }

    /// One object and the revision the answer is current at.
    pub fn get(&self, key: &str, global: i64) -> (Option<Arc<KeyValue>>, i64) {
        let st = self.lock();
        (st.objects.get(key).cloned(), Self::current(&st, global))
    }

    /// The objects under `prefix` after `start_after`, in key order, at the current
    /// revision, or at `exact` when the state there is the same (else `None`).
    pub fn list(&self, prefix: &str, start_after: Option<&str>, exact: Option<i64>, global: i64) -> Option<(Vec<Arc<KeyValue>>, i64)> {
        let st = self.lock();
        let mut revision = Self::current(&st, global);
        if let Some(at) = exact {
            // The state at `at` equals the current one when nothing of this resource
            // changed since, and the cache has seen everything up to `at`.
            if st.revision > at || global < at {
                return None;
            }
            revision = at;
        }
        Some((objects_under(&st.objects, prefix, start_after), revision))
    }

    /// Registers a watcher on keys under `prefix`: from the current state (`after` =
    /// `None`) or from the events after a revision.
    pub fn watch(&self, prefix: &str, after: Option<i64>, bookmarks: bool, global: i64, limits: &Limits) -> Result<Registration, TooOld> {
        let mut st = self.lock();
        let revision = Self::current(&st, global);
        let (initial, backlog, after) = match after {
            None => (objects_under(&st.objects, prefix, None), Vec::new(), revision),
            Some(after) if after < st.window_start => return Err(TooOld { requested: after, oldest: st.window_start }),
            Some(after) => {
                let backlog = st.window.iter().filter(|e| e.revision > after && e.object.key.starts_with(prefix)).map(WindowEvent::to_cached).collect();
                (Vec::new(), backlog, after)
            }
        };
        let (sender, receiver) = mpsc::channel(limits.watcher_buffer.max(1));
        st.watchers.push(Watcher {
            prefix: prefix.into(),
            after,
            sender,
            next_bookmark: bookmarks.then(|| Instant::now() + limits.bookmark_interval),
        });
        Ok(Registration { initial, revision: revision.max(after), backlog, receiver })
    }

    /// Sends due bookmarks and forgets watchers whose client went away.
    pub fn tick(&self, global: i64, limits: &Limits) {
        let mut st = self.lock();
        let revision = Self::current(&st, global);
        let now = Instant::now();
        st.watchers.retain_mut(|w| {
            if w.sender.is_closed() {
                return false;
            }
            if w.next_bookmark.is_some_and(|due| due <= now) {
                w.next_bookmark = Some(now + limits.bookmark_interval);
                // A full buffer means the watcher is behind; it gets the next one.
                let _ = w.sender.try_send(Delivery::Bookmark(revision.max(w.after)));
            }
            true
        });
    }

    /// Number of registered watchers.
    pub fn watcher_count(&self) -> usize {
        self.lock().watchers.len()
    }

    /// Number of cached objects.
    pub fn len(&self) -> usize {
        self.lock().objects.len()
    }
}

fn objects_under(objects: &BTreeMap<String, Arc<KeyValue>>, prefix: &str, start_after: Option<&str>) -> Vec<Arc<KeyValue>> {
    let start = match start_after {
        Some(key) if key >= prefix => Bound::Excluded(key),
        _ => Bound::Included(prefix),
    };
    objects
        .range::<str, _>((start, Bound::Unbounded))
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v.clone())
        .collect()
}
