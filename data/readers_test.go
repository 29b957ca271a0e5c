package data

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	goimage "image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/npy"
)

func requireErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func putFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// npzFixture writes, with npy.WriteNPZ, a Keras-style .npz of n train and
// m test h×w×c images whose pixel j of image i is (3i + j) mod 256, with
// labels i mod k ("<i8"). dtype is the images' type: "|u1" holds the bytes;
// "<f4" and "<f8" hold them divided by 255 (floats in [0, 1]); "<i8" holds
// them as integers (maximum > 1, so not scaled).
func npzFixture(t *testing.T, path string, n, m, h, w, c, k int, dtype string) {
	t.Helper()
	images := func(n int) []byte {
		b := make([]byte, n*h*w*c)
		for i := range n {
			for j := range h * w * c {
				b[i*h*w*c+j] = byte(3*i + j)
			}
		}
		return b
	}
	labels := func(n int) *npy.Array {
		y := make([]int, n)
		for i := range y {
			y[i] = i % k
		}
		return npy.FromInts(y)
	}
	shape := func(n int) []int {
		if c == 1 {
			return []int{n, h, w}
		}
		return []int{n, h, w, c}
	}
	enc := func(n int) *npy.Array {
		a := &npy.Array{Shape: shape(n), DType: dtype}
		for _, p := range images(n) {
			switch dtype {
			case "|u1":
				a.Uint8 = append(a.Uint8, p)
			case "<f4":
				a.Float32 = append(a.Float32, float32(p)/255)
			case "<f8":
				a.Float64 = append(a.Float64, float64(p)/255)
			case "<i8":
				a.Int = append(a.Int, int64(p))
			default:
				t.Fatalf("npzFixture: dtype %q", dtype)
			}
		}
		return a
	}
	err := npy.WriteNPZ(path, []string{"x_train", "y_train", "x_test", "y_test"},
		[]*npy.Array{enc(n), labels(n), enc(m), labels(m)})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadNPZ(t *testing.T) {
	for _, dtype := range []string{"|u1", "<f8", "<f4", "<i8"} {
		path := filepath.Join(t.TempDir(), "toy.npz")
		npzFixture(t, path, 6, 4, 3, 2, 3, 3, dtype)
		// The fixture reads back with npy.ReadNPZ in the dtypes written,
		// from members stored uncompressed.
		arrays, err := npy.ReadNPZ(path)
		if err != nil {
			t.Fatal(err)
		}
		if a := arrays["x_train"]; a == nil || a.DType != dtype || !slices.Equal(a.Shape, []int{6, 3, 2, 3}) {
			t.Fatalf("%s: x_train read back as %+v", dtype, a)
		}
		if a := arrays["y_test"]; a == nil || a.DType != "<i8" || a.Len() != 4 {
			t.Fatalf("%s: y_test read back as %+v", dtype, a)
		}
		z, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range z.File {
			if f.Method != zip.Store {
				t.Errorf("%s: member %s has method %d, want stored", dtype, f.Name, f.Method)
			}
		}
		z.Close()
		train, test, err := LoadNPZ(path, &Identity)
		if err != nil {
			t.Fatal(err)
		}
		if train.Len() != 6 || test.Len() != 4 || train.NumClasses != 3 || !slices.Equal(train.ExampleShape(), []int{3, 2, 3}) {
			t.Fatalf("%s: train %d test %d classes %d shape %v", dtype, train.Len(), test.Len(), train.NumClasses, train.ExampleShape())
		}
		if want := float32(byte(3*5+7)) / 255; train.Images.Data[5*18+7] != want {
			t.Errorf("%s: pixel 7 of image 5 = %v, want %v", dtype, train.Images.Data[5*18+7], want)
		}
		// Every pixel survives the dtype exactly.
		raw := train.Raw()
		for i := range 6 {
			for j, p := range raw.Image(i) {
				if want := byte(3*i + j); p != want {
					t.Fatalf("%s: image %d byte %d = %d, want %d", dtype, i, j, p, want)
				}
			}
		}
		if test.Labels[2] != 2 || train.Labels[4] != 1 {
			t.Errorf("labels %v %v", train.Labels, test.Labels)
		}
		if train.Name != "toy" {
			t.Errorf("name %q, want toy", train.Name)
		}
	}
	// Missing arrays and bad files name the file.
	path := filepath.Join(t.TempDir(), "partial.npz")
	if err := npy.WriteNPZ(path, []string{"x_train"}, []*npy.Array{{Shape: []int{1, 1, 1}, DType: "|u1", Uint8: []byte{0}}}); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadNPZ(path, nil)
	requireErr(t, err, "partial.npz", "x_train, y_train, x_test, y_test")
	junk := putFile(t, filepath.Join(t.TempDir(), "junk.npz"), []byte("not a zip"))
	_, _, err = LoadNPZ(junk, nil)
	requireErr(t, err, "junk.npz", "zip")
	good := filepath.Join(t.TempDir(), "good.npz")
	npzFixture(t, good, 2, 1, 2, 2, 1, 2, "|u1")
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cut := putFile(t, filepath.Join(t.TempDir(), "cut.npz"), b[:len(b)-30])
	_, _, err = LoadNPZ(cut, nil)
	requireErr(t, err, "cut.npz", "zip")
	corrupt := putFile(t, filepath.Join(t.TempDir(), "corrupt.npz"), bytes.Replace(b, []byte("'|u1'"), []byte("'|O1'"), 1))
	_, _, err = LoadNPZ(corrupt, nil)
	requireErr(t, err, "corrupt.npz", "x_train.npy", "dtype")
	// Mismatched counts.
	mism := filepath.Join(t.TempDir(), "mism.npz")
	err = npy.WriteNPZ(mism, []string{"x_train", "y_train", "x_test", "y_test"}, []*npy.Array{
		{Shape: []int{2, 1, 1}, DType: "|u1", Uint8: []byte{0, 1}}, npy.FromInts([]int{0, 1, 0}),
		{Shape: []int{1, 1, 1}, DType: "|u1", Uint8: []byte{0}}, npy.FromInts([]int{0}),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadNPZ(mism, nil)
	requireErr(t, err, "mism.npz:y_train", "3 labels for 2 images")
}

// cifarRecords builds n CIFAR records: labelBytes label bytes (byte b of
// record i is i+b mod 10), then planes where channel c of pixel p is
// (i + 5c + p) mod 256.
func cifarRecords(n, labelBytes int) []byte {
	var b []byte
	for i := range n {
		for l := range labelBytes {
			b = append(b, byte((i+l)%10))
		}
		for c := range 3 {
			for p := range cifarPlane {
				b = append(b, byte(i+5*c+p))
			}
		}
	}
	return b
}

func TestReadCIFARBin(t *testing.T) {
	dir := t.TempDir()
	f1 := putFile(t, filepath.Join(dir, "a.bin"), cifarRecords(3, 2))
	f2 := putFile(t, filepath.Join(dir, "b.bin"), cifarRecords(2, 2))
	raw, labels, err := ReadCIFARBin([]string{f1, f2}, 2, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if raw.N != 5 || raw.C != 3 || raw.H != 32 {
		t.Fatalf("shape %d×%d×%d×%d", raw.N, raw.H, raw.W, raw.C)
	}
	if !slices.Equal(labels, []int{1, 2, 3, 1, 2}) { // fine label = byte 1
		t.Errorf("fine labels %v", labels)
	}
	// Image 4 is record 1 of b.bin: channel c of pixel p is 1 + 5c + p.
	img := raw.Image(4)
	for _, p := range []int{0, 33, 1023} {
		for c := range 3 {
			if got, want := img[3*p+c], byte(1+5*c+p); got != want {
				t.Errorf("pixel %d channel %d = %d, want %d", p, c, got, want)
			}
		}
	}
	_, coarse, err := ReadCIFARBin([]string{f1}, 2, 0, 20)
	if err != nil || !slices.Equal(coarse, []int{0, 1, 2}) {
		t.Errorf("coarse labels %v, %v", coarse, err)
	}
	trunc := putFile(t, filepath.Join(dir, "trunc.bin"), cifarRecords(2, 1)[:5000])
	_, _, err = ReadCIFARBin([]string{trunc}, 1, 0, 10)
	requireErr(t, err, "trunc.bin", "3073-byte")
	bad := cifarRecords(1, 1)
	bad[0] = 12
	badf := putFile(t, filepath.Join(dir, "badlabel.bin"), bad)
	_, _, err = ReadCIFARBin([]string{badf}, 1, 0, 10)
	requireErr(t, err, "badlabel.bin", "label 12")
	_, _, err = ReadCIFARBin([]string{filepath.Join(dir, "missing.bin")}, 1, 0, 10)
	requireErr(t, err, "missing.bin")

	// LoadCIFAR10 over the six files.
	c10 := t.TempDir()
	for i := 1; i <= 5; i++ {
		putFile(t, filepath.Join(c10, "data_batch_"+string(rune('0'+i))+".bin"), cifarRecords(2, 1))
	}
	putFile(t, filepath.Join(c10, "test_batch.bin"), cifarRecords(3, 1))
	train, test, err := LoadCIFAR10(c10, CIFAR10Normalization)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 10 || test.Len() != 3 || train.NumClasses != 10 {
		t.Fatalf("cifar10 fixture: %d/%d", train.Len(), test.Len())
	}
	// Normalised channel 2 of pixel 0 of test image 2: raw 2+10 = 12.
	want := float32((12.0/255 - 0.4465) / 0.2616)
	if got := test.Images.Data[2*3072+2]; math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("normalised pixel %v, want %v", got, want)
	}
	raw2 := test.Raw()
	if raw2.Image(2)[2] != 12 {
		t.Errorf("Raw() undid normalisation to %d, want 12", raw2.Image(2)[2])
	}
}

// matElement encodes one MAT v5 data element (tag, data, padding).
func matElement(typ uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// matMatrix encodes a numeric matrix: class (6 double, 9 uint8), dims, name,
// and the real part already encoded as (type, bytes). Short names use the
// small element format.
func matMatrix(name string, class uint32, dims []int, typ uint32, real []byte) []byte {
	flags := binary.LittleEndian.AppendUint32(nil, class)
	flags = binary.LittleEndian.AppendUint32(flags, 0)
	var d []byte
	for _, v := range dims {
		d = binary.LittleEndian.AppendUint32(d, uint32(v))
	}
	body := matElement(miUINT32, flags)
	body = append(body, matElement(miINT32, d)...)
	small := binary.LittleEndian.AppendUint32(nil, uint32(len(name))<<16|miINT8)
	small = append(small, []byte(name + "\x00\x00\x00\x00")[:4]...)
	body = append(body, small...)
	body = append(body, matElement(typ, real)...)
	return matElement(miMATRIX, body)
}

// svhnFixture writes a MAT v5 file with X (h×w×3×n uint8, column-major,
// value of (row r, col c, channel k, image i) = r + 2c + 50k + 7i) and y
// (n doubles: 10, 1, 2, …).
func svhnFixture(t *testing.T, path string, h, w, n int, compress bool) {
	t.Helper()
	x := make([]byte, h*w*3*n)
	for i := range n {
		for k := range 3 {
			for c := range w {
				for r := range h {
					x[r+h*(c+w*(k+3*i))] = byte(r + 2*c + 50*k + 7*i)
				}
			}
		}
	}
	var y []byte
	for i := range n {
		v := float64(i % 10)
		if v == 0 {
			v = 10
		}
		y = binary.LittleEndian.AppendUint64(y, math.Float64bits(v))
	}
	header := make([]byte, 128)
	copy(header, "MATLAB 5.0 MAT-file, written by the losslab test")
	for i := 48; i < 116; i++ {
		header[i] = ' '
	}
	binary.LittleEndian.PutUint16(header[124:], 0x0100)
	copy(header[126:], "IM")
	xs := matMatrix("X", 9, []int{h, w, 3, n}, miUINT8, x)
	ys := matMatrix("y", 6, []int{n, 1}, miDOUBLE, y)
	out := header
	for _, el := range [][]byte{xs, ys} {
		if compress {
			var buf bytes.Buffer
			zw := zlib.NewWriter(&buf)
			zw.Write(el)
			zw.Close()
			c := binary.LittleEndian.AppendUint32(nil, miCOMPRESSED)
			c = binary.LittleEndian.AppendUint32(c, uint32(buf.Len()))
			el = append(c, buf.Bytes()...)
		}
		out = append(out, el...)
	}
	putFile(t, path, out)
}

func TestReadSVHNMat(t *testing.T) {
	for _, compress := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "train_32x32.mat")
		h, w, n := 4, 5, 12
		svhnFixture(t, path, h, w, n, compress)
		raw, labels, err := ReadSVHNMat(path)
		if err != nil {
			t.Fatalf("compress=%v: %v", compress, err)
		}
		if raw.N != n || raw.H != h || raw.W != w || raw.C != 3 {
			t.Fatalf("shape %d×%d×%d×%d", raw.N, raw.H, raw.W, raw.C)
		}
		for i := range n {
			want := i % 10 // 10 means digit 0
			if labels[i] != want {
				t.Errorf("label %d = %d, want %d", i, labels[i], want)
			}
			img := raw.Image(i)
			for _, rc := range [][3]int{{0, 0, 0}, {3, 4, 2}, {1, 2, 1}} {
				r, c, k := rc[0], rc[1], rc[2]
				if got, want := img[(r*w+c)*3+k], byte(r+2*c+50*k+7*i); got != want {
					t.Errorf("compress=%v image %d (r%d c%d k%d) = %d, want %d", compress, i, r, c, k, got, want)
				}
			}
		}
	}
	dir := t.TempDir()
	svhnFixture(t, filepath.Join(dir, "ok.mat"), 2, 2, 3, false)
	// ReadMAT gives npy arrays: miUINT8 as bytes, miDOUBLE as float64, in
	// MATLAB's column-major order with MATLAB's dimensions.
	vars, err := ReadMAT(filepath.Join(dir, "ok.mat"))
	if err != nil {
		t.Fatal(err)
	}
	x, y := vars["X"], vars["y"]
	if x == nil || x.DType != "|u1" || !slices.Equal(x.Shape, []int{2, 2, 3, 3}) || len(x.Uint8) != 36 || x.Float64 != nil {
		t.Fatalf("X read as %+v", x)
	}
	// Element r + h(c + w(k + 3i)) is r + 2c + 50k + 7i: row 1; column 1;
	// channel 1; image 1, channel 0, row 0, column 1.
	if x.Uint8[1] != 1 || x.Uint8[2] != 2 || x.Uint8[4] != 50 || x.At(2*(1+2*3)) != 2+7 {
		t.Errorf("X elements %v", x.Uint8[:15])
	}
	if y == nil || y.DType != "<f8" || !slices.Equal(y.Shape, []int{3, 1}) || !slices.Equal(y.Float64, []float64{10, 1, 2}) || y.At(1) != 1 {
		t.Fatalf("y read as %+v", y)
	}
	good, _ := os.ReadFile(filepath.Join(dir, "ok.mat"))
	_, err = ReadMAT(putFile(t, filepath.Join(dir, "short.mat"), good[:100]))
	requireErr(t, err, "short.mat", "128-byte")
	bad := slices.Clone(good)
	copy(bad[126:], "XX")
	_, err = ReadMAT(putFile(t, filepath.Join(dir, "endian.mat"), bad))
	requireErr(t, err, "endian.mat", "not a MAT v5")
	_, err = ReadMAT(putFile(t, filepath.Join(dir, "trunc.mat"), good[:len(good)-30]))
	requireErr(t, err, "trunc.mat", "truncated")
	_, _, err = ReadSVHNMat(putFile(t, filepath.Join(dir, "hdronly.mat"), good[:128]))
	requireErr(t, err, "hdronly.mat", "want variables X and y")
}

// folderFixture writes root/<split>/<class>/ images: class "b" gets PNGs
// of 6×4 (w×h), class "a" JPEGs of 8×8, all of solid colours.
func folderFixture(t *testing.T, root string) {
	t.Helper()
	for _, split := range []string{"train", "test"} {
		for i := range 3 {
			img := goimage.NewRGBA(goimage.Rect(0, 0, 6, 4))
			for j := range img.Pix {
				img.Pix[j] = byte(40*i + 10)
				if j%4 == 3 {
					img.Pix[j] = 255
				}
			}
			var buf bytes.Buffer
			png.Encode(&buf, img)
			putFile(t, filepath.Join(root, split, "b", string(rune('0'+i))+".png"), buf.Bytes())
			g := goimage.NewGray(goimage.Rect(0, 0, 8, 8))
			for j := range g.Pix {
				g.Pix[j] = 200
			}
			buf.Reset()
			jpeg.Encode(&buf, g, &jpeg.Options{Quality: 95})
			putFile(t, filepath.Join(root, split, "a", string(rune('0'+i))+".jpg"), buf.Bytes())
		}
		putFile(t, filepath.Join(root, split, "a", "notes.txt"), []byte("ignored"))
	}
}

func TestImageFolder(t *testing.T) {
	t.Setenv(CacheDirEnv, t.TempDir())
	root := t.TempDir()
	folderFixture(t, root)
	raw, labels, classes, err := ReadImageFolder(filepath.Join(root, "train"), FolderOptions{Size: 5, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(classes, []string{"a", "b"}) || !slices.Equal(labels, []int{0, 0, 0, 1, 1, 1}) {
		t.Fatalf("classes %v labels %v", classes, labels)
	}
	if raw.N != 6 || raw.H != 5 || raw.W != 5 || raw.C != 3 {
		t.Fatalf("shape %d×%d×%d×%d", raw.N, raw.H, raw.W, raw.C)
	}
	// Solid images stay solid through resizing; JPEG of a flat grey is
	// exact or within 1.
	for j, p := range raw.Image(4) {
		if p != 50 {
			t.Fatalf("resized solid PNG: byte %d = %d, want 50", j, p)
		}
	}
	for _, p := range raw.Image(0) {
		if p < 199 || p > 201 {
			t.Fatalf("grey JPEG as RGB: %d, want 200±1", p)
		}
	}
	train, test, err := LoadImageFolder(root, FolderOptions{Size: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 6 || test.Len() != 6 || train.NumClasses != 2 || !slices.Equal(train.ExampleShape(), []int{4, 4, 1}) {
		t.Fatalf("folder dataset: %d %d %d %v", train.Len(), test.Len(), train.NumClasses, train.ExampleShape())
	}
	// The examples come mixed (the folder lists them class by class), in
	// the same order on every load, each image with its own label.
	if slices.Equal(train.Labels, []int{0, 0, 0, 1, 1, 1}) || slices.Equal(test.Labels, []int{0, 0, 0, 1, 1, 1}) {
		t.Errorf("folder dataset keeps the class-by-class order: train %v, test %v", train.Labels, test.Labels)
	}
	per := 16
	for i, y := range train.Labels {
		// Class a is the grey JPEG (bright), class b the dark PNG.
		if bright := train.Images.Data[i*per] > 0; bright != (y == 0) {
			t.Errorf("train example %d has label %d but the image of the other class", i, y)
		}
	}
	if got := slices.Sorted(slices.Values(train.Labels)); !slices.Equal(got, []int{0, 0, 0, 1, 1, 1}) {
		t.Errorf("train labels %v; want three of each class", train.Labels)
	}
	// The second load comes from the decoded cache and must agree.
	entries, _ := os.ReadDir(filepath.Join(os.Getenv(CacheDirEnv), "decoded"))
	if len(entries) != 1 {
		t.Fatalf("decoded cache holds %d files, want 1", len(entries))
	}
	train2, _, err := LoadImageFolder(root, FolderOptions{Size: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(train.Images.Data, train2.Images.Data) || !slices.Equal(train.Labels, train2.Labels) {
		t.Error("cached load differs from the decoded one")
	}
	// The cache is a plain .npz of stored (uncompressed) uint8 arrays
	// x_train and x_test of shape [N, H, W, C].
	cacheFile := filepath.Join(os.Getenv(CacheDirEnv), "decoded", entries[0].Name())
	cached, err := npy.ReadNPZ(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"x_train", "x_test"} {
		if a := cached[k]; a == nil || a.DType != "|u1" || !slices.Equal(a.Shape, []int{6, 4, 4, 1}) {
			t.Fatalf("cache array %s: %+v", k, a)
		}
	}
	if !bytes.Equal(cached["x_train"].Uint8, train.Raw().Pix) {
		t.Error("cached x_train differs from the decoded images")
	}
	z, err := zip.OpenReader(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range z.File {
		if f.Method != zip.Store {
			t.Errorf("cache member %s has method %d, want stored", f.Name, f.Method)
		}
	}
	z.Close()
	// A cache written by earlier versions (a zip of stored .npy members
	// built by hand, here with pixels 77 and 78 to tell it from a fresh
	// decode) is used as it is.
	var old bytes.Buffer
	zw := zip.NewWriter(&old)
	for _, m := range []struct {
		name string
		pix  byte
	}{{"x_train", 77}, {"x_test", 78}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name + ".npy", Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if err := npy.Write(w, &npy.Array{Shape: []int{6, 4, 4, 1}, Uint8: bytes.Repeat([]byte{m.pix}, 6*16)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	putFile(t, cacheFile, old.Bytes())
	train3, test3, err := LoadImageFolder(root, FolderOptions{Size: 4}, &Identity)
	if err != nil {
		t.Fatal(err)
	}
	if train3.Raw().Pix[0] != 77 || test3.Raw().Pix[95] != 78 || !slices.Equal(train3.Labels, train.Labels) {
		t.Errorf("old-format cache not used: pixels %d, %d", train3.Raw().Pix[0], test3.Raw().Pix[95])
	}
	// A corrupt image is reported by name.
	putFile(t, filepath.Join(root, "test", "b", "9.png"), []byte("\x89PNG\r\n\x1a\nbroken"))
	_, _, err = LoadImageFolder(root, FolderOptions{Size: 4}, nil)
	requireErr(t, err, filepath.Join("test", "b", "9.png"), "decode")
	_, _, _, err = ReadImageFolder(t.TempDir(), FolderOptions{})
	requireErr(t, err, "no images")
}

func TestResizeFolderImage(t *testing.T) {
	// 1×2 → 1×4 with half-pixel centres: outputs sample the source at
	// x = −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
	src := []float32{0, 100}
	dst := make([]float32, 4)
	resizeFolderImage(src, 1, 2, 1, dst, 1, 4)
	want := []float32{0, 25, 75, 100}
	for i := range want {
		if math.Abs(float64(dst[i]-want[i])) > 1e-4 {
			t.Fatalf("resize: %v, want %v", dst, want)
		}
	}
	// Downsampling 4×4 → 2×2 samples at 0.5 and 2.5: the mean of 2×2
	// blocks for a bilinear ramp.
	src = make([]float32, 16)
	for y := range 4 {
		for x := range 4 {
			src[y*4+x] = float32(10*y + x)
		}
	}
	dst = make([]float32, 4)
	resizeFolderImage(src, 4, 4, 1, dst, 2, 2)
	if want := []float32{5.5, 7.5, 25.5, 27.5}; !slices.Equal(dst, want) {
		t.Errorf("downsample: %v, want %v", dst, want)
	}
}

func TestChannelStatsAndSplit(t *testing.T) {
	raw := &RawImages{N: 5, H: 2, W: 2, C: 3, Pix: make([]byte, 60)}
	for i := range raw.Pix {
		raw.Pix[i] = byte((i * 37) % 256)
	}
	norm := ChannelStats(raw)
	for c := range 3 {
		var s, s2, n float64
		for i := c; i < len(raw.Pix); i += 3 {
			v := float64(raw.Pix[i]) / 255
			s += v
			s2 += v * v
			n++
		}
		m := s / n
		if math.Abs(norm.Mean[c]-m) > 1e-12 || math.Abs(norm.Std[c]-math.Sqrt(s2/n-m*m)) > 1e-9 {
			t.Errorf("channel %d: %v %v, want %v %v", c, norm.Mean[c], norm.Std[c], m, math.Sqrt(s2/n-m*m))
		}
	}
	labels := []int{0, 1, 2, 0, 1}
	d, err := ToDataset("toy", "train", raw, labels, 3, norm)
	if err != nil {
		t.Fatal(err)
	}
	tr, val, err := SplitValidation(d, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 3 || val.Len() != 2 || val.Split != "validation" {
		t.Fatalf("split sizes %d/%d %q", tr.Len(), val.Len(), val.Split)
	}
	// Disjoint and complete: every original image appears exactly once.
	seen := map[float32]int{}
	for _, s := range []*Dataset{tr, val} {
		for i := range s.Len() {
			seen[s.Images.Data[i*12]]++
		}
	}
	for i := range d.Len() {
		if seen[d.Images.Data[i*12]] != 1 {
			t.Errorf("image %d appears %d times", i, seen[d.Images.Data[i*12]])
		}
	}
	tr2, val2, _ := SplitValidation(d, 2, 7)
	if !slices.Equal(val.Images.Data, val2.Images.Data) || !slices.Equal(tr.Labels, tr2.Labels) {
		t.Error("same seed gave a different split")
	}
	_, err = func() (*Dataset, error) { _, v, err := SplitValidation(d, 5, 1); return v, err }()
	requireErr(t, err, "validation size 5")
	_, err = ToDataset("toy", "train", raw, []int{0, 1, 2, 0, 3}, 3, norm)
	requireErr(t, err, "label 3 of example 4")
	_ = color.Gray{}
}
