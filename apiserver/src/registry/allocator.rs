//! Service ClusterIP and NodePort allocation (upstream `pkg/registry/core/service/ipallocator`
//! and `portallocator`): random start, linear probe, never hands out a taken value.
//!
//! State lives in memory and is rebuilt from the stored Services at start-up, so it is
//! exact for a single apiserver; several apiservers over one etcd need the IPAddress
//! objects upstream uses (not built yet).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Why an allocation failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AllocError {
    /// The requested value is in use.
    #[error("provided {0} is already allocated")]
    Taken(&'static str),
    /// The requested value is outside the range.
    #[error("provided {what} is not in the valid range. The range of valid {what}s is {range}")]
    OutOfRange {
        /// "IP" or "port".
        what: &'static str,
        /// The range as text.
        range: String,
    },
    /// Nothing is free.
    #[error("range is full")]
    Full,
}

/// A set of integers `[base, base+size)` with random-start allocation.
#[derive(Debug)]
struct Range {
    base: u32,
    size: u32,
    used: BTreeSet<u32>,
}

impl Range {
    fn allocate_next(&mut self) -> Result<u32, AllocError> {
        if self.used.len() as u32 >= self.size {
            return Err(AllocError::Full);
        }
        let start = rand::random_range(0..self.size);
        for i in 0..self.size {
            let offset = (start + i) % self.size;
            if self.used.insert(offset) {
                return Ok(self.base + offset);
            }
        }
        Err(AllocError::Full)
    }
    fn allocate(&mut self, value: u32) -> bool {
        value >= self.base && value - self.base < self.size && self.used.insert(value - self.base)
    }
    fn contains(&self, value: u32) -> bool {
        value >= self.base && value - self.base < self.size
    }
    fn release(&mut self, value: u32) {
        if self.contains(value) {
            self.used.remove(&(value - self.base));
        }
    }
}

/// ClusterIP and NodePort allocators for one cluster.
#[derive(Debug)]
pub struct Allocators {
    cidr: String,
    ips: Range,
    ports: Range,
}

impl Allocators {
    /// Allocators for a service CIDR like `10.96.0.0/12` and the node port range 30000–32767.
    /// The network and broadcast addresses are never handed out.
    pub fn new(service_cidr: &str) -> Result<Self, String> {
        let (net, bits) = parse_cidr(service_cidr)?;
        let size = 1u32.checked_shl(32 - bits).unwrap_or(0);
        if size < 4 {
            return Err(format!("service CIDR {service_cidr} is too small"));
        }
        Ok(Allocators {
            cidr: service_cidr.to_string(),
            ips: Range { base: net + 1, size: size - 2, used: BTreeSet::new() },
            ports: Range { base: 30000, size: 2768, used: BTreeSet::new() },
        })
    }

    /// The first service IP (`.1`), given to the `kubernetes` Service.
    pub fn first_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.ips.base)
    }

    /// Allocates a free ClusterIP.
    pub fn allocate_ip(&mut self) -> Result<Ipv4Addr, AllocError> {
        self.ips.allocate_next().map(Ipv4Addr::from)
    }

    /// Claims a specific ClusterIP.
    pub fn claim_ip(&mut self, ip: Ipv4Addr) -> Result<(), AllocError> {
        let v = u32::from(ip);
        if !self.ips.contains(v) {
            return Err(AllocError::OutOfRange { what: "IP", range: self.cidr.clone() });
        }
        if self.ips.allocate(v) { Ok(()) } else { Err(AllocError::Taken("IP")) }
    }

    /// Releases a ClusterIP (ignores addresses outside the range).
    pub fn release_ip(&mut self, ip: Ipv4Addr) {
        self.ips.release(u32::from(ip));
    }

    /// Allocates a free NodePort.
    pub fn allocate_port(&mut self) -> Result<u16, AllocError> {
        self.ports.allocate_next().map(|p| p as u16)
    }

    /// Claims a specific NodePort.
    pub fn claim_port(&mut self, port: u16) -> Result<(), AllocError> {
        let v = u32::from(port);
        if !self.ports.contains(v) {
            return Err(AllocError::OutOfRange { what: "port", range: "30000-32767".into() });
        }
        if self.ports.allocate(v) { Ok(()) } else { Err(AllocError::Taken("port")) }
    }

    /// Releases a NodePort.
    pub fn release_port(&mut self, port: u16) {
        self.ports.release(u32::from(port));
    }
}

fn parse_cidr(cidr: &str) -> Result<(u32, u32), String> {
    let (addr, bits) = cidr.split_once('/').ok_or_else(|| format!("invalid CIDR {cidr:?}"))?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| format!("invalid CIDR {cidr:?}"))?;
    let bits: u32 = bits.parse().map_err(|_| format!("invalid CIDR {cidr:?}"))?;
    if bits > 30 {
        return Err(format!("invalid CIDR {cidr:?}: prefix too long"));
    }
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    Ok((u32::from(addr) & mask, bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_hands_out_twice() {
        let mut a = Allocators::new("10.0.0.0/29").unwrap();
        assert_eq!(a.first_ip(), Ipv4Addr::new(10, 0, 0, 1));
        a.claim_ip(a.first_ip()).unwrap();
        let mut seen = BTreeSet::new();
        for _ in 0..5 {
            assert!(seen.insert(a.allocate_ip().unwrap()));
        }
        assert_eq!(a.allocate_ip(), Err(AllocError::Full));
        assert_eq!(a.claim_ip(Ipv4Addr::new(10, 0, 0, 1)), Err(AllocError::Taken("IP")));
        a.release_ip(Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(a.allocate_ip(), Ok(Ipv4Addr::new(10, 0, 0, 3)));
        assert!(matches!(a.claim_ip(Ipv4Addr::new(10, 1, 0, 1)), Err(AllocError::OutOfRange { .. })));
    }

    #[test]
    fn node_ports() {
        let mut a = Allocators::new("10.96.0.0/12").unwrap();
        a.claim_port(30080).unwrap();
        assert_eq!(a.claim_port(30080), Err(AllocError::Taken("port")));
        assert!(a.claim_port(80).is_err());
        let p = a.allocate_port().unwrap();
        assert!((30000..=32767).contains(&p) && p != 30080);
    }
}
