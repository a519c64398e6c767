//! Small pieces the node components share, each too small for a crate of its own and
//! needed by crates that must not depend on each other (the kubelet, kube-proxy and the
//! cluster DNS).
//!
//! - [`reflect`]: a watch feeding a reflector store, with a hook on every change
//!   (kube-proxy and the cluster DNS).
//! - [`resolv_conf`]: resolv.conf parsing as the kubelet does it (the kubelet's pod
//!   resolvers, and the cluster DNS's upstream nameservers).

pub mod reflect;
pub mod resolv_conf;
