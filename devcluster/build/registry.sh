#!/usr/bin/env bash
# Builds distribution (the CNCF container registry, registry API v2) from its Go module github.com/distribution/distribution/v3 into a cache outside the repository, once per
# machine and version, for the tests of oci:// model sources.
# `go install module@version` builds with the module's own go.mod/go.sum, so every dependency is the
# one it pins and is checked against the Go checksum database. No binary is downloaded.
# Progress goes to stderr; the bin directory is printed on the last line of stdout.
set -euo pipefail
REGISTRY_VERSION="v3.1.2"
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
bin_dir="$cache_root/registry-$REGISTRY_VERSION/bin"
mkdir -p "$bin_dir"

if [ -x "$bin_dir/registry" ]; then echo "$bin_dir"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "registry.sh: Go is needed to build registry (Go >= 1.24)" >&2
  exit 1
fi

# flock: two runs must not build the same binary at once; the second finds the finished one
exec 9>"$bin_dir/.build.lock"
flock 9
if [ -x "$bin_dir/registry" ]; then echo "$bin_dir"; exit 0; fi
echo "registry.sh: building registry $REGISTRY_VERSION from its Go module (first time on this machine; a few minutes)..." >&2
start=$(date +%s)
# Build into a private directory and rename, so a half-finished build is never found as the binary.
tmp_bin="$(mktemp -d "$bin_dir/.build.XXXXXX")"
trap 'rm -rf "$tmp_bin"' EXIT
# Run outside any module so `go install module@version` is not affected by a go.mod nearby.
(cd "$tmp_bin" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$tmp_bin" \
  go install -trimpath -ldflags "-s -w" "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION") >&2
mv "$tmp_bin/registry" "$bin_dir/registry"
echo "registry.sh: built registry $REGISTRY_VERSION in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir"
