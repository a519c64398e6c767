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
