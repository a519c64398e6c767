//! Pod volumes on the host, under `<root>/pods/<uid>/volumes/<name>`, bind-mounted into
//! containers by the runtime: emptyDir (tmpfs for `medium: Memory`), hostPath,
//! persistentVolumeClaim (bound to a hostPath or local PersistentVolume), and the
//! file-projecting kinds (configMap, secret, downwardAPI, projected with service-account
//! tokens from `crate::token`), which are rewritten on every resync so updated ConfigMaps,
//! Secrets and renewed tokens reach running pods.

use crate::pods::env::{field_value, format_map, resource_value};
use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume};
use kube::{Api, Client};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Why a volume could not be set up (`FailedMount`), worded like the kubelet's volume
/// manager: a claim that cannot be resolved yet fails before any mount is attempted.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The volume's setup failed.
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
    SetUp {
        /// The volume name.
        volume: String,
        /// What went wrong.
        message: String,
    },
    /// The volume cannot be resolved yet (e.g. its claim is not bound).
    #[error("unable to attach or mount volumes: unmounted volumes=[{volume}], unattached volumes=[{volume}]: {message}")]
    Unattached {
        /// The volume name.
        volume: String,
        /// What went wrong.
        message: String,
    },
}

/// A prepared volume.
#[derive(Clone, Debug)]
pub struct HostVolume {
    /// Host path to bind.
    pub path: PathBuf,
    /// Projected kinds are mounted read-only, like upstream.
    pub read_only: bool,
}

/// The pod's directory.
pub fn pod_dir(root: &Path, uid: &str) -> PathBuf {
    root.join("pods").join(uid)
}

fn err(volume: &str, message: impl std::fmt::Display) -> MountError {
    MountError::SetUp { volume: volume.to_string(), message: message.to_string() }
}

fn unattached(volume: &str, message: impl std::fmt::Display) -> MountError {
    MountError::Unattached { volume: volume.to_string(), message: message.to_string() }
}

/// A directory (or file) on the host, checked or created as its `type` says.
fn host_path(volume: &str, path: &str, type_: &str, read_only: bool) -> Result<HostVolume, MountError> {
    let p = PathBuf::from(path);
    match type_ {
        "DirectoryOrCreate" => std::fs::create_dir_all(&p).map_err(|e| err(volume, e))?,
        "FileOrCreate" if !p.exists() => {
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| err(volume, e))?;
            }
            std::fs::write(&p, b"").map_err(|e| err(volume, e))?;
        }
        "Directory" if !p.is_dir() => return Err(err(volume, format!("hostPath type check failed: {path} is not a directory"))),
        "File" if !p.is_file() => return Err(err(volume, format!("hostPath type check failed: {path} is not a file"))),
        _ => {}
    }
    Ok(HostVolume { path: p, read_only })
}

/// A `persistentVolumeClaim` volume: claim → bound PersistentVolume → its hostPath or
/// local directory (upstream `getPVCExtractPV` and the hostPath/local plugins).
async fn claimed_volume(client: &Client, ns: &str, volume: &str, claim_name: &str, read_only: bool) -> Result<HostVolume, MountError> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let claim = claims
        .get_opt(claim_name)
        .await
        .map_err(|e| unattached(volume, format!("error processing PVC {ns}/{claim_name}: failed to fetch PVC from API server: {e}")))?
        .ok_or_else(|| {
            unattached(volume, format!("error processing PVC {ns}/{claim_name}: failed to fetch PVC from API server: persistentvolumeclaims \"{claim_name}\" not found"))
        })?;
    if claim.metadata.deletion_timestamp.is_some() {
        return Err(unattached(volume, format!("error processing PVC {ns}/{claim_name}: can't start pod because PVC {ns}/{claim_name} is being deleted")));
    }
    let pv_name = claim.spec.as_ref().and_then(|s| s.volume_name.clone()).unwrap_or_default();
    let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    if !bound || pv_name.is_empty() {
        return Err(unattached(volume, format!("error processing PVC {ns}/{claim_name}: PVC is not bound")));
    }
    let pv = Api::<PersistentVolume>::all(client.clone())
        .get_opt(&pv_name)
        .await
        .map_err(|e| unattached(volume, format!("error processing PVC {ns}/{claim_name}: failed to fetch PV {pv_name} from API server: {e}")))?
        .ok_or_else(|| {
            unattached(volume, format!("error processing PVC {ns}/{claim_name}: failed to fetch PV {pv_name} from API server: persistentvolumes \"{pv_name}\" not found"))
        })?;
    let spec = pv.spec.unwrap_or_default();
    let claimed_by = spec.claim_ref.as_ref().and_then(|r| r.uid.as_deref());
    if claimed_by.is_some_and(|uid| Some(uid) != claim.metadata.uid.as_deref()) {
        return Err(unattached(volume, format!("error processing PVC {ns}/{claim_name}: the PV {pv_name} is not bound to this claim")));
    }
    if let Some(hp) = &spec.host_path {
        return host_path(volume, &hp.path, hp.type_.as_deref().unwrap_or(""), read_only);
    }
    if let Some(local) = &spec.local {
        let path = PathBuf::from(&local.path);
        if !path.exists() {
            return Err(err(volume, format!("path \"{}\" does not exist", local.path)));
        }
        return Ok(HostVolume { path, read_only });
    }
    Err(err(volume, format!("the volume source of PersistentVolume \"{pv_name}\" is not supported by the ironkube kubelet (only hostPath and local)")))
}

