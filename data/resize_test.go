package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// pilImage is a 5×7 grey image with no simple structure; pilUp and pilDown
// are what PIL 9.4 gives for it, in float mode ("F", so without 8-bit
// rounding), with Image.resize((9, 12), Image.BICUBIC) and
// Image.resize((4, 3), Image.BICUBIC): the reference Resize follows.
var (
	pilImage = [][]float32{
		{3, 10, 59, 192, 195, 110, 235},
		{16, 28, 82, 220, 228, 148, 22},
		{55, 72, 131, 18, 31, 212, 91},
		{120, 142, 206, 98, 116, 46, 186},
		{211, 238, 51, 204, 227, 162, 51},
	}
	pilUp = []float64{
		1.42573, 2.688421, 22.3188, 83.05807, 189.2733, 199.6395, 133.0091, 148.2285, 262.8164,
		3.438725, 5.261017, 25.51568, 87.30255, 195.562, 206.7375, 142.7942, 140.1655, 222.4414,
		6.868793, 9.951129, 31.01582, 97.64843, 219.4752, 233.4113, 169.145, 116.643, 119.0577,
		14.38232, 19.0944, 42.86919, 108.8288, 223.1848, 238.0731, 191.1766, 101.1983, 20.14882,
		26.92132, 33.00223, 63.65271, 109.8442, 148.7031, 156.3909, 182.0015, 132.2076, 18.78227,
		43.97548, 51.41989, 90.75475, 109.5922, 45.62442, 43.63485, 156.6663, 178.3402, 63.30629,
		65.54353, 74.03728, 120.7341, 129.7585, 15.80961, 14.24725, 125.5292, 174.8944, 109.5171,
		91.62547, 100.4576, 156.5934, 174.3367, 53.70312, 62.45913, 81.89174, 121.6719, 169.3148,
		122.3911, 134.3734, 177.7513, 189.538, 102.0922, 120.2035, 69.26801, 84.95016, 191.1284,
		166.4368, 188.3419, 169.1325, 135.5548, 153.7262, 176.7697, 125.472, 96.67967, 129.291,
		202.8698, 234.12, 153.4731, 75.27858, 196.0261, 221.7584, 187.8533, 118.1664, 58.21836,
		218.5605, 253.6166, 148.3701, 52.32481, 214.3224, 241.4803, 211.6621, 125.153, 31.44203,
	}
	pilDown = []float64{
		3.139674, 97.62223, 203.2937, 135.1539,
		67.08736, 110.9054, 97.26432, 125.0594,
		187.1674, 144.9124, 159.888, 111.5865,
	}
)

// TestResizeMatchesPIL resizes pilImage up in one axis and down in the
// other, and down in both, as channel 0 of a two-channel image whose
// channel 1 is its negative (255 − p): channel 0 must give PIL's values
// and channel 1 their negative, since the weights sum to 1.
func TestResizeMatchesPIL(t *testing.T) {
	h, w := len(pilImage), len(pilImage[0])
	src := make([]float32, 0, h*w*2)
	for _, row := range pilImage {
		for _, p := range row {
			src = append(src, p, 255-p)
		}
	}
	for _, tc := range []struct {
		oh, ow int
		want   []float64
	}{{12, 9, pilUp}, {3, 4, pilDown}} {
		got := Resize(src, 1, h, w, 2, tc.oh, tc.ow)
		if len(got) != tc.oh*tc.ow*2 {
			t.Fatalf("%d×%d: %d values", tc.oh, tc.ow, len(got))
		}
		for i, want := range tc.want {
			if g := float64(got[2*i]); math.Abs(g-want) > 2e-4 {
				t.Errorf("%d×%d pixel %d: %v; PIL %v", tc.oh, tc.ow, i, g, want)
			}
			if g := float64(got[2*i+1]); math.Abs(g-(255-want)) > 2e-4 {
				t.Errorf("%d×%d pixel %d, channel 1: %v; want %v", tc.oh, tc.ow, i, g, 255-want)
			}
		}
	}
}

