//! Tasks tied to their owner's lifetime: a controller that stops (leadership lost,
//! shutdown) must take its helper tasks with it, or their watches keep polling a server
//! that is going away.

use std::future::Future;
use tokio::task::JoinHandle;

/// A spawned task that is aborted when this handle is dropped.
pub struct Scoped(JoinHandle<()>);

impl Drop for Scoped {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Spawns `task`, aborted when the returned handle is dropped.
pub fn spawn_scoped(task: impl Future<Output = ()> + Send + 'static) -> Scoped {
    Scoped(tokio::spawn(task))
}
