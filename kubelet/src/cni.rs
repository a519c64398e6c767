//! The node's CNI network: one bridge with host-local IPAM over the node's pod CIDR, and
//! portmap for hostPort. containerd's CRI adds the loopback interface itself (go-cni's
//! `WithLoNetwork`), so `loopback` is not part of the chain.
//!
//! Masquerading of pod traffic leaving the pod CIDR is one node-level iptables rule
//! instead of the bridge plugin's `ipMasq` (a chain and rules per pod, each an iptables
//! call under the xtables lock: it serialized pod startup).
//!
//! Names derive from the pod CIDR, so several nodes on one machine (tests) do not collide
//! and a node started again on the same CIDR finds and replaces its old bridge.

use serde_json::json;
use std::path::{Path, PathBuf};

/// The node's CNI network.
#[derive(Clone, Debug)]
pub struct CniNetwork {
    /// Pod CIDR, e.g. `10.244.0.0/24`.
    pub pod_cidr: String,
    /// Directory containerd reads conflists from.
    pub conf_dir: PathBuf,
    /// host-local's allocation directory.
    pub ipam_dir: PathBuf,
}

impl CniNetwork {
    fn suffix(&self) -> String {
        // 10.244.3.0/24 -> "244-3-0"; readable and short (bridge names have 15 bytes).
        let ip = self.pod_cidr.split('/').next().unwrap_or_default();
        ip.split('.').skip(1).collect::<Vec<_>>().join("-")
    }

    /// The network name.
    pub fn name(&self) -> String {
        format!("ironkube-{}", self.suffix())
    }

    /// The Linux bridge name (at most 15 bytes).
    pub fn bridge(&self) -> String {
        let mut b = format!("ik{}", self.suffix());
        b.truncate(15);
        b
    }

    /// The conflist JSON.
    pub fn conflist(&self) -> serde_json::Value {
        json!({
            "cniVersion": "0.4.0",
            "name": self.name(),
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge(),
                    "isGateway": true,
                    "ipMasq": false,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.pod_cidr}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": self.ipam_dir.display().to_string(),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
            ],
        })
    }

    /// Writes the conflist (the only one in `conf_dir`); with `fresh` (no runtime of this
    /// node survives) first removes a stale bridge and leases left by an earlier run.
    pub fn install(&self, fresh: bool) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.conf_dir)?;
        std::fs::create_dir_all(&self.ipam_dir)?;
        if fresh {
            self.remove_bridge();
        }
        self.masquerade(true);
        let path = self.conf_dir.join("10-ironkube.conflist");
        std::fs::write(&path, serde_json::to_vec_pretty(&self.conflist()).expect("JSON"))?;
        Ok(path)
    }

    fn masquerade_rule(&self) -> Vec<String> {
        let comment = format!("ironkube pod network {}", self.name());
        ["POSTROUTING", "-s", &self.pod_cidr, "!", "-d", &self.pod_cidr, "-m", "comment", "--comment", &comment, "-j", "MASQUERADE"].iter().map(|s| s.to_string()).collect()
    }

    /// Adds (once) or removes the node's masquerade rule.
    fn masquerade(&self, add: bool) {
        let iptables = |op: &str| std::process::Command::new("iptables").args(["-w", "-t", "nat", op]).args(self.masquerade_rule()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().is_ok_and(|s| s.success());
        if add {
            if !iptables("-C") {
                iptables("-A");
            }
        } else {
            while iptables("-D") {}
        }
    }

    /// Deletes the bridge (after all sandboxes are gone), the masquerade rule and
    /// host-local's leases.
    pub fn remove_bridge(&self) {
        self.masquerade(false);
        if Path::new("/sys/class/net").join(self.bridge()).exists() {
            let _ = std::process::Command::new("ip").args(["link", "del", &self.bridge()]).status();
        }
        let _ = std::fs::remove_dir_all(self.ipam_dir.join(self.name()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_cidr() {
        let n = CniNetwork { pod_cidr: "10.244.13.0/24".into(), conf_dir: "/x".into(), ipam_dir: "/y".into() };
        assert_eq!(n.bridge(), "ik244-13-0");
        assert_eq!(n.name(), "ironkube-244-13-0");
        assert_eq!(n.conflist()["plugins"][0]["ipam"]["ranges"][0][0]["subnet"], "10.244.13.0/24");
    }
}
