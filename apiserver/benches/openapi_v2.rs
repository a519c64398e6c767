//! What `/openapi/v2` costs to build: the JSON document, then the gnostic protobuf form
//! derived from it (built only when a client first asks for protobuf, never at start).
//!
//! `cargo bench -p ironkube-apiserver --bench openapi_v2` (release), or in the debug
//! profile: `cargo test -p ironkube-apiserver --bench openapi_v2`. Prints medians over
//! fresh builds; `OPENAPI_BENCH_ROUNDS` sets the number of rounds (default 7).

use ironkube_apiserver::openapi::OpenApi;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("OPENAPI_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(7).max(1);
    let (mut json_times, mut proto_times) = (Vec::new(), Vec::new());
    let (mut json_len, mut proto_len) = (0, 0);
    for _ in 0..rounds {
        let api = OpenApi::new();
        let t = Instant::now();
        json_len = api.v2().len();
        json_times.push(t.elapsed());
        let t = Instant::now();
        proto_len = api.v2_protobuf().len();
        proto_times.push(t.elapsed());
    }
    let (json, proto) = (median(json_times), median(proto_times));
    println!("openapi v2 over {rounds} rounds (medians):");
    println!("  JSON document:             {json_len:>9} bytes, built in {json:?}");
    println!("  protobuf (extra, from it): {proto_len:>9} bytes, built in {proto:?} ({:.2}x the JSON build)", proto.as_secs_f64() / json.as_secs_f64());
}
