// Package npy reads and writes NumPy's .npy array files (format versions
// 1.0, 2.0 and 3.0, https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html)
// and .npz archives of them, so that features and logits exported from
// other frameworks can be analysed and losslab's can be exported. It is
// losslab's one .npy/.npz API: dataset loaders (package data), corrupted
// sets and caches use it too.
//
// Supported: C-order arrays of float32 and float64 (any number of axes) and
// of signed or unsigned integers of 1, 2, 4 or 8 bytes, little- or
// big-endian. Fortran-order arrays, booleans, complex, structured and object
// (pickled) arrays are refused with an error that says so.
package npy

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/losslab/losslab/internal/atomicfile"

	"github.com/losslab/losslab/tensor"
)

// Array is an array read from or to be written to a .npy file. Exactly one
// of Float32, Float64, Int and Uint8 holds the elements, in C (row-major)
// order, according to DType.
type Array struct {
	Shape []int
	// DType is the NumPy type string, e.g. "<f4", "<f8", "<i8", "|u1". Bytes
	// ("|u1", images) are held in Uint8, at one byte per element; integer
	// arrays of any other width in Int. When writing Int, "<i8" or "<i4"
	// select the width.
	DType   string
	Float32 []float32
	Float64 []float64
	Int     []int64
	Uint8   []byte
}

// Len is the number of elements the shape describes.
func (a *Array) Len() int { return tensor.Numel(a.Shape) }

// At returns element i (counting in the array's element order, C order for
// arrays read from .npy files) as a float64, whatever the dtype: Float32,
// Float64, Int or Uint8, the first that is non-nil. Int values beyond ±2⁵³
// are rounded to the nearest float64. It panics, like a slice index, if i
// is not in [0, number of elements held).
func (a *Array) At(i int) float64 {
	switch {
	case a.Float32 != nil:
		return float64(a.Float32[i])
	case a.Float64 != nil:
		return a.Float64[i]
	case a.Uint8 != nil:
		return float64(a.Uint8[i])
	}
	return float64(a.Int[i])
}

// FromTensor wraps a float32 tensor (not copied) as an array of dtype "<f4".
func FromTensor(t *tensor.Tensor) *Array {
	return &Array{Shape: append([]int(nil), t.Shape...), DType: "<f4", Float32: t.Data}
}

// FromInts returns a 1-D int64 array ("<i8") holding v.
func FromInts(v []int) *Array {
	a := &Array{Shape: []int{len(v)}, DType: "<i8", Int: make([]int64, len(v))}
	for i, x := range v {
		a.Int[i] = int64(x)
	}
	return a
}

// Matrix returns a 2-D float array as a float32 tensor [rows, cols]
// (float64 values are rounded; values beyond float32's range are an error).
func (a *Array) Matrix() (*tensor.Tensor, error) {
	if len(a.Shape) != 2 {
		return nil, fmt.Errorf("npy: array has shape %s, want 2-D (rows, columns)", shapeText(a.Shape))
	}
	switch {
	case a.Float32 != nil:
		return tensor.FromData(a.Float32, a.Shape...), nil
	case a.Float64 != nil:
		t := tensor.New(a.Shape...)
		for i, v := range a.Float64 {
			f := float32(v)
			if math.IsInf(float64(f), 0) && !math.IsInf(v, 0) {
				return nil, fmt.Errorf("npy: element %d = %g does not fit in float32", i, v)
			}
			t.Data[i] = f
		}
		return t, nil
	}
	return nil, fmt.Errorf("npy: array has dtype %s, want float32 (<f4) or float64 (<f8)", a.DType)
}

// Ints returns a 1-D integer array as ints.
func (a *Array) Ints() ([]int, error) {
	if len(a.Shape) != 1 {
		return nil, fmt.Errorf("npy: array has shape %s, want 1-D", shapeText(a.Shape))
	}
	if a.Uint8 != nil {
		out := make([]int, len(a.Uint8))
		for i, v := range a.Uint8 {
			out[i] = int(v)
		}
		return out, nil
	}
	if a.Int == nil {
		return nil, fmt.Errorf("npy: array has dtype %s, want an integer type such as int32 (<i4) or int64 (<i8)", a.DType)
	}
	out := make([]int, len(a.Int))
	for i, v := range a.Int {
		if int64(int(v)) != v {
			return nil, fmt.Errorf("npy: element %d = %d does not fit in int", i, v)
		}
		out[i] = int(v)
	}
	return out, nil
}

