//! Real etcd for tests: `/usr/bin/etcd` (Debian's etcd-server) started on free loopback
//! ports with temporary data directories, one member or several, stopped on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The etcd binary the tests use.
pub const ETCD_BIN: &str = "/usr/bin/etcd";

/// etcd's request limit in tests: room for a value of the storage's 1.5 MiB cap plus its
/// key and the transaction around it (etcd's default is exactly 1.5 MiB).
pub const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

/// Whether etcd is installed; tests that need it print why they skip when it is not.
pub fn etcd_available() -> bool {
    Path::new(ETCD_BIN).exists()
}

/// One running member.
struct Member {
    name: String,
    client_url: String,
    child: Option<Child>,
}

/// Certificates for an etcd that serves its clients over TLS and requires client
/// certificates (`--client-cert-auth`); the client pair is what the harness itself uses.
#[derive(Clone, Debug)]
pub struct EtcdTlsFiles {
    /// CA that signed both pairs (etcd's `--trusted-ca-file`).
    pub ca: PathBuf,
    /// etcd's serving certificate (SANs must cover 127.0.0.1) and key.
    pub server_cert: PathBuf,
    /// Key of `server_cert`.
    pub server_key: PathBuf,
    /// A client certificate signed by `ca`, and its key.
    pub client_cert: PathBuf,
    /// Key of `client_cert`.
    pub client_key: PathBuf,
}

impl EtcdTlsFiles {
    /// The files of a directory laid out by the apiserver's `Pki` (`ca.crt`, the
    /// `apiserver` serving pair, the `admin` client pair), which the tests generate with it.
    pub fn in_pki_dir(dir: &std::path::Path) -> EtcdTlsFiles {
        EtcdTlsFiles {
            ca: dir.join("ca.crt"),
            server_cert: dir.join("apiserver.crt"),
            server_key: dir.join("apiserver.key"),
            client_cert: dir.join("admin.crt"),
            client_key: dir.join("admin.key"),
        }
    }
}

