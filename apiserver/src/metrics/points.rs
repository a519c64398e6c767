//! What the scraper keeps: the two latest cumulative points of every node and container,
//! and the usage computed from them. Mirrors metrics-server's `pkg/storage` (`node.go`,
//! `pod.go`, `types.go`) and its decoder (`pkg/scraper/client/resource/decode.go`).

use super::prometheus::Sample;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A container created less than this long before its first point gets a synthetic
/// previous point at its start (zero CPU), so it has usage after one scrape (as
/// metrics-server's `freshContainerMinMetricsResolution`).
const FRESH_CONTAINER_MIN: i64 = 10_000_000_000;

/// One measurement of a node or container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Point {
    /// When the container started (unix ns; 0 for nodes).
    pub start_ns: i64,
    /// When it was measured (unix ns).
    pub timestamp_ns: i64,
    /// CPU used since the start, in nanocore-seconds.
    pub cpu_ns: u64,
    /// Working set in bytes.
    pub memory: u64,
}

/// A pod's namespace and name.
pub type PodKey = (String, String);

/// The points of one scrape round (every node's answer merged).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Per node.
    pub nodes: HashMap<String, Point>,
    /// Per pod, per container.
    pub pods: HashMap<PodKey, BTreeMap<String, Point>>,
}

impl Batch {
    /// Adds the samples one kubelet answered (`default_ms`: when scraped, for samples
    /// without a timestamp). Incomplete points are dropped, as metrics-server drops them:
    /// a node without CPU or memory, a pod with any container lacking either.
    pub fn add_node(&mut self, node: &str, samples: &[Sample], default_ms: i64) {
        let mut node_point = Point::default();
        let mut pods: HashMap<PodKey, BTreeMap<String, Point>> = HashMap::new();
        for s in samples {
            let ts = s.timestamp_ms.unwrap_or(default_ms) * 1_000_000;
            match s.name.as_str() {
                "node_cpu_usage_seconds_total" => {
                    node_point.cpu_ns = (s.value * 1e9) as u64;
                    node_point.timestamp_ns = ts;
                }
                "node_memory_working_set_bytes" => node_point.memory = s.value as u64,
                "container_cpu_usage_seconds_total" => {
                    let c = container_of(&mut pods, s);
                    c.cpu_ns = (s.value * 1e9) as u64;
                    c.timestamp_ns = ts;
                }
                "container_memory_working_set_bytes" => container_of(&mut pods, s).memory = s.value as u64,
                "container_start_time_seconds" => container_of(&mut pods, s).start_ns = (s.value * 1e9) as i64,
                _ => {}
            }
        }
        if node_point.timestamp_ns != 0 && node_point.cpu_ns != 0 && node_point.memory != 0 {
            self.nodes.insert(node.to_string(), node_point);
        }
        for (key, containers) in pods {
            if containers.values().all(|c| c.timestamp_ns != 0 && c.cpu_ns != 0 && c.memory != 0) {
                self.pods.insert(key, containers);
            }
        }
    }
}

/// The point of the container a sample names.
fn container_of<'a>(pods: &'a mut HashMap<PodKey, BTreeMap<String, Point>>, s: &Sample) -> &'a mut Point {
    let key = (s.label("namespace").to_string(), s.label("pod").to_string());
    pods.entry(key).or_default().entry(s.label("container").to_string()).or_default()
}

/// Usage over the window between two points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// CPU in nanocores.
    pub cpu_nanocores: u64,
    /// Working set in bytes (of the latest point).
    pub memory: u64,
    /// The latest point's time (unix ns).
    pub timestamp_ns: i64,
    /// Time between the two points.
    pub window_ns: u64,
}

/// The rate between `prev` and `last`, or None when the counter went backwards or the
/// points are not in order (a restart between them).
pub fn usage(last: &Point, prev: &Point) -> Option<Usage> {
    if last.start_ns < prev.start_ns || last.cpu_ns < prev.cpu_ns || last.timestamp_ns <= prev.timestamp_ns {
        return None;
    }
    let window_ns = (last.timestamp_ns - prev.timestamp_ns) as u64;
    let cpu_nanocores = ((last.cpu_ns - prev.cpu_ns) as f64 / (window_ns as f64 / 1e9)) as u64;
    Some(Usage { cpu_nanocores, memory: last.memory, timestamp_ns: last.timestamp_ns, window_ns })
}

/// A pod's usage: per container, with the earliest container's time and window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodUsage {
    /// Time of the earliest container point.
    pub timestamp_ns: i64,
    /// Its window.
    pub window_ns: u64,
    /// Container name and usage, by name.
    pub containers: Vec<(String, Usage)>,
}

