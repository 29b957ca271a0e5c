package corrupt

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/npy"
)

// testImage is a smooth pattern with an edge, in (0, 1), h×w×c.
func testImage(h, w, c int) Image {
	img := NewImage(h, w, c)
	for y := range h {
		for x := range w {
			for k := range c {
				v := 0.2 + 0.3*float64(x)/float64(w) + 0.1*float64(k)
				if y > h/2 && x > w/3 {
					v += 0.3
				}
				img.set(y, x, k, v)
			}
		}
	}
	return img
}

func constImage(h, w, c int, v float64) Image {
	img := NewImage(h, w, c)
	for i := range img.Pix {
		img.Pix[i] = v
	}
	return img
}

func mustApply(t *testing.T, img Image, name string, s int, seed uint64, index int) Image {
	t.Helper()
	out, err := Apply(img, name, s, seed, index)
	if err != nil {
		t.Fatalf("%s/%d: %v", name, s, err)
	}
	return out
}

func meanAbsDiff(a, b Image) float64 {
	var s float64
	for i := range a.Pix {
		s += math.Abs(a.Pix[i] - b.Pix[i])
	}
	return s / float64(len(a.Pix))
}

// TestEveryCorruptionInvariants: for every corruption, severity and image
// shape (grey MNIST, colour CIFAR, an odd non-square colour size), the
// result has the input's shape, stays in [0, 1], leaves the input alone,
// changes the image, and is a pure function of (seed, name, severity,
// index).
func TestEveryCorruptionInvariants(t *testing.T) {
	if got := len(Common()); got != 15 {
		t.Fatalf("%d common corruptions, want 15", got)
	}
	if got := len(MNISTCNames()); got != 15 {
		t.Fatalf("%d MNIST-C corruptions, want 15", got)
	}
	for _, shape := range [][3]int{{28, 28, 1}, {32, 32, 3}, {20, 26, 3}} {
		src := testImage(shape[0], shape[1], shape[2])
		orig := src.Clone()
		for _, name := range All() {
			c := Lookup(name)
			for s := 1; s <= c.Severities; s++ {
				out := mustApply(t, src, name, s, 11, 3)
				if out.H != src.H || out.W != src.W || out.C != src.C || len(out.Pix) != len(src.Pix) {
					t.Fatalf("%s/%d on %v: shape %d×%d×%d", name, s, shape, out.H, out.W, out.C)
				}
				for _, v := range out.Pix {
					if !(v >= 0 && v <= 1) {
						t.Fatalf("%s/%d on %v: value %v outside [0, 1]", name, s, shape, v)
					}
				}
				if !slices.Equal(src.Pix, orig.Pix) {
					t.Fatalf("%s/%d modified its input", name, s)
				}
				if d := meanAbsDiff(out, src); d < 1e-4 && !(name == "saturate" && src.C == 1) {
					t.Errorf("%s/%d on %v: mean change %g; the corruption did nothing", name, s, shape, d)
				}
				again := mustApply(t, src, name, s, 11, 3)
				if !slices.Equal(out.Pix, again.Pix) {
					t.Fatalf("%s/%d: not deterministic", name, s)
				}
			}
		}
	}
}

// TestRandomCorruptionsDependOnIndexAndSeed: corruptions that draw random
// numbers give different results for different images and seeds.
func TestRandomCorruptionsDependOnIndexAndSeed(t *testing.T) {
	deterministic := map[string]bool{"defocus_blur": true, "zoom_blur": true, "brightness": true, "contrast": true,
		"pixelate": true, "jpeg_compression": true, "gaussian_blur": true, "saturate": true,
		"mnistc_scale": true, "mnistc_brightness": true, "mnistc_stripe": true, "mnistc_canny_edges": true}
	src := testImage(32, 32, 3)
	for _, name := range All() {
		a := mustApply(t, src, name, 1, 5, 0)
		b := mustApply(t, src, name, 1, 5, 1)
		c := mustApply(t, src, name, 1, 6, 0)
		same := slices.Equal(a.Pix, b.Pix) && slices.Equal(a.Pix, c.Pix)
		if deterministic[name] != same {
			t.Errorf("%s: equal across index and seed = %v, want %v", name, same, deterministic[name])
		}
	}
}

