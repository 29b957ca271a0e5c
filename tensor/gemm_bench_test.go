package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// gemmBenchShapes are the square reference and the products our models run:
// im2col forward (cols·W), the weight gradient colsᵀ·dY (a long k reduction)
// and the input gradient dY·Wᵀ. Conv rows are batch·height·width.
var gemmBenchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"square256", false, false, 256, 256, 256},
	{"square1024", false, false, 1024, 1024, 1024},
	// mnist-cnn, batch 32 (28×28 → 25088 rows): conv1 3×3×1→32, conv2 3×3×32→64.
	{"conv1_fwd_25088x32x9", false, false, 25088, 32, 9},
	{"conv2_fwd_25088x64x288", false, false, 25088, 64, 288},
	{"conv2_dW_288x64x25088", true, false, 288, 64, 25088},
	{"conv2_dX_25088x288x64", false, true, 25088, 288, 64},
	// resnet20, batch 128 at 32×32 (16 channels) and 16×16 (32) / 8×8 (64).
	{"res16_fwd_131072x16x144", false, false, 131072, 16, 144},
	{"res16_dW_144x16x131072", true, false, 144, 16, 131072},
	{"res16_dX_131072x144x16", false, true, 131072, 144, 16},
	{"res32_fwd_32768x32x288", false, false, 32768, 32, 288},
	{"res64_fwd_8192x64x576", false, false, 8192, 64, 576},
	{"conv_fwd_32768x64x576", false, false, 32768, 64, 576},
	{"conv_dW_576x64x32768", true, false, 576, 64, 32768},
	{"conv_dX_32768x576x64", false, true, 32768, 576, 64},
}

// BenchmarkGemm reports GFLOP/s (2mnk per call) for each shape with the
// selected kernel and thread count (go test -bench Gemm ./tensor).
func BenchmarkGemm(b *testing.B) {
	for _, s := range gemmBenchShapes {
		b.Run(fmt.Sprintf("%s/%s/t%d", s.name, Kernel(), Threads()), func(b *testing.B) {
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
			Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
			b.ResetTimer()
			for range b.N {
				Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
			}
			b.ReportMetric(GemmFlops(s.m, s.n, s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkGemmMicroKernel measures the micro-kernel (and its narrow one) alone on packed panels
// that stay in cache (kc = KC): the ceiling for the whole GEMM on one core.
func BenchmarkGemmMicroKernel(b *testing.B) {
	kerns := []*microKernel{activeKernel.Load()}
	for _, k := range []*microKernel{kerns[0].narrow, kerns[0].short} {
		if k != nil {
			kerns = append(kerns, k)
			if k.short != nil {
				kerns = append(kerns, k.short)
			}
		}
	}
	for _, kern := range kerns {
		kc := kern.kc
		a := alignedFloats(kern.mr * kc)
		bp := alignedFloats(kern.nr * kc)
		for i := range a {
			a[i] = 0.001 * float32(i%7)
		}
		for i := range bp {
			bp[i] = 0.001 * float32(i%5)
		}
		c := alignedFloats(kern.mr * kern.nr)
		b.Run(kern.name, func(b *testing.B) {
			for range b.N {
				kern.fn(kc, &a[0], 1, kern.mr, &bp[0], kern.nr, &c[0], kern.nr, 1, 1)
			}
			b.ReportMetric(GemmFlops(kern.mr, kern.nr, kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkPack times packing one MC×KC block of A and one KC×NC panel of B
// from a 1024×1024 row-major matrix with the selected kernel's tiles,
// reporting ns per packed value: the packing share of a large product.
func BenchmarkPack(b *testing.B) {
	kern := activeKernel.Load()
	const n = 1024
	src := make([]float32, n*n)
	for i := range src {
		src[i] = float32(i % 97)
	}
	for _, trans := range []bool{false, true} {
		b.Run(fmt.Sprintf("A/%s/trans=%v", kern.name, trans), func(b *testing.B) {
			dst := alignedFloats(kern.mc * kern.kc)
			for i := range b.N {
				i0 := (i * kern.mc) % (n - kern.mc)
				packA(dst, src, n, segments{}, trans, i0, kern.mc, 0, kern.kc, kern.mr)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*kern.mc*kern.kc), "ns/value")
		})
		// An edge panel: the four rows left of a 256- or 64-row product.
		b.Run(fmt.Sprintf("A-edge/%s/trans=%v", kern.name, trans), func(b *testing.B) {
			dst := alignedFloats(kern.mr * kern.kc)
			for i := range b.N {
				i0 := (i * kern.mc) % (n - kern.mc)
				packA(dst, src, n, segments{}, trans, i0, 4, 0, kern.kc, kern.mr)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4*kern.kc), "ns/value")
		})
		b.Run(fmt.Sprintf("B/%s/trans=%v", kern.name, trans), func(b *testing.B) {
			dst := alignedFloats(kern.kc * n)
			for i := range b.N {
				p0 := (i * kern.kc) % (n - kern.kc)
				packB(dst, src, n, trans, p0, kern.kc, 0, n, kern.nr)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*kern.kc*n), "ns/value")
		})
	}
}
