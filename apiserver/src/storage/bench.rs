//! Write throughput of the backends (a figure, not a test):
//! `cargo test -p ironkube-apiserver --release --lib storage::bench -- --ignored --nocapture`

use super::tests::{memory, redb};
use super::Storage;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITERS: usize = 64;
const RUN: Duration = Duration::from_secs(3);

/// Acknowledged writes per second with `WRITERS` concurrent writers, each updating its own
/// 1 KiB object as fast as it is answered.
async fn writes_per_second(storage: Arc<dyn Storage>) -> f64 {
    let value = Bytes::from(vec![b'v'; 1024]);
    let start = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (storage, value) = (storage.clone(), value.clone());
            tokio::spawn(async move {
                let key = format!("/bench/{w}");
                let mut revision = storage.create(&key, value.clone()).await.unwrap().mod_revision;
                let mut writes = 1u64;
                while start.elapsed() < RUN {
                    revision = storage.update(&key, value.clone(), revision).await.unwrap().mod_revision;
                    writes += 1;
                }
                writes
            })
        })
        .collect();
    let mut writes = 0;
    for task in tasks {
        writes += task.await.unwrap();
    }
    writes as f64 / start.elapsed().as_secs_f64()
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
async fn durable_writes_per_second() {
    for (name, make) in [("memory", memory as fn() -> super::tests::Backend), ("redb (durable)", redb)] {
        let mut runs = Vec::new();
        for _ in 0..3 {
            let backend = make();
            runs.push(writes_per_second(backend.storage.clone()).await);
        }
        let shown: Vec<String> = runs.iter().map(|r| format!("{r:.0}")).collect();
        println!("{name:>15}: median {:.0} writes/s with {WRITERS} writers (runs: {})", median(runs), shown.join(", "));
    }
}
