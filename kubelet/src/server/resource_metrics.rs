//! `GET /metrics/resource`: the node's, pods' and containers' CPU and memory in the
//! Prometheus text format, with the metric names, help texts and sample timestamps of
//! upstream's kubelet (`pkg/kubelet/metrics/collectors/resource_metrics.go`). The API
//! server's resource metrics API scrapes it (as metrics-server does).
//!
//! Containers come from the runtime over CRI (`ListContainerStats`, joined with
//! `ListContainers` for the start times); only running containers of ready sandboxes are
//! reported (upstream's CRI stats provider drops terminated ones). containerd 1.6 fills
//! `usage_core_nano_seconds` and `working_set_bytes` with their own timestamps. Sandboxes
//! run directly under one cgroup parent, so there is no pod-level cgroup: containerd 1.6
//! answers `ListPodSandboxStats`, but from the sandbox's cgroup parent, which gives every
//! pod the figures of all pods at once. A pod's figures are the sums of its containers'. The node's figures come from the root cgroup, as cAdvisor computes
//! them (working set = usage - inactive file pages).

use crate::cri::{api, Cri};
use crate::pods::runtime_config::{LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;
use std::path::Path;

/// A cumulative CPU time or a working set, with when it was measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading {
    /// Core-seconds (CPU) or bytes (memory).
    pub value: f64,
    /// Unix time of the measurement in milliseconds.
    pub timestamp_ms: i64,
}

/// One container's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerStats {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// Unix time the container was created, in seconds.
    pub start_time: f64,
    /// Cumulative CPU time.
    pub cpu: Option<Reading>,
    /// Working set.
    pub memory: Option<Reading>,
}

/// Everything one scrape reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The node's cumulative CPU time.
    pub node_cpu: Option<Reading>,
    /// The node's working set.
    pub node_memory: Option<Reading>,
    /// Running containers.
    pub containers: Vec<ContainerStats>,
    /// The runtime could not be asked (upstream's `scrape_error 1`).
    pub error: bool,
}

/// Reads the node and the runtime now.
pub async fn collect(cri: &Cri) -> Snapshot {
    let (node_cpu, node_memory) = node_readings(Path::new("/"));
    let (containers, error) = match containers(cri).await {
        Ok(c) => (c, false),
        Err(e) => {
            tracing::warn!("resource metrics: {e}");
            (Vec::new(), true)
        }
    };
    Snapshot { node_cpu, node_memory, containers, error }
}

async fn containers(cri: &Cri) -> Result<Vec<ContainerStats>, tonic::Status> {
    let mut rt = cri.runtime.clone();
    let ready = api::PodSandboxFilter {
        state: Some(api::PodSandboxStateValue { state: api::PodSandboxState::SandboxReady as i32 }),
        ..Default::default()
    };
    let sandboxes: HashSet<String> =
        rt.list_pod_sandbox(api::ListPodSandboxRequest { filter: Some(ready) }).await?.into_inner().items.into_iter().map(|s| s.id).collect();
    let running = api::ContainerFilter {
        state: Some(api::ContainerStateValue { state: api::ContainerState::ContainerRunning as i32 }),
        ..Default::default()
    };
    let listed = rt.list_containers(api::ListContainersRequest { filter: Some(running) }).await?.into_inner().containers;
    let started: HashMap<String, i64> =
        listed.into_iter().filter(|c| sandboxes.contains(&c.pod_sandbox_id)).map(|c| (c.id, c.created_at)).collect();
    let stats = rt.list_container_stats(api::ListContainerStatsRequest { filter: None }).await?.into_inner().stats;
    let mut out = Vec::new();
    for s in stats {
        let Some(attributes) = s.attributes else { continue };
        let Some(created_at) = started.get(&attributes.id) else { continue };
        let label = |k: &str| attributes.labels.get(k).cloned().unwrap_or_default();
        let container = attributes.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_else(|| label(LABEL_CONTAINER_NAME));
        let cpu = s.cpu.and_then(|c| {
            let used = c.usage_core_nano_seconds?.value;
            Some(Reading { value: used as f64 / 1e9, timestamp_ms: c.timestamp / 1_000_000 })
        });
        let memory = s.memory.and_then(|m| {
            let ws = m.working_set_bytes?.value;
            Some(Reading { value: ws as f64, timestamp_ms: m.timestamp / 1_000_000 })
        });
        out.push(ContainerStats {
            namespace: label(LABEL_POD_NAMESPACE),
            pod: label(LABEL_POD_NAME),
            container,
            start_time: *created_at as f64 / 1e9,
            cpu,
            memory,
        });
    }
    Ok(out)
}

