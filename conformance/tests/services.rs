//! Services end to end: a real `ironkube up` with its kubelet and kube-proxy (iptables
//! mode) on this machine, driven with stock kubectl. ClusterIP from a pod, NodePort from
//! the host, REJECT without endpoints, and a pod reaching the API server through the
//! `kubernetes` Service with its service-account token. Skips (with a message) where
//! pods cannot run (not root, no containerd).
//!
//! Pods speak HTTP with `nc`. (The busybox image's `wget` works, but Debian's busybox
//! before 1.36.1-5 is built without `FEATURE_WGET_TIMEOUT` and `wget -T` segfaults, exit
//! 139: bound it with `timeout N wget` instead.) Busybox has no TLS client, so the HTTPS
//! call to the API server is made by the host's `curl` inside the pod's network namespace
//! (`nsenter -n`), with the token and CA the kubelet mounted into the pod.

use ironkube_conformance::{Cluster, assert_eventually};
use std::process::Command;

fn pod_yaml(c: &Cluster, name: &str, labels: &str, command: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\nspec:\n  nodeName: {}\n  containers:\n  - name: c\n    image: ironkube.local/busybox\n    command: [sh, -c, '{command}']\n",
        c.node_name()
    )
}

fn phase(c: &Cluster, pod: &str) -> String {
    String::from_utf8_lossy(&c.kubectl(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]).stdout).into_owned()
}

/// `GET /` through `nc` inside pod `from`; the response, or what went wrong.
fn pod_http(c: &Cluster, from: &str, ip: &str, port: &str) -> Result<String, String> {
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {ip} {port}");
    let out = c.kubectl(&["exec", from, "--", "sh", "-c", &script]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() && stdout.starts_with("HTTP/1.") { Ok(stdout) } else { Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr))) }
}

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl").args(["-sS", "-m", "5"]).args(args).output().expect("curl (apt-get install curl)")
}

/// Two httpd pods that answer with their own name.
fn web_pods(c: &Cluster) {
    for name in ["web-a", "web-b"] {
        let cmd = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www";
        c.ok_with_input(&["apply", "-f", "-"], &pod_yaml(c, name, "app: web", cmd));
    }
    for name in ["web-a", "web-b"] {
        assert_eventually!(phase(c, name) == "Running", "{name} never ran: {}", c.ok(&["describe", "pod", name]));
    }
}

#[test]
fn cluster_ip_balances_over_ready_pods_node_port_answers_the_host_and_no_endpoints_rejects() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    web_pods(&c);
    c.ok(&["create", "service", "nodeport", "web", "--tcp=80:80"]);
    c.ok(&["create", "service", "clusterip", "empty", "--tcp=80:80"]);
    let ip = c.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let empty_ip = c.ok(&["get", "svc", "empty", "-o", "jsonpath={.spec.clusterIP}"]);
    let node_port = c.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"]);
    let service_cidr = &c.node.as_ref().unwrap().service_cidr;
    assert!(ip.starts_with(service_cidr.trim_end_matches("0/24")), "{ip} not from {service_cidr}");
    // Created after the Service: the kubelet gives it the Service's variables.
    c.ok_with_input(&["apply", "-f", "-"], &pod_yaml(&c, "client", "app: client", "sleep 3600"));
    assert_eventually!(phase(&c, "client") == "Running", "client never ran");
    let env = c.ok(&["exec", "client", "--", "env"]);
    assert!(env.lines().any(|l| l == format!("WEB_SERVICE_HOST={ip}")), "{env}");
    assert!(env.lines().any(|l| l == "WEB_SERVICE_PORT=80") && env.lines().any(|l| l == format!("WEB_PORT=tcp://{ip}:80")), "{env}");

    // ClusterIP from a pod reaches both backends (1/2 probability each per connection).
    let mut seen = std::collections::BTreeSet::new();
    assert_eventually!(
        {
            if let Ok(body) = pod_http(&c, "client", &ip, "80") {
                seen.extend(["web-a", "web-b"].into_iter().filter(|n| body.trim_end().ends_with(n)));
            }
            seen.len() == 2
        },
        "the ClusterIP did not reach both pods (saw {seen:?}): {:?}\n{}",
        pod_http(&c, "client", &ip, "80"),
        c.ok(&["get", "endpointslices", "-o", "wide"])
    );

    // NodePort from the host, on loopback and on the node's address.
    let node_ip = c.ok(&["get", "node", c.node_name(), "-o", "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}"]);
    for host in ["127.0.0.1", node_ip.as_str()] {
        let url = format!("http://{host}:{node_port}/");
        assert_eventually!(
            {
                let out = curl(&[&url]);
                out.status.success() && ["web-a", "web-b"].iter().any(|n| String::from_utf8_lossy(&out.stdout).trim() == *n)
            },
            "NodePort {url} did not answer: {:?}",
            curl(&[&url])
        );
    }

    // No endpoints: refused at once (REJECT), from a pod and from the host.
    let refused = pod_http(&c, "client", &empty_ip, "80").expect_err("a Service without endpoints answered");
    assert!(refused.contains("refused"), "expected connection refused, got: {refused}");
    let out = curl(&[&format!("http://{empty_ip}:80/")]);
    assert_eq!(out.status.code(), Some(7), "curl must fail to connect: {}", String::from_utf8_lossy(&out.stderr));

    // Deleted pods leave the Service (terminating ones serve only while nothing else
    // can, as upstream); with none left, it rejects too.
    c.ok(&["delete", "pod", "web-a", "web-b", "--grace-period=1", "--wait=false"]);
    assert_eventually!(
        pod_http(&c, "client", &ip, "80").is_err_and(|e| e.contains("refused")),
        "the Service still answers without endpoints: {:?}",
        pod_http(&c, "client", &ip, "80")
    );
}

