//go:build kubernetes

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/losslab/losslab/internal/atomicfile"
	"github.com/losslab/losslab/study"
	"github.com/losslab/losslab/study/kubernetes"
)

// kubeOptions are the flags of `losslab study --executor kubernetes`.
type kubeOptions struct {
	image       string
	namespace   string
	pvc         string
	mount       string
	parallelism int
	retries     int
	cpu         string
	memory      string
	kubeconfig  string
	apply       bool
	poll        time.Duration
}

func (k *kubeOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&k.image, "image", "", "kubernetes: container image holding the losslab binary (required)")
	fs.StringVar(&k.namespace, "namespace", kubernetes.DefaultNamespace, "kubernetes: namespace of the Jobs")
	fs.StringVar(&k.pvc, "pvc", "", "kubernetes: PersistentVolumeClaim holding the study folder and store (required)")
	fs.StringVar(&k.mount, "mount", "/data", "kubernetes: where the pods mount the PVC; --out and --store must be under it")
	fs.IntVar(&k.parallelism, "parallelism", 0, "kubernetes: training pods at once (default min(training units, 8))")
	fs.IntVar(&k.retries, "retries", kubernetes.DefaultRetriesPerIndex, "kubernetes: retries of each training unit's pod (backoffLimitPerIndex) and of the analyses pod")
	fs.StringVar(&k.cpu, "cpu", "", "kubernetes: CPU request of each pod, e.g. 2 or 500m (default none)")
	fs.StringVar(&k.memory, "memory", "", "kubernetes: memory request and limit of each pod, e.g. 4Gi (default none)")
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "kubernetes: kubeconfig file for --apply (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	fs.DurationVar(&k.poll, "poll", kubernetes.DefaultPoll, "kubernetes: with --apply, the interval between looks at the Jobs' status")
	fs.BoolVar(&k.apply, "apply", false, "kubernetes: submit the Jobs and wait for them; without it, write OUT/"+kubernetes.ManifestFile+" and print the kubectl commands")
}

// paths are the study folder and store as absolute paths, as the pods
// must see them.
func (k *kubeOptions) paths(o *studyOptions) (dir, store string, err error) {
	if dir, err = filepath.Abs(o.out); err != nil {
		return "", "", err
	}
	store = filepath.Join(dir, "units")
	if o.store != "" {
		if store, err = filepath.Abs(o.store); err != nil {
			return "", "", err
		}
	}
	return dir, store, nil
}

func (k *kubeOptions) options() kubernetes.Options {
	r := int32(k.retries)
	if k.retries != int(r) {
		r = -1 // out of range: let Check name the flag
	}
	return kubernetes.Options{
		Image: k.image, Namespace: k.namespace, PVC: k.pvc, MountPath: k.mount,
		Parallelism: k.parallelism, RetriesPerIndex: &r, CPU: k.cpu, Memory: k.memory, Poll: k.poll,
	}
}

// check reports a usage error in the kubernetes flags, before anything
// is written.
func (k *kubeOptions) check(o *studyOptions) error {
	dir, store, err := k.paths(o)
	if err != nil {
		return err
	}
	if err := k.options().Check(dir, store); err != nil {
		return usageErrorf("study --executor kubernetes: %v", err)
	}
	return nil
}

// runKubernetes runs plan p (saved in o.out) on Kubernetes: with --apply
// through the API, waiting for the Jobs; without, by writing the manifests
// and the kubectl commands for the user to run. It reports whether the
// study has finished (so that the report exists).
func runKubernetes(ctx context.Context, o *studyOptions, p *study.Plan, stdout, stderr io.Writer) (finished bool, err error) {
	k := &o.kube
	dir, store, err := k.paths(o)
	if err != nil {
		return false, err
	}
	ko := k.options()
	if k.apply {
		client, err := kubernetes.Client(k.kubeconfig)
		if err != nil {
			return false, err
		}
		return true, kubernetes.Apply(ctx, client, p, dir, store, ko, stderr)
	}
	train, analyses, err := kubernetes.Manifests(p, dir, store, ko)
	if err != nil {
		return false, usageErrorf("study --executor kubernetes: %v", err)
	}
	var b bytes.Buffer
	if err := kubernetes.WriteManifests(&b, train, analyses); err != nil {
		return false, err
	}
	file := filepath.Join(o.out, kubernetes.ManifestFile)
	if err := atomicfile.WriteFile(file, b.Bytes()); err != nil {
		return false, err
	}
	fmt.Fprintf(stdout, "wrote %s: %d training units as the Indexed Job %s, then the Job %s.\n",
		file, *train.Spec.Completions, train.Name, analyses.Name)
	fmt.Fprintf(stdout, "The pods read %s from the PVC %s at %s: run this where the PVC is mounted there, or copy the study folder onto it first. Then, in order:\n",
		filepath.Join(dir, study.PlanFile), k.pvc, k.mount)
	for _, c := range kubernetes.Commands(file, train, analyses) {
		fmt.Fprintf(stdout, "  %s\n", c)
	}
	return false, nil
}
