//! End-to-end tests: request bodies built with the k8s-pb prost types the way Go's
//! encoder writes them (non-pointer fields present even when zero), compared with the
//! upstream JSON for the same object, written by hand.

use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::json;

use super::{MEDIA_TYPE, ProtoError, decode, is_protobuf};

/// The body kubectl sends: magic + runtime.Unknown with Go's empty contentEncoding/contentType.
fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// ObjectMeta as Go writes it: every non-pointer string/int present, a zero creationTimestamp.
fn object_meta(name: &str, labels: BTreeMap<String, String>) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: s(name),
        generate_name: s(""),
        namespace: s(""),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(meta::Time {
            seconds: Some(0),
            nanos: Some(0),
        }),
        labels,
        ..Default::default()
    }
}

/// A container as Go writes it for `kubectl create deployment|job --image=... -- cmd`.
fn container(name: &str, image: &str, command: &[&str]) -> core::Container {
    core::Container {
        name: s(name),
        image: s(image),
        command: command.iter().map(|c| c.to_string()).collect(),
        working_dir: s(""),
        resources: Some(core::ResourceRequirements::default()),
        termination_message_path: s(""),
        termination_message_policy: s(""),
        image_pull_policy: s(""),
        stdin: Some(false),
        stdin_once: Some(false),
        tty: Some(false),
        ..Default::default()
    }
}

/// A PodSpec as Go writes it: zero non-pointer scalars present.
fn pod_spec(containers: Vec<core::Container>, restart_policy: &str) -> core::PodSpec {
    core::PodSpec {
        containers,
        restart_policy: s(restart_policy),
        dns_policy: s(""),
        service_account_name: s(""),
        service_account: s(""),
        node_name: s(""),
        host_network: Some(false),
        host_pid: Some(false),
        host_ipc: Some(false),
        hostname: s(""),
        subdomain: s(""),
        scheduler_name: s(""),
        ..Default::default()
    }
}

#[test]
fn media_type_and_magic() {
    assert_eq!(MEDIA_TYPE, "application/vnd.kubernetes.protobuf");
    assert!(is_protobuf(b"k8s\0\x0a"));
    assert!(!is_protobuf(b"{\"kind\":\"Pod\"}"));
    assert!(!is_protobuf(b"k8s"));
}

#[test]
fn kubectl_create_deployment() {
    let app = labels(&[("app", "web")]);
    let deployment = apps::Deployment {
        metadata: Some(object_meta("web", app.clone())),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(1),
            selector: Some(meta::LabelSelector {
                match_labels: app.clone(),
                ..Default::default()
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(object_meta("", app.clone())),
                spec: Some(pod_spec(
                    vec![container(
                        "busybox",
                        "ironkube.local/busybox",
                        &["httpd", "-f", "-p", "80"],
                    )],
                    "",
                )),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s(""),
                rolling_update: None,
            }),
            min_ready_seconds: Some(0),
            paused: Some(false),
            ..Default::default()
        }),
        status: Some(apps::DeploymentStatus {
            observed_generation: Some(0),
            replicas: Some(0),
            updated_replicas: Some(0),
            ready_replicas: Some(0),
            available_replicas: Some(0),
            unavailable_replicas: Some(0),
            ..Default::default()
        }),
    };
    let got = decode(&envelope(
        "apps/v1",
        "Deployment",
        deployment.encode_to_vec(),
    ))
    .unwrap();
    let want = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "busybox",
                        "image": "ironkube.local/busybox",
                        "command": ["httpd", "-f", "-p", "80"],
                        "resources": {}
                    }]
                }
            },
            "strategy": {}
        },
        "status": {}
    });
    assert_eq!(got, want);
}

