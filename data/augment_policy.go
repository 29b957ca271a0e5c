package data

import "math"

// The AutoAugment and RandAugment operations, on images in [0, 1] with one
// (grey) or three (RGB) channels. Definitions and magnitude scales follow
// torchvision (transforms/autoaugment.py, functional.py), which follows PIL:
//
//	op            magnitude (bins 0…B−1; signed ones get a random sign)
//	ShearX/Y      linspace(0, 0.3): x_in = x + m·y (resp. y_in = y + m·x)
//	TranslateX/Y  linspace(0, 150/331 · width (height)) pixels
//	Rotate        linspace(0, 30) degrees about the centre
//	Brightness    linspace(0, 0.9): blend with black, factor 1 + m
//	Color         linspace(0, 0.9): blend with the greyscale image (identity on grey images)
//	Contrast      linspace(0, 0.9): blend with the mean grey level
//	Sharpness     linspace(0, 0.9): blend with the 3×3 smoothed image (PIL's kernel)
//	Posterize     8 − round(bin / ((B−1)/4)) bits kept
//	Solarize      linspace(1, 0): invert pixels ≥ threshold
//	AutoContrast, Equalize, Invert, Identity: no magnitude
//
// Geometric ops use nearest-neighbour sampling with black fill, as
// torchvision's defaults. Equalize and Posterize work on the pixels rounded
// to 8 bits, as they are defined on byte images.

type opKind int

const (
	opIdentity opKind = iota
	opShearX
	opShearY
	opTranslateX
	opTranslateY
	opRotate
	opBrightness
	opColor
	opContrast
	opSharpness
	opPosterize
	opSolarize
	opAutoContrast
	opEqualize
	opInvert
)

var opNames = [...]string{"Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
	"Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert"}

func (k opKind) String() string { return opNames[k] }

// signed reports whether the op's magnitude gets a random sign.
func (k opKind) signed() bool { return k >= opShearX && k <= opSharpness }

// magnitude is the value of bin of bins for the op on an h×w image, before
// the sign.
func (k opKind) magnitude(bin, bins, h, w int) float64 {
	lin := func(lo, hi float64) float64 { return lo + (hi-lo)*float64(bin)/float64(bins-1) }
	switch k {
	case opShearX, opShearY:
		return lin(0, 0.3)
	case opTranslateX:
		return lin(0, 150.0/331*float64(w))
	case opTranslateY:
		return lin(0, 150.0/331*float64(h))
	case opRotate:
		return lin(0, 30)
	case opBrightness, opColor, opContrast, opSharpness:
		return lin(0, 0.9)
	case opPosterize:
		// torch.round rounds half to even.
		return 8 - math.RoundToEven(float64(bin)/(float64(bins-1)/4))
	case opSolarize:
		return lin(1, 0)
	}
	return 0
}

// applyOp applies op k with magnitude m to img.
func applyOp(k opKind, m float64, img, scratch *image) {
	switch k {
	case opIdentity:
	case opShearX:
		affine(scratch, img, [6]float64{1, m, 0, 0, 1, 0})
		img.swap(scratch)
	case opShearY:
		affine(scratch, img, [6]float64{1, 0, 0, m, 1, 0})
		img.swap(scratch)
	case opTranslateX:
		// torchvision truncates the translation to whole pixels.
		shift(scratch, img, 0, -int(m))
		img.swap(scratch)
	case opTranslateY:
		shift(scratch, img, -int(m), 0)
		img.swap(scratch)
	case opRotate:
		rotate(scratch, img, m)
		img.swap(scratch)
	case opBrightness:
		for i, v := range img.pix {
			img.pix[i] = blend(v, 0, m)
		}
	case opColor:
		if img.c == 3 {
			for p := 0; p < len(img.pix); p += 3 {
				g := grey(img.pix[p : p+3])
				for ch := range 3 {
					img.pix[p+ch] = blend(img.pix[p+ch], g, m)
				}
			}
		}
	case opContrast:
		var sum float64
		for p := 0; p < len(img.pix); p += img.c {
			sum += float64(greyOf(img.pix[p : p+img.c]))
		}
		mean := float32(sum / float64(img.h*img.w))
		for i, v := range img.pix {
			img.pix[i] = blend(v, mean, m)
		}
	case opSharpness:
		sharpness(scratch, img, m)
		img.swap(scratch)
	case opPosterize:
		mask := ^uint8(0) << (8 - uint(m))
		for i, v := range img.pix {
			img.pix[i] = float32(toByte(v)&mask) / 255
		}
	case opSolarize:
		t := float32(m)
		for i, v := range img.pix {
			if v >= t {
				img.pix[i] = 1 - v
			}
		}
	case opAutoContrast:
		autoContrast(img)
	case opEqualize:
		equalize(img)
	case opInvert:
		for i, v := range img.pix {
			img.pix[i] = 1 - v
		}
	default:
		panic("data: unknown augmentation op")
	}
}

