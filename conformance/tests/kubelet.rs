//! The kubelet end to end: a real `ironkube up` with its own containerd, CNI bridge and
//! the local busybox image, driven with stock kubectl. Skips (with a message) where not
//! root or containerd is missing; CI runs as root with the packages from `.ci/run`.
//!
//! Pods are bound with `spec.nodeName` directly, so these tests do not need the scheduler.

use ironkube_conformance::{Cluster, assert_eventually};
use std::io::{Read, Write};

fn pod_yaml(c: &Cluster, name: &str, body: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {}\n{body}", c.node_name())
}

fn jsonpath(c: &Cluster, pod: &str, path: &str) -> String {
    String::from_utf8_lossy(&c.kubectl(&["get", "pod", pod, "-o", &format!("jsonpath={{{path}}}")]).stdout).into_owned()
}

/// GET `path` from `ip:80` over plain HTTP/1.0; the body, or None on any failure.
fn http_get(ip: &str, path: &str) -> Option<String> {
    let addr: std::net::SocketAddr = format!("{ip}:80").parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines().next().is_some_and(|l| l.split_whitespace().nth(1) == Some("200")).then(|| out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

#[test]
fn node_is_ready_and_a_pod_serves_http_on_its_own_ip() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let node = c.node_name().to_string();
    let ready = c.ok(&["get", "node", &node, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}"]);
    assert_eq!(ready, "KubeletReady");
    let runtime = c.ok(&["get", "node", &node, "-o", "jsonpath={.status.nodeInfo.containerRuntimeVersion}"]);
    assert!(runtime.starts_with("containerd://"), "{runtime}");
    assert_eq!(c.ok(&["get", "node", &node, "-o", "jsonpath={.spec.podCIDR}"]), c.node.as_ref().unwrap().pod_cidr);
    assert_eventually!(c.kubectl(&["get", "lease", "-n", "kube-node-lease", &node]).status.success(), "no node Lease");

    c.ok_with_input(&["apply", "-f", "-"], &pod_yaml(&c, "web", "  containers:\n  - name: web\n    image: ironkube.local/busybox\n    command: [httpd, -f, -p, '80', -h, /etc]\n"));
    assert_eventually!(jsonpath(&c, "web", ".status.phase") == "Running", "web never ran: {}", c.ok(&["get", "pod", "web", "-o", "yaml"]));
    let ip = jsonpath(&c, "web", ".status.podIP");
    assert!(ip.starts_with("10.244."), "pod IP {ip}");
    assert_eventually!(http_get(&ip, "/passwd").is_some_and(|b| b.contains("root:x:0:0")), "the pod's httpd did not answer on {ip}");
    let id = jsonpath(&c, "web", ".status.containerStatuses[0].containerID");
    assert!(id.starts_with("containerd://"), "{id}");
    assert_eventually!(
        {
            let ev = c.ok(&["get", "events", "--field-selector", "involvedObject.name=web", "-o", "jsonpath={.items[*].reason}"]);
            ["Pulled", "Created", "Started"].iter().all(|r| ev.contains(r))
        },
        "events Pulled, Created, Started missing"
    );
    // Graceful deletion removes the object once the containers are gone.
    c.ok(&["delete", "pod", "web", "--grace-period=1", "--wait=false"]);
    assert_eventually!(!c.kubectl(&["get", "pod", "web"]).status.success(), "pod web was never deleted");
    assert_eventually!(http_get(&ip, "/passwd").is_none(), "the pod still answers after deletion");
}

#[test]
fn exit_codes_restart_policy_and_back_off() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let yaml = [
        pod_yaml(&c, "fails", "  restartPolicy: Never\n  containers:\n  - {name: c, image: ironkube.local/busybox, command: [sh, -c, 'exit 3']}\n"),
        pod_yaml(&c, "done", "  restartPolicy: OnFailure\n  containers:\n  - {name: c, image: ironkube.local/busybox, command: ['true']}\n"),
        pod_yaml(&c, "crash", "  containers:\n  - {name: c, image: ironkube.local/busybox, command: [sh, -c, 'exit 1']}\n"),
    ]
    .join("---\n");
    c.ok_with_input(&["apply", "-f", "-"], &yaml);
    assert_eventually!(jsonpath(&c, "fails", ".status.phase") == "Failed", "pod fails never Failed");
    assert_eq!(jsonpath(&c, "fails", ".status.containerStatuses[0].state.terminated.exitCode"), "3");
    assert_eq!(jsonpath(&c, "fails", ".status.containerStatuses[0].state.terminated.reason"), "Error");
    assert_eventually!(jsonpath(&c, "done", ".status.phase") == "Succeeded", "pod done never Succeeded");
    assert_eq!(jsonpath(&c, "done", ".status.containerStatuses[0].state.terminated.reason"), "Completed");
    assert_eventually!(
        jsonpath(&c, "crash", ".status.containerStatuses[0].state.waiting.reason") == "CrashLoopBackOff",
        "crash never went into CrashLoopBackOff: {}",
        c.ok(&["get", "pod", "crash", "-o", "yaml"])
    );
    let restarts: i32 = jsonpath(&c, "crash", ".status.containerStatuses[0].restartCount").parse().unwrap();
    assert!(restarts >= 1, "restartCount {restarts}");
    assert_eq!(jsonpath(&c, "crash", ".status.containerStatuses[0].lastState.terminated.exitCode"), "1");
    assert_eventually!(
        c.ok(&["get", "events", "--field-selector", "involvedObject.name=crash,reason=BackOff", "-o", "name"]).contains("event"),
        "no BackOff event"
    );
}

#[test]
fn probes_restart_and_flip_readiness() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let yaml = [
        pod_yaml(
            &c,
            "live",
            "  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: ironkube.local/busybox\n    command: [sh, -c, 'sleep 2; touch /tmp/dead; sleep 3600']\n    livenessProbe: {exec: {command: [sh, -c, '! test -f /tmp/dead']}, periodSeconds: 1, failureThreshold: 1}\n",
        ),
        pod_yaml(
            &c,
            "ready",
            "  containers:\n  - name: c\n    image: ironkube.local/busybox\n    command: [sh, -c, 'mkdir /w; sleep 3; echo ok > /w/index.html; httpd -f -p 80 -h /w']\n    readinessProbe: {httpGet: {path: /index.html, port: 80}, periodSeconds: 1}\n",
        ),
        // A gRPC health probe against a port that speaks HTTP/1.1, not gRPC (busybox has
        // no gRPC server; the SERVING path is unit-tested in the kubelet's probes).
        pod_yaml(
            &c,
            "grpc",
            "  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: ironkube.local/busybox\n    command: [httpd, -f, -p, '80', -h, /etc]\n    livenessProbe: {grpc: {port: 80}, periodSeconds: 1, failureThreshold: 1, timeoutSeconds: 1}\n",
        ),
    ]
    .join("---\n");
    c.ok_with_input(&["apply", "-f", "-"], &yaml);
    assert_eventually!(jsonpath(&c, "ready", ".status.phase") == "Running", "ready never ran");
    // Running but not Ready until the probe passes, then Ready.
    assert_eq!(jsonpath(&c, "ready", ".status.conditions[?(@.type==\"Ready\")].status"), "False");
    assert_eventually!(jsonpath(&c, "ready", ".status.conditions[?(@.type==\"Ready\")].status") == "True", "readiness never flipped Ready");
    assert_eq!(jsonpath(&c, "ready", ".status.containerStatuses[0].ready"), "true");
    assert_eventually!(
        jsonpath(&c, "live", ".status.containerStatuses[0].restartCount").parse::<i32>().unwrap_or(0) >= 1,
        "liveness failure never restarted the container: {}",
        c.ok(&["get", "pod", "live", "-o", "yaml"])
    );
    let ev = c.ok(&["get", "events", "--field-selector", "involvedObject.name=live", "-o", "jsonpath={.items[*].message}"]);
    assert!(ev.contains("Liveness probe failed"), "{ev}");
    assert!(ev.contains("failed liveness probe, will be restarted"), "{ev}");
    assert_eventually!(
        jsonpath(&c, "grpc", ".status.containerStatuses[0].restartCount").parse::<i32>().unwrap_or(0) >= 1,
        "a failing gRPC liveness probe never restarted the container: {}",
        c.ok(&["get", "pod", "grpc", "-o", "yaml"])
    );
    let ip = jsonpath(&c, "grpc", ".status.podIP");
    let ev = c.ok(&["get", "events", "--field-selector", "involvedObject.name=grpc", "-o", "jsonpath={.items[*].message}"]);
    // Upstream's text (pkg/probe/grpc): the blocking dial never gets a gRPC connection.
    assert!(ev.contains(&format!("Liveness probe failed: timeout: failed to connect service \"{ip}:80\" within 1s: context deadline exceeded")), "{ev}");
}

