//go:build !kubernetes

package main

import (
	"context"
	"flag"
	"io"

	"github.com/losslab/losslab/study"
)

// kubeOptions stands in for the Kubernetes executor's flags in the default
// build, which leaves out client-go (about 30 MB of binary and most of a
// cold build's time): `go build -tags kubernetes ./cmd/losslab` has it.
type kubeOptions struct{}

func (k *kubeOptions) AddFlags(fs *flag.FlagSet) {}

// errNoKubernetes is the usage error of --executor kubernetes in the
// default build.
func errNoKubernetes() error {
	return usageErrorf("study --executor kubernetes: this losslab was built without the Kubernetes executor; build it with 'go build -tags kubernetes ./cmd/losslab' (docs/clusters.md)")
}

func (k *kubeOptions) check(o *studyOptions) error { return errNoKubernetes() }

func runKubernetes(ctx context.Context, o *studyOptions, p *study.Plan, stdout, stderr io.Writer) (bool, error) {
	return false, errNoKubernetes()
}
