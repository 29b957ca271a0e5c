package data

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/losslab/losslab/npy"
)

// MAT-file level 5 (MATLAB's "MAT-File Format", version 7 and earlier):
// a 128-byte header, then data elements, each an 8-byte tag (type, byte
// count) and data padded to 8 bytes, or a "small element" packing a count
// ≤ 4 and its data into the tag. A miMATRIX element holds sub-elements:
// array flags, dimensions, name, real part. miCOMPRESSED holds one zlib-
// compressed element. Only numeric, real, non-sparse matrices are read.
const (
	miINT8       = 1
	miUINT8      = 2
	miINT16      = 3
	miUINT16     = 4
	miINT32      = 5
	miUINT32     = 6
	miSINGLE     = 7
	miDOUBLE     = 9
	miINT64      = 12
	miUINT64     = 13
	miMATRIX     = 14
	miCOMPRESSED = 15
)

var miSizes = map[uint32]int{miINT8: 1, miUINT8: 1, miINT16: 2, miUINT16: 2, miINT32: 4, miUINT32: 4,
	miSINGLE: 4, miDOUBLE: 8, miINT64: 8, miUINT64: 8}

// ReadMAT reads the numeric matrices of a MAT v5 file, keyed by variable
// name. Unlike arrays read from .npy files, the elements are in
// column-major (Fortran) order as MATLAB stores them, and Shape is
// MATLAB's dimensions. Element data stored as miUINT8 stay bytes (Uint8,
// dtype "|u1"); other types become float64 (Float64, dtype "<f8").
func ReadMAT(path string) (map[string]*npy.Array, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 128 {
		return nil, fmt.Errorf("%s: truncated: %d bytes, shorter than the 128-byte MAT header", path, len(b))
	}
	var order binary.ByteOrder
	switch string(b[126:128]) {
	case "IM":
		order = binary.LittleEndian
	case "MI":
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("%s: not a MAT v5 file (endian indicator %q, want \"IM\" or \"MI\")", path, b[126:128])
	}
	if v := order.Uint16(b[124:]); v != 0x0100 {
		return nil, fmt.Errorf("%s: MAT version 0x%04x; want 0x0100 (v5; v7.3 files are HDF5, not supported)", path, v)
	}
	out := map[string]*npy.Array{}
	r := &matReader{path: path, order: order}
	if err := r.elements(b[128:], out); err != nil {
		return nil, err
	}
	return out, nil
}

type matReader struct {
	path  string
	order binary.ByteOrder
}

// tag splits the next element off b: its type, data and the rest.
func (r *matReader) tag(b []byte) (typ uint32, data, rest []byte, err error) {
	if len(b) < 8 {
		return 0, nil, nil, fmt.Errorf("%s: truncated data element tag", r.path)
	}
	first := r.order.Uint32(b)
	if n := first >> 16; n != 0 { // small data element
		if n > 4 {
			return 0, nil, nil, fmt.Errorf("%s: small data element of %d bytes; want ≤ 4", r.path, n)
		}
		return first & 0xffff, b[4 : 4+n], b[8:], nil
	}
	n := int(r.order.Uint32(b[4:]))
	if n > len(b)-8 {
		return 0, nil, nil, fmt.Errorf("%s: truncated: element of type %d promises %d bytes, %d remain", r.path, first, n, len(b)-8)
	}
	padded := n
	if first != miCOMPRESSED {
		padded = (n + 7) &^ 7
	}
	return first, b[8 : 8+n], b[min(8+padded, len(b)):], nil
}

func (r *matReader) elements(b []byte, out map[string]*npy.Array) error {
	for len(b) > 0 {
		typ, data, rest, err := r.tag(b)
		if err != nil {
			return err
		}
		b = rest
		switch typ {
		case miCOMPRESSED:
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				return fmt.Errorf("%s: bad compressed element: %w", r.path, err)
			}
			inner, err := io.ReadAll(zr)
			if err != nil {
				return fmt.Errorf("%s: bad compressed element: %w", r.path, err)
			}
			if err := r.elements(inner, out); err != nil {
				return err
			}
		case miMATRIX:
			name, a, err := r.matrix(data)
			if err != nil {
				return err
			}
			if a != nil {
				out[name] = a
			}
		}
	}
	return nil
}

