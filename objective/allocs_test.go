package objective

import (
	"math/rand/v2"
	"testing"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// TestLossAllocs checks that the loss and its gradient, computed every
// training step, allocate nothing once warmed up, for every objective and a
// stack.
func TestLossAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	z, labels := randomLogits(r, 64, 10, 3)
	g := tensor.New(64, 10)
	defer tensor.SetThreads(tensor.Threads())
	for _, name := range append(Names(), "label_smoothing+logit_penalty+dropout") {
		o := mustNew(t, name, nil)
		for _, threads := range []int{1, 2} {
			tensor.SetThreads(threads)
			if n := testing.AllocsPerRun(5, func() { o.Loss(z, labels, g) }); n != 0 {
				t.Errorf("%s with %d threads: Loss allocates %v times", name, threads, n)
			}
		}
	}
}

// The cosine head's forward and backward allocate nothing once warmed up,
// with and without normalised features.
func TestCosineHeadAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n, in, out = 16, 32, 10
	kernel, bias := newParam("head.kernel", nn.Kernel, in, out), newParam("head.bias", nn.Bias, out)
	for i := range kernel.Value {
		kernel.Value[i] = float32(r.NormFloat64())
	}
	x, dz := tensor.New(n, in), tensor.New(n, out)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	for i := range dz.Data {
		dz.Data[i] = float32(r.NormFloat64())
	}
	for _, normalize := range []bool{true, false} {
		h := NewCosineHead(kernel, bias, 0.05, normalize)
		step := func() {
			h.Forward(x, true)
			h.Backward(dz)
		}
		step()
		if a := testing.AllocsPerRun(5, step); a != 0 {
			t.Errorf("normalize_features=%v: a forward and backward allocate %v times", normalize, a)
		}
	}
}