// refResize is Resize written from its definition, independently: every
// output pixel is a 2-D weighted sum over every input pixel, the weights
// the product of two 1-D kernels evaluated at every input pixel (those
// beyond the support are 0), each renormalised to sum to 1.
func refResize(src []float32, h, w, c, oh, ow int) []float64 {
	keys := func(x float64) float64 { // Keys (1981), a = −0.5
		x = math.Abs(x)
		if x < 1 {
			return 1.5*x*x*x - 2.5*x*x + 1
		}
		if x < 2 {
			return -0.5*x*x*x + 2.5*x*x - 4*x + 2
		}
		return 0
	}
	axis := func(in, out, o int) []float64 {
		s := float64(in) / float64(out)
		stretch := math.Max(s, 1)
		centre := (float64(o) + 0.5) * s // in pixel-edge coordinates
		wt := make([]float64, in)
		sum := 0.0
		for i := range in {
			wt[i] = keys((float64(i) + 0.5 - centre) / stretch)
			sum += wt[i]
		}
		for i := range wt {
			wt[i] /= sum
		}
		return wt
	}
	out := make([]float64, oh*ow*c)
	for y := range oh {
		wy := axis(h, oh, y)
		for x := range ow {
			wx := axis(w, ow, x)
			for ch := range c {
				v := 0.0
				for i := range h {
					for j := range w {
						v += wy[i] * wx[j] * float64(src[(i*w+j)*c+ch])
					}
				}
				out[(y*ow+x)*c+ch] = v
			}
		}
	}
	return out
}

func TestResizeAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][5]int{ // h, w, c, outH, outW
		{8, 8, 1, 28, 28}, {28, 28, 1, 8, 8}, {32, 32, 3, 28, 28}, {28, 28, 3, 32, 32},
		{5, 9, 2, 5, 9}, {6, 4, 1, 1, 1}, {1, 3, 1, 7, 2}, {17, 11, 3, 6, 23},
	} {
		h, w, c, oh, ow := s[0], s[1], s[2], s[3], s[4]
		const n = 2
		src := make([]float32, n*h*w*c)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		got := Resize(src, n, h, w, c, oh, ow)
		for img := range n {
			want := refResize(src[img*h*w*c:(img+1)*h*w*c], h, w, c, oh, ow)
			for i, v := range want {
				if g := float64(got[img*oh*ow*c+i]); math.Abs(g-v) > 1e-5 {
					t.Fatalf("%v, image %d, value %d: %v; reference %v", s, img, i, g, v)
				}
			}
		}
	}
}

// A constant image stays constant at every size, up and down.
func TestResizeConstant(t *testing.T) {
	for _, s := range [][4]int{{8, 8, 28, 28}, {28, 28, 8, 8}, {32, 32, 28, 28}, {3, 7, 19, 2}} {
		src := make([]float32, s[0]*s[1])
		for i := range src {
			src[i] = -0.42
		}
		for i, v := range Resize(src, 1, s[0], s[1], 1, s[2], s[3]) {
			if math.Abs(float64(v)+0.42) > 1e-6 {
				t.Fatalf("%v: pixel %d is %v; want -0.42", s, i, v)
			}
		}
	}
}

// Keys' kernel reproduces linear functions: upsampling a ramp gives the
// ramp at each output centre wherever all four taps lie in the image
// (near the edges the dropped taps bend it).
func TestResizeRampInterior(t *testing.T) {
	const in, out = 8, 28
	ramp := func(y, x float64) float64 { return 3*x - 5*y + 1 }
	src := make([]float32, in*in)
	for y := range in {
		for x := range in {
			src[y*in+x] = float32(ramp(float64(y), float64(x)))
		}
	}
	got := Resize(src, 1, in, in, 1, out, out)
	scale := float64(in) / out
	interior := func(o int) (float64, bool) {
		u := (float64(o)+0.5)*scale - 0.5 // in pixel-index coordinates
		return u, u >= 1 && u <= in-2
	}
	checked := 0
	for y := range out {
		uy, okY := interior(y)
		for x := range out {
			ux, okX := interior(x)
			if !okY || !okX {
				continue
			}
			checked++
			if g, want := float64(got[y*out+x]), ramp(uy, ux); math.Abs(g-want) > 1e-4 {
				t.Errorf("(%d, %d): %v; the ramp is %v there", y, x, g, want)
			}
		}
	}
	if checked < 300 {
		t.Errorf("only %d interior pixels checked", checked)
	}
	// At the corner the taps beyond the edge are dropped: not the ramp.
	if g, want := float64(got[0]), ramp(-0.5+0.5*scale, -0.5+0.5*scale); math.Abs(g-want) < 1e-3 {
		t.Errorf("corner %v equals the extrapolated ramp %v; the edge taps should be dropped", g, want)
	}
}

