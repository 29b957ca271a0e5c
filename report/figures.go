package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/losslab/losslab/internal/atomicfile"
	"github.com/losslab/losslab/metrics"
)

// figure is one figure of the report: its size, its caption and how to
// draw it. Drawing onto a vg.Canvas (not saving a plot.Plot) lets one
// figure hold several plots, a legend beside the data and a colour bar,
// and lets a test draw it onto a canvas that records the text.
type figure struct {
	name    string
	caption string
	w, h    vg.Length
	draw    func(c draw.Canvas)
}

// rendered is a figure as PNG (for Markdown) and SVG (for the HTML).
type rendered struct {
	png, svg []byte
	caption  string
	w        vg.Length
}

// margin is the blank border around every figure.
const margin = 6 // points

// pngDPI makes the PNG copies sharp on high-density screens and in print.
const pngDPI = 150

// drawOn fills the background white (SVG has none) and draws the figure.
func (f *figure) drawOn(c vg.CanvasSizer) {
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	// A margin keeps text at the figure's edge from touching the page.
	f.draw(draw.Crop(dc, margin, -margin, margin, -margin))
}

func (f *figure) render() (*rendered, error) {
	img := vgimg.NewWith(vgimg.UseWH(f.w, f.h), vgimg.UseDPI(pngDPI))
	f.drawOn(img)
	var pb bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&pb); err != nil {
		return nil, err
	}
	sv := vgsvg.New(f.w, f.h)
	f.drawOn(sv)
	var sb bytes.Buffer
	if _, err := sv.WriteTo(&sb); err != nil {
		return nil, err
	}
	// gonum names the font's family alone; a viewer without Liberation
	// Sans should fall back to a metric-compatible sans-serif, not to a
	// serif whose wider glyphs would run labels into each other.
	svg := bytes.ReplaceAll(sb.Bytes(), []byte("font-family:Liberation Sans;"), []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
	return &rendered{png: pb.Bytes(), svg: svg, caption: f.caption, w: f.w}, nil
}

// figures draws every figure the data allow, saves each as PNG and SVG
// under dir, and returns them by name.
func (b *builder) figures(dir string) (map[string]*rendered, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	figs, err := b.allFigures()
	if err != nil {
		return nil, err
	}
	out := map[string]*rendered{}
	for _, f := range figs {
		r, err := f.render()
		if err != nil {
			return nil, fmt.Errorf("figure %s: %w", f.name, err)
		}
		for ext, data := range map[string][]byte{"png": r.png, "svg": r.svg} {
			if err := atomicfile.WriteFile(filepath.Join(dir, f.name+"."+ext), data); err != nil {
				return nil, err
			}
		}
		out[f.name] = r
	}
	return out, nil
}

// allFigures builds every figure the data allow.
func (b *builder) allFigures() ([]*figure, error) {
	var out []*figure
	for _, mk := range []func() (*figure, error){
		b.transferFigure, b.accuracyScatter, b.tauFigure, b.reliabilityFigure,
		b.disagreementFigure, b.ckaCurveFigure, b.ckaLayersFigure, b.ckaHeatmaps,
	} {
		f, err := mk()
		if err != nil {
			return nil, err
		}
		if f != nil {
			out = append(out, f)
		}
	}
	return out, nil
}

// ---------------------------------------------------------------- style

var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

func face(size float64) font.Font { return font.From(sansFont, vg.Length(size)) }

func textStyle(size float64) text.Style {
	return text.Style{Color: color.Black, Font: face(size), Handler: plot.DefaultTextHandler}
}

// newPlot is a plot in the report's style: sans-serif text sized for a
// figure printed at its natural width, light grid lines.
func newPlot(title, xl, yl string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = face(11.5)
	p.Title.Padding = vg.Points(6)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = face(10.5)
		a.Tick.Label.Font = face(9.5)
		a.Tick.Marker = niceTicks{}
	}
	p.X.Label.Text, p.Y.Label.Text = xl, yl
	p.Legend.TextStyle.Font = face(9.5)
	return p
}

// niceTicks labels four to eight round values (steps of 1, 2, 2.5 or 5
// times a power of ten) with as many decimals as the step needs: gonum's
// default ticks label too few values on short ranges and print "97.50".
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	digits := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	if math.Abs(step/math.Pow(10, -float64(digits))-math.Round(step/math.Pow(10, -float64(digits)))) > 1e-9 {
		digits++ // 2.5 × 10^k needs one more
	}
	var out []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+1e-9*step; i++ {
		v := i * step
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', digits, 64)})
	}
	return out
}

func addGrid(p *plot.Plot) {
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 225}
	g.Horizontal.Color = color.Gray{Y: 225}
	p.Add(g)
}

// objectiveColors give each objective one colour in every figure
// (Okabe–Ito where it has enough, distinguishable in colour-blind vision);
// the reference is near-black.
var objectiveColors = map[string]color.RGBA{
	"softmax":              {0x22, 0x22, 0x22, 0xff},
	"label_smoothing":      {0xe6, 0x9f, 0x00, 0xff},
	"sigmoid":              {0x56, 0xb4, 0xe9, 0xff},
	"extra_final_layer_l2": {0x00, 0x9e, 0x73, 0xff},
	"dropout":              {0xcc, 0x79, 0xa7, 0xff},
	"logit_penalty":        {0xd5, 0x5e, 0x00, 0xff},
	"logit_normalization":  {0x00, 0x72, 0xb2, 0xff},
	"cosine_softmax":       {0x7b, 0x3f, 0xa6, 0xff},
	"squared_error":        {0x8c, 0x56, 0x4b, 0xff},
}