// ReadMatrix reads a 2-D float32 or float64 .npy file as a float32 tensor.
// Errors name the file.
func ReadMatrix(path string) (*tensor.Tensor, error) {
	a, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := a.Matrix()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ReadLabels reads a 1-D integer .npy file. Errors name the file.
func ReadLabels(path string) ([]int, error) {
	a, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := a.Ints()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// ReadFile reads a .npy file. Errors name the file.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	a, err := decode(bufio.NewReaderSize(f, 1<<16), size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Read reads one .npy array from r.
func Read(r io.Reader) (*Array, error) { return decode(r, -1) }

// ReadNPZ reads every array of a .npz archive (as written by numpy.savez,
// numpy.savez_compressed or WriteNPZ; members stored or deflated), keyed by
// member name without the ".npy" suffix. Errors name the file.
func ReadNPZ(path string) (map[string]*Array, error) {
	out := map[string]*Array{}
	err := eachMember(path, func(name string, r *bufio.Reader, size int64) error {
		a, err := decode(r, size)
		out[name] = a
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachMember calls fn with each .npy member of the .npz archive at path:
// its name without the suffix, a reader of its uncompressed bytes and their
// count (-1 when unknown). Errors name the file and the member.
func eachMember(path string, fn func(name string, r *bufio.Reader, size int64) error) error {
	z, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("%s: not a .npz (zip) archive: %w", path, err)
	}
	defer z.Close()
	for _, f := range z.File {
		if !strings.HasSuffix(f.Name, ".npy") {
			return fmt.Errorf("%s: member %q is not a .npy file", path, f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: member %q: %w", path, f.Name, err)
		}
		size := int64(-1)
		if f.UncompressedSize64 <= math.MaxInt64 {
			size = int64(f.UncompressedSize64)
		}
		err = fn(strings.TrimSuffix(f.Name, ".npy"), bufio.NewReader(rc), size)
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: member %q: %w", path, f.Name, err)
		}
	}
	return nil
}

var magic = []byte("\x93NUMPY")

// header is what the .npy header dictionary says.
type header struct {
	descr   string
	fortran bool
	shape   []int
}

// elemType is a parsed dtype.
type elemType struct {
	order binary.ByteOrder
	kind  byte // 'f', 'i' or 'u'
	size  int
}

// readHeader reads a .npy file's preamble and header and returns the
// header, its element type and the offset of the data from the start of the
// file; size is as for decode.
func readHeader(r io.Reader, size int64) (header, elemType, int64, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return header{}, elemType{}, 0, fmt.Errorf("npy: not a .npy file (too short for the magic string and version): %w", err)
	}
	if !bytes.Equal(pre[:6], magic) {
		return header{}, elemType{}, 0, fmt.Errorf("npy: not a .npy file (magic string %q, want \"\\x93NUMPY\")", pre[:6])
	}
	major := pre[6]
	var hlen int
	prefix := 10
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return header{}, elemType{}, 0, fmt.Errorf("npy: truncated header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return header{}, elemType{}, 0, fmt.Errorf("npy: truncated header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		prefix = 12
	default:
		return header{}, elemType{}, 0, fmt.Errorf("npy: format version %d.%d, want 1.0, 2.0 or 3.0", major, pre[7])
	}
	if size >= 0 && int64(prefix+hlen) > size {
		return header{}, elemType{}, 0, fmt.Errorf("npy: truncated header: %d bytes announced, file has %d after the prefix", hlen, size-int64(prefix))
	}
	if hlen > 1<<20 {
		return header{}, elemType{}, 0, fmt.Errorf("npy: header of %d bytes is implausibly long", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return header{}, elemType{}, 0, fmt.Errorf("npy: truncated header (%d bytes announced): %w", hlen, err)
	}
	h, err := parseHeader(string(hb))
	if err != nil {
		return header{}, elemType{}, 0, err
	}
	if h.fortran {
		return header{}, elemType{}, 0, fmt.Errorf("npy: array of shape %s is in Fortran (column-major) order, which is not supported; save np.ascontiguousarray(a) instead", shapeText(h.shape))
	}
	et, err := parseDescr(h.descr)
	if err != nil {
		return header{}, elemType{}, 0, err
	}
	return h, et, int64(prefix + hlen), nil
}

// decode reads one array; size is the total byte count of the stream when
// known (a regular file), or −1, and lets truncation be reported before any
// large allocation.
func decode(r io.Reader, size int64) (*Array, error) {
	h, et, offset, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	count := 1
	for _, d := range h.shape {
		if d < 0 || (d > 0 && count > math.MaxInt/8/d) {
			return nil, fmt.Errorf("npy: shape %s is invalid or too large", shapeText(h.shape))
		}
		count *= d
	}
	need := int64(count) * int64(et.size)
	if size >= 0 && size-offset < need {
		return nil, fmt.Errorf("npy: data truncated: shape %s of %s needs %d bytes, file has %d", shapeText(h.shape), h.descr, need, size-offset)
	}
	if et.kind == 'f' && et.size == 4 {
		// A block at a time, so that reading a large matrix needs its
		// float32s and not also a copy of its bytes.
		a := &Array{Shape: h.shape, DType: h.descr, Float32: make([]float32, count)}
		buf := make([]byte, min(need, 1<<20))
		for i := 0; i < count; {
			m := min(count-i, len(buf)/4)
			if got, err := io.ReadFull(r, buf[:4*m]); err != nil {
				return nil, fmt.Errorf("npy: data truncated: shape %s of %s needs %d bytes, got %d", shapeText(h.shape), h.descr, need, 4*i+got)
			}
			for j := range m {
				a.Float32[i+j] = math.Float32frombits(et.order.Uint32(buf[4*j:]))
			}
			i += m
		}
		return a, nil
	}
	var data []byte
	if size >= 0 {
		have := size - offset
		if have < need {
			return nil, fmt.Errorf("npy: data truncated: shape %s of %s needs %d bytes, file has %d", shapeText(h.shape), h.descr, need, have)
		}
		data = make([]byte, need)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("npy: data truncated: shape %s of %s needs %d bytes: %w", shapeText(h.shape), h.descr, need, err)
		}
	} else {
		data, err = io.ReadAll(io.LimitReader(r, need))
		if err != nil {
			return nil, fmt.Errorf("npy: reading data: %w", err)
		}
		if int64(len(data)) < need {
			return nil, fmt.Errorf("npy: data truncated: shape %s of %s needs %d bytes, got %d", shapeText(h.shape), h.descr, need, len(data))
		}
	}
	a := &Array{Shape: h.shape, DType: h.descr}
	switch {
	case et.kind == 'u' && et.size == 1:
		a.Uint8 = data
	case et.kind == 'f' && et.size == 4:
		a.Float32 = make([]float32, count)
		for i := range a.Float32 {
			a.Float32[i] = math.Float32frombits(et.order.Uint32(data[4*i:]))
		}
	case et.kind == 'f':
		a.Float64 = make([]float64, count)
		for i := range a.Float64 {
			a.Float64[i] = math.Float64frombits(et.order.Uint64(data[8*i:]))
		}
	default:
		a.Int = make([]int64, count)
		for i := range a.Int {
			v, ok := decodeInt(et, data[i*et.size:])
			if !ok {
				return nil, fmt.Errorf("npy: element %d of %s array does not fit in int64", i, h.descr)
			}
			a.Int[i] = v
		}
	}
	return a, nil
}

func decodeInt(et elemType, b []byte) (int64, bool) {
	var u uint64
	switch et.size {
	case 1:
		u = uint64(b[0])
	case 2:
		u = uint64(et.order.Uint16(b))
	case 4:
		u = uint64(et.order.Uint32(b))
	case 8:
		u = et.order.Uint64(b)
	}
	if et.kind == 'u' {
		return int64(u), u <= math.MaxInt64
	}
	shift := 64 - 8*et.size // sign-extend
	return int64(u<<shift) >> shift, true
}

// parseDescr accepts the dtypes listed in the package comment.
func parseDescr(d string) (elemType, error) {
	bad := func(why string) (elemType, error) {
		return elemType{}, fmt.Errorf("npy: dtype %q is not supported (%s); want float32, float64 or an integer type", d, why)
	}
	if len(d) < 3 {
		return bad("unrecognised")
	}
	et := elemType{kind: d[1]}
	switch d[0] {
	case '<', '|', '=':
		// '=' (native) never appears in files numpy writes; read it as
		// little-endian, the byte order of every platform losslab runs on.
		et.order = binary.LittleEndian
	case '>':
		et.order = binary.BigEndian
	default:
		return bad("unrecognised byte order")
	}
	n, err := strconv.Atoi(d[2:])
	if err != nil {
		return bad("unrecognised size")
	}
	et.size = n
	switch et.kind {
	case 'f':
		if n != 4 && n != 8 {
			return bad("only 4- and 8-byte floats")
		}
	case 'i', 'u':
		if n != 1 && n != 2 && n != 4 && n != 8 {
			return bad("integer size")
		}
	case 'b':
		return bad("boolean")
	case 'c':
		return bad("complex")
	case 'O':
		return bad("object arrays need Python's pickle")
	default:
		return bad("unrecognised kind")
	}
	return et, nil
}

// parseHeader parses the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
func parseHeader(s string) (header, error) {
	p := &dictParser{s: strings.TrimRight(s, " \n\x00")}
	var h header
	seen := map[string]bool{}
	fail := func(why string) (header, error) {
		return header{}, fmt.Errorf("npy: malformed header %q: %s", strings.TrimSpace(s), why)
	}
	if !p.eat('{') {
		return fail("want '{'")
	}
	for {
		if p.eat('}') {
			break
		}
		key, ok := p.str()
		if !ok {
			return fail("want a quoted key")
		}
		if !p.eat(':') {
			return fail("want ':' after " + key)
		}
		seen[key] = true
		switch key {
		case "descr":
			v, ok := p.str()
			if !ok {
				return fail("descr is not a string (structured dtypes are not supported)")
			}
			h.descr = v
		case "fortran_order":
			v, ok := p.boolean()
			if !ok {
				return fail("fortran_order is not True or False")
			}
			h.fortran = v
		case "shape":
			v, ok := p.tuple()
			if !ok {
				return fail("shape is not a tuple of integers")
			}
			h.shape = v
		default:
			return fail("unexpected key " + strconv.Quote(key))
		}
		if !p.eat(',') {
			if !p.eat('}') {
				return fail("want ',' or '}'")
			}
			break
		}
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return fail("missing key " + strconv.Quote(k))
		}
	}
	return h, nil
}

type dictParser struct {
	s string
	i int
}

func (p *dictParser) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *dictParser) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *dictParser) str() (string, bool) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