// A 2× downsample of a single bright pixel spreads it with Keys' kernel
// stretched to twice its width (antialiasing), each weight k(d/2)/2:
// output x (centre 2x + 1) reads input 8 at distance 8.5 − (2x + 1).
func TestResizeDownsampleImpulse(t *testing.T) {
	src := make([]float32, 16)
	src[8] = 1
	got := Resize(src, 1, 1, 16, 1, 1, 8)
	// k(1.75)/2, k(0.75)/2, k(0.25)/2, k(1.25)/2 for outputs 2, 3, 4, 5;
	// k(0.25) = 0.8671875, k(0.75) = 0.2265625, k(1.25) = −0.0703125,
	// k(1.75) = −0.0234375 (a = −0.5).
	want := []float32{0, 0, -0.01171875, 0.11328125, 0.43359375, -0.03515625, 0, 0}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-7 {
			t.Fatalf("downsampled impulse %v; want %v", got, want)
		}
	}
	// Same size: the identity.
	if id := Resize(src, 1, 1, 16, 1, 1, 16); !slices.Equal(id, src) {
		t.Errorf("resizing to the same size gave %v", id)
	}
}

func TestConvertChannels(t *testing.T) {
	grey := []float32{0.25, -1}
	rgb, err := ConvertChannels(grey, 1, 3)
	if err != nil || !slices.Equal(rgb, []float32{0.25, 0.25, 0.25, -1, -1, -1}) {
		t.Errorf("grey → RGB: %v, %v", rgb, err)
	}
	l, err := ConvertChannels([]float32{10, 20, 30, 1, 0, 0, 0, 0, 1}, 3, 1)
	want := []float32{0.299*10 + 0.587*20 + 0.114*30, 0.299, 0.114}
	if err != nil || len(l) != 3 {
		t.Fatalf("RGB → grey: %v, %v", l, err)
	}
	for i := range want {
		if math.Abs(float64(l[i]-want[i])) > 1e-5 {
			t.Errorf("RGB → grey: %v; want %v", l, want)
		}
	}
	for _, c := range [][2]int{{2, 3}, {3, 4}, {1, 2}, {4, 1}} {
		if _, err := ConvertChannels(make([]float32, 12), c[0], c[1]); err == nil || !strings.Contains(err.Error(), "grey ↔ RGB") {
			t.Errorf("%d → %d channels: err = %v", c[0], c[1], err)
		}
	}
}

// normalised builds a dataset of n images [h, w, c] from raw 0–255 pixels
// normalised with norm.
func normalised(raw []float64, n, h, w, c int, norm Normalization) *Dataset {
	img := tensor.New(n, h, w, c)
	for i, p := range raw {
		ch := i % c
		m, s := norm.Mean[0], norm.Std[0]
		if len(norm.Mean) > 1 {
			m, s = norm.Mean[ch], norm.Std[ch]
		}
		img.Data[i] = float32((p/255 - m) / s)
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 2
	}
	return &Dataset{Name: "raw", Split: "train", Images: img, Labels: labels, NumClasses: 2, Norm: norm}
}

// raw un-normalises pixel i of d to 0–255.
func raw(d *Dataset, i int) float64 {
	c := d.Images.Shape[3]
	m, s := d.Norm.Mean[0], d.Norm.Std[0]
	if len(d.Norm.Mean) > 1 {
		m, s = d.Norm.Mean[i%c], d.Norm.Std[i%c]
	}
	return (float64(d.Images.Data[i])*s + m) * 255
}

