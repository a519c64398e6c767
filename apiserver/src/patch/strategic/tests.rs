//! Strategic merge patch tests with patches shaped like stock kubectl's.

use super::apply;
use crate::patch::PatchError;
use serde_json::{Value, json};

const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";
const POD: &str = "io.k8s.api.core.v1.Pod";

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "finalizers": ["a.example.com/x", "b.example.com/y"]
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "nodeSelector": {"disk": "ssd"},
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                    "containers": [
                        {
                            "name": "web",
                            "image": "busybox:1",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
                        },
                        {"name": "sidecar", "image": "envoy:1"}
                    ]
                }
            }
        }
    })
}

fn smp(definition: &str, original: &Value, patch: Value) -> Result<Value, PatchError> {
    apply(definition, original, patch)
}

/// Asserts no directive key survives anywhere in `v`.
fn assert_no_directives(v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                assert!(
                    !k.starts_with("$patch")
                        && !k.starts_with("$retainKeys")
                        && !k.starts_with("$setElementOrder")
                        && !k.starts_with("$deleteFromPrimitiveList"),
                    "directive {k} leaked"
                );
                assert_no_directives(v);
            }
        }
        Value::Array(items) => items.iter().for_each(assert_no_directives),
        _ => {}
    }
}

#[test]
fn kubectl_apply_changes_only_the_image() {
    let original = deployment();
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":1}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
            "containers": [{"image": "busybox:2", "name": "web"}]
        }}}
    });
    let out = smp(DEPLOYMENT, &original, patch).unwrap();
    let mut expected = original.clone();
    expected["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!("{\"new\":1}");
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:2");
    assert_eq!(out, expected);
}

#[test]
fn set_element_order_with_server_only_container() {
    // The live object has a container the applied config does not list.
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}],
        "containers": [{"image": "busybox:2", "name": "web"}]
    }}}});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    let containers = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["name"], "web");
    assert_eq!(containers[0]["image"], "busybox:2");
    assert_eq!(containers[0]["env"][1]["name"], "B");
    assert_eq!(
        containers[1],
        json!({"name": "sidecar", "image": "envoy:1"})
    );
}

#[test]
fn kubectl_apply_adds_and_reorders_containers() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "init"}, {"name": "web"}, {"name": "sidecar"}],
        "containers": [{"image": "alpine", "name": "init"}]
    }}}});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["init", "web", "sidecar"]);
}

#[test]
fn kubectl_label_overwrite() {
    let patch = json!({"metadata": {"labels": {"app": "api", "tier": "backend"}}});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "api", "tier": "backend"})
    );
    // `kubectl label app-` sends a null.
    let out = smp(
        DEPLOYMENT,
        &out,
        json!({"metadata": {"labels": {"app": null}}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"tier": "backend"}));
    assert_eq!(out["spec"], deployment()["spec"]);
}

#[test]
fn delete_env_var_by_directive() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "B"}],
            "env": [{"$patch": "delete", "name": "A"}],
            "name": "web"
        }]
    }}}});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    let web = &out["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(web["env"], json!([{"name": "B", "value": "2"}]));
    assert_eq!(web["image"], "busybox:1");
    assert_no_directives(&out);
}

#[test]
fn retain_keys_switching_to_recreate_drops_rolling_update() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    // A patch key missing from $retainKeys is a 400.
    let bad = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}});
    let err = smp(DEPLOYMENT, &deployment(), bad).unwrap_err();
    assert_eq!(
        err,
        PatchError::BadStrategicPatch("invalid patch format of retainKeys")
    );
    assert_eq!(err.status_code(), 400);
}

#[test]
fn finalizers_are_a_set_with_parallel_delete_list() {
    let patch = json!({"metadata": {
        "$setElementOrder/finalizers": ["b.example.com/y", "c.example.com/z"],
        "$deleteFromPrimitiveList/finalizers": ["a.example.com/x"],
        "finalizers": ["c.example.com/z"]
    }});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["b.example.com/y", "c.example.com/z"])
    );
    assert_no_directives(&out);
    // Without order: union.
    let out = smp(
        DEPLOYMENT,
        &deployment(),
        json!({"metadata": {"finalizers": ["b.example.com/y", "d"]}}),
    )
    .unwrap();
    let mut got: Vec<String> =
        serde_json::from_value(out["metadata"]["finalizers"].clone()).unwrap();
    got.sort();
    assert_eq!(got, ["a.example.com/x", "b.example.com/y", "d"]);
}

