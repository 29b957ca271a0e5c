// Package corrupt makes shifted test sets: the 15 common corruptions of
// Hendrycks & Dietterich (2019, "Benchmarking Neural Network Robustness to
// Common Corruptions and Perturbations", the CIFAR-10-C recipes of
// hendrycks/robustness make_cifar_c.py) at 5 severities, the 15 MNIST-C
// corruptions (Mu & Gilmer 2019, google-research/mnist-c), and far-OOD
// sets of noise and simple shapes.
//
// Every corruption works on float images in [0, 1] of any size and either
// 1 or 3 channels (greyscale is corrupted per channel), and clips its
// result to [0, 1]. Randomness comes only from a PRNG seeded by (seed,
// corruption, severity, image index), so corrupting one image on the fly
// gives exactly what a written set holds. Spatial constants are the
// CIFAR (32×32) ones, scaled by min(H, W)/32 for larger images.
//
// The reimplementation is statistical, not pixel-exact: it follows the
// reference recipes with Go's standard library, and where the reference
// leans on ImageMagick (motion blur) or on photographs (frost) it says
// how it approximates them.
package corrupt

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"slices"
)

// Family groups corruptions as in Hendrycks & Dietterich's figure 1.
type Family string

// Corruption families.
const (
	Noise   Family = "noise"
	Blur    Family = "blur"
	Weather Family = "weather"
	Digital Family = "digital"
	Extra   Family = "extra"   // held-out corruptions of CIFAR-10-C
	MNISTC  Family = "mnist-c" // the MNIST-C set, one fixed severity
)

// Corruption is one named corruption.
type Corruption struct {
	Name   string
	Family Family
	// Severities is 5 for the common corruptions and 1 for MNIST-C.
	Severities int
	apply      func(img Image, severity int, rng *rand.Rand) Image
}

// registry lists every corruption, common ones first in the paper's order.
var registry []*Corruption

func add(name string, f Family, n int, apply func(Image, int, *rand.Rand) Image) {
	registry = append(registry, &Corruption{Name: name, Family: f, Severities: n, apply: apply})
}

// Common lists the 15 common corruptions in the order of the paper.
func Common() []string { return namesOf(Noise, Blur, Weather, Digital) }

// MNISTCNames lists the 15 corruptions of the released MNIST-C.
func MNISTCNames() []string { return namesOf(MNISTC) }

// All lists every corruption.
func All() []string { return namesOf(Noise, Blur, Weather, Digital, Extra, MNISTC) }

