//! Service-account tokens, as kube-apiserver issues and checks them: the TokenRequest
//! subresource (`pkg/registry/core/serviceaccount/storage/token.go`), the bearer-token
//! authenticator (`pkg/serviceaccount/jwt.go`, `claims.go`) and the OIDC discovery
//! documents (`pkg/serviceaccount/openidmetadata.go`).

pub mod claims;
pub mod jwt;

use crate::error::ApiError;
use crate::filters::authn::Identity;
use crate::registry::kinds;
use crate::registry::store::{Store, Target};
use crate::registry::strategy::Cause;
use claims::{Lifetime, ObjectRef, Subject};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The issuer (and default audience) kubeadm and kind configure:
/// `--service-account-issuer=https://kubernetes.default.svc.cluster.local`.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// TokenRequest's default `expirationSeconds` (one hour).
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// Shortest token upstream issues (10 minutes).
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// Longest token upstream accepts in a request (2^32 seconds).
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// The kubelet's projected-token lifetime that upstream extends to a year for a safe
/// transition (`--service-account-extend-token-expiration`, default on), warning after
/// the requested time (`token.WarnOnlyBoundTokenExpirationSeconds`).
const WARN_ONLY_EXPIRATION_SECONDS: i64 = 3607;
/// The extended lifetime (`token.ExpirationExtensionSeconds`, one year).
const EXTENDED_EXPIRATION_SECONDS: i64 = 24 * 365 * 60 * 60;

/// Issues and authenticates service-account tokens with the cluster's signing key.
pub struct Tokens {
    key: jwt::SigningKey,
    issuer: String,
    audiences: Vec<String>,
}

fn kind(resource: &str) -> Result<&'static kinds::Kind, ApiError> {
    kinds::find("", "v1", resource).ok_or_else(|| ApiError::Internal(format!("{resource} is not served")))
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or_default()
}

fn object_ref(obj: &Value) -> ObjectRef {
    ObjectRef { name: str_at(obj, "/metadata/name").to_string(), uid: str_at(obj, "/metadata/uid").to_string() }
}

fn token_request_invalid(name: &str, cause: Cause) -> ApiError {
    ApiError::Invalid { kind: "TokenRequest".into(), group: "authentication.k8s.io".into(), name: name.into(), causes: vec![cause] }
}

impl Tokens {
    /// Tokens signed with `key`, issued by [`DEFAULT_ISSUER`] for the API server's audience.
    pub fn new(key: jwt::SigningKey) -> Self {
        Tokens { key, issuer: DEFAULT_ISSUER.into(), audiences: vec![DEFAULT_ISSUER.into()] }
    }

