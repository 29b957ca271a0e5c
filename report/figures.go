package report

import (
	"bytes"
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"github.com/losslab/losslab/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/losslab/losslab/metrics"
)

// figures draws every figure the data allow, saves each as PNG and SVG
// under dir, and returns the PNG bytes by name.
func (b *builder) figures(dir string) (map[string][]byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	save := func(name string, p *plot.Plot, w, h vg.Length) error {
		for _, ext := range []string{"png", "svg"} {
			wt, err := p.WriterTo(w, h, ext)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if _, err := wt.WriteTo(&buf); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(filepath.Join(dir, name+"."+ext), buf.Bytes()); err != nil {
				return err
			}
			if ext == "png" {
				out[name] = buf.Bytes()
			}
		}
		return nil
	}
	type fig struct {
		name string
		make func() (*plot.Plot, vg.Length, vg.Length, error)
	}
	for _, f := range []fig{
		{"cka_curve", b.ckaCurveFigure},
		{"r2_vs_accuracy", func() (*plot.Plot, vg.Length, vg.Length, error) {
			return b.scatter("r2", "test_top1", "class separation R² (penultimate)", "test top-1 accuracy")
		}},
		{"r2_vs_transfer", func() (*plot.Plot, vg.Length, vg.Length, error) {
			t := b.firstTarget()
			if t == "" {
				return nil, 0, 0, nil
			}
			return b.scatter("r2", "probe_"+t+"_top1", "class separation R² (penultimate)", "linear-probe accuracy on "+t)
		}},
		{"reliability", b.reliabilityFigure},
		{"tau_sweep", b.tauFigure},
	} {
		p, w, h, err := f.make()
		if err != nil {
			return nil, fmt.Errorf("figure %s: %w", f.name, err)
		}
		if p == nil {
			continue
		}
		if err := save(f.name, p, w, h); err != nil {
			return nil, fmt.Errorf("figure %s: %w", f.name, err)
		}
	}
	if png, svg, err := b.ckaHeatmaps(); err != nil {
		return nil, fmt.Errorf("figure cka_heatmaps: %w", err)
	} else if png != nil {
		if err := atomicfile.WriteFile(filepath.Join(dir, "cka_heatmaps.png"), png); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, "cka_heatmaps.svg"), svg); err != nil {
			return nil, err
		}
		out["cka_heatmaps"] = png
	}
	return out, nil
}

func (b *builder) ckaCurveFigure() (*plot.Plot, vg.Length, vg.Length, error) {
	c := b.an.CKA
	if c == nil || len(c.Pairs) == 0 {
		return nil, 0, 0, nil
	}
	cross, same := b.ckaCurves(c)
	p := plot.New()
	p.Title.Text = "Layer-wise linear CKA with " + b.reference() + " (same seed)"
	p.X.Label.Text = "layer"
	p.Y.Label.Text = "CKA"
	p.Y.Min, p.Y.Max = 0, 1
	p.NominalX(c.Layers...)
	var args []any
	for _, v := range b.variants {
		if cv, ok := cross[v]; ok {
			args = append(args, v, line(cv))
		}
	}
	if same != nil {
		args = append(args, "same objective, other seed", line(same))
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, 0, 0, err
	}
	p.Legend.Top = false
	p.Legend.Left = true
	return p, 7 * vg.Inch, 5 * vg.Inch, nil
}

func line(ys []float64) plotter.XYs {
	pts := make(plotter.XYs, len(ys))
	for i, y := range ys {
		pts[i] = plotter.XY{X: float64(i), Y: y}
	}
	return pts
}

// scatter plots one point per variant (means over seeds), labelled.
func (b *builder) scatter(mx, my, xl, yl string) (*plot.Plot, vg.Length, vg.Length, error) {
	var pts plotter.XYs
	var names []string
	for _, v := range b.variants {
		if len(b.get(v, mx)) > 0 && len(b.get(v, my)) > 0 {
			pts = append(pts, plotter.XY{X: b.mean(v, mx), Y: b.mean(v, my)})
			names = append(names, v)
		}
	}
	if len(pts) == 0 {
		return nil, 0, 0, nil
	}
	p := plot.New()
	p.Title.Text = yl + " vs " + xl
	p.X.Label.Text, p.Y.Label.Text = xl, yl
	s, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, 0, 0, err
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: names})
	if err != nil {
		return nil, 0, 0, err
	}
	p.Add(s, labels)
	return p, 7 * vg.Inch, 5 * vg.Inch, nil
}

