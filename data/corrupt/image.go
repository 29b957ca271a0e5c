package corrupt

import (
	"math"
	"math/rand/v2"
)

// Image is a float image with values in [0, 1], H×W×C, channels
// interleaved (the layout of data.RawImages scaled by 1/255).
type Image struct {
	H, W, C int
	Pix     []float64
}

// NewImage returns a black h×w×c image.
func NewImage(h, w, c int) Image { return Image{H: h, W: w, C: c, Pix: make([]float64, h*w*c)} }

// FromBytes scales 8-bit pixels to [0, 1].
func FromBytes(h, w, c int, pix []byte) Image {
	img := NewImage(h, w, c)
	for i, p := range pix {
		img.Pix[i] = float64(p) / 255
	}
	return img
}

// Bytes quantises img to 8 bits (round to nearest, clip) into dst.
func (m Image) Bytes(dst []byte) {
	for i, v := range m.Pix {
		p := math.Round(v * 255)
		dst[i] = byte(min(max(p, 0), 255))
	}
}

// Clone returns a deep copy.
func (m Image) Clone() Image {
	c := m
	c.Pix = append([]float64(nil), m.Pix...)
	return c
}

func (m Image) at(y, x, c int) float64     { return m.Pix[(y*m.W+x)*m.C+c] }
func (m Image) set(y, x, c int, v float64) { m.Pix[(y*m.W+x)*m.C+c] = v }

func (m Image) clip() Image {
	for i, v := range m.Pix {
		m.Pix[i] = min(max(v, 0), 1)
	}
	return m
}

// plane is a single-channel float image, for layers (snow, fog, masks).
type plane struct {
	h, w int
	p    []float64
}

func newPlane(h, w int) plane { return plane{h, w, make([]float64, h*w)} }

// channel extracts channel c of m as a plane.
func (m Image) channel(c int) plane {
	p := newPlane(m.H, m.W)
	for i := range p.p {
		p.p[i] = m.Pix[i*m.C+c]
	}
	return p
}

func (m Image) setChannel(c int, p plane) {
	for i, v := range p.p {
		m.Pix[i*m.C+c] = v
	}
}

// perChannel applies f to each channel plane of m, in place.
func (m Image) perChannel(f func(plane) plane) Image {
	for c := range m.C {
		m.setChannel(c, f(m.channel(c)))
	}
	return m
}

// Border modes name how a coordinate outside [0, n) maps back inside.
type border int

const (
	// borderNearest repeats the edge pixel: a a a | a b c (scipy "nearest",
	// OpenCV BORDER_REPLICATE).
	borderNearest border = iota
	// borderReflect mirrors including the edge: b a | a b c (scipy
	// "reflect", OpenCV BORDER_REFLECT).
	borderReflect
	// borderReflect101 mirrors excluding the edge: c b | a b c (OpenCV's
	// default BORDER_REFLECT_101).
	borderReflect101
)

func (b border) index(i, n int) int {
	if n == 1 {
		return 0
	}
	for i < 0 || i >= n {
		switch b {
		case borderNearest:
			return min(max(i, 0), n-1)
		case borderReflect:
			if i < 0 {
				i = -i - 1
			} else {
				i = 2*n - 1 - i
			}
		case borderReflect101:
			if i < 0 {
				i = -i
			} else {
				i = 2*n - 2 - i
			}
		}
	}
	return i
}

// gaussianKernel1D is exp(−x²/2σ²) on x ∈ [−r, r], r = ⌊truncate·σ + ½⌋
// (scipy.ndimage.gaussian_filter's support), normalised to sum 1.
func gaussianKernel1D(sigma, truncate float64) []float64 {
	r := int(truncate*sigma + 0.5)
	k := make([]float64, 2*r+1)
	var sum float64
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-x * x / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}

// gaussian blurs p with a separable Gaussian of standard deviation sigma
// (skimage.filters.gaussian: truncate 4, the given border); σ ≤ 0 is the
// identity.
func (p plane) gaussian(sigma float64, b border, truncate float64) plane {
	if sigma <= 0 {
		return p
	}
	k := gaussianKernel1D(sigma, truncate)
	r := len(k) / 2
	tmp := newPlane(p.h, p.w)
	for y := range p.h {
		for x := range p.w {
			var s float64
			for i, kv := range k {
				s += kv * p.p[y*p.w+b.index(x+i-r, p.w)]
			}
			tmp.p[y*p.w+x] = s
		}
	}
	out := newPlane(p.h, p.w)
	for y := range p.h {
		for x := range p.w {
			var s float64
			for i, kv := range k {
				s += kv * tmp.p[b.index(y+i-r, p.h)*p.w+x]
			}
			out.p[y*p.w+x] = s
		}
	}
	return out
}

