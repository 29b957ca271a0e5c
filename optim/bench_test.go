package optim

import (
	"fmt"
	"testing"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// BenchmarkSGDStep times one Nesterov update of mnist-cnn-sized parameters
// (421,642 values, dominated by the 3136×128 dense kernel).
func BenchmarkSGDStep(b *testing.B) {
	sizes := []int{288, 32, 18432, 64, 401408, 128, 1280, 10}
	var ps []*nn.Param
	total := 0
	for i, n := range sizes {
		ps = append(ps, &nn.Param{Name: fmt.Sprint(i), Kind: nn.ParamKind(i % 2), Value: make([]float32, n), Grad: make([]float32, n)})
		total += n
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			defer tensor.SetThreads(tensor.Threads())
			tensor.SetThreads(threads)
			o := NewSGD(ps, SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4})
			b.SetBytes(int64(total) * 4 * 4) // read w, g, v; write w, v (≈ 4 streams)
			for b.Loop() {
				o.Step(0.05)
			}
		})
	}
}