/// The node's CPU time and working set from the root cgroup under `root` (`/` on a
/// real node), cgroup v1 or v2.
pub fn node_readings(root: &Path) -> (Option<Reading>, Option<Reading>) {
    let now = jiff::Timestamp::now().as_millisecond();
    let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
    let stat_value = |text: &str, key: &str| {
        text.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.trim().parse::<u64>().ok()))
    };
    let unified = root.join("sys/fs/cgroup/cgroup.controllers").exists();
    let (cpu_seconds, usage, inactive) = if unified {
        let cpu = read("sys/fs/cgroup/cpu.stat").and_then(|t| stat_value(&t, "usage_usec")).map(|us| us as f64 / 1e6);
        // The root cgroup has no memory.current: usage is what the host reports in use.
        let usage = read("proc/meminfo").and_then(|t| {
            let kib = |k: &str| t.lines().find_map(|l| l.strip_prefix(k)?.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            Some((kib("MemTotal:")? - kib("MemFree:")?) * 1024)
        });
        (cpu, usage, read("sys/fs/cgroup/memory.stat").and_then(|t| stat_value(&t, "inactive_file")))
    } else {
        let cpu = read("sys/fs/cgroup/cpuacct/cpuacct.usage").and_then(|t| t.trim().parse::<u64>().ok()).map(|ns| ns as f64 / 1e9);
        let usage = read("sys/fs/cgroup/memory/memory.usage_in_bytes").and_then(|t| t.trim().parse::<u64>().ok());
        (cpu, usage, read("sys/fs/cgroup/memory/memory.stat").and_then(|t| stat_value(&t, "total_inactive_file")))
    };
    let working_set = usage.map(|u| u.saturating_sub(inactive.unwrap_or(0)));
    (
        cpu_seconds.map(|value| Reading { value, timestamp_ms: now }),
        working_set.map(|ws| Reading { value: ws as f64, timestamp_ms: now }),
    )
}

/// Label pairs of one sample, in label-name order.
type Labels = Vec<(&'static str, String)>;

/// One metric family: help text, type, samples (labels, value, timestamp).
struct Family {
    help: &'static str,
    kind: &'static str,
    samples: Vec<(Labels, f64, Option<i64>)>,
}

/// Renders `snapshot` as upstream does: families sorted by name, samples by labels,
/// values as Go's `%g` (`FormatFloat(v, 'g', -1, 64)`).
pub fn render(snapshot: &Snapshot) -> String {
    let mut families: BTreeMap<&'static str, Family> = BTreeMap::new();
    let mut add = |name: &'static str, help: &'static str, kind: &'static str, labels: Labels, value: f64, ts: Option<i64>| {
        families.entry(name).or_insert_with(|| Family { help, kind, samples: Vec::new() }).samples.push((labels, value, ts));
    };
    if let Some(r) = snapshot.node_cpu {
        add("node_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time consumed by the node in core-seconds", "counter", vec![], r.value, Some(r.timestamp_ms));
    }
    if let Some(r) = snapshot.node_memory {
        add("node_memory_working_set_bytes", "[STABLE] Current working set of the node in bytes", "gauge", vec![], r.value, Some(r.timestamp_ms));
    }
    // Per pod: (CPU, memory).
    type PodSums = (Option<Reading>, Option<Reading>);
    let mut pods: BTreeMap<(&str, &str), PodSums> = BTreeMap::new();
    for c in &snapshot.containers {
        let labels = || vec![("container", c.container.clone()), ("namespace", c.namespace.clone()), ("pod", c.pod.clone())];
        if c.start_time > 0.0 {
            add("container_start_time_seconds", "[STABLE] Start time of the container since unix epoch in seconds", "gauge", labels(), c.start_time, None);
        }
        if let Some(r) = c.cpu {
            add("container_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time consumed by the container in core-seconds", "counter", labels(), r.value, Some(r.timestamp_ms));
        }
        if let Some(r) = c.memory {
            add("container_memory_working_set_bytes", "[STABLE] Current working set of the container in bytes", "gauge", labels(), r.value, Some(r.timestamp_ms));
        }
        let pod = pods.entry((c.namespace.as_str(), c.pod.as_str())).or_default();
        pod.0 = sum(pod.0, c.cpu);
        pod.1 = sum(pod.1, c.memory);
    }
    for ((namespace, pod), (cpu, memory)) in pods {
        let labels = || vec![("namespace", namespace.to_string()), ("pod", pod.to_string())];
        if let Some(r) = cpu {
            add("pod_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time consumed by the pod in core-seconds", "counter", labels(), r.value, Some(r.timestamp_ms));
        }
        if let Some(r) = memory {
            add("pod_memory_working_set_bytes", "[STABLE] Current working set of the pod in bytes", "gauge", labels(), r.value, Some(r.timestamp_ms));
        }
    }
    let error = if snapshot.error { 1.0 } else { 0.0 };
    // `scrape_error` is deprecated upstream (1.29) in favour of `resource_scrape_error`;
    // both are served, as the brief's consumers may read either.
    add("resource_scrape_error", "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise", "gauge", vec![], error, None);
    add("scrape_error", "[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise", "gauge", vec![], error, None);
    let mut out = String::new();
    for (name, mut family) in families {
        let _ = writeln!(out, "# HELP {name} {}", family.help);
        let _ = writeln!(out, "# TYPE {name} {}", family.kind);
        family.samples.sort_by(|a, b| a.0.cmp(&b.0));
        for (labels, value, ts) in family.samples {
            out.push_str(name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape(v));
                }
                out.push('}');
            }
            let _ = write!(out, " {}", go_float(value));
            if let Some(ts) = ts {
                let _ = write!(out, " {ts}");
            }
            out.push('\n');
        }
    }
    out
}

