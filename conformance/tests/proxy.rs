//! The `proxy` subresources end to end with stock kubectl: `kubectl get --raw` (and
//! `create`/`replace`/`delete --raw` for the other methods) through `pods/proxy`,
//! `services/proxy` (by port name and number) and `nodes/proxy` (the kubelet), and a
//! `kubectl proxy` process reached with a plain HTTP client (and the official Python
//! client's proxy calls); upstream's errors (404, 400
//! `address not allowed`, 503 without endpoints or when the backend refuses) and RBAC on
//! `pods/proxy`. The backend is busybox `httpd` in a pod with a CGI script that echoes
//! the method, query, body and forwarded headers. Needs root and containerd (skips
//! otherwise).

use ironkube_conformance::{assert_eventually, kubectl_bin, Cluster};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

/// A ConfigMap with the site (a page, a health file, CGI scripts that echo the request
/// and stream two lines, the second only once `/tmp/go` exists) and an upgrade server
/// (answers `101` and echoes bytes; on 9000, busybox `nc`), a pod serving them on 8080, and a Service `web` with ports `http` (80) and `alt` (81), both to
/// the pod's port named `http`.
const WEB: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: site}
data:
  index.html: "hello from web\n"
  links.html: "<a href=\"/healthz\">health</a> <img src=\"logo.png\"> <a href=\"http://example.com/x\">out</a>\n"
  healthz: "healthy\n"
  echo: |
    #!/bin/sh
    echo "Content-Type: text/plain"
    echo
    echo "method=$REQUEST_METHOD query=$QUERY_STRING"
    echo "forwarded-uri=$HTTP_X_FORWARDED_URI"
    echo "authorization=$HTTP_AUTHORIZATION"
    if [ -n "$CONTENT_LENGTH" ]; then echo "body=$(head -c "$CONTENT_LENGTH")"; fi
  stream: |
    #!/bin/sh
    echo "Content-Type: text/plain"
    echo
    echo first
    while [ ! -f /tmp/go ]; do sleep 0.1; done
    echo second
  upgrade: |
    #!/bin/sh
    while read -r line; do [ -z "$(printf %s "$line" | tr -d '\r')" ] && break; done
    printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n'
    exec cat
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: alt, port: 81, targetPort: http}
"#;

fn web_pod(node: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: web, labels: {{app: web}}}}
spec:
  nodeName: {node}
  volumes:
  - {{name: site, configMap: {{name: site, defaultMode: 0755}}}}
  containers:
  - name: web
    image: ironkube.local/busybox
    command: [sh, -c, "mkdir -p /www/cgi-bin && cp /site/index.html /site/links.html /site/healthz /www/ && cp /site/echo /site/stream /www/cgi-bin/ && (nc -ll -p 9000 -e /site/upgrade &) && exec httpd -f -p 8080 -h /www"]
    ports: [{{name: http, containerPort: 8080}}]
    volumeMounts: [{{name: site, mountPath: /site}}]
"#
    )
}

/// The error kubectl prints for a failed `--raw` request.
fn error_of(c: &Cluster, args: &[&str]) -> String {
    c.fails(args).trim().to_string()
}

/// An HTTP/1.0 GET to `127.0.0.1:port`: status, headers (lower-case names) and body.
fn http_get(port: u16, path: &str) -> (u16, Vec<(String, String)>, String) {
    http_request(port, "GET", path, "")
}

/// An HTTP/1.0 request with a `Content-Length` body.
fn http_request(port: u16, method: &str, path: &str, body: &str) -> (u16, Vec<(String, String)>, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to kubectl proxy");
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).expect("status line");
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    (status, headers, body.to_string())
}

/// `kubectl proxy` on a free port, killed on drop.
struct KubectlProxy {
    child: std::process::Child,
    port: u16,
}

impl KubectlProxy {
    fn start(c: &Cluster) -> KubectlProxy {
        let mut child = Command::new(kubectl_bin())
            .args(["proxy", "--port=0"])
            .env("KUBECONFIG", &c.kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run kubectl proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("kubectl proxy's first line");
        let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {line:?}"));
        KubectlProxy { child, port }
    }
}

impl Drop for KubectlProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn proxy_to_pods_services_and_the_kubelet() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    c.ok_with_input(&["apply", "-f", "-"], WEB);
    c.ok_with_input(&["apply", "-f", "-"], &web_pod(c.node_name()));
    let pod_base = "/api/v1/namespaces/default/pods";
    let svc_base = "/api/v1/namespaces/default/services";
    // Running, serving, and an endpoint of the Service.
    assert_eventually!(
        c.kubectl(&["get", "--raw", &format!("{svc_base}/web:http/proxy/healthz")]).status.success(),
        "web never served through its Service: {}",
        c.ok(&["get", "pod,endpoints", "-o", "wide"])
    );

