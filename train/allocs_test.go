package train

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/losslab/losslab/objective"
	"github.com/losslab/losslab/tensor"
)

// TestTrainStepAllocs checks that a steady-state training step (forward,
// loss, backward, regulariser, SGD and EMA updates) allocates nothing, for
// every objective.
func TestTrainStepAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items and instruments allocations")
	}
	defer tensor.SetThreads(tensor.Threads())
	for _, name := range objective.Names() {
		for _, threads := range []int{1, 2} {
			tensor.SetThreads(threads)
			cfg := tinyConfig()
			cfg.Objective = name
			r, err := newRun(cfg, t.TempDir(), testData)
			if err != nil {
				t.Fatal(err)
			}
			r.prepareBatch(permutation(cfg.Seed, 0, r.train.Len())[:cfg.BatchSize], 0)
			// A garbage collection empties sync.Pools (and the runtime's
			// caches), whose refill would count as the step's allocation:
			// collect, warm up (the first steps may also run more GEMMs at
			// once than before, growing tensor's packing buffers, and a
			// thread count used for the first time starts the runtime's
			// per-goroutine caches of its workers), then
			// hold collections off. The learning rate is 0 so that
			// repeating the step cannot diverge.
			runtime.GC()
			old := debug.SetGCPercent(-1)
			for range 10 {
				r.trainStep(0)
			}
			n := testing.AllocsPerRun(10, func() { r.trainStep(0) })
			debug.SetGCPercent(old)
			if n != 0 {
				t.Errorf("%s with %d threads: a training step allocates %v times", name, threads, n)
			}
		}
	}
}
