package represent

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/losslab/losslab/tensor"
)

var (
	benchOnce sync.Once
	benchX    *tensor.Tensor
	benchY    *tensor.Tensor
)

// benchReps returns two related 10,000 × 2,048 representations (a shared
// 64-dimensional latent part plus noise), built once.
func benchReps() (*tensor.Tensor, *tensor.Tensor) {
	benchOnce.Do(func() {
		const n, p, r = 10000, 2048, 64
		rng := rand.New(rand.NewPCG(1, 2))
		z := make([]float32, n*r)
		for i := range z {
			z[i] = float32(rng.NormFloat64())
		}
		make1 := func() *tensor.Tensor {
			mix := make([]float32, r*p)
			for i := range mix {
				mix[i] = float32(rng.NormFloat64() / 8)
			}
			x := tensor.New(n, p)
			tensor.Gemm(false, false, n, p, r, 1, z, r, mix, p, 0, x.Data, p)
			for i := range x.Data {
				x.Data[i] += float32(0.5 + rng.NormFloat64())
			}
			return x
		}
		benchX, benchY = make1(), make1()
	})
	return benchX, benchY
}

// BenchmarkLinearCKA is linear CKA on n = 10,000 examples with p = q = 2,048
// float32 features: three 2048×2048×10000 products (≈ 2.5e11 flops, less the
// symmetric halves of XᵀX and YᵀY).
func BenchmarkLinearCKA(b *testing.B) {
	x, y := benchReps()
	b.ResetTimer()
	for range b.N {
		if _, err := LinearCKA(x, y); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDebiasedCKA is the same with the unbiased HSIC (same products).
func BenchmarkDebiasedCKA(b *testing.B) {
	x, y := benchReps()
	b.ResetTimer()
	for range b.N {
		if _, err := DebiasedCKA(x, y); err != nil {
			b.Fatal(err)
		}
	}
}