func (p *dictParser) boolean() (bool, bool) {
	p.skip()
	for _, w := range []struct {
		text string
		v    bool
	}{{"True", true}, {"False", false}} {
		if strings.HasPrefix(p.s[p.i:], w.text) {
			p.i += len(w.text)
			return w.v, true
		}
	}
	return false, false
}

func (p *dictParser) tuple() ([]int, bool) {
	if !p.eat('(') {
		return nil, false
	}
	shape := []int{}
	for {
		if p.eat(')') {
			return shape, true
		}
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i {
			return nil, false
		}
		d, err := strconv.Atoi(p.s[p.i:j])
		if err != nil {
			return nil, false
		}
		p.i = j
		p.eat('L') // Python 2 longs
		shape = append(shape, d)
		if !p.eat(',') {
			if !p.eat(')') {
				return nil, false
			}
			return shape, true
		}
	}
}

func shapeText(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// Write writes a as a .npy stream (format 1.0, or 2.0 for a header over
// 64 KiB). Float32 data is written as "<f4", Float64 as "<f8", and Int as
// "<i4" when DType is "<i4" (values must fit) or "<i8" otherwise.
func Write(w io.Writer, a *Array) error {
	descr, size, err := writeType(a)
	if err != nil {
		return err
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shapeText(a.Shape))
	if len(a.Shape) > 0 {
		// numpy reserves room for the first axis to grow to 21 digits, so that
		// appending rows can rewrite the header in place; match it byte for byte.
		dict += strings.Repeat(" ", max(0, 21-len(strconv.Itoa(a.Shape[0]))))
	}
	// Pad so that the data starts at a multiple of 64 bytes, as numpy does,
	// and end the header with a newline.
	version, prefix := byte(1), 10
	if len(dict)+1+prefix > math.MaxUint16 {
		version, prefix = 2, 12
	}
	total := (prefix + len(dict) + 1 + 63) / 64 * 64
	hdr := dict + strings.Repeat(" ", total-prefix-len(dict)-1) + "\n"
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(magic)
	bw.Write([]byte{version, 0})
	if version == 1 {
		binary.Write(bw, binary.LittleEndian, uint16(len(hdr)))
	} else {
		binary.Write(bw, binary.LittleEndian, uint32(len(hdr)))
	}
	bw.WriteString(hdr)
	var buf [8]byte
	switch {
	case a.Float32 != nil:
		for _, v := range a.Float32 {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			bw.Write(buf[:4])
		}
	case a.Float64 != nil:
		for _, v := range a.Float64 {
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
			bw.Write(buf[:8])
		}
	case a.Uint8 != nil:
		bw.Write(a.Uint8)
	default:
		for _, v := range a.Int {
			if size == 4 {
				binary.LittleEndian.PutUint32(buf[:], uint32(int32(v)))
			} else {
				binary.LittleEndian.PutUint64(buf[:], uint64(v))
			}
			bw.Write(buf[:size])
		}
	}
	return bw.Flush()
}

func writeType(a *Array) (descr string, size int, err error) {
	n := a.Len()
	set := 0
	for _, l := range []int{len(a.Float32), len(a.Float64), len(a.Int), len(a.Uint8)} {
		if l > 0 {
			set++
		}
	}
	if set > 1 {
		return "", 0, errors.New("npy: array holds data in more than one of Float32, Float64, Int, Uint8")
	}
	switch {
	case a.Float32 != nil || (n == 0 && a.DType == "<f4"):
		descr, size = "<f4", 4
		err = checkLen(len(a.Float32), a.Shape)
	case a.Float64 != nil || (n == 0 && a.DType == "<f8"):
		descr, size = "<f8", 8
		err = checkLen(len(a.Float64), a.Shape)
	case a.Uint8 != nil || (n == 0 && a.DType == "|u1"):
		descr, size = "|u1", 1
		err = checkLen(len(a.Uint8), a.Shape)
	case a.Int != nil || n == 0:
		descr, size = "<i8", 8
		if a.DType == "<i4" {
			descr, size = "<i4", 4
			for i, v := range a.Int {
				if int64(int32(v)) != v {
					return "", 0, fmt.Errorf("npy: element %d = %d does not fit in int32", i, v)
				}
			}
		}
		err = checkLen(len(a.Int), a.Shape)
	default:
		err = errors.New("npy: array holds no data")
	}
	return descr, size, err
}

func checkLen(n int, shape []int) error {
	if n != tensor.Numel(shape) {
		return fmt.Errorf("npy: %d elements for shape %s", n, shapeText(shape))
	}
	return nil
}

// WriteFile writes a to path atomically: to a temporary file in the same
// directory, synced, then renamed over path, so a crash never leaves a
// partial file under the final name.
func WriteFile(path string, a *Array) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Write(w, a) })
}