#[test]
fn volumes_env_and_config_map_updates() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    c.ok(&["create", "configmap", "site", "--from-literal=greeting=hello"]);
    c.ok(&["create", "secret", "generic", "creds", "--from-literal=user=alice"]);
    let body = "  volumes:\n  - {name: site, configMap: {name: site}}\n  - {name: mem, emptyDir: {medium: Memory}}\n  - {name: creds, secret: {secretName: creds, defaultMode: 0400}}\n  - {name: meta, downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}}\n  containers:\n  - name: c\n    image: ironkube.local/busybox\n    env:\n    - {name: GREETING, valueFrom: {configMapKeyRef: {name: site, key: greeting}}}\n    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n    envFrom: [{secretRef: {name: creds}, prefix: S_}]\n    command: [sh, -c, 'mkdir -p /w; echo \"$GREETING $POD_NAME $S_user\" > /w/env; stat -c %a /creds/user > /w/mode; cat /meta/name > /w/meta; grep -q \" /mem tmpfs\" /proc/mounts && echo tmpfs > /w/mem; ln -s /site/greeting /w/greeting; httpd -f -p 80 -h /w']\n    volumeMounts:\n    - {name: site, mountPath: /site}\n    - {name: mem, mountPath: /mem}\n    - {name: creds, mountPath: /creds}\n    - {name: meta, mountPath: /meta}\n";
    c.ok_with_input(&["apply", "-f", "-"], &pod_yaml(&c, "vols", body));
    assert_eventually!(jsonpath(&c, "vols", ".status.phase") == "Running", "vols never ran: {}", c.ok(&["get", "pod", "vols", "-o", "yaml"]));
    let ip = jsonpath(&c, "vols", ".status.podIP");
    assert_eventually!(http_get(&ip, "/env").is_some_and(|b| b.trim() == "hello vols alice"), "env: {:?}", http_get(&ip, "/env"));
    assert_eq!(http_get(&ip, "/mode").unwrap_or_default().trim(), "400");
    assert_eq!(http_get(&ip, "/meta").unwrap_or_default().trim(), "vols");
    assert_eq!(http_get(&ip, "/mem").unwrap_or_default().trim(), "tmpfs");
    assert_eq!(http_get(&ip, "/greeting").unwrap_or_default().trim(), "hello");
    c.ok(&["patch", "configmap", "site", "-p", r#"{"data":{"greeting":"bonjour"}}"#]);
    assert_eventually!(http_get(&ip, "/greeting").is_some_and(|b| b.trim() == "bonjour"), "the ConfigMap update never reached the mounted file");
}

#[test]
fn pre_stop_runs_before_sigterm() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let host = c.dir.path().join("hostlog");
    std::fs::create_dir_all(&host).unwrap();
    let body = format!(
        "  terminationGracePeriodSeconds: 10\n  volumes: [{{name: h, hostPath: {{path: {}, type: Directory}}}}]\n  containers:\n  - name: c\n    image: ironkube.local/busybox\n    volumeMounts: [{{name: h, mountPath: /h}}]\n    command: [sh, -c, 'trap \"echo term >> /h/log; exit 0\" TERM; echo start >> /h/log; while true; do sleep 0.2; done']\n    lifecycle: {{preStop: {{exec: {{command: [sh, -c, 'echo prestop >> /h/log']}}}}}}\n",
        host.display()
    );
    c.ok_with_input(&["apply", "-f", "-"], &pod_yaml(&c, "hooks", &body));
    assert_eventually!(std::fs::read_to_string(host.join("log")).is_ok_and(|l| l.contains("start")), "the container never started");
    c.ok(&["delete", "pod", "hooks", "--wait=false"]);
    assert_eventually!(!c.kubectl(&["get", "pod", "hooks"]).status.success(), "pod hooks was never deleted");
    let log = std::fs::read_to_string(host.join("log")).unwrap();
    assert_eq!(log.lines().collect::<Vec<_>>(), ["start", "prestop", "term"], "{log}");
}