type Files = BTreeMap<String, (Vec<u8>, u32)>;

/// The files of a ConfigMap or Secret (`kind` as upstream's messages spell it:
/// `configmap`, `secret`) whose data is `data` (None: no such object): every key, or the
/// listed `items`. What is missing is an error unless `optional`.
fn project(data: Option<BTreeMap<String, Vec<u8>>>, kind: &str, name: &str, items: Option<&Vec<KeyToPath>>, default_mode: u32, optional: bool) -> Result<Files, String> {
    let data = match data {
        Some(d) => d,
        None if optional => return Ok(Files::new()),
        None => return Err(format!("{kind} \"{name}\" not found")),
    };
    let mut out = Files::new();
    match items {
        Some(items) => {
            for i in items {
                match data.get(&i.key) {
                    Some(v) => {
                        out.insert(i.path.clone(), (v.clone(), i.mode.map(|m| m as u32).unwrap_or(default_mode)));
                    }
                    None if optional => {}
                    None => return Err(format!("configmap references non-existent config key: {} ({name})", i.key)),
                }
            }
        }
        None => {
            for (k, v) in data {
                out.insert(k, (v, default_mode));
            }
        }
    }
    Ok(out)
}

async fn config_map_data(client: &Client, ns: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns).get_opt(name).await.map_err(|e| e.to_string())?;
    Ok(cm.map(|c| {
        let mut d: BTreeMap<String, Vec<u8>> = c.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        d.extend(c.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
        d
    }))
}

async fn secret_data(client: &Client, ns: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let s = Api::<Secret>::namespaced(client.clone(), ns).get_opt(name).await.map_err(|e| e.to_string())?;
    Ok(s.map(|s| s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()))
}

fn downward_files(pod: &Pod, items: &[k8s_openapi::api::core::v1::DownwardAPIVolumeFile], default_mode: u32, host_ip: &str, pod_ip: &str) -> Files {
    let mut out = Files::new();
    for i in items {
        let value = if let Some(f) = &i.field_ref {
            match f.field_path.as_str() {
                "metadata.labels" => format_map(pod.metadata.labels.as_ref()),
                "metadata.annotations" => format_map(pod.metadata.annotations.as_ref()),
                p => field_value(pod, p, host_ip, pod_ip).unwrap_or_default(),
            }
        } else if let Some(r) = &i.resource_field_ref {
            let spec = pod.spec.clone().unwrap_or_default();
            let c = spec.containers.iter().find(|c| Some(&c.name) == r.container_name.as_ref()).or(spec.containers.first());
            c.and_then(|c| resource_value(c, &r.resource, r.divisor.as_ref().map(|d| d.0.as_str()))).unwrap_or_default()
        } else {
            String::new()
        };
        out.insert(i.path.clone(), (value.into_bytes(), i.mode.map(|m| m as u32).unwrap_or(default_mode)));
    }
    out
}

