package nn

import (
	"fmt"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// Microbenchmarks of the memory-bound passes at resnet20's stage-1 size
// ([128, 32, 32, 16]), one thread, reporting ns per element.

// The batch=2 cases fit the core's L2 cache (128–200 KiB per tensor), the
// batch=128 ones (8–13 MiB) do not: where the first run much faster per
// element, the pass waits on memory at a model's sizes, and wider vectors
// cannot speed it up there.
var cacheBatches = []int{2, 128}

// benchCacheBatches times, for each of cacheBatches, the pass that setup
// builds for that batch on one thread, in ns per element of its input.
func benchCacheBatches(b *testing.B, setup func(batch int) (pass func(), elems int)) {
	for _, batch := range cacheBatches {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			defer tensor.SetThreads(tensor.Threads())
			tensor.SetThreads(1)
			pass, elems := setup(batch)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pass()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*elems), "ns/elem")
		})
	}
}

func benchBN(b *testing.B, backward bool) {
	benchCacheBatches(b, func(batch int) (func(), int) {
		bn := NewBatchNorm("bn", 16)
		bn.ReLU = true
		x := randTensor(1, batch, 32, 32, 16)
		dy := randTensor(2, batch, 32, 32, 16)
		bn.Forward(x, true)
		bn.Backward(dy)
		if backward {
			return func() { bn.Backward(dy) }, len(x.Data)
		}
		return func() { bn.Forward(x, true) }, len(x.Data)
	})
}

func BenchmarkBatchNormForward(b *testing.B)  { benchBN(b, false) }
func BenchmarkBatchNormBackward(b *testing.B) { benchBN(b, true) }

func benchConvPasses(b *testing.B, col2im bool) {
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(1)
	c := NewConv2d("c", 16, 16, 3, 1, 1, false, 1)
	x := randTensor(1, 8, 32, 32, 16)
	c.Forward(x, true)
	k := 9 * 16
	cols := make([]float32, 32*32*k)
	dx := make([]float32, 32*32*16)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if col2im {
			c.col2im(cols, 0, 32, dx)
		} else {
			g := c.forwardGeom()
			g.im2col(x.Data[(i%8)*32*32*16:(i%8+1)*32*32*16], 0, 32, cols)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cols)), "ns/colelem")
}

func BenchmarkIm2col(b *testing.B) { benchConvPasses(b, false) }
func BenchmarkCol2im(b *testing.B) { benchConvPasses(b, true) }

// BenchmarkConvStage times a forward and backward pass of resnet20's 3×3
// convolutions (batch 128, one thread) on each path, reporting GFLOP/s of
// the three products (forward, weight gradient, input gradient) as the
// direct convolution counts them, whatever the path multiplies:
//
//	go test -run XXX -bench ConvStage ./nn
func BenchmarkConvStage(b *testing.B) {
	for _, st := range []struct{ hw, ch int }{{32, 16}, {16, 32}, {8, 64}} {
		for _, path := range []struct {
			name string
			mode int
		}{{"im2col", pathIm2col}, {"rows", pathRows}, {"winograd", pathWinograd}, {"auto", pathAuto}} {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", st.hw, st.hw, st.ch, path.name), func(b *testing.B) {
				defer tensor.SetThreads(tensor.Threads())
				tensor.SetThreads(1)
				old := convPathMode
				convPathMode = path.mode
				defer func() { convPathMode = old }()
				c := NewConv2d("c", st.ch, st.ch, 3, 1, 1, false, 1)
				x := randTensor(1, 128, st.hw, st.hw, st.ch)
				dy := randTensor(2, c.Forward(x, true).Shape...)
				c.Backward(dy)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					c.Forward(x, true)
					c.Backward(dy)
				}
				flops := 3 * tensor.GemmFlops(128*st.hw*st.hw, st.ch, 9*st.ch)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// The memory-bound passes of mnist-cnn at its first layer's size
// ([128, 28, 28, 32]), one thread, reporting ns per element of the layer's
// input.

func benchMaxPool(b *testing.B, backward bool) {
	benchCacheBatches(b, func(batch int) (func(), int) {
		p := NewMaxPool(2, 2, 0)
		x := randTensor(1, batch, 28, 28, 32)
		y := p.Forward(x, true)
		dy := randTensor(2, y.Shape...)
		p.Backward(dy)
		if backward {
			return func() { p.Backward(dy) }, len(x.Data)
		}
		return func() { p.Forward(x, true) }, len(x.Data)
	})
}

func BenchmarkMaxPoolForward(b *testing.B)  { benchMaxPool(b, false) }
func BenchmarkMaxPoolBackward(b *testing.B) { benchMaxPool(b, true) }

func benchChannelSums(b *testing.B, masked bool) {
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(1)
	rows, c := 128*28*28, 32
	dy := randTensor(1, rows, c).Data
	y := randTensor(2, rows, c).Data
	g := make([]float32, rows*c)
	sums := make([]float32, c)
	var partial []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if masked {
			partial = maskedChannelSums(g, dy, y, rows, c, sums, partial)
		} else {
			partial = channelSums(dy, rows, c, sums, partial)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*c), "ns/elem")
}

func BenchmarkChannelSums(b *testing.B)       { benchChannelSums(b, false) }
func BenchmarkMaskedChannelSums(b *testing.B) { benchChannelSums(b, true) }

func BenchmarkConvEpilogue(b *testing.B) {
	c := NewConv2d("c", 1, 32, 3, 1, 1, true, 1)
	c.ReLU = true
	copy(c.Bias.Value, randTensor(1, 32).Data)
	y := randTensor(2, 128, 28, 28, 32).Data
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.epilogue(y)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(y)), "ns/elem")
}

// BenchmarkBatchNormSums times the statistics sums alone on one block of
// reduceBlockRows rows (in L1), where only the chains of adds bound them:
// rows that feed more independent chains run faster. kernel=avx2 runs the
// AVX2 passes where the machine has AVX-512 too.
func BenchmarkBatchNormSums(b *testing.B) {
	defer func(v bool) { useBNAVX512 = v }(useBNAVX512)
	kernels := []string{"avx2"}
	if useBNAVX512 {
		kernels = append(kernels, "avx512")
	}
	for _, kernel := range kernels {
		useBNAVX512 = kernel == "avx512"
		for _, c := range []int{16, 32, 64} {
			b.Run(fmt.Sprintf("kernel=%s/c=%d", kernel, c), func(b *testing.B) {
				x := randTensor(1, reduceBlockRows, c).Data
				k, s, q := make([]float32, c), make([]float32, c), make([]float32, c)
				for i := 0; i < b.N; i++ {
					bnSums(x, k, s, q)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
			})
		}
	}
}
