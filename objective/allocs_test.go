package objective

import (
	"math/rand/v2"
	"testing"

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
