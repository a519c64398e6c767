//! Write throughput of the backends side by side, in one run (a figure, not a test):
//! `cargo test -p ironkube-apiserver --release --lib storage::bench -- --ignored --nocapture`
//!
//! Rounds alternate the backends so that machine noise hits them alike; every run starts
//! on a fresh store (etcd: a fresh single-member `/usr/bin/etcd`, fsync on as shipped).

use super::tests::{Backend, etcd, memory, redb};
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

const ROUNDS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
async fn durable_writes_per_second() {
    let names = ["memory", "embedded (redb)", "etcd"];
    // `IRONKUBE_BENCH_BACKENDS=embedded,etcd` runs only those.
    let only = std::env::var("IRONKUBE_BENCH_BACKENDS").ok();
    let selected = |name: &str| only.as_deref().is_none_or(|only| only.split(',').any(|o| name.starts_with(o)));
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..ROUNDS {
        for (i, runs) in runs.iter_mut().enumerate() {
            if !selected(names[i]) {
                continue;
            }
            let backend: Option<Backend> = match i {
                0 => memory().await,
                1 => redb().await,
                _ => etcd().await,
            };
            if let Some(backend) = backend {
                runs.push(writes_per_second(backend.storage.clone()).await);
            }
        }
    }
    let mut medians = Vec::new();
    for (name, runs) in names.iter().zip(runs) {
        if runs.is_empty() {
            continue;
        }
        let shown: Vec<String> = runs.iter().map(|r| format!("{r:.0}")).collect();
        let median = median(runs);
        medians.push(median);
        println!("{name:>16}: median {median:.0} writes/s with {WRITERS} writers (runs: {})", shown.join(", "));
    }
    if let [.., embedded, etcd] = medians[..] {
        println!("embedded / etcd: {:.2}x (medians)", embedded / etcd);
    }
}
