//! Compact JWS with RS256 over openssl (what upstream's go-jose signer emits for an RSA
//! key): `base64url(header).base64url(claims).base64url(signature)`, header
//! `{"alg":"RS256","kid":<key id>}`. Only what service-account tokens need; no other
//! algorithms are accepted when verifying.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::{Signer, Verifier};
use serde_json::{json, Value};

/// Why a token is not a valid JWT from this key.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts with JSON inside.
    #[error("malformed token")]
    Malformed,
    /// Signed with another algorithm or key.
    #[error("invalid signature")]
    BadSignature,
}

/// The service-account key: signs tokens and publishes its public half (JWKS).
pub struct SigningKey {
    key: PKey<Private>,
    kid: String,
}

impl SigningKey {
    /// Wraps an RSA private key.
    pub fn new(key: PKey<Private>) -> Result<Self, openssl::error::ErrorStack> {
        let kid = key_id(&key)?;
        Ok(SigningKey { key, kid })
    }

    /// The key id (`kid`), upstream's `keyIDFromPublicKey`: unpadded base64url of the
    /// SHA-256 of the PKIX DER public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` into a compact JWS.
    pub fn sign(&self, claims: &Value) -> Result<String, openssl::error::ErrorStack> {
        let header = json!({ "alg": "RS256", "kid": self.kid });
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key)?;
        signer.update(input.as_bytes())?;
        let signature = signer.sign_to_vec()?;
        Ok(format!("{input}.{}", B64.encode(signature)))
    }

    /// Checks the signature and returns the claims. Time and audience checks are the
    /// caller's (see `claims::validate`).
    pub fn verify(&self, token: &str) -> Result<Value, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwtError::Malformed);
        };
        let header: Value = decode_json(header)?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(JwtError::BadSignature);
        }
        let signature = B64.decode(signature).map_err(|_| JwtError::Malformed)?;
        let input_len = signed_input_len(token);
        let ok = Verifier::new(MessageDigest::sha256(), &self.key)
            .and_then(|mut v| {
                v.update(&token.as_bytes()[..input_len])?;
                v.verify(&signature)
            })
            .unwrap_or(false);
        if !ok {
            return Err(JwtError::BadSignature);
        }
        decode_json(payload)
    }

    /// The public key as a JSON Web Key (`/openid/v1/jwks`).
    pub fn jwk(&self) -> Value {
        let (n, e) = match self.key.rsa() {
            Ok(rsa) => (B64.encode(rsa.n().to_vec()), B64.encode(rsa.e().to_vec())),
            Err(_) => (String::new(), String::new()),
        };
        json!({ "use": "sig", "kty": "RSA", "kid": self.kid, "alg": "RS256", "n": n, "e": e })
    }
}

/// Length of `header.payload` (the signed input) within a compact token.
fn signed_input_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

fn decode_json(part: &str) -> Result<Value, JwtError> {
    let bytes = B64.decode(part).map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

fn key_id(key: &PKey<Private>) -> Result<String, openssl::error::ErrorStack> {
    let der = key.public_key_to_der()?;
    Ok(B64.encode(openssl::sha::sha256(&der)))
}

#[cfg(test)]
pub(crate) fn test_key() -> SigningKey {
    SigningKey::new(PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies() {
        let key = test_key();
        let token = key.sign(&json!({"sub": "x"})).unwrap();
        assert_eq!(key.verify(&token).unwrap()["sub"], "x");
        let header = decode_json(token.split('.').next().unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "RS256", "kid": key.kid()}));
        assert_eq!(key.kid().len(), 43);
    }

    #[test]
    fn rejects_other_keys_and_tampering() {
        let key = test_key();
        let token = key.sign(&json!({"sub": "x"})).unwrap();
        assert_eq!(test_key().verify(&token), Err(JwtError::BadSignature));
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = B64.encode(json!({"sub": "system:admin"}).to_string());
        parts[1] = &forged;
        assert_eq!(key.verify(&parts.join(".")), Err(JwtError::BadSignature));
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), B64.encode("{}"));
        assert_eq!(key.verify(&none), Err(JwtError::BadSignature));
        assert_eq!(key.verify("abc"), Err(JwtError::Malformed));
    }

    #[test]
    fn jwk_has_modulus_and_exponent() {
        let jwk = test_key().jwk();
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(jwk["kty"], "RSA");
        assert!(jwk["n"].as_str().unwrap().len() > 300);
    }
}
