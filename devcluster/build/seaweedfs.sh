#!/usr/bin/env bash
# Builds SeaweedFS (`weed`, whose S3 gateway is a real S3-compatible server) from its Go module
# github.com/seaweedfs/seaweedfs into a cache outside the repository, once per machine and version,
# for the tests of s3:// model sources.
# Its go.mod has a replace directive, which `go install module@version` refuses, so the module is
# downloaded with `go mod download` (checked against the Go checksum database) and built inside its
# own directory as the main module, with its own go.mod/go.sum (-mod=readonly: nothing is re-resolved).
# No binary is downloaded. The module asks for Go >= 1.26.6.
# Progress goes to stderr; the bin directory is printed on the last line of stdout.
set -euo pipefail
# The Go module proxy serves SeaweedFS only as this pseudo-version (no tagged release).
SEAWEEDFS_VERSION="v0.0.0-20261109003541-7506e5f91cd6"
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
bin_dir="$cache_root/seaweedfs-$SEAWEEDFS_VERSION/bin"
mkdir -p "$bin_dir"

if [ -x "$bin_dir/weed" ]; then echo "$bin_dir"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "seaweedfs.sh: Go is needed to build SeaweedFS" >&2
  exit 1
fi

# flock: two runs must not build the same binary at once; the second finds the finished one
exec 9>"$bin_dir/.build.lock"
flock 9
if [ -x "$bin_dir/weed" ]; then echo "$bin_dir"; exit 0; fi
echo "seaweedfs.sh: building weed $SEAWEEDFS_VERSION from its Go module (first time on this machine; several minutes)..." >&2
start=$(date +%s)
# Build into a private directory and rename, so a half-finished build is never found as the binary.
tmp_bin="$(mktemp -d "$bin_dir/.build.XXXXXX")"
trap 'rm -rf "$tmp_bin"' EXIT
module="github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION"
# Run outside any module so `go mod download` is not affected by a go.mod nearby.
src="$(cd "$tmp_bin" && go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ ! -f "$src/go.mod" ]; then echo "seaweedfs.sh: go mod download $module gave no source directory" >&2; exit 1; fi
# The module cache is read-only: build from it in place, writing only the binary.
(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$tmp_bin/weed" ./weed) >&2
mv "$tmp_bin/weed" "$bin_dir/weed"
echo "seaweedfs.sh: built weed $SEAWEEDFS_VERSION in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir"
