package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// bench --json says which kernel ran on which CPU, so that a number
// measured elsewhere can be told apart.
func TestBenchJSONNamesKernelAndCPU(t *testing.T) {
	var out bytes.Buffer
	o := &benchOptions{}
	if err := runBench(context.Background(), o, []string{"gemm", "--size", "64", "--reps", "2", "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Kernel      string   `json:"kernel"`
		KernelTiles string   `json:"kernel_tiles"`
		CPUFeatures []string `json:"cpu_features"`
		CPUModel    string   `json:"cpu_model"`
		GFLOPS      float64  `json:"gflops"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v in %s", err, out.Bytes())
	}
	if res.Kernel != tensor.Kernel() || res.KernelTiles != tensor.KernelTiles() || res.CPUModel == "" {
		t.Errorf("kernel %q tiles %q cpu %q; want kernel %q tiles %q and a CPU name", res.Kernel, res.KernelTiles, res.CPUModel, tensor.Kernel(), tensor.KernelTiles())
	}
	if !slices.Equal(res.CPUFeatures, tensor.CPUFeatures()) {
		t.Errorf("cpu_features %v, want %v", res.CPUFeatures, tensor.CPUFeatures())
	}
	if !(res.GFLOPS > 0) {
		t.Errorf("gflops %v", res.GFLOPS)
	}
	if tensor.Kernel() == "avx512" && !slices.Contains(res.CPUFeatures, "avx512f") {
		t.Errorf("the avx512 kernel ran but avx512f is not among %v", res.CPUFeatures)
	}
}

// Flags before the kind are kept when the flags after it are parsed.
func TestBenchFlagsBeforeKind(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"bench", "--size", "48", "gemm", "--reps", "1", "--json"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Size int `json:"size"`
		Reps int `json:"reps"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v in %s", err, out.Bytes())
	}
	if res.Size != 48 || res.Reps != 1 {
		t.Errorf("size %d reps %d, want 48 (before the kind) and 1 (after it)", res.Size, res.Reps)
	}
}
