#!/usr/bin/env bash
# Builds the ORAS CLI (pushes OCI artifacts) from its Go module oras.land/oras into a cache outside the repository, once per
# machine and version, for the tests of oci:// model sources.
# `go install module@version` builds with the module's own go.mod/go.sum, so every dependency is the
# one it pins and is checked against the Go checksum database. No binary is downloaded.
# Progress goes to stderr; the bin directory is printed on the last line of stdout.
set -euo pipefail
ORAS_VERSION="v1.3.6"
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
bin_dir="$cache_root/oras-$ORAS_VERSION/bin"
mkdir -p "$bin_dir"

if [ -x "$bin_dir/oras" ]; then echo "$bin_dir"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "oras.sh: Go is needed to build oras (Go >= 1.24)" >&2
  exit 1
fi

# flock: two runs must not build the same binary at once; the second finds the finished one
exec 9>"$bin_dir/.build.lock"
flock 9
if [ -x "$bin_dir/oras" ]; then echo "$bin_dir"; exit 0; fi
echo "oras.sh: building oras $ORAS_VERSION from its Go module (first time on this machine; a few minutes)..." >&2
start=$(date +%s)
# Build into a private directory and rename, so a half-finished build is never found as the binary.
tmp_bin="$(mktemp -d "$bin_dir/.build.XXXXXX")"
trap 'rm -rf "$tmp_bin"' EXIT
# Run outside any module so `go install module@version` is not affected by a go.mod nearby.
(cd "$tmp_bin" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$tmp_bin" \
  go install -trimpath -ldflags "-s -w" "oras.land/oras/cmd/oras@$ORAS_VERSION") >&2
mv "$tmp_bin/oras" "$bin_dir/oras"
echo "oras.sh: built oras $ORAS_VERSION in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir"