    // pods/proxy: explicit port, the first container port by default, a scheme.
    assert_eq!(c.ok(&["get", "--raw", &format!("{pod_base}/web:8080/proxy/healthz")]), "healthy\n");
    assert_eq!(c.ok(&["get", "--raw", &format!("{pod_base}/web/proxy/")]), "hello from web\n");
    assert_eq!(c.ok(&["get", "--raw", &format!("{pod_base}/http:web:8080/proxy/healthz")]), "healthy\n");

    // services/proxy by port name and by number, to the targetPort.
    assert_eq!(c.ok(&["get", "--raw", &format!("{svc_base}/web:http/proxy/healthz")]), "healthy\n");
    assert_eq!(c.ok(&["get", "--raw", &format!("{svc_base}/web:80/proxy/healthz")]), "healthy\n");
    assert_eq!(c.ok(&["get", "--raw", &format!("{svc_base}/web:alt/proxy/")]), "hello from web\n");
    assert_eq!(c.ok(&["get", "--raw", &format!("{svc_base}/web:81/proxy/healthz")]), "healthy\n");

    // Methods and query strings reach the backend; the client's credentials do not,
    // X-Forwarded-Uri names the proxy path. (kubectl's HTTP/2 bodies come without a
    // length, so they reach the backend chunked, as from upstream, which busybox's CGI
    // does not read: bodies are checked through kubectl proxy below.)
    let echo = format!("{pod_base}/web:8080/proxy/cgi-bin/echo");
    let got = c.ok(&["get", "--raw", &format!("{echo}?a=1&b=two")]);
    assert!(got.contains("method=GET query=a=1&b=two\n"), "{got}");
    assert!(got.contains(&format!("forwarded-uri={echo}\n")), "{got}");
    assert!(got.contains("authorization=\n"), "{got}");
    let body_file = c.dir.path().join("body.txt");
    std::fs::write(&body_file, "posted-bytes").unwrap();
    let got = c.ok(&["create", "--raw", &format!("{svc_base}/web:http/proxy/cgi-bin/echo?x=y"), "-f", body_file.to_str().unwrap()]);
    assert!(got.contains("method=POST query=x=y\n"), "{got}");
    let got = c.ok(&["replace", "--raw", &echo, "-f", body_file.to_str().unwrap()]);
    assert!(got.contains("method=PUT"), "{got}");
    let got = c.ok(&["delete", "--raw", &echo]);
    assert!(got.contains("method=DELETE"), "{got}");

    // nodes/proxy: the kubelet, with the API server's kubelet-client certificate.
    let node = format!("/api/v1/nodes/{}/proxy", c.node_name());
    assert_eq!(c.ok(&["get", "--raw", &format!("{node}/healthz")]), "ok");
    let metrics = c.ok(&["get", "--raw", &format!("{node}/metrics/resource")]);
    assert!(metrics.contains("node_cpu_usage_seconds_total"), "{metrics}");

