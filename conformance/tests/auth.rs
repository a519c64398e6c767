//! Authentication and authorization through stock kubectl and raw TLS.

use ironkube_conformance::Cluster;
use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends `GET path` over TLS without a client certificate; returns status line and body.
fn anonymous_get(port: u16, path: &str) -> (String, String) {
    let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client()).unwrap();
    b.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let connector = b.build();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut tls = connector.connect("localhost", tcp).unwrap();
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response);
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

#[test]
fn anonymous_requests_get_401_except_health_and_version() {
    let c = Cluster::start();
    let (status, body) = anonymous_get(c.port, "/api/v1/namespaces");
    assert!(status.contains("401"), "{status}");
    assert!(body.contains("\"reason\":\"Unauthorized\""), "{body}");
    for open in ["/healthz", "/livez", "/readyz", "/version", "/version/"] {
        let (status, _) = anonymous_get(c.port, open);
        assert!(status.contains("200"), "{open}: {status}");
    }
    let (_, version) = anonymous_get(c.port, "/version");
    let v: serde_json::Value = serde_json::from_str(&version).unwrap();
    for field in ["major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"] {
        assert!(v.get(field).is_some(), "/version lacks {field}");
    }
}

#[test]
fn can_i_whoami_and_impersonation() {
    let c = Cluster::start();
    assert_eq!(c.ok(&["auth", "can-i", "create", "deployments"]).trim(), "yes");
    let who = c.ok(&["auth", "whoami"]);
    assert!(who.contains("admin") && who.contains("system:masters"), "{who}");
    // bob has no RBAC bindings: refused, not waved through.
    let out = c.kubectl(&["auth", "can-i", "get", "pods", "--as", "bob"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    let err = c.fails(&["get", "pods", "--as", "bob"]);
    assert!(err.contains("Error from server (Forbidden): pods is forbidden: User \"bob\" cannot list resource \"pods\""), "{err}");
}
