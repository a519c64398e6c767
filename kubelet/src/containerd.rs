//! Starts Debian's containerd for one node with its own config, root and state directories
//! under the data directory, unless something already answers on the socket.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the node's containerd keeps things.
#[derive(Clone, Debug)]
pub struct ContainerdConfig {
    /// The CRI/gRPC socket.
    pub socket: PathBuf,
    /// Parent of `root/`, `state/` and `config.toml`.
    pub dir: PathBuf,
    /// The CNI configuration directory.
    pub cni_conf_dir: PathBuf,
    /// The CNI plugin directory (Debian: /usr/lib/cni).
    pub cni_bin_dir: PathBuf,
    /// The sandbox image.
    pub sandbox_image: String,
}

/// A containerd this node owns; stopped on [`Containerd::stop`] or drop.
pub struct Containerd {
    child: Option<Child>,
    /// A containerd an earlier run of this node started (found by its pid file) whose
    /// owner died: adopted, so it is stopped with the node.
    adopted: Option<i32>,
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn signal(pid: i32, sig: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Failures starting containerd.
#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    /// Could not write the config or spawn the process.
    #[error("cannot start containerd: {0}")]
    Spawn(#[from] std::io::Error),
    /// It exited or never opened its socket.
    #[error("containerd did not start (socket {socket}); its log is {log}")]
    NotReady {
        /// The socket waited for.
        socket: PathBuf,
        /// Its log file.
        log: PathBuf,
    },
}

fn toml_str(p: &Path) -> String {
    serde_json::to_string(&p.display().to_string()).expect("JSON string is TOML string")
}

impl ContainerdConfig {
    /// The `config.toml` (version 2): CRI with the given sandbox image, runc v2 with
    /// cgroupfs, overlayfs, CNI from our directories; plugins a node never uses are off.
    pub fn render(&self) -> String {
        let d = &self.dir;
        format!(
            r#"version = 2
root = {root}
state = {state}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = {sock}

[ttrpc]
  address = {ttrpc}

[plugins."io.containerd.internal.v1.opt"]
  path = {opt}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # Lowering oom_score_adj needs CAP_SYS_RESOURCE, which sandboxed machines (CI, our own
  # test hosts) may lack; clamp to containerd's own value instead of failing every sandbox.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {cni_bin}
    conf_dir = {cni_conf}
    max_conf_num = 1
"#,
            root = toml_str(&d.join("root")),
            state = toml_str(&d.join("state")),
            sock = toml_str(&self.socket),
            ttrpc = toml_str(&self.socket.with_extension("ttrpc")),
            opt = toml_str(&d.join("opt")),
            sandbox = self.sandbox_image,
            cni_bin = toml_str(&self.cni_bin_dir),
            cni_conf = toml_str(&self.cni_conf_dir),
        )
    }
}

/// Whether something accepts connections on `socket`.
pub fn answers(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

impl Containerd {
    /// Starts containerd unless the socket already answers (then returns a handle that
    /// owns nothing); waits until the socket accepts connections.
    pub fn ensure(cfg: &ContainerdConfig) -> Result<Containerd, ContainerdError> {
        let pid_file = cfg.dir.join("containerd.pid");
        if answers(&cfg.socket) {
            let adopted = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse().ok()).filter(|p| pid_alive(*p));
            return Ok(Containerd { child: None, adopted });
        }
        std::fs::create_dir_all(&cfg.dir)?;
        if let Some(parent) = cfg.socket.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let _ = std::fs::remove_file(&cfg.socket);
        let config = cfg.dir.join("config.toml");
        std::fs::write(&config, cfg.render())?;
        let log = cfg.dir.join("containerd.log");
        let log_file = std::fs::File::create(&log)?;
        let mut child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if answers(&cfg.socket) {
                std::fs::write(&pid_file, child.id().to_string())?;
                return Ok(Containerd { child: Some(child), adopted: None });
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(ContainerdError::NotReady { socket: cfg.socket.clone(), log })
    }

    /// Whether this handle started containerd now.
    pub fn started_here(&self) -> bool {
        self.child.is_some()
    }

    /// Whether this handle will stop containerd (started now or adopted).
    pub fn owned(&self) -> bool {
        self.child.is_some() || self.adopted.is_some()
    }

    /// Stops the containerd we own: SIGTERM, then SIGKILL after 5 s.
    pub fn stop(&mut self) {
        if let Some(pid) = self.adopted.take() {
            signal(pid, rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while pid_alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if pid_alive(pid) {
                signal(pid, rustix::process::Signal::KILL);
            }
            return;
        }
        let Some(mut child) = self.child.take() else { return };
        if let Ok(pid) = i32::try_from(child.id()) {
            signal(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
    }
}