    /// `POST .../serviceaccounts/<name>/token`: validates the TokenRequest `body`, checks
    /// the account and the bound object, and answers the request with `status.token`.
    pub async fn create(&self, store: &Store, namespace: &str, name: &str, body: Value) -> Result<Value, ApiError> {
        let mut req = body;
        if !req.is_object() {
            return Err(ApiError::BadRequest("TokenRequest in version \"v1\" cannot be handled as a TokenRequest: expected an object".into()));
        }
        let body_name = str_at(&req, "/metadata/name").to_string();
        if !body_name.is_empty() && body_name != name {
            return Err(token_request_invalid(name, Cause::invalid("metadata.name", &json!(body_name), "must match the service account name if specified")));
        }
        let body_ns = str_at(&req, "/metadata/namespace").to_string();
        if !body_ns.is_empty() && body_ns != namespace {
            return Err(token_request_invalid(name, Cause::invalid("metadata.namespace", &json!(body_ns), "must match the service account namespace if specified")));
        }
        let sa = store.get(Target { kind: kind("serviceaccounts")?, namespace: Some(namespace) }, name).await?;
        let spec = req.get("spec").cloned().unwrap_or_else(|| json!({}));
        let audiences: Vec<String> = match spec.get("audiences").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => self.audiences.clone(),
        };
        let expiration = match spec.get("expirationSeconds") {
            None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
            Some(v) => v.as_i64().ok_or_else(|| ApiError::BadRequest(format!("TokenRequest in version \"v1\" cannot be handled as a TokenRequest: spec.expirationSeconds: invalid value {v}")))?,
        };
        let now = jiff::Timestamp::now();
        if expiration < MIN_EXPIRATION_SECONDS {
            return Err(token_request_invalid("", Cause::invalid("spec.expirationSeconds", &json!(expiration), "may not specify a duration less than 10 minutes")));
        }
        if expiration > MAX_EXPIRATION_SECONDS {
            return Err(token_request_invalid("", Cause {
                reason: "FieldValueTooLong",
                message: format!("Too long: may not be more than {MAX_EXPIRATION_SECONDS} bytes"),
                field: "spec.expirationSeconds".into(),
            }));
        }
        let mut subject = Subject {
            namespace: namespace.to_string(),
            service_account: object_ref(&sa),
            jti: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        if let Some(bound) = spec.get("boundObjectRef").filter(|v| !v.is_null()) {
            self.bind(store, namespace, name, bound, &mut subject).await?;
        }
        // A pod-bound kubelet token of the warn-only length lives a year but tells the
        // kubelet (and audit) to refresh after the requested time.
        let extend = subject.pod.is_some()
            && expiration == WARN_ONLY_EXPIRATION_SECONDS
            && audiences.iter().all(|a| self.audiences.contains(a));
        let life = Lifetime {
            now: now.as_second(),
            expiration_seconds: if extend { EXTENDED_EXPIRATION_SECONDS } else { expiration },
            warn_after_seconds: extend.then_some(expiration),
        };
        let token = self.key.sign(&claims::build(&self.issuer, &audiences, &subject, life)).map_err(|e| ApiError::Internal(format!("failed to generate token: {e}")))?;
        let rfc3339 = |t: jiff::Timestamp| t.round(jiff::Unit::Second).unwrap_or(t).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let expires = now.checked_add(jiff::SignedDuration::from_secs(expiration)).unwrap_or(now);
        let meta = req["metadata"].as_object().cloned().unwrap_or_default();
        req["kind"] = json!("TokenRequest");
        req["apiVersion"] = json!("authentication.k8s.io/v1");
        req["metadata"] = Value::Object(meta);
        req["metadata"]["name"] = json!(name);
        req["metadata"]["namespace"] = json!(namespace);
        req["metadata"]["creationTimestamp"] = json!(rfc3339(now));
        req["spec"] = spec;
        req["spec"]["audiences"] = json!(audiences);
        req["spec"]["expirationSeconds"] = json!(expiration);
        req["status"] = json!({ "token": token, "expirationTimestamp": rfc3339(expires) });
        Ok(req)
    }

    /// Checks `boundObjectRef` (a Pod, Secret or Node that must exist, with the same UID
    /// when one is given) and records it in the subject.
    async fn bind(&self, store: &Store, namespace: &str, account: &str, bound: &Value, subject: &mut Subject) -> Result<(), ApiError> {
        let api_version = str_at(bound, "/apiVersion");
        let kind_name = str_at(bound, "/kind");
        let name = str_at(bound, "/name");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let uid = match (group, kind_name) {
            ("", "Pod") => {
                let pod = store.get(Target { kind: kind("pods")?, namespace: Some(namespace) }, name).await?;
                if str_at(&pod, "/spec/serviceAccountName") != account {
                    return Err(ApiError::BadRequest(format!("cannot bind token for serviceaccount {account:?} to pod running with different serviceaccount name.")));
                }
                subject.pod = Some(object_ref(&pod));
                let node_name = str_at(&pod, "/spec/nodeName");
                if !node_name.is_empty() {
                    subject.node = Some(match store.get(Target { kind: kind("nodes")?, namespace: None }, node_name).await {
                        Ok(node) => object_ref(&node),
                        Err(ApiError::NotFound { .. }) => ObjectRef { name: node_name.to_string(), uid: String::new() },
                        Err(e) => return Err(e),
                    });
                }
                str_at(&pod, "/metadata/uid").to_string()
            }
            ("", "Node") => {
                let node = store.get(Target { kind: kind("nodes")?, namespace: None }, name).await?;
                subject.node = Some(object_ref(&node));
                str_at(&node, "/metadata/uid").to_string()
            }
            ("", "Secret") => {
                let secret = store.get(Target { kind: kind("secrets")?, namespace: Some(namespace) }, name).await?;
                subject.secret = Some(object_ref(&secret));
                str_at(&secret, "/metadata/uid").to_string()
            }
            _ => {
                let gvk = format!("{}{version}, Kind={kind_name}", if group.is_empty() { String::new() } else { format!("{group}/") });
                return Err(ApiError::BadRequest(format!("cannot bind token to object of type {gvk}")));
            }
        };
        let want = str_at(bound, "/uid");
        if !want.is_empty() && want != uid {
            return Err(ApiError::Conflict {
                resource: kind_name.to_string(),
                group: String::new(),
                kind: kind_name.to_string(),
                name: name.to_string(),
                reason: format!("the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"),
            });
        }
        Ok(())
    }

