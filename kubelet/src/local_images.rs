//! The two local images every ironkube node has, built from this machine's files only (no
//! registry): `ironkube.local/busybox:latest` (Debian's busybox-static with its applet
//! links) and `ironkube.local/pause:latest` (the sandbox image: the same binary sleeping).
//! They are written as OCI image archives and imported into containerd's `k8s.io`
//! namespace with `ctr`, because CRI has no import call.

use openssl::sha::sha256;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The busybox image reference.
pub const BUSYBOX: &str = "ironkube.local/busybox:latest";
/// The sandbox (pause) image reference.
pub const PAUSE: &str = "ironkube.local/pause:latest";
/// Where Debian's busybox-static puts the binary.
pub const BUSYBOX_BIN: &str = "/bin/busybox";

/// Failures building or importing the local images.
#[derive(Debug, thiserror::Error)]
pub enum ImageBuildError {
    /// Reading busybox or writing the archive failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// `ctr images import` failed.
    #[error("ctr images import {archive} failed: {stderr}")]
    Import {
        /// The archive.
        archive: PathBuf,
        /// What ctr said.
        stderr: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageBuildError {
    let what = what.into();
    move |source| ImageBuildError::Io { what, source }
}

fn digest(bytes: &[u8]) -> String {
    let hex: String = sha256(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A layer tar built in memory with fixed mtimes, so the same busybox gives the same digest.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }
    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }
    fn dir(&mut self, path: &str, mode: u32) -> std::io::Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, mode, 0);
        self.0.append_data(&mut h, format!("{path}/"), std::io::empty())
    }
    fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        self.0.append_data(&mut h, path, data)
    }
    fn symlink(&mut self, path: &str, target: &str) -> std::io::Result<()> {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut h, path, target)
    }
    fn finish(self) -> std::io::Result<Vec<u8>> {
        self.0.into_inner()
    }
}

/// The OCI architecture name of this machine.
fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Writes an OCI image archive (`oci-layout`, `index.json`, `blobs/`) holding one image.
fn write_archive(out: &Path, name: &str, layer: &[u8], entrypoint: &[&str], cmd: &[&str]) -> Result<(), ImageBuildError> {
    let layer_digest = digest(layer);
    let config = serde_json::to_vec(&json!({
        "architecture": oci_arch(),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": if entrypoint.is_empty() { serde_json::Value::Null } else { json!(entrypoint) },
            "Cmd": cmd,
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "ironkube local image builder"}],
    }))
    .expect("JSON");
    let config_digest = digest(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    }))
    .expect("JSON");
    let manifest_digest = digest(&manifest);
    let tag = name.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": {"architecture": oci_arch(), "os": "linux"},
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
        }],
    }))
    .expect("JSON");
    let mut archive = Layer::new();
    let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let build = || -> std::io::Result<Vec<u8>> {
        archive.file("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        archive.file("index.json", 0o644, &index)?;
        archive.dir("blobs", 0o755)?;
        archive.dir("blobs/sha256", 0o755)?;
        archive.file(&blob(&layer_digest), 0o644, layer)?;
        archive.file(&blob(&config_digest), 0o644, &config)?;
        archive.file(&blob(&manifest_digest), 0o644, &manifest)?;
        archive.finish()
    };
    let bytes = build().map_err(io("cannot build the image archive"))?;
    std::fs::write(out, bytes).map_err(io(format!("cannot write {}", out.display())))
}

/// The busybox root filesystem: the binary, one link per applet, /etc/passwd and the
/// usual empty directories.
fn busybox_layer(busybox: &[u8], applets: &[String]) -> std::io::Result<Vec<u8>> {
    let mut l = Layer::new();
    for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys", "dev", "var", "var/www", "home"] {
        l.dir(d, 0o755)?;
    }
    l.dir("tmp", 0o1777)?;
    l.file("bin/busybox", 0o755, busybox)?;
    l.file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")?;
    l.file("etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n")?;
    for applet in applets {
        let path = applet.trim_start_matches('/');
        if path != "bin/busybox" && ["bin/", "sbin/", "usr/bin/", "usr/sbin/"].iter().any(|p| path.starts_with(p)) {
            l.symlink(path, "/bin/busybox")?;
        }
    }
    l.finish()
}

/// Builds both archives into `dir`; returns their paths (busybox, pause).
pub fn build(dir: &Path) -> Result<(PathBuf, PathBuf), ImageBuildError> {
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let busybox = std::fs::read(BUSYBOX_BIN).map_err(io(format!("cannot read {BUSYBOX_BIN} (install busybox-static)")))?;
    let list = std::process::Command::new(BUSYBOX_BIN).arg("--list-full").output().map_err(io("cannot run busybox --list-full"))?;
    let applets: Vec<String> = String::from_utf8_lossy(&list.stdout).lines().map(str::to_string).collect();
    let busybox_out = dir.join("busybox.oci.tar");
    let layer = busybox_layer(&busybox, &applets).map_err(io("cannot build the busybox layer"))?;
    write_archive(&busybox_out, BUSYBOX, &layer, &[], &["sh"])?;
    let pause_out = dir.join("pause.oci.tar");
    let mut l = Layer::new();
    let pause_layer = (|| {
        l.dir("bin", 0o755)?;
        l.file("bin/busybox", 0o755, &busybox)?;
        l.finish()
    })()
    .map_err(io("cannot build the pause layer"))?;
    // A sandbox only has to hold its namespaces open; the runtime stops it with SIGKILL.
    write_archive(&pause_out, PAUSE, &pause_layer, &["/bin/busybox", "sleep", "2147483647"], &[])?;
    Ok((busybox_out, pause_out))
}

/// Imports an archive into containerd's `k8s.io` namespace (unpacked for the default
/// snapshotter) with `ctr`.
pub fn import(containerd_socket: &Path, archive: &Path) -> Result<(), ImageBuildError> {
    let out = std::process::Command::new("ctr")
        .arg("--address")
        .arg(containerd_socket)
        .args(["--namespace", "k8s.io", "images", "import"])
        .arg(archive)
        .output()
        .map_err(io("cannot run ctr (install containerd)"))?;
    if !out.status.success() {
        return Err(ImageBuildError::Import { archive: archive.to_path_buf(), stderr: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_reproducible() {
        let applets = vec!["/bin/sh".to_string(), "/usr/bin/wget".to_string(), "/bin/busybox".to_string()];
        let a = busybox_layer(b"binary", &applets).unwrap();
        let b = busybox_layer(b"binary", &applets).unwrap();
        assert_eq!(digest(&a), digest(&b));
        let mut archive = tar::Archive::new(&a[..]);
        let names: Vec<String> = archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert!(names.contains(&"bin/sh".to_string()) && names.contains(&"usr/bin/wget".to_string()), "{names:?}");
        assert_eq!(names.iter().filter(|n| *n == "bin/busybox").count(), 1);
    }
}
