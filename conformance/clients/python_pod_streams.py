"""The official Python client's WebSocket pod streams against a running pod.

Usage: python_pod_streams.py POD (pod in `default` with a container `box` and busybox httpd
on port 80 serving /etc). Exits non-zero with a message on the first mismatch.
"""
import sys

from kubernetes import client, config
from kubernetes.stream import portforward, stream

pod = sys.argv[1]
config.load_kube_config()
v1 = client.CoreV1Api()


def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


# exec: output of a command (stream() preloads everything until the server closes).
out = stream(v1.connect_get_namespaced_pod_exec, pod, "default", container="box",
             command=["sh", "-c", "echo hello; echo world"], stderr=True, stdin=False, stdout=True, tty=False)
check("exec output", out, "hello\nworld\n")

# exec with stdin, an exit code from the error channel, and the negotiated protocol.
resp = stream(v1.connect_get_namespaced_pod_exec, pod, "default", container="box",
              command=["sh", "-c", "read x; echo got $x; exit 5"], stderr=True, stdin=True, stdout=True, tty=False,
              _preload_content=False)
resp.write_stdin("abc\n")
resp.run_forever(timeout=60)
check("stdin round trip", resp.read_stdout(), "got abc\n")
check("exit code", resp.returncode, 5)
check("subprotocol", resp.subprotocol, "v5.channel.k8s.io")

# port-forward: bytes both ways through the WebSocket channel protocol.
pf = portforward(v1.connect_get_namespaced_pod_portforward, pod, "default", ports="80")
sock = pf.socket(80)
sock.setblocking(True)
sock.sendall(b"GET /hostname HTTP/1.0\r\n\r\n")
data = b""
while True:
    chunk = sock.recv(4096)
    if not chunk:
        break
    data += chunk
sock.close()
head, _, body = data.partition(b"\r\n\r\n")
check("port-forward status line", head.split(b"\r\n")[0].split(b" ")[1:2], [b"200"])
check("port-forward body", body, pod.encode() + b"\n")
check("port-forward error", pf.error(80), None)
print("ok")
