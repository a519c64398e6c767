"""Drives ironkube with the official Python client (kubernetes on PyPI).

Exits non-zero with a message on the first mismatch. Run by conformance/tests/clients.rs.
"""
import sys

from kubernetes import client, config, watch

config.load_kube_config()
core = client.CoreV1Api()
apps = client.AppsV1Api()


def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)


names = [n.metadata.name for n in core.list_namespace().items]
check({"default", "kube-system", "kube-public", "kube-node-lease"} <= set(names), f"namespaces {names}")
check(client.VersionApi().get_code().major == "1", "GET /version/")

labels = {"app": "py"}
deployment = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="py"),
    spec=client.V1DeploymentSpec(
        selector=client.V1LabelSelector(match_labels=labels),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="ironkube.local/busybox")]),
        ),
    ),
)
apps.create_namespaced_deployment("default", deployment)
read = apps.read_namespaced_deployment("py", "default")
check(read.spec.strategy.type == "RollingUpdate", "defaulted strategy")
check(read.spec.template.spec.containers[0].image_pull_policy == "Always", "defaulted pull policy")
apps.patch_namespaced_deployment_scale("py", "default", {"spec": {"replicas": 3}})
check(apps.read_namespaced_deployment_scale("py", "default").spec.replicas == 3, "scale subresource")

core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="seen"), data={"a": "b"}))
events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)]
check(("ADDED", "seen") in events, f"watch events {events}")

try:
    core.read_namespaced_pod("nope", "default")
    check(False, "missing pod must be 404")
except client.ApiException as e:
    check(e.status == 404, f"status {e.status}")

apps.delete_namespaced_deployment("py", "default")
print("ok")
