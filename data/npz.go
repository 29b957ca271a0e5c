package data

// Datasets stored as one .npz archive (numpy.savez of x_train, y_train,
// x_test, y_test). Reading and writing .npy/.npz is package npy's; this file
// only turns its arrays into images and labels.

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/losslab/losslab/npy"
)

// arrayImages converts an image array of shape [N, H, W] or [N, H, W, C]
// to bytes: uint8 (held in a.Uint8, dtype "|u1") as is, without a copy;
// any other dtype (floats, wider integers) via a.At, with values scaled by
// 255 when their maximum is ≤ 1 and then rounded and clipped to [0, 255].
func arrayImages(name string, a *npy.Array) (*RawImages, error) {
	r := &RawImages{C: 1}
	switch len(a.Shape) {
	case 3:
		r.N, r.H, r.W = a.Shape[0], a.Shape[1], a.Shape[2]
	case 4:
		r.N, r.H, r.W, r.C = a.Shape[0], a.Shape[1], a.Shape[2], a.Shape[3]
	default:
		return nil, fmt.Errorf("%s: images of shape %v; want [N, H, W] or [N, H, W, C]", name, a.Shape)
	}
	if a.Uint8 != nil {
		r.Pix = a.Uint8
		return r, nil
	}
	n := a.Len()
	scale := 1.0
	if m := maxOf(a, n); m <= 1 {
		scale = 255
	}
	r.Pix = make([]byte, n)
	for i := range n {
		r.Pix[i] = quantize(a.At(i) * scale / 255)
	}
	return r, nil
}

// rawArray wraps r's pixels (not copied) as a uint8 ("|u1") array of shape
// [N, H, W, C], the inverse of arrayImages; the image-folder cache is
// written with it.
func rawArray(r *RawImages) *npy.Array {
	return &npy.Array{Shape: []int{r.N, r.H, r.W, r.C}, DType: "|u1", Uint8: r.Pix}
}

// maxOf is the largest of a's first n elements (−∞ for none).
func maxOf(a *npy.Array, n int) float64 {
	m := math.Inf(-1)
	for i := range n {
		m = max(m, a.At(i))
	}
	return m
}

// arrayLabels converts a label array of N integers (any shape with N
// elements) to ints.
func arrayLabels(name string, a *npy.Array, n int) ([]int, error) {
	if a.Len() != n {
		return nil, fmt.Errorf("%s: %d labels for %d images", name, a.Len(), n)
	}
	labels := make([]int, n)
	for i := range labels {
		v := a.At(i)
		if v != math.Trunc(v) || v < 0 {
			return nil, fmt.Errorf("%s: label %v of example %d is not a class index", name, v, i)
		}
		labels[i] = int(v)
	}
	return labels, nil
}

// npzKeys are the array names LoadNPZ accepts, Keras-style first.
var npzKeys = [][4]string{
	{"x_train", "y_train", "x_test", "y_test"},
	{"train_images", "train_labels", "test_images", "test_labels"},
	{"X_train", "y_train", "X_test", "y_test"},
}

// LoadNPZ loads a dataset from one .npz holding x_train, y_train, x_test
// and y_test (Keras's names; train_images/… also accepted). Images are
// uint8 or float; the number of classes is one more than the largest label.
// With a nil norm the training set's per-channel statistics are used.
func LoadNPZ(path string, norm *Normalization) (train, test *Dataset, err error) {
	arrays, err := npy.ReadNPZ(path)
	if err != nil {
		return nil, nil, err
	}
	var keys [4]string
	for _, k := range npzKeys {
		if arrays[k[0]] != nil && arrays[k[1]] != nil && arrays[k[2]] != nil && arrays[k[3]] != nil {
			keys = k
		}
	}
	if keys[0] == "" {
		have := make([]string, 0, len(arrays))
		for k := range arrays {
			have = append(have, k)
		}
		return nil, nil, fmt.Errorf("%s: want arrays x_train, y_train, x_test, y_test; have %v", path, have)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".npz")
	var raws [2]*RawImages
	var labels [2][]int
	k := 0
	for s := range 2 {
		if raws[s], err = arrayImages(path+":"+keys[2*s], arrays[keys[2*s]]); err != nil {
			return nil, nil, err
		}
		if labels[s], err = arrayLabels(path+":"+keys[2*s+1], arrays[keys[2*s+1]], raws[s].N); err != nil {
			return nil, nil, err
		}
		for _, y := range labels[s] {
			k = max(k, y+1)
		}
	}
	if raws[0].H != raws[1].H || raws[0].W != raws[1].W || raws[0].C != raws[1].C {
		return nil, nil, fmt.Errorf("%s: train images are %d×%d×%d but test images %d×%d×%d", path,
			raws[0].H, raws[0].W, raws[0].C, raws[1].H, raws[1].W, raws[1].C)
	}
	n := ChannelStats(raws[0])
	if norm != nil {
		n = *norm
	}
	if train, err = ToDataset(name, "train", raws[0], labels[0], k, n); err != nil {
		return nil, nil, err
	}
	if test, err = ToDataset(name, "test", raws[1], labels[1], k, n); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}
