package data

import (
	"fmt"
	"math"
)

// Mix describes how a batch was mixed with a permutation of itself by Mixup
// or CutMix: the model sees mixed images, and the loss is
// Lambda·L(z, Labels) + (1 − Lambda)·L(z, PartnerLabels).
type Mix struct {
	// Lambda is the weight of each example's own label, in [0, 1].
	Lambda float64
	// Partner[i] is the batch index mixed into example i.
	Partner []int
	// PartnerLabels[i] is the label of Partner[i].
	PartnerLabels []int

	buf []float32 // reused copy of the batch's images
}

// copyImages returns a copy of b's images in mix's reused buffer.
func (mix *Mix) copyImages(b *Batch) []float32 {
	mix.buf = append(mix.buf[:0], b.X.Data...)
	return mix.buf
}

// MixKey is the key of a training step's mixing draws: a hash of the run
// seed and the step, independent of the example keys.
func MixKey(seed uint64, step int) uint64 {
	return mix64(mix64(seed^0xA4093822299F31D0) + uint64(step)*0x9E3779B97F4A7C15)
}

// Mixup replaces b's images by x_i·λ + x_Partner(i)·(1 − λ) with λ ~ Beta(α, α)
// drawn once per batch and Partner a uniform permutation of the batch, both
// from key (Zhang et al., "mixup: Beyond Empirical Risk Minimization", 2018,
// as in their reference code). It works on normalised images directly: the
// normalisation is affine, so mixing commutes with it. α must be > 0.
func Mixup(b *Batch, alpha float64, key uint64, mix *Mix) {
	rng := exampleRNG{key: key}
	lambda := betaSample(&rng, alpha)
	mix.setPartners(b, &rng, lambda)
	per := len(b.X.Data) / len(b.Labels)
	orig := mix.copyImages(b)
	l, r := float32(lambda), float32(1-lambda)
	for i, j := range mix.Partner {
		a, p, out := orig[i*per:(i+1)*per], orig[j*per:(j+1)*per], b.X.Data[i*per:(i+1)*per]
		for k := range out {
			out[k] = l*a[k] + r*p[k]
		}
	}
}

// CutMix pastes into each image the box of its partner's image of relative
// area 1 − λ, λ ~ Beta(α, α), centred uniformly and clipped to the image;
// Lambda is then corrected to the unpasted fraction of the area (Yun et al.,
// "CutMix", ICCV 2019, as in their reference code). One box and one
// permutation per batch, drawn from key. α must be > 0.
func CutMix(b *Batch, alpha float64, key uint64, mix *Mix) {
	rng := exampleRNG{key: key}
	lambda := betaSample(&rng, alpha)
	h, w, c := b.X.Shape[1], b.X.Shape[2], b.X.Shape[3]
	y0, y1, x0, x1 := cutBox(h, w, lambda, &rng)
	mix.setPartners(b, &rng, 1-float64((y1-y0)*(x1-x0))/float64(h*w))
	per := h * w * c
	orig := mix.copyImages(b)
	for i, j := range mix.Partner {
		for y := y0; y < y1; y++ {
			row := y*w*c + x0*c
			copy(b.X.Data[i*per+row:i*per+row+(x1-x0)*c], orig[j*per+row:j*per+row+(x1-x0)*c])
		}
	}
}

// cutBox is the CutMix box [y0, y1) × [x0, x1): sides √(1−λ)·H and √(1−λ)·W
// (truncated), centre uniform over the pixels, clipped to the image.
func cutBox(h, w int, lambda float64, rng *exampleRNG) (y0, y1, x0, x1 int) {
	cut := math.Sqrt(1 - lambda)
	ch, cw := int(float64(h)*cut), int(float64(w)*cut)
	cy, cx := rng.intn(h), rng.intn(w)
	y0, y1 = max(cy-ch/2, 0), min(cy+ch/2, h)
	x0, x1 = max(cx-cw/2, 0), min(cx+cw/2, w)
	return y0, y1, x0, x1
}

// setPartners draws the partner permutation (Fisher–Yates) and fills mix.
func (mix *Mix) setPartners(b *Batch, rng *exampleRNG, lambda float64) {
	n := len(b.Labels)
	if n == 0 || len(b.X.Data)%n != 0 {
		panic(fmt.Sprintf("data: mixing a batch of %d labels and %d values", n, len(b.X.Data)))
	}
	mix.Lambda = lambda
	mix.Partner = mix.Partner[:0]
	for i := range n {
		mix.Partner = append(mix.Partner, i)
	}
	for i := n - 1; i > 0; i-- {
		j := rng.intn(i + 1)
		mix.Partner[i], mix.Partner[j] = mix.Partner[j], mix.Partner[i]
	}
	mix.PartnerLabels = mix.PartnerLabels[:0]
	for _, j := range mix.Partner {
		mix.PartnerLabels = append(mix.PartnerLabels, b.Labels[j])
	}
}

// betaSample draws from Beta(α, α) as X/(X+Y) with X, Y ~ Gamma(α, 1).
func betaSample(rng *exampleRNG, alpha float64) float64 {
	if !(alpha > 0) {
		panic(fmt.Sprintf("data: Beta(%v, %v) needs α > 0", alpha, alpha))
	}
	x, y := gammaSample(rng, alpha), gammaSample(rng, alpha)
	if x+y == 0 {
		// Both underflowed (tiny α): the two ends are equally likely.
		if rng.uint64()&1 == 0 {
			return 0
		}
		return 1
	}
	return x / (x + y)
}

// gammaSample draws from Gamma(a, 1) by Marsaglia and Tsang, "A simple
// method for generating gamma variables" (2000), with the boost
// Gamma(a) = Gamma(a+1)·U^(1/a) for a < 1.
func gammaSample(rng *exampleRNG, a float64) float64 {
	if a < 1 {
		u := rng.float64()
		return gammaSample(rng, a+1) * math.Pow(u, 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		var x, v float64
		for v <= 0 {
			x = normalSample(rng)
			v = 1 + c*x
		}
		v = v * v * v
		u := rng.float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// normalSample draws from N(0, 1) by the Box–Muller transform.
func normalSample(rng *exampleRNG) float64 {
	u1 := 1 - rng.float64() // in (0, 1]
	u2 := rng.float64()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}