#[test]
fn init_failure_oom_and_missing_image() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let yaml = [
        pod_yaml(&c, "initfail", "  restartPolicy: Never\n  initContainers:\n  - {name: i, image: ironkube.local/busybox, command: [sh, -c, 'exit 2']}\n  containers:\n  - {name: c, image: ironkube.local/busybox, command: [sleep, '3600']}\n"),
        pod_yaml(&c, "oom", "  restartPolicy: Never\n  containers:\n  - name: c\n    image: ironkube.local/busybox\n    command: [sh, -c, 'x=a; while true; do x=$x$x$x$x; done']\n    resources: {limits: {memory: 20Mi}}\n"),
        pod_yaml(&c, "noimage", "  containers:\n  - {name: c, image: ironkube.local/not-there:v1}\n"),
    ]
    .join("---\n");
    c.ok_with_input(&["apply", "-f", "-"], &yaml);
    assert_eventually!(jsonpath(&c, "initfail", ".status.phase") == "Failed", "initfail never Failed");
    assert_eq!(jsonpath(&c, "initfail", ".status.initContainerStatuses[0].state.terminated.exitCode"), "2");
    assert_eq!(jsonpath(&c, "initfail", ".status.containerStatuses[0].state.waiting.reason"), "PodInitializing");
    assert_eq!(jsonpath(&c, "initfail", ".status.conditions[?(@.type==\"Initialized\")].status"), "False");
    assert_eventually!(
        jsonpath(&c, "oom", ".status.containerStatuses[0].state.terminated.reason") == "OOMKilled",
        "oom was not OOMKilled: {}",
        c.ok(&["get", "pod", "oom", "-o", "yaml"])
    );
    assert_eventually!(
        ["ErrImagePull", "ImagePullBackOff"].contains(&jsonpath(&c, "noimage", ".status.containerStatuses[0].state.waiting.reason").as_str()),
        "noimage: {}",
        c.ok(&["get", "pod", "noimage", "-o", "yaml"])
    );
    assert_eq!(jsonpath(&c, "noimage", ".status.phase"), "Pending");
    assert_eventually!(
        c.ok(&["get", "events", "--field-selector", "involvedObject.name=noimage", "-o", "jsonpath={.items[*].message}"]).contains("Failed to pull image"),
        "no Failed event for the missing image"
    );
}

