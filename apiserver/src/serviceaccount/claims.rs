//! Service-account token claims as upstream builds and checks them
//! (`pkg/serviceaccount/claims.go`): registered claims plus the private `kubernetes.io`
//! claim naming the namespace, the account and the object the token is bound to.

use serde_json::{json, Map, Value};

/// Clock skew tolerated on `nbf`/`iat`/`exp` (go-jose's default leeway, one minute).
const LEEWAY_SECONDS: i64 = 60;

/// A name and UID, as in the `kubernetes.io` claim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectRef {
    /// Object name.
    pub name: String,
    /// Object UID.
    pub uid: String,
}

impl ObjectRef {
    fn to_json(&self) -> Value {
        json!({ "name": self.name, "uid": self.uid })
    }
    fn from_json(v: Option<&Value>) -> Option<Self> {
        let v = v?;
        Some(ObjectRef {
            name: v.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
            uid: v.get("uid").and_then(Value::as_str).unwrap_or_default().to_string(),
        })
    }
}

/// Who a token speaks for and what it is bound to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// Namespace of the account.
    pub namespace: String,
    /// The account.
    pub service_account: ObjectRef,
    /// Bound pod, if any.
    pub pod: Option<ObjectRef>,
    /// Bound secret, if any.
    pub secret: Option<ObjectRef>,
    /// The bound pod's node (or the bound node).
    pub node: Option<ObjectRef>,
    /// Token id (`jti`).
    pub jti: String,
}

/// The validity window of a token, in Unix seconds.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    /// Issued at (also `nbf`).
    pub now: i64,
    /// Seconds until `exp`.
    pub expiration_seconds: i64,
    /// Seconds until the kubelet-visible `warnafter` (extended pod tokens only).
    pub warn_after_seconds: Option<i64>,
}

/// The user name of an account: `system:serviceaccount:<ns>:<name>`.
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The claims of a new token.
pub fn build(issuer: &str, audiences: &[String], subject: &Subject, life: Lifetime) -> Value {
    let mut k8s = Map::new();
    k8s.insert("namespace".into(), json!(subject.namespace));
    k8s.insert("serviceaccount".into(), subject.service_account.to_json());
    if let Some(p) = &subject.pod {
        k8s.insert("pod".into(), p.to_json());
    }
    if let Some(s) = &subject.secret {
        k8s.insert("secret".into(), s.to_json());
    }
    if let Some(n) = &subject.node {
        k8s.insert("node".into(), n.to_json());
    }
    if let Some(w) = life.warn_after_seconds {
        k8s.insert("warnafter".into(), json!(life.now + w));
    }
    json!({
        "aud": audiences,
        "exp": life.now + life.expiration_seconds,
        "iat": life.now,
        "iss": issuer,
        "jti": subject.jti,
        "kubernetes.io": k8s,
        "nbf": life.now,
        "sub": username(&subject.namespace, &subject.service_account.name),
    })
}

/// Why verified claims are still refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// Another issuer signed it (or it is not a service-account token).
    #[error("token issuer is not {0}")]
    Issuer(String),
    /// `exp` is past.
    #[error("service account token has expired")]
    Expired,
    /// `nbf`/`iat` is in the future.
    #[error("service account token is not valid yet")]
    NotYetValid,
    /// None of the token's audiences is ours.
    #[error("token audiences are invalid for the target audiences")]
    Audience,
    /// The `kubernetes.io` claim or `sub` is missing or inconsistent.
    #[error("service account token claims are malformed")]
    Malformed,
}