    /// Authenticates a bearer token: signature, issuer, time window and audience, then
    /// that the account (and the bound pod/secret) still exists with the same UID, as
    /// upstream's validator does. Any failure is 401.
    pub async fn authenticate(&self, store: &Store, token: &str) -> Result<Identity, ApiError> {
        let refuse = |why: &dyn std::fmt::Display| {
            tracing::debug!("service account token refused: {why}");
            ApiError::Unauthorized
        };
        let claims = self.key.verify(token).map_err(|e| refuse(&e))?;
        let subject = claims::validate(&claims, &self.issuer, &self.audiences, jiff::Timestamp::now().as_second()).map_err(|e| refuse(&e))?;
        let ns = Some(subject.namespace.as_str());
        let alive = |obj: &Value, want: &ObjectRef| {
            str_at(obj, "/metadata/uid") == want.uid && obj.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null)
        };
        let sa = store.get(Target { kind: kind("serviceaccounts")?, namespace: ns }, &subject.service_account.name).await.map_err(|e| refuse(&e))?;
        if !alive(&sa, &subject.service_account) {
            return Err(refuse(&"the service account was deleted or replaced"));
        }
        if let Some(pod_ref) = &subject.pod {
            let pod = store.get(Target { kind: kind("pods")?, namespace: ns }, &pod_ref.name).await.map_err(|e| refuse(&e))?;
            if str_at(&pod, "/metadata/uid") != pod_ref.uid || pod_deleted_past_grace(&pod) {
                return Err(refuse(&"the bound pod was deleted or replaced"));
            }
        }
        if let Some(secret_ref) = &subject.secret {
            let secret = store.get(Target { kind: kind("secrets")?, namespace: ns }, &secret_ref.name).await.map_err(|e| refuse(&e))?;
            if !alive(&secret, secret_ref) {
                return Err(refuse(&"the bound secret was deleted or replaced"));
            }
        }
        Ok(identity(&subject))
    }

    /// `/.well-known/openid-configuration`.
    pub fn openid_configuration(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/openid/v1/jwks", self.issuer.trim_end_matches('/')),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }

    /// `/openid/v1/jwks`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.key.jwk()] })
    }
}

/// A pod whose deletion grace period is over no longer lends its tokens validity.
fn pod_deleted_past_grace(pod: &Value) -> bool {
    let deleted = str_at(pod, "/metadata/deletionTimestamp");
    !deleted.is_empty() && deleted.parse::<jiff::Timestamp>().is_ok_and(|t| t < jiff::Timestamp::now())
}

/// The user a token speaks for, with upstream's groups and extra fields.
fn identity(subject: &Subject) -> Identity {
    let mut extra = BTreeMap::new();
    if !subject.jti.is_empty() {
        extra.insert("authentication.kubernetes.io/credential-id".to_string(), vec![format!("JTI={}", subject.jti)]);
    }
    if let Some(node) = &subject.node {
        extra.insert("authentication.kubernetes.io/node-name".to_string(), vec![node.name.clone()]);
        if !node.uid.is_empty() {
            extra.insert("authentication.kubernetes.io/node-uid".to_string(), vec![node.uid.clone()]);
        }
    }
    if let Some(pod) = &subject.pod {
        extra.insert("authentication.kubernetes.io/pod-name".to_string(), vec![pod.name.clone()]);
        extra.insert("authentication.kubernetes.io/pod-uid".to_string(), vec![pod.uid.clone()]);
    }
    Identity {
        user: claims::username(&subject.namespace, &subject.service_account.name),
        uid: subject.service_account.uid.clone(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{}", subject.namespace),
            "system:authenticated".into(),
        ],
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_documents() {
        let tokens = Tokens::new(jwt::test_key());
        let doc = tokens.openid_configuration();
        assert_eq!(doc["jwks_uri"], "https://kubernetes.default.svc.cluster.local/openid/v1/jwks");
        assert_eq!(tokens.jwks()["keys"][0]["kid"], tokens.key.kid());
    }

    #[test]
    fn identity_of_a_pod_token() {
        let s = Subject {
            namespace: "ns".into(),
            service_account: ObjectRef { name: "sa".into(), uid: "1".into() },
            pod: Some(ObjectRef { name: "p".into(), uid: "2".into() }),
            jti: "j".into(),
            ..Default::default()
        };
        let who = identity(&s);
        assert_eq!(who.user, "system:serviceaccount:ns:sa");
        assert_eq!(who.groups, ["system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"]);
        assert_eq!(who.extra["authentication.kubernetes.io/pod-uid"], ["2"]);
        assert_eq!(who.extra["authentication.kubernetes.io/credential-id"], ["JTI=j"]);
    }
}