// extraColors go, in plan order, to objectives the table lacks (stacks).
var extraColors = []color.RGBA{
	{0x17, 0xbe, 0xcf, 0xff}, {0xbc, 0xbd, 0x22, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xe3, 0x77, 0xc2, 0xff}, {0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff},
}

// vstyle is how a variant is drawn: its objective's colour (lighter or
// darker for the second and later variants of an objective), a marker, and
// hollow markers and dashed lines for a variant with an input regularizer.
type vstyle struct {
	col    color.RGBA
	glyph  draw.GlyphDrawer
	hollow bool
}

func (s vstyle) faint() color.Color {
	return color.NRGBA{s.col.R, s.col.G, s.col.B, 0x55}
}

func (s vstyle) glyphStyle(r vg.Length) draw.GlyphStyle {
	return draw.GlyphStyle{Color: s.col, Radius: r, Shape: s.glyph}
}

func (s vstyle) lineStyle() draw.LineStyle {
	ls := draw.LineStyle{Color: s.col, Width: vg.Points(1.5)}
	if s.hollow {
		ls.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
	}
	return ls
}

// mix moves c towards black (t < 0) or white (t > 0) by |t|.
func mix(c color.RGBA, t float64) color.RGBA {
	to := 0.0
	if t > 0 {
		to = 255
	}
	t = math.Abs(t)
	f := func(x uint8) uint8 { return uint8(math.Round(float64(x)*(1-t) + to*t)) }
	return color.RGBA{f(c.R), f(c.G), f(c.B), 0xff}
}

var (
	filledGlyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}}
	hollowGlyphs = []draw.GlyphDrawer{draw.RingGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}}
)

// styles assigns every variant its style, deterministically from the
// plan order: an objective's variants are shaded from dark to light.
func (b *builder) styles() map[string]vstyle {
	if b.vstyles != nil {
		return b.vstyles
	}
	byObj := map[string][]string{}
	var objs []string
	for _, v := range b.variants {
		o := b.objectiveOf(v)
		if _, ok := byObj[o]; !ok {
			objs = append(objs, o)
		}
		byObj[o] = append(byObj[o], v)
	}
	out := map[string]vstyle{}
	extra := 0
	for oi, o := range objs {
		base, ok := objectiveColors[o]
		if !ok {
			base = extraColors[extra%len(extraColors)]
			extra++
		}
		vs := byObj[o]
		for k, v := range vs {
			t := 0.0
			if len(vs) > 1 {
				t = 0.55*float64(k)/float64(len(vs)-1) - 0.25
			}
			_, in := SplitInput(b.hyperOf(v))
			s := vstyle{col: mix(base, t), glyph: filledGlyphs[(oi+k)%len(filledGlyphs)], hollow: in != ""}
			if s.hollow {
				s.glyph = hollowGlyphs[(oi+k)%len(hollowGlyphs)]
			}
			out[v] = s
		}
	}
	b.vstyles = out
	return out
}

// ---------------------------------------------------------------- layout

// sideLegend draws p and, in a column at its right, a legend: a legend
// inside the data area hides data, and labels beside points collide.
func sideLegend(p *plot.Plot, leg plot.Legend) func(draw.Canvas) {
	return func(c draw.Canvas) {
		lw := leg.Rectangle(c).Size().X + vg.Points(8)
		pc := c
		pc.Max.X -= lw
		p.Draw(pc)
		lc := c
		lc.Min.X = c.Max.X - lw + vg.Points(4)
		lc.Max.Y -= titleHeight(p)
		leg.Top, leg.Left = true, true
		leg.Draw(lc)
	}
}

func titleHeight(p *plot.Plot) vg.Length {
	if p.Title.Text == "" {
		return vg.Points(4)
	}
	return p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding + vg.Points(4)
}

func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = face(9)
	l.ThumbnailWidth = vg.Points(14)
	l.Padding = vg.Points(2)
	return l
}

// glyphThumb is a legend entry's marker.
type glyphThumb struct{ sty draw.GlyphStyle }

func (g glyphThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(g.sty, c.Center())
}

// lineThumb is a legend entry's line with its marker.
type lineThumb struct {
	ls  draw.LineStyle
	gly *draw.GlyphStyle
}

func (l lineThumb) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(l.ls, c.Min.X, y, c.Max.X, y)
	if l.gly != nil {
		c.DrawGlyph(*l.gly, c.Center())
	}
}

// aligned tiles plots over c, cols to a row, so that their data areas
// have one size and line up whatever each plot's axis labels take (a panel
// without tick labels would otherwise grow), with padTop left free above
// each row for titles drawn by the caller.
func aligned(c draw.Canvas, plots []*plot.Plot, cols int, padX, padY, padTop vg.Length) []draw.Canvas {
	rows := (len(plots) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
		for k := range cols {
			if i := r*cols + k; i < len(plots) {
				grid[r][k] = plots[i]
			}
		}
	}
	cs := plot.Align(grid, draw.Tiles{Rows: rows, Cols: cols, PadX: padX, PadY: padY + padTop, PadTop: padTop}, c)
	out := make([]draw.Canvas, len(plots))
	for i := range out {
		out[i] = cs[i/cols][i%cols]
	}
	return out
}