#[test]
fn explicit_pointer_zeros_are_kept() {
    let deployment = apps::Deployment {
        metadata: Some(object_meta("zero", BTreeMap::new())),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            template: Some(core::PodTemplateSpec {
                metadata: None,
                spec: Some(core::PodSpec {
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(0),
                    host_network: Some(false),
                    containers: vec![core::Container {
                        name: s("c"),
                        ports: vec![core::ContainerPort {
                            container_port: Some(0),
                            host_port: Some(0),
                            name: s(""),
                            protocol: s("TCP"),
                            host_ip: s(""),
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let got = decode(&envelope(
        "apps/v1",
        "Deployment",
        deployment.encode_to_vec(),
    ))
    .unwrap();
    assert_eq!(got["spec"]["replicas"], json!(0));
    let pod = &got["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], json!(false));
    assert_eq!(pod["terminationGracePeriodSeconds"], json!(0));
    assert!(pod.get("hostNetwork").is_none(), "{pod}");
    assert_eq!(
        pod["containers"][0]["ports"],
        json!([{"containerPort": 0, "protocol": "TCP"}])
    );
}

#[test]
fn kubectl_create_namespace() {
    let ns = core::Namespace {
        metadata: Some(object_meta("team-a", BTreeMap::new())),
        spec: Some(core::NamespaceSpec::default()),
        status: Some(core::NamespaceStatus {
            phase: s(""),
            conditions: vec![],
        }),
    };
    let got = decode(&envelope("v1", "Namespace", ns.encode_to_vec())).unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}, "spec": {}, "status": {}})
    );
}

#[test]
fn kubectl_create_configmap() {
    let cm = core::ConfigMap {
        metadata: Some(object_meta("settings", BTreeMap::new())),
        data: labels(&[("mode", "fast"), ("empty", "")]),
        binary_data: [("blob".to_string(), vec![0u8, 1, 2, 255])]
            .into_iter()
            .collect(),
        immutable: None,
    };
    let got = decode(&envelope("v1", "ConfigMap", cm.encode_to_vec())).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"mode": "fast", "empty": ""},
            "binaryData": {"blob": "AAEC/w=="}
        })
    );
}

#[test]
fn kubectl_create_secret_with_binary_data() {
    let secret = core::Secret {
        metadata: Some(core_meta_ns("creds", "default")),
        data: [
            ("key".to_string(), vec![0xde, 0xad, 0xbe, 0xef]),
            ("empty".to_string(), vec![]),
        ]
        .into_iter()
        .collect(),
        string_data: BTreeMap::new(),
        r#type: s("Opaque"),
        immutable: Some(true),
    };
    let got = decode(&envelope("v1", "Secret", secret.encode_to_vec())).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": "default"},
            "data": {"key": "3q2+7w==", "empty": ""},
            "type": "Opaque",
            "immutable": true
        })
    );
}

fn core_meta_ns(name: &str, namespace: &str) -> meta::ObjectMeta {
    meta::ObjectMeta {
        namespace: s(namespace),
        ..object_meta(name, BTreeMap::new())
    }
}

fn service_port(name: &str, port: i32, target: IntOrString) -> core::ServicePort {
    core::ServicePort {
        name: s(name),
        protocol: s("TCP"),
        app_protocol: None,
        port: Some(port),
        target_port: Some(target),
        node_port: Some(0),
    }
}

#[test]
fn kubectl_create_service_with_int_and_string_target_ports() {
    let svc = core::Service {
        metadata: Some(object_meta("web", labels(&[("app", "web")]))),
        spec: Some(core::ServiceSpec {
            ports: vec![
                service_port(
                    "80-8080",
                    80,
                    IntOrString {
                        r#type: Some(0),
                        int_val: Some(8080),
                        str_val: s(""),
                    },
                ),
                service_port(
                    "https",
                    443,
                    IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: s("https"),
                    },
                ),
            ],
            selector: labels(&[("app", "web")]),
            cluster_ip: s(""),
            r#type: s("ClusterIP"),
            session_affinity: s(""),
            load_balancer_ip: s(""),
            external_name: s(""),
            external_traffic_policy: s(""),
            health_check_node_port: Some(0),
            publish_not_ready_addresses: Some(false),
            ..Default::default()
        }),
        status: Some(core::ServiceStatus {
            load_balancer: Some(core::LoadBalancerStatus::default()),
            conditions: vec![],
        }),
    };
    let got = decode(&envelope("v1", "Service", svc.encode_to_vec())).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "ports": [
                    {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {"name": "https", "protocol": "TCP", "port": 443, "targetPort": "https"}
                ],
                "selector": {"app": "web"},
                "type": "ClusterIP"
            },
            "status": {"loadBalancer": {}}
        })
    );
}

