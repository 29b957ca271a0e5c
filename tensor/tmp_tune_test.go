package tensor

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

func init() {
	if v := os.Getenv("GEMM_DA"); v != "" {
		directAMaxN, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("GEMM_DB"); v != "" {
		directBMaxM, _ = strconv.Atoi(v)
	}
}

func TestTmpTune(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	th, _ := strconv.Atoi(os.Getenv("TUNE_THREADS"))
	SetThreads(max(th, 1))
	cfgs := [][2]int{{-1, -1}, {1 << 30, -1}, {-1, 1 << 30}, {1 << 30, 1 << 30}}
	for _, s := range gemmBenchShapes {
		rng := rand.New(rand.NewPCG(1, 1))
		fill := func(n int) []float32 {
			x := make([]float32, n)
			for i := range x {
				x[i] = rng.Float32() - 0.5
			}
			return x
		}
		a, bm, c := fill(s.m*s.k), fill(s.k*s.n), fill(s.m*s.n)
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		best := make([]float64, len(cfgs))
		for rep := 0; rep < 7; rep++ {
			for ci, cfg := range cfgs {
				directAMaxN, directBMaxM = cfg[0], cfg[1]
				start := time.Now()
				Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				g := GemmFlops(s.m, s.n, s.k) / time.Since(start).Seconds() / 1e9
				best[ci] = max(best[ci], g)
			}
		}
		fmt.Printf("%-28s packed %6.1f  dA %6.1f  dB %6.1f  dAB %6.1f\n", s.name, best[0], best[1], best[2], best[3])
	}
}
