package nn

import (
	"fmt"

	"github.com/losslab/losslab/tensor"
)

// reluInPlace sets y = max(0, y), in parallel.
func reluInPlace(y []float32) {
	r := reluRuns.get()
	r.y = y
	parallelRun(len(y), 1, r)
	reluRuns.put(r)
}

// reluMask sets g = dy where y > 0 and 0 elsewhere: the ReLU backward pass
// given the ReLU's output y (max(0, x) > 0 exactly where x > 0; y is never
// −0 since max(−0, 0) = +0).
func reluMask(g, dy, y []float32) {
	r := reluRuns.get()
	r.g, r.dy, r.y = g, dy, y
	parallelRun(len(g), 1, r)
	reluRuns.put(r)
}

// reluRun is the loop of reluMask, or of reluInPlace (on y) when g is nil.
type reluRun struct{ g, dy, y []float32 }

var reluRuns freeList[reluRun]

func (r *reluRun) RunChunk(lo, hi int) {
	if r.g == nil {
		s := r.y[lo:hi]
		for i, v := range s {
			if v < 0 {
				s[i] = 0
			}
		}
		return
	}
	gs, ds, ys := r.g[lo:hi], r.dy[lo:hi], r.y[lo:hi]
	ds, ys = ds[:len(gs)], ys[:len(gs)]
	for i := range gs {
		gs[i] = passIfPositive(ds[i], ys[i])
	}
}

// ReLU is max(0, x) elementwise; its derivative at 0 is taken as 0.
type ReLU struct {
	y, dx *tensor.Tensor
	fwd   reluForward
}

// reluForward is ReLU.Forward's loop, kept in the layer: handing the worker
// pool a fresh closure would allocate it on every call.
type reluForward struct{ y, x []float32 }

func (r *reluForward) RunChunk(lo, hi int) {
	ys, xs := r.y[lo:hi], r.x[lo:hi]
	xs = xs[:len(ys)]
	for i, v := range xs {
		ys[i] = max(v, 0)
	}
}

// NewReLU returns a ReLU layer.
func NewReLU() *ReLU { return &ReLU{} }

// Params implements Layer.
func (r *ReLU) Params() []*Param { return nil }

// Forward implements Layer.
func (r *ReLU) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	r.y = tensor.Ensure(r.y, x.Shape...)
	r.fwd = reluForward{y: r.y.Data, x: x.Data}
	parallelRun(len(r.y.Data), 1, &r.fwd)
	return r.y
}

// Backward implements Layer.
func (r *ReLU) Backward(dy *tensor.Tensor) *tensor.Tensor {
	r.dx = tensor.Ensure(r.dx, r.y.Shape...)
	reluMask(r.dx.Data, dy.Data, r.y.Data)
	return r.dx
}

// Flatten reshapes [N, d1, d2, ...] to [N, d1·d2·…] without copying: the
// output shares the input's storage.
type Flatten struct {
	inShape []int
	y, dx   tensor.Tensor
}

// NewFlatten returns a Flatten layer.
func NewFlatten() *Flatten { return &Flatten{} }

// Params implements Layer.
func (f *Flatten) Params() []*Param { return nil }

// Forward implements Layer.
func (f *Flatten) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	f.inShape = append(f.inShape[:0], x.Shape...)
	f.y.Shape = append(f.y.Shape[:0], x.Shape[0], len(x.Data)/max(x.Shape[0], 1))
	f.y.Data = x.Data
	return &f.y
}

// Backward implements Layer.
func (f *Flatten) Backward(dy *tensor.Tensor) *tensor.Tensor {
	f.dx.Shape = append(f.dx.Shape[:0], f.inShape...)
	f.dx.Data = dy.Data
	return &f.dx
}

// Dropout zeroes each element with probability P during training and scales
// the kept ones by 1/(1−P) ("inverted" dropout), so evaluation is the
// identity. The mask of a step is a pure function of the seed given by
// SetSeed and the element's index in the batch tensor (a SplitMix64 hash), so
// it does not depend on the thread count, and a resumed run that sets the
// same seeds draws the same masks. Without a SetSeed call the seed is 0 and
// every step draws the same mask.
type Dropout struct {
	P float64

	seed  uint64
	train bool
	mask  []float32 // 0 or 1/(1−P) per element of the last training input
	y, dx *tensor.Tensor
	run   dropoutRun
}

// dropoutRun is Dropout's loops (Forward when dy is nil, else Backward),
// kept in the layer: handing the worker pool a fresh closure would allocate
// it on every call.
type dropoutRun struct {
	mask, xs, ys []float32 // forward
	ds, dx       []float32 // backward
	seed, thr    uint64
	scale        float32
}

func (r *dropoutRun) RunChunk(lo, hi int) {
	if r.ds != nil {
		mask, ds, dx := r.mask, r.ds, r.dx
		for i := lo; i < hi; i++ {
			dx[i] = ds[i] * mask[i]
		}
		return
	}
	mask, xs, ys, seed, thr, scale := r.mask, r.xs, r.ys, r.seed, r.thr, r.scale
	for i := lo; i < hi; i++ {
		m := float32(0)
		if splitmix64(seed, uint64(i))>>11 >= thr {
			m = scale
		}
		mask[i] = m
		ys[i] = xs[i] * m
	}
}

// NewDropout returns a dropout layer with drop probability p, which must lie
// in [0, 1).
func NewDropout(p float64) (*Dropout, error) {
	if !(p >= 0 && p < 1) {
		return nil, fmt.Errorf("dropout: drop probability %v, want 0 ≤ p < 1", p)
	}
	return &Dropout{P: p}, nil
}

// SetSeed implements Seeded.
func (d *Dropout) SetSeed(seed uint64) { d.seed = seed }

// Params implements Layer.
func (d *Dropout) Params() []*Param { return nil }

// splitmix64 is the output function of Steele, Lea & Flood's SplitMix64
// generator for state seed advanced i+1 times: a high-quality 64-bit hash of
// (seed, i) that needs no sequential state.
func splitmix64(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Forward implements Layer.
func (d *Dropout) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	d.train = train && d.P > 0
	if !d.train {
		return x
	}
	n := len(x.Data)
	d.mask = growF32(d.mask, n)
	d.y = tensor.Ensure(d.y, x.Shape...)
	// Element i is kept when its 53-bit uniform u = h>>11 / 2^53 is ≥ P.
	thr := uint64(d.P * (1 << 53))
	scale := float32(1 / (1 - d.P))
	d.run = dropoutRun{mask: d.mask, xs: x.Data, ys: d.y.Data, seed: d.seed, thr: thr, scale: scale}
	parallelRun(n, 8, &d.run)
	return d.y
}

// Backward implements Layer.
func (d *Dropout) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !d.train {
		return dy
	}
	d.dx = tensor.Ensure(d.dx, dy.Shape...)
	d.run = dropoutRun{mask: d.mask, ds: dy.Data, dx: d.dx.Data}
	parallelRun(len(d.dx.Data), 1, &d.run)
	return d.dx
}
