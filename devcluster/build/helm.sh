#!/usr/bin/env bash
# Builds helm from its Go module (helm.sh/helm/v3, pinned in helm/go.mod beside this script) into a
# cache outside the repository, once per machine and version. No binary is downloaded.
# Progress goes to stderr; the bin directory is printed on the last line of stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/helm"
HELM_VERSION="v3.20.2"
# The Kubernetes version helm's client libraries are built against (k8s.io/client-go v0.35.x):
# `helm template` and `helm lint` assume it for .Capabilities.KubeVersion and deprecation checks.
K8S_MAJOR=1
K8S_MINOR=35
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
bin_dir="$cache_root/helm-$HELM_VERSION/bin"
mkdir -p "$bin_dir"

if [ -x "$bin_dir/helm" ]; then echo "$bin_dir"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: Go is needed to build helm (apt-get install golang, or Go >= 1.25)" >&2
  exit 1
fi

if ! grep -q "helm.sh/helm/v3 $HELM_VERSION" "$here/go.mod"; then
  echo "build.sh: go.mod does not pin helm.sh/helm/v3 $HELM_VERSION; update HELM_VERSION or go.mod" >&2
  exit 1
fi

ldflags="-s -w \
 -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
 -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$K8S_MAJOR \
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$K8S_MINOR \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$K8S_MAJOR \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$K8S_MINOR"

cd "$here"
echo "build.sh: building helm $HELM_VERSION from its Go module (first time on this machine; a few minutes)..." >&2
start=$(date +%s)
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$bin_dir/helm.tmp.$$" helm.sh/helm/v3/cmd/helm >&2
mv "$bin_dir/helm.tmp.$$" "$bin_dir/helm"
echo "build.sh: built helm in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir"