/// The files a projecting volume should hold now, or None for other kinds.
async fn files_of(client: &Client, pod: &Pod, v: &Volume, host_ip: &str, pod_ip: &str) -> Result<Option<Files>, MountError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    if let Some(cm) = &v.config_map {
        let mode = cm.default_mode.unwrap_or(0o644) as u32;
        let data = config_map_data(client, &ns, &cm.name).await.map_err(|e| err(&v.name, e))?;
        return project(data, "configmap", &cm.name, cm.items.as_ref(), mode, cm.optional == Some(true)).map(Some).map_err(|e| err(&v.name, e));
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let mode = s.default_mode.unwrap_or(0o644) as u32;
        let data = secret_data(client, &ns, &name).await.map_err(|e| err(&v.name, e))?;
        return project(data, "secret", &name, s.items.as_ref(), mode, s.optional == Some(true)).map(Some).map_err(|e| err(&v.name, e));
    }
    if let Some(d) = &v.downward_api {
        let mode = d.default_mode.unwrap_or(0o644) as u32;
        return Ok(Some(downward_files(pod, d.items.as_deref().unwrap_or_default(), mode, host_ip, pod_ip)));
    }
    if let Some(p) = &v.projected {
        let mode = p.default_mode.unwrap_or(0o644) as u32;
        let mut out = Files::new();
        for src in p.sources.iter().flatten() {
            if let Some(cm) = &src.config_map {
                let data = config_map_data(client, &ns, &cm.name).await.map_err(|e| err(&v.name, e))?;
                out.extend(project(data, "configmap", &cm.name, cm.items.as_ref(), mode, cm.optional == Some(true)).map_err(|e| err(&v.name, e))?);
            }
            if let Some(s) = &src.secret {
                let data = secret_data(client, &ns, &s.name).await.map_err(|e| err(&v.name, e))?;
                out.extend(project(data, "secret", &s.name, s.items.as_ref(), mode, s.optional == Some(true)).map_err(|e| err(&v.name, e))?);
            }
            if let Some(d) = &src.downward_api {
                out.extend(downward_files(pod, d.items.as_deref().unwrap_or_default(), mode, host_ip, pod_ip));
            }
            if let Some(t) = &src.service_account_token {
                let spec = pod.spec.as_ref();
                let key = crate::token::TokenKey {
                    namespace: ns.clone(),
                    service_account: spec.and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into()),
                    pod_name: pod.metadata.name.clone().unwrap_or_default(),
                    pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
                    audience: t.audience.clone().filter(|a| !a.is_empty()),
                    expiration_seconds: t.expiration_seconds.unwrap_or(3600),
                };
                let token = crate::token::token(client, &key).await.map_err(|e| err(&v.name, e))?;
                // The projected defaultMode applies, as upstream (0644 by default).
                out.insert(t.path.clone(), (token.into_bytes(), mode));
            }
        }
        return Ok(Some(out));
    }
    Ok(None)
}

/// Writes `files` into `dir` (each file replaced atomically by rename) and removes files
/// that are no longer projected.
fn sync_files(dir: &Path, files: &Files) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    for (rel, (data, mode)) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let same = std::fs::read(&path).is_ok_and(|old| &old == data)
            && std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o7777 == *mode);
        if same {
            continue;
        }
        let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().unwrap_or_default().to_string_lossy()));
        std::fs::write(&tmp, data)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(*mode))?;
        std::fs::rename(&tmp, &path)?;
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !files.keys().any(|k| k == &name || k.starts_with(&format!("{name}/"))) {
            let p = entry.path();
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
    }
    Ok(())
}

fn is_mounted(path: &Path) -> bool {
    let target = path.display().to_string();
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some(target.as_str())))
}

