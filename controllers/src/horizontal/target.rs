//! The scale target: `spec.scaleTargetRef` resolved to a resource through discovery (any
//! kind with a `scale` subresource, custom resources included) and read and written through
//! `/scale`, as upstream's RESTMapper and scale client do.

use crate::error::api_message;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::autoscaling::v2::CrossVersionObjectReference;
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::Api;
use std::collections::HashMap;
use std::sync::Mutex;

/// Resolves group/kind to a resource, remembering what it found (a miss asks again, so a
/// CRD created later is found).
pub struct Resolver {
    client: kube::Client,
    known: Mutex<HashMap<(String, String), ApiResource>>,
}

/// The group of an `apiVersion` (upstream `schema.ParseGroupVersion`).
fn group_of(api_version: &str) -> Result<&str, String> {
    match api_version.split('/').collect::<Vec<_>>()[..] {
        [""] | [_] => Ok(""),
        [group, _] => Ok(group),
        _ => Err(format!("unexpected GroupVersion string: {api_version}")),
    }
}

impl Resolver {
    /// A resolver using `client`'s discovery.
    pub fn new(client: kube::Client) -> Self {
        Resolver { client, known: Mutex::default() }
    }

    async fn resource(&self, group: &str, kind: &str) -> Result<ApiResource, String> {
        let key = (group.to_string(), kind.to_string());
        if let Some(ar) = self.known.lock().expect("resolver lock").get(&key) {
            return Ok(ar.clone());
        }
        let no_match = || format!("no matches for kind {kind:?} in group {group:?}");
        let found = match kube::discovery::group(&self.client, group).await {
            Ok(g) => g.recommended_kind(kind).map(|(ar, _)| ar).ok_or_else(no_match)?,
            Err(kube::Error::Discovery(_)) => return Err(no_match()),
            Err(e) => return Err(api_message(&e)),
        };
        self.known.lock().expect("resolver lock").insert(key, found.clone());
        Ok(found)
    }

    /// The target's Scale and the API that serves it; errors carry upstream's messages.
    pub async fn scale(&self, namespace: &str, target: &CrossVersionObjectReference) -> Result<(Api<DynamicObject>, Scale), String> {
        let group = group_of(target.api_version.as_deref().unwrap_or(""))?;
        let ar = self.resource(group, &target.kind).await?;
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
        let scale = api.get_scale(&target.name).await.map_err(|e| api_message(&e))?;
        Ok((api, scale))
    }
}

/// Writes `replicas` through `/scale` (the Scale just read, so a concurrent change conflicts).
pub async fn set_replicas(api: &Api<DynamicObject>, mut scale: Scale, replicas: i32) -> Result<(), String> {
    scale.spec.get_or_insert_with(Default::default).replicas = Some(replicas);
    let name = scale.metadata.name.clone().unwrap_or_default();
    api.replace_scale(&name, &PostParams::default(), &scale).await.map(|_| ()).map_err(|e| api_message(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_api_versions() {
        assert_eq!(group_of("apps/v1"), Ok("apps"));
        assert_eq!(group_of("v1"), Ok(""));
        assert_eq!(group_of(""), Ok(""));
        assert_eq!(group_of("a/b/c"), Err("unexpected GroupVersion string: a/b/c".into()));
    }
}