func TestConvertDataset(t *testing.T) {
	// A black-white step: bicubic overshoots past 0 and 255 beside it,
	// which Convert clamps to the raw range.
	step := []float64{0, 0, 255, 255, 0, 0, 255, 255}
	d := normalised(step, 2, 1, 4, 1, MNISTNormalization)
	before := slices.Clone(d.Images.Data)
	g, err := Convert(d, []int{1, 10, 3}, "raw@1x10x3")
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "raw@1x10x3" || !slices.Equal(g.Images.Shape, []int{2, 1, 10, 3}) || !slices.Equal(g.Labels, d.Labels) ||
		!slices.Equal(g.Norm.Mean, MNISTNormalization.Mean) {
		t.Fatalf("converted dataset %s %v labels %v norm %v", g.Name, g.Images.Shape, g.Labels, g.Norm)
	}
	if !slices.Equal(d.Images.Data, before) {
		t.Error("Convert modified its input")
	}
	unclamped := Resize(before, 2, 1, 4, 1, 1, 10)
	over := 0
	for i := range 20 {
		r, gg, b := raw(g, 3*i), raw(g, 3*i+1), raw(g, 3*i+2)
		if r != gg || r != b {
			t.Fatalf("pixel %d: channels %v %v %v; grey → RGB replicates", i, r, gg, b)
		}
		u := (float64(unclamped[i])*MNISTNormalization.Std[0] + MNISTNormalization.Mean[0]) * 255
		if want := min(max(u, 0), 255); math.Abs(r-want) > 1e-3 {
			t.Errorf("pixel %d: %v; want %v clamped to [0, 255]: %v", i, r, u, want)
		}
		if u < -1 || u > 256 {
			over++
		}
	}
	if over == 0 {
		t.Error("no overshoot to clamp: the test image does not test clamping")
	}

	// RGB → grey under per-channel statistics: the luma of the raw pixels.
	norm := Normalization{Mean: []float64{0.5, 0.4, 0.3}, Std: []float64{0.2, 0.25, 0.3}}
	rgb := []float64{255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 100, 200}
	d = normalised(rgb, 1, 2, 2, 3, norm)
	g, err = Convert(d, []int{2, 2, 1}, "raw@2x2x1")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Norm.Mean) != 1 || g.Norm.Validate(1) != nil {
		t.Fatalf("grey normalisation %v", g.Norm)
	}
	for i, want := range []float64{0.299 * 255, 0.587 * 255, 0.114 * 255, 0.299*10 + 0.587*100 + 0.114*200} {
		if r := raw(g, i); math.Abs(r-want) > 1e-3 {
			t.Errorf("pixel %d: grey %v; want the luma %v", i, r, want)
		}
	}

	// Nothing else converts, and the error names both shapes.
	for _, to := range [][]int{{2, 2, 2}, {2, 2, 4}, {2, 2}} {
		if _, err := Convert(d, to, "bad"); err == nil || !strings.Contains(err.Error(), "[2 2 3]") {
			t.Errorf("convert to %v: err = %v", to, err)
		}
	}
}

func TestResolverResizedName(t *testing.T) {
	r := NewResolver()
	if err := r.Add("tiny", func() (*Dataset, *Dataset, error) {
		tr, te := tinySplits("tiny", 20, 8, 8, 1)
		return tr, te, nil
	}); err != nil {
		t.Fatal(err)
	}
	name := ResizedName("tiny", []int{28, 28, 3})
	if name != "tiny@28x28x3" || !r.Known(name) || r.Known("nosuch@28x28x3") {
		t.Fatalf("ResizedName %q, known %v", name, r.Known(name))
	}
	tr, te, err := r.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tr.ExampleShape(), []int{28, 28, 3}) || !slices.Equal(te.ExampleShape(), []int{28, 28, 3}) || tr.Len() != 20 || te.Len() != 10 {
		t.Errorf("%s: train %v ×%d, test %v ×%d", name, tr.ExampleShape(), tr.Len(), te.ExampleShape(), te.Len())
	}
	// tinySplits' example i is the constant i, which resizing keeps.
	if v := tr.Images.Data[5*28*28*3+100]; v != 5 {
		t.Errorf("example 5 resized: %v; want the constant 5", v)
	}
	// A holdout split and a derived task of the converted dataset resolve.
	if _, val, _, err := r.Holdout(name, 4); err != nil || val.Len() != 4 || !slices.Equal(val.ExampleShape(), []int{28, 28, 3}) {
		t.Errorf("holdout of %s: %v", name, err)
	}
	if _, _, err := r.Load(name + "-parity"); err != nil {
		t.Errorf("%s-parity: %v", name, err)
	}
	if _, _, err := r.Load("tiny@28x28x2"); err == nil || !strings.Contains(err.Error(), "tiny@28x28x2") || !strings.Contains(err.Error(), "[8 8 1]") {
		t.Errorf("2 channels: err = %v", err)
	}
	for _, bad := range []string{"tiny@28x28", "tiny@28x28x0", "tiny@a8x28x1", "@1x1x1", "tiny@028x28x1"} {
		if _, _, ok := splitResized(bad); ok {
			t.Errorf("%q parsed as a resized name", bad)
		}
	}
}
