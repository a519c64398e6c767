//! Watch cache benchmark (issue 5 figures), the same run with the cache on and off
//! (`--watch-cache=false`, the baseline), all through HTTPS against the release binary:
//! ConfigMap creates/s with 64 concurrent clients, GET p50/p99, LIST of 10,000 pods,
//! watch delivery latency from write acknowledgement to event at 1,000 watchers, RSS
//! with 100,000 pods stored (and cached), and cold start with that data to `/readyz`.
//! Run with `cargo bench -p ironkube-conformance --bench watch_cache`.
//! `IRONKUBE_BENCH_PODS` (default 100000) and `IRONKUBE_BENCH_WATCHERS` (default 1000)
//! scale it down; `IRONKUBE_BENCH_WATCH_WRITES` (default 100) sets how many writes the watch
//! latency is sampled over (each gives one sample per watcher, but one slow write moves all
//! of its samples, so the p99 needs many writes to be a stable figure);
//! `IRONKUBE_BENCH_MODES=cache` skips the baseline;
//! `IRONKUBE_BENCH_ONLY=watch` measures only watch latency (`IRONKUBE_BENCH_VERBOSE=1`
//! adds each write's figures), `IRONKUBE_BENCH_ONLY=list` only the LIST of 10,000 pods
//! (31 times; `IRONKUBE_BENCH_PERF=<file>` records the server with perf meanwhile), then
//! 31 times as a `PartialObjectMetadataList` (the garbage collector's list),
//! `IRONKUBE_BENCH_ONLY=creates` only the ConfigMap creates/s,
//! `IRONKUBE_BENCH_ONLY=rss` only the RSS while `IRONKUBE_BENCH_PODS` pods are created,
//! once settled and after a cold start; `IRONKUBE_BENCH_PROCESS=apiserver` runs
//! `ironkube apiserver` instead of `ironkube up --no-kubelet` (no in-process controllers
//! and scheduler taking in the pods);
//! `IRONKUBE_BENCH_WATCH_CLIENT=async` reads the watches with tasks on one tokio thread
//! instead of one OS thread per watcher (see "Reading the watch figures"), and
//! `IRONKUBE_BENCH_WATCH_CLIENT=h2` the same over HTTP/2 (one connection per watcher, as
//! client-go and kubectl speak); `IRONKUBE_BIN` runs a given binary instead of building.
//!
//! Reading the watch figures: each watcher's sample is ack->event, from the writer's
//! acknowledgement (the `201` to the create) to the event at the watcher, measured two
//! ways:
//! - "read": when the watcher's client thread has read and recognised the event line,
//!   minus when the writer had read its ack. It includes the client's own scheduling: on
//!   2 cores shared with the server, 1,000 watcher threads cost 1,000 wake-ups and context
//!   switches per event, and the async client's one thread needs about 15 ms to decrypt
//!   1,000 events, so the last watchers' reads wait for the client, not the server.
//! - "arrived": the kernel's receive timestamps (`SO_TIMESTAMPNS`, see
//!   `common/arrival.rs`) of the event's bytes at the watcher's socket minus the ack's at
//!   the writer's socket. On loopback a segment is stamped while the server's `send` runs,
//!   so this is when the server delivered, whatever the client does afterwards; the
//!   client still shares the cores, so its CPU still slows the server.
//!
//! Both can be 0: an event the server sent before the ack counts as 0. Request
//! sent->event (printed with the watch figures) does not depend on that order; the
//! run also prints the ack's own latency and how long each write's fan-out took from the
//! first watcher to the last, and the CPU the server and the client used per write.
//! Say which client a figure came from.

#[allow(dead_code)]
mod common;

use common::arrival::{AsyncStamped, LastArrival, Stamped};
use common::{cpu_time, idle_and_steal, median, ms, percentile, release_binary, rss_kib};
use ironkube_conformance::{ApiClient, Cluster, admin_connector, admin_tls};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, RwLock};
use std::time::{Duration, Instant, SystemTime};

const CLIENTS: usize = 64;