/// The host PID of a process of the pod whose environment holds `marker`.
fn pid_with_env(marker: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.filter_map(Result::ok).find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        environ.split(|b| *b == 0).any(|v| v == marker.as_bytes()).then_some(pid)
    })
}

#[test]
fn pods_reach_the_api_server_through_the_kubernetes_service_with_their_token() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let svc_ip = c.ok(&["get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]);
    // The apiserver keeps the Service's endpoints on its own address and port.
    assert_eq!(c.ok(&["get", "endpointslice", "kubernetes", "-o", "jsonpath={.ports[0].port}"]), c.port.to_string());
    assert_eq!(c.ok(&["get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[0].ports[0].port}"]), c.port.to_string());
    c.wait_for_root_ca("default");
    let marker = format!("IRONKUBE_TEST_MARKER={}-{}", std::process::id(), c.port);
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\nspec:\n  nodeName: {}\n  enableServiceLinks: false\n  containers:\n  - name: c\n    image: ironkube.local/busybox\n    command: [sleep, '3600']\n    env:\n    - {{name: IRONKUBE_TEST_MARKER, value: '{}'}}\n",
        c.node_name(),
        marker.split_once('=').unwrap().1
    );
    c.ok_with_input(&["apply", "-f", "-"], &yaml);
    assert_eventually!(phase(&c, "api") == "Running", "api never ran: {}", c.ok(&["describe", "pod", "api"]));
    let env = c.ok(&["exec", "api", "--", "env"]);
    assert!(env.lines().any(|l| l == format!("KUBERNETES_SERVICE_HOST={svc_ip}")), "{env}");
    assert!(env.lines().any(|l| l == "KUBERNETES_SERVICE_PORT=443"), "{env}");
    assert!(!env.contains("API_SERVICE_HOST"), "enableServiceLinks: false still gets only the kubernetes Service");

    // TCP from inside the pod, with busybox.
    let tcp = c.kubectl(&["exec", "api", "--", "sh", "-c", "nc -w 3 $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT </dev/null"]);
    assert!(tcp.status.success(), "no TCP connection to the kubernetes Service from the pod: {}", String::from_utf8_lossy(&tcp.stderr));

    // HTTPS with the pod's token and CA, from the pod's network namespace.
    let dir = c.dir.path().join("sa");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["token", "ca.crt"] {
        let content = c.ok(&["exec", "api", "--", "cat", &format!("/var/run/secrets/kubernetes.io/serviceaccount/{file}")]);
        std::fs::write(dir.join(file), content).unwrap();
    }
    let pid = pid_with_env(&marker).expect("the pod's process on this host").to_string();
    let token = std::fs::read_to_string(dir.join("token")).unwrap();
    let url = format!("https://{svc_ip}:443/api");
    let cacert = dir.join("ca.crt");
    let request = |auth: Option<&str>| {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &pid, "-n", "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"]).arg(&cacert);
        if let Some(token) = auth {
            cmd.args(["-H", &format!("Authorization: Bearer {}", token.trim())]);
        }
        let out = cmd.arg(&url).output().expect("nsenter and curl");
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    assert_eq!(request(Some(&token)), "200", "GET {url} with the pod's token");
    assert_eq!(request(None), "401", "GET {url} without a token must be refused by the API server");
}