/// The two latest points of everything.
#[derive(Debug, Default)]
pub struct Points {
    last_nodes: HashMap<String, Point>,
    prev_nodes: HashMap<String, Point>,
    last_pods: HashMap<PodKey, BTreeMap<String, Point>>,
    prev_pods: HashMap<PodKey, BTreeMap<String, Point>>,
}

impl Points {
    /// Takes a scrape round: what it lacks is forgotten; what it has becomes the latest
    /// point, the former latest the previous one (when older).
    pub fn store(&mut self, batch: Batch, resolution: Duration) {
        let mut prev_nodes = HashMap::new();
        for (name, point) in &batch.nodes {
            if let Some(prev) = self.previous(self.last_nodes.get(name), self.prev_nodes.get(name), point) {
                prev_nodes.insert(name.clone(), prev);
            }
        }
        let resolution_ns = resolution.as_nanos() as i64;
        let mut prev_pods = HashMap::new();
        for (key, containers) in &batch.pods {
            let mut prev_containers = BTreeMap::new();
            for (name, point) in containers {
                let age = point.timestamp_ns - point.start_ns;
                let prev = if point.start_ns > 0 && age > 0 && age < resolution_ns && age >= FRESH_CONTAINER_MIN {
                    Some(Point { timestamp_ns: point.start_ns, cpu_ns: 0, ..*point })
                } else {
                    let last = self.last_pods.get(key).and_then(|c| c.get(name)).filter(|l| point.start_ns < l.timestamp_ns);
                    let prev = self.prev_pods.get(key).and_then(|c| c.get(name));
                    last.and_then(|l| self.previous(Some(l), prev, point))
                };
                if let Some(prev) = prev {
                    prev_containers.insert(name.clone(), prev);
                }
            }
            if !prev_containers.is_empty() {
                prev_pods.insert(key.clone(), prev_containers);
            }
        }
        self.last_nodes = batch.nodes;
        self.prev_nodes = prev_nodes;
        self.last_pods = batch.pods;
        self.prev_pods = prev_pods;
    }

    /// The point to keep as previous for `new`: the stored latest when `new` is newer,
    /// else the stored previous when it is older than `new`.
    fn previous(&self, last: Option<&Point>, prev: Option<&Point>, new: &Point) -> Option<Point> {
        let last = last?;
        if new.timestamp_ns > last.timestamp_ns {
            return Some(*last);
        }
        prev.filter(|p| p.timestamp_ns < new.timestamp_ns).copied()
    }

    /// A node's usage, once it has two points.
    pub fn node(&self, name: &str) -> Option<Usage> {
        usage(self.last_nodes.get(name)?, self.prev_nodes.get(name)?)
    }