/// Writes the watch latency is sampled over.
fn watch_writes() -> usize {
    env_usize("IRONKUBE_BENCH_WATCH_WRITES", 100)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// POSTs `total` bodies to `path` from `clients` kept-alive TLS connections at once;
/// returns the wall time (connections are set up before the clock starts).
fn create_parallel(port: u16, pki: &Path, clients: usize, total: usize, path: &str, body: impl Fn(usize) -> String + Sync) -> Duration {
    let start = Barrier::new(clients + 1);
    let (body, start) = (&body, &start);
    std::thread::scope(|s| {
        for t in 0..clients {
            s.spawn(move || {
                let mut client = ApiClient::connect(port, pki);
                start.wait();
                for i in (t..total).step_by(clients) {
                    let (code, out) = client.request("POST", path, Some(&body(i)));
                    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&out));
                }
            });
        }
        start.wait();
        let t0 = Instant::now();
        // Scoped threads are joined when the scope ends; time it from here.
        t0
    })
    .elapsed()
}

fn pod(i: usize) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p-{i}","labels":{{"app":"bench","shard":"s{}"}}}},"spec":{{"containers":[{{"name":"c","image":"ironkube.local/busybox","command":["sleep","3600"]}}]}}}}"#,
        i % 16
    )
}

fn configmap(prefix: &str) -> impl Fn(usize) -> String + Sync + '_ {
    move |i| format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{prefix}-{i}"}},"data":{{"key":"value-{i}"}}}}"#)
}

/// A raw watch over its own TLS connection, reading events line by line; `last` tells when
/// the bytes last read had arrived.
fn open_watch(port: u16, pki: &Path, path: &str, last: LastArrival) -> BufReader<openssl::ssl::SslStream<Stamped>> {
    let mut reader = BufReader::new(admin_tls(port, pki, |tcp| Stamped::new(tcp, last).unwrap()));
    reader.get_mut().write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "watch refused: {line}");
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            return reader;
        }
    }
}

/// One event seen by one watcher: the write it came from, when the watcher had read it,
/// and when its bytes had arrived at the watcher's socket.
type Seen = (usize, Instant, Option<SystemTime>);

/// Delivery latencies from write acknowledgement to event, sorted.
struct Latencies {
    /// To when the watcher had read and recognised the event.
    read: Vec<Duration>,
    /// To when the event's bytes had arrived at the watcher's socket (kernel timestamp).
    arrived: Vec<Duration>,
    /// Events that never arrived.
    missing: usize,
}

/// Delivery latency from write acknowledgement to event, over `watchers` watches of one
/// namespace and `writes` ConfigMap creates spaced apart.
fn watch_latency(c: &Cluster, pki: &Path, watchers: usize, writes: usize) -> Latencies {
    c.ok(&["create", "namespace", "watched"]);
    let mut client = ApiClient::connect(c.port, pki);
    let (_, list) = client.request("GET", "/api/v1/namespaces/watched/configmaps", None);
    let list: serde_json::Value = serde_json::from_slice(&list).unwrap();
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let path = format!("/api/v1/namespaces/watched/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=600");
    let (tx, rx) = mpsc::channel::<Seen>();
    let client = std::env::var("IRONKUBE_BENCH_WATCH_CLIENT").unwrap_or_default();
    if client == "async" || client == "h2" {
        let runtime = async_watchers(c.port, pki, &path, watchers, tx, client == "h2");
        let result = deliver(c, pki, watchers, writes, rx);
        runtime.shutdown_background();
        return result;
    }
    let ready = Arc::new(Barrier::new(watchers + 1));
    // A watcher that has seen every write holds its thread and connection until all
    // samples are in: 1,000 threads exiting and connections closing at once would
    // otherwise slow the delivery of the last write to the others (seconds on 2 cores).
    let hold = Arc::new(RwLock::new(()));
    let holding = hold.write().unwrap();
    let mut threads = Vec::new();
    for _ in 0..watchers {
        let (tx, ready, hold, path, pki, port) = (tx.clone(), ready.clone(), hold.clone(), path.clone(), pki.to_path_buf(), c.port);
        threads.push(std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
            let last = LastArrival::default();
            let mut reader = open_watch(port, &pki, &path, last.clone());
            ready.wait();
            let mut seen = 0;
            let mut line = String::new();
            while seen < writes {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if let Some(k) = written(&line) {
                    let _ = tx.send((k, Instant::now(), last.get()));
                    seen += 1;
                }
            }
            drop(tx);
            let _released = hold.read();
        }));
    }
    drop(tx);
    ready.wait();
    let result = deliver(c, pki, watchers, writes, rx);
    drop(holding);
    // Watchers still blocked end when the server stops.
    drop(threads);
    result
}

