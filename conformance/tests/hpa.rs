//! HorizontalPodAutoscalers end to end with stock kubectl (upstream
//! `pkg/controller/podautoscaler`): `kubectl autoscale`, `kubectl get/describe hpa`, the
//! conditions and events upstream's controller writes. Without a kubelet: what needs no
//! metrics (a missing target, minReplicas with metrics missing, scaling disabled, the
//! custom and external metrics APIs absent). With the kubelet (root + containerd): a
//! CPU-burning Deployment scaled up on `metrics.k8s.io` samples.

use ironkube_conformance::{Cluster, assert_eventually};

/// Syncs every second instead of 15 s so the tests wait less (the flag upstream has).
const FAST_SYNC: &[&str] = &["--horizontal-pod-autoscaler-sync-period", "1s"];

fn status_of(c: &Cluster, hpa: &str, type_: &str) -> String {
    c.ok(&["get", "hpa", hpa, "-o", &format!("jsonpath={{.status.conditions[?(@.type==\"{type_}\")].status}}/{{.status.conditions[?(@.type==\"{type_}\")].reason}}/{{.status.conditions[?(@.type==\"{type_}\")].message}}")])
}

#[test]
fn missing_target_fails_get_scale() {
    let c = Cluster::start_with(FAST_SYNC);
    let hpas = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ghost}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}
  maxReplicas: 3
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: unknown-kind}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Nope, name: x}
  maxReplicas: 3
"#;
    c.ok_with_input(&["apply", "-f", "-"], hpas);
    let want = "False/FailedGetScale/the HPA controller was unable to get the target's current scale: deployments.apps \"ghost\" not found";
    assert_eventually!(status_of(&c, "ghost", "AbleToScale") == want, "{}", c.ok(&["get", "hpa", "ghost", "-o", "yaml"]));
    let want = "False/FailedGetScale/the HPA controller was unable to get the target's current scale: no matches for kind \"Nope\" in group \"apps\"";
    assert_eventually!(status_of(&c, "unknown-kind", "AbleToScale") == want, "{}", c.ok(&["get", "hpa", "unknown-kind", "-o", "yaml"]));
    // Nothing was computed: no ScalingActive condition, no replicas.
    assert_eq!(status_of(&c, "ghost", "ScalingActive"), "//");
    assert_eventually!(c.ok(&["describe", "hpa", "ghost"]).contains("FailedGetScale"), "{}", c.ok(&["describe", "hpa", "ghost"]));
    let events = c.ok(&["get", "events", "--field-selector", "involvedObject.name=ghost", "-o", "jsonpath={.items[*].source.component}|{.items[*].message}"]);
    assert!(events.starts_with("horizontal-pod-autoscaler|") && events.contains("deployments.apps \"ghost\" not found"), "{events}");
}

#[test]
fn min_replicas_enforced_while_metrics_are_missing() {
    let c = Cluster::start_with(FAST_SYNC);
    c.ok(&["create", "deployment", "web", "--image=ironkube.local/busybox", "--replicas=1", "--", "sleep", "3600"]);
    c.ok(&["set", "resources", "deployment", "web", "--requests=cpu=50m"]);
    c.ok(&["autoscale", "deployment", "web", "--cpu=50%", "--min=2", "--max=5"]);
    // Below minReplicas: scaled up without looking at metrics.
    assert_eventually!(c.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]) == "2", "{}", c.ok(&["describe", "hpa", "web"]));
    let describe = || c.ok(&["describe", "hpa", "web"]);
    assert_eventually!(describe().contains("New size: 2; reason: Current number of replicas below Spec.MinReplicas"), "{}", describe());
    // Then no pod has a sample (there is no kubelet): ScalingActive=False, and the HPA keeps
    // the minimum instead of scaling down.
    let prefix = "False/FailedGetResourceMetric/the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: ";
    assert_eventually!(status_of(&c, "web", "ScalingActive").starts_with(prefix), "{}", c.ok(&["get", "hpa", "web", "-o", "yaml"]));
    assert_eventually!(describe().contains("FailedComputeMetricsReplicas"), "{}", describe());
    assert_eq!(c.ok(&["get", "hpa", "web", "-o", "jsonpath={.status.currentReplicas}/{.status.desiredReplicas}/{.status.lastScaleTime}"]).split('/').take(2).collect::<Vec<_>>(), ["2", "2"]);
    assert_eq!(c.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "2");
    // kubectl's columns, from the server's Table.
    let table = c.ok(&["get", "hpa", "web"]);
    let header: Vec<&str> = table.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(&row[..7], &["web", "Deployment/web", "cpu:", "<unknown>/50%", "2", "5", "2"], "{table}");

    // A second HPA on the same pods: both stop, with upstream's AmbiguousSelector.
    c.ok(&["autoscale", "deployment", "web", "--name=web-2", "--cpu=60%", "--min=2", "--max=5"]);
    for hpa in ["web", "web-2"] {
        let want = "False/AmbiguousSelector/pods by selector app=web are controlled by multiple HPAs: [{web default} {web-2 default}]";
        assert_eventually!(status_of(&c, hpa, "ScalingActive") == want, "{}", c.ok(&["get", "hpa", hpa, "-o", "yaml"]));
    }
}