// WriteNPZ writes arrays[i] as member names[i]+".npy" of a .npz archive at
// path, in the order given, atomically like WriteFile. numpy.load and
// ReadNPZ read it back, keyed by names.
//
// Members are stored uncompressed (zip.Store, like numpy.savez rather than
// savez_compressed): reading them back costs no inflating, which matters
// for the large image caches written with it (e.g. the decoded image-folder
// cache of package data), and pixel arrays deflate poorly anyway.
//
// names must be non-empty, distinct and as many as arrays; every array must
// be writable by Write. On any error path is left untouched.
func WriteNPZ(path string, names []string, arrays []*Array) error {
	if len(names) != len(arrays) {
		return fmt.Errorf("writing %s: npy: %d names for %d arrays", path, len(names), len(arrays))
	}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("writing %s: npy: array %d has an empty name", path, i)
		}
		if seen[n] {
			return fmt.Errorf("writing %s: npy: name %q given twice", path, n)
		}
		seen[n] = true
		if arrays[i] == nil {
			return fmt.Errorf("writing %s: npy: array %q is nil", path, n)
		}
		if _, _, err := writeType(arrays[i]); err != nil {
			return fmt.Errorf("writing %s: array %q: %w", path, n, err)
		}
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for i, n := range names {
			mw, err := zw.CreateHeader(&zip.FileHeader{Name: n + ".npy", Method: zip.Store})
			if err != nil {
				return err
			}
			if err := Write(mw, arrays[i]); err != nil {
				return fmt.Errorf("array %q: %w", n, err)
			}
		}
		return zw.Close()
	})
}