// blend is PIL's ImageEnhance blend, degenerate + f·(img − degenerate) with
// factor f = 1 + m, clamped to [0, 1].
func blend(v, degenerate float32, m float64) float32 {
	return min(max(degenerate+float32(1+m)*(v-degenerate), 0), 1)
}

// grey is the ITU-R 601-2 luma of an RGB pixel, as PIL's convert("L").
func grey(rgb []float32) float32 { return 0.299*rgb[0] + 0.587*rgb[1] + 0.114*rgb[2] }

func greyOf(px []float32) float32 {
	if len(px) == 3 {
		return grey(px)
	}
	return px[0]
}

// toByte rounds a [0, 1] value to the nearest of 0…255.
func toByte(v float32) uint8 { return uint8(min(max(math.Round(float64(v)*255), 0), 255)) }

// affine writes dst(x, y) = src(a·x + b·y + c, d·x + e·y + f) with
// coordinates at pixel centres, nearest neighbour, black outside (PIL's
// Image.transform(AFFINE) data convention).
func affine(dst, src *image, t [6]float64) {
	cc := src.c
	for y := range src.h {
		fy := float64(y) + 0.5
		for x := range src.w {
			fx := float64(x) + 0.5
			sx := int(math.Floor(t[0]*fx + t[1]*fy + t[2]))
			sy := int(math.Floor(t[3]*fx + t[4]*fy + t[5]))
			o := dst.pix[(y*src.w+x)*cc : (y*src.w+x+1)*cc]
			if sx < 0 || sx >= src.w || sy < 0 || sy >= src.h {
				clear(o)
				continue
			}
			copy(o, src.pix[(sy*src.w+sx)*cc:(sy*src.w+sx+1)*cc])
		}
	}
}

// rotate turns the image by deg degrees counter-clockwise about its centre.
func rotate(dst, src *image, deg float64) {
	s, c := math.Sincos(deg * math.Pi / 180)
	cx, cy := float64(src.w)/2, float64(src.h)/2
	// Inverse map (output → input) of a counter-clockwise rotation in image
	// coordinates (y down): x_in = c·(x−cx) − s·(y−cy) + cx, y_in = s·(x−cx) + c·(y−cy) + cy.
	affine(dst, src, [6]float64{c, -s, cx - c*cx + s*cy, s, c, cy - s*cx - c*cy})
}

// sharpness blends with PIL's SMOOTH filter (kernel [1 1 1; 1 5 1; 1 1 1]/13)
// applied to interior pixels; border pixels stay as they are.
func sharpness(dst, src *image, m float64) {
	copy(dst.pix, src.pix)
	cc := src.c
	for y := 1; y < src.h-1; y++ {
		for x := 1; x < src.w-1; x++ {
			for ch := range cc {
				var sum float32
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						sum += src.at(y+dy, x+dx, ch)
					}
				}
				v := src.at(y, x, ch)
				smooth := (sum + 4*v) / 13
				dst.pix[(y*src.w+x)*cc+ch] = blend(v, smooth, m)
			}
		}
	}
}