/// Which write an event line is about: `k` of the ConfigMap `lat-k` it names.
fn written(line: &str) -> Option<usize> {
    let rest = line.split("\"name\":\"lat-").nth(1)?;
    Some(rest.split('"').next()?.parse().expect("a write number"))
}

/// The watchers as tasks on one tokio thread instead of 1,000 OS threads: the same
/// connections, requests and timestamps (taken when a task has read and parsed the line),
/// without a thread wake-up and context switch per event per watcher in the client.
/// With `h2`, each watcher speaks HTTP/2 on its own connection (hyper's client), as
/// client-go and kubectl do; otherwise HTTP/1.1 written and read by hand.
fn async_watchers(port: u16, pki: &Path, path: &str, watchers: usize, tx: mpsc::Sender<Seen>, h2: bool) -> tokio::runtime::Runtime {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let connector = admin_connector(pki);
    let alpn: &'static [u8] = if h2 { b"\x02h2" } else { b"\x08http/1.1" };
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    for _ in 0..watchers {
        let (tx, ready_tx, connector, path) = (tx.clone(), ready_tx.clone(), connector.clone(), path.to_string());
        runtime.spawn(async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let last = LastArrival::default();
            let mut config = connector.configure().unwrap();
            config.set_alpn_protos(alpn).unwrap();
            let ssl = config.into_ssl("localhost").unwrap();
            let mut tls = tokio_openssl::SslStream::new(ssl, AsyncStamped::new(tcp, last.clone()).unwrap()).unwrap();
            std::pin::Pin::new(&mut tls).connect().await.unwrap();
            let seen = |line: &str| {
                if let Some(k) = written(line) {
                    let _ = tx.send((k, Instant::now(), last.get()));
                }
            };
            if h2 {
                watch_h2(tls, &path, ready_tx, seen).await
            } else {
                watch_http1(tls, &path, ready_tx, seen).await
            }
        });
    }
    drop(ready_tx);
    for _ in 0..watchers {
        ready_rx.recv().expect("a watcher failed to start");
    }
    runtime
}

type AsyncTls = tokio_openssl::SslStream<AsyncStamped>;

/// One watch over HTTP/1.1: `seen` gets each line of the (chunked) body.
async fn watch_http1(tls: AsyncTls, path: &str, ready: mpsc::Sender<()>, seen: impl Fn(&str)) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut reader = tokio::io::BufReader::new(tls);
    reader.get_mut().write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "watch refused: {line}");
    while line != "\r\n" {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
    }
    let _ = ready.send(());
    loop {
        line.clear();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        seen(&line);
    }
}

/// One watch over HTTP/2: `seen` gets each line of the body (DATA frames carry one event
/// each today, but HTTP/2 may split or join them).
async fn watch_h2(tls: AsyncTls, path: &str, ready: mpsc::Sender<()>, seen: impl Fn(&str)) {
    use http_body_util::BodyExt;
    assert_eq!(tls.ssl().selected_alpn_protocol(), Some(&b"h2"[..]), "the server did not agree to HTTP/2");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::get(format!("https://localhost{path}")).body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200, "watch refused");
    let _ = ready.send(());
    let mut body = response.into_body();
    let mut pending = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            pending.extend_from_slice(&data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                seen(&String::from_utf8_lossy(&line));
            }
        }
    }
}