func namesOf(fams ...Family) []string {
	var out []string
	for _, f := range fams {
		for _, c := range registry {
			if c.Family == f {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

// Lookup returns the corruption of a name, or nil.
func Lookup(name string) *Corruption {
	for _, c := range registry {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// RNG returns the generator for one (seed, corruption, severity, index):
// a PCG stream keyed by a hash of all four, so that images can be
// corrupted independently, in any order, on any number of threads.
func RNG(seed uint64, name string, severity, index int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", name, severity)
	return rand.New(rand.NewPCG(seed^h.Sum64(), uint64(index)*0x9E3779B97F4A7C15+uint64(severity)))
}

// Apply corrupts img (values in [0, 1]) with the named corruption at a
// severity in [1, Severities], deterministically from (seed, index). img
// is not modified; the result has its shape and values in [0, 1].
func Apply(img Image, name string, severity int, seed uint64, index int) (Image, error) {
	c := Lookup(name)
	if c == nil {
		return Image{}, fmt.Errorf("unknown corruption %q; known: %v", name, All())
	}
	if severity < 1 || severity > c.Severities {
		return Image{}, fmt.Errorf("corruption %s: severity %d; want 1..%d", name, severity, c.Severities)
	}
	if img.C != 1 && img.C != 3 {
		return Image{}, fmt.Errorf("corruption %s: %d channels; want 1 or 3", name, img.C)
	}
	out := c.apply(img.Clone(), severity, RNG(seed, name, severity, index))
	return out.clip(), nil
}

// scale is the factor for spatial constants: the ratio of img's side to
// CIFAR's 32 pixels for larger images, and 1 up to 32 pixels, where
// shrinking a radius of one pixel would round the disk or blur away.
func scale(img Image) float64 { return max(float64(min(img.H, img.W))/32, 1) }

func init() {
	// Noise.
	add("gaussian_noise", Noise, 5, func(img Image, s int, rng *rand.Rand) Image {
		sigma := []float64{.04, .06, .08, .09, .10}[s-1]
		for i := range img.Pix {
			img.Pix[i] += sigma * rng.NormFloat64()
		}
		return img
	})
	add("shot_noise", Noise, 5, func(img Image, s int, rng *rand.Rand) Image {
		return shotNoise(img, []float64{500, 250, 100, 75, 50}[s-1], rng)
	})
	add("impulse_noise", Noise, 5, func(img Image, s int, rng *rand.Rand) Image {
		return saltPepper(img, []float64{.01, .02, .03, .05, .07}[s-1], rng)
	})
	// Blur.
	add("defocus_blur", Blur, 5, func(img Image, s int, rng *rand.Rand) Image {
		c := [][2]float64{{.3, .4}, {.4, .5}, {.5, .6}, {1, .2}, {1.5, .1}}[s-1]
		k, n := diskKernel(c[0]*scale(img), c[1])
		return img.perChannel(func(p plane) plane { return p.convolve(k, n, borderReflect101) })
	})
	add("glass_blur", Blur, 5, func(img Image, s int, rng *rand.Rand) Image {
		c := [][3]float64{{.05, 1, 1}, {.25, 1, 1}, {.4, 1, 1}, {.25, 1, 2}, {.4, 1, 2}}[s-1]
		return glassBlur(img, c[0]*scale(img), int(c[1]), int(c[2]), 1, rng)
	})
	add("motion_blur", Blur, 5, func(img Image, s int, rng *rand.Rand) Image {
		c := [][2]float64{{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}}[s-1]
		angle := rng.Float64()*90 - 45
		k := scale(img)
		return img.perChannel(func(p plane) plane { return p.motionBlur(c[0]*k, c[1]*k, angle) })
	})
	add("zoom_blur", Blur, 5, func(img Image, s int, rng *rand.Rand) Image {
		top := []float64{1.06, 1.11, 1.16, 1.21, 1.26}[s-1]
		var zooms []float64
		for i := 0; float64(i)*0.01+1 < top-1e-9; i++ { // np.arange(1, top, .01)
			zooms = append(zooms, 1+float64(i)*0.01)
		}
		return img.perChannel(func(p plane) plane {
			out := newPlane(p.h, p.w)
			copy(out.p, p.p)
			for _, z := range zooms {
				zp := p.zoomCentre(z)
				for i, v := range zp.p {
					out.p[i] += v
				}
			}
			for i := range out.p {
				out.p[i] /= float64(len(zooms) + 1)
			}
			return out
		})
	})
	// Weather.
	add("snow", Weather, 5, snow)
	add("frost", Weather, 5, func(img Image, s int, rng *rand.Rand) Image {
		c := [][2]float64{{1, .2}, {1, .3}, {.9, .4}, {.85, .4}, {.75, .45}}[s-1]
		tex := frostTexture(img.H, img.W, rng)
		for i := range img.Pix {
			y := i / img.C
			tint := 1.0
			if img.C == 3 { // ice is bluish white
				tint = []float64{.86, .93, 1}[i%3]
			}
			img.Pix[i] = c[0]*img.Pix[i] + c[1]*tex.p[y]*tint
		}
		return img
	})
	add("fog", Weather, 5, func(img Image, s int, rng *rand.Rand) Image {
		c := [][2]float64{{.2, 3}, {.5, 3}, {.75, 2.5}, {1, 2}, {1.5, 1.75}}[s-1]
		return fog(img, c[0], c[1], 32, rng)
	})
	add("brightness", Weather, 5, func(img Image, s int, rng *rand.Rand) Image {
		return brightness(img, []float64{.05, .1, .15, .2, .3}[s-1])
	})
	// Digital.
	add("contrast", Digital, 5, func(img Image, s int, rng *rand.Rand) Image {
		c := []float64{.75, .5, .4, .3, .15}[s-1]
		for ch := range img.C {
			var mean float64
			for i := ch; i < len(img.Pix); i += img.C {
				mean += img.Pix[i]
			}
			mean /= float64(img.H * img.W)
			for i := ch; i < len(img.Pix); i += img.C {
				img.Pix[i] = (img.Pix[i]-mean)*c + mean
			}
		}
		return img
	})
	add("elastic_transform", Digital, 5, func(img Image, s int, rng *rand.Rand) Image {
		c := [][3]float64{{0, 0, .08}, {.05, .2, .07}, {.08, .06, .06}, {.1, .04, .05}, {.1, .03, .03}}[s-1]
		side := float64(min(img.H, img.W))
		return elastic(img, c[0]*side, c[1]*side, c[2]*side, rng)
	})
	add("pixelate", Digital, 5, func(img Image, s int, rng *rand.Rand) Image {
		c := []float64{.95, .9, .85, .75, .65}[s-1]
		return pixelate(img, c)
	})
	add("jpeg_compression", Digital, 5, func(img Image, s int, rng *rand.Rand) Image {
		return jpegRoundTrip(img, []int{80, 65, 58, 50, 40}[s-1])
	})
	// Extras held out of the 15 in CIFAR-10-C.
	add("speckle_noise", Extra, 5, func(img Image, s int, rng *rand.Rand) Image {
		c := []float64{.06, .1, .12, .16, .2}[s-1]
		for i, v := range img.Pix {
			img.Pix[i] = v + v*c*rng.NormFloat64()
		}
		return img
	})
	add("gaussian_blur", Extra, 5, func(img Image, s int, rng *rand.Rand) Image {
		sigma := []float64{.4, .6, .7, .8, 1}[s-1] * scale(img)
		return img.perChannel(func(p plane) plane { return p.gaussian(sigma, borderNearest, 4) })
	})
	add("saturate", Extra, 5, func(img Image, s int, rng *rand.Rand) Image {
		c := [][2]float64{{.3, 0}, {.1, 0}, {1.5, 0}, {2, .1}, {2.5, .2}}[s-1]
		return saturate(img, c[0], c[1])
	})
}

func shotNoise(img Image, lambda float64, rng *rand.Rand) Image {
	for i, v := range img.Pix {
		img.Pix[i] = poisson(max(v, 0)*lambda, rng) / lambda
	}
	return img
}

// saltPepper replaces each value, with probability amount, by 0 or 1 with
// equal odds (skimage.util.random_noise mode "s&p").
func saltPepper(img Image, amount float64, rng *rand.Rand) Image {
	for i := range img.Pix {
		if rng.Float64() < amount {
			img.Pix[i] = float64(rng.IntN(2))
		}
	}
	return img
}

// diskKernel is the reference's aliased disk: the indicator of x² + y² ≤ r²
// on a 17×17 grid (wider for r > 8), normalised, then smoothed by a 3×3
// Gaussian of σ = alias (cv2.GaussianBlur, reflect-101 border). Rows and
// columns that end up zero are trimmed.
func diskKernel(radius, alias float64) ([]float64, int) {
	half := 8
	ks := 3
	if radius > 8 {
		half, ks = int(math.Ceil(radius)), 5
	}
	n := 2*half + 1
	disk := newPlane(n, n)
	var sum float64
	for y := range n {
		for x := range n {
			dx, dy := float64(x-half), float64(y-half)
			if dx*dx+dy*dy <= radius*radius {
				disk.p[y*n+x] = 1
				sum++
			}
		}
	}
	for i := range disk.p {
		disk.p[i] /= sum
	}
	g := gaussianKernel1D(alias, float64(ks/2)/alias) // exactly ks taps
	g2 := make([]float64, ks*ks)
	for i := range ks {
		for j := range ks {
			g2[i*ks+j] = g[i] * g[j]
		}
	}
	k := disk.convolve(g2, ks, borderReflect101)
	// Reflection at the grid's edge changes the sum when the disk touches
	// it (r > 8); renormalise so that flat images stay flat.
	var total float64
	for _, v := range k.p {
		total += v
	}
	for i := range k.p {
		k.p[i] /= total
	}
	// Trim to the smallest centred square holding every non-zero weight.
	r := 0
	for y := range n {
		for x := range n {
			if k.p[y*n+x] > 1e-12 {
				r = max(r, abs(y-half), abs(x-half))
			}
		}
	}
	m := 2*r + 1
	out := make([]float64, m*m)
	for y := range m {
		for x := range m {
			out[y*m+x] = k.p[(y+half-r)*n+x+half-r]
		}
	}
	return out, m
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// glassBlur: Gaussian blur, then iters sweeps of local pixel swaps (each
// pixel, from the bottom-right, swapped with one at offsets drawn from
// [−δ, δ) as numpy's randint, taken with probability p), then blur again.
func glassBlur(img Image, sigma float64, delta, iters int, p float64, rng *rand.Rand) Image {
	img = img.perChannel(func(q plane) plane { return q.gaussian(sigma, borderNearest, 4) })
	for range iters {
		for y := img.H - delta; y > delta; y-- {
			for x := img.W - delta; x > delta; x-- {
				dx, dy := rng.IntN(2*delta)-delta, rng.IntN(2*delta)-delta
				if p < 1 && rng.Float64() >= p {
					continue
				}
				y2, x2 := y+dy, x+dx
				if y >= img.H || x >= img.W || y2 >= img.H || x2 >= img.W {
					continue
				}
				for c := range img.C {
					a, b := img.at(y, x, c), img.at(y2, x2, c)
					img.set(y, x, c, b)
					img.set(y2, x2, c, a)
				}
			}
		}
	}
	return img.perChannel(func(q plane) plane { return q.gaussian(sigma, borderNearest, 4) })
}

// snow follows the reference: a Gaussian snow layer, zoomed, thresholded,
// motion-blurred into streaks, added with its 180° rotation to the image
// after blending it towards a brightened grey version.
func snow(img Image, s int, rng *rand.Rand) Image {
	// The CIFAR-10-C table (loc, scale, zoom, threshold, blur radius, blur
	// σ, blend), as in make_cifar_c.py of hendrycks/robustness (checked
	// against public copies of that script).
	c := [][7]float64{
		{.1, .2, 1, .6, 8, 3, .95},
		{.1, .2, 1, .5, 10, 4, .9},
		{.15, .3, 1.75, .55, 10, 4, .9},
		{.25, .3, 2.25, .6, 12, 6, .85},
		{.3, .3, 1.25, .65, 14, 12, .8},
	}[s-1]
	layer := newPlane(img.H, img.W)
	for i := range layer.p {
		layer.p[i] = c[0] + c[1]*rng.NormFloat64()
	}
	layer = layer.zoomCentre(c[2])
	for i, v := range layer.p {
		if v < c[3] {
			layer.p[i] = 0
		}
		layer.p[i] = min(max(layer.p[i], 0), 1) // the reference goes through an 8-bit PNG
	}
	k := scale(img)
	layer = layer.motionBlur(c[4]*k, c[5]*k, rng.Float64()*90-135)
	n := img.H * img.W
	for i := range n {
		g := img.grey(i)*1.5 + .5
		flake := layer.p[i] + layer.p[n-1-i] // the layer plus its 180° rotation
		for ch := range img.C {
			v := img.Pix[i*img.C+ch]
			img.Pix[i*img.C+ch] = c[6]*v + (1-c[6])*max(v, g) + flake
		}
	}
	return img
}

// frostTexture synthesises an ice texture in [0, 1]. The reference blends
// in crops of six frost photographs that are not shipped here; instead
// this draws branching ice needles (dendrites with side branches at ±60°)
// over a rough plasma-fractal haze, then softens them slightly. Its mean
// (about 0.4) and its mix of smooth haze and sharp crystalline lines
// resemble the photographs' crops, not their exact statistics.
func frostTexture(h, w int, rng *rand.Rand) plane {
	size := 32
	for size < max(h, w) {
		size *= 2
	}
	haze := plasmaFractal(size, 1.6, rng)
	tex := newPlane(h, w)
	for y := range h {
		for x := range w {
			tex.p[y*w+x] = 0.35 * haze.p[y*size+x]
		}
	}
	k := float64(min(h, w)) / 32
	needles := int(float64(h*w)/60) + 4
	for range needles {
		x, y := rng.Float64()*float64(w), rng.Float64()*float64(h)
		theta := rng.Float64() * 2 * math.Pi
		length := (3 + rng.Float64()*9) * k
		bright := 0.45 + 0.5*rng.Float64()
		drawSegment(tex, x, y, theta, length, bright)
		for b := 1.0; b < length; b += 2.5 * k { // side branches
			bx, by := x+b*math.Cos(theta), y+b*math.Sin(theta)
			side := math.Pi / 3
			if rng.IntN(2) == 0 {
				side = -side
			}
			drawSegment(tex, bx, by, theta+side, (length-b)*0.4, bright*0.8)
		}
	}
	tex = tex.gaussian(0.5*k, borderReflect, 4)
	for i, v := range tex.p {
		tex.p[i] = min(v, 1)
	}
	return tex
}

// drawSegment adds a line of the given brightness to p (max blend), from
// (x, y) along theta, in quarter-pixel steps.
func drawSegment(p plane, x, y, theta, length, bright float64) {
	dx, dy := math.Cos(theta), math.Sin(theta)
	for t := 0.0; t <= length; t += 0.25 {
		ix, iy := int(math.Floor(x+t*dx)), int(math.Floor(y+t*dy))
		if ix >= 0 && ix < p.w && iy >= 0 && iy < p.h {
			p.p[iy*p.w+ix] = max(p.p[iy*p.w+ix], bright)
		}
	}
}

// fog adds a plasma fractal of strength a (roughness decay) and rescales
// so that the brightest input value maps to max·max/(max + a), as the
// reference does.
func fog(img Image, a, decay float64, mapsize int, rng *rand.Rand) Image {
	for mapsize < max(img.H, img.W) {
		mapsize *= 2
	}
	f := plasmaFractal(mapsize, decay, rng)
	hi := slices.Max(img.Pix)
	for i := range img.Pix {
		y, x := (i/img.C)/img.W, (i/img.C)%img.W
		v := img.Pix[i] + a*f.p[y*mapsize+x]
		img.Pix[i] = v * hi / (hi + a)
	}
	return img
}

// brightness adds c to the V of HSV. With H and S fixed, every RGB channel
// is linear in V, so the new pixel is the old one scaled by V′/V, V′ =
// min(V + c, 1); a black pixel (V = 0, S = 0) becomes grey V′.
func brightness(img Image, c float64) Image {
	for i := 0; i < len(img.Pix); i += img.C {
		px := img.Pix[i : i+img.C]
		v := slices.Max(px)
		nv := min(v+c, 1)
		for k := range px {
			if v > 0 {
				px[k] *= nv / v
			} else {
				px[k] = nv
			}
		}
	}
	return img
}

// saturate sets HSV saturation S to S·mult + add (clipped), keeping H and
// V: each channel is V − S′·(V − x)/S; a grey pixel (S = 0) stays grey.
func saturate(img Image, mult, add float64) Image {
	if img.C == 1 {
		return img
	}
	for i := 0; i < len(img.Pix); i += 3 {
		px := img.Pix[i : i+3]
		v, lo := slices.Max(px), slices.Min(px)
		if v <= 0 || v == lo {
			continue
		}
		s := (v - lo) / v
		ns := min(max(s*mult+add, 0), 1)
		for k := range px {
			px[k] = v - ns*(v-px[k])/s
		}
	}
	return img
}

// elastic is the reference's elastic transform: a random affine warp that
// moves three points by up to ±affine pixels (reflect-101 border), then a
// displacement field of uniform noise smoothed by a Gaussian of σ sigma
// (truncated at 3σ, reflected) times alpha, sampled bilinearly with a
// reflected border.
func elastic(img Image, alpha, sigma, affineMax float64, rng *rand.Rand) Image {
	cx, cy := float64(img.W/2), float64(img.H/2)
	sq := float64(min(img.H, img.W) / 3)
	src := [3][2]float64{{cx + sq, cy + sq}, {cx + sq, cy - sq}, {cx - sq, cy - sq}}
	var dst [3][2]float64
	for i := range src {
		for j := range 2 {
			dst[i][j] = src[i][j] + (rng.Float64()*2-1)*affineMax
		}
	}
	// The inverse map sends each output point back: solve for the affine
	// map dst → src.
	img = img.affine(solveAffine(dst, src), borderReflect101, false)
	dx, dy := newPlane(img.H, img.W), newPlane(img.H, img.W)
	for i := range dx.p {
		dx.p[i] = rng.Float64()*2 - 1
	}
	for i := range dy.p {
		dy.p[i] = rng.Float64()*2 - 1
	}
	dx, dy = dx.gaussian(sigma, borderReflect, 3), dy.gaussian(sigma, borderReflect, 3)
	out := NewImage(img.H, img.W, img.C)
	for c := range img.C {
		p := img.channel(c)
		for y := range img.H {
			for x := range img.W {
				i := y*img.W + x
				out.Pix[i*img.C+c] = p.bilinear(float64(y)+alpha*dy.p[i], float64(x)+alpha*dx.p[i], borderReflect, false, 0)
			}
		}
	}
	return out
}

// solveAffine returns the affine map (x first) sending the three points
// from to the three points to (OpenCV's getAffineTransform).
func solveAffine(from, to [3][2]float64) [6]float64 {
	// [x y 1] rows; solve by Cramer's rule for each output coordinate.
	det := from[0][0]*(from[1][1]-from[2][1]) - from[0][1]*(from[1][0]-from[2][0]) + (from[1][0]*from[2][1] - from[2][0]*from[1][1])
	var m [6]float64
	for k := range 2 {
		b := [3]float64{to[0][k], to[1][k], to[2][k]}
		a := (b[0]*(from[1][1]-from[2][1]) - from[0][1]*(b[1]-b[2]) + (b[1]*from[2][1] - b[2]*from[1][1])) / det
		bb := (from[0][0]*(b[1]-b[2]) - b[0]*(from[1][0]-from[2][0]) + (from[1][0]*b[2] - from[2][0]*b[1])) / det
		c := (from[0][0]*(from[1][1]*b[2]-from[2][1]*b[1]) - from[0][1]*(from[1][0]*b[2]-from[2][0]*b[1]) + b[0]*(from[1][0]*from[2][1]-from[2][0]*from[1][1])) / det
		m[3*k], m[3*k+1], m[3*k+2] = a, bb, c
	}
	return m
}

// pixelate box-downsamples to ⌊side·c⌋ and box-upsamples back (PIL's
// Image.BOX both ways: area averaging down, nearest centre up).
func pixelate(img Image, c float64) Image {
	sh, sw := max(int(float64(img.H)*c), 1), max(int(float64(img.W)*c), 1)
	small := boxResize(img, sh, sw)
	return boxResize(small, img.H, img.W)
}

// boxResize resamples by exact area coverage: each output pixel averages
// the input over its footprint (for upsampling that is the input pixel
// under it, blended where a boundary falls inside).
func boxResize(img Image, h, w int) Image {
	out := NewImage(h, w, img.C)
	fy, fx := float64(img.H)/float64(h), float64(img.W)/float64(w)
	for y := range h {
		y0, y1 := float64(y)*fy, float64(y+1)*fy
		for x := range w {
			x0, x1 := float64(x)*fx, float64(x+1)*fx
			var area float64
			acc := make([]float64, img.C)
			for sy := int(y0); sy < img.H && float64(sy) < y1; sy++ {
				wy := min(y1, float64(sy+1)) - max(y0, float64(sy))
				for sx := int(x0); sx < img.W && float64(sx) < x1; sx++ {
					wx := min(x1, float64(sx+1)) - max(x0, float64(sx))
					if wy <= 0 || wx <= 0 {
						continue
					}
					for c := range img.C {
						acc[c] += wy * wx * img.at(sy, sx, c)
					}
					area += wy * wx
				}
			}
			for c := range img.C {
				out.set(y, x, c, acc[c]/area)
			}
		}
	}
	return out
}

// jpegRoundTrip encodes img as JPEG at the given quality with the
// standard library's encoder (4:2:0 chroma for colour, a single plane
// for grey) and decodes it.
func jpegRoundTrip(img Image, quality int) Image {
	var src image.Image
	r := image.Rect(0, 0, img.W, img.H)
	bytesOf := make([]byte, len(img.Pix))
	img.Bytes(bytesOf)
	if img.C == 1 {
		src = &image.Gray{Pix: bytesOf, Stride: img.W, Rect: r}
	} else {
		rgba := image.NewRGBA(r)
		for i := range img.H * img.W {
			copy(rgba.Pix[4*i:], bytesOf[3*i:3*i+3])
			rgba.Pix[4*i+3] = 255
		}
		src = rgba
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: quality}); err != nil {
		panic(err) // encoding to memory only fails on a programmer error
	}
	dec, err := jpeg.Decode(&buf)
	if err != nil {
		panic(err)
	}
	out := NewImage(img.H, img.W, img.C)
	for y := range img.H {
		for x := range img.W {
			r, g, b, _ := dec.At(x, y).RGBA()
			if img.C == 1 {
				out.Pix[y*img.W+x] = float64(r>>8) / 255
				continue
			}
			o := (y*img.W + x) * 3
			out.Pix[o], out.Pix[o+1], out.Pix[o+2] = float64(r>>8)/255, float64(g>>8)/255, float64(b>>8)/255
		}
	}
	return out
}

// mud is the reference spatter's mud branch (used by MNIST-C): a Gaussian liquid layer,
// smoothed by σ c[2] and thresholded at c[3], becomes a mask (smoothed by
// σ c[4], kept where ≥ 0.8) that paints brown mud (63, 42, 20)/255 over
// the image; for grey images the mud is its luma.
func mud(img Image, c [5]float64, rng *rand.Rand) Image {
	liquid := newPlane(img.H, img.W)
	for i := range liquid.p {
		liquid.p[i] = c[0] + c[1]*rng.NormFloat64()
	}
	k := scale(img)
	liquid = liquid.gaussian(c[2]*k, borderNearest, 4)
	mask := newPlane(img.H, img.W)
	for i, v := range liquid.p {
		if v > c[3] {
			mask.p[i] = 1
		}
	}
	mask = mask.gaussian(c[4]*k, borderNearest, 4)
	colour := []float64{63.0 / 255, 42.0 / 255, 20.0 / 255}
	if img.C == 1 {
		colour = []float64{0.299*colour[0] + 0.587*colour[1] + 0.114*colour[2]}
	}
	for i, m := range mask.p {
		if m < 0.8 {
			continue
		}
		for ch := range img.C {
			img.Pix[i*img.C+ch] = img.Pix[i*img.C+ch]*(1-m) + colour[ch]*m
		}
	}
	return img
}
