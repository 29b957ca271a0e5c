package report

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"

	"github.com/losslab/losslab/metrics"
)

// recorder is a vg.Canvas that draws nothing and records where text and
// strokes land in figure coordinates, following the canvas's transforms
// as a real canvas does.
type recorder struct {
	w, h    vg.Length
	m       affine
	stack   []recState
	col     color.Color
	texts   []textBox
	strokes []stroke
}

type recState struct {
	m   affine
	col color.Color
}

// affine maps (x, y) to (a·x + c·y + e, b·x + d·y + f).
type affine struct{ a, b, c, d, e, f float64 }

func (m affine) apply(x, y float64) point {
	return point{m.a*x + m.c*y + m.e, m.b*x + m.d*y + m.f}
}

// then is m after n: the canvas applies a new transform to local
// coordinates before the ones already set.
func (m affine) then(n affine) affine {
	return affine{
		a: m.a*n.a + m.c*n.b, b: m.b*n.a + m.d*n.b,
		c: m.a*n.c + m.c*n.d, d: m.b*n.c + m.d*n.d,
		e: m.a*n.e + m.c*n.f + m.e, f: m.b*n.e + m.d*n.f + m.f,
	}
}

type point struct{ x, y float64 }

// textBox is one FillString: its text and the corners of its box (ascent
// to descent, origin to advance) in figure coordinates.
type textBox struct {
	text    string
	corners [4]point
}

type stroke struct {
	col color.Color
	pts []point
}

func newRecorder(w, h vg.Length) *recorder {
	return &recorder{w: w, h: h, m: affine{a: 1, d: 1}, col: color.Black}
}

func (r *recorder) Size() (vg.Length, vg.Length)       { return r.w, r.h }
func (r *recorder) SetLineWidth(vg.Length)             {}
func (r *recorder) SetLineDash([]vg.Length, vg.Length) {}
func (r *recorder) SetColor(c color.Color)             { r.col = c }
func (r *recorder) Rotate(t float64) {
	r.m = r.m.then(affine{a: math.Cos(t), b: math.Sin(t), c: -math.Sin(t), d: math.Cos(t)})
}
func (r *recorder) Translate(p vg.Point) {
	r.m = r.m.then(affine{a: 1, d: 1, e: p.X.Points(), f: p.Y.Points()})
}
func (r *recorder) Scale(x, y float64) { r.m = r.m.then(affine{a: x, d: y}) }
func (r *recorder) Push()              { r.stack = append(r.stack, recState{r.m, r.col}) }
func (r *recorder) Pop() {
	s := r.stack[len(r.stack)-1]
	r.stack = r.stack[:len(r.stack)-1]
	r.m, r.col = s.m, s.col
}
func (r *recorder) Fill(vg.Path)                        {}
func (r *recorder) DrawImage(vg.Rectangle, image.Image) {}
func (r *recorder) Stroke(p vg.Path) {
	s := stroke{col: r.col}
	for _, c := range p {
		if c.Type == vg.MoveComp || c.Type == vg.LineComp {
			s.pts = append(s.pts, r.m.apply(c.Pos.X.Points(), c.Pos.Y.Points()))
		}
	}
	r.strokes = append(r.strokes, s)
}
func (r *recorder) FillString(f font.Face, p vg.Point, s string) {
	if f.Font.Size == 0 {
		return
	}
	e := f.Extents()
	x0, x1 := p.X.Points(), (p.X + f.Width(s)).Points()
	y0, y1 := (p.Y - e.Descent).Points(), (p.Y + e.Ascent).Points()
	r.texts = append(r.texts, textBox{text: s, corners: [4]point{
		r.m.apply(x0, y0), r.m.apply(x1, y0), r.m.apply(x1, y1), r.m.apply(x0, y1),
	}})
}

// overlap reports whether two convex quadrilaterals overlap by more than
// tol points (separating-axis test; rotated labels included).
func overlap(p, q [4]point, tol float64) bool {
	for _, poly := range [][4]point{p, q} {
		for i := range 4 {
			a, b := poly[i], poly[(i+1)%4]
			nx, ny := -(b.y - a.y), b.x-a.x
			l := math.Hypot(nx, ny)
			if l == 0 {
				continue
			}
			nx, ny = nx/l, ny/l
			pmin, pmax := project(p, nx, ny)
			qmin, qmax := project(q, nx, ny)
			if pmax-tol <= qmin || qmax-tol <= pmin {
				return false
			}
		}
	}
	return true
}

func project(p [4]point, nx, ny float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, c := range p {
		d := c.x*nx + c.y*ny
		lo, hi = math.Min(lo, d), math.Max(hi, d)
	}
	return lo, hi
}

