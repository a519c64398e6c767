//! The host side: `iptables-restore --noflush` for each sync (atomic per table), the jump
//! rules from the built-in chains into ours (`iptables -C`/`-I`, as upstream's
//! `EnsureRule`), `iptables-save` to find our chains, the cleanup of everything we made
//! (upstream `CleanupLeftovers`), and the `route_localnet` sysctl.

use crate::rules::Chains;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

/// An `iptables` tool failed.
#[derive(Debug, thiserror::Error)]
pub enum IptablesError {
    /// The program could not be started.
    #[error("cannot run {program}: {source} (apt-get install iptables)")]
    Spawn {
        /// Which program.
        program: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It ran and failed.
    #[error("{program} {args} failed: {stderr}")]
    Failed {
        /// Which program.
        program: &'static str,
        /// Its arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
}

fn run(program: &'static str, args: &[&str], input: Option<&str>) -> Result<String, IptablesError> {
    let mut cmd = Command::new(program);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().map_err(|source| IptablesError::Spawn { program, source })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input.as_bytes()).map_err(|source| IptablesError::Spawn { program, source })?;
    }
    let out = child.wait_with_output().map_err(|source| IptablesError::Spawn { program, source })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(IptablesError::Failed { program, args: args.join(" "), stderr: String::from_utf8_lossy(&out.stderr).trim().to_string() })
    }
}

/// Applies `input` (filter and nat sections) in one `iptables-restore --noflush`: other
/// chains are left alone, each table is replaced atomically.
pub fn restore(input: &str) -> Result<(), IptablesError> {
    run("iptables-restore", &["-w", "5", "--noflush"], Some(input)).map(|_| ())
}

/// Chain names of `table` (`iptables-save -t <table>`).
pub fn chains(table: &str) -> Result<BTreeSet<String>, IptablesError> {
    let saved = run("iptables-save", &["-t", table], None)?;
    Ok(saved.lines().filter_map(|l| l.strip_prefix(':')).filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect())
}

/// One jump from a built-in chain into one of ours.
struct Jump {
    table: &'static str,
    from: &'static str,
    to: String,
    args: Vec<String>,
}

impl Jump {
    fn rule(&self) -> Vec<&str> {
        let mut r: Vec<&str> = self.args.iter().map(String::as_str).collect();
        r.extend(["-j", &self.to]);
        r
    }
}

/// Upstream's `iptablesJumpChains` (plus the kubelet's KUBE-FIREWALL jumps).
fn jumps(ch: &Chains, localhost_nodeports: bool) -> Vec<Jump> {
    let new = ["-m", "conntrack", "--ctstate", "NEW"];
    let j = |table, from, to: &str, ctnew: bool, comment: &str| {
        let mut args: Vec<String> = if ctnew { new.iter().map(|s| s.to_string()).collect() } else { Vec::new() };
        if !comment.is_empty() {
            args.extend(["-m".into(), "comment".into(), "--comment".into(), comment.to_string()]);
        }
        Jump { table, from, to: to.to_string(), args }
    };
    let mut out = vec![
        j("filter", "INPUT", &ch.external_services, true, "kubernetes externally-visible service portals"),
        j("filter", "FORWARD", &ch.external_services, true, "kubernetes externally-visible service portals"),
        j("filter", "INPUT", &ch.nodeports, false, "kubernetes health check service ports"),
        j("filter", "FORWARD", &ch.services, true, "kubernetes service portals"),
        j("filter", "OUTPUT", &ch.services, true, "kubernetes service portals"),
        j("filter", "FORWARD", &ch.forward, false, "kubernetes forwarding rules"),
        j("filter", "INPUT", &ch.proxy_firewall, true, "kubernetes load balancer firewall"),
        j("filter", "OUTPUT", &ch.proxy_firewall, true, "kubernetes load balancer firewall"),
        j("filter", "FORWARD", &ch.proxy_firewall, true, "kubernetes load balancer firewall"),
        j("nat", "OUTPUT", &ch.services, false, "kubernetes service portals"),
        j("nat", "PREROUTING", &ch.services, false, "kubernetes service portals"),
        j("nat", "POSTROUTING", &ch.postrouting, false, "kubernetes postrouting rules"),
    ];
    if localhost_nodeports {
        out.push(j("filter", "INPUT", &ch.firewall, false, ""));
        out.push(j("filter", "OUTPUT", &ch.firewall, false, ""));
    }
    out
}

/// Makes sure our top-level chains exist and the built-in chains jump to them (inserted
/// first, as upstream's `EnsureRule(Prepend, ...)`).
pub fn ensure_jumps(ch: &Chains, localhost_nodeports: bool) -> Result<(), IptablesError> {
    // Declaring an existing chain in restore input flushes it: declare only missing ones.
    let mut missing = String::new();
    for (table, top) in [("filter", ch.filter_top().to_vec()), ("nat", ch.nat_top().to_vec())] {
        let existing = chains(table)?;
        missing.push_str(&format!("*{table}\n"));
        for c in top.into_iter().filter(|c| !existing.contains(*c)) {
            missing.push_str(&format!(":{c} - [0:0]\n"));
        }
        missing.push_str("COMMIT\n");
    }
    restore(&missing)?;
    for jump in jumps(ch, localhost_nodeports) {
        let rule = jump.rule();
        let check: Vec<&str> = [&["-w", "5", "-t", jump.table, "-C", jump.from][..], &rule].concat();
        if run("iptables", &check, None).is_err() {
            let insert: Vec<&str> = [&["-w", "5", "-t", jump.table, "-I", jump.from, "1"][..], &rule].concat();
            run("iptables", &insert, None)?;
        }
    }
    Ok(())
}

