//! History compaction on etcd, the way kube-apiserver does it: every interval, compact to
//! the revision seen at the previous tick, so at least one interval of history remains
//! for watches and continue tokens to resume from.

use super::convert::{Refusal, backend, refusal};
use crate::storage::Result;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Compacts etcd to `revision`; a revision already compacted is not an error.
pub(super) async fn compact(kv: &etcd_client::KvClient, compacted: &AtomicI64, revision: i64) -> Result<()> {
    // Compacting twice to the same revision is harmless: repeatable like a read.
    let answer = super::retrying(super::Repeatable::Read, || {
        let mut kv = kv.clone();
        async move { kv.compact(revision, None).await }
    })
    .await;
    match answer {
        Ok(_) => {}
        Err(e) if refusal(&e) == Refusal::Compacted => {}
        Err(e) => return Err(backend(e)),
    }
    compacted.fetch_max(revision, Ordering::SeqCst);
    Ok(())
}

/// Runs until aborted.
pub(super) async fn run(mut kv: etcd_client::KvClient, compacted: Arc<AtomicI64>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Option<i64> = None;
    loop {
        ticks.tick().await;
        let current = match kv.get([0u8], Some(etcd_client::GetOptions::new().with_count_only())).await {
            Ok(response) => response.header().map(|h| h.revision()),
            Err(e) => {
                tracing::warn!("etcd compaction: cannot read the current revision: {e}");
                None
            }
        };
        if let Some(target) = previous
            && let Err(e) = compact(&kv, &compacted, target).await
        {
            tracing::warn!("etcd compaction to revision {target} failed: {e}");
        }
        previous = current;
    }
}