#[test]
fn zero_replicas_disable_scaling_and_custom_metrics_are_absent() {
    let c = Cluster::start_with(FAST_SYNC);
    c.ok(&["create", "deployment", "idle", "--image=ironkube.local/busybox", "--replicas=0", "--", "sleep", "3600"]);
    c.ok(&["autoscale", "deployment", "idle", "--cpu=50%", "--min=1", "--max=3"]);
    let want = "False/ScalingDisabled/scaling is disabled since the replica count of the target is zero";
    assert_eventually!(status_of(&c, "idle", "ScalingActive") == want, "{}", c.ok(&["get", "hpa", "idle", "-o", "yaml"]));
    assert_eq!(c.ok(&["get", "deployment", "idle", "-o", "jsonpath={.spec.replicas}"]), "0");

    c.ok(&["create", "deployment", "api", "--image=ironkube.local/busybox", "--replicas=1", "--", "sleep", "3600"]);
    let hpa = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 3
  metrics:
  - type: Pods
    pods: {metric: {name: packets}, target: {type: AverageValue, averageValue: 1k}}
  - type: External
    external: {metric: {name: queue}, target: {type: Value, value: "10"}}
"#;
    c.ok_with_input(&["apply", "-f", "-"], hpa);
    let want = "False/FailedGetPodsMetric/the HPA was unable to compute the replica count: unable to get metric packets: unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered";
    assert_eventually!(status_of(&c, "api", "ScalingActive") == want, "{}", c.ok(&["get", "hpa", "api", "-o", "yaml"]));
    let describe = || c.ok(&["describe", "hpa", "api"]);
    assert_eventually!(describe().contains("unable to get external metric default/queue/nil: unable to fetch metrics from external metrics API"), "{}", describe());
    assert_eventually!(describe().contains("invalid metrics (2 invalid out of 2), first error is: failed to get pods metric value"), "{}", describe());
    assert_eq!(c.ok(&["get", "deployment", "api", "-o", "jsonpath={.spec.replicas}"]), "1");
}

const BURNER: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: burn
        image: ironkube.local/busybox
        command: [sh, -c, 'while :; do :; done']
        resources:
          requests: {cpu: 50m}
          limits: {cpu: 100m}
"#;

#[test]
fn cpu_burning_deployment_scales_up_on_resource_metrics() {
    let fast = ["--horizontal-pod-autoscaler-sync-period", "2s", "--metric-resolution", "2s", "--horizontal-pod-autoscaler-downscale-stabilization", "4s"];
    let Some(c) = Cluster::start_with_kubelet_and(&fast) else { return };
    c.ok_with_input(&["apply", "-f", "-"], BURNER);
    c.ok(&["autoscale", "deployment", "burn", "--cpu-percent=50", "--min=1", "--max=3"]);
    let replicas = || c.ok(&["get", "deployment", "burn", "-o", "jsonpath={.spec.replicas}"]);
    assert_eventually!(replicas() == "3", "replicas {}; hpa: {}", replicas(), c.ok(&["get", "hpa", "burn", "-o", "yaml"]));
    let status = c.ok(&["get", "hpa", "burn", "-o", "jsonpath={.status.desiredReplicas}|{.status.currentMetrics[0].resource.name}|{.status.lastScaleTime}"]);
    let fields: Vec<&str> = status.split('|').collect();
    assert_eq!(&fields[..2], &["3", "cpu"], "{status}");
    assert!(!fields[2].is_empty(), "lastScaleTime: {status}");
    assert_eventually!(c.ok(&["get", "hpa", "burn", "-o", "jsonpath={.status.currentReplicas}"]) == "3", "{}", c.ok(&["get", "hpa", "burn", "-o", "yaml"]));
    let describe = c.ok(&["describe", "hpa", "burn"]);
    assert!(describe.contains("SuccessfulRescale") && describe.contains("New size: 3; reason: cpu resource utilization (percentage of request) above target"), "{describe}");
    let active = status_of(&c, "burn", "ScalingActive");
    assert!(active.starts_with("True/ValidMetricFound/the HPA was able to successfully calculate a replica count from cpu resource utilization"), "{active}");
    // The TARGETS column shows the measured utilization now.
    let targets = c.ok(&["get", "hpa", "burn", "-o", "jsonpath={.status.currentMetrics[0].resource.current.averageUtilization}"]);
    assert!(targets.parse::<i32>().is_ok_and(|u| u > 50), "utilization {targets}");

    // The pods stop burning: once the (shortened) downscale stabilization window has
    // passed, the HPA goes back to minReplicas.
    c.ok(&["patch", "deployment", "burn", "--type=json", "-p", r#"[{"op":"replace","path":"/spec/template/spec/containers/0/command","value":["sleep","3600"]}]"#]);
    c.ok(&["rollout", "status", "deployment/burn", "--timeout=120s"]);
    assert_eventually!(replicas() == "1", "replicas {}; hpa: {}", replicas(), c.ok(&["describe", "hpa", "burn"]));
    let describe = c.ok(&["describe", "hpa", "burn"]);
    assert!(describe.contains("New size: 1; reason: All metrics below target"), "{describe}");
}