#[test]
fn a_restarted_node_adopts_running_containers() {
    let Some(mut c) = Cluster::start_with_kubelet() else { return };
    c.ok_with_input(&["apply", "-f", "-"], &pod_yaml(&c, "keep", "  containers:\n  - name: web\n    image: ironkube.local/busybox\n    command: [httpd, -f, -p, '80', -h, /etc]\n"));
    assert_eventually!(jsonpath(&c, "keep", ".status.phase") == "Running", "keep never ran");
    let id = jsonpath(&c, "keep", ".status.containerStatuses[0].containerID");
    let ip = jsonpath(&c, "keep", ".status.podIP");
    c.crash_and_restart();
    assert!(c.stdout.lock().unwrap().iter().any(|l| l.contains("containerd") && l.contains("adopted")), "containerd was not adopted");
    // Give the new kubelet time to sync the pod; it must neither restart nor replace it.
    assert_eventually!(http_get(&ip, "/passwd").is_some(), "the pod stopped answering after the restart");
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(jsonpath(&c, "keep", ".status.containerStatuses[0].containerID"), id);
    assert_eq!(jsonpath(&c, "keep", ".status.containerStatuses[0].restartCount"), "0");
    assert_eq!(jsonpath(&c, "keep", ".status.phase"), "Running");
}

