//! The resource metrics pipeline end to end: the kubelet's `/metrics/resource`, scraped
//! by the API server and served as `metrics.k8s.io/v1beta1`, read by stock `kubectl top`
//! (client-go's metrics clientset) and `kubectl get --raw`. The kubelet test needs root
//! and containerd (skips otherwise); the kubelet-less one runs everywhere.

use ironkube_conformance::{assert_eventually, tls_connector, tls_get, Cluster};
use std::collections::HashMap;

/// `kubectl top pod` rows as name → CPU in millicores (empty while metrics are not ready).
fn pod_cpu(c: &Cluster, extra: &[&str]) -> HashMap<String, u64> {
    let mut args = vec!["top", "pod", "--no-headers"];
    args.extend_from_slice(extra);
    let out = c.kubectl(&args);
    if !out.status.success() {
        return HashMap::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let cpu = cols.get(1)?.strip_suffix('m')?.parse().ok()?;
            Some((cols[0].to_string(), cpu))
        })
        .collect()
}

/// `GET /metrics/resource` straight from the kubelet, with the API server's
/// kubelet-client certificate or none: status and body.
fn kubelet_resource_metrics(c: &Cluster, with_certificate: bool) -> (u16, String) {
    let port: u16 = c.ok(&["get", "node", c.node_name(), "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}"]).trim().parse().expect("a kubelet port");
    let pki = c.dir.path().join("pki");
    let client = (pki.join("apiserver-kubelet-client.crt"), pki.join("apiserver-kubelet-client.key"));
    let client = with_certificate.then_some((client.0.as_path(), client.1.as_path()));
    tls_get(&tls_connector(Some(&pki.join("ca.crt")), client), port, "/metrics/resource").expect("TLS to the kubelet")
}

