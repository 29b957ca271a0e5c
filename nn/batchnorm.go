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
	mean, invstd []float64 // statistics used by the last Forward
	scale, shift []float32 // y = x·scale + shift per channel
	ca, cb, cc   []float32 // backward: dx = ca·g + cb·(x − μ) + cc
	meanF        []float32
	partial      []float64
	sumG, sumGX  []float64
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
		meanF: make([]float32, c),
		sumG:  make([]float64, c), sumGX: make([]float64, c),
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
	b.x, b.train = x, train
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
	xs, ys, scale, shift, relu := x.Data, b.y.Data, b.scale, b.shift, b.ReLU
	var rs []float32
	if res != nil {
		rs = res.Data
	}
	parallelFor(rows, c, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := xs[r*c:(r+1)*c], ys[r*c:(r+1)*c]
			yr, sc, sh := yr[:len(xr)], scale[:len(xr)], shift[:len(xr)]
			switch {
			case rs != nil && relu:
				rr := rs[r*c : (r+1)*c]
				rr = rr[:len(xr)]
				for j, v := range xr {
					yr[j] = max(v*sc[j]+sh[j]+rr[j], 0)
				}
			case rs != nil:
				rr := rs[r*c : (r+1)*c]
				rr = rr[:len(xr)]
				for j, v := range xr {
					yr[j] = v*sc[j] + sh[j] + rr[j]
				}
			case relu:
				for j, v := range xr {
					yr[j] = max(v*sc[j]+sh[j], 0)
				}
			default:
				for j, v := range xr {
					yr[j] = v*sc[j] + sh[j]
				}
			}
		}
	})
	return b.y
}

// batchStats sets mean and invstd from the batch and updates the running
// statistics.
func (b *BatchNorm) batchStats(xs []float32, rows int) {
	c := b.C
	nb := (rows + reduceBlockRows - 1) / reduceBlockRows
	b.partial = growF64(b.partial, 2*nb*c)
	partial := b.partial
	parallelFor(nb, reduceBlockRows*c, func(lo, hi int) {
		for blk := lo; blk < hi; blk++ {
			s := partial[2*blk*c : (2*blk+1)*c]
			q := partial[(2*blk+1)*c : (2*blk+2)*c]
			clear(s)
			clear(q)
			r1 := min((blk+1)*reduceBlockRows, rows)
			for r := blk * reduceBlockRows; r < r1; r++ {
				xr := xs[r*c : (r+1)*c]
				s, q := s[:len(xr)], q[:len(xr)]
				for j, v := range xr {
					f := float64(v)
					s[j] += f
					q[j] += f * f
				}
			}
		}
	})
	m := float64(rows)
	mom := b.Momentum
	for j := 0; j < c; j++ {
		var s, q float64
		for blk := 0; blk < nb; blk++ {
			s += partial[2*blk*c+j]
			q += partial[(2*blk+1)*c+j]
		}
		mu := s / m
		v := max(q/m-mu*mu, 0)
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
	xs, ys, ds := b.x.Data, b.y.Data, dy.Data
	rows := len(xs) / c
	relu := b.ReLU
	meanF := b.meanF
	nb := (rows + reduceBlockRows - 1) / reduceBlockRows
	b.partial = growF64(b.partial, 2*nb*c)
	partial := b.partial
	// Pass 1: Σg and Σ g·(x − μ) per channel, per block of rows.
	parallelFor(nb, reduceBlockRows*c, func(lo, hi int) {
		for blk := lo; blk < hi; blk++ {
			sg := partial[2*blk*c : (2*blk+1)*c]
			sx := partial[(2*blk+1)*c : (2*blk+2)*c]
			clear(sg)
			clear(sx)
			r1 := min((blk+1)*reduceBlockRows, rows)
			for r := blk * reduceBlockRows; r < r1; r++ {
				xr := xs[r*c : (r+1)*c]
				dr := ds[r*c : (r+1)*c]
				dr, sg, sx, mu := dr[:len(xr)], sg[:len(xr)], sx[:len(xr)], meanF[:len(xr)]
				if relu {
					yr := ys[r*c : (r+1)*c]
					yr = yr[:len(xr)]
					var gr []float32
					if gOut != nil {
						gr = gOut[r*c : (r+1)*c]
						gr = gr[:len(xr)]
					}
					for j, v := range xr {
						g := float32(0)
						if yr[j] > 0 {
							g = dr[j]
						}
						if gr != nil {
							gr[j] = g
						}
						sg[j] += float64(g)
						sx[j] += float64(g * (v - mu[j]))
					}
				} else {
					for j, v := range xr {
						g := dr[j]
						sg[j] += float64(g)
						sx[j] += float64(g * (v - mu[j]))
					}
				}
			}
		}
	})
	m := float64(rows)
	for j := 0; j < c; j++ {
		var sg, sx float64
		for blk := 0; blk < nb; blk++ {
			sg += partial[2*blk*c+j]
			sx += partial[(2*blk+1)*c+j]
		}
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
	// Pass 2: dx = ca·g + cb·(x − μ) + cc.
	b.dx = tensor.Ensure(b.dx, b.x.Shape...)
	dxs, ca, cb, cc := b.dx.Data, b.ca, b.cb, b.cc
	parallelFor(rows, c, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := xs[r*c : (r+1)*c]
			dr := ds[r*c : (r+1)*c]
			or := dxs[r*c : (r+1)*c]
			dr, or, mu, ca, cb, cc := dr[:len(xr)], or[:len(xr)], meanF[:len(xr)], ca[:len(xr)], cb[:len(xr)], cc[:len(xr)]
			if relu {
				yr := ys[r*c : (r+1)*c]
				yr = yr[:len(xr)]
				for j, v := range xr {
					g := float32(0)
					if yr[j] > 0 {
						g = dr[j]
					}
					or[j] = ca[j]*g + cb[j]*(v-mu[j]) + cc[j]
				}
			} else {
				for j, v := range xr {
					or[j] = ca[j]*dr[j] + cb[j]*(v-mu[j]) + cc[j]
				}
			}
		}
	})
	return b.dx
}