// WriteMatrix writes a float32 tensor (any shape) to path as "<f4".
func WriteMatrix(path string, t *tensor.Tensor) error { return WriteFile(path, FromTensor(t)) }

// WriteLabels writes integer labels to path as a 1-D "<i8" array.
func WriteLabels(path string, labels []int) error { return WriteFile(path, FromInts(labels)) }

// Info is what a .npy header says about its array, read without its data.
type Info struct {
	Shape []int
	DType string
}

// Float reports whether the array holds floats (float32 or float64).
func (i Info) Float() bool {
	et, err := parseDescr(i.DType)
	return err == nil && et.kind == 'f'
}

// Integer reports whether the array holds integers of any width.
func (i Info) Integer() bool {
	et, err := parseDescr(i.DType)
	return err == nil && (et.kind == 'i' || et.kind == 'u')
}

// ShapeText is the shape as NumPy prints it, e.g. "(100, 10)".
func (i Info) ShapeText() string { return shapeText(i.Shape) }

// Stat reads a .npy file's header: the array's shape and dtype, checked
// as ReadFile checks them (including that the data is all there), without
// reading the data. Errors name the file.
func Stat(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{}, err
	}
	h, et, offset, err := readHeader(bufio.NewReader(f), st.Size())
	if err == nil {
		err = checkData(h, et, st.Size()-offset)
	}
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	return Info{Shape: h.shape, DType: h.descr}, nil
}

