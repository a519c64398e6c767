//! The resource metrics API (`metrics.k8s.io/v1beta1`), served natively: what
//! metrics-server does behind API aggregation, without the extra pod. A scraper reads
//! every Ready node's kubelet `/metrics/resource` once per resolution; CPU is the rate
//! between the two latest cumulative points, memory the latest working set.
//!
//! Map: [`prometheus`] (reading the kubelet's text), [`points`] (the two latest points and
//! the rates), [`format`] (quantities, durations and times as the Go types print),
//! [`scraper`] (the loop), [`rest`] (GET and LIST of `nodes` and `pods`, Table output).

pub mod format;
pub mod points;
pub mod prometheus;
pub mod rest;
pub mod scraper;

use std::sync::Mutex;
use std::time::Duration;

/// The API group.
pub const GROUP: &str = "metrics.k8s.io";
/// Its only version.
pub const VERSION: &str = "v1beta1";
/// Verbs of both resources.
pub const VERBS: &[&str] = &["get", "list"];
/// metrics-server's default `--metric-resolution`.
pub const DEFAULT_RESOLUTION: Duration = Duration::from_secs(15);

/// One resource of the group, as discovery shows it.
#[derive(Clone, Copy, Debug)]
pub struct Resource {
    /// Plural name.
    pub name: &'static str,
    /// Kind of its objects.
    pub kind: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
}

/// `nodes` (NodeMetrics) and `pods` (PodMetrics), in discovery order.
pub const RESOURCES: &[Resource] = &[
    Resource { name: "nodes", kind: "NodeMetrics", namespaced: false },
    Resource { name: "pods", kind: "PodMetrics", namespaced: true },
];

/// The shared state: the scraped points and how often to scrape.
#[derive(Debug)]
pub struct Metrics {
    points: Mutex<points::Points>,
    resolution: Duration,
}

impl Metrics {
    /// Nothing scraped yet; scrape every `resolution`.
    pub fn new(resolution: Duration) -> Metrics {
        Metrics { points: Mutex::new(points::Points::default()), resolution }
    }

    /// The scrape interval.
    pub fn resolution(&self) -> Duration {
        self.resolution
    }

    /// Reads the points.
    pub fn with_points<T>(&self, read: impl FnOnce(&points::Points) -> T) -> T {
        read(&self.points.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stores a scrape round.
    pub fn store(&self, batch: points::Batch) {
        self.points.lock().unwrap_or_else(|e| e.into_inner()).store(batch, self.resolution);
    }
}
