package nn

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// TestTrainingStepAllocs checks that a steady-state training step (Forward,
// the loss gradient, Backward) allocates nothing: every buffer is the
// layers' own, and every parallel loop a runner that outlives the call.
func TestTrainingStepAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items and instruments allocations")
	}
	models := []struct {
		name  string
		shape []int
	}{
		{"resnet20", []int{16, 16, 3}},
		{"mnist-cnn", []int{28, 28, 1}},
	}
	defer tensor.SetThreads(tensor.Threads())
	for _, mc := range models {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/threads=%d", mc.name, threads), func(t *testing.T) {
				tensor.SetThreads(threads)
				const batch = 8
				m := mustBuild(t, mc.name, mc.shape, 10, 1)
				step := trainingStep(m, mc.shape, batch)
				// A garbage collection empties sync.Pools (and the runtime's
				// caches), whose refill would count as the step's
				// allocation: collect, warm up, then hold collections off.
				runtime.GC()
				defer debug.SetGCPercent(debug.SetGCPercent(-1))
				for range 3 {
					step()
				}
				if n := testing.AllocsPerRun(5, step); n != 0 {
					t.Errorf("a steady-state %s step with %d threads allocates %v times; "+
						"-memprofile m.prof -memprofilerate 1, then go tool pprof -sample_index=alloc_objects -top m.prof, shows where",
						mc.name, threads, n)
				}
			})
		}
	}
}
