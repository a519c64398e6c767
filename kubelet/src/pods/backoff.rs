//! Restart and image-pull back-off: 10 s doubling to 5 min, forgotten after 10 min of
//! quiet (upstream `flowcontrol.Backoff` as the kubelet configures it).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// First delay.
pub const INITIAL: Duration = Duration::from_secs(10);
/// Largest delay.
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug)]
struct Entry {
    delay: Duration,
    last: Instant,
}

/// Back-off per key (container name).
#[derive(Default, Debug)]
pub struct Backoff {
    entries: HashMap<String, Entry>,
}

impl Backoff {
    /// Whether `key` must still wait, counting from `since` (when it last failed); returns
    /// the current delay when it must.
    pub fn waiting(&self, key: &str, since: Instant, now: Instant) -> Option<Duration> {
        let e = self.entries.get(key)?;
        (now < since + e.delay).then_some(e.delay)
    }

    /// Records another attempt: the first sets the initial delay, each next one doubles it.
    pub fn next(&mut self, key: &str, now: Instant) {
        let delay = match self.entries.get(key) {
            Some(e) if now.duration_since(e.last) < 2 * MAX => (e.delay * 2).min(MAX),
            _ => INITIAL,
        };
        self.entries.insert(key.to_string(), Entry { delay, last: now });
    }

    /// The current delay of `key`.
    #[cfg(test)]
    pub fn delay(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap() {
        let mut b = Backoff::default();
        let t = Instant::now();
        assert!(b.waiting("a", t, t).is_none());
        b.next("a", t);
        assert_eq!(b.waiting("a", t, t), Some(INITIAL));
        assert!(b.waiting("a", t, t + INITIAL).is_none());
        for _ in 0..10 {
            b.next("a", t);
        }
        assert_eq!(b.delay("a"), Some(MAX));
    }
}
