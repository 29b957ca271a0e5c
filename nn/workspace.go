package nn

import (
	"runtime"
	"sync"

	"github.com/losslab/losslab/tensor"
)

// Workspace is scratch memory shared by the convolutions of one model. A
// convolution needs its im2col blocks and per-group weight gradients only
// inside one Forward or Backward call (Backward rebuilds the blocks rather
// than keeping them), so one buffer sized for the largest layer serves them
// all. The layers sharing a Workspace must not run concurrently (a model's
// layers never do).
type Workspace struct {
	buf []float32
}

// floats returns a scratch slice of length n, growing the buffer if needed.
// Its contents are unspecified.
//
// When it grows, it collects the outgrown buffer at once (no layer keeps a
// slice of the workspace after its pass): a model's first step grows it
// layer by layer, and the tensors allocated after each growth then reuse the
// freed memory rather than adding to the process's peak (3.5 MiB of the
// resnet20 step's 470). It grows a few times in a model's life, and a
// collection is cheap when the heap is mostly float arrays, which the
// collector does not scan (0.2–0.3 ms each, three times, in that step).
func (w *Workspace) floats(n int) []float32 {
	if cap(w.buf) < n {
		grown := w.buf != nil
		w.buf = nil
		if grown {
			runtime.GC()
		}
		w.buf = make([]float32, n)
	}
	return w.buf[:n]
}

// Size reports the number of float32 elements the workspace holds.
func (w *Workspace) Size() int { return cap(w.buf) }

// minParallel is the amount of elementwise work (in float32 elements) below
// which spreading a loop over threads costs more than it saves.
const minParallel = 1 << 14

// parallelFor runs fn over [0, n) on the worker threads when the work (n
// items of itemSize elements each) is large enough to be worth it, else
// inline. Callers only use it for loops whose iterations are independent, so
// the result never depends on the split. A closure handed to it is allocated
// on every call (it escapes to the worker pool): hot loops use parallelRun
// with a long-lived runner instead.
func parallelFor(n, itemSize int, fn func(lo, hi int)) {
	parallelRun(n, itemSize, funcRunner(fn))
}

// funcRunner adapts a func to tensor.ChunkRunner.
type funcRunner func(lo, hi int)

func (f funcRunner) RunChunk(lo, hi int) { f(lo, hi) }

// parallelRun is parallelFor with the loop given as a tensor.ChunkRunner,
// which allocates nothing when r is a pointer to a value that outlives the
// call (a field of the layer, or an item of a freeList).
func parallelRun(n, itemSize int, r tensor.ChunkRunner) {
	if n <= 0 {
		return
	}
	if n == 1 || n*itemSize < minParallel || tensor.Threads() == 1 {
		r.RunChunk(0, n)
		return
	}
	tensor.ParallelRun(n, r)
}

// freeList keeps the loop runners of package-level helpers (channelSums,
// reluMask, …) between calls, so that running a loop allocates nothing;
// the helpers may run concurrently on different models, so each call takes
// its own runner. (Not a sync.Pool: garbage collection empties those.)
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

// get returns a runner, a zero one when the list is empty.
func (f *freeList[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.items)
	if n == 0 {
		return new(T)
	}
	p := f.items[n-1]
	f.items[n-1] = nil
	f.items = f.items[:n-1]
	return p
}

// put zeroes p (dropping its references to the caller's slices) and returns
// it to the list.
func (f *freeList[T]) put(p *T) {
	var zero T
	*p = zero
	f.mu.Lock()
	f.items = append(f.items, p)
	f.mu.Unlock()
}

// reduceBlockRows is the number of rows (pixels) whose per-channel sums are
// accumulated together before being added, in a fixed order, to the total.
// The block size, not the thread count, fixes the summation order, so
// BatchNorm statistics and bias gradients are bit-identical whatever
// tensor.SetThreads says.
const reduceBlockRows = 256

