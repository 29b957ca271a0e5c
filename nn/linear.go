package nn

import (
	"fmt"

	"github.com/losslab/losslab/tensor"
)

// Linear is a dense layer y = x·W + b with the kernel stored [in, out], so
// that the forward pass over a batch is one GEMM. An input with more than two
// axes is read as [N, in] (its trailing axes flattened), and the input
// gradient gets the input's shape back. With ReLU set the layer computes
// max(0, x·W + b) in the same pass as the bias add.
type Linear struct {
	In, Out int
	Kernel  *Param // [In, Out]
	Bias    *Param // [Out], nil without bias
	ReLU    bool
	// NoInputGrad skips the input gradient (Backward returns nil): set on a
	// model's first layer, whose input gradient nobody reads.
	NoInputGrad bool

	x, y, dx, g *tensor.Tensor
}

// NewLinear returns a dense layer with parameters "<name>.kernel" and, when
// bias is set, "<name>.bias". The kernel is He-normal, N(0, 2/in), drawn from
// seed; the bias is zero.
func NewLinear(name string, in, out int, bias bool, seed uint64) *Linear {
	l := &Linear{In: in, Out: out, Kernel: newParam(name+".kernel", Kernel, in, out)}
	initHeNormal(l.Kernel, seed)
	if bias {
		l.Bias = newParam(name+".bias", Bias, out)
	}
	return l
}

// Params implements Layer.
func (l *Linear) Params() []*Param {
	if l.Bias == nil {
		return []*Param{l.Kernel}
	}
	return []*Param{l.Kernel, l.Bias}
}

// Forward implements Layer.
func (l *Linear) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	n := x.Shape[0]
	if n*l.In != len(x.Data) {
		panic(fmt.Sprintf("nn: Linear(%d→%d) got input %v", l.In, l.Out, x.Shape))
	}
	l.x = x
	l.y = tensor.Ensure(l.y, n, l.Out)
	y := l.y.Data
	beta := float32(0)
	if l.Bias != nil {
		// Pre-filling the rows with the bias lets the GEMM add it (beta=1).
		b := l.Bias.Value
		for i := 0; i < n; i++ {
			copy(y[i*l.Out:(i+1)*l.Out], b)
		}
		beta = 1
	}
	tensor.Gemm(false, false, n, l.Out, l.In, 1, x.Data, l.In, l.Kernel.Value, l.Out, beta, y, l.Out)
	if l.ReLU {
		reluInPlace(y)
	}
	return l.y
}

// Backward implements Layer.
func (l *Linear) Backward(dy *tensor.Tensor) *tensor.Tensor {
	n := l.x.Shape[0]
	g := dy.Data
	if l.ReLU {
		l.g = tensor.Ensure(l.g, n, l.Out)
		reluMask(l.g.Data, dy.Data, l.y.Data)
		g = l.g.Data
	}
	// dW = xᵀ·g, db = Σ_rows g, dx = g·Wᵀ.
	tensor.Gemm(true, false, l.In, l.Out, n, 1, l.x.Data, l.In, g, l.Out, 0, l.Kernel.Grad, l.Out)
	if l.Bias != nil {
		db := l.Bias.Grad
		clear(db)
		for i := 0; i < n; i++ {
			row := g[i*l.Out : (i+1)*l.Out]
			db := db[:len(row)]
			for j, v := range row {
				db[j] += v
			}
		}
	}
	if l.NoInputGrad {
		return nil
	}
	l.dx = tensor.Ensure(l.dx, l.x.Shape...)
	tensor.Gemm(false, true, n, l.In, l.Out, 1, g, l.Out, l.Kernel.Value, l.Out, 0, l.dx.Data, l.In)
	return l.dx
}
