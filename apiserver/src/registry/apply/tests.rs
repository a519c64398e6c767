use super::*;
use serde_json::json;

const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";

fn writer(manager: &str) -> Writer<'_> {
    Writer { ty: Ty::of_definition(Some(DEPLOYMENT)), api_version: "apps/v1", manager, subresource: None, has_status: true }
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]}
            }
        }
    })
}

fn fields_of(obj: &Value, manager: &str) -> Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == manager)
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn applied_fields_use_upstream_fieldsv1_encoding() {
    let obj = apply(&writer("kubectl"), &json!({}), &deployment(2, "nginx:1"), false).unwrap();
    let f = fields_of(&obj, "kubectl");
    assert_eq!(f["f:spec"]["f:replicas"], json!({}));
    assert_eq!(f["f:metadata"]["f:labels"]["f:app"], json!({}));
    let container = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
    assert_eq!(container["."], json!({}));
    assert_eq!(container["f:image"], json!({}));
    // A missing `protocol` key takes the schema default, like upstream.
    assert_eq!(container["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"]["."], json!({}));
    assert!(f["f:metadata"].get("f:name").is_none(), "identity fields are nobody's");
    let entry = &obj["metadata"]["managedFields"][0];
    assert_eq!((entry["operation"].as_str(), entry["apiVersion"].as_str()), (Some("Apply"), Some("apps/v1")));
}

#[test]
fn fieldsv1_round_trips() {
    let obj = apply(&writer("kubectl"), &json!({}), &deployment(2, "nginx:1"), false).unwrap();
    let f = fields_of(&obj, "kubectl");
    assert_eq!(FieldSet::from_fields_v1(&f).unwrap().to_fields_v1(), f);
}

#[test]
fn updater_owning_a_field_makes_apply_conflict_until_forced() {
    let live = apply(&writer("kubectl"), &json!({}), &deployment(2, "nginx:1"), false).unwrap();
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    let upd = Writer { manager: "kubectl-scale", ..writer("") };
    track_update(&upd, Some(&live), &mut scaled).unwrap();
    assert_eq!(fields_of(&scaled, "kubectl-scale")["f:spec"]["f:replicas"], json!({}));
    assert!(fields_of(&scaled, "kubectl")["f:spec"].get("f:replicas").is_none(), "an update takes the field");

    let err = apply(&writer("kubectl"), &scaled, &deployment(3, "nginx:1"), false).unwrap_err();
    let ApplyError::Conflicts(c) = err else { panic!("expected conflicts") };
    assert_eq!(c, vec![("\"kubectl-scale\" using apps/v1".to_string(), ".spec.replicas".to_string())]);
    assert_eq!(
        ApplyError::conflict_message(&c),
        "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1: .spec.replicas"
    );

    // The same value is shared ownership, not a conflict.
    let shared = apply(&writer("kubectl"), &scaled, &deployment(5, "nginx:1"), false).unwrap();
    assert_eq!(fields_of(&shared, "kubectl-scale")["f:spec"]["f:replicas"], json!({}));

    let forced = apply(&writer("kubectl"), &scaled, &deployment(3, "nginx:1"), true).unwrap();
    assert_eq!(forced["spec"]["replicas"], 3);
    assert_eq!(fields_of(&forced, "kubectl-scale"), Value::Null, "the loser's empty entry goes");
}

#[test]
fn omitted_fields_are_removed_unless_someone_else_owns_them() {
    let mut config = deployment(2, "nginx:1");
    config["metadata"]["labels"]["tier"] = json!("front");
    config["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "busybox"}));
    let live = apply(&writer("kubectl"), &json!({}), &config, false).unwrap();
    // Another manager applies the same label: it stays when the first drops it.
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"tier": "front"}}});
    let live = apply(&writer("ops"), &live, &other, false).unwrap();
    let next = apply(&writer("kubectl"), &live, &deployment(2, "nginx:1"), false).unwrap();
    assert_eq!(next["metadata"]["labels"], json!({"app": "web", "tier": "front"}));
    let names: Vec<&str> = next["spec"]["template"]["spec"]["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["web"], "the sidecar only kubectl owned is pruned");
    let alone = apply(&writer("kubectl"), &json!({}), &config, false).unwrap();
    let pruned = apply(&writer("kubectl"), &alone, &deployment(2, "nginx:1"), false).unwrap();
    assert_eq!(pruned["metadata"]["labels"], json!({"app": "web"}));
}