// convolve correlates p with a square kernel (size k×k, odd), as OpenCV's
// filter2D does.
func (p plane) convolve(kernel []float64, k int, b border) plane {
	r := k / 2
	out := newPlane(p.h, p.w)
	for y := range p.h {
		for x := range p.w {
			var s float64
			for ky := range k {
				row := b.index(y+ky-r, p.h) * p.w
				for kx := range k {
					if kv := kernel[ky*k+kx]; kv != 0 {
						s += kv * p.p[row+b.index(x+kx-r, p.w)]
					}
				}
			}
			out.p[y*p.w+x] = s
		}
	}
	return out
}

// bilinear samples p at (y, x); outside points take the border's value,
// or fill when b < 0 (constant border).
func (p plane) bilinear(y, x float64, b border, constant bool, fill float64) float64 {
	y0, x0 := math.Floor(y), math.Floor(x)
	ty, tx := y-y0, x-x0
	iy, ix := int(y0), int(x0)
	get := func(yy, xx int) float64 {
		if yy < 0 || yy >= p.h || xx < 0 || xx >= p.w {
			if constant {
				return fill
			}
			yy, xx = b.index(yy, p.h), b.index(xx, p.w)
		}
		return p.p[yy*p.w+xx]
	}
	return (1-ty)*((1-tx)*get(iy, ix)+tx*get(iy, ix+1)) + ty*((1-tx)*get(iy+1, ix)+tx*get(iy+1, ix+1))
}

// affine resamples m: output pixel (y, x) takes the input at
// (inv[0]·x + inv[1]·y + inv[2], inv[3]·x + inv[4]·y + inv[5]) (x first,
// as OpenCV's matrices), bilinearly, with a border or a constant 0.
func (m Image) affine(inv [6]float64, b border, constant bool) Image {
	out := NewImage(m.H, m.W, m.C)
	for c := range m.C {
		p := m.channel(c)
		q := newPlane(m.H, m.W)
		for y := range m.H {
			for x := range m.W {
				fx, fy := float64(x), float64(y)
				sx := inv[0]*fx + inv[1]*fy + inv[2]
				sy := inv[3]*fx + inv[4]*fy + inv[5]
				q.p[y*m.W+x] = p.bilinear(sy, sx, b, constant, 0)
			}
		}
		out.setChannel(c, q)
	}
	return out
}

// aboutCentre returns the inverse map of the linear map a (2×2, x first)
// applied about the image centre ((W−1)/2, (H−1)/2) and then shifted by
// (tx, ty).
func aboutCentre(h, w int, a [4]float64, tx, ty float64) [6]float64 {
	det := a[0]*a[3] - a[1]*a[2]
	i0, i1, i2, i3 := a[3]/det, -a[1]/det, -a[2]/det, a[0]/det
	cx, cy := float64(w-1)/2, float64(h-1)/2
	// src = A⁻¹(dst − c − t) + c
	return [6]float64{i0, i1, cx - i0*(cx+tx) - i1*(cy+ty), i2, i3, cy - i2*(cx+tx) - i3*(cy+ty)}
}

// zoomCentre is scipy.ndimage.zoom of the centre crop of side ⌈n/z⌉ by z,
// trimmed back to n (the reference's clipped_zoom), computed as one
// bilinear resampling: output (y, x) reads the input at
// c + (y − c)/z, with c the centre.
func (p plane) zoomCentre(z float64) plane {
	// The map is axis-aligned, so the bilinear weights separate: compute
	// each row's and column's two taps once.
	ys, xs := zoomTaps(p.h, z), zoomTaps(p.w, z)
	out := newPlane(p.h, p.w)
	for y, ty := range ys {
		r0, r1 := p.p[ty.i0*p.w:], p.p[ty.i1*p.w:]
		for x, tx := range xs {
			a := r0[tx.i0]*(1-tx.t) + r0[tx.i1]*tx.t
			b := r1[tx.i0]*(1-tx.t) + r1[tx.i1]*tx.t
			out.p[y*p.w+x] = a*(1-ty.t) + b*ty.t
		}
	}
	return out
}

// zoomTap is a 1-D bilinear sample: (1 − t)·v[i0] + t·v[i1].
type zoomTap struct {
	i0, i1 int
	t      float64
}

