package data

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/losslab/losslab/internal/atomicfile"
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

var (
	npyMagic  = []byte("\x93NUMPY")
	npyDescr  = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyOrder  = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape  = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
	npyDtypes = map[string]int{ // element size by type code
		"u1": 1, "i1": 1, "b1": 1, "u2": 2, "i2": 2, "u4": 4, "i4": 4, "u8": 8, "i8": 8, "f4": 4, "f8": 8,
	}
)

// ReadNPY parses a .npy file's bytes; name is used in errors.
func ReadNPY(name string, b []byte) (*Array, error) {
	if len(b) < 10 || !bytes.Equal(b[:6], npyMagic) {
		return nil, fmt.Errorf("%s: not a .npy file (magic number \\x93NUMPY missing)", name)
	}
	major := b[6]
	var hlen, start int
	switch major {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, fmt.Errorf("%s: truncated .npy header", name)
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		return nil, fmt.Errorf("%s: .npy format version %d; want 1, 2 or 3", name, major)
	}
	if start+hlen > len(b) {
		return nil, fmt.Errorf("%s: truncated: header of %d bytes, file has %d", name, hlen, len(b)-start)
	}
	header := string(b[start : start+hlen])
	d, o, s := npyDescr.FindStringSubmatch(header), npyOrder.FindStringSubmatch(header), npyShape.FindStringSubmatch(header)
	if d == nil || o == nil || s == nil {
		return nil, fmt.Errorf("%s: malformed .npy header %q", name, header)
	}
	if o[1] == "True" {
		return nil, fmt.Errorf("%s: Fortran-ordered arrays are not supported; save with C order", name)
	}
	a := &Array{}
	n := 1
	for _, f := range strings.Split(s[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		k, err := strconv.Atoi(f)
		if err != nil || k < 0 {
			return nil, fmt.Errorf("%s: bad dimension %q in .npy shape", name, f)
		}
		a.Shape = append(a.Shape, k)
		n *= k
	}
	descr := d[1]
	order := binary.ByteOrder(binary.LittleEndian)
	switch descr[0] {
	case '>':
		order = binary.BigEndian
		descr = descr[1:]
	case '<', '|', '=':
		descr = descr[1:]
	}
	size, ok := npyDtypes[descr]
	if !ok {
		return nil, fmt.Errorf("%s: unsupported .npy dtype %q; want an integer, bool or float type", name, d[1])
	}
	body := b[start+hlen:]
	if len(body) != n*size {
		return nil, fmt.Errorf("%s: shape %v of %s needs %d bytes of data, file has %d", name, a.Shape, d[1], n*size, len(body))
	}
	if descr == "u1" {
		a.U8 = body
		return a, nil
	}
	a.F64 = make([]float64, n)
	for i := range a.F64 {
		e := body[i*size:]
		var v float64
		switch descr {
		case "i1":
			v = float64(int8(e[0]))
		case "b1":
			v = float64(e[0])
		case "u2":
			v = float64(order.Uint16(e))
		case "i2":
			v = float64(int16(order.Uint16(e)))
		case "u4":
			v = float64(order.Uint32(e))
		case "i4":
			v = float64(int32(order.Uint32(e)))
		case "u8":
			v = float64(order.Uint64(e))
		case "i8":
			v = float64(int64(order.Uint64(e)))
		case "f4":
			v = float64(math.Float32frombits(order.Uint32(e)))
		case "f8":
			v = math.Float64frombits(order.Uint64(e))
		}
		a.F64[i] = v
	}
	return a, nil
}

// LoadNPY reads a .npy file.
func LoadNPY(path string) (*Array, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ReadNPY(path, b)
}

// EncodeNPYUint8 returns the .npy (version 1.0) bytes of a uint8 array.
func EncodeNPYUint8(shape []int, data []byte) []byte {
	return encodeNPY("|u1", shape, data)
}

// EncodeNPYInt64 returns the .npy bytes of an int64 array.
func EncodeNPYInt64(shape []int, data []int) []byte {
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(int64(v)))
	}
	return encodeNPY("<i8", shape, b)
}

func encodeNPY(descr string, shape []int, body []byte) []byte {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = strconv.Itoa(s)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	// The header is padded with spaces and a newline so that the data starts
	// on a 64-byte boundary, as numpy.lib.format requires.
	pad := 64 - (10+len(header)+1)%64
	if pad == 64 {
		pad = 0
	}
	header += strings.Repeat(" ", pad) + "\n"
	out := make([]byte, 0, 10+len(header)+len(body))
	out = append(out, npyMagic...)
	out = append(out, 1, 0)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(header)))
	out = append(out, header...)
	return append(out, body...)
}

// ReadNPZ reads every array of a .npz file (a zip of .npy files, stored or
// deflated), keyed by name without the .npy suffix.
func ReadNPZ(path string) (map[string]*Array, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable .npz (zip) file: %w", path, err)
	}
	defer zr.Close()
	arrays := map[string]*Array{}
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".npy") {
			continue
		}
		if f.UncompressedSize64 > 1<<40 {
			return nil, fmt.Errorf("%s: %s claims %d bytes (corrupt archive)", path, f.Name, f.UncompressedSize64)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		b := make([]byte, f.UncompressedSize64)
		_, err = io.ReadFull(rc, b)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		a, err := ReadNPY(path+":"+f.Name, b)
		if err != nil {
			return nil, err
		}
		arrays[strings.TrimSuffix(f.Name, ".npy")] = a
	}
	return arrays, nil
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
