//! Other stock clients: the official Python client.

use ironkube_conformance::Cluster;
use std::process::Command;

#[test]
fn official_python_client_works() {
    let importable = Command::new("python3").args(["-c", "import kubernetes"]).status().is_ok_and(|s| s.success());
    if !importable && std::env::var_os("CI").is_none() {
        eprintln!("skipped: the Python package `kubernetes` is not installed (pip install kubernetes)");
        return;
    }
    let c = Cluster::start();
    let script = ironkube_conformance::workspace_root().join("conformance/clients/python_smoke.py");
    let out = Command::new("python3").arg(script).env("KUBECONFIG", &c.kubeconfig).output().unwrap();
    assert!(
        out.status.success(),
        "python client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs helm with this cluster's kubeconfig.
fn helm(c: &Cluster, args: &[&str]) -> std::process::Output {
    let helm = std::env::var("HELM").unwrap_or_else(|_| "helm".into());
    Command::new(helm)
        .args(args)
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HELM_CACHE_HOME", c.dir.path().join("helm-cache"))
        .env("HELM_CONFIG_HOME", c.dir.path().join("helm-config"))
        .env("HELM_DATA_HOME", c.dir.path().join("helm-data"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run helm (installed by deploy/install-kubectl.sh): {e}"))
}

#[test]
fn helm_4_installs_upgrades_and_uninstalls_a_chart() {
    let c = Cluster::start();
    let chart = c.dir.path().join("demo");
    let out = helm(&c, &["create", chart.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let chart = chart.to_str().unwrap();
    // Helm 4 applies server-side by default (field manager "helm").
    let out = helm(&c, &["install", "demo", chart, "--set", "image.repository=ironkube.local/busybox"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let managers = c.ok(&["get", "deploy", "demo", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"]);
    assert!(managers.split(' ').any(|m| m == "helm"), "{managers}");
    assert_eq!(c.ok(&["get", "deploy", "demo", "-o", "jsonpath={.spec.replicas}"]), "1");
    c.ok(&["get", "svc", "demo"]);
    c.ok(&["get", "sa", "demo"]);
    let out = helm(&c, &["upgrade", "demo", chart, "--set", "replicaCount=3", "--set", "image.repository=ironkube.local/busybox"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(c.ok(&["get", "deploy", "demo", "-o", "jsonpath={.spec.replicas}"]), "3");
    // Client-side upgrades keep working.
    let out = helm(&c, &["upgrade", "demo", chart, "--server-side=false", "--set", "replicaCount=2", "--set", "image.repository=ironkube.local/busybox"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(c.ok(&["get", "deploy", "demo", "-o", "jsonpath={.spec.replicas}"]), "2");
    // The release records live in Secrets (helm sends them as protobuf).
    assert!(c.ok(&["get", "secrets", "-l", "owner=helm,name=demo", "-o", "name"]).lines().count() == 3);
    let out = helm(&c, &["uninstall", "demo"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(c.fails(&["get", "deploy", "demo"]).contains("NotFound"));
}
