package nn

import (
	"fmt"
	"math"

	"github.com/losslab/losslab/tensor"
)

// BatchNorm normalises each channel (the last axis) over all other axes,
// N·H·W values for an NHWC tensor (Ioffe & Szegedy 2015):
//
//	y = γ·(x − μ)/√(σ² + ε) + β.
//
// In training μ and σ² are the batch mean and biased variance (Σ(x−μ)²/m over
// the m = N·H·W values), and the gradient flows through them. The running
// statistics used in evaluation are updated, TF/Keras style, as
//
//	running = Momentum·running + (1 − Momentum)·batch,
//
// so the default Momentum 0.9 is the same rule as PyTorch's momentum=0.1
// (PyTorch weighs the batch value by its momentum). As in PyTorch, the
// running variance is fed the unbiased batch variance Σ(x−μ)²/(m−1) (the
// biased one when m = 1). Statistics are accumulated in float64 over fixed
// blocks of rows, so they do not depend on the thread count.
//
// With ReLU set the layer outputs max(0, y), fused into the same pass.
type BatchNorm struct {
	C        int
	Momentum float64 // weight of the old running value; default 0.9
	Eps      float64 // default 1e-5
	ReLU     bool

	Gamma, Beta             *Param // γ (Scale, init 1), β (Shift, init 0)
	RunningMean, RunningVar *Param // Buffers, init 0 and 1

	x, y, dx     *tensor.Tensor
	train        bool
	residual     bool      // whether the last Forward added a residual
	mean, invstd []float64 // statistics used by the last Forward
	scale, shift []float32 // y = x·scale + shift per channel
	ca, cb, cc   []float32 // backward: dx = ca·g + cb·(x − μ) + cc
	meanF        []float32
	shiftK       []float32 // per-channel shift of the statistics sums
	partial32    []float32 // per-block sums
	sum1, sum2   []float64 // block sums added in order

	// The parallel loops, kept in the layer: handing the worker pool a fresh
	// closure would allocate it on every call.
	apply     bnApplyRun
	gradApply bnGradApplyRun
	sums      bnSumsRun
}

// bnApplyRun is forward's loop over rows: y = act(x·scale + shift + res).
type bnApplyRun struct {
	xs, rs, ys, scale, shift []float32 // rs nil without a residual
	c                        int
	relu                     bool
}

func (r *bnApplyRun) RunChunk(lo, hi int) {
	c, rs := r.c, r.rs
	var rr []float32
	if rs != nil {
		rr = rs[lo*c : hi*c]
	}
	bnApply(r.xs[lo*c:hi*c], rr, r.ys[lo*c:hi*c], r.scale, r.shift, r.relu)
}

// bnGradApplyRun is backward's second loop over rows: dx = ca·g + cb·(x − μ) + cc.
type bnGradApplyRun struct {
	src, mask, xs, dxs, mu, ca, cb, cc []float32 // mask nil when src is already masked
	scale, shift                       []float32 // the mask recomputed from xs (bnGradApply), or nil
	c                                  int
}

func (r *bnGradApplyRun) RunChunk(lo, hi int) {
	c, mask := r.c, r.mask
	var mr []float32
	if mask != nil {
		mr = mask[lo*c : hi*c]
	}
	bnGradApply(r.src[lo*c:hi*c], mr, r.xs[lo*c:hi*c], r.dxs[lo*c:hi*c], r.mu, r.ca, r.cb, r.cc, r.scale, r.shift)
}

// bnSumsRun is blockSums's loop over blocks of reduceBlockRows rows: each
// block's pair (s, q) of per-channel sums, zeroed, then filled with the
// statistics sums of xs shifted by k (batchStats) or, when grad is set, the
// gradient sums of backward's first pass.
type bnSumsRun struct {
	part    []float32
	rows, c int
	grad    bool
	xs, k   []float32 // statistics; xs also for the gradient
	ds, ys  []float32 // gradient: dy, and the ReLU mask source (nil without ReLU)
	gOut    []float32 // gradient: where the masked dy goes, or nil
	mu      []float32 // gradient: the batch mean
	// gradient: with ys nil, the ReLU mask recomputed from xs (bnGradSums)
	scale, shift []float32
}

