package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/losslab/losslab/tensor"
	"github.com/losslab/losslab/train"
)

// benchOptions are the flags of `losslab bench`.
type benchOptions struct {
	size    int
	threads int
	reps    int
	model   string
	batch   int
	steps   int
	json    bool
}

func (o *benchOptions) AddFlags(fs *flag.FlagSet) {
	fs.IntVar(&o.size, "size", 1024, "gemm: N for an N×N×N product")
	fs.IntVar(&o.threads, "threads", 0, "worker threads (0 = all cores)")
	fs.IntVar(&o.reps, "reps", 10, "gemm: timed repetitions (the best is reported)")
	fs.StringVar(&o.model, "model", "mnist-cnn", "train: model name")
	fs.IntVar(&o.batch, "batch", 128, "train: batch size")
	fs.IntVar(&o.steps, "steps", 30, "train: timed steps (after warm-up)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object")
}

func init() {
	register(&command{
		name:    "bench",
		summary: "Measure the engine: 'bench gemm' (GFLOP/s) or 'bench train' (training examples/s).",
		usage:   "gemm|train [flags]",
		addFlags: func(fs *flag.FlagSet) runFunc {
			var o benchOptions
			o.AddFlags(fs)
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				return runBench(ctx, &o, args, stdout)
			}
		},
	})
}

func runBench(ctx context.Context, o *benchOptions, args []string, w io.Writer) error {
	if len(args) == 0 {
		return usageErrorf("bench: want 'gemm' or 'train'")
	}
	// Flags may follow the kind: `bench gemm --size 512`.
	fs := flag.NewFlagSet("losslab bench "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	saved := *o
	o.AddFlags(fs) // registering a flag sets it to its default: keep those given before the kind
	*o = saved
	if err := fs.Parse(args[1:]); err != nil {
		return usageErrorf("bench %s: %v", args[0], err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("bench %s: unexpected arguments %v", args[0], fs.Args())
	}
	if o.threads < 0 {
		return usageErrorf("bench: --threads must be ≥ 0, got %d", o.threads)
	}
	if o.threads > 0 {
		tensor.SetThreads(o.threads)
	}
	switch args[0] {
	case "gemm":
		return benchGemm(o, w)
	case "train":
		return benchTrain(ctx, o, w)
	default:
		return usageErrorf("bench: unknown kind %q; want 'gemm' or 'train'", args[0])
	}
}

func benchGemm(o *benchOptions, w io.Writer) error {
	if o.size < 1 || o.reps < 1 {
		return usageErrorf("bench gemm: --size and --reps must be ≥ 1")
	}
	n := o.size
	rng := rand.New(rand.NewPCG(1, 2))
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = rng.Float32()-0.5, rng.Float32()-0.5
	}
	tensor.Gemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n) // warm-up: pack buffers, page faults
	times := make([]float64, o.reps)
	for r := range times {
		t0 := time.Now()
		tensor.Gemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
		times[r] = time.Since(t0).Seconds()
	}
	sort.Float64s(times)
	flops := 2 * float64(n) * float64(n) * float64(n)
	res := machineInfo(map[string]any{
		"size": n, "threads": tensor.Threads(), "reps": o.reps,
		"gflops":        flops / times[0] / 1e9,
		"gflops_median": flops / times[len(times)/2] / 1e9,
	})
	if o.json {
		return json.NewEncoder(w).Encode(res)
	}
	fmt.Fprintf(w, "sgemm %d³, %d threads: %.1f GFLOP/s best, %.1f median of %d\n%s\n",
		n, tensor.Threads(), res["gflops"], res["gflops_median"], o.reps, machineLine(res))
	return nil
}

func benchTrain(ctx context.Context, o *benchOptions, w io.Writer) error {
	if o.batch < 1 || o.steps < 1 {
		return usageErrorf("bench train: --batch and --steps must be ≥ 1")
	}
	eps, err := train.Bench(ctx, o.model, o.batch, o.steps)
	if err != nil {
		return err
	}
	res := machineInfo(map[string]any{
		"model": o.model, "batch": o.batch, "steps": o.steps, "threads": tensor.Threads(),
		"examples_per_sec": eps,
	})
	if o.json {
		return json.NewEncoder(w).Encode(res)
	}
	fmt.Fprintf(w, "train %s batch %d, %d threads: %.1f examples/s\n%s\n", o.model, o.batch, tensor.Threads(), eps, machineLine(res))
	return nil
}

// machineInfo adds to a benchmark result what makes it comparable with one
// taken elsewhere: the GEMM kernel that ran and its tiles, the CPU and the
// vector extensions seen, the Go version.
func machineInfo(res map[string]any) map[string]any {
	res["kernel"] = tensor.Kernel()
	res["kernel_tiles"] = tensor.KernelTiles()
	res["cpu_features"] = tensor.CPUFeatures()
	res["cpu_model"] = cpuModel()
	res["go"] = runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	return res
}

func machineLine(res map[string]any) string {
	return fmt.Sprintf("kernel %s (%s); CPU %s; features %v; %s",
		res["kernel"], res["kernel_tiles"], res["cpu_model"], res["cpu_features"], res["go"])
}

// cpuModel is the processor's name from /proc/cpuinfo where there is one.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