func TestApplyErrors(t *testing.T) {
	img := testImage(8, 8, 1)
	for _, c := range []struct {
		name string
		s    int
		img  Image
	}{{"nope", 1, img}, {"fog", 0, img}, {"fog", 6, img}, {"mnistc_shear", 2, img}, {"fog", 1, testImage(8, 8, 2)}} {
		if _, err := Apply(c.img, c.name, c.s, 0, 0); err == nil {
			t.Errorf("Apply(%s, %d, %d channels) succeeded", c.name, c.s, c.img.C)
		}
	}
}

func stdOf(v []float64) float64 {
	var m, s float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(v)))
}

func diff(a, b Image) []float64 {
	d := make([]float64, len(a.Pix))
	for i := range d {
		d[i] = a.Pix[i] - b.Pix[i]
	}
	return d
}

// TestNoiseStatistics checks each noise against its definition on a
// mid-grey image large enough for tight estimates: the added noise's
// standard deviation matches σ (Gaussian), √(x/λ) (shot), x·σ (speckle),
// grows with severity, and impulse noise replaces the expected fraction.
func TestNoiseStatistics(t *testing.T) {
	grey := constImage(64, 64, 3, 0.5) // 12,288 values
	prev := 0.0
	for s := 1; s <= 5; s++ {
		sigma := []float64{.04, .06, .08, .09, .10}[s-1]
		got := stdOf(diff(mustApply(t, grey, "gaussian_noise", s, 1, 0), grey))
		if math.Abs(got-sigma) > 0.04*sigma {
			t.Errorf("gaussian_noise/%d: std %.4f, want %.4f", s, got, sigma)
		}
		lambda := []float64{500, 250, 100, 75, 50}[s-1]
		shot := stdOf(diff(mustApply(t, grey, "shot_noise", s, 1, 0), grey))
		if want := math.Sqrt(0.5 / lambda); math.Abs(shot-want) > 0.05*want {
			t.Errorf("shot_noise/%d: std %.4f, want %.4f", s, shot, want)
		}
		if shot <= prev {
			t.Errorf("shot_noise/%d: std %.4f not above severity %d's %.4f", s, shot, s-1, prev)
		}
		prev = shot
		sp := []float64{.06, .1, .12, .16, .2}[s-1]
		if got := stdOf(diff(mustApply(t, grey, "speckle_noise", s, 1, 0), grey)); math.Abs(got-0.5*sp) > 0.05*0.5*sp {
			t.Errorf("speckle_noise/%d: std %.4f, want %.4f", s, got, 0.5*sp)
		}
		amount := []float64{.01, .02, .03, .05, .07}[s-1]
		imp := mustApply(t, grey, "impulse_noise", s, 1, 0)
		var changed, salt int
		for _, v := range imp.Pix {
			if v != 0.5 {
				changed++
				if v == 1 {
					salt++
				}
			} else if v != 0.5 && v != 0 {
				t.Fatalf("impulse value %v", v)
			}
		}
		n := float64(len(imp.Pix))
		if frac := float64(changed) / n; math.Abs(frac-amount) > 4*math.Sqrt(amount/n) {
			t.Errorf("impulse_noise/%d: %.4f replaced, want %.4f", s, frac, amount)
		}
		if math.Abs(float64(salt)/float64(changed)-0.5) > 0.15 {
			t.Errorf("impulse_noise/%d: salt share %.2f, want 0.5", s, float64(salt)/float64(changed))
		}
	}
}

func TestPoissonSampler(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mean := range []float64{0.7, 5, 29, 31, 250} {
		const n = 40000
		var s, s2 float64
		for range n {
			k := poisson(mean, rng)
			if k != math.Trunc(k) || k < 0 {
				t.Fatalf("poisson(%v) drew %v", mean, k)
			}
			s += k
			s2 += k * k
		}
		m := s / n
		v := s2/n - m*m
		// The sample mean's standard error is √(mean/n).
		if math.Abs(m-mean) > 5*math.Sqrt(mean/n) || math.Abs(v-mean) > 0.05*mean {
			t.Errorf("poisson(%v): mean %.3f variance %.3f", mean, m, v)
		}
	}
}

