package data

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/losslab/losslab/tensor"
)

// BicubicA is the a of Keys' cubic convolution kernel that Resize uses:
// −0.5, the value of PIL's and torchvision's BICUBIC, so that a target
// resized here matches one resized by the preprocessing the paper's
// pipelines use.
const BicubicA = -0.5

// bicubicSupport is the kernel's half-width in input pixels at scale 1.
const bicubicSupport = 2.0

// Luma weights of ITU-R BT.601, PIL's "L" conversion.
const (
	LumaR = 0.299
	LumaG = 0.587
	LumaB = 0.114
)

// cubic is Keys' kernel with a = BicubicA.
func cubic(x float64) float64 {
	const a = BicubicA
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// resampleTaps returns, for each of out output positions along an axis of
// in pixels, the first input pixel it reads and the weights of the pixels
// from there on. It follows PIL's precompute_coeffs: pixel centres at
// i + 0.5 (align_corners=False), the kernel stretched by the scale when
// downsampling (antialiasing), taps outside the image dropped and the
// rest renormalised to sum to 1.
func resampleTaps(in, out int) (first []int, weights [][]float64) {
	scale := float64(in) / float64(out)
	filterScale := max(scale, 1)
	support := bicubicSupport * filterScale
	first = make([]int, out)
	weights = make([][]float64, out)
	for o := range out {
		centre := (float64(o) + 0.5) * scale
		lo := max(int(math.Floor(centre-support+0.5)), 0)
		hi := min(int(math.Floor(centre+support+0.5)), in)
		w := make([]float64, hi-lo)
		sum := 0.0
		for i := range w {
			w[i] = cubic((float64(lo+i) - centre + 0.5) / filterScale)
			sum += w[i]
		}
		if sum != 0 {
			for i := range w {
				w[i] /= sum
			}
		}
		first[o], weights[o] = lo, w
	}
	return first, weights
}

// Resize resamples n images [h, w, c] (NHWC, row-major) to [outH, outW,
// c] by bicubic interpolation (docs/definitions.md, "Resizing transfer
// targets"): separable, rows then columns, in float64 with no rounding and
// no clamping (the caller knows the pixel range). src must hold n·h·w·c
// values.
func Resize(src []float32, n, h, w, c, outH, outW int) []float32 {
	if len(src) != n*h*w*c {
		panic(fmt.Sprintf("data.Resize: %d values for %d images of %d×%d×%d", len(src), n, h, w, c))
	}
	xFirst, xW := resampleTaps(w, outW)
	yFirst, yW := resampleTaps(h, outH)
	dst := make([]float32, n*outH*outW*c)
	rows := make([]float64, h*outW*c) // one image resampled along x
	for img := range n {
		in := src[img*h*w*c : (img+1)*h*w*c]
		for y := range h {
			for x := range outW {
				o := rows[(y*outW+x)*c : (y*outW+x+1)*c]
				clear(o)
				for k, wt := range xW[x] {
					p := in[(y*w+xFirst[x]+k)*c:]
					for ch := range c {
						o[ch] += wt * float64(p[ch])
					}
				}
			}
		}
		out := dst[img*outH*outW*c : (img+1)*outH*outW*c]
		acc := make([]float64, outW*c)
		for y := range outH {
			clear(acc)
			for k, wt := range yW[y] {
				r := rows[(yFirst[y]+k)*outW*c : (yFirst[y]+k+1)*outW*c]
				for i, v := range r {
					acc[i] += wt * v
				}
			}
			for i, v := range acc {
				out[y*outW*c+i] = float32(v)
			}
		}
	}
	return dst
}

// ConvertChannels converts pixels of from channels (NHWC, len(src) a
// multiple of from) to pixels of to channels: 1 → 3 replicates the grey
// value, 3 → 1 takes the ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B (PIL's
// "L" mode, without its rounding), and equal counts copy. Other
// conversions have no standard meaning and are an error.
func ConvertChannels(src []float32, from, to int) ([]float32, error) {
	switch {
	case from == to:
		return slices.Clone(src), nil
	case from == 1 && to == 3:
		dst := make([]float32, 3*len(src))
		for i, v := range src {
			dst[3*i], dst[3*i+1], dst[3*i+2] = v, v, v
		}
		return dst, nil
	case from == 3 && to == 1:
		if len(src)%3 != 0 {
			return nil, fmt.Errorf("%d values are not RGB pixels", len(src))
		}
		dst := make([]float32, len(src)/3)
		for i := range dst {
			dst[i] = float32(LumaR*float64(src[3*i]) + LumaG*float64(src[3*i+1]) + LumaB*float64(src[3*i+2]))
		}
		return dst, nil
	}
	return nil, fmt.Errorf("no conversion from %d to %d channels (only grey ↔ RGB: 1 ↔ 3)", from, to)
}

// Conversion is how Convert brings images of shape From to shape To, both
// [H, W, C].
type Conversion struct {
	From []int `json:"from"`
	To   []int `json:"to"`
}

// NewConversion checks that images of shape from can be converted to shape
// to: both [H, W, C] with positive sizes, and the channels equal or grey ↔
// RGB.
func NewConversion(from, to []int) (Conversion, error) {
	if len(from) != 3 || len(to) != 3 || slices.Min(from) <= 0 || slices.Min(to) <= 0 {
		return Conversion{}, fmt.Errorf("examples %v cannot be converted to %v: only images [H, W, C] are", from, to)
	}
	if f, t := from[2], to[2]; f != t && !(f == 1 && t == 3) && !(f == 3 && t == 1) {
		return Conversion{}, fmt.Errorf("examples %v cannot be converted to %v: %d channels to %d (only grey ↔ RGB, 1 ↔ 3, is defined)", from, to, f, t)
	}
	return Conversion{From: slices.Clone(from), To: slices.Clone(to)}, nil
}

// Identity reports whether c changes nothing.
func (c Conversion) Identity() bool { return slices.Equal(c.From, c.To) }

// Resizes reports whether c changes the height or width.
func (c Conversion) Resizes() bool { return c.From[0] != c.To[0] || c.From[1] != c.To[1] }

// String describes c in words, for the report: "resized from 8×8 to 28×28
// with bicubic interpolation (…), grey → RGB by replication".
func (c Conversion) String() string {
	var parts []string
	if c.Resizes() {
		parts = append(parts, fmt.Sprintf("resized from %d×%d to %d×%d with bicubic interpolation (Keys a = −0.5, antialiased when downsampling, half-pixel centres: PIL's BICUBIC)",
			c.From[0], c.From[1], c.To[0], c.To[1]))
	}
	switch {
	case c.From[2] == 1 && c.To[2] == 3:
		parts = append(parts, "grey → RGB by replication")
	case c.From[2] == 3 && c.To[2] == 1:
		parts = append(parts, "RGB → grey by ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B)")
	}
	if len(parts) == 0 {
		return "unchanged"
	}
	return strings.Join(parts, ", ")
}

// Convert returns d with its images converted to shape [H, W, C], named
// name; d is not modified. Channels are converted first (ConvertChannels),
// then the images resized (Resize) and clamped to the range of the raw
// pixels 0–255, as PIL converts the mode and then resizes 8-bit images. The
// result keeps d's normalisation where it applies to the new channels (a
// single mean and deviation, or one per channel with the count unchanged);
// RGB → grey under per-channel statistics un-normalises, takes the luma,
// and normalises with the luma-weighted mean and deviation.
func Convert(d *Dataset, shape []int, name string) (*Dataset, error) {
	if d.Streamed() {
		return nil, fmt.Errorf("dataset %s: a streamed image folder is resized as it is read; stream it at the size wanted (PATH:streamSIZE)", name)
	}
	conv, err := NewConversion(d.ExampleShape(), shape)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	// A dataset without a recorded normalisation (a programmatic one) has
	// no known pixel range: it is not clamped.
	known := len(d.Norm.Mean) > 0
	if known {
		if err := d.Norm.Validate(conv.From[2]); err != nil {
			return nil, fmt.Errorf("dataset %s: %w", name, err)
		}
	}
	n, from := d.Len(), conv.From
	h, w, c := from[0], from[1], from[2]
	pix, norm := d.Images.Data, d.Norm
	owned := false // whether pix is a copy, free to modify
	if c == 3 && shape[2] == 1 {
		// Luma of normalised values is the normalised luma only when every
		// channel shares one normalisation; otherwise convert raw pixels.
		perChannel := len(norm.Mean) == 3
		if perChannel {
			pix = slices.Clone(pix)
			for i := range pix {
				ch := i % 3
				pix[i] = float32(float64(pix[i])*norm.Std[ch] + norm.Mean[ch])
			}
		}
		if pix, err = ConvertChannels(pix, 3, 1); err != nil {
			return nil, err
		}
		owned = true
		if perChannel {
			m := LumaR*norm.Mean[0] + LumaG*norm.Mean[1] + LumaB*norm.Mean[2]
			s := LumaR*norm.Std[0] + LumaG*norm.Std[1] + LumaB*norm.Std[2]
			for i := range pix {
				pix[i] = float32((float64(pix[i]) - m) / s)
			}
			norm = Normalization{Mean: []float64{m}, Std: []float64{s}}
		}
		c = 1
	}
	if conv.Resizes() {
		pix = Resize(pix, n, h, w, c, shape[0], shape[1])
	} else if !owned {
		pix = slices.Clone(pix)
	}
	if conv.Resizes() && known {
		lo, hi := make([]float32, c), make([]float32, c)
		for ch := range c {
			m, s := norm.Mean[0], norm.Std[0]
			if len(norm.Mean) > 1 {
				m, s = norm.Mean[ch], norm.Std[ch]
			}
			lo[ch], hi[ch] = float32((0-m)/s), float32((1-m)/s)
		}
		for i, v := range pix {
			ch := i % c
			pix[i] = min(max(v, lo[ch]), hi[ch])
		}
	}
	if c == 1 && shape[2] == 3 {
		// Replicating after resizing gives what replicating first would
		// (the three channels share the grey channel's normalisation), at
		// a third of the cost.
		if pix, err = ConvertChannels(pix, 1, 3); err != nil {
			return nil, err
		}
	}
	out := *d
	out.Name = name
	out.Images = tensor.FromData(pix, append([]int{n}, shape...)...)
	out.Labels = slices.Clone(d.Labels)
	out.Norm = norm
	return &out, nil
}

// ResizedName names dataset base converted to examples of shape [H, W, C]
// (Convert): "BASE@HxWxC". The Resolver resolves it for any base it
// resolves, so that a training run (fine-tuning) can read a converted
// transfer target by name.
func ResizedName(base string, shape []int) string {
	s := make([]string, len(shape))
	for i, v := range shape {
		s[i] = strconv.Itoa(v)
	}
	return base + "@" + strings.Join(s, "x")
}

// splitResized parses a ResizedName; ok is false for any other name.
func splitResized(name string) (base string, shape []int, ok bool) {
	i := strings.LastIndex(name, "@")
	if i <= 0 {
		return "", nil, false
	}
	parts := strings.Split(name[i+1:], "x")
	if len(parts) != 3 {
		return "", nil, false
	}
	for _, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v <= 0 || strconv.Itoa(v) != p {
			return "", nil, false
		}
		shape = append(shape, v)
	}
	return name[:i], shape, true
}
