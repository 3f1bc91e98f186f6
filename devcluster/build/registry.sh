#!/usr/bin/env bash
# Builds distribution's registry (the CNCF container registry, registry API v2) for the tests of
# oci:// model sources: registry/main.go beside this script is its own registry command with only
# the filesystem storage driver and htpasswd auth, built from the Go module
# github.com/distribution/distribution/v3 pinned in registry/go.mod, into a cache outside the
# repository, once per machine and version. Every dependency is the one go.mod/go.sum pin, checked
# against the Go checksum database. No binary is downloaded.
# Progress goes to stderr; the bin directory is printed on the last line of stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/registry"
REGISTRY_VERSION="v3.1.2"
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
# "-fs": the drivers of main.go, not the stock binary an earlier version of this script built
bin_dir="$cache_root/registry-$REGISTRY_VERSION-fs/bin"
mkdir -p "$bin_dir"

if [ -x "$bin_dir/registry" ]; then echo "$bin_dir"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "registry.sh: Go is needed to build registry (Go >= 1.25)" >&2
  exit 1
fi
if ! grep -q "github.com/distribution/distribution/v3 $REGISTRY_VERSION" "$here/go.mod"; then
  echo "registry.sh: go.mod does not pin github.com/distribution/distribution/v3 $REGISTRY_VERSION; update one of them" >&2
  exit 1
fi

cd "$here"
# flock: two runs must not build the same binary at once; the second finds the finished one
exec 9>"$bin_dir/.build.lock"
flock 9
if [ -x "$bin_dir/registry" ]; then echo "$bin_dir"; exit 0; fi
echo "registry.sh: building registry $REGISTRY_VERSION (filesystem storage, htpasswd auth) from its Go module (first time on this machine; a few minutes)..." >&2
start=$(date +%s)
# Build to a temporary name and rename, so a half-finished build is never found as the binary.
CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$bin_dir/registry.tmp.$$" . >&2
mv "$bin_dir/registry.tmp.$$" "$bin_dir/registry"
echo "registry.sh: built registry $REGISTRY_VERSION in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir"
