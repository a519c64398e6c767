//! Cluster DNS figures: the time to answer one question, in-process (`records::resolve`)
//! and over UDP from a client on 127.0.0.1, with 1000 ClusterIP Services and 100 headless
//! ones (5 endpoints each). Prints medians and 99th percentiles of sequential questions.
//!
//! `cargo bench -p ironkube-dns --bench queries`

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use ironkube_dns::forward::Upstreams;
use ironkube_dns::records;
use ironkube_dns::server::{Handler, Listeners};
use ironkube_dns::testing::{Data, service, slice, zone};
use serde_json::json;
use std::time::{Duration, Instant};

const CLUSTER_IP_SERVICES: usize = 1000;
const HEADLESS_SERVICES: usize = 100;
const QUESTIONS: usize = 20_000;

fn data() -> Data {
    let mut services = Vec::new();
    let mut slices = Vec::new();
    for i in 0..CLUSTER_IP_SERVICES {
        let ip = format!("10.96.{}.{}", i / 250, i % 250 + 1);
        services.push(service(json!({"metadata": {"name": format!("svc-{i}"), "namespace": "default"},
            "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": [{"name": "http", "port": 80}]}})));
        slices.push(slice(json!({"metadata": {"name": format!("svc-{i}-x"), "namespace": "default", "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
            "addressType": "IPv4", "endpoints": [{"addresses": [format!("10.244.{}.{}", i / 250, i % 250 + 1)]}], "ports": [{"name": "http", "port": 8080}]})));
    }
    for i in 0..HEADLESS_SERVICES {
        services.push(service(json!({"metadata": {"name": format!("db-{i}"), "namespace": "default"}, "spec": {"clusterIP": "None"}})));
        let endpoints: Vec<_> = (0..5).map(|e| json!({"addresses": [format!("10.245.{i}.{e}")], "hostname": format!("db-{e}")})).collect();
        slices.push(slice(json!({"metadata": {"name": format!("db-{i}-x"), "namespace": "default", "labels": {"kubernetes.io/service-name": format!("db-{i}")}},
            "addressType": "IPv4", "endpoints": endpoints})));
    }
    Data { namespaces: vec!["default"], services, slices, unsynced: false }
}

fn name(i: usize) -> Name {
    match i % 3 {
        0 | 1 => Name::from_ascii(format!("svc-{}.default.svc.cluster.local.", i % CLUSTER_IP_SERVICES)).unwrap(),
        _ => Name::from_ascii(format!("db-{}.default.svc.cluster.local.", i % HEADLESS_SERVICES)).unwrap(),
    }
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    println!("{what:<44} median {:>8.1} µs   p99 {:>8.1} µs   ({} questions)", median.as_secs_f64() * 1e6, p99.as_secs_f64() * 1e6, times.len());
}

fn main() {
    let zone = zone();
    let d = data();
    let times = (0..QUESTIONS)
        .map(|i| {
            let q = name(i);
            let start = Instant::now();
            std::hint::black_box(records::resolve(&d, &zone, &q, RecordType::A));
            start.elapsed()
        })
        .collect();
    report("records::resolve (in-process)", times);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = runtime.block_on(async {
        let listeners = Listeners::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listeners.local_addr().unwrap();
        tokio::spawn(listeners.serve(Handler::new(zone, data(), Upstreams::default()), std::future::pending()));
        addr
    });
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0; 4096];
    let times = (0..QUESTIONS)
        .map(|i| {
            let mut query = Message::query();
            query.add_query(Query::query(name(i), RecordType::A));
            let bytes = query.to_vec().unwrap();
            let start = Instant::now();
            socket.send_to(&bytes, server).unwrap();
            let (n, _) = socket.recv_from(&mut buf).expect("an answer");
            let elapsed = start.elapsed();
            assert!(!Message::from_vec(&buf[..n]).unwrap().answers.is_empty());
            elapsed
        })
        .collect();
    report("UDP question → answer (127.0.0.1)", times);
}
