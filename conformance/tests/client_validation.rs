//! kubectl's client-side schema validation, which reads `/openapi/v2` as gnostic protobuf:
//! files of kind `List` (what `kubectl get -o yaml` writes) are validated that way.

use ironkube_conformance::{ApiClient, Cluster};

const PROTOBUF_ACCEPT: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

fn config_map(name: &str, extra: &str) -> String {
    format!(r#"{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "{name}"}}, "data": {{"k": "v"}}{extra}}}"#)
}

fn list(items: &[String]) -> String {
    format!(r#"{{"apiVersion": "v1", "kind": "List", "items": [{}]}}"#, items.join(", "))
}

#[test]
fn create_of_a_list_validates_client_side() {
    let c = Cluster::start();
    let good = c.dir.path().join("list1.json");
    std::fs::write(&good, list(&[config_map("one", ""), config_map("two", "")])).expect("write list1.json");
    let out = c.ok(&["create", "-f", good.to_str().expect("utf-8 path")]);
    assert!(out.contains("configmap/one created") && out.contains("configmap/two created"), "{out}");

    // An unknown field in one item fails the whole file before anything is sent, with
    // kubectl's client-side (OpenAPI v2 model) message.
    let bad = c.dir.path().join("list2.json");
    std::fs::write(&bad, list(&[config_map("three", ""), config_map("four", r#", "bogus": 1"#)])).expect("write list2.json");
    let path = bad.to_str().expect("utf-8 path");
    let err = c.fails(&["create", "-f", path]);
    assert!(
        err.contains(&format!(
            "error validating \"{path}\": error validating data: ValidationError(ConfigMap): unknown field \"bogus\" in io.k8s.api.core.v1.ConfigMap; \
             if you choose to ignore these errors, turn validation off with --validate=false"
        )),
        "{err}"
    );
    let names = c.ok(&["get", "cm", "-o", "name"]);
    assert!(!names.contains("configmap/three") && !names.contains("configmap/four"), "{names}");
    // A type error is caught the same way.
    std::fs::write(&bad, list(&[config_map("five", r#", "immutable": "yes""#)])).expect("write list2.json");
    let err = c.fails(&["create", "-f", path]);
    assert!(err.contains("ValidationError(ConfigMap.immutable): invalid type for io.k8s.api.core.v1.ConfigMap.immutable: got \"string\", expected \"boolean\""), "{err}");
    // Turning validation off leaves it to the server.
    std::fs::write(&bad, list(&[config_map("six", "")])).expect("write list2.json");
    c.ok(&["create", "--validate=false", "-f", path]);
    c.ok(&["get", "cm", "six"]);
}

#[test]
fn get_o_yaml_then_apply_round_trips() {
    let c = Cluster::start();
    c.ok(&["create", "configmap", "a", "--from-literal=x=1"]);
    c.ok(&["create", "configmap", "b", "--from-literal=y=2"]);
    let yaml = c.ok(&["get", "cm", "a", "b", "-o", "yaml"]);
    assert!(yaml.contains("kind: List"), "{yaml}");
    let file = c.dir.path().join("cms.yaml");
    std::fs::write(&file, yaml.replace("x: \"1\"", "x: \"10\"")).expect("write cms.yaml");
    let out = c.ok(&["apply", "-f", file.to_str().expect("utf-8 path")]);
    assert!(out.contains("configmap/a configured") && out.contains("configmap/b"), "{out}");
    assert_eq!(c.ok(&["get", "cm", "a", "-o", "jsonpath={.data.x}"]), "10");
}

#[test]
fn openapi_v2_negotiates_json_and_protobuf_like_upstream() {
    let c = Cluster::start();
    let mut client = ApiClient::connect(c.port, &c.dir.path().join("pki"));
    let json = client.get_with_headers("/openapi/v2", &[("Accept", "application/json")]);
    assert_eq!(json.status, 200);
    assert_eq!(json.header("content-type"), Some("application/json"));
    assert_eq!(json.header("vary"), Some("Accept"));
    let etag = json.header("etag").unwrap_or_default().to_string();
    assert_eq!(etag.len(), 130, "quoted SHA-512 hex: {etag}");
    assert!(json.header("last-modified").is_some());
    assert!(json.body.starts_with(b"{"));

    let pb = client.get_with_headers("/openapi/v2", &[("Accept", PROTOBUF_ACCEPT)]);
    assert_eq!(pb.status, 200);
    assert_eq!(pb.header("content-type"), Some("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"));
    assert_eq!(pb.header("etag"), Some(etag.as_str()));
    assert_eq!(pb.header("vary"), Some("Accept"));
    // Field 1 (`swagger`), length 3, "2.0".
    assert!(pb.body.starts_with(b"\x0a\x032.0"), "{:?}", &pb.body[..pb.body.len().min(16)]);

    let cached = client.get_with_headers("/openapi/v2", &[("Accept", PROTOBUF_ACCEPT), ("If-None-Match", &etag)]);
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    let stale = client.get_with_headers("/openapi/v2", &[("Accept", PROTOBUF_ACCEPT), ("If-None-Match", "\"0\"")]);
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, pb.body);

    let none = client.get_with_headers("/openapi/v2", &[("Accept", "application/yaml")]);
    assert_eq!(none.status, 406);
    assert_eq!(none.header("vary"), Some("Accept"));
}
