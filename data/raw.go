package data

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/losslab/losslab/tensor"
)

// RawImages is a set of 8-bit images in NHWC order, the form every reader
// produces before normalisation, and the form corrupted sets are written in.
type RawImages struct {
	N, H, W, C int
	// Pix holds N·H·W·C bytes, image after image, rows top to bottom,
	// channels interleaved.
	Pix []byte
}

// Image returns the bytes of image i, sharing storage.
func (r *RawImages) Image(i int) []byte {
	per := r.H * r.W * r.C
	return r.Pix[i*per : (i+1)*per]
}

// ToDataset normalises raw with norm into a Dataset. Labels are kept as
// given; each must lie in [0, numClasses).
func ToDataset(name, split string, raw *RawImages, labels []int, numClasses int, norm Normalization) (*Dataset, error) {
	if err := norm.Validate(raw.C); err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, split, err)
	}
	if len(labels) != raw.N {
		return nil, fmt.Errorf("%s %s: %d images but %d labels", name, split, raw.N, len(labels))
	}
	for i, y := range labels {
		if y < 0 || y >= numClasses {
			return nil, fmt.Errorf("%s %s: label %d of example %d is not in [0, %d)", name, split, y, i, numClasses)
		}
	}
	images := tensor.New(raw.N, raw.H, raw.W, raw.C)
	tables := norm.lookup(raw.C)
	c := raw.C
	tensor.ParallelFor(raw.N*raw.H*raw.W, func(lo, hi int) {
		dst, src := images.Data[lo*c:hi*c], raw.Pix[lo*c:hi*c]
		if c == 1 {
			t := &tables[0]
			for i, p := range src {
				dst[i] = t[p]
			}
			return
		}
		for i, p := range src {
			dst[i] = tables[i%c][p]
		}
	})
	return &Dataset{Name: name, Split: split, Images: images, Labels: labels, NumClasses: numClasses, Norm: norm}, nil
}

// Raw recovers the 8-bit pixels of d by undoing its normalisation and
// rounding: exact for datasets built from 8-bit images.
func (d *Dataset) Raw() *RawImages {
	if d.Streamed() {
		d.streamedPanic("Raw")
	}
	s := d.Images.Shape
	r := &RawImages{N: s[0], H: s[1], W: s[2], C: s[3], Pix: make([]byte, len(d.Images.Data))}
	c := r.C
	mean, std := make([]float64, c), make([]float64, c)
	for ch := range c {
		mean[ch], std[ch] = d.Norm.Mean[0], d.Norm.Std[0]
		if len(d.Norm.Mean) > 1 {
			mean[ch], std[ch] = d.Norm.Mean[ch], d.Norm.Std[ch]
		}
	}
	tensor.ParallelFor(r.N, func(lo, hi int) {
		for i := lo * r.H * r.W * c; i < hi*r.H*r.W*c; i++ {
			ch := i % c
			r.Pix[i] = quantize(float64(d.Images.Data[i])*std[ch] + mean[ch])
		}
	})
	return r
}

// quantize maps v ∈ [0, 1] to the nearest byte, clipping outside values.
func quantize(v float64) byte {
	p := math.Round(v * 255)
	switch {
	case p <= 0 || math.IsNaN(p):
		return 0
	case p >= 255:
		return 255
	}
	return byte(p)
}

// ChannelStats returns the per-channel mean and standard deviation of raw's
// pixels scaled to [0, 1]: the normalisation that standardises raw.
func ChannelStats(raw *RawImages) Normalization {
	sum, sq := make([]float64, raw.C), make([]float64, raw.C)
	var hist [][256]int64 = make([][256]int64, raw.C)
	for i, p := range raw.Pix {
		hist[i%raw.C][p]++
	}
	n := float64(raw.N * raw.H * raw.W)
	norm := Normalization{Mean: make([]float64, raw.C), Std: make([]float64, raw.C)}
	for c := range raw.C {
		for p, k := range hist[c] {
			v := float64(p) / 255
			sum[c] += float64(k) * v
			sq[c] += float64(k) * v * v
		}
		m := sum[c] / n
		norm.Mean[c] = m
		norm.Std[c] = math.Sqrt(max(sq[c]/n-m*m, 0))
		if norm.Std[c] == 0 { // a constant channel: leave it centred, unscaled
			norm.Std[c] = 1
		}
	}
	return norm
}

// SplitValidation carves a validation set of size valSize from d with a
// seeded permutation, returning the rest as the new training set (both
// copies, in the original order of their examples). Validation is what
// temperature scaling and probe tuning use, never the test set.
// The same (d, valSize, seed) always gives the same split.
func SplitValidation(d *Dataset, valSize int, seed uint64) (train, val *Dataset, err error) {
	if valSize <= 0 || valSize >= d.Len() {
		return nil, nil, fmt.Errorf("%s: validation size %d; want in [1, %d)", d.Name, valSize, d.Len())
	}
	perm := rand.New(rand.NewPCG(seed, 0x76616c6964)).Perm(d.Len())
	inVal := make([]bool, d.Len())
	for _, i := range perm[:valSize] {
		inVal[i] = true
	}
	var trainIdx, valIdx []int
	for i, v := range inVal {
		if v {
			valIdx = append(valIdx, i)
		} else {
			trainIdx = append(trainIdx, i)
		}
	}
	return d.Subset(trainIdx, d.Split), d.Subset(valIdx, "validation"), nil
}

// Subset copies the examples at indices into a new dataset with the given
// split name.
func (d *Dataset) Subset(indices []int, split string) *Dataset {
	if d.Streamed() {
		paths, labels := make([]string, len(indices)), make([]int, len(indices))
		for i, j := range indices {
			paths[i], labels[i] = d.Files.Paths[j], d.Labels[j]
		}
		return d.streamedSubset(paths, labels, split)
	}
	var b Batch
	d.Gather(indices, &b)
	out := *d
	out.Split = split
	out.Images, out.Labels = b.X, b.Labels
	if out.Images == nil {
		out.Images = tensor.New(append([]int{0}, d.Images.Shape[1:]...)...)
	}
	return &out
}