// autoContrast stretches each channel to span [0, 1]; a constant channel is
// left as it is.
func autoContrast(img *image) {
	for ch := range img.c {
		lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
		for p := ch; p < len(img.pix); p += img.c {
			lo, hi = min(lo, img.pix[p]), max(hi, img.pix[p])
		}
		if hi <= lo {
			continue
		}
		scale := 1 / (hi - lo)
		for p := ch; p < len(img.pix); p += img.c {
			img.pix[p] = min(max((img.pix[p]-lo)*scale, 0), 1)
		}
	}
}

// equalize is PIL's ImageOps.equalize per channel on the 8-bit pixels:
// step = (count − count of the last non-empty level) / 255 (integer), and
// level i maps to (pixels below i + step/2) / step.
func equalize(img *image) {
	for ch := range img.c {
		var hist [256]int
		for p := ch; p < len(img.pix); p += img.c {
			hist[toByte(img.pix[p])]++
		}
		last := 255
		for hist[last] == 0 {
			last--
		}
		total := img.h * img.w
		step := (total - hist[last]) / 255
		if step == 0 {
			continue
		}
		var lut [256]float32
		n := step / 2
		for i := range lut {
			lut[i] = float32(min(n/step, 255)) / 255
			n += hist[i]
		}
		for p := ch; p < len(img.pix); p += img.c {
			img.pix[p] = lut[toByte(img.pix[p])]
		}
	}
}

// subPolicyOp is one (op, probability, magnitude bin) of an AutoAugment
// sub-policy; bin is −1 for ops without magnitude.
type subPolicyOp struct {
	op   opKind
	prob float64
	bin  int
}

// autoAugmentBins is the number of magnitude bins of the AutoAugment
// policies (0…9).
const autoAugmentBins = 10

// imagenetPolicy and cifar10Policy are the learned policies of Cubuk et al.,
// "AutoAugment: Learning Augmentation Policies from Data", CVPR 2019, as
// listed in torchvision's AutoAugmentPolicy: 25 sub-policies of two ops.
var imagenetPolicy = [][2]subPolicyOp{
	{{opPosterize, 0.4, 8}, {opRotate, 0.6, 9}},
	{{opSolarize, 0.6, 5}, {opAutoContrast, 0.6, -1}},
	{{opEqualize, 0.8, -1}, {opEqualize, 0.6, -1}},
	{{opPosterize, 0.6, 7}, {opPosterize, 0.6, 6}},
	{{opEqualize, 0.4, -1}, {opSolarize, 0.2, 4}},
	{{opEqualize, 0.4, -1}, {opRotate, 0.8, 8}},
	{{opSolarize, 0.6, 3}, {opEqualize, 0.6, -1}},
	{{opPosterize, 0.8, 5}, {opEqualize, 1.0, -1}},
	{{opRotate, 0.2, 3}, {opSolarize, 0.6, 8}},
	{{opEqualize, 0.6, -1}, {opPosterize, 0.4, 6}},
	{{opRotate, 0.8, 8}, {opColor, 0.4, 0}},
	{{opRotate, 0.4, 9}, {opEqualize, 0.6, -1}},
	{{opEqualize, 0.0, -1}, {opEqualize, 0.8, -1}},
	{{opInvert, 0.6, -1}, {opEqualize, 1.0, -1}},
	{{opColor, 0.6, 4}, {opContrast, 1.0, 8}},
	{{opRotate, 0.8, 8}, {opColor, 1.0, 2}},
	{{opColor, 0.8, 8}, {opSolarize, 0.8, 7}},
	{{opSharpness, 0.4, 7}, {opInvert, 0.6, -1}},
	{{opShearX, 0.6, 5}, {opEqualize, 1.0, -1}},
	{{opColor, 0.4, 0}, {opEqualize, 0.6, -1}},
	{{opEqualize, 0.4, -1}, {opSolarize, 0.2, 4}},
	{{opSolarize, 0.6, 5}, {opAutoContrast, 0.6, -1}},
	{{opInvert, 0.6, -1}, {opEqualize, 1.0, -1}},
	{{opColor, 0.6, 4}, {opContrast, 1.0, 8}},
	{{opEqualize, 0.8, -1}, {opEqualize, 0.6, -1}},
}