/// Checks issuer, time window and audience at `now`; returns the subject.
pub fn validate(claims: &Value, issuer: &str, audiences: &[String], now: i64) -> Result<Subject, ClaimsError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(ClaimsError::Issuer(issuer.to_string()));
    }
    let time = |k: &str| claims.get(k).and_then(Value::as_i64);
    match time("exp") {
        Some(exp) if now <= exp + LEEWAY_SECONDS => {}
        _ => return Err(ClaimsError::Expired),
    }
    if time("nbf").is_some_and(|nbf| now + LEEWAY_SECONDS < nbf) || time("iat").is_some_and(|iat| now + LEEWAY_SECONDS < iat) {
        return Err(ClaimsError::NotYetValid);
    }
    let token_audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !token_audiences.iter().any(|a| audiences.iter().any(|ours| ours == a)) {
        return Err(ClaimsError::Audience);
    }
    let k8s = claims.get("kubernetes.io").ok_or(ClaimsError::Malformed)?;
    let subject = Subject {
        namespace: k8s.get("namespace").and_then(Value::as_str).unwrap_or_default().to_string(),
        service_account: ObjectRef::from_json(k8s.get("serviceaccount")).ok_or(ClaimsError::Malformed)?,
        pod: ObjectRef::from_json(k8s.get("pod")),
        secret: ObjectRef::from_json(k8s.get("secret")),
        node: ObjectRef::from_json(k8s.get("node")),
        jti: claims.get("jti").and_then(Value::as_str).unwrap_or_default().to_string(),
    };
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    if subject.namespace.is_empty() || subject.service_account.name.is_empty() || sub != username(&subject.namespace, &subject.service_account.name) {
        return Err(ClaimsError::Malformed);
    }
    Ok(subject)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serviceaccount::jwt::test_key;

    const ISS: &str = "https://kubernetes.default.svc.cluster.local";

    fn subject() -> Subject {
        Subject {
            namespace: "default".into(),
            service_account: ObjectRef { name: "default".into(), uid: "u1".into() },
            pod: Some(ObjectRef { name: "p".into(), uid: "u2".into() }),
            jti: "j".into(),
            ..Default::default()
        }
    }

    fn auds() -> Vec<String> {
        vec![ISS.to_string()]
    }

    #[test]
    fn round_trip_through_a_signed_token() {
        let key = test_key();
        let claims = build(ISS, &auds(), &subject(), Lifetime { now: 1000, expiration_seconds: 3600, warn_after_seconds: None });
        assert_eq!(claims["sub"], "system:serviceaccount:default:default");
        assert_eq!(claims["aud"], json!([ISS]));
        assert_eq!((claims["iat"].as_i64(), claims["nbf"].as_i64(), claims["exp"].as_i64()), (Some(1000), Some(1000), Some(4600)));
        assert_eq!(claims["kubernetes.io"]["pod"], json!({"name": "p", "uid": "u2"}));
        let token = key.sign(&claims).unwrap();
        let verified = key.verify(&token).unwrap();
        assert_eq!(validate(&verified, ISS, &auds(), 2000).unwrap(), subject());
    }

    #[test]
    fn refuses_expired_early_and_foreign_tokens() {
        let life = Lifetime { now: 1000, expiration_seconds: 600, warn_after_seconds: None };
        let claims = build(ISS, &auds(), &subject(), life);
        assert_eq!(validate(&claims, ISS, &auds(), 1600 + LEEWAY_SECONDS + 1), Err(ClaimsError::Expired));
        assert_eq!(validate(&claims, ISS, &auds(), 1000 - LEEWAY_SECONDS - 1), Err(ClaimsError::NotYetValid));
        assert_eq!(validate(&claims, ISS, &["vault".to_string()], 1100), Err(ClaimsError::Audience));
        assert!(matches!(validate(&claims, "https://other", &auds(), 1100), Err(ClaimsError::Issuer(_))));
        let other = build(ISS, &["vault".to_string()], &subject(), life);
        assert_eq!(validate(&other, ISS, &auds(), 1100), Err(ClaimsError::Audience));
    }

    #[test]
    fn warn_after_is_absolute() {
        let claims = build(ISS, &auds(), &subject(), Lifetime { now: 10, expiration_seconds: 100, warn_after_seconds: Some(7) });
        assert_eq!(claims["kubernetes.io"]["warnafter"], 17);
    }
}
