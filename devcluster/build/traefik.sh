#!/usr/bin/env bash
# Builds Traefik v3 (a Gateway API implementation: its kubernetesGateway provider serves HTTPRoute
# weighted backendRefs and header matches) from its Go module github.com/traefik/traefik/v3, and copies
# the standard-channel Gateway API CRDs from the Go module sigs.k8s.io/gateway-api beside it, into a
# cache outside the repository, once per machine and version. Traefik's go.mod has replace directives,
# so `go install module@version` refuses it: the module is fetched with `go mod download` (checked
# against the Go checksum database) and built in a private copy with its own go.mod/go.sum.
# No binary is downloaded. Progress goes to stderr; the bin directory is printed on the last line of
# stdout; the CRDs are in ../gateway-api-crds next to it.
#   traefik.sh              Traefik and the CRDs (several minutes the first time)
#   traefik.sh --crds-only  only the CRDs (seconds), their directory printed last
set -euo pipefail
TRAEFIK_VERSION="v3.7.13"
GATEWAY_API_VERSION="v1.6.3"
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
root_dir="$cache_root/traefik-$TRAEFIK_VERSION-gateway-api-$GATEWAY_API_VERSION"
bin_dir="$root_dir/bin"
crd_dir="$root_dir/gateway-api-crds"
mkdir -p "$bin_dir"

crds_only=false
if [ "${1:-}" = "--crds-only" ]; then crds_only=true; fi
done_already() { [ -f "$crd_dir/.complete" ] && { $crds_only || [ -x "$bin_dir/traefik" ]; }; }
result() { if $crds_only; then echo "$crd_dir"; else echo "$bin_dir"; fi; }
if done_already; then result; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "traefik.sh: Go is needed to build Traefik (Go >= 1.26)" >&2
  exit 1
fi

start=$(date +%s)
work="$(mktemp -d "$root_dir/.build.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
# Run outside any module so `go mod download` is not affected by a go.mod nearby.
module_dir() { (cd "$work" && GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'); }

# flock: two runs must not build the same thing at once; the second finds the finished one. The
# CRDs have their own lock, so a test that only needs them never waits for a Traefik build.
exec 8>"$root_dir/.crds.lock"
flock 8
if [ ! -f "$crd_dir/.complete" ]; then
  gw_src="$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")"
  rm -rf "$crd_dir" && mkdir -p "$crd_dir.tmp"
  # CRDs only (the standard directory also holds a ValidatingAdmissionPolicy that is not ours to install)
  for f in "$gw_src"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
    if grep -q '^kind: CustomResourceDefinition' "$f"; then cp "$f" "$crd_dir.tmp/"; fi
  done
  chmod -R u+w "$crd_dir.tmp" && touch "$crd_dir.tmp/.complete" && mv "$crd_dir.tmp" "$crd_dir"
fi
flock -u 8
if $crds_only; then result; exit 0; fi

exec 9>"$bin_dir/.build.lock"
flock 9
if done_already; then result; exit 0; fi

# Three things in Traefik's module graph cannot be fetched through the module proxy, so they are
# patched in the private copy; none of them is on the Gateway API / HTTPRoute path:
#  - pkg/config/dynamic/ext is a nested module (its own go.mod), so the module zip leaves it out, but
#    go.mod replaces it by that directory: recreated with its open-source content (two empty structs).
#  - the proxy does not serve the containous/go-http-auth fork commit v3.7.13 pins (basic-auth
#    middleware): replaced by the fork's previous commit, which Traefik pinned until 2026.
#  - the proxy does not serve the SDKs of 13 of lego's ~190 ACME DNS providers: those providers are
#    dropped from lego's provider table (a private copy of the lego module); ACME itself stays.
LEGO_DROPPED_DNS_PROVIDERS="alidns aliesa azion dnsimple edgedns edgeone huaweicloud oraclecloud regfish sakuracloud tencentcloud ucloud yandexcloud"
HTTP_AUTH_FORK="github.com/containous/go-http-auth@v0.4.1-0.20200324110947-a37a7636d23e"
patch_for_this_proxy() {
  local dir="$1"
  mkdir -p "$dir/pkg/config/dynamic/ext"
  printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24\n' >"$dir/pkg/config/dynamic/ext/go.mod"
  printf 'package ext\n\n// HTTP is a dynamic.HTTP extension.\ntype HTTP struct{}\n\n// Router is a dynamic.Router extension.\ntype Router struct{}\n' \
    >"$dir/pkg/config/dynamic/ext/ext.go"
  (cd "$dir" && go mod edit -replace "github.com/abbot/go-http-auth=$HTTP_AUTH_FORK")
  local lego_version lego_src
  lego_version="$(cd "$dir" && go list -m -f '{{.Version}}' github.com/go-acme/lego/v5)"
  lego_src="$(module_dir "github.com/go-acme/lego/v5@$lego_version")"
  cp -r "$lego_src" "$dir/third_party-lego" && chmod -R u+w "$dir/third_party-lego"
  local table="$dir/third_party-lego/providers/dns/zz_gen_dns_providers.go" p
  for p in $LEGO_DROPPED_DNS_PROVIDERS; do
    # the import line, and the `case` line with the `return p.NewDNSProvider()` after it
    sed -i -e "\#\"github.com/go-acme/lego/v5/providers/dns/$p\"#d" -e "/^\tcase .*:\$/{N;/\n\t\treturn $p\.NewDNSProvider()/d}" "$table"
  done
  (cd "$dir" && go mod edit -replace "github.com/go-acme/lego/v5=./third_party-lego")
}


if [ ! -x "$bin_dir/traefik" ]; then
  echo "traefik.sh: building Traefik $TRAEFIK_VERSION from its Go module (first time on this machine; several minutes)..." >&2
  src="$(module_dir "github.com/traefik/traefik/v3@$TRAEFIK_VERSION")"
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  patch_for_this_proxy "$work/src"
  (cd "$work/src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
    -o "$work/traefik" ./cmd/traefik) >&2
  mv "$work/traefik" "$bin_dir/traefik"
fi
echo "traefik.sh: Traefik $TRAEFIK_VERSION and Gateway API $GATEWAY_API_VERSION CRDs ready in $(( $(date +%s) - start ))s" >&2
echo "$bin_dir"