/// Writes `writes` ConfigMaps 100 ms apart and collects when each watcher saw each one.
/// Both the watchers' and the writer's reads are stamped on arrival: ack->event "arrived"
/// compares when the ack reached the writer's socket with when each event reached a
/// watcher's, which no client's scheduling moves.
fn deliver(c: &Cluster, pki: &Path, watchers: usize, writes: usize, rx: mpsc::Receiver<Seen>) -> Latencies {
    let (mut sent, mut sent_wall, mut acks, mut acks_arrived) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let ack_arrival = LastArrival::default();
    let mut writer = ApiClient::connect_over(c.port, pki, |tcp| Stamped::new(tcp, ack_arrival.clone()).unwrap());
    // Per write (see `slow_writes` and the verbose report): the server's and this
    // process's CPU, and the machine's idle and stolen time, from the write until the next.
    let mut usage = Vec::new();
    let sample = || (cpu_time(c.pid()), cpu_time(None), idle_and_steal());
    let first = sample();
    let mut before = first;
    for k in 0..writes {
        let body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"lat-{k}"}}}}"#);
        sent.push(Instant::now());
        sent_wall.push(SystemTime::now());
        let (code, _) = writer.request("POST", "/api/v1/namespaces/watched/configmaps", Some(&body));
        acks.push(Instant::now());
        acks_arrived.push(ack_arrival.get().expect("the ack's arrival time"));
        assert_eq!(code, 201);
        std::thread::sleep(Duration::from_millis(100));
        let after = sample();
        // (Saturating: a thread that ended meanwhile takes its time out of the sum.)
        usage.push((
            after.0.saturating_sub(before.0),
            after.1.saturating_sub(before.1),
            after.2.0.saturating_sub(before.2.0),
            after.2.1.saturating_sub(before.2.1),
        ));
        before = after;
    }
    // Where the CPU went while the events were delivered: the server's fan-out and
    // writes, or this process's watchers (both share the machine's cores).
    let (server_cpu, client_cpu) = (before.0.saturating_sub(first.0), before.1.saturating_sub(first.1));
    let (mut read, mut arrived) = (Vec::new(), Vec::new());
    // Each write's samples, read and arrived: one slow write moves 1,000 samples, so the
    // p99 over 100 writes is made by the slowest one or two of them.
    let mut per_write = vec![(Vec::new(), Vec::new()); writes];
    // First and last arrival of each write's event: how long the fan-out took.
    let mut spans: Vec<Option<(SystemTime, SystemTime)>> = vec![None; writes];
    // The ack is read by a client thread competing with the watchers' threads, and the
    // server may answer the write before or after it has fanned the event out, so an
    // event often arrives "before" its ack (counted as 0). Request sent -> event does not
    // depend on that order: it is printed alongside.
    let (mut from_sent, mut arrived_from_sent) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    while read.len() < watchers * writes {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((k, at, arrival)) => {
                let took = at.saturating_duration_since(acks[k]);
                per_write[k].0.push(took);
                read.push(took);
                from_sent.push(at.saturating_duration_since(sent[k]));
                if let Some(arrival) = arrival {
                    let span = spans[k].get_or_insert((arrival, arrival));
                    (span.0, span.1) = (span.0.min(arrival), span.1.max(arrival));
                    let since_ack = arrival.duration_since(acks_arrived[k]).unwrap_or_default();
                    per_write[k].1.push(since_ack);
                    arrived.push(since_ack);
                    arrived_from_sent.push(arrival.duration_since(sent_wall[k]).unwrap_or_default());
                }
            }
            Err(_) => break,
        }
    }
    let missing = (watchers * writes).saturating_sub(read.len());
    if let Some(pid) = c.pid() {
        println!("  server RSS with the {watchers} watches open: {} MiB", rss_kib(pid) / 1024);
    }
    println!(
        "  CPU per write while delivering: server {:.1} ms, bench client {:.1} ms",
        server_cpu.as_secs_f64() * 1000.0 / writes as f64,
        client_cpu.as_secs_f64() * 1000.0 / writes as f64
    );
    slow_writes(&per_write, &usage);
    if std::env::var("IRONKUBE_BENCH_VERBOSE").is_ok() {
        for (k, (mut r, mut a)) in per_write.into_iter().enumerate() {
            r.sort();
            a.sort();
            let read = r.last().map_or_else(String::new, |max| format!(", read p50 {} max {}", ms(percentile(&r, 0.5)), ms(*max)));
            if let Some(max) = a.last() {
                let at = sent_wall[k].duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
                let (server, client, idle, steal) = usage[k];
                println!(
                    "  write {k} (sent at {at:.6}): {} events{read}, arrived first {} p50 {} max {}; CPU server {} client {}, machine idle {} stolen {}",
                    a.len(),
                    ms(a[0]),
                    ms(percentile(&a, 0.5)),
                    ms(*max),
                    ms(server),
                    ms(client),
                    ms(idle),
                    ms(steal)
                );
            }
        }
    }
    from_sent.sort();
    if !from_sent.is_empty() {
        let before_ack = read.iter().filter(|d| d.is_zero()).count();
        let write_took = median(sent.iter().zip(&acks).map(|(s, a)| a.duration_since(*s)).collect());
        println!(
            "  write sent->event p50 {} p99 {}; write sent->ack median {}; {before_ack} of {} events arrived before their ack",
            ms(percentile(&from_sent, 0.5)),
            ms(percentile(&from_sent, 0.99)),
            ms(write_took),
            read.len()
        );
    }
    arrived_from_sent.sort();
    if !arrived_from_sent.is_empty() {
        let ack_took = median(sent_wall.iter().zip(&acks_arrived).map(|(s, a)| a.duration_since(*s).unwrap_or_default()).collect());
        let spans = median(spans.iter().flatten().map(|(first, last)| last.duration_since(*first).unwrap_or_default()).collect());
        println!(
            "  by arrival: write sent->event p50 {} p99 {}; write sent->ack median {}; first->last watcher median {}",
            ms(percentile(&arrived_from_sent, 0.5)),
            ms(percentile(&arrived_from_sent, 0.99)),
            ms(ack_took),
            ms(spans)
        );
    }
    read.sort();
    arrived.sort();
    Latencies { read, arrived, missing }
}

