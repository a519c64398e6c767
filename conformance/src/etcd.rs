//! Real etcd for tests: `/usr/bin/etcd` (Debian's etcd-server) started on free loopback
//! ports with temporary data directories, one member or several, stopped on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
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

/// An etcd cluster of one or more members on loopback.
pub struct EtcdCluster {
    members: Vec<Member>,
    /// Data directories and logs (removed on drop, after the members stop).
    pub dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

/// Whether the member at `client_url` says it is healthy (`GET /health`).
fn healthy(client_url: &str) -> bool {
    let address = client_url.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect(address) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /health HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.contains("\"health\":\"true\"")
}

impl EtcdCluster {
    /// Starts `members` members and waits until every one is healthy.
    pub fn start(members: usize) -> EtcdCluster {
        assert!(etcd_available(), "{ETCD_BIN} is not installed (apt-get install etcd-server)");
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<(u16, u16)> = (0..members).map(|_| (free_port(), free_port())).collect();
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = EtcdCluster { members: Vec::new(), dir };
        for (i, (client, peer)) in ports.iter().enumerate() {
            let name = format!("m{i}");
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log = std::fs::File::create(cluster.dir.path().join(format!("{name}.log"))).expect("etcd log file");
            let child = Command::new(ETCD_BIN)
                .args(["--name", &name, "--data-dir"])
                .arg(cluster.dir.path().join(&name))
                .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial_cluster, "--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", &format!("ironkube-test-{client}")])
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
            while !healthy(&member.client_url) {
                assert!(Instant::now() < deadline, "etcd member {} did not become healthy:\n{}", member.name, cluster.log(&member.name));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
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