// TestPhotometricDefinitions checks brightness, contrast and saturate
// against their formulas.
func TestPhotometricDefinitions(t *testing.T) {
	img := testImage(16, 16, 1)
	for s := 1; s <= 5; s++ {
		c := []float64{.05, .1, .15, .2, .3}[s-1]
		out := mustApply(t, img, "brightness", s, 0, 0)
		for i, v := range img.Pix { // grey: V is the value itself
			if math.Abs(out.Pix[i]-min(v+c, 1)) > 1e-12 {
				t.Fatalf("brightness/%d: %v → %v, want %v", s, v, out.Pix[i], min(v+c, 1))
			}
		}
	}
	// Colour brightness keeps hue and saturation: channel ratios stay.
	col := testImage(8, 8, 3)
	out := mustApply(t, col, "brightness", 2, 0, 0)
	for i := 0; i < len(col.Pix); i += 3 {
		v := slices.Max(col.Pix[i : i+3])
		nv := slices.Max(out.Pix[i : i+3])
		if math.Abs(nv-min(v+0.1, 1)) > 1e-12 || math.Abs(out.Pix[i]/nv-col.Pix[i]/v) > 1e-12 {
			t.Fatalf("colour brightness changed hue/saturation at %d", i)
		}
	}
	// Contrast keeps each channel's mean and scales deviations by c.
	prevStd := math.Inf(1)
	for s := 1; s <= 5; s++ {
		c := []float64{.75, .5, .4, .3, .15}[s-1]
		out := mustApply(t, col, "contrast", s, 0, 0)
		for ch := range 3 {
			var m0, m1 float64
			for i := ch; i < len(col.Pix); i += 3 {
				m0 += col.Pix[i]
				m1 += out.Pix[i]
			}
			m0 /= 64
			m1 /= 64
			if math.Abs(m0-m1) > 1e-12 {
				t.Errorf("contrast/%d channel %d: mean %v → %v", s, ch, m0, m1)
			}
			i := ch + 3*9
			if math.Abs((out.Pix[i]-m1)-c*(col.Pix[i]-m0)) > 1e-12 {
				t.Errorf("contrast/%d: deviation not scaled by %v", s, c)
			}
		}
		if sd := stdOf(out.Pix); sd >= prevStd {
			t.Errorf("contrast/%d: std %v did not fall", s, sd)
		} else {
			prevStd = sd
		}
	}
	// Saturate at (mult 0.1) pulls colours towards grey, keeping V.
	sat := mustApply(t, col, "saturate", 2, 0, 0)
	for i := 0; i < len(col.Pix); i += 3 {
		if math.Abs(slices.Max(sat.Pix[i:i+3])-slices.Max(col.Pix[i:i+3])) > 1e-12 {
			t.Fatal("saturate changed V")
		}
		if slices.Max(sat.Pix[i:i+3])-slices.Min(sat.Pix[i:i+3]) > slices.Max(col.Pix[i:i+3])-slices.Min(col.Pix[i:i+3])+1e-12 {
			t.Fatal("saturate 0.1 increased the channel spread")
		}
	}
}

// TestBlursKeepConstantImages: every blur is a weighted mean of pixels
// with weights summing to one, so a flat image comes back unchanged, and
// a blurred image is smoother (less total variation) than the original.
func TestBlursKeepConstantImages(t *testing.T) {
	flat := constImage(24, 24, 3, 0.37)
	img := testImage(24, 24, 3)
	tv := func(m Image) float64 {
		var s float64
		for y := range m.H {
			for x := 1; x < m.W; x++ {
				s += math.Abs(m.at(y, x, 0) - m.at(y, x-1, 0))
			}
		}
		return s
	}
	for _, name := range []string{"defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur", "pixelate", "elastic_transform", "mnistc_glass_blur", "mnistc_motion_blur"} {
		for s := 1; s <= Lookup(name).Severities; s++ {
			out := mustApply(t, flat, name, s, 2, 0)
			for _, v := range out.Pix {
				if math.Abs(v-0.37) > 1e-9 {
					t.Fatalf("%s/%d: flat 0.37 became %v", name, s, v)
				}
			}
		}
	}
	for _, name := range []string{"defocus_blur", "gaussian_blur"} {
		prev := tv(img)
		for s := 1; s <= 5; s++ {
			v := tv(mustApply(t, img, name, s, 2, 0))
			if v >= prev {
				t.Errorf("%s/%d: total variation %v not below %v", name, s, v, prev)
			}
			prev = v
		}
	}
}