/// Prints the per-write view of the arrivals: when the last watcher had each write's
/// event (median and p90 over the writes), and how the writes whose last watcher came
/// after 20 ms differ in CPU from the others. A p99 over every sample is made by the
/// slowest ~1% of samples, i.e. by a few whole writes (1,000 samples each); when those are
/// the writes during which the same fan-out cost the server and the client far more CPU
/// time than usual, the machine slowed down, not the delivery.
fn slow_writes(per_write: &[(Vec<Duration>, Vec<Duration>)], usage: &[(Duration, Duration, Duration, Duration)]) {
    let last = |k: usize| per_write[k].1.iter().max().copied();
    let writes: Vec<usize> = (0..per_write.len()).filter(|k| last(*k).is_some()).collect();
    if writes.is_empty() {
        return;
    }
    let mut lasts: Vec<Duration> = writes.iter().filter_map(|k| last(*k)).collect();
    lasts.sort();
    let limit = Duration::from_millis(20);
    let (slow, usual): (Vec<usize>, Vec<usize>) = writes.iter().partition(|k| last(**k) > Some(limit));
    let cpu = |ks: &[usize], side: fn(&(Duration, Duration, Duration, Duration)) -> Duration| {
        if ks.is_empty() { Duration::ZERO } else { median(ks.iter().map(|k| side(&usage[*k])).collect()) }
    };
    println!(
        "  per write, the last watcher's arrival after the ack: median {}, p90 {}; {} of {} writes after 20 ms, during which the server used {} and the client {} of CPU (median; other writes: {} and {})",
        ms(percentile(&lasts, 0.5)),
        ms(percentile(&lasts, 0.9)),
        slow.len(),
        writes.len(),
        ms(cpu(&slow, |u| u.0)),
        ms(cpu(&slow, |u| u.1)),
        ms(cpu(&usual, |u| u.0)),
        ms(cpu(&usual, |u| u.1)),
    );
}

