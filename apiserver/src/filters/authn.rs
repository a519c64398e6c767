//! Authentication: who is asking. x509 client certificates signed by the cluster CA
//! (CN = user, O = groups) are read at the TLS handshake; a request without one may carry
//! a service-account bearer token (`crate::serviceaccount`). Anything else gets 401.

use openssl::nid::Nid;
use openssl::x509::X509Ref;

/// An authenticated (or anonymous) caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// User name, e.g. `admin`; empty for anonymous.
    pub user: String,
    /// User UID (a service account's UID for its tokens), empty for certificates.
    pub uid: String,
    /// Groups, e.g. `system:masters`.
    pub groups: Vec<String>,
    /// Extra attributes (service-account tokens carry the bound pod and the token id).
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

impl Identity {
    /// Whether no credential was presented.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_empty()
    }

    /// The identity a verified client certificate carries.
    pub fn from_certificate(cert: &X509RefLike) -> Self {
        let subject = cert.subject_name();
        let user = subject
            .entries_by_nid(Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok())
            .unwrap_or_default();
        let mut groups: Vec<String> = subject
            .entries_by_nid(Nid::ORGANIZATIONNAME)
            .filter_map(|e| e.data().to_string().ok())
            .collect();
        groups.push("system:authenticated".into());
        Identity { user, groups, ..Default::default() }
    }
}

/// The certificate type identities are read from.
pub type X509RefLike = X509Ref;

/// The token of an `Authorization: Bearer <token>` header, if any.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
