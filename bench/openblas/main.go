// Command openblas times OpenBLAS cblas_sgemm against losslab's tensor.Gemm
// on the same N×N×N product with the same thread count, in one process so
// that both see the same machine state (this VM's speed drifts over
// minutes). Repetitions alternate between the two libraries; the best and
// the median of each are reported with their ratio, and both results are
// checked against a float64 reference on sampled elements.
//
// OpenBLAS picks its kernels by CPU model when the process loads it, unless
// OPENBLAS_CORETYPE names a core. Both can hold it below its best: Debian's
// 0.3.21 detects a Zen 5 as "Cooperlake", whose SGEMM ran 5–10 % slower there
// than the "SkylakeX" one, and some machines export OPENBLAS_CORETYPE=Haswell
// (AVX2 only, half the speed). So by default (-openblas-core best) the
// command re-executes itself with OPENBLAS_CORETYPE=SkylakeX on CPUs with
// AVX-512 F/BW/DQ/VL and without OPENBLAS_CORETYPE elsewhere;
// -openblas-core detect leaves the choice to OpenBLAS, -openblas-core env
// keeps the environment and -openblas-core NAME forces a core. The core that
// ran is printed.
//
// It is a separate module because it needs cgo and libopenblas
// (Debian: apt-get install libopenblas-dev); the losslab module itself is
// pure Go.
package main

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/losslab/losslab/tensor"
)

type result struct {
	Size    int    `json:"size"`
	Threads int    `json:"threads"`
	Reps    int    `json:"reps"`
	Grouped bool   `json:"grouped"`
	Kernel  string `json:"kernel"`
	Core    string `json:"openblas_core"`

	OpenBLASBest   float64 `json:"openblas_gflops_best"`
	OpenBLASMedian float64 `json:"openblas_gflops_median"`
	LosslabBest    float64 `json:"losslab_gflops_best"`
	LosslabMedian  float64 `json:"losslab_gflops_median"`
	RatioBest      float64 `json:"ratio_best"`   // losslab / OpenBLAS
	RatioMedian    float64 `json:"ratio_median"` // losslab / OpenBLAS

	MaxRelErrOpenBLAS float64 `json:"max_rel_err_openblas"` // sampled, vs float64, relative to Σ|a·b|
	MaxRelErrLosslab  float64 `json:"max_rel_err_losslab"`
	MaxAbsDiff        float64 `json:"max_abs_diff"` // over all elements, between the two results
	MaxAbsC           float64 `json:"max_abs_c"`
}

func main() {
	size := flag.Int("size", 1024, "matrix size N of the N×N×N product")
	threads := flag.Int("threads", 2, "threads for both libraries")
	reps := flag.Int("reps", 10, "timed repetitions of each library (alternating)")
	kernel := flag.String("kernel", "", "losslab GEMM micro-kernel (generic, avx2, avx512); empty: the default")
	grouped := flag.Bool("grouped", true, "time all OpenBLAS repetitions, then all losslab ones; -grouped=false alternates them (OpenBLAS's threads spin after each call and then slow losslab's)")
	asJSON := flag.Bool("json", false, "print one JSON object instead of text")
	core := flag.String("openblas-core", "best", `OpenBLAS core: "best" (SkylakeX where the CPU has AVX-512, else "detect"), "detect" (OpenBLAS's own detection, ignoring OPENBLAS_CORETYPE), "env" (the environment's), or a core name such as Haswell`)
	flag.Parse()
	if err := setOpenBLASCore(*core); err != nil {
		fmt.Fprintf(os.Stderr, "openblas: -openblas-core: %v\n", err)
		os.Exit(1)
	}
	if *size < 1 || *threads < 1 || *reps < 1 {
		fmt.Fprintln(os.Stderr, "openblas: -size, -threads and -reps must be at least 1")
		os.Exit(2)
	}
	if *kernel != "" {
		if err := tensor.SetKernel(*kernel); err != nil {
			fmt.Fprintf(os.Stderr, "openblas: -kernel: %v\n", err)
			os.Exit(2)
		}
	}
	res, err := run(*size, *threads, *reps, *grouped)
	if err != nil {
		fmt.Fprintf(os.Stderr, "openblas: %v\n", err)
		os.Exit(1)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return
	}
	order := "alternating"
	if res.Grouped {
		order = "grouped"
	}
	fmt.Printf("sgemm %d×%d×%d, %d threads, %d reps (%s), losslab kernel %s, OpenBLAS core %s\n", res.Size, res.Size, res.Size, res.Threads, res.Reps, order, res.Kernel, res.Core)
	fmt.Printf("  OpenBLAS: best %7.1f GFLOP/s, median %7.1f GFLOP/s  (max rel err %.2g)\n", res.OpenBLASBest, res.OpenBLASMedian, res.MaxRelErrOpenBLAS)
	fmt.Printf("  losslab:  best %7.1f GFLOP/s, median %7.1f GFLOP/s  (max rel err %.2g)\n", res.LosslabBest, res.LosslabMedian, res.MaxRelErrLosslab)
	fmt.Printf("  results agree: max |C_openblas - C_losslab| = %.3g (max |C| = %.3g)\n", res.MaxAbsDiff, res.MaxAbsC)
	fmt.Printf("  ratio losslab/OpenBLAS: best %.3f, median %.3f\n", res.RatioBest, res.RatioMedian)
}

