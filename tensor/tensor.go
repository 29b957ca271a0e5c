// Package tensor holds dense float32 arrays and the compute kernels that
// training needs: a packed, cache-blocked SGEMM with assembly micro-kernels,
// and a fixed worker pool that splits work statically so that results do not
// depend on timing.
//
// Images are stored NHWC (batch, height, width, channels): a 1×1 convolution
// is then a plain GEMM and im2col rows are contiguous.
package tensor

import (
	"fmt"
	"slices"
)

// Tensor is a dense float32 array in row-major (C) order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zeroed tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Numel(shape))}
}

// FromData wraps data (not copied) in a tensor of the given shape. It panics if
// the sizes disagree (a programmer error).
func FromData(data []float32, shape ...int) *Tensor {
	if Numel(shape) != len(data) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// Numel is the number of elements of a shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len is the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Dim returns the size of axis i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Reshape returns a tensor sharing t's data with a new shape of the same size.
func (t *Tensor) Reshape(shape ...int) *Tensor { return FromData(t.Data, shape...) }

// Ensure returns t if it already has the given shape, else a new zeroed tensor
// of that shape reusing t's storage when it is large enough. Layers use it to
// keep their output buffers across steps so that the training loop allocates
// nothing. The contents are unspecified.
func Ensure(t *Tensor, shape ...int) *Tensor {
	n := Numel(shape)
	if t == nil {
		return New(shape...)
	}
	if cap(t.Data) < n {
		return New(shape...)
	}
	if !slices.Equal(t.Shape, shape) {
		t.Shape = append(t.Shape[:0], shape...)
	}
	t.Data = t.Data[:n]
	return t
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.Data) }