/// Sets up (or refreshes) every volume of the pod; returns them by name.
pub async fn prepare(client: &Client, root: &Path, pod: &Pod, host_ip: &str, pod_ip: &str) -> Result<HashMap<String, HostVolume>, MountError> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let base = pod_dir(root, &uid).join("volumes");
    let mut out = HashMap::new();
    for v in pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        let dir = base.join(&v.name);
        if let Some(hp) = &v.host_path {
            out.insert(v.name.clone(), host_path(&v.name, &hp.path, hp.type_.as_deref().unwrap_or(""), false)?);
            continue;
        }
        if let Some(claim) = &v.persistent_volume_claim {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            out.insert(v.name.clone(), claimed_volume(client, ns, &v.name, &claim.claim_name, claim.read_only == Some(true)).await?);
            continue;
        }
        if let Some(files) = files_of(client, pod, v, host_ip, pod_ip).await? {
            sync_files(&dir, &files).map_err(|e| err(&v.name, e))?;
            out.insert(v.name.clone(), HostVolume { path: dir, read_only: true });
            continue;
        }
        // emptyDir, and kinds this node cannot provide yet (honest: fail the mount).
        if let Some(ed) = &v.empty_dir {
            std::fs::create_dir_all(&dir).map_err(|e| err(&v.name, e))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).map_err(|e| err(&v.name, e))?;
            if ed.medium.as_deref() == Some("Memory") && !is_mounted(&dir) {
                let size = ed.size_limit.as_ref().and_then(|q| ironkube_quantity::value(&q.0)).map(|b| format!("size={b},mode=777")).unwrap_or_else(|| "mode=777".into());
                rustix::mount::mount("tmpfs", &dir, "tmpfs", rustix::mount::MountFlags::empty(), std::ffi::CString::new(size).ok().as_deref())
                    .map_err(|e| err(&v.name, format!("cannot mount tmpfs: {e}")))?;
            }
            out.insert(v.name.clone(), HostVolume { path: dir, read_only: false });
            continue;
        }
        return Err(err(&v.name, "this volume type is not supported by the ironkube kubelet yet"));
    }
    Ok(out)
}

/// Unmounts tmpfs volumes and removes the pod's directory.
pub fn cleanup(root: &Path, uid: &str) {
    crate::token::forget_pod(uid);
    let dir = pod_dir(root, uid);
    if let Ok(entries) = std::fs::read_dir(dir.join("volumes")) {
        for e in entries.flatten() {
            if is_mounted(&e.path()) {
                let _ = rustix::mount::unmount(e.path(), rustix::mount::UnmountFlags::DETACH);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The CRI mounts of one container.
pub fn container_mounts(c: &k8s_openapi::api::core::v1::Container, volumes: &HashMap<String, HostVolume>) -> Result<Vec<crate::cri::api::Mount>, MountError> {
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let v = volumes.get(&m.name).ok_or_else(|| err(&m.name, "volume not found in the pod"))?;
        let mut host = v.path.clone();
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            host = host.join(sub);
            if !host.exists() {
                std::fs::create_dir_all(&host).map_err(|e| err(&m.name, e))?;
            }
        }
        out.push(crate::cri::api::Mount {
            container_path: m.mount_path.clone(),
            host_path: host.display().to_string(),
            readonly: m.read_only.unwrap_or(false) || v.read_only,
            ..Default::default()
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_of_keys_items_and_missing_objects() {
        let data = || Some(BTreeMap::from([("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())]));
        let all = project(data(), "configmap", "cm", None, 0o644, false).unwrap();
        assert_eq!(all, Files::from([("a".into(), (b"1".to_vec(), 0o644)), ("b".into(), (b"2".to_vec(), 0o644))]));
        let item = |key: &str| KeyToPath { key: key.into(), path: format!("dir/{key}"), mode: Some(0o400) };
        let items = vec![item("b"), item("c")];
        assert_eq!(project(data(), "secret", "s", Some(&items), 0o644, true).unwrap(), Files::from([("dir/b".into(), (b"2".to_vec(), 0o400))]));
        assert_eq!(project(data(), "secret", "s", Some(&items), 0o644, false).unwrap_err(), "configmap references non-existent config key: c (s)");
        assert_eq!(project(None, "secret", "s", None, 0o644, true).unwrap(), Files::new());
        assert_eq!(project(None, "secret", "s", None, 0o644, false).unwrap_err(), "secret \"s\" not found");
    }

    #[test]
    fn sync_replaces_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Files::new();
        files.insert("a".into(), (b"1".to_vec(), 0o644));
        files.insert("b".into(), (b"2".to_vec(), 0o400));
        sync_files(dir.path(), &files).unwrap();
        files.remove("b");
        files.insert("a".into(), (b"3".to_vec(), 0o644));
        sync_files(dir.path(), &files).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"3");
        assert!(!dir.path().join("b").exists());
    }
}
