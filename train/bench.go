package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/objective"
	"github.com/losslab/losslab/optim"
	"github.com/losslab/losslab/tensor"
)

// benchWarmup is the number of untimed steps before Bench's clock starts:
// they size the layers' buffers and fault in their pages.
const benchWarmup = 3

// BenchInputShape is the example shape Bench feeds a model: 28×28×1 (MNIST)
// for mlp and mnist-cnn, 32×32×3 (CIFAR) for the others.
func BenchInputShape(model string) []int {
	switch model {
	case "mlp", "mnist-cnn":
		return []int{28, 28, 1}
	}
	return []int{32, 32, 3}
}

// Bench measures training throughput in examples per second: full training
// steps (forward, softmax cross-entropy, backward, SGD with Nesterov momentum
// 0.9 and weight decay 5e-4) of the named model, 10 classes, on one batch of
// random inputs (BenchInputShape) and labels, with tensor.Threads() threads.
// benchWarmup steps run untimed first; then steps are timed.
func Bench(ctx context.Context, model string, batch, steps int) (examplesPerSec float64, err error) {
	if batch < 1 || steps < 1 {
		return 0, fmt.Errorf("bench: batch %d and steps %d; want both ≥ 1", batch, steps)
	}
	shape := BenchInputShape(model)
	m, err := nn.Build(model, shape, 10, 1)
	if err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(append([]int{batch}, shape...)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	opt := optim.NewSGD(m.Params(), optim.SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4})
	var dz *tensor.Tensor
	step := func(i int) {
		m.SetSeed(stepSeed(1, i))
		z := m.Forward(x, true)
		dz = tensor.Ensure(dz, z.Shape...)
		objective.Softmax{}.Loss(z, labels, dz)
		m.Backward(dz)
		opt.Step(0.01)
	}
	for i := 0; i < benchWarmup; i++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		step(i)
	}
	t0 := time.Now()
	for i := 0; i < steps; i++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		step(benchWarmup + i)
	}
	return float64(batch*steps) / time.Since(t0).Seconds(), nil
}