/// Removes the jumps and every chain of this proxier (upstream `CleanupLeftovers`, the
/// `--cleanup` flag and the shutdown path). Missing pieces are not errors.
pub fn cleanup(ch: &Chains) -> Result<(), IptablesError> {
    for jump in jumps(ch, true) {
        let rule = jump.rule();
        let delete: Vec<&str> = [&["-w", "5", "-t", jump.table, "-D", jump.from][..], &rule].concat();
        while run("iptables", &delete, None).is_ok() {}
    }
    let mut input = String::new();
    for (table, top) in [("filter", ch.filter_top().to_vec()), ("nat", ch.nat_top().to_vec())] {
        let existing = chains(table)?;
        let ours: Vec<&String> = existing.iter().filter(|c| top.contains(&c.as_str()) || ch.is_service_chain(c)).collect();
        if ours.is_empty() {
            continue;
        }
        input.push_str(&format!("*{table}\n"));
        for c in &ours {
            input.push_str(&format!(":{c} - [0:0]\n"));
        }
        for c in &ours {
            input.push_str(&format!("-X {c}\n"));
        }
        input.push_str("COMMIT\n");
    }
    if !input.is_empty() {
        restore(&input)?;
    }
    Ok(())
}

/// Sets `net.ipv4.conf.all.route_localnet=1` so NodePorts answer on 127.0.0.1 and
/// Services may have loopback endpoints (the API server's default advertise address).
/// Like upstream, the value is left set on exit.
pub fn enable_route_localnet() -> std::io::Result<()> {
    let path = "/proc/sys/net/ipv4/conf/all/route_localnet";
    if std::fs::read_to_string(path)?.trim() == "1" {
        return Ok(());
    }
    std::fs::write(path, "1")
}

#[cfg(test)]
mod tests {
    use crate::model::service_ports;
    use crate::model::tests::{service, slice};
    use crate::rules::{RenderConfig, render};
    use serde_json::json;

    /// The kernel-side parser accepts every rule shape we render (`iptables-restore
    /// --test` checks without committing). Needs root and iptables; skips otherwise.
    #[test]
    fn iptables_restore_accepts_the_rendered_rules() {
        let probe = std::process::Command::new("iptables-save").args(["-t", "nat"]).output();
        if !probe.is_ok_and(|o| o.status.success()) {
            eprintln!("skipping: iptables-save does not run here (needs root and iptables)");
            return;
        }
        let eps = json!([{"addresses": ["10.180.0.1"], "nodeName": "n1"}, {"addresses": ["10.180.0.2"], "nodeName": "n2"}]);
        let services = [
            service(json!({"metadata": {"name": "np", "namespace": "ns"}, "spec": {"clusterIP": "10.96.0.20", "type": "NodePort", "externalIPs": ["192.0.2.9"], "sessionAffinity": "ClientIP", "ports": [{"port": 80, "nodePort": 30080}]}})),
            service(json!({"metadata": {"name": "local", "namespace": "ns"}, "spec": {"clusterIP": "10.96.0.21", "type": "NodePort", "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local", "ports": [{"port": 53, "protocol": "UDP", "nodePort": 30053}]}})),
            service(json!({"metadata": {"name": "empty", "namespace": "ns"}, "spec": {"clusterIP": "10.96.0.22", "type": "NodePort", "ports": [{"port": 80, "nodePort": 30081}]}})),
        ];
        let slices = [
            slice(json!({"metadata": {"name": "np", "namespace": "ns", "labels": {"kubernetes.io/service-name": "np"}}, "addressType": "IPv4", "endpoints": eps, "ports": [{"port": 8080}]})),
            slice(json!({"metadata": {"name": "local", "namespace": "ns", "labels": {"kubernetes.io/service-name": "local"}}, "addressType": "IPv4", "endpoints": eps, "ports": [{"port": 53, "protocol": "UDP"}]})),
        ];
        let ports = service_ports(services.iter(), slices.iter());
        let cfg = RenderConfig { prefix: "IKUT".into(), node_name: "n1".into(), local_cidr: Some("10.244.0.0/16".into()), masquerade_all: false, localhost_nodeports: true };
        let stale = ["IKUT-SEP-AAAAAAAAAAAAAAAA".to_string()].into();
        let rendered = render(&ports, &cfg, &stale);
        assert!(rendered.restore.contains("-j REJECT") && rendered.restore.contains("IKUT-SVL-") && rendered.restore.contains("--rcheck"));
        super::run("iptables-restore", &["-w", "5", "--noflush", "--test"], Some(&rendered.restore)).unwrap_or_else(|e| panic!("{e}\n{}", rendered.restore));
    }
}