/// A pod's reading: the sum of its containers', at the latest of their times.
fn sum(acc: Option<Reading>, next: Option<Reading>) -> Option<Reading> {
    match (acc, next) {
        (Some(a), Some(n)) => Some(Reading { value: a.value + n.value, timestamp_ms: a.timestamp_ms.max(n.timestamp_ms) }),
        (a, n) => a.or(n),
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`: the shortest exact digits, in exponent
/// form (`1.2345e+09`) when the exponent is below -4 or at least 6.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_prints_them() {
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(23003136.0), "2.3003136e+07");
        assert_eq!(go_float(0.000123), "0.000123");
        assert_eq!(go_float(0.0000123), "1.23e-05");
        assert_eq!(go_float(1.624396278302e9), "1.624396278302e+09");
        assert_eq!(go_float(12.5), "12.5");
    }

    #[test]
    fn renders_upstream_names_sorted_with_timestamps() {
        let c = |pod: &str, container: &str, cpu: f64| ContainerStats {
            namespace: "default".into(),
            pod: pod.into(),
            container: container.into(),
            start_time: 1.7e9,
            cpu: Some(Reading { value: cpu, timestamp_ms: 1_700_000_001_000 }),
            memory: Some(Reading { value: 4096.0, timestamp_ms: 1_700_000_002_000 }),
        };
        let snapshot = Snapshot {
            node_cpu: Some(Reading { value: 100.5, timestamp_ms: 1_700_000_000_000 }),
            node_memory: Some(Reading { value: 2e9, timestamp_ms: 1_700_000_000_000 }),
            containers: vec![c("web", "b", 2.0), c("web", "a", 1.0), c("a\"b", "x", 0.5)],
            error: false,
        };
        let text = render(&snapshot);
        let expected = "\
# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container=\"a\",namespace=\"default\",pod=\"web\"} 1 1700000001000
container_cpu_usage_seconds_total{container=\"b\",namespace=\"default\",pod=\"web\"} 2 1700000001000
container_cpu_usage_seconds_total{container=\"x\",namespace=\"default\",pod=\"a\\\"b\"} 0.5 1700000001000
";
        assert!(text.starts_with(expected), "{text}");
        assert!(text.contains("# TYPE node_memory_working_set_bytes gauge\nnode_memory_working_set_bytes 2e+09 1700000000000\n"), "{text}");
        assert!(text.contains("node_cpu_usage_seconds_total 100.5 1700000000000\n"), "{text}");
        assert!(text.contains("container_start_time_seconds{container=\"a\",namespace=\"default\",pod=\"web\"} 1.7e+09\n"), "{text}");
        assert!(text.contains("pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"web\"} 3 1700000001000\n"), "{text}");
        assert!(text.contains("pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 8192 1700000002000\n"), "{text}");
        assert!(text.ends_with("# TYPE scrape_error gauge\nscrape_error 0\n"), "{text}");
        let names: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn node_readings_from_cgroup_v1_and_v2() {
        let dir = tempfile::tempdir().unwrap();
        let write = |p: &str, text: &str| {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("sys/fs/cgroup/cpuacct/cpuacct.usage", "2500000000\n");
        write("sys/fs/cgroup/memory/memory.usage_in_bytes", "1000000\n");
        write("sys/fs/cgroup/memory/memory.stat", "cache 5\ninactive_file 7\ntotal_inactive_file 400000\n");
        let (cpu, memory) = node_readings(dir.path());
        assert_eq!(cpu.unwrap().value, 2.5);
        assert_eq!(memory.unwrap().value, 600000.0);
        write("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
        write("sys/fs/cgroup/cpu.stat", "usage_usec 1500000\nuser_usec 1\n");
        write("sys/fs/cgroup/memory.stat", "anon 1\ninactive_file 1048576\n");
        write("proc/meminfo", "MemTotal:        4000 kB\nMemFree:         1000 kB\n");
        let (cpu, memory) = node_readings(dir.path());
        assert_eq!(cpu.unwrap().value, 1.5);
        assert_eq!(memory.unwrap().value, (3000.0 * 1024.0) - 1048576.0);
    }
}
