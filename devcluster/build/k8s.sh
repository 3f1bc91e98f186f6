#!/usr/bin/env bash
# Builds the Kubernetes and etcd binaries the test harness needs from the Go modules pinned in
# go.mod in k8s/ beside this script, into a cache outside the repository (once per machine and version).
# Usage: build.sh [component ...]   (default: every component)
# Prints the bin directory on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/k8s"
K8S_VERSION="v1.35.4"
ETCD_VERSION="v3.6.5"
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
bin_dir="$cache_root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION/bin"
mkdir -p "$bin_dir"

declare -A package_of=(
  [etcd]=go.etcd.io/etcd/server/v3
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kubelet]=k8s.io/kubernetes/cmd/kubelet
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
)
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(etcd kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy)

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: Go is needed to build the Kubernetes binaries (apt-get install golang, or Go >= 1.25)" >&2
  exit 1
fi

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

cd "$here"
for name in "${wanted[@]}"; do
  pkg="${package_of[$name]:-}"
  if [ -z "$pkg" ]; then echo "build.sh: unknown component $name" >&2; exit 2; fi
  if [ -x "$bin_dir/$name" ]; then continue; fi
  echo "build.sh: building $name $( [ "$name" = etcd ] && echo "$ETCD_VERSION" || echo "$K8S_VERSION" ) from Go modules (first time on this machine; several minutes)..." >&2
  start=$(date +%s)
  # CGO off for every binary, kubelet included: a cgo build changes the package `net` and so every
  # package above it, so a cgo kubelet compiled its whole dependency tree again (about 400 more
  # CPU-seconds) instead of sharing what kube-apiserver's build left in the Go build cache.
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$bin_dir/$name.tmp" "$pkg" >&2
  mv "$bin_dir/$name.tmp" "$bin_dir/$name"
  echo "build.sh: built $name in $(( $(date +%s) - start ))s" >&2
done
echo "$bin_dir"