/// Creates 10,000 pods in namespace `list` and LISTs them `times` times (a consistent
/// list, JSON, no `Accept-Encoding`: the bench's client asks for no compression). With
/// `IRONKUBE_BENCH_PERF=<file>`, `perf record -g` samples the server during the lists.
///
/// The lists start once the cluster has settled: `ironkube up` runs the scheduler, which
/// answers each new pod (there are no nodes) with one `PodScheduled=False` status write
/// and one event. Listing while those 10,000 writes are still going would measure their
/// contention on 2 cores, not the LIST.
fn list_10k(c: &Cluster, client: &mut ApiClient, pki: &Path, times: usize) -> Vec<Duration> {
    c.ok(&["create", "namespace", "list"]);
    create_parallel(c.port, pki, CLIENTS, 10_000, "/api/v1/namespaces/list/pods", pod);
    wait_until_scheduler_answered(client, 10_000);
    let perf = std::env::var("IRONKUBE_BENCH_PERF").ok().map(|out| {
        let child = std::process::Command::new("perf")
            .args(["record", "-g", "-F", "2999", "-o", &out, "-p", &c.pid().unwrap().to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("perf");
        std::thread::sleep(Duration::from_millis(500));
        child
    });
    let lists = (0..times)
        .map(|_| {
            let t = Instant::now();
            let (code, body) = client.request("GET", "/api/v1/namespaces/list/pods", None);
            let took = t.elapsed();
            assert_eq!(code, 200);
            assert!(body.len() > 10_000 * 300);
            took
        })
        .collect();
    if let Some(perf) = perf {
        // SIGINT makes perf write its data and exit.
        let _ = std::process::Command::new("kill").args(["-INT", &perf.id().to_string()]).status();
        let _ = perf.wait_with_output();
    }
    lists
}

/// Waits (up to three minutes) until every pod in namespace `list` carries the scheduler's
/// `PodScheduled` condition, then one more second for the trailing events.
fn wait_until_scheduler_answered(client: &mut ApiClient, pods: usize) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, body) = client.request("GET", "/api/v1/namespaces/list/pods", None);
        let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let answered = list["items"].as_array().unwrap().iter().filter(|p| p["status"]["conditions"].is_array()).count();
        if answered >= pods || Instant::now() > deadline {
            println!("{answered} of {pods} pods answered by the scheduler before the lists");
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(1));
}

#[derive(Default)]
struct Figures {
    creates_per_s: f64,
    get_p50: Duration,
    get_p99: Duration,
    get0_p50: Duration,
    get0_p99: Duration,
    list_10k: Duration,
    watch_p50: Duration,
    watch_p99: Duration,
    watch_arrived_p50: Duration,
    watch_arrived_p99: Duration,
    watch_missing: usize,
    rss_hot_kib: u64,
    cold_start: Duration,
    rss_cold_kib: u64,
    rss_after_list_kib: u64,
}

impl Figures {
    fn set_watch(&mut self, l: &Latencies) {
        if !l.read.is_empty() {
            (self.watch_p50, self.watch_p99) = (percentile(&l.read, 0.5), percentile(&l.read, 0.99));
        }
        if !l.arrived.is_empty() {
            (self.watch_arrived_p50, self.watch_arrived_p99) = (percentile(&l.arrived, 0.5), percentile(&l.arrived, 0.99));
        }
        self.watch_missing = l.missing;
    }
}

fn gets(client: &mut ApiClient, path: &str, n: usize) -> Vec<Duration> {
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let (code, _) = client.request("GET", path, None);
            assert_eq!(code, 200);
            t.elapsed()
        })
        .collect();
    samples.sort();
    samples
}

/// `IRONKUBE_BENCH_ONLY=rss`: the process's RSS while `pods` pods are created (peak of
/// samples every 250 ms), right after, once settled (10 s later, when the in-process
/// controllers and scheduler have taken them in), and 10 s after a cold start on them.
fn rss_while_filling(c: &mut Cluster, pki: &Path, pods: usize, label: &str) {
    c.ok(&["create", "namespace", "many"]);
    let pid = c.pid().unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (peak, took) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(250));
            }
            peak
        });
        let took = create_parallel(c.port, pki, CLIENTS, pods, "/api/v1/namespaces/many/pods", pod);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (sampler.join().unwrap(), took)
    });
    let after = rss_kib(pid);
    std::thread::sleep(Duration::from_secs(10));
    let settled = rss_kib(pid);
    c.stop();
    c.restart();
    std::thread::sleep(Duration::from_secs(10));
    let cold = rss_kib(c.pid().unwrap());
    println!(
        "[{label}] {pods} pods at {:.0}/s; RSS peak while creating {} MiB, right after {} MiB, settled {} MiB, 10 s after a cold start {} MiB",
        pods as f64 / took.as_secs_f64(),
        peak / 1024,
        after / 1024,
        settled / 1024,
        cold / 1024
    );
}

