// Package nn holds neural-network layers with explicit forward and backward
// passes, and the models losslab trains.
//
// Conventions: activations are NHWC float32 tensors (batch first); a layer's
// Forward keeps whatever it needs for Backward, so Backward must follow the
// Forward of the same batch. Backward overwrites (does not accumulate) the
// gradients of the layer's parameters and returns the gradient with respect
// to the layer's input. Layers reuse their output buffers between steps: a
// returned tensor is valid until the next call of the same method.
package nn

import "github.com/losslab/losslab/tensor"

// ParamKind says what role a parameter plays, which decides weight decay and
// whether the optimizer updates it.
type ParamKind int

const (
	// Kernel is a convolution or dense weight matrix (weight decay applies).
	Kernel ParamKind = iota
	// Bias is an additive bias.
	Bias
	// Scale is a BatchNorm γ.
	Scale
	// Shift is a BatchNorm β.
	Shift
	// Buffer is non-trainable state saved in checkpoints (BatchNorm running
	// statistics); it has no gradient.
	Buffer
)

func (k ParamKind) String() string {
	return [...]string{"kernel", "bias", "scale", "shift", "buffer"}[k]
}

// Param is a named parameter (or buffer) with its gradient.
type Param struct {
	Name  string // unique within a model, e.g. "block1.conv2.kernel"
	Kind  ParamKind
	Shape []int
	Value []float32
	Grad  []float32 // nil for buffers
}

// Layer is a differentiable operation.
type Layer interface {
	// Forward computes the output for input x. train selects training
	// behaviour (batch statistics in BatchNorm, dropping in Dropout).
	Forward(x *tensor.Tensor, train bool) *tensor.Tensor
	// Backward takes dL/d(output) and returns dL/d(input), setting the
	// gradients of the layer's parameters.
	Backward(dy *tensor.Tensor) *tensor.Tensor
	// Params lists the layer's parameters and buffers (nil for none).
	Params() []*Param
}
