//! The cluster's certificates: a CA, the serving certificate and the admin client
//! certificate (and the service-account signing key), generated with openssl at first start and reused afterwards; and the
//! admin kubeconfig that embeds them.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509NameBuilder, X509};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Errors while creating or loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// File system problem.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// openssl failed.
    #[error("certificate generation failed: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
}

/// The common name of the API server's client certificate for kubelets.
pub const KUBELET_CLIENT_CN: &str = "kube-apiserver-kubelet-client";

/// Paths of the PEM files under `<data-dir>/pki`.
#[derive(Clone, Debug)]
pub struct Pki {
    /// Directory holding the files.
    pub dir: PathBuf,
}

/// A certificate and its key, as PEM.
pub struct Pair {
    /// Certificate PEM.
    pub cert: Vec<u8>,
    /// Private key PEM.
    pub key: Vec<u8>,
}

fn key() -> Result<PKey<Private>, PkiError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
}

fn serial() -> Result<openssl::asn1::Asn1Integer, PkiError> {
    let mut bn = BigNum::new()?;
    bn.rand(127, MsbOption::MAYBE_ZERO, false)?;
    Ok(bn.to_asn1_integer()?)
}

fn name(cn: &str, org: Option<&str>) -> Result<openssl::x509::X509Name, PkiError> {
    let mut b = X509NameBuilder::new()?;
    if let Some(o) = org {
        b.append_entry_by_nid(Nid::ORGANIZATIONNAME, o)?;
    }
    b.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    Ok(b.build())
}

