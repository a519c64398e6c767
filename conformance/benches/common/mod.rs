//! Helpers shared by the benchmarks: the release binary, percentiles, RSS, readiness.

pub mod arrival;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Builds the release `ironkube` once and makes the harness start it; `IRONKUBE_BIN`
/// names a binary to use instead (no build; the report then is not a release figure
/// unless that binary is one).
pub fn release_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("IRONKUBE_BIN") {
        let bin = PathBuf::from(bin);
        ironkube_conformance::set_bin(&bin);
        return bin;
    }
    let root = ironkube_conformance::workspace_root();
    assert!(Command::new("cargo").args(["build", "--release", "--quiet", "--bin", "ironkube"]).current_dir(&root).status().unwrap().success());
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    let bin = target.join("release/ironkube");
    ironkube_conformance::set_bin(&bin);
    bin
}

/// The `p` quantile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The median of unsorted samples.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    percentile(&samples, 0.5)
}

/// Milliseconds with three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Resident set size of a process.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// CPU time (user + system) a process has used so far: the sum of its threads'
/// `/proc/<pid>/task/*/schedstat` (nanoseconds), or for this process (`None`) `getrusage`
/// (microseconds; no file per thread to read when the bench runs 1,000 watcher threads).
pub fn cpu_time(pid: Option<u32>) -> Duration {
    let Some(pid) = pid else {
        use nix::sys::resource::{UsageWho, getrusage};
        let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
        let micros = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
        return micros(usage.user_time()) + micros(usage.system_time());
    };
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
    let ns: u64 = threads
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

/// Time the machine's CPUs spent idle and stolen by the hypervisor so far (`/proc/stat`,
/// clock ticks of 10 ms).
pub fn idle_and_steal() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let ticks = |i: usize| Duration::from_millis(cpu.get(i).copied().unwrap_or(0) * 10);
    (ticks(3) + ticks(4), ticks(7))
}

/// A free local port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `/readyz` over TLS until it answers 200; returns how long that took.
pub fn wait_ready(port: u16, since: Instant) -> Duration {
    let connector = ironkube_conformance::tls_connector(None, None);
    loop {
        if let Ok((200, _)) = ironkube_conformance::tls_get(&connector, port, "/readyz") {
            return since.elapsed();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
