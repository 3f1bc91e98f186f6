#!/usr/bin/env bash
# Builds metrics-server from its Go module (sigs.k8s.io/metrics-server, pinned in metrics-server/go.mod beside this
# script) into a cache outside the repository, once per machine and version. No binary is downloaded.
# Progress goes to stderr; the bin directory is printed on the last line of stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/metrics-server"
METRICS_SERVER_VERSION="v0.9.0"
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
bin_dir="$cache_root/metrics-server-$METRICS_SERVER_VERSION/bin"
mkdir -p "$bin_dir"

if [ -x "$bin_dir/metrics-server" ]; then echo "$bin_dir"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: Go is needed to build metrics-server (Go >= 1.26)" >&2
  exit 1
fi
if ! grep -q "sigs.k8s.io/metrics-server $METRICS_SERVER_VERSION" "$here/go.mod"; then
  echo "build.sh: go.mod does not pin sigs.k8s.io/metrics-server $METRICS_SERVER_VERSION; update one of them" >&2
  exit 1
fi

cd "$here"
# flock: two test runs must not build the same binary at once
exec 9>"$bin_dir/.build.lock"
flock 9
if [ -x "$bin_dir/metrics-server" ]; then echo "$bin_dir"; exit 0; fi
echo "build.sh: building metrics-server $METRICS_SERVER_VERSION from its Go module (first time on this machine; a few minutes)..." >&2
start=$(date +%s)
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$bin_dir/metrics-server.tmp.$$" sigs.k8s.io/metrics-server/cmd/metrics-server >&2
mv "$bin_dir/metrics-server.tmp.$$" "$bin_dir/metrics-server"
echo "build.sh: built metrics-server in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir"
