//! Service ClusterIP and NodePort allocation (upstream `pkg/registry/core/service/ipallocator`
//! and `portallocator`): random start, linear probe, never hands out a taken value.
//! Dynamic allocation prefers the upper band of each range and falls back to the lower
//! one, which is thereby kept for values users ask for (upstream KEP-3070/KEP-3668: a
//! `kube-dns` at `.10` does not collide with a Service created just before it).
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

/// A set of integers `[base, base+size)` with random-start allocation, the upper band
/// `[base+reserved, base+size)` first.
#[derive(Debug)]
struct Range {
    base: u32,
    size: u32,
    /// Size of the lower band dynamic allocation uses last.
    reserved: u32,
    used: BTreeSet<u32>,
}

/// Upstream `calculateRangeOffset`: `min(max(min, size/step), max)`, 0 for ranges of at
/// most `min` values (`size` counts every address of a CIDR, or every port).
fn static_band(size: u32, min: u32, max: u32, step: u32) -> u32 {
    if size <= min { 0 } else { (size / step).clamp(min, max) }
}

impl Range {
    fn new(base: u32, size: u32, reserved: u32) -> Range {
        Range { base, size, reserved: reserved.min(size), used: BTreeSet::new() }
    }

    fn allocate_next(&mut self) -> Result<u32, AllocError> {
        if self.used.len() as u32 >= self.size {
            return Err(AllocError::Full);
        }
        let (reserved, size) = (self.reserved, self.size);
        self.allocate_in(reserved, size).or_else(|| self.allocate_in(0, reserved)).map(|offset| self.base + offset).ok_or(AllocError::Full)
    }

    /// A free offset in `[from, to)`: random start, linear probe.
    fn allocate_in(&mut self, from: u32, to: u32) -> Option<u32> {
        let len = to.checked_sub(from).filter(|l| *l > 0)?;
        let start = rand::random_range(0..len);
        (0..len).map(|i| from + (start + i) % len).find(|offset| self.used.insert(*offset))
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
            ips: Range::new(net + 1, size - 2, static_band(size, 16, 256, 16)),
            ports: Range::new(30000, 2768, static_band(2768, 16, 128, 32)),
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

    #[test]
    fn dynamic_allocation_uses_the_lower_band_last() {
        // A /24 has 256 addresses: band of 16 (.1-.16), so .10 stays free for kube-dns
        // until the other 238 are taken.
        let mut a = Allocators::new("10.96.7.0/24").unwrap();
        let first: Vec<Ipv4Addr> = (0..238).map(|_| a.allocate_ip().unwrap()).collect();
        assert!(first.iter().all(|ip| ip.octets()[3] > 16), "{first:?}");
        a.claim_ip(Ipv4Addr::new(10, 96, 7, 10)).unwrap();
        let low = a.allocate_ip().unwrap();
        assert!(low.octets()[3] <= 16 && low.octets()[3] != 10, "{low}");
        // Node ports: 2768 ports, band of 86 (30000-30085).
        let mut a = Allocators::new("10.96.0.0/12").unwrap();
        assert!((0..200).all(|_| a.allocate_port().unwrap() >= 30086));
        assert_eq!((static_band(2768, 16, 128, 32), static_band(1 << 20, 16, 256, 16), static_band(8, 16, 256, 16)), (86, 256, 0));
    }
}