/// An etcd cluster of one or more members on loopback.
pub struct EtcdCluster {
    members: Vec<Member>,
    tls: Option<EtcdTlsFiles>,
    /// Data directories and logs (removed on drop, after the members stop).
    pub dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

/// One HTTP/1.0 request to a member's client URL (over TLS with the client pair when the
/// cluster has certificates); the response body, if it answered.
fn http(client_url: &str, tls: Option<&EtcdTlsFiles>, method: &str, path: &str, body: &str) -> Option<String> {
    let address = client_url.trim_start_matches("http://").trim_start_matches("https://");
    let stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("{method} {path} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let mut answer = String::new();
    match tls {
        None => exchange(stream, &request, &mut answer)?,
        Some(files) => {
            let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client()).ok()?;
            b.set_ca_file(&files.ca).ok()?;
            b.set_certificate_file(&files.client_cert, openssl::ssl::SslFiletype::PEM).ok()?;
            b.set_private_key_file(&files.client_key, openssl::ssl::SslFiletype::PEM).ok()?;
            let tls = b.build().configure().ok()?.verify_hostname(false).connect("127.0.0.1", stream).ok()?;
            exchange(tls, &request, &mut answer)?
        }
    }
    answer.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

fn exchange(mut stream: impl Read + Write, request: &str, answer: &mut String) -> Option<()> {
    stream.write_all(request.as_bytes()).ok()?;
    // A TLS peer may close without close_notify after the body; what was read counts.
    let _ = stream.read_to_string(answer);
    (!answer.is_empty()).then_some(())
}

impl EtcdCluster {
    /// Starts `members` members and waits until every one is healthy.
    pub fn start(members: usize) -> EtcdCluster {
        Self::start_with(members, None)
    }

    /// One member serving its clients on `https://` with `files`, requiring client
    /// certificates signed by their CA.
    pub fn start_tls(files: EtcdTlsFiles) -> EtcdCluster {
        Self::start_with(1, Some(files))
    }

    fn start_with(members: usize, tls: Option<EtcdTlsFiles>) -> EtcdCluster {
        assert!(etcd_available(), "{ETCD_BIN} is not installed (apt-get install etcd-server)");
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<(u16, u16)> = (0..members).map(|_| (free_port(), free_port())).collect();
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        // Same for every member of this cluster, different from any other cluster.
        let token = format!("ironkube-test-{}", ports[0].0);
        let mut cluster = EtcdCluster { members: Vec::new(), tls, dir };
        let scheme = if cluster.tls.is_some() { "https" } else { "http" };
        for (i, (client, peer)) in ports.iter().enumerate() {
            let name = format!("m{i}");
            let client_url = format!("{scheme}://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log = std::fs::File::create(cluster.dir.path().join(format!("{name}.log"))).expect("etcd log file");
            let mut command = Command::new(ETCD_BIN);
            if let Some(files) = &cluster.tls {
                command
                    .arg("--client-cert-auth")
                    .arg("--trusted-ca-file")
                    .arg(&files.ca)
                    .arg("--cert-file")
                    .arg(&files.server_cert)
                    .arg("--key-file")
                    .arg(&files.server_key);
            }
            let child = command
                .args(["--name", &name, "--data-dir"])
                .arg(cluster.dir.path().join(&name))
                .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial_cluster, "--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", &token])
                .args(["--max-request-bytes", &MAX_REQUEST_BYTES.to_string()])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("etcd log file"))
                .stderr(log)
                .spawn()
                .expect("start etcd");
            cluster.members.push(Member { name, client_url, child: Some(child) });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for member in &cluster.members {
            while !cluster.healthy(&member.client_url) {
                assert!(Instant::now() < deadline, "etcd member {} did not become healthy:\n{}", member.name, cluster.log(&member.name));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// Whether the member at `client_url` says it is healthy (`GET /health`).
    fn healthy(&self, client_url: &str) -> bool {
        self.http(client_url, "GET", "/health", "").is_some_and(|body| body.contains("\"health\":\"true\""))
    }

    fn http(&self, client_url: &str, method: &str, path: &str, body: &str) -> Option<String> {
        http(client_url, self.tls.as_ref(), method, path, body)
    }

    /// Client URLs of the members, in order.
    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// The `--etcd-servers` value for all members.
    pub fn servers_flag(&self) -> String {
        self.client_urls().join(",")
    }

    /// Kills member `index` with SIGKILL (a crash, not a clean stop).
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Index of the current leader, asked of the first running member (etcd's JSON gateway,
    /// `/v3/maintenance/status`).
    pub fn leader(&self) -> Option<usize> {
        for member in self.members.iter().filter(|m| m.child.is_some()) {
            let Some(body) = self.http(&member.client_url, "POST", "/v3/maintenance/status", "{}") else { continue };
            let status: serde_json::Value = serde_json::from_str(&body).ok()?;
            let leader = status["leader"].as_str()?.to_string();
            // Each member's own id is in the header of its own answer.
            return self.members.iter().position(|m| {
                self.http(&m.client_url, "POST", "/v3/maintenance/status", "{}")
                    .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
                    .is_some_and(|s| s["header"]["member_id"].as_str() == Some(leader.as_str()))
            });
        }
        None
    }

    /// The value stored under `key`, read straight from etcd (`/v3/kv/range`).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let body = serde_json::json!({ "key": openssl::base64::encode_block(key.as_bytes()) }).to_string();
        for member in self.members.iter().filter(|m| m.child.is_some()) {
            let Some(answer) = self.http(&member.client_url, "POST", "/v3/kv/range", &body) else { continue };
            let answer: serde_json::Value = serde_json::from_str(&answer).expect("etcd range answer");
            let value = answer["kvs"][0]["value"].as_str()?;
            return Some(openssl::base64::decode_block(value).expect("base64 value"));
        }
        panic!("no etcd member answered")
    }

    /// Number of keys under `prefix`, read straight from etcd.
    pub fn count(&self, prefix: &str) -> u64 {
        let mut end = prefix.as_bytes().to_vec();
        *end.last_mut().expect("a non-empty prefix") += 1;
        let body = serde_json::json!({
            "key": openssl::base64::encode_block(prefix.as_bytes()),
            "range_end": openssl::base64::encode_block(&end),
            "count_only": true,
        })
        .to_string();
        for member in self.members.iter().filter(|m| m.child.is_some()) {
            let Some(answer) = self.http(&member.client_url, "POST", "/v3/kv/range", &body) else { continue };
            let answer: serde_json::Value = serde_json::from_str(&answer).expect("etcd range answer");
            return answer["count"].as_str().and_then(|c| c.parse().ok()).unwrap_or(0);
        }
        panic!("no etcd member answered")
    }

    /// What member `name` logged.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
