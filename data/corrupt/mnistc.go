package corrupt

import (
	"math"
	"math/rand/v2"
)

// The MNIST-C corruptions (Mu & Gilmer 2019), with the constants of the
// released set (google-research/mnist-c corruptions.py at the default
// severity). They take severity 1 only. Geometric ones use an affine map
// about the image centre with bilinear sampling and a black border;
// spatial constants are scaled by side/28.
func init() {
	k28 := func(img Image) float64 { return float64(min(img.H, img.W)) / 28 }
	add("mnistc_shot_noise", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image { return shotNoise(img, 3, rng) })
	add("mnistc_impulse_noise", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image { return saltPepper(img, .17, rng) })
	add("mnistc_glass_blur", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image {
		return glassBlur(img, .7*k28(img), 1, 2, .5, rng)
	})
	add("mnistc_motion_blur", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image {
		angle := rng.Float64()*90 - 45
		k := k28(img)
		return img.perChannel(func(p plane) plane { return p.motionBlur(10*k, 3*k, angle) })
	})
	add("mnistc_shear", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image {
		s := 0.4 * randSign(rng)
		return img.affine(aboutCentre(img.H, img.W, [4]float64{1, s, 0, 1}, 0, 0), 0, true)
	})
	add("mnistc_scale", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image {
		return img.affine(aboutCentre(img.H, img.W, [4]float64{.7, 0, 0, .7}, 0, 0), 0, true)
	})
	add("mnistc_rotate", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image {
		a := 0.4 * randSign(rng)
		cos, sin := math.Cos(a), math.Sin(a)
		return img.affine(aboutCentre(img.H, img.W, [4]float64{cos, -sin, sin, cos}, 0, 0), 0, true)
	})
	add("mnistc_translate", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image {
		d := 3 * k28(img)
		return img.affine(aboutCentre(img.H, img.W, [4]float64{1, 0, 0, 1}, d*randSign(rng), d*randSign(rng)), 0, true)
	})
	add("mnistc_brightness", MNISTC, 1, func(img Image, _ int, _ *rand.Rand) Image { return brightness(img, .5) })
	add("mnistc_stripe", MNISTC, 1, func(img Image, _ int, _ *rand.Rand) Image {
		// Invert columns 0–6 and 21–27 of a 28-pixel image: the outer
		// quarters.
		for i := range img.Pix {
			x := (i / img.C) % img.W
			if 4*x < img.W || 4*x >= 3*img.W {
				img.Pix[i] = 1 - img.Pix[i]
			}
		}
		return img
	})
	add("mnistc_fog", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image { return fog(img, 3, 1.4, 256, rng) })
	add("mnistc_spatter", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image {
		return mud(img, [5]float64{.65, .3, 1, .65, 1.5}, rng)
	})
	add("mnistc_dotted_line", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image {
		// A random line across the image, drawn in 2-pixel dashes, with
		// the reference's brightness decay log(1 − d/2.3) + 1 across its
		// width d (pixels from the centre line).
		x0, y0, x1, y1 := randomChord(img, rng)
		return drawLine(img, x0, y0, x1, y1, func(t float64) bool { return int(t/2)%2 == 0 })
	})
	add("mnistc_zigzag", MNISTC, 1, func(img Image, _ int, rng *rand.Rand) Image {
		// A zigzag of amplitude 2 and segment length 2 from column 2 to
		// 25 (scaled), at a random height, drawn as connected lines.
		k := k28(img)
		y := (4 + rng.Float64()*float64(img.H-8)) // keep the amplitude inside
		x := 2 * k
		up := 1.0
		for x < float64(img.W)-3*k {
			nx, ny := x+2*k, y+2*k*up
			img = drawLine(img, x, y, nx, ny, nil)
			x, y, up = nx, ny, -up
		}
		return img
	})
	add("mnistc_canny_edges", MNISTC, 1, func(img Image, _ int, _ *rand.Rand) Image {
		return img.perChannel(func(p plane) plane { return canny(p, 1*k28(img), .1, .2) })
	})
}

func randSign(rng *rand.Rand) float64 {
	if rng.IntN(2) == 0 {
		return -1
	}
	return 1
}

