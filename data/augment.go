package data

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/losslab/losslab/tensor"
)

// Augmentation is a chain of per-example image transforms applied to
// training batches. Each example's transform is a pure function of a 64-bit
// key (see ExampleKey), so results depend neither on the thread count nor on
// whether a run was resumed: no generator state is ever saved.
//
// The transforms work on pixels in [0, 1], as the AutoAugment and RandAugment
// operations are defined there: Apply undoes the dataset's Normalization,
// transforms, and normalises again. Geometric transforms fill uncovered
// pixels with black (0), as torchvision does by default.
type Augmentation struct {
	spec   string
	stages []stage
}

// stage is one link of the chain.
type stage interface {
	apply(img, scratch *image, rng *exampleRNG)
}

// AugmentStages lists the stage names accepted by NewAugmentation; a spec
// joins stages with "+", applied left to right (e.g.
// "crop-flip+autoaugment-cifar10"), and "none" or "" is the empty chain.
//
//	crop                  random crop with zero padding 4 (digits: no flip)
//	flip                  horizontal flip with probability 1/2
//	crop-flip             crop then flip (the standard CIFAR augmentation)
//	random-resized-crop   Inception crop, scale [0.08, 1], ratio [3/4, 4/3],
//	                      bilinear resize back to the input size, then flip
//	autoaugment-cifar10   AutoAugment's CIFAR-10 policy (Cubuk et al. 2019)
//	autoaugment-imagenet  AutoAugment's ImageNet policy
//	randaugment           RandAugment(N, M) (Cubuk et al. 2020)
func AugmentStages() []string {
	return []string{"autoaugment-cifar10", "autoaugment-imagenet", "crop", "crop-flip", "flip", "randaugment", "random-resized-crop"}
}

// RandAugment's torchvision defaults: N = 2 operations of magnitude M = 9 on
// a scale of 0 to RandAugmentMaxMagnitude (31 bins).
const (
	DefaultRandAugmentN     = 2
	DefaultRandAugmentM     = 9
	RandAugmentMaxMagnitude = randAugmentBins - 1
)

// cropPad is the zero padding of the standard CIFAR random crop.
const cropPad = 4

// NewAugmentation parses a spec (see AugmentStages). randN and randM are
// RandAugment's number of operations and magnitude index in
// [0, RandAugmentMaxMagnitude]; they are ignored without a randaugment stage.
func NewAugmentation(spec string, randN, randM int) (*Augmentation, error) {
	a := &Augmentation{spec: spec}
	if spec == "" || spec == "none" {
		return a, nil
	}
	for _, name := range strings.Split(spec, "+") {
		switch name {
		case "crop":
			a.stages = append(a.stages, cropStage{pad: cropPad})
		case "flip":
			a.stages = append(a.stages, flipStage{})
		case "crop-flip":
			a.stages = append(a.stages, cropStage{pad: cropPad}, flipStage{})
		case "random-resized-crop":
			a.stages = append(a.stages, resizedCropStage{}, flipStage{})
		case "autoaugment-cifar10":
			a.stages = append(a.stages, autoAugmentStage{policy: cifar10Policy})
		case "autoaugment-imagenet":
			a.stages = append(a.stages, autoAugmentStage{policy: imagenetPolicy})
		case "randaugment":
			if randN < 1 {
				return nil, fmt.Errorf("augment %q: RandAugment N = %d; want ≥ 1", spec, randN)
			}
			if randM < 0 || randM > RandAugmentMaxMagnitude {
				return nil, fmt.Errorf("augment %q: RandAugment M = %d; want in [0, %d]", spec, randM, RandAugmentMaxMagnitude)
			}
			a.stages = append(a.stages, randAugmentStage{n: randN, m: randM})
		default:
			return nil, fmt.Errorf("augment %q: unknown stage %q; want \"none\" or stages joined by '+' from %s",
				spec, name, strings.Join(AugmentStages(), ", "))
		}
	}
	return a, nil
}

// String returns the spec the augmentation was built from.
func (a *Augmentation) String() string { return a.spec }

// Empty reports whether the augmentation leaves images unchanged.
func (a *Augmentation) Empty() bool { return a == nil || len(a.stages) == 0 }

// ExampleKey is the key of one example's random draws in one epoch: a hash
// of the run seed, the epoch and the example's index in the dataset.
func ExampleKey(seed uint64, epoch, index int) uint64 {
	return mix64(mix64(seed^0x243F6A8885A308D3) + mix64(uint64(epoch)+0x13198A2E03707344) + uint64(index))
}

