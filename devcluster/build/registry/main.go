// The tests' OCI registry: distribution's own registry command with only the filesystem storage
// driver and htpasswd auth, which is all the tests configure. The stock cmd/registry also links
// the Azure, GCS and S3 storage drivers with their cloud SDKs, the CloudFront middleware, token
// auth and the pull-through proxy; leaving them out takes the one-time build from 157 to 84 CPU-seconds.
package main

import (
	"os"

	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	if err := registry.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
