package corrupt

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/losslab/losslab/internal/atomicfile"

	"github.com/losslab/losslab/data"
	"github.com/losslab/losslab/npy"
	"github.com/losslab/losslab/tensor"
)

// Raw corrupts every image of raw, image i with index i, and returns the
// 8-bit result (rounded to nearest). It is the one path from clean to
// corrupted pixels: on-the-fly evaluation (Dataset) and written sets
// (WriteSet) both go through it, so they agree byte for byte.
func Raw(raw *data.RawImages, name string, severity int, seed uint64) (*data.RawImages, error) {
	if _, err := Apply(NewImage(raw.H, raw.W, raw.C), name, severity, seed, 0); err != nil {
		return nil, err // validates the name, severity and channels once
	}
	out := &data.RawImages{N: raw.N, H: raw.H, W: raw.W, C: raw.C, Pix: make([]byte, len(raw.Pix))}
	tensor.ParallelFor(raw.N, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			img, _ := Apply(FromBytes(raw.H, raw.W, raw.C, raw.Image(i)), name, severity, seed, i)
			img.Bytes(out.Image(i))
		}
	})
	return out, nil
}

// Dataset returns d corrupted on the fly: its images are taken back to 8
// bits, corrupted, and normalised again with d's normalisation.
func Dataset(d *data.Dataset, name string, severity int, seed uint64) (*data.Dataset, error) {
	if err := inMemory(d); err != nil {
		return nil, err
	}
	raw, err := Raw(d.Raw(), name, severity, seed)
	if err != nil {
		return nil, err
	}
	out, err := data.ToDataset(d.Name, fmt.Sprintf("%s-%s-%d", d.Split, name, severity), raw, d.Labels, d.NumClasses, d.Norm)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// inMemory refuses a streamed dataset: its pixels exist only as views
// decoded for a model, and a corrupted copy evaluated through another
// pipeline than its clean counterpart (the streamed evaluation crop) would
// bias the robustness gap.
func inMemory(d *data.Dataset) error {
	if d.Streamed() {
		return fmt.Errorf("dataset %s %s streams from files: corruptions need it in memory (not supported for streamed image folders yet)", d.Name, d.Split)
	}
	return nil
}

// SetFile is the file name of one corruption × severity in a written set.
func SetFile(name string, severity int) string { return fmt.Sprintf("%s_s%d.npy", name, severity) }

// Manifest records how a corrupted set was made; WriteSet stores it as
// manifest.json next to the arrays.
type Manifest struct {
	Dataset     string         `json:"dataset"`
	Split       string         `json:"split"`
	Seed        uint64         `json:"seed"`
	Shape       []int          `json:"shape"` // N, H, W, C
	Corruptions map[string]int `json:"corruptions"`
}

// WriteSet writes d's corrupted copies into dir: for each corruption and
// each of its severities, <name>_s<severity>.npy (uint8 N×H×W×C, the
// CIFAR-10-C layout), plus labels.npy (int64) and manifest.json. Each file
// is written atomically. progress, if not nil, is called after each file.
func WriteSet(dir string, d *data.Dataset, names []string, seed uint64, progress func(file string)) error {
	if err := inMemory(d); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw := d.Raw()
	shape := []int{raw.N, raw.H, raw.W, raw.C}
	m := Manifest{Dataset: d.Name, Split: d.Split, Seed: seed, Shape: shape, Corruptions: map[string]int{}}
	for _, name := range names {
		c := Lookup(name)
		if c == nil {
			return fmt.Errorf("unknown corruption %q; known: %v", name, All())
		}
		m.Corruptions[name] = c.Severities
		for s := 1; s <= c.Severities; s++ {
			out, err := Raw(raw, name, s, seed)
			if err != nil {
				return err
			}
			file := filepath.Join(dir, SetFile(name, s))
			if err := npy.WriteFile(file, &npy.Array{Shape: shape, DType: "|u1", Uint8: out.Pix}); err != nil {
				return err
			}
			if progress != nil {
				progress(file)
			}
		}
	}
	// int64 ("<i8") labels, one per image: WriteFile checks the count.
	labels := npy.FromInts(d.Labels)
	labels.Shape = []int{raw.N}
	if err := npy.WriteFile(filepath.Join(dir, "labels.npy"), labels); err != nil {
		return err
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "manifest.json"), append(js, '\n'))
}

// LoadSet reads one corruption × severity written by WriteSet, normalised
// like base (the clean dataset it was made from), whose labels and shape
// it must match.
func LoadSet(dir, name string, severity int, base *data.Dataset) (*data.Dataset, error) {
	path := filepath.Join(dir, SetFile(name, severity))
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, err
	}
	want := base.Images.Shape
	if a.Uint8 == nil || !slices.Equal(a.Shape, want) {
		return nil, fmt.Errorf("%s: %s array of shape %v; want uint8 (|u1) of shape %v to match %s %s", path, a.DType, a.Shape, want, base.Name, base.Split)
	}
	raw := &data.RawImages{N: want[0], H: want[1], W: want[2], C: want[3], Pix: a.Uint8}
	return data.ToDataset(base.Name, fmt.Sprintf("%s-%s-%d", base.Split, name, severity), raw, base.Labels, base.NumClasses, base.Norm)
}