// Apply transforms every example of b in place; keys[i] is the key of
// example i (see ExampleKey). norm is the normalisation b's images carry. It
// panics if len(keys) differs from the batch size (a programmer error).
func (a *Augmentation) Apply(b *Batch, norm Normalization, keys []uint64) {
	if a.Empty() {
		return
	}
	n, h, w, c := b.X.Shape[0], b.X.Shape[1], b.X.Shape[2], b.X.Shape[3]
	if len(keys) != n {
		panic(fmt.Sprintf("data: %d augmentation keys for a batch of %d", len(keys), n))
	}
	mean, std := channelStats(norm, c)
	per := h * w * c
	tensor.ParallelFor(n, func(lo, hi int) {
		img := &image{h: h, w: w, c: c, pix: make([]float32, per)}
		scratch := &image{h: h, w: w, c: c, pix: make([]float32, per)}
		for i := lo; i < hi; i++ {
			x := b.X.Data[i*per : (i+1)*per]
			for p := 0; p < per; p += c {
				for ch := range c {
					img.pix[p+ch] = x[p+ch]*std[ch] + mean[ch]
				}
			}
			rng := exampleRNG{key: keys[i]}
			for _, s := range a.stages {
				s.apply(img, scratch, &rng)
			}
			for p := 0; p < per; p += c {
				for ch := range c {
					x[p+ch] = (img.pix[p+ch] - mean[ch]) / std[ch]
				}
			}
		}
	})
}

// channelStats expands norm to one float32 mean and deviation per channel.
func channelStats(norm Normalization, c int) (mean, std []float32) {
	mean, std = make([]float32, c), make([]float32, c)
	for ch := range c {
		k := 0
		if len(norm.Mean) > 1 {
			k = ch
		}
		mean[ch], std[ch] = float32(norm.Mean[k]), float32(norm.Std[k])
	}
	return mean, std
}

// image is one HWC image; the stages swap pixel buffers with a scratch image
// of the same size rather than allocating.
type image struct {
	h, w, c int
	pix     []float32
}

func (m *image) at(y, x, ch int) float32 { return m.pix[(y*m.w+x)*m.c+ch] }

// swap makes the freshly written scratch the image.
func (m *image) swap(scratch *image) { m.pix, scratch.pix = scratch.pix, m.pix }

