//! Conformance harness: starts a real `ironkube up --no-kubelet` on a free port with a
//! temporary data directory and drives it with stock clients (kubectl from `$KUBECTL`
//! or `PATH`, kube-rs, raw TLS).
//!
//! The `ironkube` binaries (`ironkube`, and `ironkube-kubelet`, the kubelet alone) are built
//! once per test process (`cargo build --bin ironkube --bin ironkube-kubelet`), so `cargo
//! test --workspace` alone is enough.

pub mod etcd;

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

/// Path of the `ironkube` binary, built on first use (with `ironkube-kubelet` beside it).
pub fn ironkube_bin() -> &'static Path {
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("IRONKUBE_BIN") {
            return PathBuf::from(bin);
        }
        let root = workspace_root();
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--quiet", "--bin", "ironkube", "--bin", "ironkube-kubelet"])
            .current_dir(&root)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --bin ironkube --bin ironkube-kubelet failed");
        let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
        target.join("debug/ironkube")
    })
}

/// Path of the kubelet-only binary, `ironkube-kubelet`, beside [`ironkube_bin`] (with
/// `IRONKUBE_BIN`, the one in the same directory).
pub fn kubelet_only_bin() -> PathBuf {
    ironkube_bin().with_file_name("ironkube-kubelet")
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

/// A node run by the cluster's kubelet (see [`Cluster::start_with_kubelet`]).
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The Node name.
    pub name: String,
    /// The node's pod CIDR (unique among the clusters of this process).
    pub pod_cidr: String,
    /// The cluster's Service CIDR (unique like the pod CIDR).
    pub service_cidr: String,
    /// kube-proxy's iptables chain prefix (unique like the pod CIDR).
    pub chain_prefix: String,
}

/// Why a kubelet cluster cannot run here (the test should skip with this message).
pub fn kubelet_unavailable() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(str::to_string)));
    if uid.as_deref() != Some("0") {
        return Some("not root".into());
    }
    for bin in ["containerd", "ctr", "runc"] {
        let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()));
        if !found {
            return Some(format!("{bin} is not installed (apt-get install containerd runc containernetworking-plugins)"));
        }
    }
    if !Path::new("/usr/lib/cni/bridge").exists() {
        return Some("CNI plugins are not installed in /usr/lib/cni (apt-get install containernetworking-plugins)".into());
    }
    if !Path::new("/bin/busybox").exists() {
        return Some("/bin/busybox is missing (apt-get install busybox-static)".into());
    }
    None
}

/// A running ironkube.
pub struct Cluster {
    child: Option<Child>,
    /// The node, when the cluster runs a kubelet.
    pub node: Option<NodeInfo>,
    /// Data directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The HTTPS port.
    pub port: u16,
    /// Everything the server printed to stdout so far (all runs).
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The `ironkube` subcommand and flags the server runs with.
    mode: &'static [&'static str],
    /// Flags added on every (re)start, e.g. `--etcd-servers=...`.
    extra_args: Vec<String>,
}

impl Cluster {
    /// Starts `ironkube up --no-kubelet` on a free port.
    pub fn start() -> Cluster {
        Self::start_mode(&["up", "--no-kubelet"], &[])
    }

    /// Starts `ironkube up --no-kubelet` on a free port with `extra_args` added.
    pub fn start_with(extra_args: &[&str]) -> Cluster {
        Self::start_mode(&["up", "--no-kubelet"], extra_args)
    }

    /// Starts `ironkube apiserver` only (no controllers): for tests that run controller
    /// processes themselves.
    pub fn start_apiserver_only() -> Cluster {
        Self::start_mode(&["apiserver"], &[])
    }

    /// [`Cluster::start_apiserver_only`] with `extra_args` added.
    pub fn start_apiserver_with(extra_args: &[&str]) -> Cluster {
        Self::start_mode(&["apiserver"], extra_args)
    }