#[test]
fn atomic_lists_are_replaced_and_maps_merged() {
    let patch = json!({"spec": {"template": {"spec": {
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "nodeSelector": {"zone": "z1"}
    }}}});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    let spec = &out["spec"]["template"]["spec"];
    assert_eq!(
        spec["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
    // Upstream strategic merge merges maps regardless of x-kubernetes-map-type.
    assert_eq!(spec["nodeSelector"], json!({"disk": "ssd", "zone": "z1"}));
}

#[test]
fn container_ports_merge_by_container_port() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{
        "name": "web",
        "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}]
    }]}}}});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    let ports = &out["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert_eq!(
        ports,
        &json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}])
    );
}

#[test]
fn map_replace_and_delete_directives() {
    let patch = json!({"spec": {"selector": {"$patch": "replace", "matchLabels": {"app": "x"}}}});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    assert_eq!(
        out["spec"]["selector"],
        json!({"matchLabels": {"app": "x"}})
    );
    let patch = json!({"spec": {"strategy": {"$patch": "delete"}}});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    assert_eq!(out["spec"]["strategy"], json!({}));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}}});
    let out = smp(DEPLOYMENT, &deployment(), patch).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "only", "image": "x"}])
    );
}

#[test]
fn new_content_is_cleaned() {
    let original =
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x"}]}});
    let patch = json!({"spec": {
        "volumes": [{"name": "v", "emptyDir": {}, "secret": null}],
        "securityContext": {"$retainKeys": ["runAsUser"], "runAsUser": 1},
        "containers": [{"name": "b", "image": "y", "$setElementOrder/env": [{"name": "E"}], "env": [{"name": "E", "value": "1"}]}]
    }});
    let out = smp(POD, &original, patch).unwrap();
    assert_no_directives(&out);
    assert_eq!(
        out["spec"]["volumes"],
        json!([{"name": "v", "emptyDir": {}}])
    );
    assert_eq!(out["spec"]["securityContext"], json!({"runAsUser": 1}));
    // Without $setElementOrder upstream puts new items before server-only ones.
    assert_eq!(out["spec"]["containers"][0]["name"], "b");
    assert_eq!(
        out["spec"]["containers"][0]["env"],
        json!([{"name": "E", "value": "1"}])
    );
    assert_eq!(
        out["spec"]["containers"][1],
        json!({"name": "a", "image": "x"})
    );
}

#[test]
fn service_ports_merge_by_port() {
    let original = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]}});
    let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}});
    let out = smp("io.k8s.api.core.v1.Service", &original, patch).unwrap();
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}])
    );
}

#[test]
fn errors_follow_upstream_status_codes() {
    let err = smp(
        DEPLOYMENT,
        &deployment(),
        json!({"spec": {"strategy": {"$patch": "bogus"}}}),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("unknown patch type: \"bogus\""),
        "{err}"
    );
    assert_eq!(err.status_code(), 500);
    let err = smp(DEPLOYMENT, &deployment(), json!([1])).unwrap_err();
    assert_eq!(err.status_code(), 400);
    let err = smp("com.example.v1.Widget", &json!({}), json!({})).unwrap_err();
    assert_eq!(err, PatchError::StrategicMergeUnsupported);
    assert_eq!(err.status_code(), 415);
    let err = smp(
        DEPLOYMENT,
        &deployment(),
        json!({"metadata": {"$setElementOrder/finalizers": "x"}}),
    )
    .unwrap_err();
    assert_eq!(err.status_code(), 500);
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
    let err = smp(DEPLOYMENT, &deployment(), patch).unwrap_err();
    assert!(
        err.to_string()
            .contains("does not contain declared merge key: name")
    );
}

#[test]
fn upstream_style_merge_with_element_order() {
    // New items placed by $setElementOrder, server-only fields kept.
    let original = json!({"spec": {"containers": [
        {"name": "c1", "image": "a"},
        {"name": "c2", "image": "b", "tty": true}
    ]}});
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "c4"}, {"name": "c1"}, {"name": "c2"}, {"name": "c3"}],
        "containers": [{"name": "c4", "image": "d"}, {"name": "c3", "image": "c"}]
    }});
    let out = smp(POD, &original, patch).unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([
            {"name": "c4", "image": "d"},
            {"name": "c1", "image": "a"},
            {"name": "c2", "image": "b", "tty": true},
            {"name": "c3", "image": "c"}
        ])
    );
    // A server-only scalar keeps its place after the ordered ones.
    let original = json!({"metadata": {"finalizers": ["1", "2", "4"]}});
    let patch =
        json!({"metadata": {"$setElementOrder/finalizers": ["1", "2", "3"], "finalizers": ["3"]}});
    let out = smp(POD, &original, patch).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["1", "2", "3", "4"]));
}