// FarOODKinds lists the far out-of-distribution sets FarOOD makes.
var FarOODKinds = []string{"uniform_noise", "gaussian_noise", "rademacher", "blobs", "shapes"}

// FarOOD makes n h×w×c images that belong to no class, for out-of-
// distribution detection: uniform noise, Gaussian noise N(0.5, 0.25²)
// clipped, Rademacher (each value 0 or 1), blobs (Gaussian noise smoothed
// with σ = side/16, contrast-stretched), or shapes (1–4 random filled
// rectangles, ellipses and triangles of random colour on a random flat
// background). Image i depends only on (seed, kind, i).
func FarOOD(kind string, n, h, w, c int, seed uint64) (*data.RawImages, error) {
	if !slices.Contains(FarOODKinds, kind) {
		return nil, fmt.Errorf("unknown far-OOD kind %q; want one of %v", kind, FarOODKinds)
	}
	raw := &data.RawImages{N: n, H: h, W: w, C: c, Pix: make([]byte, n*h*w*c)}
	tensor.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			rng := RNG(seed, "far-ood/"+kind, 0, i)
			img := NewImage(h, w, c)
			switch kind {
			case "uniform_noise":
				for j := range img.Pix {
					img.Pix[j] = rng.Float64()
				}
			case "gaussian_noise":
				for j := range img.Pix {
					img.Pix[j] = 0.5 + 0.25*rng.NormFloat64()
				}
			case "rademacher":
				for j := range img.Pix {
					img.Pix[j] = float64(rng.IntN(2))
				}
			case "blobs":
				for j := range img.Pix {
					img.Pix[j] = rng.NormFloat64()
				}
				sigma := float64(min(h, w)) / 16
				img = img.perChannel(func(p plane) plane {
					p = p.gaussian(sigma, borderReflect, 4)
					lo, hi := slices.Min(p.p), slices.Max(p.p)
					for k := range p.p {
						p.p[k] = (p.p[k] - lo) / max(hi-lo, 1e-12)
					}
					return p
				})
			case "shapes":
				drawShapes(img, rng)
			}
			img.clip().Bytes(raw.Image(i))
		}
	})
	return raw, nil
}

func drawShapes(img Image, rng *rand.Rand) {
	colour := func() []float64 {
		col := make([]float64, img.C)
		for k := range col {
			col[k] = rng.Float64()
		}
		return col
	}
	bg := colour()
	for j := range img.Pix {
		img.Pix[j] = bg[j%img.C]
	}
	H, W := float64(img.H), float64(img.W)
	for range 1 + rng.IntN(4) {
		col := colour()
		cx, cy := rng.Float64()*W, rng.Float64()*H
		rx, ry := (0.1+0.3*rng.Float64())*W, (0.1+0.3*rng.Float64())*H
		kind := rng.IntN(3)
		// Triangle vertices around the centre.
		var tx, ty [3]float64
		for v := range 3 {
			a := rng.Float64() * 2 * math.Pi
			tx[v], ty[v] = cx+rx*math.Cos(a), cy+ry*math.Sin(a)
		}
		for y := range img.H {
			for x := range img.W {
				px, py := float64(x)+0.5, float64(y)+0.5
				var in bool
				switch kind {
				case 0:
					in = math.Abs(px-cx) <= rx && math.Abs(py-cy) <= ry
				case 1:
					dx, dy := (px-cx)/rx, (py-cy)/ry
					in = dx*dx+dy*dy <= 1
				case 2:
					in = inTriangle(px, py, tx, ty)
				}
				if in {
					for k := range img.C {
						img.set(y, x, k, col[k])
					}
				}
			}
		}
	}
}

func inTriangle(px, py float64, tx, ty [3]float64) bool {
	sign := func(i, j int) float64 { return (px-tx[j])*(ty[i]-ty[j]) - (tx[i]-tx[j])*(py-ty[j]) }
	d1, d2, d3 := sign(0, 1), sign(1, 2), sign(2, 0)
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
}

// Grid tiles 8-bit images into one PNG-ready image: rows[r][c] is the
// image at row r, column c (nil leaves a gap), each h×w×ch, magnified by
// zoom (nearest neighbour) with a 1-pixel mid-grey gutter.
func Grid(rows [][][]byte, h, w, ch, zoom int) *image.RGBA {
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	cw, chh := w*zoom+1, h*zoom+1
	out := image.NewRGBA(image.Rect(0, 0, cols*cw+1, len(rows)*chh+1))
	for i := range out.Pix {
		out.Pix[i] = 128
	}
	for r, row := range rows {
		for c, pix := range row {
			if pix == nil {
				continue
			}
			for y := range h * zoom {
				for x := range w * zoom {
					o := ((y/zoom)*w + x/zoom) * ch
					var col color.RGBA
					if ch == 1 {
						col = color.RGBA{pix[o], pix[o], pix[o], 255}
					} else {
						col = color.RGBA{pix[o], pix[o+1], pix[o+2], 255}
					}
					out.SetRGBA(1+c*cw+x, 1+r*chh+y, col)
				}
			}
		}
	}
	return out
}

// WritePNG writes img as a PNG file, atomically.
func WritePNG(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}