// blank is n empty names: tick positions without labels.
func blank(n int) []string { return make([]string, n) }

// ---------------------------------------------------------------- scatter

// meanPoint is one variant's mean ± s.e.m. on two metrics and its per-seed
// pairs.
type meanPoint struct {
	v              string
	x, y, sx, sy   float64
	seedX, seedY   []float64
	nx, ny, nPairs int
}

func (b *builder) meanPoints(mx, my string) []meanPoint {
	var out []meanPoint
	for _, v := range b.variants {
		xs, ys := b.get(v, mx), b.get(v, my)
		if len(xs) == 0 || len(ys) == 0 {
			continue
		}
		p := meanPoint{v: v, nx: len(xs), ny: len(ys)}
		p.x, p.sx = MeanSEM(xs)
		p.y, p.sy = MeanSEM(ys)
		bx, by := b.bySeed(v, mx), b.bySeed(v, my)
		for _, s := range commonSeeds(bx, by) {
			p.seedX, p.seedY = append(p.seedX, bx[s]), append(p.seedY, by[s])
		}
		out = append(out, p)
	}
	return out
}

// scatterFigure plots, per variant, the mean over seeds with ± s.e.m. bars
// on both axes and its seeds as faint points; then, over one variant per
// objective (the points the claims' tests use), the least-squares line and
// the permutation correlation test of stats.go, as in the verdicts.
func (b *builder) scatterFigure(name, mx, my, xl, yl string, yscale float64, title string) (*figure, error) {
	pts := b.meanPoints(mx, my)
	if len(pts) == 0 {
		return nil, nil
	}
	st := b.styles()
	p := newPlot(title, xl, yl)
	addGrid(p)
	leg := newLegend()
	for _, q := range pts {
		s := st[q.v]
		if len(q.seedX) > 1 {
			var seeds plotter.XYs
			for i := range q.seedX {
				seeds = append(seeds, plotter.XY{X: q.seedX[i], Y: yscale * q.seedY[i]})
			}
			sc, err := plotter.NewScatter(seeds)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: s.faint(), Radius: vg.Points(2.2), Shape: s.glyph}
			p.Add(sc)
		}
		mean := plotter.XYs{{X: q.x, Y: yscale * q.y}}
		if !math.IsNaN(q.sy) {
			yb, err := plotter.NewYErrorBars(errPoint{mean, plotter.YErrors{{Low: yscale * q.sy, High: yscale * q.sy}}, nil})
			if err != nil {
				return nil, err
			}
			yb.LineStyle = draw.LineStyle{Color: s.col, Width: vg.Points(1)}
			yb.CapWidth = vg.Points(4)
			p.Add(yb)
		}
		if !math.IsNaN(q.sx) {
			xb, err := plotter.NewXErrorBars(errPoint{mean, nil, plotter.XErrors{{Low: q.sx, High: q.sx}}})
			if err != nil {
				return nil, err
			}
			xb.LineStyle = draw.LineStyle{Color: s.col, Width: vg.Points(1)}
			xb.CapWidth = vg.Points(4)
			p.Add(xb)
		}
		sc, err := plotter.NewScatter(mean)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = s.glyphStyle(vg.Points(4))
		p.Add(sc)
		leg.Add(b.label(q.v), glyphThumb{sc.GlyphStyle})
	}
	// The test the claims use: one point per objective, means over seeds.
	e := newEvidence(b, Alpha)
	var xs, ys []float64
	for _, v := range e.perObj {
		if e.has(v, mx) && e.has(v, my) {
			xs, ys = append(xs, e.mean(v, mx)), append(ys, e.mean(v, my))
		}
	}
	if c := PermutationCorrelation(xs, ys, nil); !math.IsNaN(c.R) {
		alpha, beta := stat.LinearRegression(xs, ys, nil, false)
		lo, hi := slices.Min(xs), slices.Max(xs)
		fit, err := plotter.NewLine(plotter.XYs{{X: lo, Y: yscale * (alpha + beta*lo)}, {X: hi, Y: yscale * (alpha + beta*hi)}})
		if err != nil {
			return nil, err
		}
		fit.LineStyle = draw.LineStyle{Color: color.Gray{Y: 110}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
		p.Add(fit)
		leg.Add(fmt.Sprintf("fit: r = %s, %s", signed3(c.R), pEq(c.P)), lineThumb{ls: fit.LineStyle})
		leg.Add(fmt.Sprintf("(permutation, %d objectives)", c.N))
	}
	leg.Add("bars: mean ± s.e.m.;")
	leg.Add("faint: single seeds")
	padRange(&p.X, false, 0.04)
	padRange(&p.Y, false, 0.04)
	return &figure{name: name, w: 7.5 * vg.Inch, h: 4.6 * vg.Inch, draw: sideLegend(p, leg),
		caption: title + ". Points: mean over seeds with ± s.e.m. bars on both axes; faint markers: the single seeds. Dashed line: least-squares fit over one variant per objective, with the Pearson r and permutation p-value of the findings' test."}, nil
}

// errPoint carries a point's error for plotter's error-bar types.
type errPoint struct {
	plotter.XYs
	plotter.YErrors
	plotter.XErrors
}

func (b *builder) transferFigure() (*figure, error) {
	t := b.firstTarget()
	if t == "" {
		return nil, nil
	}
	return b.scatterFigure("r2_vs_transfer", "r2", "probe_"+t+"_top1", "class separation R² (penultimate layer)", "linear-probe top-1 on "+t+" (%)", 100,
		"Transfer vs class separation")
}