// StatNPZ reads the header of every array of a .npz archive, keyed as
// ReadNPZ keys them, decompressing only the headers. Errors name the file
// and the member.
func StatNPZ(path string) (map[string]Info, error) {
	out := map[string]Info{}
	err := eachMember(path, func(name string, r *bufio.Reader, size int64) error {
		h, et, offset, err := readHeader(r, size)
		if err == nil && size >= 0 {
			err = checkData(h, et, size-offset)
		}
		out[name] = Info{Shape: h.shape, DType: h.descr}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkData checks that have bytes of data hold the header's array.
func checkData(h header, et elemType, have int64) error {
	count := int64(1)
	for _, d := range h.shape {
		if d < 0 || (d > 0 && count > math.MaxInt/8/int64(d)) {
			return fmt.Errorf("npy: shape %s is invalid or too large", shapeText(h.shape))
		}
		count *= int64(d)
	}
	if need := count * int64(et.size); have < need {
		return fmt.Errorf("npy: data truncated: shape %s of %s needs %d bytes, file has %d", shapeText(h.shape), h.descr, need, have)
	}
	return nil
}

// ReadMatrixRows reads rows [from, to) of a 2-D float32 or float64 .npy
// file as a float32 tensor, seeking past the rest, so that a large matrix
// can be read in blocks of rows. Errors name the file.
func ReadMatrixRows(path string, from, to int) (*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h, et, offset, err := readHeader(bufio.NewReader(f), st.Size())
	if err == nil {
		err = checkData(h, et, st.Size()-offset)
	}
	if err == nil && (len(h.shape) != 2 || et.kind != 'f') {
		err = fmt.Errorf("npy: array has shape %s and dtype %s, want a 2-D float32 (<f4) or float64 (<f8) matrix", shapeText(h.shape), h.descr)
	}
	if err == nil && (from < 0 || to < from || to > h.shape[0]) {
		err = fmt.Errorf("npy: rows [%d, %d) asked of a matrix of %d rows", from, to, h.shape[0])
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cols := h.shape[1]
	rowBytes := int64(cols) * int64(et.size)
	data := make([]byte, int64(to-from)*rowBytes)
	if _, err := f.ReadAt(data, offset+int64(from)*rowBytes); err != nil {
		return nil, fmt.Errorf("%s: reading rows [%d, %d): %w", path, from, to, err)
	}
	t := tensor.New(to-from, cols)
	for i := range t.Data {
		if et.size == 4 {
			t.Data[i] = math.Float32frombits(et.order.Uint32(data[4*i:]))
		} else {
			t.Data[i] = float32(math.Float64frombits(et.order.Uint64(data[8*i:])))
		}
	}
	return t, nil
}