func (r *bnSumsRun) RunChunk(lo, hi int) {
	c, part := r.c, r.part
	for blk := lo; blk < hi; blk++ {
		s := part[2*blk*c : (2*blk+1)*c]
		q := part[(2*blk+1)*c : (2*blk+2)*c]
		clear(s)
		clear(q)
		r0, r1 := blk*reduceBlockRows, min((blk+1)*reduceBlockRows, r.rows)
		if !r.grad {
			bnSums(r.xs[r0*c:r1*c], r.k, s, q)
			continue
		}
		var gr []float32
		if r.gOut != nil {
			gr = r.gOut[r0*c : r1*c]
		}
		var yr []float32
		if r.ys != nil {
			yr = r.ys[r0*c : r1*c]
		}
		bnGradSums(r.ds[r0*c:r1*c], yr, r.xs[r0*c:r1*c], gr, r.mu, s, q, r.scale, r.shift)
	}
}

// NewBatchNorm returns a BatchNorm over c channels with parameters
// "<name>.gamma", "<name>.beta" and buffers "<name>.running_mean",
// "<name>.running_var"; momentum 0.9, ε 1e-5.
func NewBatchNorm(name string, c int) *BatchNorm {
	b := &BatchNorm{
		C: c, Momentum: 0.9, Eps: 1e-5,
		Gamma:       newParam(name+".gamma", Scale, c),
		Beta:        newParam(name+".beta", Shift, c),
		RunningMean: newParam(name+".running_mean", Buffer, c),
		RunningVar:  newParam(name+".running_var", Buffer, c),
		mean:        make([]float64, c), invstd: make([]float64, c),
		scale: make([]float32, c), shift: make([]float32, c),
		ca: make([]float32, c), cb: make([]float32, c), cc: make([]float32, c),
		meanF: make([]float32, c), shiftK: make([]float32, c),
		sum1: make([]float64, c), sum2: make([]float64, c),
	}
	fill(b.Gamma, 1)
	fill(b.RunningVar, 1)
	return b
}

// Params implements Layer.
func (b *BatchNorm) Params() []*Param {
	return []*Param{b.Gamma, b.Beta, b.RunningMean, b.RunningVar}
}

// Forward implements Layer.
func (b *BatchNorm) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	return b.forward(x, nil, train)
}

// forward computes act(BN(x) + res), res optional (a residual branch added
// before the ReLU, fused into the same pass).
func (b *BatchNorm) forward(x, res *tensor.Tensor, train bool) *tensor.Tensor {
	c := b.C
	if x.Shape[len(x.Shape)-1] != c {
		panic(fmt.Sprintf("nn: BatchNorm %s: input %v, want %d channels last", b.Gamma.Name, x.Shape, c))
	}
	if res != nil && len(res.Data) != len(x.Data) {
		panic(fmt.Sprintf("nn: BatchNorm %s: residual %v for input %v", b.Gamma.Name, res.Shape, x.Shape))
	}
	b.x, b.train, b.residual = x, train, res != nil
	rows := len(x.Data) / c
	if train {
		b.batchStats(x.Data, rows)
	} else {
		for j := 0; j < c; j++ {
			b.mean[j] = float64(b.RunningMean.Value[j])
			b.invstd[j] = 1 / math.Sqrt(float64(b.RunningVar.Value[j])+b.Eps)
		}
	}
	for j := 0; j < c; j++ {
		s := float64(b.Gamma.Value[j]) * b.invstd[j]
		b.scale[j] = float32(s)
		b.shift[j] = float32(float64(b.Beta.Value[j]) - b.mean[j]*s)
		b.meanF[j] = float32(b.mean[j])
	}
	b.y = tensor.Ensure(b.y, x.Shape...)
	b.apply = bnApplyRun{xs: x.Data, ys: b.y.Data, scale: b.scale, shift: b.shift, c: c, relu: b.ReLU}
	if res != nil {
		b.apply.rs = res.Data
	}
	parallelRun(rows, c, &b.apply)
	return b.y
}

// blockSums runs b.sums (set up by the caller, part aside) over the blocks
// of reduceBlockRows rows in parallel, each into its own zeroed float32 pair
// (s, q) of length C, and adds the block results in block order in float64
// into tot1, tot2.
func (b *BatchNorm) blockSums(rows int, tot1, tot2 []float64) {
	c := b.C
	nb := (rows + reduceBlockRows - 1) / reduceBlockRows
	b.partial32 = growF32(b.partial32, 2*nb*c)
	part := b.partial32
	b.sums.part, b.sums.rows, b.sums.c = part, rows, c
	parallelRun(nb, reduceBlockRows*c, &b.sums)
	clear(tot1)
	clear(tot2)
	for blk := 0; blk < nb; blk++ {
		s := part[2*blk*c : (2*blk+1)*c]
		q := part[(2*blk+1)*c : (2*blk+2)*c]
		for j := range tot1 {
			tot1[j] += float64(s[j])
			tot2[j] += float64(q[j])
		}
	}
}