// matrix parses a miMATRIX element; non-numeric classes give a nil array.
func (r *matReader) matrix(b []byte) (string, *npy.Array, error) {
	if len(b) == 0 { // empty matrix
		return "", nil, nil
	}
	typ, flags, b, err := r.tag(b)
	if err != nil {
		return "", nil, err
	}
	if typ != miUINT32 || len(flags) < 8 {
		return "", nil, fmt.Errorf("%s: matrix without array flags", r.path)
	}
	class := r.order.Uint32(flags) & 0xff
	complexFlag := r.order.Uint32(flags)&0x800 != 0
	typ, dims, b, err := r.tag(b)
	if err != nil {
		return "", nil, err
	}
	if typ != miINT32 {
		return "", nil, fmt.Errorf("%s: matrix dimensions of type %d; want miINT32", r.path, typ)
	}
	a := &npy.Array{}
	n := 1
	for i := 0; i+4 <= len(dims); i += 4 {
		d := int(int32(r.order.Uint32(dims[i:])))
		a.Shape = append(a.Shape, d)
		n *= d
	}
	_, name, b, err := r.tag(b)
	if err != nil {
		return "", nil, err
	}
	// Classes 6–15 are double, single and the integer types; cells,
	// structs, chars and sparse arrays are skipped.
	if class < 6 || class > 15 || complexFlag {
		return string(name), nil, nil
	}
	typ, real, _, err := r.tag(b)
	if err != nil {
		return "", nil, err
	}
	size, ok := miSizes[typ]
	if !ok {
		return "", nil, fmt.Errorf("%s: variable %s stored as type %d; want a numeric type", r.path, name, typ)
	}
	if len(real) != n*size {
		return "", nil, fmt.Errorf("%s: variable %s of dimensions %v needs %d bytes, has %d", r.path, name, a.Shape, n*size, len(real))
	}
	if typ == miUINT8 {
		a.DType, a.Uint8 = "|u1", real
		return string(name), a, nil
	}
	a.DType, a.Float64 = "<f8", make([]float64, n)
	for i := range a.Float64 {
		e := real[i*size:]
		switch typ {
		case miINT8:
			a.Float64[i] = float64(int8(e[0]))
		case miINT16:
			a.Float64[i] = float64(int16(r.order.Uint16(e)))
		case miUINT16:
			a.Float64[i] = float64(r.order.Uint16(e))
		case miINT32:
			a.Float64[i] = float64(int32(r.order.Uint32(e)))
		case miUINT32:
			a.Float64[i] = float64(r.order.Uint32(e))
		case miSINGLE:
			a.Float64[i] = float64(math.Float32frombits(r.order.Uint32(e)))
		case miDOUBLE:
			a.Float64[i] = math.Float64frombits(r.order.Uint64(e))
		case miINT64:
			a.Float64[i] = float64(int64(r.order.Uint64(e)))
		case miUINT64:
			a.Float64[i] = float64(r.order.Uint64(e))
		}
	}
	return string(name), a, nil
}

// SVHNNormalization is the per-channel mean and standard deviation of the
// SVHN training pixels scaled to [0, 1], as commonly quoted.
var SVHNNormalization = Normalization{Mean: []float64{0.4377, 0.4438, 0.4728}, Std: []float64{0.1980, 0.2010, 0.1970}}

// ReadSVHNMat reads an SVHN "format 2" file: X is 32×32×3×N uint8 in
// column-major order (row fastest, then column, channel, image) and y is
// N labels in 1..10, where 10 means the digit 0.
func ReadSVHNMat(path string) (*RawImages, []int, error) {
	vars, err := ReadMAT(path)
	if err != nil {
		return nil, nil, err
	}
	x, y := vars["X"], vars["y"]
	if x == nil || y == nil {
		return nil, nil, fmt.Errorf("%s: want variables X and y", path)
	}
	if len(x.Shape) != 4 || x.Shape[2] != 3 || x.Uint8 == nil {
		return nil, nil, fmt.Errorf("%s: X has dimensions %v; want uint8 H×W×3×N", path, x.Shape)
	}
	h, w, n := x.Shape[0], x.Shape[1], x.Shape[3]
	raw := &RawImages{N: n, H: h, W: w, C: 3, Pix: make([]byte, len(x.Uint8))}
	src := x.Uint8
	for i := range n {
		dst := raw.Image(i)
		for c := range 3 {
			for col := range w {
				plane := src[((i*3+c)*w+col)*h:]
				for row := range h {
					dst[(row*w+col)*3+c] = plane[row]
				}
			}
		}
	}
	if y.Len() != n {
		return nil, nil, fmt.Errorf("%s: %d labels for %d images", path, y.Len(), n)
	}
	labels := make([]int, n)
	for i := range labels {
		v := int(y.At(i))
		if v < 1 || v > 10 {
			return nil, nil, fmt.Errorf("%s: label %v of example %d; want 1..10", path, y.At(i), i)
		}
		labels[i] = v % 10
	}
	return raw, labels, nil
}

// LoadSVHN reads train_32x32.mat and test_32x32.mat from dir.
func LoadSVHN(dir string, norm Normalization) (train, test *Dataset, err error) {
	var raws [2]*RawImages
	var labels [2][]int
	for s, f := range []string{"train_32x32.mat", "test_32x32.mat"} {
		if raws[s], labels[s], err = ReadSVHNMat(filepath.Join(dir, f)); err != nil {
			return nil, nil, err
		}
	}
	if train, err = ToDataset("svhn", "train", raws[0], labels[0], 10, norm); err != nil {
		return nil, nil, err
	}
	if test, err = ToDataset("svhn", "test", raws[1], labels[1], 10, norm); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}
