//! TLS to etcd (kube-apiserver's `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`),
//! over openssl like the rest of the server: `https://` endpoints are verified against the
//! given CA (the system roots without one) and, with a certificate and key, present a
//! client certificate for etcd's `--client-cert-auth`.

use super::StorageError;
use etcd_client::OpenSslClientConfig;
use std::path::{Path, PathBuf};

/// Files for TLS to etcd, as kube-apiserver's flags name them.
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    /// CA bundle that signed etcd's serving certificate (`--etcd-cafile`).
    pub ca_file: Option<PathBuf>,
    /// Client certificate (`--etcd-certfile`).
    pub cert_file: Option<PathBuf>,
    /// Its private key (`--etcd-keyfile`).
    pub key_file: Option<PathBuf>,
}

impl EtcdTls {
    /// Whether any file was given.
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// The openssl client configuration; a missing or unreadable file is an error now
    /// rather than a failed handshake later.
    pub(super) fn client_config(&self) -> Result<OpenSslClientConfig, StorageError> {
        let mut config = OpenSslClientConfig::default();
        if let Some(ca) = &self.ca_file {
            config = config.ca_cert_pem(&read("--etcd-cafile", ca)?);
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                config = config.client_cert_pem_and_key(&read("--etcd-certfile", cert)?, &read("--etcd-keyfile", key)?);
            }
            (None, None) => {}
            _ => return Err(StorageError::Backend("--etcd-certfile and --etcd-keyfile must be given together".into())),
        }
        Ok(config)
    }
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, StorageError> {
    std::fs::read(path).map_err(|e| StorageError::Backend(format!("{flag} {}: {e}", path.display())))
}

/// Which transport the endpoints ask for: `true` for `https://`. Mixing both, or TLS files
/// with plain endpoints, is refused (the client uses one transport for every member).
pub(super) fn wants_tls(endpoints: &[String], tls: &EtcdTls) -> Result<bool, StorageError> {
    let https = endpoints.iter().filter(|e| e.starts_with("https://")).count();
    if let Some(other) = endpoints.iter().find(|e| !e.starts_with("https://") && !e.starts_with("http://")) {
        return Err(StorageError::Backend(format!("etcd endpoint {other}: expected http:// or https://")));
    }
    if https > 0 && https < endpoints.len() {
        return Err(StorageError::Backend(format!(
            "etcd endpoints {}: use https:// for every member or for none",
            endpoints.join(",")
        )));
    }
    if https == 0 && tls.is_set() {
        return Err(StorageError::Backend(format!(
            "--etcd-cafile/--etcd-certfile/--etcd-keyfile were given but the etcd endpoints {} are plain http://",
            endpoints.join(",")
        )));
    }
    Ok(https > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_scheme_picks_the_transport() {
        let none = EtcdTls::default();
        assert!(!wants_tls(&eps(&["http://127.0.0.1:2379"]), &none).unwrap());
        assert!(wants_tls(&eps(&["https://127.0.0.1:2379", "https://127.0.0.1:2479"]), &none).unwrap());
    }

    #[test]
    fn mixed_or_mismatched_settings_are_refused() {
        let none = EtcdTls::default();
        let err = wants_tls(&eps(&["https://a:1", "http://b:2"]), &none).unwrap_err().to_string();
        assert!(err.contains("every member or for none"), "{err}");
        let ca = EtcdTls { ca_file: Some("/ca.crt".into()), ..Default::default() };
        let err = wants_tls(&eps(&["http://a:1"]), &ca).unwrap_err().to_string();
        assert!(err.contains("plain http://"), "{err}");
        assert!(wants_tls(&eps(&["unix:///x"]), &none).is_err());
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let half = EtcdTls { cert_file: Some("/c.crt".into()), ..Default::default() };
        let err = half.client_config().err().unwrap().to_string();
        assert!(err.contains("together"), "{err}");
        let missing = EtcdTls { ca_file: Some("/nonexistent/ca.crt".into()), ..Default::default() };
        let err = missing.client_config().err().unwrap().to_string();
        assert!(err.contains("--etcd-cafile /nonexistent/ca.crt"), "{err}");
    }
}
