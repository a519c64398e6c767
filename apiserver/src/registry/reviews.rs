//! Create-only review kinds that are computed, not stored (upstream
//! `pkg/registry/authorization/*review` and `pkg/registry/authentication/selfsubjectreview`):
//! `kubectl auth can-i` and `kubectl auth whoami` use them.

use crate::error::ApiError;
use crate::filters::authn::Identity;
use crate::filters::authz::{self, Attributes};
use crate::filters::rbac::{self, Rules};
use serde_json::{json, Value};

/// Computes a review's `status` for the caller, given the RBAC rules of the subject under
/// review (see [`subject_of`]).
pub type Review = fn(&Value, &Identity, &Rules) -> Result<Value, ApiError>;

/// Whose permissions a review asks about: the user a (Local)SubjectAccessReview names,
/// otherwise the caller.
pub fn subject_of(kind: &crate::registry::kinds::Kind, review: &Value, caller: &Identity) -> Identity {
    match kind.kind {
        "SubjectAccessReview" | "LocalSubjectAccessReview" => spec_identity(review),
        _ => caller.clone(),
    }
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or_default()
}

/// The identity a SubjectAccessReview spec names.
fn spec_identity(review: &Value) -> Identity {
    Identity {
        user: str_at(review, "/spec/user").to_string(),
        groups: review
            .pointer("/spec/groups")
            .and_then(Value::as_array)
            .map(|g| g.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        ..Default::default()
    }
}

fn decide(review: &Value, who: &Identity, rules: &Rules) -> Value {
    let spec = review.get("spec").cloned().unwrap_or_default();
    let allowed = if let Some(ra) = spec.get("resourceAttributes") {
        let resource = match str_at(ra, "/subresource") {
            "" => str_at(ra, "/resource").to_string(),
            sub => format!("{}/{sub}", str_at(ra, "/resource")),
        };
        let ns = str_at(ra, "/namespace");
        let name = str_at(ra, "/name");
        authz::authorize(who, &Attributes {
            verb: str_at(ra, "/verb"),
            group: str_at(ra, "/group"),
            resource: &resource,
            namespace: (!ns.is_empty()).then_some(ns),
            name: (!name.is_empty()).then_some(name),
            path: None,
        }, rules)
        .is_ok()
    } else if let Some(nra) = spec.get("nonResourceAttributes") {
        authz::authorize(who, &Attributes { verb: str_at(nra, "/verb"), path: Some(str_at(nra, "/path")), ..Default::default() }, rules).is_ok()
    } else {
        false
    };
    let mut out = review.clone();
    out["status"] = json!({ "allowed": allowed });
    out
}

fn require_attributes(review: &Value, kind: &str) -> Result<(), ApiError> {
    let spec = review.get("spec");
    let has = |k: &str| spec.and_then(|s| s.get(k)).is_some();
    if has("resourceAttributes") == has("nonResourceAttributes") {
        return Err(ApiError::Invalid {
            kind: kind.into(),
            group: "authorization.k8s.io".into(),
            name: String::new(),
            causes: vec![crate::registry::strategy::Cause {
                reason: "FieldValueRequired",
                message: "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
                field: "spec.resourceAttributes".into(),
            }],
        });
    }
    Ok(())
}

/// SelfSubjectAccessReview: may the caller do this?
pub fn self_subject_access(review: &Value, who: &Identity, rules: &Rules) -> Result<Value, ApiError> {
    require_attributes(review, "SelfSubjectAccessReview")?;
    Ok(decide(review, who, rules))
}

/// SubjectAccessReview and LocalSubjectAccessReview: may the named subject do this?
pub fn subject_access(review: &Value, _who: &Identity, rules: &Rules) -> Result<Value, ApiError> {
    require_attributes(review, "SubjectAccessReview")?;
    Ok(decide(review, &spec_identity(review), rules))
}

/// SelfSubjectRulesReview: what may the caller do in a namespace?
pub fn self_subject_rules(review: &Value, who: &Identity, rules: &Rules) -> Result<Value, ApiError> {
    let mut out = review.clone();
    out["status"] = if authz::is_master(who) {
        json!({
            "resourceRules": [{ "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] }],
            "nonResourceRules": [{ "verbs": ["*"], "nonResourceURLs": ["*"] }],
            "incomplete": false,
        })
    } else {
        rbac::rules_review_status(rules, str_at(review, "/spec/namespace"))
    };
    Ok(out)
}

/// SelfSubjectReview: who am I?
pub fn self_subject(review: &Value, who: &Identity, _rules: &Rules) -> Result<Value, ApiError> {
    let mut out = review.clone();
    let mut user = json!({ "username": who.user, "groups": who.groups });
    if !who.uid.is_empty() {
        user["uid"] = json!(who.uid);
    }
    if !who.extra.is_empty() {
        user["extra"] = json!(who.extra);
    }
    out["status"] = json!({ "userInfo": user });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_may_everything_others_nothing() {
        let admin = Identity { user: "admin".into(), groups: vec!["system:masters".into()], ..Default::default() };
        let review = json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "default"}}});
        let none = Rules::default();
        assert_eq!(self_subject_access(&review, &admin, &none).unwrap()["status"]["allowed"], true);
        let sar = json!({"spec": {"user": "bob", "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "a"}}});
        assert_eq!(subject_access(&sar, &admin, &none).unwrap()["status"]["allowed"], false);
        let mut bobs = Rules::default();
        bobs.namespaced.insert("a".into(), vec![json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]})]);
        assert_eq!(subject_access(&sar, &admin, &bobs).unwrap()["status"]["allowed"], true);
        assert!(self_subject_access(&json!({"spec": {}}), &admin, &none).is_err());
    }
}
