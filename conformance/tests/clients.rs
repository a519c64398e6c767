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