#[test]
fn kubectl_top_shows_a_busy_pod_above_an_idle_one() {
    let Some(c) = Cluster::start_with_kubelet_and(&["--metric-resolution=1s"]) else { return };
    c.ok(&["run", "burn", "--image=ironkube.local/busybox", "--labels=app=burn", "--", "sh", "-c", "while :; do :; done"]);
    c.ok(&["run", "idle", "--image=ironkube.local/busybox", "--labels=app=idle", "--", "sleep", "3600"]);
    for pod in ["burn", "idle"] {
        assert_eventually!(
            c.ok(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]) == "Running",
            "pod {pod} never ran: {}",
            c.ok(&["get", "pod", pod, "-o", "yaml"])
        );
    }

    // The kubelet's endpoint: upstream's names, labels and millisecond timestamps, for the
    // API server's identity only.
    assert_eq!(kubelet_resource_metrics(&c, false).0, 401);
    let (code, text) = kubelet_resource_metrics(&c, true);
    assert_eq!(code, 200, "{text}");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let sample = |prefix: &str| -> (f64, Option<i64>) {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in:\n{text}"));
        let mut fields = line[prefix.len()..].split_whitespace();
        (fields.next().unwrap().parse().unwrap(), fields.next().map(|t| t.parse().unwrap()))
    };
    for prefix in [
        "container_cpu_usage_seconds_total{container=\"burn\",namespace=\"default\",pod=\"burn\"} ",
        "container_memory_working_set_bytes{container=\"idle\",namespace=\"default\",pod=\"idle\"} ",
        "pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"burn\"} ",
        "pod_memory_working_set_bytes{namespace=\"default\",pod=\"idle\"} ",
        "node_cpu_usage_seconds_total ",
        "node_memory_working_set_bytes ",
    ] {
        let (value, ts) = sample(prefix);
        assert!(value > 0.0, "{prefix}: {value}");
        assert!(ts.is_some_and(|t| (t - now_ms).abs() < 600_000), "{prefix}: timestamp {ts:?}, now {now_ms}");
    }
    assert!(sample("container_start_time_seconds{container=\"burn\",namespace=\"default\",pod=\"burn\"} ").0 > 1.7e9);
    assert!(text.contains("# TYPE container_cpu_usage_seconds_total counter\n"), "{text}");
    assert!(text.contains("\nscrape_error 0\n"), "{text}");

    // Both pods appear, the burning one clearly above the idle one.
    let mut last = HashMap::new();
    assert_eventually!(
        {
            last.clear();
            last.extend(pod_cpu(&c, &[]));
            matches!((last.get("burn"), last.get("idle")), (Some(&burn), Some(&idle)) if burn >= 20 && burn > 5 * idle.max(1))
        },
        "kubectl top pod never showed burn clearly above idle: {last:?}"
    );

    // Node figures: CPU in millicores, memory in Mi, and percentages of the allocatable.
    let node = c.ok(&["top", "node", "--no-headers"]);
    let cols: Vec<&str> = node.split_whitespace().collect();
    assert_eq!(cols.first(), Some(&c.node_name()), "{node}");
    assert!(cols[1].strip_suffix('m').and_then(|m| m.parse::<u64>().ok()).is_some_and(|m| m >= 50), "node CPU includes the busy pod: {node}");
    assert!(cols[2].ends_with('%') && cols[3].ends_with("Mi") && cols[4].ends_with('%'), "{node}");

    // --containers names each container; -A adds the namespace; -l selects.
    let containers = c.ok(&["top", "pod", "--containers", "--no-headers"]);
    assert!(containers.lines().any(|l| l.split_whitespace().take(2).eq(["burn", "burn"])), "{containers}");
    let all = c.ok(&["top", "pod", "-A", "--no-headers"]);
    assert!(all.lines().any(|l| l.starts_with("default ") && l.contains(" burn ")), "{all}");
    let selected = pod_cpu(&c, &["-l", "app=idle"]);
    assert_eq!(selected.keys().collect::<Vec<_>>(), ["idle"], "-l app=idle");

    // The objects themselves, with upstream's field names and quantity formats.
    let pm = c.raw("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn");
    assert_eq!(pm["kind"], "PodMetrics");
    assert_eq!(pm["apiVersion"], "metrics.k8s.io/v1beta1");
    assert_eq!(pm["metadata"]["name"], "burn");
    assert_eq!(pm["metadata"]["namespace"], "default");
    assert_eq!(pm["metadata"]["labels"]["app"], "burn");
    assert!(pm["timestamp"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 20), "{pm}");
    assert!(pm["window"].as_str().is_some_and(|w| w.ends_with('s')), "{pm}");
    let container = &pm["containers"][0];
    assert_eq!(container["name"], "burn");
    assert!(container["usage"]["cpu"].as_str().is_some_and(|q| q.ends_with('n') || q.ends_with('u') || q.ends_with('m')), "{pm}");
    assert!(container["usage"]["memory"].as_str().is_some_and(|q| q.ends_with("Ki") || q.ends_with("Mi")), "{pm}");
    let nodes = c.raw("/apis/metrics.k8s.io/v1beta1/nodes");
    assert_eq!(nodes["kind"], "NodeMetricsList");
    assert_eq!(nodes["items"][0]["metadata"]["name"], c.node_name());
    assert!(nodes["items"][0]["usage"]["memory"].is_string(), "{nodes}");
    let by_field = c.raw("/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.name%3Didle");
    let names: Vec<&str> = by_field["items"].as_array().unwrap().iter().filter_map(|i| i["metadata"]["name"].as_str()).collect();
    assert_eq!(names, ["idle"]);

    // kubectl get renders metrics-server's Table.
    let table = c.ok(&["get", "pods.metrics.k8s.io", "burn"]);
    assert!(table.starts_with("NAME") && table.contains("WINDOW") && table.contains("burn"), "{table}");

    // Errors as upstream: unknown names 404, a pod without metrics 404, writes 405.
    let err = c.fails(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope"]);
    assert!(err.contains("NotFound") && err.contains("pods \"nope\" not found"), "{err}");
    let err = c.fails(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/nope"]);
    assert!(err.contains("node \"nope\" not found"), "{err}");
    let err = c.fails(&["create", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", "-f", "/dev/null"]);
    assert!(err.contains("MethodNotAllowed"), "{err}");
    let err = c.fails(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods?watch=true"]);
    assert!(err.contains("watch is not supported on resources of kind \"pods.metrics.k8s.io\""), "{err}");
}

#[test]
fn without_a_kubelet_the_group_is_served_and_empty() {
    let c = Cluster::start();
    let resources = c.ok(&["api-resources", "--api-group=metrics.k8s.io", "--no-headers"]);
    assert!(resources.lines().any(|l| l.starts_with("nodes ") && l.contains("NodeMetrics")), "{resources}");
    assert!(resources.lines().any(|l| l.starts_with("pods ") && l.contains("PodMetrics")), "{resources}");
    let list = c.raw("/apis/metrics.k8s.io/v1beta1/pods");
    assert_eq!(list["kind"], "PodMetricsList");
    assert_eq!(list["items"], serde_json::json!([]));
    assert_eq!(c.raw("/apis/metrics.k8s.io/v1beta1/nodes")["items"], serde_json::json!([]));

    // Readers need RBAC like any resource; `view` includes the metrics (through
    // metrics-server's aggregated-metrics-reader role).
    c.ok(&["create", "rolebinding", "jane-views", "--clusterrole=view", "--user=jane"]);
    assert_eventually!(c.kubectl(&["--as=jane", "top", "pod"]).status.success(), "view never allowed jane to read pod metrics");
    let err = c.fails(&["--as=bob", "top", "pod"]);
    assert!(err.contains("forbidden") && err.contains("pods.metrics.k8s.io"), "{err}");

    // kubectl's own messages for an API with nothing to show.
    let out = c.kubectl(&["top", "pod"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "No resources found in default namespace.");
    assert!(c.fails(&["top", "node"]).contains("metrics not available yet"));
    c.ok(&["run", "waiting", "--image=ironkube.local/busybox", "--", "sleep", "1"]);
    assert!(c.fails(&["top", "pod"]).contains("metrics not available yet"));
    let err = c.fails(&["top", "pod", "waiting"]);
    assert!(err.contains("podmetrics.metrics.k8s.io \"default/waiting\" not found"), "{err}");
    let err = c.fails(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=spec.nodeName%3Dx"]);
    assert!(err.contains("BadRequest") && err.contains("is not a known field selector"), "{err}");
}