func (b *builder) accuracyScatter() (*figure, error) {
	return b.scatterFigure("r2_vs_accuracy", "r2", "test_top1", "class separation R² (penultimate layer)", "test top-1 (%)", 100,
		"Accuracy vs class separation")
}

// ---------------------------------------------------------------- τ sweep

// tauFigure plots R², top-1 and linear-probe transfer against τ (log
// scale) for the cosine-softmax sweep of claim 5 (the variants that differ
// only in τ): mean ± s.e.m. with the single seeds faint.
func (b *builder) tauFigure() (*figure, error) {
	vs, taus := newEvidence(b, Alpha).tauGroup()
	if len(vs) < 2 {
		return nil, nil
	}
	type panel struct {
		metric, label string
		scale         float64
	}
	panels := []panel{{"r2", "class separation R²", 1}, {"test_top1", "test top-1 (%)", 100}}
	if t := b.firstTarget(); t != "" {
		panels = append(panels, panel{"probe_" + t + "_top1", "linear probe " + t + " (%)", 100})
	}
	col := objectiveColors["cosine_softmax"]
	var plots []*plot.Plot
	for _, pn := range panels {
		p := newPlot(pn.label, "τ", "")
		addGrid(p)
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = tauTicks(taus)
		var means plotter.XYs
		var errs plotter.YErrors
		var seeds plotter.XYs
		for i, v := range vs {
			xs := b.get(v, pn.metric)
			if len(xs) == 0 {
				continue
			}
			m, s := MeanSEM(xs)
			if math.IsNaN(s) {
				s = 0
			}
			means = append(means, plotter.XY{X: taus[i], Y: pn.scale * m})
			errs = append(errs, struct{ Low, High float64 }{pn.scale * s, pn.scale * s})
			if len(xs) > 1 {
				for _, x := range xs {
					seeds = append(seeds, plotter.XY{X: taus[i], Y: pn.scale * x})
				}
			}
		}
		if len(means) < 2 {
			continue
		}
		if len(seeds) > 0 {
			sc, err := plotter.NewScatter(seeds)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: color.NRGBA{col.R, col.G, col.B, 0x55}, Radius: vg.Points(2.2), Shape: draw.CircleGlyph{}}
			p.Add(sc)
		}
		l, sc, err := plotter.NewLinePoints(means)
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.5)}
		sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
		p.Add(l, sc)
		if len(seeds) > 0 {
			eb, err := plotter.NewYErrorBars(errPoint{means, errs, nil})
			if err != nil {
				return nil, err
			}
			eb.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1)}
			eb.CapWidth = vg.Points(5)
			p.Add(eb)
		}
		padRange(&p.X, true, 0.08)
		padRange(&p.Y, false, 0.06)
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return nil, nil
	}
	return &figure{name: "tau_sweep", w: vg.Length(len(plots)) * 2.6 * vg.Inch, h: 2.8 * vg.Inch,
		caption: "Cosine-softmax temperature sweep (claim 5): mean ± s.e.m. over seeds against τ (log scale); faint: single seeds.",
		draw: func(c draw.Canvas) {
			for i, tc := range aligned(c, plots, len(plots), vg.Points(16), 0, 0) {
				plots[i].Draw(tc)
			}
		}}, nil
}

// tauTicks marks every τ of the sweep and labels as many as fit: walking
// up from the smallest, a τ is labelled when it lies at least a fifth of
// the (log) axis beyond the last labelled one, about a label's width in a
// panel, and the largest always is (dropping the one before it if need be).
func tauTicks(taus []float64) plot.ConstantTicks {
	lo, hi := math.Log(taus[0]), math.Log(taus[len(taus)-1])
	minGap := (hi - lo) * 0.2
	ticks := make(plot.ConstantTicks, len(taus))
	last := math.Inf(-1)
	lastIdx := -1
	for i, t := range taus {
		ticks[i].Value = t
		if math.Log(t)-last >= minGap {
			ticks[i].Label = strconv.FormatFloat(t, 'g', -1, 64)
			last, lastIdx = math.Log(t), i
		}
	}
	if n := len(taus) - 1; lastIdx != n {
		if lastIdx >= 0 && hi-last < minGap {
			ticks[lastIdx].Label = ""
		}
		ticks[n].Label = strconv.FormatFloat(taus[n], 'g', -1, 64)
	}
	return ticks
}

// padRange widens an axis by the fraction f of its range on each side (on
// a log axis, in log space) so that markers at the ends are not cut by the
// frame.
func padRange(a *plot.Axis, log bool, f float64) {
	if log {
		lo, hi := math.Log(a.Min), math.Log(a.Max)
		d := f * (hi - lo)
		a.Min, a.Max = math.Exp(lo-d), math.Exp(hi+d)
		return
	}
	d := f * (a.Max - a.Min)
	a.Min, a.Max = a.Min-d, a.Max+d
}

// ---------------------------------------------------------------- reliability