// zoomTaps gives, for each of n outputs, the taps reading c + (i − c)/z,
// c = (n − 1)/2, with edge-replicated borders.
func zoomTaps(n int, z float64) []zoomTap {
	taps := make([]zoomTap, n)
	c := float64(n-1) / 2
	for i := range taps {
		f := c + (float64(i)-c)/z
		f0 := math.Floor(f)
		i0 := int(f0)
		taps[i] = zoomTap{borderNearest.index(i0, n), borderNearest.index(i0+1, n), f - f0}
	}
	return taps
}

// motionBlur approximates ImageMagick's MotionBlurImage, which the
// reference calls through Wand: a one-sided line kernel of 2·radius+1 taps
// weighted exp(−i²/2σ²), i = 0…2·radius, along angle (degrees, counter-
// clockwise from +x), normalised, with edge-replicated borders. Taps are
// rounded to whole pixels, as ImageMagick does.
func (p plane) motionBlur(radius, sigma, angle float64) plane {
	width := 2*int(math.Round(radius)) + 1
	theta := angle * math.Pi / 180
	type tap struct {
		dx, dy int
		w      float64
	}
	taps := make([]tap, width)
	var sum float64
	for i := range taps {
		w := math.Exp(-float64(i*i) / (2 * sigma * sigma))
		taps[i] = tap{int(math.Round(float64(i) * math.Cos(theta))), -int(math.Round(float64(i) * math.Sin(theta))), w}
		sum += w
	}
	out := newPlane(p.h, p.w)
	for y := range p.h {
		for x := range p.w {
			var s float64
			for _, t := range taps {
				s += t.w * p.p[borderNearest.index(y+t.dy, p.h)*p.w+borderNearest.index(x+t.dx, p.w)]
			}
			out.p[y*p.w+x] = s / sum
		}
	}
	return out
}

// plasmaFractal is the diamond-square height map of the reference's fog
// (a size×size torus, size a power of two), with the random displacement
// shrinking by decay each octave, scaled to [0, 1].
func plasmaFractal(size int, decay float64, rng *rand.Rand) plane {
	m := newPlane(size, size)
	at := func(y, x int) *float64 { return &m.p[((y%size+size)%size)*size+(x%size+size)%size] }
	wibble := 100.0
	for step := size; step >= 2; step /= 2 {
		half := step / 2
		// Squares: each cell's centre is the mean of its four corners
		// plus noise.
		for y := 0; y < size; y += step {
			for x := 0; x < size; x += step {
				s := *at(y, x) + *at(y+step, x) + *at(y, x+step) + *at(y+step, x+step)
				*at(y+half, x+half) = s/4 + wibble*(rng.Float64()*2*wibble-wibble)
			}
		}
		// Diamonds: edge midpoints from their two corners and the two
		// neighbouring centres.
		for y := 0; y < size; y += step {
			for x := 0; x < size; x += step {
				s := *at(y+half, x+half) + *at(y-half, x+half) + *at(y, x) + *at(y, x+step)
				*at(y, x+half) = s/4 + wibble*(rng.Float64()*2*wibble-wibble)
			}
		}
		for y := 0; y < size; y += step {
			for x := 0; x < size; x += step {
				s := *at(y+half, x+half) + *at(y+half, x-half) + *at(y, x) + *at(y+step, x)
				*at(y+half, x) = s/4 + wibble*(rng.Float64()*2*wibble-wibble)
			}
		}
		wibble /= decay
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range m.p {
		lo, hi = min(lo, v), max(hi, v)
	}
	for i := range m.p {
		m.p[i] = (m.p[i] - lo) / (hi - lo)
	}
	return m
}

// poisson draws from a Poisson distribution of the given mean: Knuth's
// product of uniforms below 30, else the PTRS transformed rejection
// sampler (Hörmann 1993, "The transformed rejection method for generating
// Poisson random variables").
func poisson(mean float64, rng *rand.Rand) float64 {
	if mean <= 0 {
		return 0
	}
	if mean < 30 {
		l, k, p := math.Exp(-mean), 0.0, 1.0
		for {
			p *= rng.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	slam := math.Sqrt(mean)
	loglam := math.Log(mean)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invalpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := rng.Float64() - 0.5
		v := rng.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + mean + 0.43)
		if us >= 0.07 && v <= vr {
			return k
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invalpha)-math.Log(a/(us*us)+b) <= -mean+k*loglam-lg {
			return k
		}
	}
}

// grey is the ITU-R BT.601 luma of pixel i (OpenCV's RGB2GRAY), or the
// value itself for one channel.
func (m Image) grey(i int) float64 {
	if m.C == 1 {
		return m.Pix[i]
	}
	p := m.Pix[i*m.C:]
	return 0.299*p[0] + 0.587*p[1] + 0.114*p[2]
}