// exampleRNG is a counter-based generator: draw n is SplitMix64's finaliser
// of key + n·φ, so an example's draws depend only on its key.
type exampleRNG struct {
	key, n uint64
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func (r *exampleRNG) uint64() uint64 {
	r.n++
	return mix64(r.key + r.n*0x9E3779B97F4A7C15)
}

// float64 is uniform on [0, 1) with 53 random bits.
func (r *exampleRNG) float64() float64 { return float64(r.uint64()>>11) / (1 << 53) }

// intn is uniform on [0, n); the modulo bias of a 64-bit draw is below 2⁻⁴⁰
// for the small n used here.
func (r *exampleRNG) intn(n int) int { return int(r.uint64() % uint64(n)) }

// ---- standard augmentation ----

// cropStage pads with pad black pixels on every side and crops the original
// size at a uniform offset in [0, 2·pad]².
type cropStage struct{ pad int }

func (s cropStage) apply(img, scratch *image, rng *exampleRNG) {
	dy, dx := rng.intn(2*s.pad+1)-s.pad, rng.intn(2*s.pad+1)-s.pad
	shift(scratch, img, dy, dx)
	img.swap(scratch)
}

// shift writes dst(y, x) = src(y+dy, x+dx), black outside src.
func shift(dst, src *image, dy, dx int) {
	c, w := src.c, src.w
	// Columns x in [x0, x1) read inside src.
	x0, x1 := max(0, -dx), min(w, w-dx)
	for y := range src.h {
		row := dst.pix[y*w*c : (y+1)*w*c]
		sy := y + dy
		if sy < 0 || sy >= src.h || x0 >= x1 {
			clear(row)
			continue
		}
		clear(row[:x0*c])
		copy(row[x0*c:x1*c], src.pix[(sy*w+x0+dx)*c:(sy*w+x1+dx)*c])
		clear(row[x1*c:])
	}
}

// flipStage mirrors left–right with probability 1/2.
type flipStage struct{}

func (flipStage) apply(img, _ *image, rng *exampleRNG) {
	if rng.uint64()&1 == 0 {
		return
	}
	c := img.c
	for y := range img.h {
		row := img.pix[y*img.w*c : (y+1)*img.w*c]
		for l, r := 0, img.w-1; l < r; l, r = l+1, r-1 {
			for ch := range c {
				row[l*c+ch], row[r*c+ch] = row[r*c+ch], row[l*c+ch]
			}
		}
	}
}

// resizedCropStage is torchvision's RandomResizedCrop with scale
// [0.08, 1] and aspect ratio [3/4, 4/3] (log-uniform), resized back to the
// input size bilinearly (half-pixel centres, no antialiasing).
type resizedCropStage struct{}

func (resizedCropStage) apply(img, scratch *image, rng *exampleRNG) {
	top, left, h, w := resizedCropBox(img.h, img.w, rng)
	resizeBilinear(scratch, img, float64(top), float64(left), float64(h), float64(w))
	img.swap(scratch)
}

// resizedCropBox follows torchvision's RandomResizedCrop.get_params: ten
// tries at a box of random area and aspect ratio, then a central crop with
// the ratio clamped to the allowed range.
func resizedCropBox(height, width int, rng *exampleRNG) (top, left, h, w int) {
	const minScale, maxScale = 0.08, 1.0
	logLo, logHi := math.Log(3.0/4), math.Log(4.0/3)
	area := float64(height * width)
	for range 10 {
		target := area * (minScale + (maxScale-minScale)*rng.float64())
		ratio := math.Exp(logLo + (logHi-logLo)*rng.float64())
		w = int(math.Round(math.Sqrt(target * ratio)))
		h = int(math.Round(math.Sqrt(target / ratio)))
		if w > 0 && w <= width && h > 0 && h <= height {
			return rng.intn(height - h + 1), rng.intn(width - w + 1), h, w
		}
	}
	ratio := float64(width) / float64(height)
	switch {
	case ratio < 3.0/4:
		w, h = width, int(math.Round(float64(width)/(3.0/4)))
	case ratio > 4.0/3:
		h, w = height, int(math.Round(float64(height)*4.0/3))
	default:
		w, h = width, height
	}
	return (height - h) / 2, (width - w) / 2, h, w
}

// resizeBilinear resamples the box (top, left, h, w) of src, in pixels, to
// the whole of dst (same size as src), with half-pixel centres: dst pixel
// (y, x) samples src at (top + (y+0.5)·h/H − 0.5, left + (x+0.5)·w/W − 0.5),
// clamped to the image (PyTorch's interpolate, align_corners=False).
func resizeBilinear(dst, src *image, top, left, h, w float64) {
	c := src.c
	sy, sx := h/float64(dst.h), w/float64(dst.w)
	for y := range dst.h {
		fy := min(max(top+(float64(y)+0.5)*sy-0.5, 0), float64(src.h-1))
		y0 := int(fy)
		y1 := min(y0+1, src.h-1)
		wy := float32(fy - float64(y0))
		for x := range dst.w {
			fx := min(max(left+(float64(x)+0.5)*sx-0.5, 0), float64(src.w-1))
			x0 := int(fx)
			x1 := min(x0+1, src.w-1)
			wx := float32(fx - float64(x0))
			for ch := range c {
				a := src.at(y0, x0, ch)*(1-wx) + src.at(y0, x1, ch)*wx
				b := src.at(y1, x0, ch)*(1-wx) + src.at(y1, x1, ch)*wx
				dst.pix[(y*dst.w+x)*c+ch] = a*(1-wy) + b*wy
			}
		}
	}
}

// CenterCrop replaces every image of b by its central fraction (e.g. 0.875,
// the usual ImageNet evaluation crop) resized bilinearly back to the full
// size, so that evaluation sees the scale that random-resized-crop trains
// on. It works in normalised values directly: bilinear interpolation
// commutes with the per-channel affine normalisation. frac must be in
// (0, 1]; 1 leaves b unchanged.
func CenterCrop(b *Batch, frac float64) {
	if frac == 1 {
		return
	}
	if !(frac > 0 && frac < 1) {
		panic(fmt.Sprintf("data: center crop fraction %v outside (0, 1]", frac))
	}
	n, h, w, c := b.X.Shape[0], b.X.Shape[1], b.X.Shape[2], b.X.Shape[3]
	ch, cw := math.Round(float64(h)*frac), math.Round(float64(w)*frac)
	top, left := math.Round((float64(h)-ch)/2), math.Round((float64(w)-cw)/2)
	per := h * w * c
	tensor.ParallelFor(n, func(lo, hi int) {
		dst := &image{h: h, w: w, c: c, pix: make([]float32, per)}
		for i := lo; i < hi; i++ {
			src := &image{h: h, w: w, c: c, pix: b.X.Data[i*per : (i+1)*per]}
			resizeBilinear(dst, src, top, left, ch, cw)
			copy(src.pix, dst.pix)
		}
	})
}

// HasStage reports whether the augmentation spec contains the stage name.
func HasStage(spec, name string) bool { return slices.Contains(strings.Split(spec, "+"), name) }