fn run(label: &str, flags: &[&str], pods: usize, watchers: usize) -> Figures {
    println!("[{label}] starting");
    // `IRONKUBE_BENCH_PROCESS=apiserver` measures the API server alone instead of the
    // all-in-one `up --no-kubelet` (its controllers and scheduler take in every pod).
    let mut c = match std::env::var("IRONKUBE_BENCH_PROCESS").as_deref() {
        Ok("apiserver") => Cluster::start_apiserver_with(flags),
        _ => Cluster::start_with(flags),
    };
    let pki: PathBuf = c.dir.path().join("pki");
    let mut f = Figures::default();
    if std::env::var("IRONKUBE_BENCH_ONLY").as_deref() == Ok("list") {
        let mut client = ApiClient::connect(c.port, &pki);
        let mut lists = list_10k(&c, &mut client, &pki, 31);
        lists.sort();
        f.list_10k = median(lists.clone());
        println!("[{label}] LIST 10,000 pods min {} p50 {} max {}", ms(lists[0]), ms(f.list_10k), ms(*lists.last().unwrap()));
        // What the garbage collector's metadata informer lists.
        let accept = [("Accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json")];
        let mut metadata_lists: Vec<Duration> = (0..31)
            .map(|_| {
                let t = Instant::now();
                let response = client.get_with_headers("/api/v1/namespaces/list/pods", &accept);
                let took = t.elapsed();
                assert_eq!(response.status, 200);
                assert!(response.body.len() > 10_000 * 200, "a metadata list of {} bytes", response.body.len());
                took
            })
            .collect();
        metadata_lists.sort();
        let p50 = median(metadata_lists.clone());
        println!("[{label}] LIST 10,000 pods as PartialObjectMetadataList min {} p50 {} max {}", ms(metadata_lists[0]), ms(p50), ms(*metadata_lists.last().unwrap()));
        return f;
    }
    if std::env::var("IRONKUBE_BENCH_ONLY").as_deref() == Ok("rss") {
        rss_while_filling(&mut c, &pki, pods, label);
        return f;
    }
    if std::env::var("IRONKUBE_BENCH_ONLY").as_deref() == Ok("watch") {
        let latencies = watch_latency(&c, &pki, watchers, watch_writes());
        f.set_watch(&latencies);
        for (what, samples) in [("read", &latencies.read), ("arrived", &latencies.arrived)] {
            if let Some(max) = samples.last() {
                let (p50, p90, p99) = (percentile(samples, 0.5), percentile(samples, 0.9), percentile(samples, 0.99));
                println!("[{label}] watch latency ({what}) p50 {} p90 {} p99 {} max {}", ms(p50), ms(p90), ms(p99), ms(*max));
            }
        }
        return f;
    }

    // Creates: 3 rounds of 6,400 ConfigMaps from 64 clients, each round in its own namespace.
    let rates: Vec<f64> = (0..3)
        .map(|round| {
            let ns = format!("create-{round}");
            c.ok(&["create", "namespace", &ns]);
            let total = 6400;
            let took = create_parallel(c.port, &pki, CLIENTS, total, &format!("/api/v1/namespaces/{ns}/configmaps"), configmap("cm"));
            total as f64 / took.as_secs_f64()
        })
        .collect();
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    f.creates_per_s = sorted[1];
    println!("[{label}] creates/s rounds: {rates:.0?}");
    if std::env::var("IRONKUBE_BENCH_ONLY").as_deref() == Ok("creates") {
        return f;
    }

    // GET one ConfigMap: consistent (no resourceVersion) and resourceVersion=0.
    let mut client = ApiClient::connect(c.port, &pki);
    let g = gets(&mut client, "/api/v1/namespaces/create-0/configmaps/cm-7", 2000);
    (f.get_p50, f.get_p99) = (percentile(&g, 0.5), percentile(&g, 0.99));
    let g = gets(&mut client, "/api/v1/namespaces/create-0/configmaps/cm-7?resourceVersion=0", 2000);
    (f.get0_p50, f.get0_p99) = (percentile(&g, 0.5), percentile(&g, 0.99));

    // LIST of 10,000 pods (consistent list).
    f.list_10k = median(list_10k(&c, &mut client, &pki, 11));

    // Watch delivery latency.
    f.set_watch(&watch_latency(&c, &pki, watchers, watch_writes()));

    // Fill up to `pods` pods, then memory and a cold start on that data.
    c.ok(&["create", "namespace", "many"]);
    let more = pods.saturating_sub(10_000);
    let took = create_parallel(c.port, &pki, CLIENTS, more, "/api/v1/namespaces/many/pods", pod);
    println!("[{label}] created {more} more pods at {:.0}/s", more as f64 / took.as_secs_f64());
    drop(client);
    f.rss_hot_kib = rss_kib(c.pid().unwrap());
    let colds: Vec<Duration> = (0..3)
        .map(|_| {
            c.stop();
            let t = Instant::now();
            c.restart();
            t.elapsed()
        })
        .collect();
    f.cold_start = median(colds);
    std::thread::sleep(Duration::from_secs(2));
    f.rss_cold_kib = rss_kib(c.pid().unwrap());
    let mut client = ApiClient::connect(c.port, &pki);
    let (code, body) = client.request("GET", "/api/v1/pods", None);
    assert_eq!(code, 200);
    assert!(body.len() > pods * 300);
    drop(body);
    f.rss_after_list_kib = rss_kib(c.pid().unwrap());
    f
}