    fn start_mode(mode: &'static [&'static str], extra_args: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let extra_args = extra_args.iter().map(|a| a.to_string()).collect();
        let mut cluster = Cluster { child: None, node: None, dir, kubeconfig, port: 0, stdout: Default::default(), mode, extra_args };
        cluster.spawn(0);
        cluster
    }

    /// Starts `ironkube up` with its kubelet and containerd (root only), with a node name,
    /// pod CIDR and bridge of its own so several run side by side; waits for the node to
    /// be Ready. Returns None (after printing why) where pods cannot run.
    pub fn start_with_kubelet() -> Option<Cluster> {
        Self::start_with_kubelet_and(&[])
    }

    /// [`Cluster::start_with_kubelet`] with `extra_args` added to `ironkube up`.
    pub fn start_with_kubelet_and(extra_args: &[&str]) -> Option<Cluster> {
        if let Some(why) = kubelet_unavailable() {
            eprintln!("skipping: a kubelet cluster needs root and containerd: {why}");
            return None;
        }
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Spread processes over 10.244.2-251.0/24 so parallel test binaries rarely meet.
        let octet = 2 + (std::process::id().wrapping_mul(7).wrapping_add(n * 13)) % 250;
        let node = NodeInfo {
            name: format!("node-{}-{n}", std::process::id()),
            pod_cidr: format!("10.244.{octet}.0/24"),
            service_cidr: format!("10.96.{octet}.0/24"),
            chain_prefix: format!("IK{octet}"),
        };
        let dir = tempfile::Builder::new().prefix("ik").tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let mut cluster = Cluster { child: None, node: Some(node), dir, kubeconfig, port: 0, stdout: Default::default(), mode: &["up"], extra_args: extra_args.iter().map(|a| a.to_string()).collect() };
        cluster.spawn(0);
        Some(cluster)
    }

    /// The node name (kubelet clusters only).
    pub fn node_name(&self) -> &str {
        self.node.as_ref().map(|n| n.name.as_str()).expect("a cluster started with a kubelet")
    }

    fn spawn(&mut self, port: u16) {
        let mut cmd = Command::new(ironkube_bin());
        cmd.args(self.mode).args(["--bind-address", "127.0.0.1", "--secure-port", &port.to_string()]);
        if let Some(node) = &self.node {
            cmd.args(["--hostname-override", &node.name, "--pod-cidr", &node.pod_cidr, "--kubelet-port", "0", "--dns-port", "0"]);
            // kube-proxy programs the host's iptables: clusters side by side keep to their
            // own chains and ClusterIP ranges.
            cmd.args(["--iptables-chain-prefix", &node.chain_prefix, "--service-cluster-ip-range", &node.service_cidr]);
        }
        // Kubelet clusters pass the data dir relative to the working directory, as the
        // README's plain `ironkube up` does (its default is `.ironkube`): containerd and
        // hostPath volumes must still get absolute paths.
        let data_dir = match (&self.node, self.dir.path().parent(), self.dir.path().file_name()) {
            (Some(_), Some(parent), Some(name)) => {
                cmd.current_dir(parent);
                PathBuf::from(name)
            }
            _ => self.dir.path().to_path_buf(),
        };
        let mut child = cmd
            .arg("--data-dir")
            .arg(&data_dir)
            .args(&self.extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ironkube");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let wants_node = self.node.is_some();
        loop {
            let line = lines.next().expect("ironkube exited before it was ready").expect("read stdout");
            self.stdout.lock().unwrap().push(line.clone());
            if let Some(url) = line.trim().strip_prefix("API ready") {
                let url = url.split_whitespace().next().unwrap_or_default();
                self.port = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in the API ready line");
                if !wants_node {
                    break;
                }
            }
            if line.trim().starts_with("node Ready") {
                break;
            }
            assert!(!line.trim().starts_with("kubelet ") || !wants_node, "the kubelet did not start: {line}");
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
        // A node stops its pods and containerd first.
        let deadline = Instant::now() + Duration::from_secs(if self.node.is_some() { 40 } else { 10 });
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

    /// Kills the server with SIGKILL (a crash: the kubelet cleans nothing up) and starts
    /// it again on the same data directory and port.
    pub fn crash_and_restart(&mut self) {
        self.kill();
        let port = self.port;
        self.spawn(port);
    }

    /// Restarts on the same data directory and port.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        self.spawn(port);
    }

    /// Kubelet-less stand-in for a kubelet's report: marks the pods `Running` with a true
    /// `Ready` condition through the `pods/status` subresource (stock `kubectl patch
    /// --subresource=status`). There is no scheduler either, so the pods stay unbound.
    #[track_caller]
    pub fn mark_pods_ready(&self, names: &[&str]) {
        let status = r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2020-01-01T00:00:00Z"}]}}"#;
        for name in names {
            self.ok(&["patch", "pod", name, "--subresource=status", "--type=merge", "-p", status]);
        }
    }

    /// Marks pods terminated through `pods/status` as a kubelet would when their (first)
    /// container exits: phase `Succeeded` for exit code 0, else `Failed`, with the
    /// container's terminated state (for `podFailurePolicy` exit-code rules).
    #[track_caller]
    pub fn mark_pods_finished(&self, names: &[&str], exit_code: i32) {
        let phase = if exit_code == 0 { "Succeeded" } else { "Failed" };
        let reason = if exit_code == 0 { "Completed" } else { "Error" };
        for name in names {
            let container = self.ok(&["get", "pod", name, "-o", "jsonpath={.spec.containers[0].name}"]);
            let status = serde_json::json!({"status": {
                "phase": phase,
                "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": "2020-01-01T00:00:00Z"}],
                "containerStatuses": [{"name": container, "image": "unused", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": exit_code, "reason": reason}}}],
            }});
            self.ok(&["patch", "pod", name, "--subresource=status", "--type=merge", "-p", &status.to_string()]);
        }
    }

    /// Waits until the root-ca-cert-publisher has put `kube-root-ca.crt` into `namespace`
    /// (every namespace gets one, as upstream): for tests that count or watch a
    /// namespace's ConfigMaps.
    #[track_caller]
    pub fn wait_for_root_ca(&self, namespace: &str) {
        crate::assert_eventually!(
            self.kubectl(&["get", "configmap", "kube-root-ca.crt", "-n", namespace]).status.success(),
            "kube-root-ca.crt was not published in {namespace}"
        );
    }

    /// Names of the pods matching `selector` (`-l`), in the default namespace.
    #[track_caller]
    pub fn pod_names(&self, selector: &str) -> Vec<String> {
        self.ok(&["get", "pods", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"]).split_whitespace().map(String::from).collect()
    }

    /// Runs kubectl with this cluster's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_input(args, None)
    }

    /// Runs kubectl authenticating with a bearer `token` only (no client certificate).
    pub fn kubectl_with_token(&self, token: &str, args: &[&str]) -> Output {
        let empty = self.dir.path().join("empty.kubeconfig");
        std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").expect("write an empty kubeconfig");
        let ca = self.dir.path().join("pki/ca.crt");
        let server = format!("https://127.0.0.1:{}", self.port);
        let mut all = vec!["--kubeconfig", empty.to_str().expect("utf-8 path"), "--server", &server, "--certificate-authority", ca.to_str().expect("utf-8 path"), "--token", token];
        all.extend_from_slice(args);
        self.kubectl(&all)
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
        if self.node.is_some() {
            // SIGTERM so the node removes its pods, network and containerd.
            self.stop();
        } else {
            self.kill();
        }
    }
}

/// A TLS connector for raw requests: trusts the CA certificate `ca` (with `None` it
/// verifies nothing, for probes that only need an answer) and presents the client
/// certificate and key `client` when given.
pub fn tls_connector(ca: Option<&Path>, client: Option<(&Path, &Path)>) -> openssl::ssl::SslConnector {
    let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client()).unwrap();
    match ca {
        Some(ca) => b.set_ca_file(ca).unwrap(),
        None => b.set_verify(openssl::ssl::SslVerifyMode::NONE),
    }
    if let Some((certificate, key)) = client {
        b.set_certificate_file(certificate, openssl::ssl::SslFiletype::PEM).unwrap();
        b.set_private_key_file(key, openssl::ssl::SslFiletype::PEM).unwrap();
    }
    b.build()
}

/// A TLS connector that trusts the cluster CA in `pki` and presents the admin client
/// certificate.
pub fn admin_connector(pki: &Path) -> openssl::ssl::SslConnector {
    tls_connector(Some(&pki.join("ca.crt")), Some((&pki.join("admin.crt"), &pki.join("admin.key"))))
}

/// A TLS connection as the admin to `127.0.0.1:port` (no Nagle delay), over `wrap(tcp)`.
pub fn admin_tls<S: Read + Write + std::fmt::Debug>(port: u16, pki: &Path, wrap: impl FnOnce(std::net::TcpStream) -> S) -> openssl::ssl::SslStream<S> {
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_nodelay(true).unwrap();
    admin_connector(pki).connect("localhost", wrap(tcp)).unwrap()
}

/// `GET path` from `127.0.0.1:port` on a new TLS connection made by `connector`, with
/// `Connection: close`: the status code and the body as sent (not de-chunked). Connection
/// and TLS errors are returned; an answer that does not parse has status 0.
pub fn tls_get(connector: &openssl::ssl::SslConnector, port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    let mut tls = connector.connect("127.0.0.1", tcp).map_err(std::io::Error::other)?;
    write!(tls, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    // A server closing without TLS close_notify still gave its whole answer.
    let _ = tls.read_to_string(&mut answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

/// A minimal HTTP/1.1 keep-alive client over TLS with the admin client certificate, over a
/// TCP stream or a wrapper of one (a benchmark's timestamping reader, say).
pub struct ApiClient<S = std::net::TcpStream> {
    stream: BufReader<openssl::ssl::SslStream<S>>,
}

impl ApiClient {
    /// Connects to `port` with the admin certificate from `pki`.
    pub fn connect(port: u16, pki: &Path) -> ApiClient {
        ApiClient::connect_over(port, pki, |tcp| tcp)
    }
}

impl<S: Read + Write + std::fmt::Debug> ApiClient<S> {
    /// Connects to `port` like [`ApiClient::connect`], with TLS over `wrap(tcp)`.
    pub fn connect_over(port: u16, pki: &Path, wrap: impl FnOnce(std::net::TcpStream) -> S) -> ApiClient<S> {
        ApiClient { stream: BufReader::new(admin_tls(port, pki, wrap)) }
    }

    /// Sends one request; returns the status code and body (panics on I/O errors).
    pub fn request(&mut self, method: &str, path: &str, body: Option<&str>) -> (u16, Vec<u8>) {
        self.try_request(method, path, body).expect("request")
    }

    /// Sends one request; I/O errors (e.g. the server died) are returned.
    pub fn try_request(&mut self, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, Vec<u8>)> {
        self.try_request_as(method, path, "application/json", body)
    }

    /// Sends one request with the body's `Content-Type` (e.g. a patch type).
    pub fn request_as(&mut self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Vec<u8>) {
        self.try_request_as(method, path, content_type, Some(body)).expect("request")
    }

    fn try_request_as(&mut self, method: &str, path: &str, content_type: &str, body: Option<&str>) -> std::io::Result<(u16, Vec<u8>)> {
        let extra = [("Content-Type", content_type)];
        self.exchange(method, path, &extra, body).map(|r| (r.status, r.body))
    }

    /// `GET path` with extra request headers (e.g. `Accept`, `If-None-Match`); the answer
    /// with its headers (names lower-cased).
    pub fn get_with_headers(&mut self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.exchange("GET", path, headers, None).expect("request")
    }

    fn exchange(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> std::io::Result<HttpResponse> {
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let body = body.unwrap_or("");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.stream.get_mut().write_all(req.as_bytes())?;
        let mut status = String::new();
        if self.stream.read_line(&mut status)? == 0 {
            return Err(bad("connection closed"));
        }
        let code: u16 = status.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| bad("bad status line"))?;
        let mut len = 0usize;
        let mut response_headers = Vec::new();
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(bad("connection closed"));
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
                if name == "content-length" {
                    len = value.parse().map_err(|_| bad("bad content-length"))?;
                }
                response_headers.push((name, value));
            }
        }
        let mut buf = vec![0; len];
        self.stream.read_exact(&mut buf)?;
        Ok(HttpResponse { status: code, headers: response_headers, body: buf })
    }
}

/// One HTTP answer read by [`ApiClient`].
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}
