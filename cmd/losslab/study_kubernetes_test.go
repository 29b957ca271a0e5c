//go:build kubernetes

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/losslab/losslab/study/kubernetes"
)

// kubeSpec writes a study of two training units (softmax and sigmoid,
// one seed) and returns its path.
func kubeSpec(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.yaml")
	spec := `name: tiny
dataset: mnist
model: mlp
recipe: {epochs: 1, train_limit: 256, test_limit: 128, threads: 1}
holdout: 100
objectives: [{name: softmax}, {name: sigmoid}]
seeds: [1]
analyses: [calibration]
`
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStudyKubernetesManifests: without --apply, the study writes its plan
// and OUT/kubernetes.yaml, prints the kubectl commands, and runs nothing.
func TestStudyKubernetesManifests(t *testing.T) {
	mount := t.TempDir()
	out := filepath.Join(mount, "study")
	spec := kubeSpec(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"study", "--executor", "kubernetes", "--image", "example/losslab:1",
		"--pvc", "studies", "--mount", mount, "--out", out, "--memory", "2Gi", spec}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(b), "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("kubernetes.yaml has %d parts; want a comment and two Jobs", len(docs))
	}
	var train batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &train); err != nil {
		t.Fatal(err)
	}
	if *train.Spec.Completions != 2 || *train.Spec.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("training Job: %d completions, mode %s; want 2, Indexed", *train.Spec.Completions, *train.Spec.CompletionMode)
	}
	c := train.Spec.Template.Spec.Containers[0]
	if got := strings.Join(c.Command, " "); got != "losslab study run-unit --out "+out+" --store "+filepath.Join(out, "units") {
		t.Errorf("command %q", got)
	}
	if c.Image != "example/losslab:1" || c.VolumeMounts[0].MountPath != mount || c.Resources.Limits.Memory().String() != "2Gi" {
		t.Errorf("container %+v", c)
	}
	if _, err := os.Stat(filepath.Join(out, "plan.json")); err != nil {
		t.Errorf("plan not saved: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "units")); err == nil {
		t.Error("units folder made: something ran locally")
	}
	for _, w := range []string{"kubectl apply -n default -f " + filepath.Join(out, "kubernetes.yaml") + " -l losslab/role=train",
		"kubectl wait -n default --for=condition=complete --timeout=-1s job/" + train.Name, "losslab/role=analyses"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "report:") {
		t.Errorf("stdout announces a report that does not exist yet:\n%s", stdout.String())
	}

	// run-unit takes its index from the environment when --index is
	// absent: an index past the plan's two units shows that it was read.
	for _, env := range []string{"JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"} {
		t.Setenv("JOB_COMPLETION_INDEX", "")
		t.Setenv("SLURM_ARRAY_TASK_ID", "")
		t.Setenv(env, "7")
		err := run(context.Background(), []string{"study", "run-unit", "--out", out}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "index 7") {
			t.Errorf("run-unit with $%s=7: %v; want an out-of-range index 7", env, err)
		}
	}
	t.Setenv("JOB_COMPLETION_INDEX", "9")
	t.Setenv("SLURM_ARRAY_TASK_ID", "8")
	if err := run(context.Background(), []string{"study", "run-unit", "--out", out}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "index 9") {
		t.Errorf("run-unit with both variables: %v; want $JOB_COMPLETION_INDEX (9) to win", err)
	}
	if err := run(context.Background(), []string{"study", "run-unit", "--out", out, "--index", "5"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "index 5") {
		t.Errorf("run-unit --index 5: %v; want the flag to win over the environment", err)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "x")
	err = run(context.Background(), []string{"study", "run-unit", "--out", out}, io.Discard, io.Discard)
	if code := exitCode(err, io.Discard); code != exitUsage || !strings.Contains(err.Error(), "JOB_COMPLETION_INDEX") {
		t.Errorf("run-unit with $JOB_COMPLETION_INDEX=x: %v (exit %d); want a usage error naming it", err, code)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "")
	t.Setenv("SLURM_ARRAY_TASK_ID", "")
	err = run(context.Background(), []string{"study", "run-unit", "--out", out}, io.Discard, io.Discard)
	if code := exitCode(err, io.Discard); code != exitUsage || !strings.Contains(err.Error(), "--index") || !strings.Contains(err.Error(), "JOB_COMPLETION_INDEX") {
		t.Errorf("run-unit without an index: %v (exit %d); want a usage error naming --index and the variables", err, code)
	}
}

func TestStudyKubernetesUsageErrors(t *testing.T) {
	mount := t.TempDir()
	out := filepath.Join(mount, "study")
	spec := kubeSpec(t)
	base := []string{"study", "--executor", "kubernetes", "--mount", mount, "--out", out}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--pvc", "p"}, "--image"},
		{[]string{"--image", "i"}, "--pvc"},
		{[]string{"--image", "i", "--pvc", "p", "--out", filepath.Join(t.TempDir(), "elsewhere")}, "--out"},
		{[]string{"--image", "i", "--pvc", "p", "--store", t.TempDir()}, "--store"},
		{[]string{"--image", "i", "--pvc", "p", "--cpu", "lots"}, "--cpu"},
		{[]string{"--image", "i", "--pvc", "p", "--retries", "-1"}, "--retries"},
	}
	for _, c := range cases {
		args := append(append(append([]string{}, base...), c.args...), spec)
		err := run(context.Background(), args, io.Discard, io.Discard)
		if code := exitCode(err, io.Discard); code != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v (exit %d); want a usage error naming %s", c.args, err, code, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "plan.json")); err == nil {
		t.Error("a usage error still wrote the plan")
	}
	err := run(context.Background(), []string{"study", "--executor", "nomad", "--out", out, spec}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "kubernetes") {
		t.Errorf("unknown executor: %v; want the list to name kubernetes", err)
	}
}

// run-unit reads the completion index in every build, under the name the
// Kubernetes executor gives it.
func TestIndexEnvIsTheExecutors(t *testing.T) {
	if indexEnv != kubernetes.IndexEnv {
		t.Errorf("indexEnv = %q; the executor sets %q", indexEnv, kubernetes.IndexEnv)
	}
}
