//! Service-account tokens for projected volumes, as upstream's kubelet token manager
//! (`pkg/kubelet/token/token_manager.go`): one TokenRequest bound to the pod per
//! (pod, account, audience, lifetime), cached and renewed once 80% of its lifetime has
//! passed (or after 24 hours), so the file in the pod is always a valid token.

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::PostParams;
use kube::{Api, Client};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// Renew once this much of the lifetime is left (upstream: 20%).
const REFRESH_REMAINING_PERCENT: i64 = 20;
/// Renew tokens older than this whatever their lifetime (upstream `maxTTL`).
const MAX_TTL_SECONDS: i64 = 24 * 60 * 60;

/// What a token is for.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct TokenKey {
    /// The pod's namespace.
    pub namespace: String,
    /// The account.
    pub service_account: String,
    /// The pod it is bound to.
    pub pod_name: String,
    /// The pod's UID (also binds the token).
    pub pod_uid: String,
    /// Requested audience; None = the API server's.
    pub audience: Option<String>,
    /// Requested lifetime in seconds.
    pub expiration_seconds: i64,
}

#[derive(Clone)]
struct Cached {
    token: String,
    /// `status.expirationTimestamp`, Unix seconds.
    expires: i64,
}

static CACHE: LazyLock<Mutex<HashMap<TokenKey, Cached>>> = LazyLock::new(Default::default);

/// Whether a token with `lifetime` seconds expiring at `expires` should be renewed `now`.
fn requires_refresh(now: i64, expires: i64, lifetime: i64) -> bool {
    let issued = expires - lifetime;
    now >= issued + MAX_TTL_SECONDS || now >= expires - lifetime * REFRESH_REMAINING_PERCENT / 100
}

/// The current token for `key`, requesting a new one when none is cached or it is due.
pub async fn token(client: &Client, key: &TokenKey) -> Result<String, String> {
    let now = jiff::Timestamp::now().as_second();
    let cached = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned();
    if let Some(c) = &cached
        && !requires_refresh(now, c.expires, key.expiration_seconds)
    {
        return Ok(c.token.clone());
    }
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: key.audience.iter().cloned().collect(),
            expiration_seconds: Some(key.expiration_seconds),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(key.pod_name.clone()),
                uid: Some(key.pod_uid.clone()),
            }),
        },
        ..Default::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &key.namespace);
    let answer = match api.create_token_request(&key.service_account, &PostParams::default(), &request).await {
        Ok(a) => a,
        // Keep serving a still-valid token when the API server is briefly unreachable.
        Err(e) => match cached {
            Some(c) if now < c.expires => return Ok(c.token),
            _ => return Err(format!("failed to fetch token: {e}")),
        },
    };
    let status = answer.status.ok_or("failed to fetch token: the answer has no status")?;
    let expires = status.expiration_timestamp.0.as_second();
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), Cached { token: status.token.clone(), expires });
    Ok(status.token)
}

/// Drops the tokens of a pod that is gone.
pub fn forget_pod(uid: &str) {
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).retain(|k, _| k.pod_uid != uid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_after_eighty_percent_or_a_day() {
        // Issued at 0 for 1000 s: fresh until 800 s.
        assert!(!requires_refresh(799, 1000, 1000));
        assert!(requires_refresh(800, 1000, 1000));
        // A year-long token is renewed after 24 h.
        let year = 365 * 24 * 3600;
        assert!(!requires_refresh(MAX_TTL_SECONDS - 1, year, year));
        assert!(requires_refresh(MAX_TTL_SECONDS, year, year));
    }
}