impl Pki {
    /// PKI rooted at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Pki { dir: dir.into() }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn read(&self, file: &str) -> Result<Vec<u8>, PkiError> {
        let path = self.path(file);
        std::fs::read(&path).map_err(|source| PkiError::Io { path, source })
    }

    fn write(&self, file: &str, data: &[u8], private: bool) -> Result<(), PkiError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.path(file);
        let io = |source| PkiError::Io { path: path.clone(), source };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(if private { 0o600 } else { 0o644 })
            .open(&path)
            .map_err(io)?;
        f.write_all(data).map_err(io)
    }

    /// Whether the CA already exists.
    pub fn exists(&self) -> bool {
        self.path("ca.crt").exists() && self.path("ca.key").exists()
    }

    /// Creates the CA, serving and admin certificates when absent. `hosts` are the serving
    /// certificate's SANs (DNS names and IPs).
    pub fn ensure(&self, hosts: &[String]) -> Result<bool, PkiError> {
        if self.exists() && self.path("apiserver.crt").exists() && self.path("admin.crt").exists() {
            return Ok(false);
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| PkiError::Io { path: self.dir.clone(), source })?;
        let ca_key = key()?;
        let ca_name = name("ironkube-ca", None)?;
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let serial = serial()?;
    b.set_serial_number(&serial)?;
        b.set_subject_name(&ca_name)?;
        b.set_issuer_name(&ca_name)?;
        b.set_pubkey(&ca_key)?;
        b.set_not_before(&*Asn1Time::days_from_now(0)?)?;
        b.set_not_after(&*Asn1Time::days_from_now(3650)?)?;
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().digital_signature().build()?)?;
        b.sign(&ca_key, MessageDigest::sha256())?;
        let ca = b.build();
        self.write("ca.key", &ca_key.private_key_to_pem_pkcs8()?, true)?;
        self.write("ca.crt", &ca.to_pem()?, false)?;

        let serving = issue(&ca, &ca_key, "kube-apiserver", None, hosts, true)?;
        self.write("apiserver.key", &serving.key, true)?;
        self.write("apiserver.crt", &serving.cert, false)?;
        let admin = issue(&ca, &ca_key, "admin", Some("system:masters"), &[], false)?;
        self.write("admin.key", &admin.key, true)?;
        self.write("admin.crt", &admin.cert, false)?;
        Ok(true)
    }

    /// The CA certificate PEM.
    pub fn ca_cert(&self) -> Result<Vec<u8>, PkiError> {
        self.read("ca.crt")
    }
    /// The serving pair.
    pub fn serving(&self) -> Result<Pair, PkiError> {
        Ok(Pair { cert: self.read("apiserver.crt")?, key: self.read("apiserver.key")? })
    }
    /// The admin client pair.
    pub fn admin(&self) -> Result<Pair, PkiError> {
        Ok(Pair { cert: self.read("admin.crt")?, key: self.read("admin.key")? })
    }
    /// Issues a client certificate signed by the CA (for components and tests).
    pub fn client(&self, user: &str, group: Option<&str>) -> Result<Pair, PkiError> {
        let ca = X509::from_pem(&self.read("ca.crt")?)?;
        let ca_key = PKey::private_key_from_pem(&self.read("ca.key")?)?;
        issue(&ca, &ca_key, user, group, &[], false)
    }

    /// Issues a serving certificate signed by the CA (a kubelet's, for `hosts`).
    pub fn serving_for(&self, cn: &str, hosts: &[String]) -> Result<Pair, PkiError> {
        let ca = X509::from_pem(&self.read("ca.crt")?)?;
        let ca_key = PKey::private_key_from_pem(&self.read("ca.key")?)?;
        issue(&ca, &ca_key, cn, None, hosts, true)
    }

    /// The API server's client pair for kubelets (kubeadm's `apiserver-kubelet-client`,
    /// in `system:masters`), created on first use.
    pub fn kubelet_client(&self) -> Result<Pair, PkiError> {
        if !self.path("apiserver-kubelet-client.crt").exists() {
            let pair = self.client(KUBELET_CLIENT_CN, Some("system:masters"))?;
            self.write("apiserver-kubelet-client.key", &pair.key, true)?;
            self.write("apiserver-kubelet-client.crt", &pair.cert, false)?;
        }
        Ok(Pair { cert: self.read("apiserver-kubelet-client.crt")?, key: self.read("apiserver-kubelet-client.key")? })
    }

    /// The service-account signing key (kubeadm's `sa.key`/`sa.pub`): RSA 2048, upstream's
    /// default key type, so tokens are RS256 like kube-apiserver's. Created on first use
    /// and kept in the data dir, so tokens survive restarts.
    pub fn service_account_key(&self) -> Result<PKey<Private>, PkiError> {
        if !self.path("sa.key").exists() {
            std::fs::create_dir_all(&self.dir).map_err(|source| PkiError::Io { path: self.dir.clone(), source })?;
            let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048)?)?;
            self.write("sa.pub", &key.public_key_to_pem()?, false)?;
            self.write("sa.key", &key.private_key_to_pem_pkcs8()?, true)?;
        }
        Ok(PKey::private_key_from_pem(&self.read("sa.key")?)?)
    }

    /// Writes a kubeconfig for `server` that authenticates with `pair`.
    pub fn write_kubeconfig(&self, path: &Path, server: &str, user: &str, pair: &Pair) -> Result<(), PkiError> {
        use base64::Engine;
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: ironkube\ncontexts:\n- context:\n    cluster: ironkube\n    user: {user}\n  name: {user}@ironkube\ncurrent-context: {user}@ironkube\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
            ca = b64(&self.ca_cert()?),
            cert = b64(&pair.cert),
            key = b64(&pair.key),
        );
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| PkiError::Io { path: parent.to_path_buf(), source })?;
        }
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| PkiError::Io { path: path.to_path_buf(), source };
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)
    }
}

fn issue(ca: &X509, ca_key: &PKey<Private>, cn: &str, org: Option<&str>, hosts: &[String], server: bool) -> Result<Pair, PkiError> {
    let k = key()?;
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let serial = serial()?;
    b.set_serial_number(&serial)?;
    let subject = name(cn, org)?;
    b.set_subject_name(&subject)?;
    b.set_issuer_name(ca.subject_name())?;
    b.set_pubkey(&k)?;
    b.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    b.set_not_after(&*Asn1Time::days_from_now(3650)?)?;
    b.append_extension(BasicConstraints::new().critical().build()?)?;
    b.append_extension(KeyUsage::new().critical().digital_signature().key_encipherment().build()?)?;
    if server {
        b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        let mut san = SubjectAlternativeName::new();
        for h in hosts {
            if h.parse::<IpAddr>().is_ok() {
                san.ip(h);
            } else {
                san.dns(h);
            }
        }
        let ext = san.build(&b.x509v3_context(Some(ca), None))?;
        b.append_extension(ext)?;
    } else {
        b.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?;
    }
    b.sign(ca_key, MessageDigest::sha256())?;
    Ok(Pair { cert: b.build().to_pem()?, key: k.private_key_to_pem_pkcs8()? })
}