// batchStats sets mean and invstd from the batch and updates the running
// statistics.
func (b *BatchNorm) batchStats(xs []float32, rows int) {
	c := b.C
	// The first row is the shift that keeps the sums free of cancellation.
	k := b.shiftK
	copy(k, xs[:c])
	b.sums = bnSumsRun{xs: xs, k: k}
	b.blockSums(rows, b.sum1, b.sum2)
	m := float64(rows)
	mom := b.Momentum
	for j := 0; j < c; j++ {
		d := b.sum1[j] / m // mean of x − k
		v := max(b.sum2[j]/m-d*d, 0)
		mu := float64(k[j]) + d
		b.mean[j] = mu
		b.invstd[j] = 1 / math.Sqrt(v+b.Eps)
		unbiased := v
		if rows > 1 {
			unbiased = v * m / (m - 1)
		}
		rm, rv := &b.RunningMean.Value[j], &b.RunningVar.Value[j]
		*rm = float32(mom*float64(*rm) + (1-mom)*mu)
		*rv = float32(mom*float64(*rv) + (1-mom)*unbiased)
	}
}

// Backward implements Layer.
func (b *BatchNorm) Backward(dy *tensor.Tensor) *tensor.Tensor {
	return b.backward(dy, nil)
}

// backward returns dL/dx. With ReLU set, dy is first masked by the output
// (y > 0); when gOut is not nil the masked gradient, which is also the
// gradient of a fused residual branch, is written there.
//
// With x̂ = (x − μ)·s, s = 1/√(σ²+ε), g = dL/dy, the training-mode gradient
// (through the batch statistics) is
//
//	dβ = Σg, dγ = Σ g·x̂, dx = γ·s·(g − dβ/m − x̂·dγ/m),
//
// and in evaluation mode (fixed statistics) dx = γ·s·g.
func (b *BatchNorm) backward(dy *tensor.Tensor, gOut []float32) *tensor.Tensor {
	c := b.C
	xs, ds := b.x.Data, dy.Data
	rows := len(xs) / c
	// The ReLU mask: y > 0, read from y when a residual was added, else
	// recomputed from x as ReLU(x·scale + shift) > 0, exactly as forward
	// computed y, which spares reading y in both passes.
	var ys, mScale, mShift []float32
	if b.ReLU && b.residual {
		ys = b.y.Data
	} else if b.ReLU {
		mScale, mShift = b.scale, b.shift
	}
	mu := b.meanF
	// Pass 1: Σg and Σ g·(x − μ) per channel (and g itself into gOut).
	b.sums = bnSumsRun{grad: true, xs: xs, ds: ds, ys: ys, gOut: gOut, mu: mu, scale: mScale, shift: mShift}
	b.blockSums(rows, b.sum1, b.sum2)
	m := float64(rows)
	for j := 0; j < c; j++ {
		sg, sx := b.sum1[j], b.sum2[j]
		s := b.invstd[j]
		dgamma := sx * s
		b.Beta.Grad[j] = float32(sg)
		b.Gamma.Grad[j] = float32(dgamma)
		k := float64(b.Gamma.Value[j]) * s
		b.ca[j] = float32(k)
		if b.train {
			b.cb[j] = float32(-k * s * dgamma / m)
			b.cc[j] = float32(-k * sg / m)
		} else {
			b.cb[j], b.cc[j] = 0, 0
		}
	}
	// Pass 2: dx = ca·g + cb·(x − μ) + cc, g read back from gOut when it
	// was written.
	b.dx = tensor.Ensure(b.dx, b.x.Shape...)
	src, mask := ds, ys
	if gOut != nil {
		src, mask, mScale, mShift = gOut, nil, nil, nil
	}
	b.gradApply = bnGradApplyRun{src: src, mask: mask, xs: xs, dxs: b.dx.Data, mu: mu, ca: b.ca, cb: b.cb, cc: b.cc, scale: mScale, shift: mShift, c: c}
	parallelRun(rows, c, &b.gradApply)
	return b.dx
}
