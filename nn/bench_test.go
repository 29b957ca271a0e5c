package nn

import (
	"math"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// softmaxGrad writes d(mean cross-entropy)/dz into g (a local copy of the
// objective package's loss, which nn must not import).
func softmaxGrad(z, g *tensor.Tensor, labels []int) {
	n, k := z.Shape[0], z.Shape[1]
	for i := 0; i < n; i++ {
		row, gr := z.Data[i*k:(i+1)*k], g.Data[i*k:(i+1)*k]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var s float64
		for j, v := range row {
			e := math.Exp(float64(v - mx))
			gr[j] = float32(e)
			s += e
		}
		for j := range gr {
			gr[j] = float32(float64(gr[j]) / s / float64(n))
		}
		gr[labels[i]] -= 1 / float32(n)
	}
}

// benchTrainStep times forward + loss gradient + backward of one batch and
// reports examples/s. The optimizer update is not included.
func benchTrainStep(b *testing.B, name string, shape []int, batch int) {
	m, err := Build(name, shape, 10, 1)
	if err != nil {
		b.Fatal(err)
	}
	x := randTensor(1, append([]int{batch}, shape...)...)
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = i % 10
	}
	g := tensor.New(batch, 10)
	step := func() {
		z := m.Forward(x, true)
		softmaxGrad(z, g, labels)
		m.Backward(g)
	}
	step() // allocate the buffers
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "examples/s")
}

func BenchmarkTrainStepMnistCNN(b *testing.B) { benchTrainStep(b, "mnist-cnn", []int{28, 28, 1}, 128) }
func BenchmarkTrainStepResNet20(b *testing.B) { benchTrainStep(b, "resnet20", []int{32, 32, 3}, 128) }
func BenchmarkTrainStepMLP(b *testing.B)      { benchTrainStep(b, "mlp", []int{28, 28, 1}, 128) }
