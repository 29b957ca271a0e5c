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

func TestTmpTuneBlocks(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	SetThreads(1)
	base := activeKernel.Load()
	defer activeKernel.Store(base)
	blocks := [][2]int{{144, 256}, {72, 256}, {288, 256}, {144, 384}, {96, 512}, {240, 192}, {480, 256}}
	var ks []*microKernel
	for _, bl := range blocks {
		k := *base
		k.mc, k.kc = bl[0], bl[1]
		ks = append(ks, &k)
	}
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
		best := make([]float64, len(ks))
		for rep := 0; rep < 7; rep++ {
			for ci, k := range ks {
				activeKernel.Store(k)
				start := time.Now()
				Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				g := GemmFlops(s.m, s.n, s.k) / time.Since(start).Seconds() / 1e9
				best[ci] = max(best[ci], g)
			}
		}
		fmt.Printf("%-28s", s.name)
		for ci := range ks {
			fmt.Printf(" %v:%5.1f", blocks[ci], best[ci])
		}
		fmt.Println()
	}
}

func TestTmpKernelModes(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	kern := activeKernel.Load()
	kc := 288
	mc := 144
	lda := 288
	a := alignedFloats(mc * lda)
	pa := alignedFloats(mc * kc)
	bp := alignedFloats(kern.nr * kc)
	c := alignedFloats(mc * 64)
	for i := range a {
		a[i] = 0.001 * float32(i%7)
	}
	modes := []string{"packed", "rows", "cols"}
	best := make([]float64, 3)
	for rep := 0; rep < 200; rep++ {
		for mi := range modes {
			start := time.Now()
			for it := 0; it < 20; it++ {
				for ir := 0; ir < mc; ir += kern.mr {
					switch mi {
					case 0:
						kern.fn(kc, &pa[ir*kc], 1, kern.mr, &bp[0], kern.nr, &c[ir*64], 64, 1, 0)
					case 1:
						kern.fn(kc, &a[ir*lda], lda, 1, &bp[0], kern.nr, &c[ir*64], 64, 1, 0)
					case 2:
						kern.fn(kc, &a[ir], 1, mc, &bp[0], kern.nr, &c[ir*64], 64, 1, 0)
					}
				}
			}
			g := 20 * GemmFlops(mc, kern.nr, kc) / time.Since(start).Seconds() / 1e9
			best[mi] = max(best[mi], g)
		}
	}
	fmt.Println(modes, best)
}