// reliabilityFigure draws, per variant (its first seed), accuracy against
// mean confidence over the non-empty bins, before and after temperature
// scaling, with the diagonal of perfect calibration.
func (b *builder) reliabilityFigure() (*plot.Plot, vg.Length, vg.Length, error) {
	if len(b.an.Reliability) == 0 {
		return nil, 0, 0, nil
	}
	p := plot.New()
	p.Title.Text = "Reliability (first seed; dashed: after temperature scaling)"
	p.X.Label.Text, p.Y.Label.Text = "confidence", "accuracy"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	diag, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	diag.Color = color.Gray{Y: 160}
	p.Add(diag)
	seen := map[string]bool{}
	i := 0
	for _, r := range b.an.Reliability {
		v := r.Model.Variant()
		if seen[v] {
			continue
		}
		seen[v] = true
		for k, bins := range [][]float64{binsXY(r.Before), binsXY(r.After)} {
			var pts plotter.XYs
			for j := 0; j+1 < len(bins); j += 2 {
				pts = append(pts, plotter.XY{X: bins[j], Y: bins[j+1]})
			}
			if len(pts) == 0 {
				continue
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return nil, 0, 0, err
			}
			l.Color = plotutil.Color(i)
			if k == 1 {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			} else {
				p.Legend.Add(v, l)
			}
			p.Add(l)
		}
		i++
	}
	p.Legend.Top = true
	p.Legend.Left = true
	return p, 7 * vg.Inch, 6 * vg.Inch, nil
}

func binsXY(bins []metricsBin) []float64 {
	var out []float64
	for _, bn := range bins {
		if bn.Count > 0 {
			out = append(out, bn.Confidence, bn.Accuracy)
		}
	}
	return out
}

func (b *builder) tauFigure() (*plot.Plot, vg.Length, vg.Length, error) {
	taus, r2, acc, tr := b.tauSweep()
	if len(taus) < 2 {
		return nil, 0, 0, nil
	}
	p := plot.New()
	p.Title.Text = "Cosine-softmax temperature sweep"
	p.X.Label.Text, p.Y.Label.Text = "τ", "value"
	mk := func(ys []float64) plotter.XYs {
		pts := make(plotter.XYs, len(ys))
		for i := range ys {
			pts[i] = plotter.XY{X: taus[i], Y: ys[i]}
		}
		return pts
	}
	args := []any{"R²", mk(r2), "top-1 accuracy", mk(acc)}
	if tr != nil {
		args = append(args, "linear probe "+b.firstTarget(), mk(tr))
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, 0, 0, err
	}
	return p, 6 * vg.Inch, 4 * vg.Inch, nil
}

// grid is a layer × layer CKA matrix as a heat-map grid: column c is
// layer c of model B, row r layer r of model A.
type grid [][]float64

func (g grid) Dims() (c, r int)   { return len(g[0]), len(g) }
func (g grid) Z(c, r int) float64 { return g[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// ckaHeatmaps draws one layer × layer heat map per variant against the
// reference (first pair found), tiled in one image.
func (b *builder) ckaHeatmaps() (png, svg []byte, err error) {
	c := b.an.CKA
	if c == nil || len(c.Pairs) == 0 {
		return nil, nil, nil
	}
	var plots []*plot.Plot
	seen := map[string]bool{}
	for _, pr := range c.Pairs {
		key := pr.A.Variant() + " vs " + pr.B.Variant()
		if seen[key] || len(pr.Matrix) == 0 {
			continue
		}
		seen[key] = true
		p := plot.New()
		p.Title.Text = key
		p.X.Label.Text, p.Y.Label.Text = pr.B.Variant(), pr.A.Variant()
		h := plotter.NewHeatMap(grid(pr.Matrix), palette.Heat(32, 1))
		h.Min, h.Max = 0, 1
		p.Add(h)
		p.NominalX(c.Layers...)
		p.NominalY(c.Layers...)
		plots = append(plots, p)
	}
	cols := 3
	rows := (len(plots) + cols - 1) / cols
	w, h := vg.Length(cols)*3.5*vg.Inch, vg.Length(rows)*3.2*vg.Inch
	draw1 := func(cv vg.CanvasSizer) {
		dc := draw.New(cv)
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter, PadY: vg.Millimeter}
		for i, p := range plots {
			p.Draw(tiles.At(dc, i%cols, i/cols))
		}
	}
	img := vgimg.New(w, h)
	draw1(img)
	var pb bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&pb); err != nil {
		return nil, nil, err
	}
	sv := newSVG(w, h)
	draw1(sv)
	var sb bytes.Buffer
	if _, err := sv.WriteTo(&sb); err != nil {
		return nil, nil, err
	}
	return pb.Bytes(), sb.Bytes(), nil
}

// metricsBin is a reliability bin.
type metricsBin = metrics.ReliabilityBin

func newSVG(w, h vg.Length) *vgsvg.Canvas { return vgsvg.New(w, h) }
