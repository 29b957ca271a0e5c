package data

import (
	"math"
	"slices"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// augImage builds an h×w×c image with pixel (y, x, ch) = f(y, x, ch).
func augImage(h, w, c int, f func(y, x, ch int) float32) *image {
	m := &image{h: h, w: w, c: c, pix: make([]float32, h*w*c)}
	for y := range h {
		for x := range w {
			for ch := range c {
				m.pix[(y*w+x)*c+ch] = f(y, x, ch)
			}
		}
	}
	return m
}

func augScratch(m *image) *image {
	return &image{h: m.h, w: m.w, c: m.c, pix: make([]float32, len(m.pix))}
}

// augBatch is a batch of n random h×w×c images in [0, 1] with labels i mod 10.
func augBatch(n, h, w, c int, seed uint64) *Batch {
	rng := exampleRNG{key: seed}
	b := &Batch{X: tensor.New(n, h, w, c)}
	for i := range b.X.Data {
		b.X.Data[i] = float32(rng.float64())
	}
	for i := range n {
		b.Labels = append(b.Labels, i%10)
	}
	return b
}

func cloneBatch(b *Batch) *Batch {
	return &Batch{X: tensor.FromData(slices.Clone(b.X.Data), b.X.Shape...), Labels: slices.Clone(b.Labels)}
}

func TestNewAugmentationParses(t *testing.T) {
	for _, spec := range []string{"", "none", "crop", "crop-flip", "flip", "random-resized-crop",
		"crop-flip+autoaugment-cifar10", "random-resized-crop+autoaugment-imagenet", "crop+randaugment"} {
		if _, err := NewAugmentation(spec, 2, 9); err != nil {
			t.Errorf("%q: %v", spec, err)
		}
	}
	for _, c := range []struct {
		spec string
		n, m int
	}{{"crop+blur", 2, 9}, {"none+crop", 2, 9}, {"randaugment", 0, 9}, {"randaugment", 2, 31}, {"randaugment", 2, -1}} {
		if _, err := NewAugmentation(c.spec, c.n, c.m); err == nil {
			t.Errorf("%q N=%d M=%d: no error", c.spec, c.n, c.m)
		}
	}
}

// TestApplyIsKeyedAndThreadIndependent checks that every stage's output is a
// function of the keys alone: equal for equal keys whatever the thread
// count, different for other keys, and that the pixels of a non-identity
// chain change.
func TestApplyIsKeyedAndThreadIndependent(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	norm := Normalization{Mean: []float64{0.4, 0.5, 0.6}, Std: []float64{0.2, 0.25, 0.3}}
	for _, spec := range AugmentStages() {
		a, err := NewAugmentation(spec, 3, 15)
		if err != nil {
			t.Fatal(err)
		}
		base := augBatch(12, 9, 10, 3, 5)
		keys := make([]uint64, 12)
		for i := range keys {
			keys[i] = ExampleKey(7, 2, 100+i)
		}
		var outs [][]float32
		for _, threads := range []int{1, 2, 3} {
			tensor.SetThreads(threads)
			b := cloneBatch(base)
			a.Apply(b, norm, keys)
			outs = append(outs, b.X.Data)
		}
		if !slices.Equal(outs[0], outs[1]) || !slices.Equal(outs[0], outs[2]) {
			t.Errorf("%s: output depends on the thread count", spec)
		}
		if slices.Equal(outs[0], base.X.Data) {
			t.Errorf("%s: nothing changed in 12 images", spec)
		}
		other := cloneBatch(base)
		otherKeys := make([]uint64, 12)
		for i := range otherKeys {
			otherKeys[i] = ExampleKey(7, 3, 100+i) // next epoch
		}
		a.Apply(other, norm, otherKeys)
		if slices.Equal(other.X.Data, outs[0]) {
			t.Errorf("%s: another epoch's keys gave the same images", spec)
		}
	}
}

// TestApplyRoundTripsNormalization checks that stages see [0, 1] pixels:
// a flipped example holds its normalised values mirrored (the round trip
// through [0, 1] loses only float32 rounding), and the crop's padding is
// black, i.e. (0 − mean)/std after normalisation.
func TestApplyRoundTripsNormalization(t *testing.T) {
	norm := Normalization{Mean: []float64{0.1307}, Std: []float64{0.3081}}
	near := func(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-6 }
	flip, _ := NewAugmentation("flip", 0, 0)
	b := augBatch(8, 3, 4, 1, 1)
	orig := slices.Clone(b.X.Data)
	keys := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	flip.Apply(b, norm, keys)
	flipped := 0
	for i := range 8 {
		same, mirrored := true, true
		for y := range 3 {
			for x := range 4 {
				got := b.X.Data[i*12+y*4+x]
				same = same && near(got, orig[i*12+y*4+x])
				mirrored = mirrored && near(got, orig[i*12+y*4+3-x])
			}
		}
		if !same && !mirrored {
			t.Fatalf("example %d is neither itself nor its mirror image", i)
		}
		if !same {
			flipped++
		}
	}
	if flipped == 0 || flipped == 8 {
		t.Errorf("%d of 8 examples flipped", flipped)
	}
	crop, _ := NewAugmentation("crop", 0, 0)
	b = augBatch(8, 10, 10, 1, 2)
	crop.Apply(b, norm, keys)
	black, padded := float32(-0.1307/0.3081), 0
	for _, v := range b.X.Data {
		if near(v, black) {
			padded++
		}
	}
	if padded == 0 {
		t.Errorf("no padding pixel equals normalised black %v", black)
	}
}

func TestShiftAndCrop(t *testing.T) {
	src := augImage(3, 4, 2, func(y, x, ch int) float32 { return float32(100*y + 10*x + ch + 1) })
	dst := augScratch(src)
	shift(dst, src, 1, -2)
	for y := range 3 {
		for x := range 4 {
			for ch := range 2 {
				want := float32(0)
				if y+1 < 3 && x-2 >= 0 {
					want = float32(100*(y+1) + 10*(x-2) + ch + 1)
				}
				if got := dst.at(y, x, ch); got != want {
					t.Errorf("shift(1, -2) at (%d, %d, %d) = %v, want %v", y, x, ch, got, want)
				}
			}
		}
	}
	// The crop's offsets cover [−4, 4]² uniformly enough that all 81 appear.
	seen := map[[2]int]bool{}
	for k := range 2000 {
		rng := exampleRNG{key: uint64(k)}
		dy, dx := rng.intn(9)-4, rng.intn(9)-4
		seen[[2]int{dy, dx}] = true
		img := augImage(6, 6, 1, func(y, x, _ int) float32 { return float32(y*6 + x + 1) })
		want := augScratch(img)
		shift(want, img, dy, dx)
		rng = exampleRNG{key: uint64(k)}
		cropStage{pad: 4}.apply(img, augScratch(img), &rng)
		if !slices.Equal(img.pix, want.pix) {
			t.Fatalf("key %d: crop is not the shift by its drawn offsets (%d, %d)", k, dy, dx)
		}
	}
	if len(seen) != 81 {
		t.Errorf("%d of 81 crop offsets drawn in 2000 tries", len(seen))
	}
}

func TestFlip(t *testing.T) {
	flipped, kept := 0, 0
	for k := range 200 {
		img := augImage(2, 3, 3, func(y, x, ch int) float32 { return float32(100*y + 10*x + ch) })
		orig := slices.Clone(img.pix)
		rng := exampleRNG{key: uint64(k)}
		flipStage{}.apply(img, nil, &rng)
		if slices.Equal(img.pix, orig) {
			kept++
			continue
		}
		flipped++
		for y := range 2 {
			for x := range 3 {
				for ch := range 3 {
					if got, want := img.at(y, x, ch), float32(100*y+10*(2-x)+ch); got != want {
						t.Fatalf("flip at (%d, %d, %d) = %v, want %v", y, x, ch, got, want)
					}
				}
			}
		}
	}
	if flipped < 70 || kept < 70 {
		t.Errorf("flipped %d, kept %d of 200; want about half each", flipped, kept)
	}
}

func TestResizeBilinear(t *testing.T) {
	// The whole image at its own size is the identity.
	src := augImage(5, 7, 2, func(y, x, ch int) float32 { return float32(y*7+x) + 0.5*float32(ch) })
	dst := augScratch(src)
	resizeBilinear(dst, src, 0, 0, 5, 7)
	if !slices.Equal(dst.pix, src.pix) {
		t.Errorf("full-box resize changed the image")
	}
	// A linear ramp stays linear inside: upscaling the box [1, 3) of columns
	// (2 pixels to 8) samples x_in = 1 + (x+0.5)/4 − 0.5 = 0.625 + x/4; the
	// ramp's value there is 2·x_in (rows constant). Columns whose sample
	// stays within [1, 2] are not clamped.
	ramp := augImage(4, 8, 1, func(_, x, _ int) float32 { return 2 * float32(x) })
	out := augScratch(ramp)
	resizeBilinear(out, ramp, 0, 1, 4, 2)
	for x := range 8 {
		xin := 0.625 + float64(x)/4
		want := 2 * xin
		if got := float64(out.at(2, x, 0)); math.Abs(got-want) > 1e-5 {
			t.Errorf("column %d: %v, want %v", x, got, want)
		}
	}
}

func TestResizedCropBox(t *testing.T) {
	for _, size := range [][2]int{{32, 32}, {20, 40}, {64, 10}} {
		h, w := size[0], size[1]
		minFrac := 1.0
		for k := range 500 {
			rng := exampleRNG{key: uint64(k)}
			top, left, bh, bw := resizedCropBox(h, w, &rng)
			if top < 0 || left < 0 || bh < 1 || bw < 1 || top+bh > h || left+bw > w {
				t.Fatalf("%dx%d: box (%d, %d, %d, %d) outside the image", h, w, top, left, bh, bw)
			}
			minFrac = min(minFrac, float64(bh*bw)/float64(h*w))
		}
		// Rounding of the sides lets the area fall a little below 8%.
		if minFrac < 0.05 || minFrac > 0.2 {
			t.Errorf("%dx%d: smallest box covers %.3f of the image; want near 0.08", h, w, minFrac)
		}
	}
}

func TestCenterCrop(t *testing.T) {
	// frac 0.5 of an 8×8 ramp: the box is rows/columns [2, 6), upscaled ×2:
	// x_in = 2 + (x+0.5)/2 − 0.5 = 1.75 + x/2.
	b := &Batch{X: tensor.New(1, 8, 8, 1), Labels: []int{0}}
	for y := range 8 {
		for x := range 8 {
			b.X.Data[y*8+x] = float32(3*x) - 1
		}
	}
	CenterCrop(b, 0.5)
	for x := range 8 {
		want := 3*(1.75+float64(x)/2) - 1
		if got := float64(b.X.Data[4*8+x]); math.Abs(got-want) > 1e-5 {
			t.Errorf("column %d: %v, want %v", x, got, want)
		}
	}
}

func TestPhotometricOps(t *testing.T) {
	vals := []float32{0, 0.2, 0.5, 0.8, 1, 0.4}
	mk := func() *image { return &image{h: 2, w: 3, c: 1, pix: slices.Clone(vals)} }
	check := func(name string, got []float32, want func(v float32) float32) {
		t.Helper()
		for i, v := range vals {
			if math.Abs(float64(got[i]-want(v))) > 1e-6 {
				t.Errorf("%s(%v) = %v, want %v", name, v, got[i], want(v))
			}
		}
	}
	img := mk()
	applyOp(opInvert, 0, img, augScratch(img))
	check("invert", img.pix, func(v float32) float32 { return 1 - v })

	img = mk()
	applyOp(opSolarize, 0.5, img, augScratch(img))
	check("solarize 0.5", img.pix, func(v float32) float32 {
		if v >= 0.5 {
			return 1 - v
		}
		return v
	})

	img = mk()
	applyOp(opBrightness, -0.5, img, augScratch(img))
	check("brightness ×0.5", img.pix, func(v float32) float32 { return v / 2 })

	img = mk()
	applyOp(opBrightness, 0.9, img, augScratch(img))
	check("brightness ×1.9", img.pix, func(v float32) float32 { return min(1.9*v, 1) })

	// Contrast blends with the mean grey level (2.9/6).
	img = mk()
	applyOp(opContrast, -0.5, img, augScratch(img))
	mean := float32(2.9 / 6)
	check("contrast ×0.5", img.pix, func(v float32) float32 { return mean + 0.5*(v-mean) })

	// Posterize to 2 bits: byte & 0b11000000.
	img = mk()
	applyOp(opPosterize, 2, img, augScratch(img))
	check("posterize 2", img.pix, func(v float32) float32 {
		b := int(math.Round(float64(v) * 255))
		return float32(b&0xC0) / 255
	})

	// Autocontrast on [0.2, 0.8] stretches to [0, 1].
	img = &image{h: 1, w: 3, c: 1, pix: []float32{0.2, 0.5, 0.8}}
	applyOp(opAutoContrast, 0, img, augScratch(img))
	if want := []float32{0, 0.5, 1}; math.Abs(float64(img.pix[1]-0.5)) > 1e-6 || img.pix[0] != 0 || img.pix[2] != 1 {
		t.Errorf("autocontrast = %v, want %v", img.pix, want)
	}

	// Color is the identity on grey images and blends with luma on RGB.
	img = mk()
	applyOp(opColor, 0.7, img, augScratch(img))
	check("color on grey", img.pix, func(v float32) float32 { return v })
	rgb := &image{h: 1, w: 1, c: 3, pix: []float32{0.9, 0.3, 0.1}}
	applyOp(opColor, -1, rgb, augScratch(rgb)) // factor 0: the grey image
	g := float32(0.299*0.9 + 0.587*0.3 + 0.114*0.1)
	for ch, v := range rgb.pix {
		if math.Abs(float64(v-g)) > 1e-6 {
			t.Errorf("color ×0 channel %d = %v, want luma %v", ch, v, g)
		}
	}
}

func TestSharpness(t *testing.T) {
	img := augImage(3, 3, 1, func(y, x, _ int) float32 { return float32(y*3+x) / 10 })
	orig := slices.Clone(img.pix)
	// Factor 0 (m = −1) gives the smoothed image inside, the original on the border.
	applyOp(opSharpness, -1, img, augScratch(img))
	var sum float32
	for _, v := range orig {
		sum += v
	}
	want := (sum + 4*orig[4]) / 13
	if math.Abs(float64(img.pix[4]-want)) > 1e-6 {
		t.Errorf("centre = %v, want %v", img.pix[4], want)
	}
	for i := range orig {
		if i != 4 && img.pix[i] != orig[i] {
			t.Errorf("border pixel %d changed: %v → %v", i, orig[i], img.pix[i])
		}
	}
}

// TestEqualize checks PIL's algorithm on a hand-worked histogram: 8 pixels
// at bytes 0 (×4), 100 (×2), 200 (×2). step = (8 − 2)/255 = 0, so a
// histogram this small is left alone; with 1020 pixels it is not.
func TestEqualize(t *testing.T) {
	small := &image{h: 2, w: 4, c: 1, pix: []float32{0, 0, 0, 0, 100. / 255, 100. / 255, 200. / 255, 200. / 255}}
	orig := slices.Clone(small.pix)
	equalize(small)
	if !slices.Equal(small.pix, orig) {
		t.Errorf("equalize with step 0 changed the image")
	}
	// 510 pixels at 0, 255 at 100, 255 at 200: step = (1020 − 255)/255 = 3;
	// lut[0] = 1/3 = 0, lut[100] = (1 + 510)/3 = 170, lut[200] = (1 + 765)/3 = 255.
	big := &image{h: 1, w: 1020, c: 1, pix: make([]float32, 1020)}
	for i := range big.pix {
		switch {
		case i < 510:
			big.pix[i] = 0
		case i < 765:
			big.pix[i] = 100. / 255
		default:
			big.pix[i] = 200. / 255
		}
	}
	equalize(big)
	for _, c := range []struct {
		i    int
		want float32
	}{{0, 0}, {600, 170. / 255}, {900, 1}} {
		if big.pix[c.i] != c.want {
			t.Errorf("pixel %d → %v, want %v", c.i, big.pix[c.i], c.want)
		}
	}
}

func TestGeometricOps(t *testing.T) {
	// Rotating a square image by 90° moves (y, x) to (W−1−x, y) for a
	// counter-clockwise turn with y pointing down.
	src := augImage(4, 4, 1, func(y, x, _ int) float32 { return float32(y*4 + x + 1) })
	dst := augScratch(src)
	rotate(dst, src, 90)
	for y := range 4 {
		for x := range 4 {
			// Inverse map at pixel centres: x_in = 3.5 − y, y_in = x + 0.5.
			want := src.at(x, 3-y, 0)
			if got := dst.at(y, x, 0); got != want {
				t.Errorf("rotate 90 at (%d, %d) = %v, want %v", y, x, got, want)
			}
		}
	}
	// ShearX by 0.5: output (y, x) samples x + 0.5·y at pixel centres.
	img := augImage(4, 6, 1, func(y, x, _ int) float32 { return float32(y*6 + x + 1) })
	out := augScratch(img)
	applyOp(opShearX, 0.5, img, out)
	for y := range 4 {
		for x := range 6 {
			sx := int(math.Floor(float64(x) + 0.5 + 0.5*(float64(y)+0.5)))
			want := float32(0)
			if sx < 6 {
				want = float32(y*6 + sx + 1)
			}
			if got := img.at(y, x, 0); got != want {
				t.Errorf("shearX 0.5 at (%d, %d) = %v, want %v", y, x, got, want)
			}
		}
	}
	// TranslateX by +2.7 pixels moves content right by 2 (truncated).
	img = augImage(1, 5, 1, func(_, x, _ int) float32 { return float32(x + 1) })
	applyOp(opTranslateX, 2.7, img, augScratch(img))
	if want := []float32{0, 0, 1, 2, 3}; !slices.Equal(img.pix, want) {
		t.Errorf("translateX 2.7 = %v, want %v", img.pix, want)
	}
}

func TestMagnitudes(t *testing.T) {
	// torchvision's tables: Posterize keeps 8 − round(b/2.25) bits for bins
	// b = 0…9 (b/2.25 = 0, .44, .89, 1.33, 1.78, 2.22, 2.67, 3.11, 3.56, 4),
	// Solarize is linspace(1, 0).
	var post []float64
	for b := range 10 {
		post = append(post, opPosterize.magnitude(b, 10, 32, 32))
	}
	if want := []float64{8, 8, 7, 7, 6, 6, 5, 5, 4, 4}; !slices.Equal(post, want) {
		t.Errorf("posterize bits %v, want %v", post, want)
	}
	if got := opSolarize.magnitude(9, 10, 32, 32); got != 0 {
		t.Errorf("solarize bin 9 = %v, want 0", got)
	}
	if got := opTranslateX.magnitude(9, 10, 32, 331); math.Abs(got-150) > 1e-9 {
		t.Errorf("translateX bin 9 on width 331 = %v, want 150", got)
	}
	if got := opRotate.magnitude(9, 31, 32, 32); math.Abs(got-9) > 1e-9 {
		t.Errorf("rotate RandAugment M=9 = %v°, want 9°", got)
	}
	// RandAugment's default M = 9 of 31 bins keeps 7 bits (8 − round(1.2)).
	if got := opPosterize.magnitude(9, 31, 32, 32); got != 7 {
		t.Errorf("posterize RandAugment M=9 = %v bits, want 7", got)
	}
}

func TestPolicies(t *testing.T) {
	for name, p := range map[string][][2]subPolicyOp{"imagenet": imagenetPolicy, "cifar10": cifar10Policy} {
		if len(p) != 25 {
			t.Errorf("%s: %d sub-policies, want 25", name, len(p))
		}
		for i, sub := range p {
			for _, o := range sub {
				hasMag := o.op.signed() || o.op == opPosterize || o.op == opSolarize
				if o.prob < 0 || o.prob > 1 || (hasMag != (o.bin >= 0)) || o.bin >= autoAugmentBins || o.op == opIdentity {
					t.Errorf("%s sub-policy %d: bad op %v", name, i, o)
				}
			}
		}
	}
	// Spot checks against the published tables (first and last sub-policies).
	if imagenetPolicy[0] != [2]subPolicyOp{{opPosterize, 0.4, 8}, {opRotate, 0.6, 9}} ||
		cifar10Policy[24] != [2]subPolicyOp{{opTranslateY, 0.7, 9}, {opAutoContrast, 0.9, -1}} {
		t.Errorf("policy tables differ from Cubuk et al.")
	}
}

func TestBetaSample(t *testing.T) {
	// Beta(α, α) has mean 1/2 and variance 1/(4(2α+1)).
	for _, alpha := range []float64{0.2, 1, 3} {
		rng := exampleRNG{key: 42}
		const n = 20000
		var sum, sq float64
		for range n {
			v := betaSample(&rng, alpha)
			if v < 0 || v > 1 {
				t.Fatalf("α=%v: draw %v outside [0, 1]", alpha, v)
			}
			sum += v
			sq += v * v
		}
		mean := sum / n
		variance := sq/n - mean*mean
		wantVar := 1 / (4 * (2*alpha + 1))
		if math.Abs(mean-0.5) > 0.01 || math.Abs(variance-wantVar) > 0.05*wantVar {
			t.Errorf("α=%v: mean %.4f variance %.4f, want 0.5 and %.4f", alpha, mean, variance, wantVar)
		}
	}
}

func TestMixup(t *testing.T) {
	b := augBatch(6, 2, 3, 1, 9)
	orig := cloneBatch(b)
	var mix Mix
	Mixup(b, 0.4, MixKey(1, 5), &mix)
	perm := slices.Clone(mix.Partner)
	slices.Sort(perm)
	if !slices.Equal(perm, []int{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("partners %v are not a permutation", mix.Partner)
	}
	l := float32(mix.Lambda)
	for i, j := range mix.Partner {
		if mix.PartnerLabels[i] != orig.Labels[j] {
			t.Errorf("partner label %d = %d, want %d", i, mix.PartnerLabels[i], orig.Labels[j])
		}
		for k := range 6 {
			want := l*orig.X.Data[i*6+k] + (1-l)*orig.X.Data[j*6+k]
			if got := b.X.Data[i*6+k]; math.Abs(float64(got-want)) > 1e-6 {
				t.Errorf("example %d value %d = %v, want %v", i, k, got, want)
			}
		}
	}
	if !slices.Equal(b.Labels, orig.Labels) {
		t.Errorf("mixup changed the labels")
	}
	// Same key, same mix; another step, another mix.
	again, other := cloneBatch(orig), cloneBatch(orig)
	var m2, m3 Mix
	Mixup(again, 0.4, MixKey(1, 5), &m2)
	Mixup(other, 0.4, MixKey(1, 6), &m3)
	if !slices.Equal(again.X.Data, b.X.Data) || m2.Lambda != mix.Lambda {
		t.Errorf("mixup is not a function of its key")
	}
	if m3.Lambda == mix.Lambda {
		t.Errorf("two steps drew the same λ %v", m3.Lambda)
	}
}

func TestCutMix(t *testing.T) {
	b := augBatch(5, 8, 8, 2, 3)
	orig := cloneBatch(b)
	var mix Mix
	CutMix(b, 1, MixKey(2, 0), &mix)
	per := 8 * 8 * 2
	for i, j := range mix.Partner {
		pasted := 0
		for p := range per {
			got, own, theirs := b.X.Data[i*per+p], orig.X.Data[i*per+p], orig.X.Data[j*per+p]
			switch {
			case got == own && (i == j || got != theirs):
			case got == theirs:
				pasted++
			default:
				t.Fatalf("example %d value %d = %v, neither own %v nor partner's %v", i, p, got, own, theirs)
			}
		}
		if i != j {
			if want := (1 - mix.Lambda) * float64(per); math.Abs(float64(pasted)-want) > 1e-9 {
				t.Errorf("example %d: %d values pasted, want (1−λ)·%d = %v", i, pasted, per, want)
			}
		}
	}
}

// BenchmarkAugment measures each chain on a CIFAR-sized batch of 128.
func BenchmarkAugment(b *testing.B) {
	norm := Normalization{Mean: []float64{0.49, 0.48, 0.45}, Std: []float64{0.25, 0.24, 0.26}}
	keys := make([]uint64, 128)
	for i := range keys {
		keys[i] = ExampleKey(1, 0, i)
	}
	for _, spec := range []string{"crop-flip", "random-resized-crop", "crop-flip+autoaugment-cifar10", "crop-flip+randaugment"} {
		a, err := NewAugmentation(spec, 2, 9)
		if err != nil {
			b.Fatal(err)
		}
		batch := augBatch(128, 32, 32, 3, 1)
		b.Run(spec, func(b *testing.B) {
			for range b.N {
				a.Apply(batch, norm, keys)
			}
		})
	}
	b.Run("mixup", func(b *testing.B) {
		batch := augBatch(128, 32, 32, 3, 1)
		var mix Mix
		for i := range b.N {
			Mixup(batch, 0.2, MixKey(1, i), &mix)
		}
	})
}