// reliabilityFigure is one reliability diagram per variant (its first
// seed): per confidence bin, a bar of the bin's accuracy, the gap to its
// mean confidence shaded red, the diagonal of perfect calibration, and the
// curve after temperature scaling dashed.
func (b *builder) reliabilityFigure() (*figure, error) {
	if len(b.an.Reliability) == 0 {
		return nil, nil
	}
	st := b.styles()
	first := map[string]Reliability{}
	for _, r := range b.an.Reliability {
		v := r.Model.Variant()
		if old, ok := first[v]; !ok || r.Model.Seed < old.Model.Seed {
			first[v] = r
		}
	}
	var plots []*plot.Plot
	// Each panel's title is drawn here, not by gonum, whose line spacing
	// of one em runs a two-line title's lines into each other.
	var titles [][2]string
	for _, v := range b.variants {
		r, ok := first[v]
		if !ok {
			continue
		}
		sub := ""
		if e, ok := b.bySeed(v, "test_ece")[r.Model.Seed]; ok {
			sub = fmt.Sprintf("ECE %.1f%%", 100*e)
			if e2, ok := b.bySeed(v, "test_ece_ts")[r.Model.Seed]; ok {
				sub += fmt.Sprintf(", %.1f%% after TS", 100*e2)
			}
		}
		titles = append(titles, [2]string{b.label(v), sub})
		p := newPlot("", "confidence", "accuracy")
		p.X.Label.TextStyle.Font, p.Y.Label.TextStyle.Font = face(9), face(9)
		p.X.Tick.Label.Font, p.Y.Tick.Label.Font = face(9), face(9)
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		p.X.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 0.5, Label: "0.5"}, {Value: 1, Label: "1"}}
		p.Y.Tick.Marker = p.X.Tick.Marker
		p.Add(reliabilityBars{bins: r.Before, col: st[v].col})
		diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
		if err != nil {
			return nil, err
		}
		diag.LineStyle = draw.LineStyle{Color: color.Gray{Y: 120}, Width: vg.Points(0.75), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
		p.Add(diag)
		var after plotter.XYs
		for _, bn := range r.After {
			if bn.Count > 0 {
				after = append(after, plotter.XY{X: bn.Confidence, Y: bn.Accuracy})
			}
		}
		if len(after) > 0 {
			l, sc, err := plotter.NewLinePoints(after)
			if err != nil {
				return nil, err
			}
			l.LineStyle = draw.LineStyle{Color: color.Black, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
			sc.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(1.5), Shape: draw.CircleGlyph{}}
			p.Add(l, sc)
		}
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return nil, nil
	}
	cols := min(4, len(plots))
	rows := (len(plots) + cols - 1) / cols
	for i, p := range plots {
		if i%cols != 0 {
			p.Y.Label.Text = ""
		}
		if i+cols < len(plots) {
			p.X.Label.Text = ""
		}
	}
	titleH := vg.Points(30)
	return &figure{name: "reliability", w: vg.Length(cols) * 2.2 * vg.Inch, h: vg.Length(rows) * 2.45 * vg.Inch,
		caption: "Reliability diagrams (first seed of each variant, test set, 15 equal-width confidence bins): bars are each bin's accuracy, red the gap to its mean confidence (the ECE's terms), dotted the diagonal of perfect calibration, black dashed the bins after temperature scaling (TS).",
		draw: func(c draw.Canvas) {
			for i, tc := range aligned(c, plots, cols, vg.Points(12), vg.Points(6), titleH) {
				y := tc.Max.Y + titleH
				for k, line := range titles[i] {
					if line == "" {
						continue
					}
					sty := textStyle(9)
					if k == 0 {
						sty = textStyle(fitSize(line, 10, 7, tc.Size().X))
					}
					sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
					tc.FillText(sty, vg.Point{X: (tc.Min.X + tc.Max.X) / 2, Y: y}, line)
					y -= sty.Height(line) * 1.25
				}
				plots[i].Draw(tc)
			}
		}}, nil
}

// reliabilityBars draws a reliability diagram's bins: the accuracy bar and
// the gap to the bin's mean confidence.
type reliabilityBars struct {
	bins []metrics.ReliabilityBin
	col  color.RGBA
}

func (r reliabilityBars) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	bar := color.NRGBA{r.col.R, r.col.G, r.col.B, 0x80}
	gap := color.NRGBA{0xe0, 0x30, 0x30, 0x59}
	rect := func(x0, x1, y0, y1 float64) []vg.Point {
		return []vg.Point{{X: tx(x0), Y: ty(y0)}, {X: tx(x1), Y: ty(y0)}, {X: tx(x1), Y: ty(y1)}, {X: tx(x0), Y: ty(y1)}}
	}
	for _, bn := range r.bins {
		if bn.Count == 0 {
			continue
		}
		c.FillPolygon(bar, c.ClipPolygonXY(rect(bn.Lo, bn.Hi, 0, bn.Accuracy)))
		g := c.ClipPolygonXY(rect(bn.Lo, bn.Hi, bn.Accuracy, bn.Confidence))
		c.FillPolygon(gap, g)
		if len(g) > 0 {
			c.StrokeLines(draw.LineStyle{Color: color.RGBA{0xb0, 0x1e, 0x1e, 0xff}, Width: vg.Points(0.6)}, append(g, g[0]))
		}
	}
}

// ---------------------------------------------------------------- heat maps

// matrix is a heat map's values, row 0 drawn at the top as in a table.
type matrix [][]float64

func (m matrix) Dims() (c, r int)   { return len(m[0]), len(m) }
func (m matrix) Z(c, r int) float64 { return m[len(m)-1-r][c] }
func (m matrix) X(c int) float64    { return float64(c) }
func (m matrix) Y(r int) float64    { return float64(r) }