#[test]
fn kubectl_create_job() {
    let job = batch::Job {
        metadata: Some(object_meta("once", BTreeMap::new())),
        spec: Some(batch::JobSpec {
            template: Some(core::PodTemplateSpec {
                metadata: Some(object_meta("", BTreeMap::new())),
                spec: Some(pod_spec(
                    vec![container("once", "busybox", &["echo", "hi"])],
                    "Never",
                )),
            }),
            backoff_limit: Some(0),
            ..Default::default()
        }),
        status: Some(batch::JobStatus {
            active: Some(0),
            succeeded: Some(0),
            failed: Some(0),
            ..Default::default()
        }),
    };
    let got = decode(&envelope("batch/v1", "Job", job.encode_to_vec())).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once"},
            "spec": {
                "template": {
                    "metadata": {},
                    "spec": {
                        "containers": [{"name": "once", "image": "busybox", "command": ["echo", "hi"], "resources": {}}],
                        "restartPolicy": "Never"
                    }
                },
                "backoffLimit": 0
            },
            "status": {}
        })
    );
}

#[test]
fn pod_with_inline_volume_source_times_and_quantities() {
    let mut meta = core_meta_ns("p", "ns");
    meta.creation_timestamp = Some(meta::Time {
        seconds: Some(1_704_164_705),
        nanos: Some(0),
    });
    meta.deletion_grace_period_seconds = Some(30);
    let pod = core::Pod {
        metadata: Some(meta),
        spec: Some(core::PodSpec {
            volumes: vec![core::Volume {
                name: s("scratch"),
                volume_source: Some(core::VolumeSource {
                    empty_dir: Some(core::EmptyDirVolumeSource {
                        medium: s(""),
                        size_limit: Some(Quantity { string: s("1Gi") }),
                    }),
                    ..Default::default()
                }),
            }],
            containers: vec![core::Container {
                name: s("c"),
                resources: Some(core::ResourceRequirements {
                    limits: [("cpu".to_string(), Quantity { string: s("500m") })]
                        .into_iter()
                        .collect(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let got = decode(&envelope("v1", "Pod", pod.encode_to_vec())).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "p",
                "namespace": "ns",
                "creationTimestamp": "2024-01-02T03:05:05Z",
                "deletionGracePeriodSeconds": 30
            },
            "spec": {
                "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}],
                "containers": [{"name": "c", "resources": {"limits": {"cpu": "500m"}}}]
            }
        })
    );
}

#[test]
fn micro_time_and_raw_extension() {
    use k8s_pb::api::events::v1 as events;
    let event = events::Event {
        metadata: Some(object_meta("e", BTreeMap::new())),
        event_time: Some(meta::MicroTime {
            seconds: Some(1_704_164_645),
            nanos: Some(123_456_789),
        }),
        reason: s("Started"),
        ..Default::default()
    };
    let got = decode(&envelope(
        "events.k8s.io/v1",
        "Event",
        event.encode_to_vec(),
    ))
    .unwrap();
    assert_eq!(got["eventTime"], json!("2024-01-02T03:04:05.123456Z"));

    // A ControllerRevision's data is a RawExtension holding JSON.
    let rev = apps::ControllerRevision {
        metadata: Some(object_meta("r", BTreeMap::new())),
        data: Some(k8s_pb::apimachinery::pkg::runtime::RawExtension {
            raw: Some(br#"{"spec":{"a":1}}"#.to_vec()),
        }),
        revision: Some(2),
    };
    let got = decode(&envelope(
        "apps/v1",
        "ControllerRevision",
        rev.encode_to_vec(),
    ))
    .unwrap();
    assert_eq!(got["data"], json!({"spec": {"a": 1}}));
    assert_eq!(got["revision"], json!(2));
}

#[test]
fn delete_options_in_any_group_version() {
    let opts = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        propagation_policy: s("Foreground"),
        ..Default::default()
    };
    let got = decode(&envelope("apps/v1", "DeleteOptions", opts.encode_to_vec())).unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "propagationPolicy": "Foreground"})
    );
}

#[test]
fn self_subject_access_review() {
    use k8s_pb::api::authorization::v1 as authz;
    let review = authz::SelfSubjectAccessReview {
        metadata: Some(object_meta("", BTreeMap::new())),
        spec: Some(authz::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(authz::ResourceAttributes {
                namespace: s("default"),
                verb: s("create"),
                group: s(""),
                version: s(""),
                resource: s("pods"),
                subresource: s(""),
                name: s(""),
                ..Default::default()
            }),
            non_resource_attributes: None,
        }),
        status: Some(authz::SubjectAccessReviewStatus {
            allowed: Some(false),
            denied: Some(false),
            reason: s(""),
            evaluation_error: s(""),
        }),
    };
    let got = decode(&envelope(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        review.encode_to_vec(),
    ))
    .unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
            "status": {"allowed": false}
        })
    );
}

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(decode(b"{\"kind\":\"Pod\"}"), Err(ProtoError::BadMagic));

    // Envelope key for field 1 (typeMeta, length-delimited) with a truncated length varint.
    let err = decode(b"k8s\0\x0a\x80").unwrap_err();
    assert!(
        matches!(err, ProtoError::BadVarint { offset: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("offset 1"), "{err}");

    let err = decode(&envelope("apps/v1", "Widget", vec![])).unwrap_err();
    assert_eq!(err.to_string(), "unknown kind \"Widget\" in \"apps/v1\"");
    let err = decode(&envelope("example.com/v1", "Pod", vec![])).unwrap_err();
    assert!(matches!(err, ProtoError::UnknownKind { .. }), "{err}");

    let err = decode(&envelope("", "", vec![])).unwrap_err();
    assert_eq!(err, ProtoError::MissingKind);

    // Object whose metadata (field 1) claims 10 bytes but has 2.
    let err = decode(&envelope("v1", "Namespace", vec![0x0a, 10, 0x0a, 0x00])).unwrap_err();
    assert!(
        matches!(err, ProtoError::Truncated { needed: 10, available: 2, ref context, .. } if context == "io.k8s.api.core.v1.Namespace"),
        "{err}"
    );

    // metadata sent as a varint instead of a message.
    let err = decode(&envelope("v1", "Namespace", vec![0x08, 0x01])).unwrap_err();
    assert!(
        matches!(
            err,
            ProtoError::WireTypeMismatch {
                field: "metadata",
                tag: 1,
                wire_type: 0,
                ..
            }
        ),
        "{err}"
    );

    // name (ObjectMeta field 1) that is not UTF-8.
    let err = decode(&envelope("v1", "Namespace", vec![0x0a, 3, 0x0a, 1, 0xff])).unwrap_err();
    assert!(
        matches!(err, ProtoError::BadUtf8 { field: "name", .. }),
        "{err}"
    );

    let mut gz = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s("v1"),
            kind: s("Namespace"),
        }),
        raw: Some(vec![]),
        content_encoding: s("gzip"),
        content_type: None,
    }
    .encode_to_vec();
    gz.splice(0..0, b"k8s\0".iter().copied());
    assert_eq!(
        decode(&gz),
        Err(ProtoError::UnsupportedEncoding("gzip".into()))
    );
}