// growF64 returns s resized to n, reallocating only when too small.
func growF64(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// growF32 returns s resized to n, reallocating only when too small.
func growF32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// channelSums sets sums[c] = Σ_rows g[row, c] for a [rows, C] matrix,
// accumulating per block of reduceBlockRows rows in float64 and adding the
// block totals in block order (deterministic, thread-count independent).
// partial is scratch, returned grown for reuse.
func channelSums(g []float32, rows, c int, sums []float32, partial []float64) []float64 {
	r := channelSumRuns.get()
	r.g, r.rows, r.c = g, rows, c
	return r.sum(sums, partial)
}

// maskedChannelSums is the ReLU backward pass fused with channelSums: it sets
// g = dy·[y > 0] and sums[c] = Σ_rows g[row, c], in one pass.
func maskedChannelSums(g, dy, y []float32, rows, c int, sums []float32, partial []float64) []float64 {
	r := channelSumRuns.get()
	r.g, r.dy, r.y, r.rows, r.c = g, dy, y, rows, c
	return r.sum(sums, partial)
}

// channelSumRun is the block loop of channelSums (dy nil) and
// maskedChannelSums: block b's per-channel sums go to partial[b·C:(b+1)·C].
type channelSumRun struct {
	g, dy, y []float32
	rows, c  int
	partial  []float64
}

var channelSumRuns freeList[channelSumRun]

// sum runs the block loop, returns cs to channelSumRuns, and adds the block
// sums in block order into sums.
func (cs *channelSumRun) sum(sums []float32, partial []float64) []float64 {
	rows, c := cs.rows, cs.c
	nb := (rows + reduceBlockRows - 1) / reduceBlockRows
	partial = growF64(partial, nb*c)
	cs.partial = partial
	parallelRun(nb, reduceBlockRows*c, cs)
	channelSumRuns.put(cs)
	for j := 0; j < c; j++ {
		var s float64
		for b := 0; b < nb; b++ {
			s += partial[b*c+j]
		}
		sums[j] = float32(s)
	}
	return partial
}

func (cs *channelSumRun) RunChunk(lo, hi int) {
	g, dy, y, rows, c, partial := cs.g, cs.dy, cs.y, cs.rows, cs.c, cs.partial
	if useLoopAsm && c%8 == 0 {
		cs.runAsm(lo, hi)
		return
	}
	for b := lo; b < hi; b++ {
		acc := partial[b*c : (b+1)*c]
		clear(acc)
		r1 := min((b+1)*reduceBlockRows, rows)
		if dy == nil {
			for r := b * reduceBlockRows; r < r1; r++ {
				row := g[r*c : (r+1)*c]
				acc := acc[:len(row)]
				for j, v := range row {
					acc[j] += float64(v)
				}
			}
			continue
		}
		for r := b * reduceBlockRows; r < r1; r++ {
			gr := g[r*c : (r+1)*c]
			dr, yr := dy[r*c:(r+1)*c], y[r*c:(r+1)*c]
			acc, dr, yr := acc[:len(gr)], dr[:len(gr)], yr[:len(gr)]
			for j := range gr {
				v := passIfPositive(dr[j], yr[j])
				gr[j] = v
				acc[j] += float64(v)
			}
		}
	}
}

// sumTileRows is the number of rows the assembly channel sums take per call:
// its channel groups each sweep the tile, which stays in L1 cache between
// sweeps. Every lane still adds its rows in row order, so the sums do not
// depend on the tile size.
const sumTileRows = 32

// runAsm is RunChunk for channel counts that are multiples of 8.
func (cs *channelSumRun) runAsm(lo, hi int) {
	g, dy, y, rows, c, partial := cs.g, cs.dy, cs.y, cs.rows, cs.c, cs.partial
	// The assembly reads and writes without bounds checks.
	_ = g[rows*c-1]
	if dy != nil {
		_, _ = dy[rows*c-1], y[rows*c-1]
	}
	for b := lo; b < hi; b++ {
		acc := partial[b*c : (b+1)*c]
		clear(acc)
		r1 := min((b+1)*reduceBlockRows, rows)
		for r := b * reduceBlockRows; r < r1; r += sumTileRows {
			var dp, yp *float32
			if dy != nil {
				dp, yp = &dy[r*c], &y[r*c]
			}
			channelSumsAVX2(&g[r*c], dp, yp, &acc[0], min(sumTileRows, r1-r), c)
		}
	}
}