// cellText writes each cell's value in it, black or white by the cell's
// lightness.
type cellText struct {
	m      matrix
	cm     palette.ColorMap
	format func(float64) string
	size   float64
}

func (a cellText) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	sty := textStyle(a.size)
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
	cols, rows := a.m.Dims()
	for r := range rows {
		for k := range cols {
			z := a.m.Z(k, r)
			if math.IsNaN(z) {
				continue
			}
			sty.Color = color.Black
			if cl, err := a.cm.At(math.Max(a.cm.Min(), math.Min(a.cm.Max(), z))); err == nil && luminance(cl) < 0.45 {
				sty.Color = color.White
			}
			c.FillText(sty, vg.Point{X: tx(a.m.X(k)), Y: ty(a.m.Y(r))}, a.format(z))
		}
	}
}

func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
}

// viridis' control points: a sequential map of steadily increasing
// lightness, readable in grey and by colour-blind readers.
var viridis = []color.Color{
	color.RGBA{0x44, 0x01, 0x54, 0xff}, color.RGBA{0x48, 0x28, 0x78, 0xff}, color.RGBA{0x3e, 0x4a, 0x89, 0xff},
	color.RGBA{0x31, 0x68, 0x8e, 0xff}, color.RGBA{0x26, 0x82, 0x8e, 0xff}, color.RGBA{0x1f, 0x9e, 0x89, 0xff},
	color.RGBA{0x35, 0xb7, 0x79, 0xff}, color.RGBA{0x6d, 0xcd, 0x59, 0xff}, color.RGBA{0xb4, 0xde, 0x2c, 0xff},
	color.RGBA{0xfd, 0xe7, 0x25, 0xff},
}

func colorMap(lo, hi float64) palette.ColorMap {
	cm, err := moreland.NewLuminance(viridis)
	if err != nil {
		cm = moreland.Kindlmann()
	}
	if !(hi > lo) {
		hi = lo + 1
	}
	cm.SetMax(hi)
	cm.SetMin(lo)
	return cm
}

// heatPlot is a heat map of z with named columns and rows, its values
// written in the cells when format is not nil.
func heatPlot(title string, z [][]float64, cols, rows []string, cm palette.ColorMap, format func(float64) string, size float64) *plot.Plot {
	p := newPlot(title, "", "")
	h := plotter.NewHeatMap(matrix(z), cm.Palette(64))
	h.Min, h.Max = cm.Min(), cm.Max()
	h.NaN = color.Gray{Y: 235}
	h.Underflow, h.Overflow = viridis[0], viridis[len(viridis)-1]
	p.Add(h)
	if format != nil {
		p.Add(cellText{m: matrix(z), cm: cm, format: format, size: size})
	}
	p.NominalX(cols...)
	rev := slices.Clone(rows)
	slices.Reverse(rev)
	p.NominalY(rev...)
	p.X.Tick.Label.Font, p.Y.Tick.Label.Font = face(size), face(size)
	p.X.Padding, p.Y.Padding = 0, 0
	return p
}

// rotateX slants the column names so that long ones do not run together.
func rotateX(p *plot.Plot) {
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YTop
}

// colorBar draws a vertical colour bar for cm with its label.
// heatWithColorBar draws heat map hp with its colour bar (cm, label) on
// the right, the bar beside the map's cells: below its title, and bottom
// above the foot of the canvas (the map's column labels).
func heatWithColorBar(hp *plot.Plot, cm palette.ColorMap, label string, bottom vg.Length) func(draw.Canvas) {
	return func(c draw.Canvas) {
		hc := c
		hc.Max.X -= vg.Points(colorBarWidth)
		hp.Draw(hc)
		bc := c
		bc.Min.X = c.Max.X - vg.Points(colorBarWidth-16)
		bc.Max.Y -= titleHeight(hp)
		bc.Min.Y += bottom
		colorBar(bc, cm, label)
	}
}

func colorBar(c draw.Canvas, cm palette.ColorMap, label string) {
	p := newPlot("", "", label)
	p.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true, Colors: 64})
	p.HideX()
	p.X.Padding, p.Y.Padding = 0, 0
	p.Draw(c)
}

const colorBarWidth = 78 // points, with its tick labels and label

func (b *builder) disagreementFigure() (*figure, error) {
	p := b.an.Predictions
	if p == nil {
		return nil, nil
	}
	vs := b.predictionVariants(p)
	if len(vs) < 2 {
		return nil, nil
	}
	dm := variantMatrix(p.Models, p.Disagreement, vs)
	lo, hi := math.Inf(1), math.Inf(-1)
	z := make([][]float64, len(vs))
	for i := range dm {
		z[i] = make([]float64, len(vs))
		for j := range dm[i] {
			z[i][j] = 100 * dm[i][j]
			if !math.IsNaN(z[i][j]) {
				lo, hi = math.Min(lo, z[i][j]), math.Max(hi, z[i][j])
			}
		}
	}
	if math.IsInf(lo, 1) {
		return nil, nil
	}
	names := b.labelsOf(vs)
	cm := colorMap(lo, hi)
	size := 9.0
	if len(vs) > 12 {
		size = 7
	}
	hp := heatPlot("Disagreement between objectives (% of test examples)", z, names, names, cm, func(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }, size)
	rotateX(hp)
	cell := vg.Points(math.Max(36, 5*size))
	w := cell*vg.Length(len(vs)) + vg.Points(labelWidth(names, size)) + vg.Points(colorBarWidth+30)
	h := cell*vg.Length(len(vs)) + vg.Points(labelWidth(names, size)/2+50)
	return &figure{name: "disagreement", w: w, h: h,
		caption: "Pairwise disagreement: the percentage of test examples whose predicted class differs, averaged over the model pairs of each pair of objectives; the diagonal compares different seeds of the same objective.",
		draw:    heatWithColorBar(hp, cm, "%", vg.Points(labelWidth(names, size)/2+10))}, nil
}