/// `ironkube-kubelet`, the kubelet-only binary, joins a running cluster as a second node
/// (on the first node's containerd), runs and stops a pod there, and reports its node
/// NotReady when stopped.
#[test]
fn the_kubelet_only_binary_runs_a_second_node() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let node = format!("{}-kubelet-only", c.node_name());
    let mut kubelet = std::process::Command::new(ironkube_conformance::kubelet_only_bin())
        .args(["--hostname-override", &node, "--pod-cidr", &c.node.as_ref().unwrap().pod_cidr, "--kubeconfig"])
        .arg(&c.kubeconfig)
        .arg("--container-runtime-endpoint")
        .arg(c.dir.path().join("containerd/containerd.sock"))
        .arg("--root-dir")
        .arg(c.dir.path().join("kubelet-only"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start ironkube-kubelet");
    let ready = |c: &Cluster| String::from_utf8_lossy(&c.kubectl(&["get", "node", &node, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}"]).stdout).into_owned();
    assert_eventually!(ready(&c) == "KubeletReady", "node {node} never became Ready: {:?}", ready(&c));
    let yaml = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: second\nspec:\n  nodeName: {node}\n  containers:\n  - name: web\n    image: ironkube.local/busybox\n    command: [httpd, -f, -p, '80', -h, /etc]\n");
    c.ok_with_input(&["apply", "-f", "-"], &yaml);
    assert_eventually!(jsonpath(&c, "second", ".status.phase") == "Running", "the pod never ran: {}", c.ok(&["get", "pod", "second", "-o", "yaml"]));
    let ip = jsonpath(&c, "second", ".status.podIP");
    assert_eventually!(http_get(&ip, "/passwd").is_some_and(|b| b.contains("root:x:0:0")), "the pod's httpd did not answer on {ip}");

    c.ok(&["delete", "pod", "second", "--grace-period=1", "--wait=false"]);
    assert_eventually!(!c.kubectl(&["get", "pod", "second"]).status.success(), "the pod was never deleted");
    assert_eventually!(http_get(&ip, "/passwd").is_none(), "the pod still answers after deletion");

    let _ = std::process::Command::new("kill").args(["-TERM", &kubelet.id().to_string()]).status();
    let status = kubelet.wait().expect("wait for ironkube-kubelet");
    assert!(status.success(), "ironkube-kubelet exited with {status}");
    assert_eq!(ready(&c), "KubeletNotReady");
}

/// The whole chain with no `nodeName` given: `kubectl create deployment` → Deployment and
/// ReplicaSet controllers create pods → the scheduler binds them → the kubelet runs them →
/// the rollout completes, the endpoints controller lists the pods' IPs, and each answers
/// HTTP; `kubectl run` is scheduled the same way.
#[test]
fn a_deployment_is_scheduled_run_and_listed_in_endpoints() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    c.ok(&["create", "deployment", "web", "--image=ironkube.local/busybox", "--replicas=2", "--port=80", "--", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    c.ok(&["expose", "deployment", "web", "--port=80"]);
    let out = c.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let nodes = c.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.nodeName}"]);
    assert_eq!(nodes.split_whitespace().collect::<Vec<_>>(), [c.node_name(), c.node_name()], "pods bound by the scheduler");
    assert_eventually!(
        c.ok(&["get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].ip}"]).split_whitespace().count() == 2,
        "endpoints never listed both pods: {}",
        c.ok(&["get", "endpoints", "web", "-o", "yaml"])
    );
    for ip in c.ok(&["get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].ip}"]).split_whitespace() {
        assert!(http_get(ip, "/passwd").is_some_and(|body| body.contains("root")), "pod {ip} does not serve HTTP");
    }
    c.ok(&["run", "box", "--image=ironkube.local/busybox", "--", "sh", "-c", "echo hello; sleep 3600"]);
    assert_eventually!(jsonpath(&c, "box", ".status.phase") == "Running", "box never ran: {}", c.ok(&["describe", "pod", "box"]));
    let events = c.ok(&["describe", "pod", "box"]);
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(events.contains(reason), "no {reason} event: {events}");
    }
    assert_eventually!(c.ok(&["logs", "box"]).trim() == "hello", "logs of box: {}", c.ok(&["logs", "box"]));
}
