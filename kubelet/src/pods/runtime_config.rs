//! Turning a Pod into CRI configs: the sandbox (hostname and resolver from `dns.rs`,
//! logs, port mappings, host network), containers (command, env, mounts, resources,
//! security context) and the CRI labels the kubelet later finds them by (upstream
//! `pkg/kubelet/kuberuntime/labels.go`).

use super::dns::SandboxDns;
use crate::cri::api;
use k8s_openapi::api::core::v1::{Container, Pod};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Label with the pod UID on sandboxes and containers.
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
/// Label with the pod name.
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
/// Label with the pod namespace.
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Label with the container name.
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Label with the node name on sandboxes, so a node only ever cleans up its own.
pub const LABEL_NODE: &str = "io.ironkube.node";
/// Cgroup parent of every sandbox this kubelet runs (cgroupfs driver).
pub const CGROUP_PARENT: &str = "/ironkube";

/// Pod identity fields used everywhere.
pub fn names(pod: &Pod) -> (String, String, String) {
    (
        pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
        pod.metadata.name.clone().unwrap_or_default(),
        pod.metadata.uid.clone().unwrap_or_default(),
    )
}

fn pod_labels(pod: &Pod) -> HashMap<String, String> {
    let (ns, name, uid) = names(pod);
    let mut labels: HashMap<String, String> = pod.metadata.labels.clone().unwrap_or_default().into_iter().collect();
    labels.insert(LABEL_POD_NAME.into(), name);
    labels.insert(LABEL_POD_NAMESPACE.into(), ns);
    labels.insert(LABEL_POD_UID.into(), uid);
    labels
}

/// Where the runtime writes a pod's container logs (upstream `/var/log/pods/<ns>_<name>_<uid>`).
pub fn log_directory(root: &Path, pod: &Pod) -> PathBuf {
    let (ns, name, uid) = names(pod);
    root.join("logs").join(format!("{ns}_{name}_{uid}"))
}

fn host_network(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false)
}

/// The sandbox config; `dns` gives its hostname and resolver (see [`super::dns`]).
pub fn sandbox_config(root: &Path, node: &str, pod: &Pod, attempt: u32, dns: &SandboxDns) -> api::PodSandboxConfig {
    let (ns, name, uid) = names(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let mut port_mappings = Vec::new();
    for c in &spec.containers {
        for p in c.ports.iter().flatten() {
            if let Some(host_port) = p.host_port.filter(|p| *p > 0) {
                port_mappings.push(api::PortMapping {
                    protocol: match p.protocol.as_deref() {
                        Some("UDP") => api::Protocol::Udp as i32,
                        Some("SCTP") => api::Protocol::Sctp as i32,
                        _ => api::Protocol::Tcp as i32,
                    },
                    container_port: p.container_port,
                    host_port,
                    host_ip: p.host_ip.clone().unwrap_or_default(),
                });
            }
        }
    }
    let node_ns = api::NamespaceMode::Node as i32;
    let pod_ns = api::NamespaceMode::Pod as i32;
    let container_ns = api::NamespaceMode::Container as i32;
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata { name, uid, namespace: ns, attempt }),
        hostname: dns.hostname.clone(),
        log_directory: log_directory(root, pod).display().to_string(),
        dns_config: Some(dns.config.clone()),
        port_mappings,
        labels: {
            let mut l = pod_labels(pod);
            l.insert(LABEL_NODE.into(), node.into());
            l
        },
        annotations: pod.metadata.annotations.clone().unwrap_or_default().into_iter().collect(),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: CGROUP_PARENT.into(),
            security_context: Some(api::LinuxSandboxSecurityContext {
                namespace_options: Some(api::NamespaceOption {
                    network: if host_network(pod) { node_ns } else { pod_ns },
                    pid: if spec.host_pid == Some(true) {
                        node_ns
                    } else if spec.share_process_namespace == Some(true) {
                        pod_ns
                    } else {
                        container_ns
                    },
                    ipc: if spec.host_ipc == Some(true) { node_ns } else { pod_ns },
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        windows: None,
    }
}

/// The runtime resources of a container: CPU shares from requests, CFS quota and memory
/// limit from limits (upstream `kuberuntime_container_linux.go`).
pub fn resources(c: &Container) -> api::LinuxContainerResources {
    let res = c.resources.clone().unwrap_or_default();
    let limits = res.limits.unwrap_or_default();
    let requests = res.requests.unwrap_or_default();
    let cpu_request = requests.get("cpu").or(limits.get("cpu")).and_then(|q| ironkube_quantity::milli_value(&q.0));
    let cpu_limit = limits.get("cpu").and_then(|q| ironkube_quantity::milli_value(&q.0));
    let mut r = api::LinuxContainerResources {
        cpu_shares: cpu_request.map(|m| (m * 1024 / 1000).max(2)).unwrap_or(2),
        memory_limit_in_bytes: limits.get("memory").and_then(|q| ironkube_quantity::value(&q.0)).unwrap_or(0),
        ..Default::default()
    };
    if let Some(m) = cpu_limit {
        r.cpu_period = 100_000;
        r.cpu_quota = (m * 100_000 / 1000).max(1000);
    }
    r
}

/// A container's CRI config; `env` and `mounts` are resolved by the caller.
pub fn container_config(root: &Path, pod: &Pod, c: &Container, attempt: u32, env: Vec<api::KeyValue>, mounts: Vec<api::Mount>) -> api::ContainerConfig {
    let mut labels = pod_labels(pod);
    labels.retain(|k, _| k.starts_with("io.kubernetes."));
    labels.insert(LABEL_CONTAINER_NAME.into(), c.name.clone());
    let sc = c.security_context.clone().unwrap_or_default();
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.clone()).unwrap_or_default();
    let run_as_user = sc.run_as_user.or(psc.run_as_user).map(|value| api::Int64Value { value });
    let run_as_group = sc.run_as_group.or(psc.run_as_group).map(|value| api::Int64Value { value });
    let _ = root;
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata { name: c.name.clone(), attempt }),
        image: Some(api::ImageSpec { image: c.image.clone().unwrap_or_default(), ..Default::default() }),
        command: c.command.clone().unwrap_or_default(),
        args: c.args.clone().unwrap_or_default(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs: env,
        mounts,
        labels,
        log_path: format!("{}/{attempt}.log", c.name),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        linux: Some(api::LinuxContainerConfig {
            resources: Some(resources(c)),
            security_context: Some(api::LinuxContainerSecurityContext {
                privileged: sc.privileged.unwrap_or(false),
                run_as_user,
                run_as_group,
                readonly_rootfs: sc.read_only_root_filesystem.unwrap_or(false),
                no_new_privs: sc.allow_privilege_escalation == Some(false),
                namespace_options: Some(api::NamespaceOption {
                    network: if host_network(pod) { api::NamespaceMode::Node as i32 } else { api::NamespaceMode::Pod as i32 },
                    pid: if pod.spec.as_ref().and_then(|s| s.share_process_namespace) == Some(true) {
                        api::NamespaceMode::Pod as i32
                    } else {
                        api::NamespaceMode::Container as i32
                    },
                    ipc: api::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    #[test]
    fn limits_become_cgroup_values() {
        let c = Container {
            name: "a".into(),
            resources: Some(ResourceRequirements {
                limits: Some([("cpu".to_string(), Quantity("500m".into())), ("memory".to_string(), Quantity("32Mi".into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = resources(&c);
        assert_eq!(r.memory_limit_in_bytes, 32 << 20);
        assert_eq!(r.cpu_quota, 50_000);
        assert_eq!(r.cpu_shares, 512);
    }
}
