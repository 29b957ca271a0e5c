package optim

import (
	"testing"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// TestStepAllocs checks that SGD.Step and EMA.Update, run every training
// step, allocate nothing, on mnist-cnn's parameters (its dense kernel is
// large enough for the parallel update).
func TestStepAllocs(t *testing.T) {
	m, err := nn.Build("mnist-cnn", []int{28, 28, 1}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	ps := m.Params()
	defer tensor.SetThreads(tensor.Threads())
	for _, cfg := range []SGDConfig{{}, {Momentum: 0.9, WeightDecay: 5e-4}, {Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4}} {
		for _, threads := range []int{1, 2} {
			tensor.SetThreads(threads)
			o := NewSGD(ps, cfg)
			e := NewEMA(ps, EMAConfig{Decay: 0.999, Warmup: true})
			step := 0
			n := testing.AllocsPerRun(5, func() {
				step++
				o.Step(1e-6)
				e.Update(step)
			})
			if n != 0 {
				t.Errorf("%+v with %d threads: a step allocates %v times", cfg, threads, n)
			}
		}
	}
}