func TestDiskKernelAndBorders(t *testing.T) {
	for _, c := range [][2]float64{{.3, .4}, {1, .2}, {1.5, .1}, {9, .5}} {
		k, n := diskKernel(c[0], c[1])
		var s float64
		for _, v := range k {
			s += v
		}
		if math.Abs(s-1) > 1e-9 || n%2 != 1 {
			t.Errorf("disk(%v): sum %v size %d", c, s, n)
		}
		if k[(n/2)*n+n/2] < k[0] {
			t.Errorf("disk(%v): centre weight below the corner's", c)
		}
	}
	// Radius 0.3 covers only the centre: the kernel is the 3×3 Gaussian.
	k, n := diskKernel(.3, .4)
	g := gaussianKernel1D(.4, 1/.4)
	if n != 3 || math.Abs(k[0]-g[0]*g[0]) > 1e-12 {
		t.Errorf("disk(.3, .4) = %v (n %d), want the outer product of %v", k, n, g)
	}
	for _, c := range []struct {
		b    border
		in   []int
		want []int
	}{
		{borderNearest, []int{-2, -1, 5, 6}, []int{0, 0, 4, 4}},
		{borderReflect, []int{-2, -1, 5, 6}, []int{1, 0, 4, 3}},
		{borderReflect101, []int{-2, -1, 5, 6}, []int{2, 1, 3, 2}},
	} {
		for i, x := range c.in {
			if got := c.b.index(x, 5); got != c.want[i] {
				t.Errorf("border %d: index(%d, 5) = %d, want %d", c.b, x, got, c.want[i])
			}
		}
	}
}

func TestGeometricMNISTC(t *testing.T) {
	// A single bright pixel at (y, x) = (5, 20) in a 28×28 image.
	img := NewImage(28, 28, 1)
	img.set(5, 20, 0, 1)
	centroid := func(m Image) (float64, float64) {
		var sy, sx, s float64
		for y := range m.H {
			for x := range m.W {
				v := m.at(y, x, 0)
				sy += v * float64(y)
				sx += v * float64(x)
				s += v
			}
		}
		return sy / s, sx / s
	}
	ty, tx := centroid(mustApply(t, img, "mnistc_translate", 1, 4, 0))
	if math.Abs(math.Abs(ty-5)-3) > 1e-9 || math.Abs(math.Abs(tx-20)-3) > 1e-9 {
		t.Errorf("translate moved the pixel to (%v, %v); want ±3 in each axis", ty, tx)
	}
	// Scale ×0.7 about the centre (13.5, 13.5).
	sy, sx := centroid(mustApply(t, img, "mnistc_scale", 1, 4, 0))
	if math.Abs(sy-(13.5+0.7*(5-13.5))) > 0.1 || math.Abs(sx-(13.5+0.7*(20-13.5))) > 0.1 {
		t.Errorf("scale moved the pixel to (%v, %v)", sy, sx)
	}
	// Rotation keeps the distance from the centre.
	ry, rx := centroid(mustApply(t, img, "mnistc_rotate", 1, 4, 0))
	if d0, d1 := math.Hypot(5-13.5, 20-13.5), math.Hypot(ry-13.5, rx-13.5); math.Abs(d0-d1) > 0.1 {
		t.Errorf("rotation changed the radius from %v to %v", d0, d1)
	}
	stripe := mustApply(t, constImage(28, 28, 1, 0.25), "mnistc_stripe", 1, 0, 0)
	for x := range 28 {
		want := 0.25
		if x <= 6 || x >= 21 {
			want = 0.75
		}
		if stripe.at(10, x, 0) != want {
			t.Errorf("stripe column %d = %v, want %v", x, stripe.at(10, x, 0), want)
		}
	}
}

