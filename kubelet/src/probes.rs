//! Container probes (exec, httpGet, tcpSocket, grpc health) and their bookkeeping with
//! upstream timing fields (`pkg/kubelet/prober/worker.go`): initialDelaySeconds,
//! periodSeconds, timeoutSeconds, successThreshold, failureThreshold.

use crate::cri::{Cri, api};
use k8s_openapi::api::core::v1::Probe;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// livenessProbe.
    Liveness,
    /// readinessProbe.
    Readiness,
    /// startupProbe.
    Startup,
}

impl Kind {
    /// The word upstream uses in events ("Liveness probe failed: ...").
    pub fn word(self) -> &'static str {
        match self {
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
            Kind::Startup => "Startup",
        }
    }
}

/// The running tally of one probe on one container.
#[derive(Clone, Debug)]
pub struct Tally {
    next: Instant,
    successes: i32,
    failures: i32,
    /// The current verdict.
    pub ok: bool,
}

impl Tally {
    /// A new tally for a container started at `started`; readiness starts false, liveness
    /// and startup start "not failed".
    pub fn new(kind: Kind, probe: &Probe, started: Instant) -> Tally {
        let delay = Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        Tally { next: started + delay, successes: 0, failures: 0, ok: kind == Kind::Liveness }
    }

    /// Whether the probe is due.
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Time until the probe is due.
    pub fn until(&self, now: Instant) -> Duration {
        self.next.saturating_duration_since(now)
    }

    /// Records a result; returns true when the verdict flipped.
    pub fn record(&mut self, probe: &Probe, success: bool, now: Instant) -> bool {
        self.next = now + Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
        let before = self.ok;
        if success {
            self.failures = 0;
            self.successes += 1;
            if self.successes >= probe.success_threshold.unwrap_or(1).max(1) {
                self.ok = true;
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            if self.failures >= probe.failure_threshold.unwrap_or(3).max(1) {
                self.ok = false;
            }
        }
        before != self.ok
    }

    /// Forgets the failure count (after a liveness restart).
    pub fn reset_failures(&mut self) {
        self.failures = 0;
    }
}

/// What probes call themselves (upstream `kube-probe/<major>.<minor>`).
const USER_AGENT: &str = "kube-probe/1.35";

fn port(p: &IntOrString, ports: &[k8s_openapi::api::core::v1::ContainerPort]) -> Result<u16, String> {
    match p {
        IntOrString::Int(i) => u16::try_from(*i).map_err(|_| format!("invalid port {i}")),
        IntOrString::String(name) => ports
            .iter()
            .find(|cp| cp.name.as_deref() == Some(name))
            .and_then(|cp| u16::try_from(cp.container_port).ok())
            .ok_or_else(|| format!("couldn't find port {name}")),
    }
}

/// Runs one probe against a container; Ok on success, Err with the output on failure.
pub async fn run(cri: &Cri, probe: &Probe, container_id: &str, pod_ip: &str, ports: &[k8s_openapi::api::core::v1::ContainerPort]) -> Result<(), String> {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(exec) = &probe.exec {
        let req = api::ExecSyncRequest { container_id: container_id.into(), cmd: exec.command.clone().unwrap_or_default(), timeout: timeout.as_secs() as i64 };
        let r = tokio::time::timeout(timeout + Duration::from_secs(1), cri.runtime.clone().exec_sync(req))
            .await
            .map_err(|_| format!("command timed out after {}s", timeout.as_secs()))?
            .map_err(|e| e.message().to_string())?
            .into_inner();
        if r.exit_code == 0 {
            return Ok(());
        }
        let out = String::from_utf8_lossy(&[r.stdout, r.stderr].concat()).into_owned();
        return Err(if out.is_empty() { format!("command terminated with exit code {}", r.exit_code) } else { out });
    }
    let host = |h: &Option<String>| h.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_ip.to_string());
    if let Some(t) = &probe.tcp_socket {
        let addr = format!("{}:{}", host(&t.host), port(&t.port, ports)?);
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("dial tcp {addr}: {e}")),
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
        };
    }
    if let Some(h) = &probe.http_get {
        if h.scheme.as_deref() == Some("HTTPS") {
            return Err("HTTPS probes are not supported by the ironkube kubelet yet".into());
        }
        let addr = format!("{}:{}", host(&h.host), port(&h.port, ports)?);
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        let headers: String = h.http_headers.iter().flatten().map(|hd| format!("{}: {}\r\n", hd.name, hd.value)).collect();
        let get = async {
            let mut s = tokio::net::TcpStream::connect(&addr).await.map_err(|e| format!("Get \"http://{addr}{path}\": {e}"))?;
            let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n{headers}Connection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
            let line = String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string();
            let code: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("malformed HTTP response {line:?}"))?;
            if (200..400).contains(&code) { Ok(()) } else { Err(format!("HTTP probe failed with statuscode: {code}")) }
        };
        return tokio::time::timeout(timeout, get).await.unwrap_or_else(|_| Err(format!("Get \"http://{addr}{path}\": context deadline exceeded")));
    }
    if let Some(g) = &probe.grpc {
        let port = u16::try_from(g.port).map_err(|_| format!("invalid port {}", g.port))?;
        return grpc_health(pod_ip, port, g.service.as_deref().unwrap_or_default(), timeout).await;
    }
    Err("probe has no handler".into())
}