    // The official Python client escapes the `:` of ids (`web%3A8080`).
    let importable = Command::new("python3").args(["-c", "import kubernetes"]).status().is_ok_and(|s| s.success());
    if importable || std::env::var_os("CI").is_some() {
        let script = format!(
            "from kubernetes import client, config\nconfig.load_kube_config()\nv1 = client.CoreV1Api()\n\
             print(v1.connect_get_namespaced_pod_proxy_with_path('web:8080', 'default', 'healthz'), end='')\n\
             print(v1.connect_get_namespaced_service_proxy_with_path('web:80', 'default', 'healthz'), end='')\n\
             print(v1.connect_get_node_proxy_with_path('{}', 'healthz'))\n",
            c.node_name()
        );
        let out = Command::new("python3").args(["-c", &script]).env("KUBECONFIG", &c.kubeconfig).output().unwrap();
        assert!(out.status.success(), "python client failed:\n{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "healthy\nhealthy\nok\n");
    }

    // kubectl proxy, reached with a plain HTTP client.
    let proxy = KubectlProxy::start(&c);
    let (status, _, body) = http_get(proxy.port, &format!("{svc_base}/web:80/proxy/"));
    assert_eq!((status, body.as_str()), (200, "hello from web\n"));
    let (status, _, body) = http_get(proxy.port, &format!("{pod_base}/web:8080/proxy/healthz"));
    assert_eq!((status, body.as_str()), (200, "healthy\n"));
    // Absolute links in HTML pages come back through the proxy; others stay.
    let (status, _, body) = http_get(proxy.port, &format!("{svc_base}/web:80/proxy/links.html"));
    assert_eq!(status, 200);
    assert_eq!(body, format!("<a href=\"{svc_base}/web:80/proxy/healthz\">health</a> <img src=\"logo.png\"> <a href=\"http://example.com/x\">out</a>\n"));
    let (status, _, body) = http_request(proxy.port, "POST", &format!("{svc_base}/web:80/proxy/cgi-bin/echo?k=v"), "posted-bytes");
    assert_eq!(status, 200);
    assert!(body.contains("method=POST query=k=v\n") && body.contains("body=posted-bytes\n"), "{body}");
    // (busybox httpd hands only POST bodies to CGI scripts.)
    let (status, _, body) = http_request(proxy.port, "PUT", &echo, "put-bytes");
    assert!(status == 200 && body.contains("method=PUT"), "{body}");
    // No path: upstream's redirect to the path with a slash, query kept.
    let (status, headers, _) = http_get(proxy.port, &format!("{svc_base}/web:http/proxy?q=1"));
    let location = headers.iter().find(|(k, _)| k == "location").map(|(_, v)| v.as_str());
    assert_eq!((status, location), (301, Some(format!("{svc_base}/web:http/proxy/?q=1").as_str())));
    let (status, _, body) = http_get(proxy.port, &format!("/api/v1/nodes/{}/proxy/healthz", c.node_name()));
    assert_eq!((status, body.as_str()), (200, "ok"));

    // Responses stream: the first line arrives while the script still waits for its go.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    s.set_read_timeout(Some(ironkube_conformance::patience())).unwrap();
    write!(s, "GET {pod_base}/web:8080/proxy/cgi-bin/stream HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s);
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("first\n") {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).expect("the first line before the end of the response") > 0, "the stream ended early: {seen:?}");
        seen.push(line);
    }
    c.ok(&["exec", "web", "--", "touch", "/tmp/go"]);
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "second\n");

    // Upgrades: after the backend's 101 the connection carries bytes both ways.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    s.set_read_timeout(Some(ironkube_conformance::patience())).unwrap();
    write!(s, "GET {pod_base}/web:9000/proxy/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 101"), "{status}");
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
    }
    s.write_all(b"ping through the proxy\n").unwrap();
    let mut echoed = String::new();
    reader.read_line(&mut echoed).unwrap();
    assert_eq!(echoed, "ping through the proxy\n");
    drop(proxy);

    // Errors as upstream.
    assert_eq!(error_of(&c, &["get", "--raw", &format!("{pod_base}/nope/proxy/")]), "Error from server (NotFound): pods \"nope\" not found");
    assert_eq!(
        error_of(&c, &["get", "--raw", &format!("{pod_base}/ftp:web:21/proxy/")]),
        "Error from server (BadRequest): invalid pod request \"ftp:web:21\""
    );
    let refused = error_of(&c, &["get", "--raw", &format!("{pod_base}/web:8081/proxy/")]);
    let ip = c.ok(&["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]);
    assert_eq!(refused, format!("Error from server (ServiceUnavailable): error trying to reach service: dial tcp {ip}:8081: connect: connection refused"));
    assert_eq!(
        error_of(&c, &["get", "--raw", &format!("{svc_base}/web:8443/proxy/")]),
        "Error from server (ServiceUnavailable): no service port 8443 found for service \"web\""
    );
    assert_eq!(error_of(&c, &["get", "--raw", &format!("{svc_base}/nope/proxy/")]), "Error from server (NotFound): endpoints \"nope\" not found");
    assert_eq!(
        error_of(&c, &["get", "--raw", "/api/v1/nodes/nope/proxy/healthz"]),
        "Error from server (NotFound): nodes \"nope\" not found"
    );
    // A Service whose selector matches nothing: its Endpoints have no subsets.
    c.ok(&["create", "service", "clusterip", "empty", "--tcp=80:8080"]);
    let empty = format!("{svc_base}/empty:80/proxy/");
    assert_eventually!(
        c.kubectl(&["get", "endpoints", "empty"]).status.success(),
        "no Endpoints for the Service empty"
    );
    assert_eq!(error_of(&c, &["get", "--raw", &empty]), "Error from server (ServiceUnavailable): no endpoints available for service \"empty\"");
    // A pod without an IP (its node does not exist).
    c.ok_with_input(&["apply", "-f", "-"], "apiVersion: v1\nkind: Pod\nmetadata: {name: nowhere}\nspec:\n  nodeName: nowhere\n  containers: [{name: c, image: ironkube.local/busybox}]\n");
    assert_eq!(error_of(&c, &["get", "--raw", &format!("{pod_base}/nowhere:80/proxy/")]), "Error from server (BadRequest): address not allowed");

    // RBAC: `get` on pods/proxy, with the id as the name.
    let forbidden = error_of(&c, &["--as=alice", "get", "--raw", &format!("{pod_base}/web:8080/proxy/healthz")]);
    assert_eq!(
        forbidden,
        "Error from server (Forbidden): pods \"web:8080\" is forbidden: User \"alice\" cannot get resource \"pods/proxy\" in API group \"\" in the namespace \"default\""
    );
    c.ok(&["create", "role", "pod-proxy", "--verb=get", "--resource=pods/proxy"]);
    c.ok(&["create", "rolebinding", "alice-proxy", "--role=pod-proxy", "--user=alice"]);
    assert_eventually!(
        c.kubectl(&["--as=alice", "get", "--raw", &format!("{pod_base}/web:8080/proxy/healthz")]).status.success(),
        "alice may not get pods/proxy after the binding"
    );
    let denied = error_of(&c, &["--as=alice", "create", "--raw", &echo, "-f", body_file.to_str().unwrap()]);
    assert!(denied.contains("cannot create resource \"pods/proxy\""), "{denied}");
}
