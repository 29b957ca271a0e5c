package nn

import (
	"fmt"

	"github.com/losslab/losslab/tensor"
)

// Named is a layer with the name under which its output is exposed.
type Named struct {
	Name  string
	Layer Layer
}

// Output is a named activation recorded by the last Forward.
type Output struct {
	Name   string
	Tensor *tensor.Tensor
}

// Seeded is implemented by layers that draw random numbers (Dropout). The
// training loop calls SetSeed before every step with a value derived from the
// run seed and the step number, so that a resumed run draws the same numbers
// as an uninterrupted one without saving generator state.
type Seeded interface {
	SetSeed(seed uint64)
}

// Model is a classifier: a body of named stages whose last output is the
// penultimate feature vector, then a head (usually a Linear layer) producing
// the logits. Objectives that change the model (penultimate dropout, a
// cosine-softmax head) replace or wrap Head.
type Model struct {
	Name       string
	InputShape []int // one example, HWC
	NumClasses int
	Body       []Named
	Head       Layer

	outputs []Output
}

// Forward runs the model on x (batch first) and returns the logits [N, K].
func (m *Model) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	m.outputs = m.outputs[:0]
	h := x
	for _, s := range m.Body {
		h = s.Layer.Forward(h, train)
		m.outputs = append(m.outputs, Output{s.Name, h})
	}
	if len(m.Body) > 0 {
		m.outputs = append(m.outputs, Output{"penultimate", h})
	}
	z := m.Head.Forward(h, train)
	m.outputs = append(m.outputs, Output{"logits", z})
	return z
}

// Backward back-propagates dL/dlogits through the model, setting every
// parameter's gradient.
func (m *Model) Backward(dlogits *tensor.Tensor) {
	g := m.Head.Backward(dlogits)
	for i := len(m.Body) - 1; i >= 0; i-- {
		g = m.Body[i].Layer.Backward(g)
	}
}

// Outputs returns the named activations of the last Forward: one per body
// stage, then "penultimate" (the body's output) and "logits". The tensors are
// the layers' buffers: copy them before the next Forward if they must be kept.
func (m *Model) Outputs() []Output { return m.outputs }

// Params lists all parameters and buffers, body first, in a fixed order.
func (m *Model) Params() []*Param {
	var ps []*Param
	for _, s := range m.Body {
		ps = append(ps, s.Layer.Params()...)
	}
	return append(ps, m.Head.Params()...)
}

// SetSeed passes a per-step seed to every layer that draws random numbers.
func (m *Model) SetSeed(seed uint64) {
	for i, s := range m.Body {
		if r, ok := s.Layer.(Seeded); ok {
			r.SetSeed(seed + uint64(i)*0x9E3779B97F4A7C15)
		}
	}
	if r, ok := m.Head.(Seeded); ok {
		r.SetSeed(seed ^ 0xD1B54A32D192ED03)
	}
}

// CheckInput returns an error if x is not a batch of this model's inputs.
func (m *Model) CheckInput(x *tensor.Tensor) error {
	if len(x.Shape) != len(m.InputShape)+1 {
		return fmt.Errorf("model %s: input shape %v, want [N %v]", m.Name, x.Shape, m.InputShape)
	}
	for i, d := range m.InputShape {
		if x.Shape[i+1] != d {
			return fmt.Errorf("model %s: input shape %v, want [N %v]", m.Name, x.Shape, m.InputShape)
		}
	}
	return nil
}