func TestCannyFindsAStepEdge(t *testing.T) {
	img := NewImage(28, 28, 1)
	for y := range 28 {
		for x := 14; x < 28; x++ {
			img.set(y, x, 0, 1)
		}
	}
	out := mustApply(t, img, "mnistc_canny_edges", 1, 0, 0)
	for y := 3; y < 25; y++ {
		var cols []int
		for x := range 28 {
			if out.at(y, x, 0) == 1 {
				cols = append(cols, x)
			} else if out.at(y, x, 0) != 0 {
				t.Fatalf("canny output %v is not binary", out.at(y, x, 0))
			}
		}
		if len(cols) != 1 || (cols[0] != 13 && cols[0] != 14) {
			t.Fatalf("row %d: edge pixels at %v; want one at the step (13 or 14)", y, cols)
		}
	}
	if blank := mustApply(t, constImage(28, 28, 1, .6), "mnistc_canny_edges", 1, 0, 0); slices.Max(blank.Pix) != 0 {
		t.Error("canny found edges in a flat image")
	}
}

func TestFogBoundsAndFrostIce(t *testing.T) {
	dark := constImage(32, 32, 3, 0.1)
	for s := 1; s <= 5; s++ {
		// Fog on a flat image v is (v + a·f)·v/(v + a) with f ∈ [0, 1]:
		// between v²/(v + a) and v, and not flat.
		a := []float64{.2, .5, .75, 1, 1.5}[s-1]
		out := mustApply(t, dark, "fog", s, 3, 0).Pix
		if lo, hi := slices.Min(out), slices.Max(out); lo < 0.01/(0.1+a)-1e-12 || hi > 0.1+1e-12 || hi-lo < 1e-3 {
			t.Errorf("fog/%d: values in [%v, %v], want a spread inside [%v, 0.1]", s, lo, hi, 0.01/(0.1+a))
		}
		f := mustApply(t, dark, "frost", s, 3, 0)
		if meanOf(f.Pix) <= 0.1*[]float64{1, 1, .9, .85, .75}[s-1] {
			t.Errorf("frost/%d added no ice", s)
		}
	}
	p := plasmaFractal(32, 2, rand.New(rand.NewPCG(1, 1)))
	if slices.Min(p.p) != 0 || slices.Max(p.p) != 1 {
		t.Errorf("plasma fractal spans [%v, %v], want [0, 1]", slices.Min(p.p), slices.Max(p.p))
	}
}