fn main() {
    let bin = release_binary();
    let pods = env_usize("IRONKUBE_BENCH_PODS", 100_000);
    let watchers = env_usize("IRONKUBE_BENCH_WATCHERS", 1000);
    let modes = std::env::var("IRONKUBE_BENCH_MODES").unwrap_or_else(|_| "cache,nocache".into());
    let modes: Vec<&str> = modes.split(',').collect();
    let mut results = Vec::new();
    if modes.contains(&"cache") {
        results.push(("watch cache", run("watch cache", &[], pods, watchers)));
    }
    if modes.contains(&"nocache") {
        results.push(("no cache", run("no cache", &["--watch-cache=false"], pods, watchers)));
    }
    println!();
    println!("ironkube watch cache benchmark ({}, HTTPS, medians; {pods} pods, {watchers} watchers)", bin.display());
    print!("{:<58}", "");
    for (label, _) in &results {
        print!("{label:>22}");
    }
    println!();
    let row = |name: &str, cell: &dyn Fn(&Figures) -> String| {
        print!("{name:<58}");
        for (_, f) in &results {
            print!("{:>22}", cell(f));
        }
        println!();
    };
    row("ConfigMap creates/s, 64 clients (median of 3 x 6400)", &|f| format!("{:.0}/s", f.creates_per_s));
    row("GET ConfigMap p50 (consistent, 2000 requests)", &|f| ms(f.get_p50));
    row("GET ConfigMap p99 (consistent)", &|f| ms(f.get_p99));
    row("GET ConfigMap p50 (resourceVersion=0)", &|f| ms(f.get0_p50));
    row("GET ConfigMap p99 (resourceVersion=0)", &|f| ms(f.get0_p99));
    row("LIST 10,000 pods (consistent, median of 11)", &|f| ms(f.list_10k));
    row(&format!("watch latency ack->event read p50 ({} writes)", watch_writes()), &|f| ms(f.watch_p50));
    row("watch latency ack->event read p99", &|f| ms(f.watch_p99));
    row("watch latency ack->event arrived p50", &|f| ms(f.watch_arrived_p50));
    row("watch latency ack->event arrived p99", &|f| ms(f.watch_arrived_p99));
    row("watch events missing", &|f| f.watch_missing.to_string());
    row("RSS after creating the pods", &|f| format!("{} MiB", f.rss_hot_kib / 1024));
    row("cold start to /readyz with the pods (median of 3)", &|f| ms(f.cold_start));
    row("RSS after cold start", &|f| format!("{} MiB", f.rss_cold_kib / 1024));
    row("RSS after one LIST of all pods", &|f| format!("{} MiB", f.rss_after_list_kib / 1024));
}
