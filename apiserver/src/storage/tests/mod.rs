//! The backend test suite: every case in [`cases`] runs against every backend (etcd: a
//! real `/usr/bin/etcd` per test), plus durability tests for the embedded backend in
//! [`durable`].

mod cases;
mod durable;

use super::{EtcdOptions, EtcdStorage, EtcdTls, MemoryStorage, RedbOptions, RedbStorage, Storage};
use ironkube_conformance::etcd::{EtcdCluster, EtcdTlsFiles, etcd_available};
use std::sync::Arc;

/// A backend under test and whatever must outlive it (its directory).
pub(super) struct Backend {
    /// The store.
    pub storage: Arc<dyn Storage>,
    /// Removed after the store is dropped (fields drop in order).
    _dir: Option<tempfile::TempDir>,
    /// The etcd the store talks to, stopped after the store is dropped.
    _etcd: Option<EtcdCluster>,
}

/// A fresh in-memory store.
pub(super) async fn memory() -> Option<Backend> {
    Some(Backend { storage: Arc::new(MemoryStorage::default()), _dir: None, _etcd: None })
}

/// Options for tests: no background compaction, so every compaction is the test's own.
pub(super) fn manual_compaction() -> RedbOptions {
    RedbOptions { compact_interval: None, ..RedbOptions::default() }
}

/// A fresh embedded store in a temporary directory.
pub(super) async fn redb() -> Option<Backend> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let storage = RedbStorage::open_with(dir.path(), manual_compaction()).expect("open the store");
    Some(Backend { storage: Arc::new(storage), _dir: Some(dir), _etcd: None })
}

/// A store on a fresh single-member etcd (no background compaction); `None`, with a
/// message, when etcd is not installed.
pub(super) async fn etcd() -> Option<Backend> {
    if !etcd_available() {
        eprintln!("skipped: /usr/bin/etcd is not installed (apt-get install etcd-server)");
        return None;
    }
    let cluster = tokio::task::spawn_blocking(|| EtcdCluster::start(1)).await.expect("start etcd");
    let options = EtcdOptions { compact_interval: None, ..Default::default() };
    let storage = EtcdStorage::connect(&cluster.client_urls(), options).await.expect("connect to etcd");
    Some(Backend { storage: Arc::new(storage), _dir: None, _etcd: Some(cluster) })
}

/// A CA with a serving pair for 127.0.0.1 and a client pair in `dir`, made by the
/// server's own certificate code.
fn etcd_certificates(dir: &std::path::Path) -> EtcdTlsFiles {
    crate::server::pki::Pki::new(dir).ensure(&["127.0.0.1".to_string()]).expect("certificates");
    EtcdTlsFiles::in_pki_dir(dir)
}

/// The client side of `files`, verifying etcd with `ca`.
fn client_tls(files: &EtcdTlsFiles, ca: &std::path::Path) -> EtcdTls {
    EtcdTls { ca_file: Some(ca.to_path_buf()), cert_file: Some(files.client_cert.clone()), key_file: Some(files.client_key.clone()) }
}

/// A store on a fresh etcd that serves `https://` only and requires client certificates.
pub(super) async fn etcd_tls() -> Option<Backend> {
    if !etcd_available() {
        eprintln!("skipped: /usr/bin/etcd is not installed (apt-get install etcd-server)");
        return None;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let files = etcd_certificates(dir.path());
    let cluster = tokio::task::spawn_blocking({
        let files = files.clone();
        move || EtcdCluster::start_tls(files)
    })
    .await
    .expect("start etcd");
    assert!(cluster.servers_flag().starts_with("https://"));
    let options = EtcdOptions { compact_interval: None, tls: client_tls(&files, &files.ca) };
    let storage = EtcdStorage::connect(&cluster.client_urls(), options).await.expect("connect to etcd over TLS");
    Some(Backend { storage: Arc::new(storage), _dir: Some(dir), _etcd: Some(cluster) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_signed_by_another_ca_is_refused_with_the_reason() {
    if !etcd_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let files = etcd_certificates(&dir.path().join("etcd"));
    let wrong = etcd_certificates(&dir.path().join("other"));
    let cluster = tokio::task::spawn_blocking({
        let files = files.clone();
        move || EtcdCluster::start_tls(files)
    })
    .await
    .expect("start etcd");
    let options = EtcdOptions { compact_interval: None, tls: client_tls(&files, &wrong.ca) };
    let error = EtcdStorage::connect(&cluster.client_urls(), options).await.err().expect("a wrong CA must fail").to_string();
    assert!(error.contains(&cluster.servers_flag()) && error.contains("certificate verify failed"), "{error}");
}

/// Instantiates every shared case for one backend, as a module of tests.
macro_rules! shared_suite {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(backend) = super::$backend().await else { return };
                    super::cases::$case(backend.storage.clone()).await;
                }
            )*
        }
    };
}

macro_rules! all_backends {
    ($($case:ident),* $(,)?) => {
        shared_suite!(memory: $($case),*);
        shared_suite!(redb: $($case),*);
        shared_suite!(etcd: $($case),*);
    };
}

// The same contract through an etcd that requires TLS client certificates (a subset:
// the transport is what differs; watches, lists and conflicts cross it).
shared_suite!(etcd_tls: create_and_get, update_checks_the_revision, list_orders_and_pages, watch_replays_from_zero_and_from_the_past, compaction_makes_old_revisions_unavailable);

all_backends!(
    create_and_get,
    update_checks_the_revision,
    delete_checks_the_revision,
    concurrent_writers_are_checked_one_by_one,
    list_orders_and_pages,
    list_at_a_past_revision,
    watch_from_current_sees_later_changes_under_prefix,
    watch_replays_from_zero_and_from_the_past,
    watch_has_no_gaps_or_duplicates_while_writing,
    compaction_makes_old_revisions_unavailable,
    values_up_to_the_limit_are_accepted,
    compaction_keeps_every_live_key,
    every_revision_is_readable_until_compacted,
    continuing_a_list_after_compaction_fails,
);
