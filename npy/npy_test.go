package npy

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// Files saved by numpy 1.24 (np.save to a BytesIO, printed with .hex()):
//
//	np.array([[1.5, -2, 0.25], [0, 3, -1e4]], dtype='<f4')
//	np.array([3, -1, 7], dtype='<i8')
const (
	numpyF4 = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000c03f000000c00000803e000000000000404000401cc6"
	numpyI8 = "934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0300000000000000ffffffffffffffff0700000000000000"
)

func unhex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadNumpyFiles(t *testing.T) {
	a, err := Read(bytes.NewReader(unhex(t, numpyF4)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Matrix()
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1.5, -2, 0.25, 0, 3, -1e4}
	if m.Shape[0] != 2 || m.Shape[1] != 3 || !equalF32(m.Data, want) {
		t.Errorf("read %v %v, want [2 3] %v", m.Shape, m.Data, want)
	}
	b, err := Read(bytes.NewReader(unhex(t, numpyI8)))
	if err != nil {
		t.Fatal(err)
	}
	labels, err := b.Ints()
	if err != nil || len(labels) != 3 || labels[0] != 3 || labels[1] != -1 || labels[2] != 7 {
		t.Errorf("read labels %v, %v; want [3 -1 7]", labels, err)
	}
}

func TestWriteMatchesNumpyBytes(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, FromTensor(tensor.FromData([]float32{1.5, -2, 0.25, 0, 3, -1e4}, 2, 3))); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(buf.Bytes()); got != numpyF4 {
		t.Errorf("float32 file differs from numpy's:\n got %s\nwant %s", got, numpyF4)
	}
	buf.Reset()
	if err := Write(&buf, FromInts([]int{3, -1, 7})); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(buf.Bytes()); got != numpyI8 {
		t.Errorf("int64 file differs from numpy's:\n got %s\nwant %s", got, numpyI8)
	}
}

// build assembles a .npy stream by hand from a header dict and raw data,
// with the given format version and no padding beyond the newline.
func build(version byte, dict string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.Write([]byte{version, 0})
	hdr := dict + "\n"
	if version == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(hdr)))
	}
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