func meanOf(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestOnTheFlyEqualsWritten: corrupting a dataset in memory gives exactly
// the images that WriteSet stores and LoadSet reads back.
func TestOnTheFlyEqualsWritten(t *testing.T) {
	raw := &data.RawImages{N: 5, H: 12, W: 10, C: 3, Pix: make([]byte, 5*12*10*3)}
	for i := range raw.Pix {
		raw.Pix[i] = byte(i * 13)
	}
	d, err := data.ToDataset("toy", "test", raw, []int{0, 1, 2, 1, 0}, 3, data.CIFAR10Normalization)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	names := []string{"gaussian_noise", "snow", "jpeg_compression"}
	if err := WriteSet(dir, d, names, 9, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		for s := 1; s <= 5; s++ {
			fly, err := Dataset(d, name, s, 9)
			if err != nil {
				t.Fatal(err)
			}
			disk, err := LoadSet(dir, name, s, d)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fly.Images.Data, disk.Images.Data) || !slices.Equal(fly.Labels, disk.Labels) {
				t.Fatalf("%s/%d: on-the-fly differs from the written set", name, s)
			}
			// Image 3 alone, through Apply, agrees too.
			one, _ := Apply(FromBytes(12, 10, 3, raw.Image(3)), name, s, 9, 3)
			b := make([]byte, 360)
			one.Bytes(b)
			if got := fly.Raw().Image(3); !slices.Equal(got, b) {
				t.Fatalf("%s/%d: dataset image 3 differs from Apply on image 3", name, s)
			}
		}
	}
	// The files keep numpy's dtypes: images "|u1" N×H×W×C, labels "<i8".
	labels, err := npy.ReadFile(filepath.Join(dir, "labels.npy"))
	if err != nil || labels.DType != "<i8" || !slices.Equal(labels.Shape, []int{5}) || labels.At(2) != 2 {
		t.Fatalf("labels.npy: %+v, %v", labels, err)
	}
	images, err := npy.ReadFile(filepath.Join(dir, SetFile("snow", 3)))
	if err != nil || images.DType != "|u1" || !slices.Equal(images.Shape, []int{5, 12, 10, 3}) || len(images.Uint8) != len(raw.Pix) {
		t.Fatalf("%s: %+v, %v", SetFile("snow", 3), images, err)
	}
	if _, err := LoadSet(dir, "fog", 1, d); err == nil || !strings.Contains(err.Error(), SetFile("fog", 1)) {
		t.Errorf("LoadSet of an unwritten corruption: %v; want an error naming the file", err)
	}
	// A file of another dtype or shape is refused, naming the file.
	floats := &npy.Array{Shape: []int{5, 12, 10, 3}, Float32: make([]float32, len(raw.Pix))}
	if err := npy.WriteFile(filepath.Join(dir, SetFile("fog", 1)), floats); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSet(dir, "fog", 1, d); err == nil || !strings.Contains(err.Error(), SetFile("fog", 1)) || !strings.Contains(err.Error(), "uint8") {
		t.Errorf("LoadSet of a float32 file: %v; want an error naming the file and uint8", err)
	}
	small := &npy.Array{Shape: []int{4, 12, 10, 3}, DType: "|u1", Uint8: raw.Pix[:4*360]}
	if err := npy.WriteFile(filepath.Join(dir, SetFile("fog", 2)), small); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSet(dir, "fog", 2, d); err == nil || !strings.Contains(err.Error(), "[4 12 10 3]") {
		t.Errorf("LoadSet of a 4-image file: %v; want an error giving its shape", err)
	}
	// A truncated file is an error naming it.
	b, _ := os.ReadFile(filepath.Join(dir, SetFile("snow", 3)))
	if err := os.WriteFile(filepath.Join(dir, SetFile("fog", 3)), b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSet(dir, "fog", 3, d); err == nil || !strings.Contains(err.Error(), SetFile("fog", 3)) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("LoadSet of a truncated file: %v", err)
	}
}

func TestFarOOD(t *testing.T) {
	for _, kind := range FarOODKinds {
		a, err := FarOOD(kind, 4, 16, 12, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := FarOOD(kind, 4, 16, 12, 3, 1)
		if !slices.Equal(a.Pix, b.Pix) {
			t.Errorf("%s: not deterministic", kind)
		}
		if slices.Equal(a.Image(0), a.Image(1)) {
			t.Errorf("%s: images 0 and 1 are identical", kind)
		}
		if slices.Min(a.Pix) == slices.Max(a.Pix) {
			t.Errorf("%s: a constant set", kind)
		}
	}
	if _, err := FarOOD("plaid", 1, 2, 2, 1, 0); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestGrid(t *testing.T) {
	a := []byte{10, 20, 30, 40}
	g := Grid([][][]byte{{a, nil}, {a}}, 2, 2, 1, 3)
	if b := g.Bounds(); b.Dx() != 2*7+1 || b.Dy() != 2*7+1 {
		t.Fatalf("grid %v", b)
	}
	// Pixel (1, 1) of the first tile, magnified 3×, sits at (1+3, 1+3).
	if c := g.RGBAAt(1+3, 1+3); c.R != 40 {
		t.Errorf("tile pixel %v, want 40", c)
	}
}

// BenchmarkCommon times each common corruption at severity 5 on one
// 32×32 colour image (CIFAR-10-C is 10,000 images × 75 of these).
func BenchmarkCommon(b *testing.B) {
	img := testImage(32, 32, 3)
	for _, name := range Common() {
		b.Run(name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				Apply(img, name, 5, 1, i)
			}
		})
	}
}