var cifar10Policy = [][2]subPolicyOp{
	{{opInvert, 0.1, -1}, {opContrast, 0.2, 6}},
	{{opRotate, 0.7, 2}, {opTranslateX, 0.3, 9}},
	{{opSharpness, 0.8, 1}, {opSharpness, 0.9, 3}},
	{{opShearY, 0.5, 8}, {opTranslateY, 0.7, 9}},
	{{opAutoContrast, 0.5, -1}, {opEqualize, 0.9, -1}},
	{{opShearY, 0.2, 7}, {opPosterize, 0.3, 7}},
	{{opColor, 0.4, 3}, {opBrightness, 0.6, 7}},
	{{opSharpness, 0.3, 9}, {opBrightness, 0.7, 9}},
	{{opEqualize, 0.6, -1}, {opEqualize, 0.5, -1}},
	{{opContrast, 0.6, 7}, {opSharpness, 0.6, 5}},
	{{opColor, 0.7, 7}, {opTranslateX, 0.5, 8}},
	{{opEqualize, 0.3, -1}, {opAutoContrast, 0.4, -1}},
	{{opTranslateY, 0.4, 3}, {opSharpness, 0.2, 6}},
	{{opBrightness, 0.9, 6}, {opColor, 0.2, 8}},
	{{opSolarize, 0.5, 2}, {opInvert, 0.0, -1}},
	{{opEqualize, 0.2, -1}, {opAutoContrast, 0.6, -1}},
	{{opEqualize, 0.2, -1}, {opEqualize, 0.6, -1}},
	{{opColor, 0.9, 9}, {opEqualize, 0.6, -1}},
	{{opAutoContrast, 0.8, -1}, {opSolarize, 0.2, 8}},
	{{opBrightness, 0.1, 3}, {opColor, 0.7, 0}},
	{{opSolarize, 0.4, 5}, {opAutoContrast, 0.9, -1}},
	{{opTranslateY, 0.9, 9}, {opTranslateY, 0.7, 9}},
	{{opAutoContrast, 0.9, -1}, {opSolarize, 0.8, 3}},
	{{opEqualize, 0.8, -1}, {opInvert, 0.1, -1}},
	{{opTranslateY, 0.7, 9}, {opAutoContrast, 0.9, -1}},
}

// autoAugmentStage picks one sub-policy uniformly and applies each of its
// ops with the op's probability (torchvision's AutoAugment.forward).
type autoAugmentStage struct {
	policy [][2]subPolicyOp
}

func (s autoAugmentStage) apply(img, scratch *image, rng *exampleRNG) {
	sub := s.policy[rng.intn(len(s.policy))]
	for _, o := range sub {
		// Draw both numbers whether or not the op fires, so that the
		// stream's use does not depend on the outcome.
		u, negative := rng.float64(), rng.uint64()&1 == 1
		if u >= o.prob {
			continue
		}
		m := 0.0
		if o.bin >= 0 {
			m = o.op.magnitude(o.bin, autoAugmentBins, img.h, img.w)
		}
		if o.op.signed() && negative {
			m = -m
		}
		applyOp(o.op, m, img, scratch)
	}
}

// randAugmentBins is torchvision's RandAugment num_magnitude_bins.
const randAugmentBins = 31

// randAugmentOps is torchvision's RandAugment op set (14 ops, Identity
// included, Invert excluded).
var randAugmentOps = []opKind{opIdentity, opShearX, opShearY, opTranslateX, opTranslateY, opRotate,
	opBrightness, opColor, opContrast, opSharpness, opPosterize, opSolarize, opAutoContrast, opEqualize}

// randAugmentStage applies n ops drawn uniformly with replacement from
// randAugmentOps, each at magnitude bin m of 31, with a random sign for
// signed ops (Cubuk et al., "RandAugment", 2020; torchvision's mapping).
type randAugmentStage struct{ n, m int }

func (s randAugmentStage) apply(img, scratch *image, rng *exampleRNG) {
	for range s.n {
		op := randAugmentOps[rng.intn(len(randAugmentOps))]
		negative := rng.uint64()&1 == 1
		mag := op.magnitude(s.m, randAugmentBins, img.h, img.w)
		if op.signed() && negative {
			mag = -mag
		}
		applyOp(op, mag, img, scratch)
	}
}