/// A gRPC probe (upstream `pkg/probe/grpc`): `grpc.health.v1.Health/Check` for `service`
/// at `host:port` over plain HTTP/2; success only when the answer is SERVING. Like
/// upstream (which dials with `WithBlock`), connection failures are retried until
/// `timeout`; the failure texts are upstream's.
pub async fn grpc_health(host: &str, port: u16, service: &str, timeout: Duration) -> Result<(), String> {
    use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest};
    let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let within = go_duration(timeout);
    let connected = std::sync::atomic::AtomicBool::new(false);
    let attempt = async {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("error: failed to connect service at \"{addr}\": {e}"))?
            .user_agent(USER_AGENT)
            .map_err(|e| e.to_string())?;
        loop {
            let Ok(channel) = endpoint.connect().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let reply = HealthClient::new(channel).check(HealthCheckRequest { service: service.to_string() }).await;
            let status = match reply {
                Ok(r) => {
                    let r = r.into_inner();
                    return match ServingStatus::try_from(r.status) {
                        Ok(ServingStatus::Serving) => Ok(()),
                        Ok(other) => Err(format!("service unhealthy (responded with \"{}\")", other.as_str_name())),
                        Err(_) => Err(format!("service unhealthy (responded with \"{}\")", r.status)),
                    };
                }
                Err(status) => status,
            };
            // An error made on our side from a broken connection (no gRPC server there):
            // not connected yet, as upstream's blocking dial sees it.
            if std::error::Error::source(&status).is_some() && !matches!(status.code(), tonic::Code::DeadlineExceeded) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            connected.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(match status.code() {
                tonic::Code::Unimplemented => format!("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}", status.message()),
                tonic::Code::DeadlineExceeded => format!("timeout: health rpc did not complete within {within}"),
                code => format!("error: health rpc probe failed: rpc error: code = {code:?} desc = {}", status.message()),
            });
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) if connected.load(std::sync::atomic::Ordering::Relaxed) => Err(format!("timeout: health rpc did not complete within {within}")),
        Err(_) => Err(format!("timeout: failed to connect service \"{addr}\" within {within}: context deadline exceeded")),
    }
}

/// A whole-second duration as Go prints it (`1s`, `1m30s`, `1h0m0s`).
fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    /// A tonic-health server on a free local port; its reporter.
    async fn health_server() -> (u16, tonic_health::server::HealthReporter) {
        let (reporter, service) = tonic_health::server::health_reporter();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(tonic::transport::Server::builder().add_service(service).serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)));
        (port, reporter)
    }

    #[tokio::test]
    async fn grpc_probe_success_only_when_serving() {
        let (port, reporter) = health_server().await;
        let t = Duration::from_secs(5);
        // The overall service ("") serves by default.
        assert_eq!(grpc_health("127.0.0.1", port, "", t).await, Ok(()));
        reporter.set_service_status("shop", tonic_health::ServingStatus::Serving).await;
        assert_eq!(grpc_health("127.0.0.1", port, "shop", t).await, Ok(()));
        reporter.set_service_status("shop", tonic_health::ServingStatus::NotServing).await;
        assert_eq!(grpc_health("127.0.0.1", port, "shop", t).await, Err("service unhealthy (responded with \"NOT_SERVING\")".into()));
        let unknown = grpc_health("127.0.0.1", port, "nope", t).await.unwrap_err();
        assert!(unknown.starts_with("error: health rpc probe failed: rpc error: code = NotFound"), "{unknown}");
    }

    #[tokio::test]
    async fn grpc_probe_against_a_non_grpc_port_times_out_connecting() {
        // An HTTP/1.1 server that answers anything with 400, like busybox httpd.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
            }
        });
        let e = grpc_health("127.0.0.1", port, "", Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(e, format!("timeout: failed to connect service \"127.0.0.1:{port}\" within 1s: context deadline exceeded"));
    }

    #[test]
    fn thresholds_flip_verdicts() {
        let p = Probe { failure_threshold: Some(2), period_seconds: Some(1), ..Default::default() };
        let t0 = Instant::now();
        let mut t = Tally::new(Kind::Liveness, &p, t0);
        assert!(t.ok && t.due(t0));
        assert!(!t.record(&p, false, t0));
        assert!(t.record(&p, false, t0));
        assert!(!t.ok);
        let mut r = Tally::new(Kind::Readiness, &p, t0);
        assert!(!r.ok);
        assert!(r.record(&p, true, t0));
    }
}
