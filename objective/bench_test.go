package objective

import (
	"math/rand/v2"
	"testing"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// ImageNet-sized heads: batch 128, 1000 classes, 2048 penultimate features.

func BenchmarkLoss(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	z, labels := randomLogits(r, 128, 1000, 3)
	grad := tensor.New(128, 1000)
	for _, name := range []string{"softmax", "label_smoothing", "sigmoid", "logit_normalization", "squared_error"} {
		o := mustNew(b, name, nil)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				o.Loss(z, labels, grad)
			}
		})
	}
}

func BenchmarkCosineHead(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	const n, in, out = 128, 2048, 1000
	kernel, bias := newParam("head.kernel", nn.Kernel, in, out), newParam("head.bias", nn.Bias, out)
	for i := range kernel.Value {
		kernel.Value[i] = float32(r.NormFloat64())
	}
	h := NewCosineHead(kernel, bias, 0.05, true)
	x := tensor.New(n, in)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	dz := tensor.New(n, out)
	for i := range dz.Data {
		dz.Data[i] = float32(r.NormFloat64())
	}
	for b.Loop() {
		h.Forward(x, true)
		h.Backward(dz)
	}
}
