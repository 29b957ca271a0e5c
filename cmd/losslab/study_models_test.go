package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/losslab/losslab/npy"
	"github.com/losslab/losslab/report"
	"github.com/losslab/losslab/tensor"
)

// TestStudyModels runs 'losslab study --models DIR' on two exported
// models with the same arrays under two seeds: the study trains nothing,
// and they agree on every test example.
func TestStudyModels(t *testing.T) {
	root := t.TempDir()
	models := filepath.Join(root, "models")
	const n, k, d = 42, 3, 4
	z, f := make([]float32, n*k), make([]float32, n*d)
	y := make([]int, n)
	for i := range n {
		y[i] = i % k
		z[i*k+(2*i)%k] = 2 // right on a third of the examples
		f[i*d+y[i]], f[i*d+3] = 1, float32(i%5)
	}
	for seed := 1; seed <= 2; seed++ {
		dir := filepath.Join(models, fmt.Sprintf("softmax-%d", seed))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "model.json"), []byte(fmt.Sprintf(`{"objective": "softmax", "seed": %d}`, seed)), 0o644)
		err := npy.WriteNPZ(filepath.Join(dir, "test.npz"), []string{"logits", "labels", "penultimate"},
			[]*npy.Array{npy.FromTensor(tensor.FromData(z, n, k)), npy.FromInts(y), npy.FromTensor(tensor.FromData(f, n, d))})
		if err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(root, "study")
	var plan bytes.Buffer
	if err := run(context.Background(), []string{"study", "plan", "--models", models, "--out", out}, &plan, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.String(), "export-evaluate") || strings.Contains(plan.String(), "\ttrain\t") {
		t.Errorf("plan:\n%s", plan.String())
	}
	if err := run(context.Background(), []string{"study", "--models", models, "--out", out, "--jobs", "1"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	an, err := report.ReadAnalyses(out)
	if err != nil {
		t.Fatal(err)
	}
	if an.Predictions == nil || an.Predictions.Disagreement[0][1] != 0 || an.Predictions.PairEnsemble[0][0] != 1.0/3 {
		t.Errorf("predictions %+v; want disagreement 0 and accuracy 1/3", an.Predictions)
	}
	if _, err := os.Stat(filepath.Join(out, report.HTMLFile)); err != nil {
		t.Error(err)
	}
	err = run(context.Background(), []string{"study", "--quick", "--models", models, "--out", out}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "trains nothing") {
		t.Errorf("--quick --models: err = %v", err)
	}
}
