package nn

import (
	"fmt"
	"math"
	"runtime"
	"syscall"
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

// trainingStep returns one training step of m (10 classes) on a fixed
// random batch: Forward, the softmax cross-entropy gradient, Backward.
func trainingStep(m *Model, shape []int, batch int) func() {
	x := randTensor(1, append([]int{batch}, shape...)...)
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = i % 10
	}
	g := tensor.New(batch, 10)
	return func() {
		z := m.Forward(x, true)
		softmaxGrad(z, g, labels)
		m.Backward(g)
	}
}

// benchTrainStep times forward + loss gradient + backward of one batch and
// reports examples/s. The optimizer update is not included.
func benchTrainStep(b *testing.B, name string, shape []int, batch int) {
	m, err := Build(name, shape, 10, 1)
	if err != nil {
		b.Fatal(err)
	}
	step := trainingStep(m, shape, batch)
	step() // allocate the buffers
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// The collection emptied the runtime's caches (the sudogs of blocked
	// channel operations in the worker pool): refill them outside the
	// measurement, so that allocs/op counts the step's own allocations.
	step()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.StopTimer()
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "examples/s")
	// CPU time (all threads) is less disturbed than wall time by other
	// processes on a shared machine; cpu-ms/op over the thread count bounds
	// the step time on an idle one.
	b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
	// The live heap after a step: the model, its activations and gradient
	// buffers, the shared workspace (training resnet20 at batch 128 must
	// stay under 2 GiB resident).
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
}

// cpuTime is the process's user + system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkTrainStepMnistCNN(b *testing.B) { benchTrainStep(b, "mnist-cnn", []int{28, 28, 1}, 128) }
func BenchmarkTrainStepResNet20(b *testing.B) { benchTrainStep(b, "resnet20", []int{32, 32, 3}, 128) }
func BenchmarkTrainStepMLP(b *testing.B)      { benchTrainStep(b, "mlp", []int{28, 28, 1}, 128) }

// BenchmarkBlockSize times the resnet20 step for several im2col block sizes.
func BenchmarkBlockSize(b *testing.B) {
	old := blockFloats
	defer func() { blockFloats = old }()
	for _, f := range []int{1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20} {
		blockFloats = f
		b.Run(fmt.Sprint(f), func(b *testing.B) { benchTrainStep(b, "resnet20", []int{32, 32, 3}, 128) })
	}
}
