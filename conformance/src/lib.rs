//! Conformance harness: starts a real `ironkube up --no-kubelet` on a free port with a
//! temporary data directory and drives it with stock clients (kubectl from `$KUBECTL`
//! or `PATH`, kube-rs, raw TLS).
//!
//! The `ironkube` binary is built once per test process (`cargo build --bin ironkube`),
//! so `cargo test --workspace` alone is enough.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

static BIN: OnceLock<PathBuf> = OnceLock::new();

/// Uses `bin` instead of building the debug binary (benchmarks use a release build).
pub fn set_bin(bin: &Path) {
    let _ = BIN.set(bin.to_path_buf());
}

/// Path of the `ironkube` binary, built on first use.
pub fn ironkube_bin() -> &'static Path {
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("IRONKUBE_BIN") {
            return PathBuf::from(bin);
        }
        let root = workspace_root();
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--quiet", "--bin", "ironkube"])
            .current_dir(&root)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --bin ironkube failed");
        let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
        target.join("debug/ironkube")
    })
}

/// The kubectl to test with.
pub fn kubectl_bin() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into())
}

/// How long `assert_eventually!` waits (env `IRONKUBE_TEST_PATIENCE_SECS`, default 20).
pub fn patience() -> Duration {
    Duration::from_secs(std::env::var("IRONKUBE_TEST_PATIENCE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20))
}

/// Retries a condition until it holds or patience runs out; panics with the last value.
#[macro_export]
macro_rules! assert_eventually {
    ($cond:expr, $($msg:tt)+) => {{
        let deadline = std::time::Instant::now() + $crate::patience();
        loop {
            if $cond {
                break;
            }
            if std::time::Instant::now() > deadline {
                panic!($($msg)+);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }};
}

/// A running ironkube.
pub struct Cluster {
    child: Option<Child>,
    /// Data directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The HTTPS port.
    pub port: u16,
    /// Everything the server printed to stdout so far (all runs).
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Extra `ironkube up` flags (kept across restarts).
    extra_args: Vec<String>,
}

impl Cluster {
    /// Starts `ironkube up --no-kubelet` on a free port.
    pub fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    /// Starts `ironkube up --no-kubelet` with extra flags (e.g. a short
    /// `--node-monitor-grace-period`).
    pub fn start_with(extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let extra_args = extra.iter().map(|s| s.to_string()).collect();
        let mut cluster = Cluster { child: None, dir, kubeconfig, port: 0, stdout: Default::default(), extra_args };
        cluster.spawn(0);
        cluster
    }

    fn spawn(&mut self, port: u16) {
        let mut child = Command::new(ironkube_bin())
            .args(["up", "--no-kubelet", "--bind-address", "127.0.0.1", "--secure-port", &port.to_string(), "--data-dir"])
            .arg(self.dir.path())
            .args(&self.extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ironkube");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = lines.next().expect("ironkube exited before it was ready").expect("read stdout");
            self.stdout.lock().unwrap().push(line.clone());
            if let Some(url) = line.trim().strip_prefix("API ready") {
                let url = url.split_whitespace().next().unwrap_or_default();
                self.port = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in the API ready line");
                break;
            }
            assert!(Instant::now() < deadline, "ironkube did not become ready");
        }
        // Keep draining stdout (the child must never block on a full pipe), and keep it
        // for failure messages.
        let log = self.stdout.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        });
        self.child = Some(child);
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY-free: signalling through the `kill` command keeps the crate free of unsafe.
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts on the same data directory and port.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        self.spawn(port);
    }

    /// Runs kubectl with this cluster's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_input(args, None)
    }

    /// Runs kubectl with `input` on stdin.
    pub fn kubectl_with_input(&self, args: &[&str], input: Option<&str>) -> Output {
        let mut child = Command::new(kubectl_bin())
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("kubecache"))
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} (set KUBECTL or install kubectl 1.35): {e}", kubectl_bin()));
        if let Some(input) = input {
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs kubectl and returns stdout, panicking with stderr on failure.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        if !out.status.success() {
            let state = match self.child.as_ref() {
                Some(child) => match std::fs::metadata(format!("/proc/{}", child.id())) {
                    Ok(_) => "server process alive",
                    Err(_) => "server process gone",
                },
                None => "no server process",
            };
            let log = self.stdout.lock().unwrap();
            let tail = log[log.len().saturating_sub(8)..].join("\n");
            panic!("kubectl {} failed ({state}):\n{}\nserver output:\n{tail}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl with stdin and returns stdout, panicking with stderr on failure.
    #[track_caller]
    pub fn ok_with_input(&self, args: &[&str], input: &str) -> String {
        let out = self.kubectl_with_input(args, Some(input));
        assert!(out.status.success(), "kubectl {} failed:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(!out.status.success(), "kubectl {} unexpectedly succeeded:\n{}", args.join(" "), String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `kubectl get --raw <path>` parsed as JSON.
    #[track_caller]
    pub fn raw(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["get", "--raw", path])).expect("JSON from --raw")
    }

    /// Path of the upstream reference data, if this checkout sits beside `shared/`.
    pub fn reference_dir() -> Option<PathBuf> {
        let dir = workspace_root().join("../shared/reference/k8s-v1.35");
        dir.exists().then_some(dir)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal HTTP/1.1 keep-alive client over TLS with the admin client certificate.
pub struct ApiClient {
    stream: BufReader<openssl::ssl::SslStream<std::net::TcpStream>>,
}

impl ApiClient {
    /// Connects to `port` with the admin certificate from `pki`.
    pub fn connect(port: u16, pki: &Path) -> ApiClient {
        let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client()).unwrap();
        b.set_ca_file(pki.join("ca.crt")).unwrap();
        b.set_certificate_file(pki.join("admin.crt"), openssl::ssl::SslFiletype::PEM).unwrap();
        b.set_private_key_file(pki.join("admin.key"), openssl::ssl::SslFiletype::PEM).unwrap();
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_nodelay(true).unwrap();
        let stream = b.build().connect("localhost", tcp).unwrap();
        ApiClient { stream: BufReader::new(stream) }
    }

    /// Sends one request; returns the status code and body (panics on I/O errors).
    pub fn request(&mut self, method: &str, path: &str, body: Option<&str>) -> (u16, Vec<u8>) {
        self.try_request(method, path, body).expect("request")
    }

    /// Sends one request; I/O errors (e.g. the server died) are returned.
    pub fn try_request(&mut self, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, Vec<u8>)> {
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.get_mut().write_all(req.as_bytes())?;
        let mut status = String::new();
        if self.stream.read_line(&mut status)? == 0 {
            return Err(bad("connection closed"));
        }
        let code: u16 = status.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| bad("bad status line"))?;
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(bad("connection closed"));
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().map_err(|_| bad("bad content-length"))?;
            }
        }
        let mut buf = vec![0; len];
        self.stream.read_exact(&mut buf)?;
        Ok((code, buf))
    }
}
