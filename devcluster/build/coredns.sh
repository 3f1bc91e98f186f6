#!/usr/bin/env bash
# Builds the dev cluster's CoreDNS (coredns/main.go beside this script: CoreDNS's own server with the
# plugins a cluster DNS uses, kubernetes among them) from the Go module github.com/coredns/coredns,
# pinned in coredns/go.mod, into a cache outside the repository, once per machine and version.
# Every dependency is the one go.mod/go.sum pin, checked against the Go checksum database. No binary
# is downloaded.
# Progress goes to stderr; the bin directory is printed on the last line of stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/coredns"
COREDNS_VERSION="v1.13.2"
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
# "-cluster": the plugin set of main.go, not the stock binary an earlier version of this script built
bin_dir="$cache_root/coredns-$COREDNS_VERSION-cluster/bin"
mkdir -p "$bin_dir"

if [ -x "$bin_dir/coredns" ]; then echo "$bin_dir"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "coredns.sh: Go is needed to build CoreDNS (Go >= 1.25)" >&2
  exit 1
fi
if ! grep -q "github.com/coredns/coredns $COREDNS_VERSION" "$here/go.mod"; then
  echo "coredns.sh: go.mod does not pin github.com/coredns/coredns $COREDNS_VERSION; update one of them" >&2
  exit 1
fi

cd "$here"
# flock: two runs must not build the same binary at once; the second finds the finished one
exec 9>"$bin_dir/.build.lock"
flock 9
if [ -x "$bin_dir/coredns" ]; then echo "$bin_dir"; exit 0; fi
echo "coredns.sh: building CoreDNS $COREDNS_VERSION with the cluster's plugins (first time on this machine; a few minutes)..." >&2
start=$(date +%s)
# Build to a temporary name and rename, so a half-finished build is never found as the binary.
CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$bin_dir/coredns.tmp.$$" . >&2
mv "$bin_dir/coredns.tmp.$$" "$bin_dir/coredns"
echo "coredns.sh: built CoreDNS $COREDNS_VERSION in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir"