// figureFixture is the report fixture plus a variant with a single seed,
// whose points must come without error bars.
func figureFixture(t *testing.T) *builder {
	t.Helper()
	dir := fixture(t, true)
	rows, err := ReadResults(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	an, err := ReadAnalyses(dir)
	if err != nil {
		t.Fatal(err)
	}
	for metric, v := range map[string]float64{"test_top1": 0.95, "r2": 0.75, "probe_fashion-mnist_top1": 0.72, "test_ece": 0.03} {
		rows = append(rows, Row{Study: "fixture", Unit: "train-sigmoid-1", Objective: "sigmoid", Hyper: "offset=1", Seed: 1, Metric: metric, Value: v})
	}
	return newBuilder(rows, an)
}

func drawFigures(t *testing.T, b *builder) map[string]*recorder {
	t.Helper()
	figs, err := b.allFigures()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*recorder{}
	for _, f := range figs {
		r := newRecorder(f.w, f.h)
		f.drawOn(r)
		out[f.name] = r
	}
	return out
}

// TestFiguresTextIsReadable draws every figure of the fixture onto a
// recording canvas: every text is non-empty and inside the canvas, and no
// two texts overlap (tick labels, titles, legend entries and the values
// written in heat-map cells alike).
func TestFiguresTextIsReadable(t *testing.T) {
	recs := drawFigures(t, figureFixture(t))
	for _, name := range []string{"r2_vs_transfer", "r2_vs_accuracy", "tau_sweep", "reliability", "disagreement", "cka_curve", "cka_layers", "cka_heatmaps"} {
		r, ok := recs[name]
		if !ok {
			t.Errorf("figure %s not drawn", name)
			continue
		}
		if len(r.texts) == 0 {
			t.Errorf("%s: no text", name)
		}
		const tol = 0.5 // points
		for _, tb := range r.texts {
			if strings.TrimSpace(tb.text) == "" {
				t.Errorf("%s: an empty label", name)
			}
			for _, c := range tb.corners {
				if c.x < -tol || c.y < -tol || c.x > r.w.Points()+tol || c.y > r.h.Points()+tol {
					t.Errorf("%s: %q reaches (%.1f, %.1f), outside the %.0f × %.0f pt canvas", name, tb.text, c.x, c.y, r.w.Points(), r.h.Points())
					break
				}
			}
		}
		for i, p := range r.texts {
			for _, q := range r.texts[i+1:] {
				if overlap(p.corners, q.corners, tol) {
					t.Errorf("%s: %q and %q overlap", name, p.text, q.text)
				}
			}
		}
	}
}

// TestScatterNamesEveryVariantAndHasErrorBars: the R²-vs-transfer figure
// names every variant exactly once (its legend) and draws ± s.e.m. bars
// with caps, vertical and horizontal, in the colour of each variant with
// more than one seed, and none for the variant with one.
func TestScatterNamesEveryVariantAndHasErrorBars(t *testing.T) {
	b := figureFixture(t)
	r := drawFigures(t, b)["r2_vs_transfer"]
	if r == nil {
		t.Fatal("r2_vs_transfer not drawn")
	}
	count := map[string]int{}
	for _, tb := range r.texts {
		count[tb.text]++
	}
	for _, v := range b.variants {
		if l := b.label(v); count[l] != 1 {
			t.Errorf("label %q drawn %d times; want once", l, count[l])
		}
	}
	st := b.styles()
	for _, v := range b.variants {
		var vert, horiz int
		for _, s := range r.strokes {
			if s.col != color.Color(st[v].col) || len(s.pts) != 2 {
				continue
			}
			dx, dy := math.Abs(s.pts[1].x-s.pts[0].x), math.Abs(s.pts[1].y-s.pts[0].y)
			switch {
			case dx < 1e-6 && dy > 1:
				vert++
			case dy < 1e-6 && dx > 1:
				horiz++
			}
		}
		// A bar is one stroke and its two caps two strokes across it, so
		// both bars give at least three strokes in each direction.
		n := len(b.get(v, "r2"))
		if n > 1 && (vert < 3 || horiz < 3) {
			t.Errorf("%s (%d seeds): %d vertical and %d horizontal bar strokes; want a bar and two caps each way", b.label(v), n, vert, horiz)
		}
		if n == 1 && vert+horiz > 0 {
			t.Errorf("%s (1 seed): %d error-bar strokes; want none", b.label(v), vert+horiz)
		}
	}
}

// TestRecorderFollowsTransforms checks the recorder itself on a label
// rotated by 90°: its box must stand upright from the anchor.
func TestRecorderFollowsTransforms(t *testing.T) {
	r := newRecorder(100, 100)
	f := font.DefaultCache.Lookup(sansFont, 10)
	r.Push()
	r.Translate(vg.Point{X: 50, Y: 10})
	r.Rotate(math.Pi / 2)
	r.FillString(f, vg.Point{}, "abc")
	r.Pop()
	r.FillString(f, vg.Point{X: 5, Y: 5}, "x")
	c := r.texts[0].corners
	if math.Abs(c[0].x-c[1].x) > 1e-6 || c[1].y <= c[0].y+5 {
		t.Errorf("rotated box %v: want its advance along +y", c)
	}
	if got := r.texts[1].corners[0]; math.Abs(got.x-5) > 1e-9 {
		t.Errorf("Pop did not restore the transform: %v", got)
	}
}

// manyVariants is a study of n variants (softmax, then a cosine-softmax τ
// sweep), two seeds each, with every analysis, for the figures' layout
// with many variants.
func manyVariants(n int) *builder {
	an := &Analyses{Study: "many", Description: "many variants", Reference: "softmax", TauKey: "tau"}
	var rows []Row
	bins := []metrics.ReliabilityBin{{Lo: 0.8, Hi: 0.9, Count: 10, Confidence: 0.85, Accuracy: 0.8}, {Lo: 0.9, Hi: 1, Count: 90, Confidence: 0.95, Accuracy: 0.93}}
	for i := range n {
		obj, hyper := "softmax", ""
		if i > 0 {
			obj, hyper = "cosine_softmax", fmt.Sprintf("normalize_features=1 tau=%g", 0.01*float64(i))
		}
		for _, seed := range []uint64{1, 2} {
			m := Model{Unit: fmt.Sprintf("u%d-%d", i, seed), Objective: obj, Hyper: hyper, Seed: seed}
			an.Models = append(an.Models, m)
			an.Reliability = append(an.Reliability, Reliability{Model: m, Temperature: 1, Before: bins, After: bins})
			x := float64(i)/float64(n) + 0.01*float64(seed)
			for metric, v := range map[string]float64{"test_top1": 0.9 + 0.05*x, "r2": 0.5 + 0.3*x, "probe_t_top1": 0.8 - 0.1*x, "test_ece": 0.02, "test_ece_ts": 0.01} {
				rows = append(rows, Row{Study: "many", Unit: m.Unit, Objective: obj, Hyper: hyper, Seed: seed, Metric: metric, Value: v})
			}
		}
	}
	k := len(an.Models)
	dis := make([][]float64, k)
	for i := range dis {
		dis[i] = make([]float64, k)
		for j := range dis[i] {
			dis[i][j] = 0.01 * float64((i*7+j*3)%40)
		}
	}
	an.Predictions = &Predictions{Models: an.Models, Disagreement: dis, PairEnsemble: dis}
	an.CKA = &CKAResult{Layers: []string{"stem", "block1", "block2", "block3", "pooled", "logits"}, Examples: 10, Spatial: "pooled"}
	for i := 2; i < k; i++ {
		mat := make([][]float64, 6)
		for r := range mat {
			mat[r] = make([]float64, 6)
			for c := range mat[r] {
				mat[r][c] = 1 - 0.1*math.Abs(float64(r-c)) - 0.01*float64(i%10)
			}
		}
		a := an.Models[i%2] // softmax at the same seed
		if i%2 == 1 && an.Models[i].Objective == "softmax" {
			continue
		}
		an.CKA.Pairs = append(an.CKA.Pairs, CKAPair{A: a, B: an.Models[i], Matrix: mat})
	}
	return newBuilder(rows, an)
}

// TestFiguresWithManyVariants: with 20 variants every figure keeps its
// text inside the canvas and apart, the heat maps included.
func TestFiguresWithManyVariants(t *testing.T) {
	recs := drawFigures(t, manyVariants(20))
	if len(recs) < 7 {
		t.Fatalf("%d figures drawn; want at least 7", len(recs))
	}
	for name, r := range recs {
		for _, tb := range r.texts {
			for _, c := range tb.corners {
				if c.x < -0.5 || c.y < -0.5 || c.x > r.w.Points()+0.5 || c.y > r.h.Points()+0.5 {
					t.Errorf("%s: %q outside the canvas", name, tb.text)
					break
				}
			}
		}
		for i, p := range r.texts {
			for _, q := range r.texts[i+1:] {
				if overlap(p.corners, q.corners, 0.5) {
					t.Errorf("%s: %q and %q overlap", name, p.text, q.text)
				}
			}
		}
	}
}