// fitSize is the largest font size from max down to lo (in half points)
// at which s fits in width.
func fitSize(s string, hi, lo float64, width vg.Length) float64 {
	size := hi
	for size > lo && textStyle(size).Width(s) > width {
		size -= 0.5
	}
	return size
}

// labelWidth is the width in points of the widest name at size.
func labelWidth(names []string, size float64) float64 {
	sty := textStyle(size)
	w := 0.0
	for _, n := range names {
		w = math.Max(w, sty.Width(n).Points())
	}
	return w
}

func (b *builder) labelsOf(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = b.label(v)
	}
	return out
}

// ---------------------------------------------------------------- CKA

// sameSeedLabel names the baseline curve: two seeds of one objective.
const sameSeedLabel = "same objective, other seed"

func (b *builder) ckaCurveFigure() (*figure, error) {
	c := b.an.CKA
	if c == nil || len(c.Pairs) == 0 {
		return nil, nil
	}
	cross, same := b.ckaCurves(c)
	st := b.styles()
	p := newPlot("Layer-wise linear CKA with "+b.label(b.reference())+" (same seed)", "layer", "CKA")
	addGrid(p)
	p.NominalX(c.Layers...)
	leg := newLegend()
	lo := 1.0
	add := func(name string, ys []float64, ls draw.LineStyle, gs draw.GlyphStyle) error {
		l, sc, err := plotter.NewLinePoints(line(ys))
		if err != nil {
			return err
		}
		l.LineStyle, sc.GlyphStyle = ls, gs
		p.Add(l, sc)
		leg.Add(name, lineThumb{ls: ls, gly: &gs})
		lo = math.Min(lo, slices.Min(ys))
		return nil
	}
	for _, v := range b.variants {
		if cv, ok := cross[v]; ok {
			if err := add(b.label(v), cv, st[v].lineStyle(), st[v].glyphStyle(vg.Points(2.5))); err != nil {
				return nil, err
			}
		}
	}
	if same != nil {
		ls := draw.LineStyle{Color: color.Black, Width: vg.Points(2), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
		if err := add(sameSeedLabel, same, ls, draw.GlyphStyle{Color: color.Black, Radius: vg.Points(2.5), Shape: draw.CrossGlyph{}}); err != nil {
			return nil, err
		}
	}
	p.Y.Min, p.Y.Max = math.Max(0, math.Floor(lo*10)/10-0.05), 1.02
	return &figure{name: "cka_curve", w: 7.5 * vg.Inch, h: 4.2 * vg.Inch, draw: sideLegend(p, leg),
		caption: "Linear CKA between corresponding layers of each objective's network and " + b.label(b.reference()) + "'s at the same seed (mean over seeds); black dashed: two seeds of the same objective (mean over objectives), the baseline a difference must exceed."}, nil
}

func line(ys []float64) plotter.XYs {
	pts := make(plotter.XYs, len(ys))
	for i, y := range ys {
		pts[i] = plotter.XY{X: float64(i), Y: y}
	}
	return pts
}

// ckaLayersFigure is the compact view of the CKA curves: one row per
// objective, one column per layer, the value written in each cell. It
// stays readable with any number of variants, where the heat-map grid
// does not.
func (b *builder) ckaLayersFigure() (*figure, error) {
	c := b.an.CKA
	if c == nil || len(c.Pairs) == 0 {
		return nil, nil
	}
	cross, same := b.ckaCurves(c)
	var z [][]float64
	var names []string
	for _, v := range b.variants {
		if cv, ok := cross[v]; ok {
			z, names = append(z, cv), append(names, b.label(v))
		}
	}
	if same != nil {
		z, names = append(z, same), append(names, sameSeedLabel)
	}
	if len(z) == 0 {
		return nil, nil
	}
	lo, _ := ckaRange(z)
	cm := colorMap(lo, 1)
	size := 9.0
	hp := heatPlot("Linear CKA with "+b.label(b.reference())+", layer by layer (same seed)", z, c.Layers, names, cm, func(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }, size)
	cellW, cellH := vg.Points(52), vg.Points(20)
	w := cellW*vg.Length(len(c.Layers)) + vg.Points(labelWidth(names, size)+colorBarWidth+40)
	h := cellH*vg.Length(len(z)) + vg.Points(60)
	return &figure{name: "cka_layers", w: w, h: h,
		caption: "The CKA curves as a table: linear CKA of each objective's network with " + b.label(b.reference()) + "'s at the same seed, per layer (mean over seeds); last row: two seeds of the same objective.",
		draw:    heatWithColorBar(hp, cm, "CKA", vg.Points(22))}, nil
}

// ckaRange is the smallest value of the matrices rounded down to a tenth
// (the shared colour scale's bottom; its top is 1) and the largest value.
func ckaRange(ms ...[][]float64) (lo, hi float64) {
	lo, hi = 1, 0
	for _, m := range ms {
		for _, row := range m {
			for _, x := range row {
				if !math.IsNaN(x) {
					lo, hi = math.Min(lo, x), math.Max(hi, x)
				}
			}
		}
	}
	return math.Max(0, math.Floor(lo*10)/10), hi
}

// ckaPanels averages the layer × layer CKA matrices: per variant against
// the reference at the same seed (rows: the reference's layers), and the
// same-objective, other-seed pairs over all objectives.
func (b *builder) ckaPanels(c *CKAResult) (names []string, mats [][][]float64) {
	ref := b.reference()
	L := len(c.Layers)
	sum := map[string][][]float64{}
	cnt := map[string]int{}
	addTo := func(key string, m [][]float64, transpose bool) {
		if len(m) != L {
			return
		}
		if sum[key] == nil {
			sum[key] = make([][]float64, L)
			for i := range sum[key] {
				sum[key][i] = make([]float64, L)
			}
		}
		for i := range L {
			for j := range L {
				if i < len(m) && j < len(m[i]) {
					if transpose {
						sum[key][j][i] += m[i][j]
					} else {
						sum[key][i][j] += m[i][j]
					}
				}
			}
		}
		cnt[key]++
	}
	for _, pr := range c.Pairs {
		va, vb := pr.A.Variant(), pr.B.Variant()
		switch {
		case va == vb:
			addTo(sameSeedLabel, pr.Matrix, false)
		case va == ref && pr.A.Seed == pr.B.Seed:
			addTo(vb, pr.Matrix, false)
		case vb == ref && pr.A.Seed == pr.B.Seed:
			addTo(va, pr.Matrix, true)
		}
	}
	mean := func(k string) [][]float64 {
		m := sum[k]
		for i := range m {
			for j := range m[i] {
				m[i][j] /= float64(cnt[k])
			}
		}
		return m
	}
	for _, v := range b.variants {
		if cnt[v] > 0 {
			names, mats = append(names, b.label(v)), append(mats, mean(v))
		}
	}
	if cnt[sameSeedLabel] > 0 {
		names, mats = append(names, sameSeedLabel), append(mats, mean(sameSeedLabel))
	}
	return names, mats
}

// ckaHeatmaps tiles one layer × layer CKA heat map per objective (against
// the reference, same seed), all on one colour scale with one colour bar;
// only the outer panels carry layer names.
func (b *builder) ckaHeatmaps() (*figure, error) {
	c := b.an.CKA
	if c == nil || len(c.Pairs) == 0 {
		return nil, nil
	}
	names, mats := b.ckaPanels(c)
	if len(mats) == 0 {
		return nil, nil
	}
	lo, _ := ckaRange(mats...)
	cm := colorMap(lo, 1)
	n := len(mats)
	cols := min(n, 4)
	if n > 16 {
		cols = 6
	}
	rows := (n + cols - 1) / cols
	ref := b.label(b.reference())
	size := 8.0
	panel := 2.0 * vg.Inch
	var plots []*plot.Plot
	for i, m := range mats {
		p := heatPlot(names[i], m, c.Layers, c.Layers, cm, nil, size)
		p.Title.TextStyle.Font = face(fitSize(names[i], 9, 6.5, panel-vg.Points(30)))
		rotateX(p)
		col, row := i%cols, i/cols
		if col != 0 {
			p.NominalY(blank(len(c.Layers))...)
		} else {
			p.Y.Label.Text = ref + " layer"
			if names[i] == sameSeedLabel {
				p.Y.Label.Text = "layer"
			}
			p.Y.Label.TextStyle.Font = face(8.5)
		}
		if row != rows-1 && i+cols < n {
			p.NominalX(blank(len(c.Layers))...)
		}
		plots = append(plots, p)
	}
	return &figure{name: "cka_heatmaps", w: vg.Length(cols)*panel + vg.Points(colorBarWidth+50), h: vg.Length(rows)*(panel+vg.Points(10)) + vg.Points(30),
		caption: fmt.Sprintf("Layer × layer linear CKA with %s at the same seed (rows: %s's layers, columns: the other network's; mean over seeds), on one colour scale; the last panel is two seeds of the same objective (mean over objectives).", ref, ref),
		draw: func(dc draw.Canvas) {
			hc := dc
			hc.Max.X -= vg.Points(colorBarWidth)
			for i, tc := range aligned(hc, plots, cols, vg.Points(8), vg.Points(6), 0) {
				plots[i].Draw(tc)
			}
			bc := dc
			bc.Min.X = dc.Max.X - vg.Points(colorBarWidth-16)
			bc.Max.Y -= vg.Points(30)
			bc.Min.Y = max(bc.Min.Y, bc.Max.Y-2.5*vg.Inch)
			colorBar(bc, cm, "CKA")
		}}, nil
}

// predictionVariants are the variants with models in the predictions
// analysis, in report order.
func (b *builder) predictionVariants(p *Predictions) []string {
	var vs []string
	for _, v := range b.variants {
		for _, m := range p.Models {
			if m.Variant() == v {
				vs = append(vs, v)
				break
			}
		}
	}
	return vs
}

// objectiveOf and hyperOf are a variant's objective and hyperparameters.
func (b *builder) objectiveOf(v string) string {
	if o, ok := b.objs[v]; ok {
		return o
	}
	return v
}

func (b *builder) hyperOf(v string) string { return b.hypers[v] }
