package data

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/losslab/losslab/internal/atomicfile"
	"github.com/losslab/losslab/npy"
)

// Array is an n-dimensional array read from a .npy file (NumPy's format,
// numpy.lib.format, versions 1–3), in C order. Exactly one of U8 and F64
// holds the elements: bytes stay bytes (images), every other numeric type
// becomes float64.
type Array struct {
	Shape []int
	U8    []byte
	F64   []float64
}

// Len is the number of elements.
func (a *Array) Len() int {
	if a.U8 != nil {
		return len(a.U8)
	}
	return len(a.F64)
}

// At returns element i as a float64.
func (a *Array) At(i int) float64 {
	if a.U8 != nil {
		return float64(a.U8[i])
	}
	return a.F64[i]
}

// ReadNPY parses a .npy file's bytes (package npy does the parsing); name is
// used in errors. uint8 arrays stay bytes, every other numeric type becomes
// float64.
func ReadNPY(name string, b []byte) (*Array, error) {
	a, err := npy.Read(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return fromNPY(a), nil
}

// fromNPY converts a package npy array to an Array.
func fromNPY(a *npy.Array) *Array {
	out := &Array{Shape: a.Shape}
	switch {
	case a.Uint8 != nil:
		out.U8 = a.Uint8
	case a.Float32 != nil:
		out.F64 = make([]float64, len(a.Float32))
		for i, v := range a.Float32 {
			out.F64[i] = float64(v)
		}
	case a.Float64 != nil:
		out.F64 = a.Float64
	default:
		out.F64 = make([]float64, len(a.Int))
		for i, v := range a.Int {
			out.F64[i] = float64(v)
		}
	}
	return out
}

// LoadNPY reads a .npy file.
func LoadNPY(path string) (*Array, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ReadNPY(path, b)
}

// EncodeNPYUint8 returns the .npy bytes of a uint8 array.
func EncodeNPYUint8(shape []int, data []byte) []byte {
	return encodeNPY(&npy.Array{Shape: shape, Uint8: data})
}

// EncodeNPYInt64 returns the .npy bytes of an int64 array.
func EncodeNPYInt64(shape []int, data []int) []byte {
	a := npy.FromInts(data)
	a.Shape = shape
	return encodeNPY(a)
}

func encodeNPY(a *npy.Array) []byte {
	var buf bytes.Buffer
	if err := npy.Write(&buf, a); err != nil {
		panic(err) // the callers pass data matching the shape
	}
	return buf.Bytes()
}

// ReadNPZ reads every array of a .npz file (a zip of .npy files, stored or
// deflated), keyed by name without the .npy suffix.
func ReadNPZ(path string) (map[string]*Array, error) {
	arrays, err := npy.ReadNPZ(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Array, len(arrays))
	for k, a := range arrays {
		out[k] = fromNPY(a)
	}
	return out, nil
}

// WriteNPZ writes arrays (name → .npy bytes), in the order of names, as an
// uncompressed .npz (like numpy.savez), atomically. Stored entries load
// without inflating, which matters for image caches.
func WriteNPZ(path string, arrays map[string][]byte, names []string) error {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n + ".npy", Method: zip.Store})
		if err != nil {
			return err
		}
		if _, err := w.Write(arrays[n]); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

// arrayImages converts an image array of shape [N, H, W] or [N, H, W, C]
// to bytes: uint8 as is, floats with a maximum ≤ 1 scaled by 255, other
// values rounded and clipped to [0, 255].
func arrayImages(name string, a *Array) (*RawImages, error) {
	r := &RawImages{C: 1}
	switch len(a.Shape) {
	case 3:
		r.N, r.H, r.W = a.Shape[0], a.Shape[1], a.Shape[2]
	case 4:
		r.N, r.H, r.W, r.C = a.Shape[0], a.Shape[1], a.Shape[2], a.Shape[3]
	default:
		return nil, fmt.Errorf("%s: images of shape %v; want [N, H, W] or [N, H, W, C]", name, a.Shape)
	}
	if a.U8 != nil {
		r.Pix = a.U8
		return r, nil
	}
	scale := 1.0
	if m := maxOf(a.F64); m <= 1 {
		scale = 255
	}
	r.Pix = make([]byte, len(a.F64))
	for i, v := range a.F64 {
		r.Pix[i] = quantize(v * scale / 255)
	}
	return r, nil
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// arrayLabels converts a label array of N integers (any shape with N
// elements) to ints.
func arrayLabels(name string, a *Array, n int) ([]int, error) {
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
	arrays, err := ReadNPZ(path)
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