func run(n, threads, reps int, grouped bool) (*result, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func() []float32 {
		x := make([]float32, n*n)
		for i := range x {
			x[i] = rng.Float32() - 0.5
		}
		return x
	}
	a, b := fill(), fill()
	cBLAS, cLab := make([]float32, n*n), make([]float32, n*n)

	C.openblas_set_num_threads(C.int(threads))
	tensor.SetThreads(threads)

	openblas := func() {
		C.cblas_sgemm(C.CblasRowMajor, C.CblasNoTrans, C.CblasNoTrans,
			C.blasint(n), C.blasint(n), C.blasint(n), 1,
			(*C.float)(unsafe.Pointer(&a[0])), C.blasint(n),
			(*C.float)(unsafe.Pointer(&b[0])), C.blasint(n), 0,
			(*C.float)(unsafe.Pointer(&cBLAS[0])), C.blasint(n))
	}
	losslab := func() {
		tensor.Gemm(false, false, n, n, n, 1, a, n, b, n, 0, cLab, n)
	}
	// Warm up both: thread start-up, pack buffers, page faults.
	openblas()
	losslab()

	flops := tensor.GemmFlops(n, n, n)
	var gBLAS, gLab []float64
	if grouped {
		for range reps {
			gBLAS = append(gBLAS, flops/timeIt(openblas)/1e9)
		}
		// OpenBLAS's threads spin for a while after its last call
		// (GOTO_THREAD_TIMEOUT, 2^28 cycles by default) before they sleep.
		time.Sleep(time.Second)
		losslab()
		for range reps {
			gLab = append(gLab, flops/timeIt(losslab)/1e9)
		}
	} else {
		for range reps {
			gBLAS = append(gBLAS, flops/timeIt(openblas)/1e9)
			gLab = append(gLab, flops/timeIt(losslab)/1e9)
		}
	}

	res := &result{Size: n, Threads: threads, Reps: reps, Grouped: grouped, Kernel: tensor.Kernel(), Core: C.GoString(C.openblas_get_corename())}
	res.OpenBLASBest, res.OpenBLASMedian = slices.Max(gBLAS), median(gBLAS)
	res.LosslabBest, res.LosslabMedian = slices.Max(gLab), median(gLab)
	res.RatioBest = res.LosslabBest / res.OpenBLASBest
	res.RatioMedian = res.LosslabMedian / res.OpenBLASMedian

	// Check sampled elements of both results against float64: the error of a
	// float32 n-term sum is at most about n·ε·Σ|a·b|.
	bound := float64(n) * float64(math.Nextafter32(1, 2)-1)
	for range 256 {
		i, j := rng.IntN(n), rng.IntN(n)
		var want, size float64
		for p := 0; p < n; p++ {
			t := float64(a[i*n+p]) * float64(b[p*n+j])
			want += t
			size += math.Abs(t)
		}
		res.MaxRelErrOpenBLAS = max(res.MaxRelErrOpenBLAS, math.Abs(float64(cBLAS[i*n+j])-want)/size)
		res.MaxRelErrLosslab = max(res.MaxRelErrLosslab, math.Abs(float64(cLab[i*n+j])-want)/size)
	}
	for i := range cBLAS {
		res.MaxAbsDiff = max(res.MaxAbsDiff, math.Abs(float64(cBLAS[i])-float64(cLab[i])))
		res.MaxAbsC = max(res.MaxAbsC, math.Abs(float64(cBLAS[i])))
	}
	if res.MaxRelErrOpenBLAS > bound || res.MaxRelErrLosslab > bound {
		return res, fmt.Errorf("results disagree with the float64 reference: relative errors OpenBLAS %.3g, losslab %.3g, bound %.3g",
			res.MaxRelErrOpenBLAS, res.MaxRelErrLosslab, bound)
	}
	return res, nil
}

func timeIt(f func()) float64 {
	start := time.Now()
	f()
	return time.Since(start).Seconds()
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// setOpenBLASCore re-executes the command with the environment that makes
// OpenBLAS load the core asked for, when the current one would not. OpenBLAS
// reads it once, when the process loads the library.
func setOpenBLASCore(core string) error {
	env := os.Environ()
	if core == "best" {
		core = "detect"
		if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL {
			core = "SkylakeX"
		}
	}
	switch core {
	case "env":
		return nil
	case "detect":
		if os.Getenv("OPENBLAS_CORETYPE") == "" && os.Getenv("OPENBLAS_L2_SIZE") == "" {
			return nil
		}
		env = slices.DeleteFunc(env, func(kv string) bool {
			return strings.HasPrefix(kv, "OPENBLAS_CORETYPE=") || strings.HasPrefix(kv, "OPENBLAS_L2_SIZE=")
		})
	default:
		if os.Getenv("OPENBLAS_CORETYPE") == core {
			return nil
		}
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "OPENBLAS_CORETYPE=") })
		env = append(env, "OPENBLAS_CORETYPE="+core)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(self, os.Args, env)
}
