#!/usr/bin/env bash
# Builds Prometheus and promtool from their Go module github.com/prometheus/prometheus into a cache
# outside the repository, once per machine and version. `go install module/cmd/x@version` builds
# with Prometheus's own go.mod/go.sum, so every dependency is the one Prometheus pins and is checked
# against the Go checksum database. No binary is downloaded. (Debian's prometheus package is built
# without kubernetes_sd_configs, which test/e2e/observability.test.ts needs.) Without the
# `builtinassets` build tag the web UI is left out; the HTTP API, all the tests use, is complete.
# The tags `remove_all_sd,enable_kubernetes_sd` (Prometheus's documented way to choose service
# discoveries at build time) keep kubernetes_sd_configs, file_sd, http_sd and static configs and
# leave out the cloud discoveries (AWS, Azure, GCE, OpenStack, …) and their SDKs.
# The module's versions are v0.<minor>.<patch> for Prometheus v3.<minor>.<patch>.
# Progress goes to stderr; the bin directory is printed on the last line of stdout.
set -euo pipefail
PROMETHEUS_VERSION="v0.316.0"
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
# "-k8s-sd": the discoveries the tags below keep, not the stock binary an earlier version of this script built
bin_dir="$cache_root/prometheus-$PROMETHEUS_VERSION-k8s-sd/bin"
mkdir -p "$bin_dir"

built() { [ -x "$bin_dir/prometheus" ] && [ -x "$bin_dir/promtool" ]; }
if built; then echo "$bin_dir"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "prometheus.sh: Go is needed to build Prometheus (Go >= 1.25)" >&2
  exit 1
fi

# flock: two runs must not build the same binaries at once; the second finds the finished ones
exec 9>"$bin_dir/.build.lock"
flock 9
if built; then echo "$bin_dir"; exit 0; fi
echo "prometheus.sh: building Prometheus and promtool $PROMETHEUS_VERSION from their Go module (first time on this machine; several minutes)..." >&2
start=$(date +%s)
# Build into a private directory and rename, so a half-finished build is never found as the binary.
tmp_bin="$(mktemp -d "$bin_dir/.build.XXXXXX")"
trap 'rm -rf "$tmp_bin"' EXIT
# Run outside any module so `go install module@version` is not affected by a go.mod nearby.
(cd "$tmp_bin" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$tmp_bin" \
  go install -trimpath -ldflags "-s -w" -tags remove_all_sd,enable_kubernetes_sd \
    "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION") >&2
# promtool last: built() needs both, so a crash between the two renames leaves no half pair found
mv "$tmp_bin/prometheus" "$bin_dir/prometheus"
mv "$tmp_bin/promtool" "$bin_dir/promtool"
echo "prometheus.sh: built Prometheus and promtool $PROMETHEUS_VERSION in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir"