    /// A pod's usage, once every container has two points.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<PodUsage> {
        let key = (namespace.to_string(), name.to_string());
        let (last, prev) = (self.last_pods.get(&key)?, self.prev_pods.get(&key)?);
        let mut containers = Vec::with_capacity(last.len());
        let mut earliest: Option<Usage> = None;
        for (container, point) in last {
            // A container without a previous point: the pod has no metrics yet.
            let Some(u) = usage(point, prev.get(container)?) else { continue };
            if earliest.is_none_or(|e| u.timestamp_ns < e.timestamp_ns) {
                earliest = Some(u);
            }
            containers.push((container.clone(), u));
        }
        let earliest = earliest.unwrap_or(Usage { cpu_nanocores: 0, memory: 0, timestamp_ns: 0, window_ns: 0 });
        Some(PodUsage { timestamp_ns: earliest.timestamp_ns, window_ns: earliest.window_ns, containers })
    }

    /// Whether nothing is stored (no node answered yet).
    pub fn is_empty(&self) -> bool {
        self.last_nodes.is_empty() && self.last_pods.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::prometheus::parse;

    const SECOND: i64 = 1_000_000_000;

    fn kubelet_text(t_ms: i64, node_cpu: f64, burn_cpu: f64) -> String {
        format!(
            "node_cpu_usage_seconds_total {node_cpu} {t_ms}\n\
node_memory_working_set_bytes 2e+09 {t_ms}\n\
container_cpu_usage_seconds_total{{container=\"c\",namespace=\"default\",pod=\"burn\"}} {burn_cpu} {t_ms}\n\
container_memory_working_set_bytes{{container=\"c\",namespace=\"default\",pod=\"burn\"}} 1.048576e+06 {t_ms}\n\
container_start_time_seconds{{container=\"c\",namespace=\"default\",pod=\"burn\"}} 1.6e+09\n\
container_cpu_usage_seconds_total{{container=\"c\",namespace=\"default\",pod=\"partial\"}} 1 {t_ms}\n"
        )
    }

    fn batch(t_ms: i64, node_cpu: f64, burn_cpu: f64) -> Batch {
        let mut b = Batch::default();
        b.add_node("n1", &parse(&kubelet_text(t_ms, node_cpu, burn_cpu)).unwrap(), 0);
        b
    }

    #[test]
    fn decode_drops_incomplete_points() {
        let b = batch(1_700_000_000_000, 10.0, 1.0);
        assert_eq!(b.nodes["n1"], Point { start_ns: 0, timestamp_ns: 1_700_000_000_000 * 1_000_000, cpu_ns: 10 * SECOND as u64, memory: 2_000_000_000 });
        let burn = &b.pods[&("default".to_string(), "burn".to_string())]["c"];
        assert_eq!((burn.start_ns, burn.memory), (1_600_000_000 * SECOND, 1_048_576));
        assert!(!b.pods.contains_key(&("default".to_string(), "partial".to_string())), "a container without memory drops its pod");
    }

    #[test]
    fn rate_needs_two_points_and_uses_the_window_between_them() {
        let mut points = Points::default();
        let t0 = 1_700_000_000_000;
        points.store(batch(t0, 10.0, 1.0), Duration::from_secs(15));
        assert_eq!(points.node("n1"), None, "one point is not a rate");
        assert_eq!(points.pod("default", "burn"), None);
        points.store(batch(t0 + 15_000, 25.0, 16.0), Duration::from_secs(15));
        let node = points.node("n1").unwrap();
        assert_eq!(node.cpu_nanocores, 1_000_000_000, "15 core-seconds in 15 s is one core");
        assert_eq!(node.window_ns, 15 * SECOND as u64);
        assert_eq!(node.timestamp_ns, (t0 + 15_000) * 1_000_000);
        assert_eq!(node.memory, 2_000_000_000);
        let pod = points.pod("default", "burn").unwrap();
        assert_eq!(pod.containers.len(), 1);
        assert_eq!(pod.containers[0].0, "c");
        assert_eq!(pod.containers[0].1.cpu_nanocores, 1_000_000_000);
        assert_eq!((pod.timestamp_ns, pod.window_ns), ((t0 + 15_000) * 1_000_000, 15 * SECOND as u64));
        // The same answer again (the kubelet's cache) keeps the previous point.
        points.store(batch(t0 + 15_000, 25.0, 16.0), Duration::from_secs(15));
        assert_eq!(points.node("n1").unwrap().cpu_nanocores, 1_000_000_000);
        // A node missing from a round is forgotten.
        points.store(Batch::default(), Duration::from_secs(15));
        assert_eq!(points.node("n1"), None);
        assert!(points.is_empty());
    }

    #[test]
    fn a_counter_going_backwards_is_no_rate() {
        let last = Point { start_ns: 0, timestamp_ns: 2 * SECOND, cpu_ns: 5, memory: 1 };
        let prev = Point { start_ns: 0, timestamp_ns: SECOND, cpu_ns: 9, memory: 1 };
        assert_eq!(usage(&last, &prev), None);
        let restarted = Point { start_ns: 3, ..prev };
        assert_eq!(usage(&Point { start_ns: 1, ..last }, &restarted), None);
    }

    #[test]
    fn a_fresh_container_counts_from_its_start() {
        let mut points = Points::default();
        let start_ms = 1_600_000_000_000i64;
        let now_ms = start_ms + 12_000;
        let text = format!(
            "container_cpu_usage_seconds_total{{container=\"c\",namespace=\"ns\",pod=\"p\"}} 6 {now_ms}\n\
container_memory_working_set_bytes{{container=\"c\",namespace=\"ns\",pod=\"p\"}} 4096 {now_ms}\n\
container_start_time_seconds{{container=\"c\",namespace=\"ns\",pod=\"p\"}} 1.6e+09\n"
        );
        let mut b = Batch::default();
        b.add_node("n1", &parse(&text).unwrap(), 0);
        points.store(b, Duration::from_secs(15));
        let pod = points.pod("ns", "p").unwrap();
        assert_eq!(pod.containers[0].1.cpu_nanocores, 500_000_000, "6 core-seconds over 12 s");
        assert_eq!(pod.window_ns, 12 * SECOND as u64);
    }
}
