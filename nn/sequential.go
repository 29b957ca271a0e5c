package nn

import "github.com/losslab/losslab/tensor"

// Sequential applies its layers in order.
type Sequential struct {
	Layers []Layer
}

// NewSequential returns the composition of layers, first to last.
func NewSequential(layers ...Layer) *Sequential { return &Sequential{Layers: layers} }

// Forward implements Layer.
func (s *Sequential) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	for _, l := range s.Layers {
		x = l.Forward(x, train)
	}
	return x
}

// Backward implements Layer. A first layer with NoInputGrad makes it return
// nil.
func (s *Sequential) Backward(dy *tensor.Tensor) *tensor.Tensor {
	for i := len(s.Layers) - 1; i >= 0 && dy != nil; i-- {
		dy = s.Layers[i].Backward(dy)
	}
	return dy
}

// Params implements Layer.
func (s *Sequential) Params() []*Param {
	var ps []*Param
	for _, l := range s.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// SetSeed implements Seeded, passing distinct seeds to the random layers.
func (s *Sequential) SetSeed(seed uint64) {
	for i, l := range s.Layers {
		if r, ok := l.(Seeded); ok {
			r.SetSeed(splitmix64(seed, uint64(i)))
		}
	}
}