#[test]
fn map_lists_merge_by_key_and_keep_other_items() {
    let live = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}});
    let config = json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}]}}}});
    let merged = typed::merge(&live, &config, Ty::of_definition(Some(DEPLOYMENT))).unwrap();
    assert_eq!(
        merged["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}, {"name": "c", "image": "w"}])
    );
}

#[test]
fn set_and_atomic_lists() {
    let ty = Ty::of_definition(Some(DEPLOYMENT));
    let live = json!({"metadata": {"finalizers": ["a"]}, "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["1", "2"]}]}}}});
    let config = json!({"metadata": {"finalizers": ["b"]}, "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["3"]}]}}}});
    let merged = typed::merge(&live, &config, ty).unwrap();
    assert_eq!(merged["metadata"]["finalizers"], json!(["a", "b"]));
    assert_eq!(merged["spec"]["template"]["spec"]["containers"][0]["args"], json!(["3"]), "args are atomic");
    let set = typed::field_set(&config, ty).unwrap();
    assert!(set.has(&["f:metadata".into(), "f:finalizers".into(), "v:\"b\"".into()]));
    assert!(set.has(&["f:spec".into(), "f:template".into(), "f:spec".into(), "f:containers".into(), "k:{\"name\":\"c\"}".into(), "f:args".into()]));
}

#[test]
fn duplicate_keys_are_an_error() {
    let config = json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}});
    let err = typed::field_set(&config, Ty::of_definition(Some(DEPLOYMENT))).unwrap_err();
    assert_eq!(err.0, "duplicate entries for key [name=\"a\"]");
}

#[test]
fn updates_record_changed_fields_and_keep_time_when_nothing_changes() {
    let w = Writer { ty: Ty::of_definition(Some("io.k8s.api.core.v1.ConfigMap")), api_version: "v1", manager: "kubectl-create", subresource: None, has_status: false };
    let mut created = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
    track_update(&w, None, &mut created).unwrap();
    let entries = &created["metadata"]["managedFields"];
    assert_eq!(entries[0]["fieldsV1"], json!({"f:data": {".": {}, "f:a": {}}}));
    assert_eq!(entries[0]["operation"], "Update");
    let mut same = created.clone();
    track_update(&w, Some(&created), &mut same).unwrap();
    assert_eq!(same, created);
    // Someone else removes the key: it leaves every set (the map itself stays owned).
    let mut edited = created.clone();
    edited["data"] = json!({"b": "2"});
    let other = Writer { manager: "kubectl-edit", ..w };
    track_update(&other, Some(&created), &mut edited).unwrap();
    assert_eq!(fields_of(&edited, "kubectl-create"), json!({"f:data": {}}));
    assert_eq!(fields_of(&edited, "kubectl-edit"), json!({"f:data": {"f:b": {}}}));
}

#[test]
fn managed_fields_sent_with_an_update_replace_the_stored_ones() {
    let w = Writer { ty: Ty::of_definition(Some("io.k8s.api.core.v1.ConfigMap")), api_version: "v1", manager: "kubectl", subresource: None, has_status: false };
    let mut live = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
    track_update(&Writer { manager: "kubectl-client-side-apply", ..w }, None, &mut live).unwrap();
    let mut migrated = live.clone();
    migrated["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
    migrated["metadata"]["managedFields"][0]["operation"] = json!("Apply");
    track_update(&w, Some(&live), &mut migrated).unwrap();
    assert_eq!(migrated["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(migrated["metadata"]["managedFields"][0]["operation"], "Apply");
}

#[test]
fn display_paths_like_upstream() {
    let p = |s: &[&str]| fieldset::display_path(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    assert_eq!(p(&["f:spec", "f:replicas"]), ".spec.replicas");
    assert_eq!(p(&["f:spec", "f:ports", "k:{\"port\":80,\"protocol\":\"TCP\"}", "f:name"]), ".spec.ports[port=80,protocol=\"TCP\"].name");
    assert_eq!(p(&["f:metadata", "f:finalizers", "v:\"a\""]), ".metadata.finalizers[=\"a\"]");
}
