package nn

import "github.com/losslab/losslab/tensor"

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
func (w *Workspace) floats(n int) []float32 {
	if cap(w.buf) < n {
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
// the result never depends on the split.
func parallelFor(n, itemSize int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if n == 1 || n*itemSize < minParallel || tensor.Threads() == 1 {
		fn(0, n)
		return
	}
	tensor.ParallelFor(n, fn)
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
	nb := (rows + reduceBlockRows - 1) / reduceBlockRows
	partial = growF64(partial, nb*c)
	parallelFor(nb, reduceBlockRows*c, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			acc := partial[b*c : (b+1)*c]
			clear(acc)
			r1 := min((b+1)*reduceBlockRows, rows)
			for r := b * reduceBlockRows; r < r1; r++ {
				row := g[r*c : (r+1)*c]
				acc := acc[:len(row)]
				for j, v := range row {
					acc[j] += float64(v)
				}
			}
		}
	})
	for j := 0; j < c; j++ {
		var s float64
		for b := 0; b < nb; b++ {
			s += partial[b*c+j]
		}
		sums[j] = float32(s)
	}
	return partial
}

// maskedChannelSums is the ReLU backward pass fused with channelSums: it sets
// g = dy·[y > 0] and sums[c] = Σ_rows g[row, c], in one pass.
func maskedChannelSums(g, dy, y []float32, rows, c int, sums []float32, partial []float64) []float64 {
	nb := (rows + reduceBlockRows - 1) / reduceBlockRows
	partial = growF64(partial, nb*c)
	parallelFor(nb, reduceBlockRows*c, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			acc := partial[b*c : (b+1)*c]
			clear(acc)
			r1 := min((b+1)*reduceBlockRows, rows)
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
	})
	for j := 0; j < c; j++ {
		var s float64
		for b := 0; b < nb; b++ {
			s += partial[b*c+j]
		}
		sums[j] = float32(s)
	}
	return partial
}