// randomChord picks a line between two random points on opposite sides of
// the image.
func randomChord(img Image, rng *rand.Rand) (x0, y0, x1, y1 float64) {
	w, h := float64(img.W-1), float64(img.H-1)
	if rng.IntN(2) == 0 { // left to right
		return 0, rng.Float64() * h, w, rng.Float64() * h
	}
	return rng.Float64() * w, 0, rng.Float64() * w, h
}

// drawLine brightens pixels near the segment (x0, y0)–(x1, y1): a pixel at
// distance d from the line gets max(itself, log(1 − d/2.3) + 1), the
// reference's anti-aliasing profile (zero beyond d ≈ 1.45). keep, if set,
// selects which positions t (pixels along the line) are drawn.
func drawLine(img Image, x0, y0, x1, y1 float64, keep func(t float64) bool) Image {
	length := math.Hypot(x1-x0, y1-y0)
	if length == 0 {
		return img
	}
	ux, uy := (x1-x0)/length, (y1-y0)/length
	for y := range img.H {
		for x := range img.W {
			px, py := float64(x)-x0, float64(y)-y0
			t := px*ux + py*uy
			if t < 0 || t > length || (keep != nil && !keep(t)) {
				continue
			}
			d := math.Abs(px*uy - py*ux)
			v := math.Log(1-d/2.3) + 1
			if !(v > 0) {
				continue
			}
			for c := range img.C {
				img.set(y, x, c, max(img.at(y, x, c), v))
			}
		}
	}
	return img
}

// canny is skimage.feature.canny: Gaussian smoothing (σ), Sobel gradients,
// non-maximum suppression across the gradient direction, and hysteresis:
// edges of magnitude ≥ high, grown through 8-connected pixels ≥ low. The
// result is 1 on edges and 0 elsewhere.
func canny(p plane, sigma, low, high float64) plane {
	s := p.gaussian(sigma, borderNearest, 4)
	gx, gy, mag := newPlane(p.h, p.w), newPlane(p.h, p.w), newPlane(p.h, p.w)
	at := func(y, x int) float64 { return s.p[borderNearest.index(y, p.h)*p.w+borderNearest.index(x, p.w)] }
	for y := range p.h {
		for x := range p.w {
			i := y*p.w + x
			gx.p[i] = (at(y-1, x+1) + 2*at(y, x+1) + at(y+1, x+1)) - (at(y-1, x-1) + 2*at(y, x-1) + at(y+1, x-1))
			gy.p[i] = (at(y+1, x-1) + 2*at(y+1, x) + at(y+1, x+1)) - (at(y-1, x-1) + 2*at(y-1, x) + at(y-1, x+1))
			mag.p[i] = math.Hypot(gx.p[i], gy.p[i])
		}
	}
	m := func(y, x int) float64 {
		if y < 0 || y >= p.h || x < 0 || x >= p.w {
			return 0
		}
		return mag.p[y*p.w+x]
	}
	state := make([]byte, p.h*p.w) // 0 none, 1 weak, 2 strong
	var stack []int
	for y := 1; y < p.h-1; y++ { // skimage masks out the one-pixel border
		for x := 1; x < p.w-1; x++ {
			i := y*p.w + x
			v := mag.p[i]
			if v < low {
				continue
			}
			// Compare with the two neighbours along the gradient,
			// quantised to 0°, 45°, 90° or 135°.
			angle := math.Atan2(gy.p[i], gx.p[i]) * 180 / math.Pi
			if angle < 0 {
				angle += 180
			}
			var a, b float64
			switch {
			case angle < 22.5 || angle >= 157.5:
				a, b = m(y, x-1), m(y, x+1)
			case angle < 67.5:
				a, b = m(y-1, x-1), m(y+1, x+1)
			case angle < 112.5:
				a, b = m(y-1, x), m(y+1, x)
			default:
				a, b = m(y-1, x+1), m(y+1, x-1)
			}
			if v < a || v < b {
				continue
			}
			state[i] = 1
			if v >= high {
				state[i] = 2
				stack = append(stack, i)
			}
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		y, x := i/p.w, i%p.w
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				yy, xx := y+dy, x+dx
				if yy < 0 || yy >= p.h || xx < 0 || xx >= p.w {
					continue
				}
				if j := yy*p.w + xx; state[j] == 1 {
					state[j] = 2
					stack = append(stack, j)
				}
			}
		}
	}
	out := newPlane(p.h, p.w)
	for i, st := range state {
		if st == 2 {
			out.p[i] = 1
		}
	}
	return out
}