// TestUint8StaysBytes reads a "|u1" array (version 3) as bytes, converts it
// to ints, and writes it back byte for byte.
func TestUint8StaysBytes(t *testing.T) {
	stream := build(3, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", []byte{0, 200, 255})
	a, err := Read(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Uint8, []byte{0, 200, 255}) || a.Int != nil {
		t.Fatalf("u1 array read as Uint8 %v, Int %v; want the bytes in Uint8", a.Uint8, a.Int)
	}
	if v, err := a.Ints(); err != nil || fmt.Sprint(v) != "[0 200 255]" {
		t.Errorf("Ints() = %v, %v; want [0 200 255]", v, err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, &Array{Shape: []int{3, 1}, Uint8: []byte{7, 8, 9}}); err != nil {
		t.Fatal(err)
	}
	b, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b.DType != "|u1" || !bytes.Equal(b.Uint8, []byte{7, 8, 9}) || fmt.Sprint(b.Shape) != "[3 1]" {
		t.Errorf("written u1 array reads back as %s %v %v", b.DType, b.Shape, b.Uint8)
	}
	if err := Write(&buf, &Array{Shape: []int{2}, Uint8: []byte{1}}); err == nil {
		t.Error("Write accepted 1 byte for shape [2]")
	}
}

func TestReadVariants(t *testing.T) {
	be := make([]byte, 16)
	binary.BigEndian.PutUint64(be, math.Float64bits(1))
	binary.BigEndian.PutUint64(be[8:], math.Float64bits(-2.5))
	cases := []struct {
		name   string
		stream []byte
		shape  []int
		floats []float64
		ints   []int64
	}{
		{"big-endian f8, version 2, double quotes",
			build(2, `{"descr": ">f8", "fortran_order": False, "shape": (2,)}`, be), []int{2}, []float64{1, -2.5}, nil},
		{"i2 negative",
			build(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", []byte{0xff, 0xff, 0x00, 0x80}), []int{2}, nil, []int64{-1, -32768}},
		{"i4 and key order",
			build(1, "{'shape': (1, 1), 'fortran_order': False, 'descr': '<i4'}", []byte{0xfe, 0xff, 0xff, 0xff}), []int{1, 1}, nil, []int64{-2}},
		{"empty",
			build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", nil), []int{0, 4}, []float64{}, nil},
		{"scalar",
			build(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", be[:8]), []int{}, []float64{math.Float64frombits(binary.LittleEndian.Uint64(be[:8]))}, nil},
	}
	for _, c := range cases {
		a, err := Read(bytes.NewReader(c.stream))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(a.Shape) != len(c.shape) || tensor.Numel(a.Shape) != tensor.Numel(c.shape) {
			t.Errorf("%s: shape %v, want %v", c.name, a.Shape, c.shape)
		}
		var got []float64
		switch {
		case a.Float64 != nil:
			got = a.Float64
		case a.Float32 != nil:
			for _, v := range a.Float32 {
				got = append(got, float64(v))
			}
		}
		if c.ints != nil {
			if len(a.Int) != len(c.ints) {
				t.Errorf("%s: ints %v, want %v", c.name, a.Int, c.ints)
				continue
			}
			for i := range c.ints {
				if a.Int[i] != c.ints[i] {
					t.Errorf("%s: ints %v, want %v", c.name, a.Int, c.ints)
					break
				}
			}
		} else if len(got) != len(c.floats) {
			t.Errorf("%s: floats %v, want %v", c.name, got, c.floats)
		} else {
			for i := range got {
				if got[i] != c.floats[i] {
					t.Errorf("%s: floats %v, want %v", c.name, got, c.floats)
					break
				}
			}
		}
	}
}

func TestReadErrors(t *testing.T) {
	f4 := make([]byte, 24)
	cases := []struct {
		name   string
		stream []byte
		want   string
	}{
		{"fortran", build(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f4), "Fortran"},
		{"bool", build(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", f4[:2]), "boolean"},
		{"object", build(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", f4), "not supported"},
		{"complex", build(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", f4), "complex"},
		{"float16", build(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", f4), "4- and 8-byte"},
		{"structured", build(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f4), "structured"},
		{"truncated data", build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", f4), "needs 32 bytes, got 24"},
		{"missing key", build(1, "{'descr': '<f4', 'shape': (2, 3), }", f4), "fortran_order"},
		{"extra key", build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", f4), "unexpected key"},
		{"bad shape", build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", f4), "shape"},
		{"bad magic", append([]byte("\x93NUMPZ\x01\x00"), f4...), "magic"},
		{"version", append([]byte("\x93NUMPY\x04\x00"), f4...), "version 4.0"},
		{"short", []byte("\x93NUM"), "too short"},
		{"truncated header", build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f4)[:30], "truncated header"},
	}
	for _, c := range cases {
		_, err := Read(bytes.NewReader(c.stream))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestFileRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	feat := tensor.FromData([]float32{1, 2, 3, 4, 5, float32(math.Inf(-1))}, 3, 2)
	fp := filepath.Join(dir, "features.npy")
	if err := WriteMatrix(fp, feat); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMatrix(fp)
	if err != nil || !equalF32(got.Data, feat.Data) || got.Shape[0] != 3 || got.Shape[1] != 2 {
		t.Fatalf("round trip %v %v, %v", got, feat, err)
	}
	lp := filepath.Join(dir, "labels.npy")
	if err := WriteLabels(lp, []int{4, 0, 9}); err != nil {
		t.Fatal(err)
	}
	labels, err := ReadLabels(lp)
	if err != nil || len(labels) != 3 || labels[0] != 4 || labels[2] != 9 {
		t.Fatalf("labels %v, %v", labels, err)
	}
	// float64 and int32 files round-trip and convert.
	f64 := filepath.Join(dir, "f64.npy")
	if err := WriteFile(f64, &Array{Shape: []int{1, 2}, Float64: []float64{0.1, -3}}); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadMatrix(f64); err != nil || m.Data[0] != float32(0.1) || m.Data[1] != -3 {
		t.Errorf("float64 matrix %v, %v", m, err)
	}
	i32 := filepath.Join(dir, "i32.npy")
	if err := WriteFile(i32, &Array{Shape: []int{2}, DType: "<i4", Int: []int64{-5, 1 << 30}}); err != nil {
		t.Fatal(err)
	}
	if v, err := ReadLabels(i32); err != nil || v[0] != -5 || v[1] != 1<<30 {
		t.Errorf("int32 labels %v, %v", v, err)
	}
	if st, _ := os.Stat(i32); st.Size() != 128+8 {
		t.Errorf("int32 file has %d bytes, want 136", st.Size())
	}
	if err := WriteFile(i32, &Array{Shape: []int{1}, DType: "<i4", Int: []int64{1 << 40}}); err == nil {
		t.Error("int32 overflow written")
	}
	// Nothing but the final files is left in the directory.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("directory holds %d entries, want 4 (no temporary files)", len(entries))
	}

	// Wrong dims or dtypes, and truncation of a file, name the file.
	wrong := []struct {
		err  error
		want string
	}{
		{errOf(ReadMatrix(lp)), "want 2-D"},
		{errOf(ReadLabels(fp)), "want 1-D"},
		{errOf(ReadLabels(filepath.Join(dir, "none.npy"))), "none.npy"},
	}
	vec := filepath.Join(dir, "vec.npy")
	WriteFile(vec, &Array{Shape: []int{3}, Float32: []float32{1, 2, 3}})
	wrong = append(wrong, struct {
		err  error
		want string
	}{errOf(ReadLabels(vec)), "integer"})
	raw, _ := os.ReadFile(fp)
	cut := filepath.Join(dir, "cut.npy")
	os.WriteFile(cut, raw[:len(raw)-3], 0o644)
	wrong = append(wrong, struct {
		err  error
		want string
	}{errOf(ReadMatrix(cut)), "needs 24 bytes, file has 21"})
	for _, w := range wrong {
		if w.err == nil || !strings.Contains(w.err.Error(), w.want) {
			t.Errorf("error %v, want one containing %q", w.err, w.want)
		}
	}
	if err := errOf(ReadMatrix(cut)); err == nil || !strings.Contains(err.Error(), "cut.npy") {
		t.Errorf("error %v does not name the file", err)
	}
	if err := WriteFile(filepath.Join(dir, "bad.npy"), &Array{Shape: []int{2, 2}, Float32: []float32{1}}); err == nil {
		t.Error("wrote 1 element for shape (2, 2)")
	}
}

func errOf[T any](_ T, err error) error { return err }

func TestReadNPZ(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "arrays.npz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, m := range []struct {
		name   string
		method uint16
		a      *Array
	}{
		{"logits.npy", zip.Deflate, FromTensor(tensor.FromData([]float32{1, -1, 0.5, 2}, 2, 2))},
		{"labels.npy", zip.Store, FromInts([]int{1, 0})},
	} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: m.method})
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(w, m.a); err != nil {
			t.Fatal(err)
		}
	}
	zw.Close()
	f.Close()
	arrays, err := ReadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := arrays["logits"].Matrix()
	if err != nil || !equalF32(logits.Data, []float32{1, -1, 0.5, 2}) {
		t.Errorf("logits %v, %v", logits, err)
	}
	if labels, err := arrays["labels"].Ints(); err != nil || labels[0] != 1 || labels[1] != 0 {
		t.Errorf("labels %v, %v", labels, err)
	}
	if _, err := ReadNPZ(filepath.Join(dir, "missing.npz")); err == nil {
		t.Error("missing archive read")
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(a[i] != a[i] && b[i] != b[i]) {
			return false
		}
	}
	return true
}

// TestAt reads element i as a float64 whatever the dtype, for arrays
// decoded from every kind of stream and for arrays built by hand.
func TestAt(t *testing.T) {
	i2 := []byte{0xff, 0xff, 0x00, 0x80, 0x07, 0x00}
	f4 := binary.LittleEndian.AppendUint32(nil, math.Float32bits(1.5))
	f4 = binary.LittleEndian.AppendUint32(f4, math.Float32bits(-0.25))
	f4 = binary.LittleEndian.AppendUint32(f4, math.Float32bits(float32(math.Inf(1))))
	f8 := binary.BigEndian.AppendUint64(nil, math.Float64bits(0.1))
	f8 = binary.BigEndian.AppendUint64(f8, math.Float64bits(-1e300))
	f8 = binary.BigEndian.AppendUint64(f8, math.Float64bits(2))
	u8 := binary.LittleEndian.AppendUint64(nil, 1<<53)
	u8 = binary.LittleEndian.AppendUint64(u8, 0)
	u8 = binary.LittleEndian.AppendUint64(u8, 42)
	cases := []struct {
		dtype string
		data  []byte
		want  []float64
	}{
		{"|u1", []byte{0, 200, 255}, []float64{0, 200, 255}},
		{"<u1", []byte{9, 8, 7}, []float64{9, 8, 7}},
		{"|i1", []byte{0x80, 0xff, 0x7f}, []float64{-128, -1, 127}},
		{"<i2", i2, []float64{-1, -32768, 7}},
		{"<u8", u8, []float64{1 << 53, 0, 42}},
		{"<f4", f4, []float64{1.5, -0.25, math.Inf(1)}},
		{">f8", f8, []float64{0.1, -1e300, 2}},
	}
	for _, c := range cases {
		a, err := Read(bytes.NewReader(build(1, "{'descr': '"+c.dtype+"', 'fortran_order': False, 'shape': (3,), }", c.data)))
		if err != nil {
			t.Fatalf("%s: %v", c.dtype, err)
		}
		for i, w := range c.want {
			if got := a.At(i); got != w {
				t.Errorf("%s: At(%d) = %v, want %v", c.dtype, i, got, w)
			}
		}
	}
	// Hand-built arrays, 2-D, read in C order.
	for _, a := range []*Array{
		{Shape: []int{2, 2}, Float32: []float32{1, 2, 3, 4}},
		{Shape: []int{2, 2}, Float64: []float64{1, 2, 3, 4}},
		{Shape: []int{2, 2}, Int: []int64{1, 2, 3, 4}},
		{Shape: []int{2, 2}, Uint8: []byte{1, 2, 3, 4}},
		FromTensor(tensor.FromData([]float32{1, 2, 3, 4}, 2, 2)),
	} {
		for i := range a.Len() {
			if got := a.At(i); got != float64(i+1) {
				t.Errorf("%+v: At(%d) = %v, want %d", a, i, got, i+1)
			}
		}
	}
	// Int values beyond 2⁵³ round to the nearest float64.
	if got := FromInts([]int{1<<53 + 1}).At(0); got != 1<<53 {
		t.Errorf("At of 2⁵³+1 = %v, want 2⁵³", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("At(3) of a 3-element array did not panic")
		}
	}()
	FromInts([]int{1, 2, 3}).At(3)
}

// TestFileTypesRoundTrip writes and reads back files of the dtypes the
// dataset code uses: images as bytes ("|u1"), labels as "<i8", and a
// hand-built big-endian float32 file in format 2.0.
func TestFileTypesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pix := []byte{0, 1, 2, 250, 251, 255}
	x := filepath.Join(dir, "x.npy")
	if err := WriteFile(x, &Array{Shape: []int{1, 2, 3}, DType: "|u1", Uint8: pix}); err != nil {
		t.Fatal(err)
	}
	a, err := ReadFile(x)
	if err != nil {
		t.Fatal(err)
	}
	if a.DType != "|u1" || fmt.Sprint(a.Shape) != "[1 2 3]" || !bytes.Equal(a.Uint8, pix) {
		t.Fatalf("uint8 round trip: dtype %s shape %v data %v", a.DType, a.Shape, a.Uint8)
	}
	var buf bytes.Buffer
	if err := Write(&buf, FromInts([]int{7, -2, 9})); err != nil {
		t.Fatal(err)
	}
	if (buf.Len()-3*8)%64 != 0 {
		t.Errorf("header of %d bytes is not padded to 64", buf.Len()-24)
	}
	y := filepath.Join(dir, "y.npy")
	if err := WriteLabels(y, []int{7, -2, 9}); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(y)
	if err != nil {
		t.Fatal(err)
	}
	if b.DType != "<i8" || fmt.Sprint(b.Shape) != "[3]" || b.At(0) != 7 || b.At(1) != -2 || b.At(2) != 9 {
		t.Fatalf("int64 round trip: dtype %s shape %v data %v", b.DType, b.Shape, b.Int)
	}
	body := binary.BigEndian.AppendUint32(nil, math.Float32bits(1.5))
	body = binary.BigEndian.AppendUint32(body, math.Float32bits(-0.25))
	z := filepath.Join(dir, "z.npy")
	if err := os.WriteFile(z, build(2, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ReadFile(z)
	if err != nil {
		t.Fatal(err)
	}
	if c.DType != ">f4" || c.At(0) != 1.5 || c.At(1) != -0.25 {
		t.Fatalf("big-endian float32: %s %v", c.DType, c.Float32)
	}
}

// TestReadFileErrorsNameTheFile: every way a .npy file can be bad gives an
// error naming the file and what is wrong.
func TestReadFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := Write(&buf, &Array{Shape: []int{2, 2}, Uint8: []byte{1, 2, 3, 4}}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	cases := []struct {
		file string
		data []byte
		want []string
	}{
		{"bad.npy", []byte("PK\x03\x04not numpy"), []string{"magic"}},
		{"short.npy", good[:len(good)-1], []string{"needs 4 bytes", "file has 3"}},
		{"hdr.npy", good[:20], []string{"truncated"}},
		{"f.npy", bytes.Replace(good, []byte("False"), []byte("True "), 1), []string{"Fortran"}},
		{"o.npy", bytes.Replace(good, []byte("'|u1'"), []byte("'|O1'"), 1), []string{"dtype"}},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.file)
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(path)
		if err == nil {
			t.Errorf("%s: read without error", c.file)
			continue
		}
		for _, w := range append([]string{path}, c.want...) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.file, err, w)
			}
		}
	}
	// The same stream cut short, read without a known size.
	if _, err := Read(bytes.NewReader(good[:len(good)-1])); err == nil || !strings.Contains(err.Error(), "needs 4 bytes, got 3") {
		t.Errorf("truncated stream: %v", err)
	}
}

// TestWriteNPZ writes arrays of every dtype, reads them back with ReadNPZ,
// checks that the members are stored uncompressed and in order, that
// nothing but the archive is left in the folder, and that bad arguments,
// truncated archives and corrupt members are errors naming the file.
func TestWriteNPZ(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "arrays.npz")
	names := []string{"x_train", "y_train", "feat", "probs", "small"}
	arrays := []*Array{
		{Shape: []int{2, 3, 2, 1}, DType: "|u1", Uint8: []byte{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}},
		FromInts([]int{3, -1, 7}),
		FromTensor(tensor.FromData([]float32{1.5, -2, 0.25, 0, 3, -1e4}, 2, 3)),
		{Shape: []int{2}, Float64: []float64{0.1, math.Inf(-1)}},
		{Shape: []int{2, 1}, DType: "<i4", Int: []int64{-5, 1 << 30}},
	}
	if err := WriteNPZ(path, names, arrays); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(names) {
		t.Errorf("read %d arrays, want %d", len(got), len(names))
	}
	for i, n := range names {
		a, w := got[n], arrays[i]
		if a == nil {
			t.Errorf("%s: missing", n)
			continue
		}
		wantType, _, _ := writeType(w)
		if a.DType != wantType || fmt.Sprint(a.Shape) != fmt.Sprint(w.Shape) || a.Len() != w.Len() {
			t.Errorf("%s: read %s %v, want %s %v", n, a.DType, a.Shape, wantType, w.Shape)
			continue
		}
		for j := range w.Len() {
			if a.At(j) != w.At(j) {
				t.Errorf("%s: element %d = %v, want %v", n, j, a.At(j), w.At(j))
			}
		}
	}
	if !bytes.Equal(got["x_train"].Uint8, arrays[0].Uint8) {
		t.Errorf("uint8 array read as %v", got["x_train"].Uint8)
	}
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range z.File {
		if f.Method != zip.Store {
			t.Errorf("member %s has method %d, want %d (stored)", f.Name, f.Method, zip.Store)
		}
		if i < len(names) && f.Name != names[i]+".npy" {
			t.Errorf("member %d is %s, want %s.npy", i, f.Name, names[i])
		}
		if f.CompressedSize64 != f.UncompressedSize64 {
			t.Errorf("member %s: %d bytes stored for %d", f.Name, f.CompressedSize64, f.UncompressedSize64)
		}
	}
	z.Close()

	// Bad arguments are refused before anything is written, and leave an
	// existing archive untouched.
	before, _ := os.ReadFile(path)
	for _, c := range []struct {
		names  []string
		arrays []*Array
		want   string
	}{
		{[]string{"a"}, nil, "1 names for 0 arrays"},
		{[]string{"a", "a"}, []*Array{FromInts([]int{1}), FromInts([]int{2})}, `"a" given twice`},
		{[]string{""}, []*Array{FromInts([]int{1})}, "empty name"},
		{[]string{"a"}, []*Array{nil}, "nil"},
		{[]string{"ok", "bad"}, []*Array{FromInts([]int{1}), {Shape: []int{2, 2}, Float32: []float32{1}}}, `"bad"`},
	} {
		err := WriteNPZ(path, c.names, c.arrays)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("WriteNPZ(%q): error %v, want one naming %s and containing %q", c.names, err, path, c.want)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed WriteNPZ changed the existing archive")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only arrays.npz (no temporary files)", len(entries))
	}
	// An empty archive is valid.
	empty := filepath.Join(dir, "empty.npz")
	if err := WriteNPZ(empty, nil, nil); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadNPZ(empty); err != nil || len(m) != 0 {
		t.Errorf("empty archive read as %v, %v", m, err)
	}

	// Truncated archives and corrupt members name the file.
	cut := filepath.Join(dir, "cut.npz")
	os.WriteFile(cut, before[:len(before)-40], 0o644)
	if _, err := ReadNPZ(cut); err == nil || !strings.Contains(err.Error(), cut) {
		t.Errorf("truncated archive: error %v, want one naming %s", err, cut)
	}
	bad := filepath.Join(dir, "bad.npz")
	os.WriteFile(bad, bytes.Replace(before, []byte("\x93NUMPY"), []byte("\x93NUMPZ"), 1), 0o644)
	if _, err := ReadNPZ(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `"x_train.npy"`) || !strings.Contains(err.Error(), "magic") {
		t.Errorf("corrupt member: error %v, want one naming %s, the member and the magic string", err, bad)
	}
	if _, err := ReadNPZ(filepath.Join(dir, "missing.npz")); err == nil || !strings.Contains(err.Error(), "missing.npz") {
		t.Errorf("missing archive: %v", err)
	}
}