#[test]
fn unknown_fields_are_skipped() {
    // Namespace with an unknown field 15 (string) before metadata.
    let mut raw = vec![0x7a, 1, b'x'];
    raw.extend(
        core::Namespace {
            metadata: Some(object_meta("n", BTreeMap::new())),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let got = decode(&envelope("v1", "Namespace", raw)).unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
    );
}

#[test]
fn unset_target_port_is_dropped_but_pointer_int_or_string_zero_is_kept() {
    let svc = core::Service {
        metadata: Some(object_meta("db", BTreeMap::new())),
        spec: Some(core::ServiceSpec {
            // Go writes the non-pointer targetPort even when unset: type 0, intVal 0.
            ports: vec![service_port(
                "",
                5432,
                IntOrString {
                    r#type: Some(0),
                    int_val: Some(0),
                    str_val: s(""),
                },
            )],
            ..Default::default()
        }),
        status: None,
    };
    let got = decode(&envelope("v1", "Service", svc.encode_to_vec())).unwrap();
    assert_eq!(
        got["spec"]["ports"],
        json!([{"protocol": "TCP", "port": 5432}])
    );

    let strategy = apps::DeploymentStrategy {
        r#type: s("RollingUpdate"),
        rolling_update: Some(apps::RollingUpdateDeployment {
            max_unavailable: Some(IntOrString {
                r#type: Some(0),
                int_val: Some(0),
                str_val: s(""),
            }),
            max_surge: Some(IntOrString {
                r#type: Some(1),
                int_val: Some(0),
                str_val: s("25%"),
            }),
        }),
    };
    let deployment = apps::Deployment {
        spec: Some(apps::DeploymentSpec {
            strategy: Some(strategy),
            ..Default::default()
        }),
        ..Default::default()
    };
    let got = decode(&envelope(
        "apps/v1",
        "Deployment",
        deployment.encode_to_vec(),
    ))
    .unwrap();
    assert_eq!(
        got["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}})
    );
}

#[test]
fn extra_values_render_as_string_lists() {
    use k8s_pb::api::authorization::v1 as authz;
    let review = authz::SubjectAccessReview {
        metadata: Some(object_meta("", BTreeMap::new())),
        spec: Some(authz::SubjectAccessReviewSpec {
            user: s("alice"),
            groups: vec!["dev".into()],
            extra: [(
                "scopes".to_string(),
                authz::ExtraValue {
                    items: vec!["a".into(), "b".into()],
                },
            )]
            .into_iter()
            .collect(),
            non_resource_attributes: Some(authz::NonResourceAttributes {
                path: s("/healthz"),
                verb: s("get"),
            }),
            uid: s(""),
            ..Default::default()
        }),
        status: None,
    };
    let got = decode(&envelope(
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        review.encode_to_vec(),
    ))
    .unwrap();
    assert_eq!(
        got["spec"],
        json!({
            "nonResourceAttributes": {"path": "/healthz", "verb": "get"},
            "user": "alice",
            "groups": ["dev"],
            "extra": {"scopes": ["a", "b"]}
        })
    );
}

#[test]
fn custom_resource_definition_schema_unions() {
    use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    let string_prop = ext::JsonSchemaProps {
        r#type: s("string"),
        ..Default::default()
    };
    let schema = ext::JsonSchemaProps {
        r#type: s("object"),
        properties: [
            ("name".to_string(), string_prop.clone()),
            (
                "tags".to_string(),
                ext::JsonSchemaProps {
                    r#type: s("array"),
                    items: Some(Box::new(ext::JsonSchemaPropsOrArray {
                        schema: Some(Box::new(string_prop.clone())),
                        j_son_schemas: vec![],
                    })),
                    ..Default::default()
                },
            ),
            (
                "labels".to_string(),
                ext::JsonSchemaProps {
                    r#type: s("object"),
                    additional_properties: Some(Box::new(ext::JsonSchemaPropsOrBool {
                        allows: Some(true),
                        schema: Some(Box::new(string_prop.clone())),
                    })),
                    ..Default::default()
                },
            ),
            (
                "free".to_string(),
                ext::JsonSchemaProps {
                    x_kubernetes_preserve_unknown_fields: Some(true),
                    default: Some(ext::Json {
                        raw: Some(br#"{"a":[1,2]}"#.to_vec()),
                    }),
                    ..Default::default()
                },
            ),
        ]
        .into_iter()
        .collect(),
        required: vec!["name".into()],
        ..Default::default()
    };
    let crd = ext::CustomResourceDefinition {
        metadata: Some(object_meta("widgets.example.com", BTreeMap::new())),
        spec: Some(ext::CustomResourceDefinitionSpec {
            group: s("example.com"),
            names: Some(ext::CustomResourceDefinitionNames {
                plural: s("widgets"),
                singular: s(""),
                kind: s("Widget"),
                list_kind: s(""),
                ..Default::default()
            }),
            scope: s("Namespaced"),
            versions: vec![ext::CustomResourceDefinitionVersion {
                name: s("v1"),
                served: Some(true),
                storage: Some(true),
                deprecated: Some(false),
                schema: Some(ext::CustomResourceValidation {
                    open_apiv3_schema: Some(schema),
                }),
                ..Default::default()
            }],
            preserve_unknown_fields: Some(false),
            ..Default::default()
        }),
        status: None,
    };
    let got = decode(&envelope(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        crd.encode_to_vec(),
    ))
    .unwrap();
    assert_eq!(
        got["spec"],
        json!({
            "group": "example.com",
            "names": {"plural": "widgets", "kind": "Widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "free": {"x-kubernetes-preserve-unknown-fields": true, "default": {"a": [1, 2]}}
                    }
                }}
            }]
        })
    );
}
