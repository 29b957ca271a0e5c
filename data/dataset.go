// Package data loads image-classification datasets into memory as
// normalised float32 NHWC tensors, and gathers mini-batches from them; an
// image folder too large for memory is streamed instead (OpenImageFolder),
// its batches decoded from the files on demand.
package data

import (
	"fmt"
	"slices"

	"github.com/losslab/losslab/tensor"
)

// Dataset is a labelled image set held in memory.
type Dataset struct {
	// Name identifies the dataset, e.g. "mnist".
	Name string
	// Split is "train" or "test".
	Split string
	// Images is [N, H, W, C], normalised with Norm; nil when Files is set.
	Images *tensor.Tensor
	// Files, when set, makes the dataset streamed (OpenImageFolder): its
	// examples are decoded on demand by ReadTrain and ReadEval.
	Files *ImageFiles
	// Labels holds N class indices in [0, NumClasses).
	Labels []int
	// NumClasses is the number of classes K.
	NumClasses int
	// Norm is the normalisation applied to the raw 0–255 pixels, kept so
	// that analyses (corruptions, image export) can undo it.
	Norm Normalization
}

// Normalization maps a raw pixel value p ∈ [0, 255] of channel c to
// (p/255 − Mean[c]) / Std[c]. Mean and Std have one entry per channel, or a
// single entry shared by all channels.
type Normalization struct {
	Mean []float64
	Std  []float64
}

// MNISTNormalization is the usual MNIST standardisation, using the mean and
// standard deviation of the training pixels after scaling to [0, 1]
// (0.1307, 0.3081), as in the PyTorch MNIST example.
var MNISTNormalization = Normalization{Mean: []float64{0.1307}, Std: []float64{0.3081}}

// Identity is the normalisation that only scales pixels to [0, 1].
var Identity = Normalization{Mean: []float64{0}, Std: []float64{1}}

// Validate checks that n fits images with the given number of channels.
func (n Normalization) Validate(channels int) error {
	if len(n.Mean) != len(n.Std) {
		return fmt.Errorf("normalization: %d means but %d standard deviations", len(n.Mean), len(n.Std))
	}
	if len(n.Mean) != 1 && len(n.Mean) != channels {
		return fmt.Errorf("normalization: %d means for %d channels; want 1 or %d", len(n.Mean), channels, channels)
	}
	for _, s := range n.Std {
		if !(s > 0) {
			return fmt.Errorf("normalization: standard deviation %v; want > 0", s)
		}
	}
	return nil
}

// lookup returns, per channel, the 256 normalised values of the raw pixels:
// converting through a table is exact and faster than arithmetic per pixel.
func (n Normalization) lookup(channels int) [][256]float32 {
	tables := make([][256]float32, channels)
	for c := range tables {
		m, s := n.Mean[0], n.Std[0]
		if len(n.Mean) > 1 {
			m, s = n.Mean[c], n.Std[c]
		}
		for p := range tables[c] {
			tables[c][p] = float32((float64(p)/255 - m) / s)
		}
	}
	return tables
}

// Len is the number of examples.
func (d *Dataset) Len() int { return len(d.Labels) }

// ExampleShape is the shape of one image, [H, W, C].
func (d *Dataset) ExampleShape() []int {
	if f := d.Files; f != nil {
		return []int{f.Size, f.Size, f.Channels}
	}
	return append([]int(nil), d.Images.Shape[1:]...)
}

// Head returns a dataset of the first n examples (all if n ≤ 0 or n ≥ Len),
// sharing storage with d.
func (d *Dataset) Head(n int) *Dataset {
	if n <= 0 || n >= d.Len() {
		return d
	}
	if d.Streamed() {
		return d.streamedSubset(d.Files.Paths[:n:n], d.Labels[:n:n], d.Split)
	}
	per := tensor.Numel(d.Images.Shape[1:])
	shape := append([]int{n}, d.Images.Shape[1:]...)
	h := *d
	h.Images = tensor.FromData(d.Images.Data[:n*per:n*per], shape...)
	h.Labels = d.Labels[:n:n]
	return &h
}

// ClassCounts returns the number of examples of each class.
func (d *Dataset) ClassCounts() []int {
	counts := make([]int, d.NumClasses)
	for _, y := range d.Labels {
		counts[y]++
	}
	return counts
}

// Batch is a mini-batch: images [B, H, W, C] and their labels. Its buffers are
// reused by Gather.
type Batch struct {
	X      *tensor.Tensor
	Labels []int
}

// Gather copies the examples at indices into b, reusing b's buffers when they
// are large enough, so that a training loop allocates nothing per step. It
// panics if an index is out of range (a programmer error).
func (d *Dataset) Gather(indices []int, b *Batch) {
	if d.Streamed() {
		d.streamedPanic("Gather")
	}
	per := tensor.Numel(d.Images.Shape[1:])
	b.X = ensureBatch(b.X, len(indices), d.Images.Shape[1:])
	b.Labels = b.Labels[:0]
	src, dst := d.Images.Data, b.X.Data
	for i, j := range indices {
		copy(dst[i*per:(i+1)*per], src[j*per:(j+1)*per])
		b.Labels = append(b.Labels, d.Labels[j])
	}
}

// Slice gathers the contiguous examples [lo, hi) into b (see Gather).
func (d *Dataset) Slice(lo, hi int, b *Batch) {
	if d.Streamed() {
		d.streamedPanic("Slice")
	}
	per := tensor.Numel(d.Images.Shape[1:])
	b.X = ensureBatch(b.X, hi-lo, d.Images.Shape[1:])
	copy(b.X.Data, d.Images.Data[lo*per:hi*per])
	b.Labels = append(b.Labels[:0], d.Labels[lo:hi]...)
}

// ensureBatch returns t shaped [n, example...], reusing its storage; it
// allocates only when the shape changes or the storage is too small.
func ensureBatch(t *tensor.Tensor, n int, example []int) *tensor.Tensor {
	if t != nil && len(t.Shape) == len(example)+1 && t.Shape[0] == n && slices.Equal(t.Shape[1:], example) {
		return t
	}
	return tensor.Ensure(t, append([]int{n}, example...)...)
}
