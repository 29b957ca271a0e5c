package report

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"html"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/losslab/losslab/internal/atomicfile"
)

// Generate reads DIR/results.csv and DIR/analyses.json and writes
// DIR/report.md, DIR/report.html (figures embedded as SVG data URIs) and the
// figures as PNG and SVG under DIR/figures.
func Generate(dir string) error {
	rows, err := ReadResults(filepath.Join(dir, ResultsFile))
	if err != nil {
		return err
	}
	an, err := ReadAnalyses(dir)
	if err != nil {
		return err
	}
	r := newBuilder(rows, an)
	figs, err := r.figures(filepath.Join(dir, FiguresDir))
	if err != nil {
		return err
	}
	md, htm := r.render(figs)
	if err := atomicfile.WriteFile(filepath.Join(dir, MarkdownFile), []byte(md)); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, HTMLFile), []byte(htm))
}

// builder holds the per-model metrics grouped by variant.
type builder struct {
	an       *Analyses
	rows     []Row
	variants []string                        // reference first, then plan order
	vals     map[string]map[string][]float64 // variant → metric → values over seeds (seed order)
	objOf    map[string]Row                  // variant → a row of it (objective, hyper)
	targets  []string                        // transfer targets
	// ftTargets are the targets with fine-tuning results, kept apart from
	// targets (probe/kNN) so that probe-only analyses do not see them.
	ftTargets []string
	sections  []section
	// objs and hypers are each variant's objective and hyperparameters;
	// labels its display label (labels.go); vstyles its colour and marker
	// in every figure (figures.go).
	objs, hypers map[string]string
	labels       map[string]string
	vstyles      map[string]vstyle
}

type section struct {
	title string
	body  []block
}

// block is a paragraph, a table or a figure.
type block struct {
	text   string
	header []string
	rows   [][]string
	figure string // figure base name under figures/
	// details, for a table, collapses it in the HTML under this summary
	// (a figure above shows the same numbers, or it is reference material).
	details string
	// printOpen opens the collapsed table in print; the others repeat a
	// figure's numbers, and a printed page cannot scroll a wide matrix.
	printOpen bool
	// heading is a sub-heading within the section.
	heading string
	// prose marks a table of sentences, whose cells wrap; number cells do
	// not, so that a value never breaks across lines.
	prose bool
}

func newBuilder(rows []Row, an *Analyses) *builder {
	b := &builder{an: an, rows: rows, vals: map[string]map[string][]float64{}, objOf: map[string]Row{}, objs: map[string]string{}, hypers: map[string]string{}}
	for _, m := range an.Models {
		b.objs[m.Variant()], b.hypers[m.Variant()] = m.Objective, m.Hyper
	}
	for _, r := range rows {
		if r.Seed != 0 {
			b.objs[r.Variant()], b.hypers[r.Variant()] = r.Objective, r.Hyper
		}
	}
	seen := map[string]bool{}
	addVariant := func(v string) {
		if !seen[v] {
			seen[v] = true
			b.variants = append(b.variants, v)
		}
	}
	for _, m := range an.Models {
		addVariant(m.Variant())
	}
	sorted := slices.Clone(rows)
	slices.SortStableFunc(sorted, func(x, y Row) int { return cmp.Compare(x.Seed, y.Seed) })
	for _, r := range sorted {
		if r.Seed == 0 {
			continue
		}
		v := r.Variant()
		addVariant(v)
		if b.vals[v] == nil {
			b.vals[v] = map[string][]float64{}
		}
		b.vals[v][r.Metric] = append(b.vals[v][r.Metric], r.Value)
		b.objOf[v] = r
		if t, ok := strings.CutPrefix(r.Metric, "probe_"); ok {
			if t, ok := strings.CutSuffix(t, "_top1"); ok && !slices.Contains(b.targets, t) {
				b.targets = append(b.targets, t)
			}
		}
		if t, ok := strings.CutPrefix(r.Metric, "knn_"); ok {
			if t, ok := strings.CutSuffix(t, "_top1"); ok && !slices.Contains(b.targets, t) {
				b.targets = append(b.targets, t)
			}
		}
		if t, ok := strings.CutPrefix(r.Metric, "finetune_"); ok {
			if t, ok := strings.CutSuffix(t, "_top1"); ok && !slices.Contains(b.ftTargets, t) {
				b.ftTargets = append(b.ftTargets, t)
			}
		}
	}
	// The reference goes first.
	if i := slices.Index(b.variants, b.reference()); i > 0 {
		b.variants = append([]string{b.variants[i]}, slices.Delete(b.variants, i, i+1)...)
	}
	slices.Sort(b.targets)
	slices.Sort(b.ftTargets)
	b.labels = variantLabels(b.variants, b.objs, b.hypers)
	return b
}

// reference is the variant every other is tested against.
func (b *builder) reference() string {
	if b.an.Reference != "" {
		return b.an.Reference
	}
	return "softmax"
}

func (b *builder) get(v, metric string) []float64 { return b.vals[v][metric] }

func (b *builder) mean(v, metric string) float64 {
	m, _ := MeanSEM(b.get(v, metric))
	return m
}

// bySeed returns variant v's values of metric keyed by seed.
func (b *builder) bySeed(v, metric string) map[uint64]float64 {
	out := map[uint64]float64{}
	for _, r := range b.rows {
		if r.Metric == metric && r.Seed != 0 && r.Variant() == v {
			out[r.Seed] = r.Value
		}
	}
	return out
}

// cell formats mean ± s.e.m. of a metric, times scale, and the p-value
// against the reference (Compare: paired by seed where two or more seeds
// are shared, else Welch) as a second string.
func (b *builder) cell(v, metric string, scale float64, digits int) (string, string) {
	xs := b.get(v, metric)
	if len(xs) == 0 {
		return "–", ""
	}
	m, s := MeanSEM(xs)
	out := strconv.FormatFloat(m*scale, 'f', digits, 64)
	if !math.IsNaN(s) {
		out += " ± " + strconv.FormatFloat(s*scale, 'f', digits, 64)
	}
	p := ""
	if v != b.reference() {
		if t := Compare(b.bySeed(v, metric), b.bySeed(b.reference(), metric)); !math.IsNaN(t.P) {
			p = formatP(t.P)
		}
	}
	return out, p
}

func formatP(p float64) string {
	if p < 0.001 {
		return "<0.001"
	}
	return strconv.FormatFloat(p, 'f', 3, 64)
}

// metricTable is one row per variant; each column is a metric with its
// scale and digits, optionally followed by the p-value column.
type column struct {
	title  string
	metric string
	scale  float64
	digits int
	withP  bool
}

func (b *builder) metricTable(cols []column) block {
	hdr := []string{"objective", "n"}
	for _, c := range cols {
		hdr = append(hdr, c.title)
		if c.withP {
			hdr = append(hdr, "p")
		}
	}
	var rows [][]string
	for _, v := range b.variants {
		n := 0
		for _, c := range cols {
			n = max(n, len(b.get(v, c.metric)))
		}
		if n == 0 {
			continue
		}
		row := []string{b.label(v), strconv.Itoa(n)}
		for _, c := range cols {
			val, p := b.cell(v, c.metric, c.scale, c.digits)
			row = append(row, val)
			if c.withP {
				row = append(row, p)
			}
		}
		rows = append(rows, row)
	}
	return block{header: hdr, rows: rows}
}

func (b *builder) has(metric string) bool {
	for _, v := range b.variants {
		if len(b.get(v, metric)) > 0 {
			return true
		}
	}
	return false
}

func (b *builder) build() {
	sec := func(title string, blocks ...block) { b.sections = append(b.sections, section{title, blocks}) }
	fs := b.Findings()

	// The conclusions come first: a reader should not have to scroll past
	// the data description and every table to learn what the study found.
	var vrows [][]string
	for _, f := range fs {
		vrows = append(vrows, []string{strconv.Itoa(f.Claim), f.Title, f.Verdict, b.relabel(keyNumbers(f))})
	}
	sec("Summary",
		block{text: fmt.Sprintf("%s. Each claim is decided by tests declared in advance at α = %g, paired by seed (see Findings for each rule and every test).", b.an.Description, Alpha)},
		block{header: []string{"claim", "statement", "verdict", "key numbers (the test the verdict turned on)"}, rows: vrows, prose: true},
		block{figure: "r2_vs_transfer"})

	setup := []block{{text: fmt.Sprintf("Mean ± standard error of the mean over seeds (n = number of seeds); p is the two-sided t-test against %s, paired by seed (the same seed gives every objective the same initialisation and data order) where two or more seeds are shared, Welch's otherwise; blank where undefined (fewer than two seeds, or no variation).", b.label(b.reference()))}}
	for _, n := range b.an.Notes {
		setup = append(setup, block{text: "Note: " + n})
	}
	setup = append(setup,
		block{text: "Variants are named by their objective and the hyperparameters that differ from the objective's defaults or between its variants; the table gives each one's full configuration."},
		b.variantTable())
	sec("Setup", setup...)

	sec("Accuracy and calibration",
		block{text: "Top-1/top-5 test accuracy (%). ECE: 15 equal-width bins over top-label confidence, bin b = (b/15, (b+1)/15] with confidence 0 in bin 0, |accuracy − confidence| weighted by bin count, in %. NLL in nats. TS: after temperature scaling with one T fitted by minimising NLL on the held-out validation split (never test)."},
		// Two tables, not one of eleven columns, so that each fits a page
		// in print as on screen.
		b.metricTable([]column{{"top-1 (%)", "test_top1", 100, 2, true}, {"top-5 (%)", "test_top5", 100, 2, false}}),
		b.metricTable([]column{
			{"ECE (%)", "test_ece", 100, 2, true}, {"ECE TS (%)", "test_ece_ts", 100, 2, false},
			{"NLL", "test_nll", 1, 4, false}, {"NLL TS", "test_nll_ts", 1, 4, false}, {"T", "temperature", 1, 3, false},
		}),
		block{figure: "reliability"})
	if b.has("corrupted_mean_accuracy") {
		sec("Robustness",
			block{text: "Accuracy (%) on the corrupted copies of a fixed test subset (every corruption × severity, made deterministically from a fixed seed), averaged with every cell weighted equally; clean: the same subset uncorrupted."},
			b.metricTable([]column{{"clean subset (%)", "clean_subset_accuracy", 100, 2, false}, {"mean corrupted (%)", "corrupted_mean_accuracy", 100, 2, true}}))
	}
	sec("Representations",
		block{text: "Class separation R² = 1 − d_within/d_total of the penultimate layer on the test set (cosine distances, classes weighted equally, self-pairs included). Sparsity: fraction (%) of non-zero penultimate activations on the test set."},
		b.metricTable([]column{{"R²", "r2", 1, 4, true}, {"non-zero penultimate (%)", "active_fraction_penultimate", 100, 2, true}}),
		block{figure: "r2_vs_accuracy"})
	if len(b.targets) > 0 || len(b.ftTargets) > 0 {
		all := slices.Clone(b.targets)
		for _, t := range b.ftTargets {
			if !slices.Contains(all, t) {
				all = append(all, t)
			}
		}
		slices.Sort(all)
		// One table per target: with two targets one table would be
		// eleven columns wide.
		var tables []block
		for _, t := range all {
			var cols []column
			if b.has("probe_" + t + "_top1") {
				cols = append(cols, column{"linear probe " + t + " (%)", "probe_" + t + "_top1", 100, 2, true})
			}
			if b.has("knn_" + t + "_top1") {
				cols = append(cols, column{"kNN " + t + " (%)", "knn_" + t + "_top1", 100, 2, false})
			}
			if b.has("finetune_" + t + "_top1") {
				cols = append(cols, column{"fine-tuning " + t + " (%)", "finetune_" + t + "_top1", 100, 2, true})
			}
			tables = append(tables, b.metricTable(cols))
		}
		text := "Frozen penultimate features of the pretrained networks. Linear probe: L2-regularised multinomial logistic regression (L-BFGS), λ chosen on a validation split of the target's training subset from a log-spaced grid then refined, refit on train+validation; test top-1 (%). kNN: cosine k = 10."
		if len(b.ftTargets) > 0 {
			text += " Fine-tuning: every layer but the head initialised from the pretrained network (its final, EMA-averaged if averaged, weights and BatchNorm statistics), a fresh head, then all layers trained with softmax cross-entropy on the target's training subset, whatever the pretraining objective; test top-1 (%)."
		} else {
			text += " Fine-tuning transfer is not run by this study."
		}
		for _, in := range b.an.TargetInputs {
			text += fmt.Sprintf(" Target %s has %s images: %s, to the pretrained models' input %s.",
				in.Target, shapeWords(in.From), in.Preprocessing, shapeWords(in.To))
		}
		blocks := append([]block{{text: text}}, tables...)
		sec("Transfer", append(blocks, block{text: "Transfer against class separation is the Summary's figure."}, block{figure: "tau_sweep"})...)
	}
	if p := b.an.Predictions; p != nil {
		sec("Predictions", b.predictionBlocks(p)...)
	}
	if c := b.an.CKA; c != nil && len(c.Pairs) > 0 {
		sec("Representational similarity (CKA)", b.ckaBlocks(c)...)
	}
	sec("Findings", b.findings(fs)...)
}

// keyNumbers is a finding's decisive test in one line: of the tests its
// rule uses, the one with the smallest corrected p-value.
func keyNumbers(f Finding) string {
	// The test the verdict turned on: for a supported (contradicted) claim
	// the rule's most significant test read as claimed (opposite), for an
	// unresolved one its closest test that did not reach significance — a
	// significant test alone would read as a finding the rule did not make.
	want := map[string]string{Supported: readAsClaimed, Contradicted: readOpposite, NotResolved: readNS}[f.Verdict]
	best := -1
	for pass := 0; pass < 2 && best < 0; pass++ {
		for i, t := range f.Tests {
			if t.Reading == readInfo || (pass == 0 && t.Reading != want) {
				continue
			}
			if best < 0 || (!math.IsNaN(t.PAdj) && (math.IsNaN(f.Tests[best].PAdj) || t.PAdj < f.Tests[best].PAdj)) {
				best = i
			}
		}
	}
	if best < 0 {
		if f.Detail != "" {
			return f.Detail
		}
		return "–"
	}
	t := f.Tests[best]
	s := fmt.Sprintf("%s: %s, n = %d, %s", t.Test, t.Estimate, t.N, pEq(t.P))
	if !math.IsNaN(t.PAdj) && t.PAdj != t.P {
		s += ", corrected " + fp(t.PAdj)
	}
	return s + " (" + t.Reading + ")"
}

// variantTable lists every variant's label with its full configuration.
func (b *builder) variantTable() block {
	var rows [][]string
	for _, v := range b.variants {
		seeds := map[uint64]bool{}
		for _, m := range b.an.Models {
			if m.Variant() == v {
				seeds[m.Seed] = true
			}
		}
		for _, r := range b.rows {
			if r.Seed != 0 && r.Variant() == v {
				seeds[r.Seed] = true
			}
		}
		var ss []string
		for _, s := range slices.Sorted(maps.Keys(seeds)) {
			ss = append(ss, strconv.FormatUint(s, 10))
		}
		h := b.hyperOf(v)
		if h == "" {
			h = "–"
		}
		rows = append(rows, []string{b.label(v), b.objectiveOf(v), h, strings.Join(ss, ", ")})
	}
	return block{header: []string{"variant", "objective", "hyperparameters (resolved)", "seeds"}, rows: rows, details: "Variants and their full configuration", printOpen: true}
}

// variantMatrix averages a model × model matrix over the models of each
// pair of variants (the diagonal blocks over distinct models only).
func variantMatrix(models []Model, m [][]float64, variants []string) [][]float64 {
	idx := map[string]int{}
	for i, v := range variants {
		idx[v] = i
	}
	k := len(variants)
	sum := make([][]float64, k)
	cnt := make([][]float64, k)
	for i := range sum {
		sum[i], cnt[i] = make([]float64, k), make([]float64, k)
	}
	for i, a := range models {
		for j, bm := range models {
			if i == j {
				continue
			}
			va, ok1 := idx[a.Variant()]
			vb, ok2 := idx[bm.Variant()]
			if ok1 && ok2 {
				sum[va][vb] += m[i][j]
				cnt[va][vb]++
			}
		}
	}
	for i := range sum {
		for j := range sum[i] {
			if cnt[i][j] > 0 {
				sum[i][j] /= cnt[i][j]
			} else {
				sum[i][j] = math.NaN()
			}
		}
	}
	return sum
}

// pairStats averages an off-diagonal model × model matrix over pairs of the
// same variant and pairs of different variants.
func pairStats(models []Model, m [][]float64) (same, cross float64, nSame, nCross int) {
	for i := range models {
		for j := i + 1; j < len(models); j++ {
			if models[i].Variant() == models[j].Variant() {
				same += m[i][j]
				nSame++
			} else {
				cross += m[i][j]
				nCross++
			}
		}
	}
	if nSame > 0 {
		same /= float64(nSame)
	} else {
		same = math.NaN()
	}
	if nCross > 0 {
		cross /= float64(nCross)
	} else {
		cross = math.NaN()
	}
	return same, cross, nSame, nCross
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64)
}

func (b *builder) predictionBlocks(p *Predictions) []block {
	vs := b.predictionVariants(p)
	dm := variantMatrix(p.Models, p.Disagreement, vs)
	hdr := append([]string{"disagreement (%)"}, b.labelsOf(vs)...)
	var rows [][]string
	for i, v := range vs {
		row := []string{b.label(v)}
		for j := range vs {
			row = append(row, pct(dm[i][j]))
		}
		rows = append(rows, row)
	}
	ds, dc, _, _ := pairStats(p.Models, p.Disagreement)
	es, ec, ns, nc := pairStats(p.Models, p.PairEnsemble)
	em := variantMatrix(p.Models, p.PairEnsemble, vs)
	var erows [][]string
	for i, v := range vs {
		var others []float64
		for j := range vs {
			if j != i && !math.IsNaN(em[i][j]) {
				others = append(others, em[i][j])
			}
		}
		mo, _ := MeanSEM(others)
		erows = append(erows, []string{b.label(v), pct(em[i][i]), pct(mo)})
	}
	return []block{
		{text: "Pairwise disagreement: the fraction (%) of test examples whose argmax differs, averaged over the model pairs of each pair of objectives (diagonal: different seeds of the same objective)."},
		{figure: "disagreement"},
		{header: hdr, rows: rows, details: "The disagreement matrix as a table"},
		{text: fmt.Sprintf("Mean disagreement: %s%% between models of the same objective, %s%% between models of different objectives.", pct(ds), pct(dc))},
		{text: fmt.Sprintf("Two-model ensembles (mean of softmax probabilities), test top-1 (%%): same-objective pairs %s%% (mean of %d), mixed-objective pairs %s%% (mean of %d).", pct(es), ns, pct(ec), nc)},
		{header: []string{"objective", "ensemble with same objective (%)", "ensemble with other objectives (%)"}, rows: erows},
	}
}

// ckaCurves returns, per variant other than the reference, the mean
// diagonal CKA against the reference (layer by layer), and the same-variant
// curve averaged over all variants.
func (b *builder) ckaCurves(c *CKAResult) (cross map[string][]float64, same []float64) {
	cross = map[string][]float64{}
	cnt := map[string]int{}
	var sameN int
	L := len(c.Layers)
	for _, pr := range c.Pairs {
		diag := make([]float64, L)
		for i := range L {
			if i < len(pr.Matrix) && i < len(pr.Matrix[i]) {
				diag[i] = pr.Matrix[i][i]
			}
		}
		va, vb := pr.A.Variant(), pr.B.Variant()
		if va == vb {
			if same == nil {
				same = make([]float64, L)
			}
			for i := range L {
				same[i] += diag[i]
			}
			sameN++
			continue
		}
		other := vb
		if vb == b.reference() {
			other = va
		}
		if cross[other] == nil {
			cross[other] = make([]float64, L)
		}
		for i := range L {
			cross[other][i] += diag[i]
		}
		cnt[other]++
	}
	for v, c := range cross {
		for i := range c {
			c[i] /= float64(cnt[v])
		}
	}
	for i := range same {
		same[i] /= float64(sameN)
	}
	return cross, same
}

func (b *builder) ckaBlocks(c *CKAResult) []block {
	cross, same := b.ckaCurves(c)
	hdr := append([]string{"CKA with " + b.label(b.reference()) + " (same seed)"}, c.Layers...)
	var rows [][]string
	for _, v := range b.variants {
		if cv, ok := cross[v]; ok {
			row := []string{b.label(v)}
			for _, x := range cv {
				row = append(row, strconv.FormatFloat(x, 'f', 3, 64))
			}
			rows = append(rows, row)
		}
	}
	if same != nil {
		row := []string{"same objective, other seed (mean)"}
		for _, x := range same {
			row = append(row, strconv.FormatFloat(x, 'f', 3, 64))
		}
		rows = append(rows, row)
	}
	return []block{
		{text: fmt.Sprintf("Linear CKA, ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on column-centred features, between corresponding layers of two networks on %d fixed test images; %s.", c.Examples, c.Spatial)},
		{figure: "cka_curve"},
		{figure: "cka_layers"},
		{header: hdr, rows: rows, details: "The CKA curves as a table"},
		{figure: "cka_heatmaps"},
	}
}

// css keeps the report to a 1,200 px column: number cells never wrap, a
// table wider than the page scrolls inside its own box, and figures shrink
// to the column. Printing opens every collapsed table and keeps figures and
// tables whole on a page.
const css = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;max-width:1200px;margin:0 auto;padding:0 24px 48px;color:#1a1a1a;line-height:1.45;font-size:15px}
h1{font-size:1.7em;margin:.8em 0 .3em}h3{font-size:1.08em;margin:1.6em 0 .4em}h2{font-size:1.3em;border-bottom:1px solid #ddd;padding-bottom:.15em;margin-top:1.8em}
p{max-width:60em}
.tbl{overflow-x:auto;margin:.8em 0 1.2em;max-width:100%}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:3px 6px;text-align:right;white-space:nowrap;border-bottom:1px solid #e6e6e6;vertical-align:top}
th{border-top:2px solid #555;border-bottom:1.5px solid #555;font-weight:600}
tr:last-child td{border-bottom:2px solid #555}
td:first-child,th:first-child{text-align:left}
table.prose td,table.prose th{white-space:normal;text-align:left;min-width:4em}
table.prose td:first-child{min-width:0}
table.prose td.verdict{white-space:nowrap}td.v-supported{color:#106b21;font-weight:600}td.v-contradicted{color:#a31515;font-weight:600}
figure{margin:1.2em 0 1.6em;text-align:center}figure img{max-width:100%;height:auto}
figcaption{font-size:13.5px;color:#444;text-align:left;max-width:60em;margin:.5em auto 0}
details{margin:.5em 0 1em}summary{cursor:pointer;color:#1f5fa8}
nav{font-size:14px;margin:.3em 0 1em;color:#555}nav a{color:#1f5fa8;text-decoration:none;margin-right:.9em}
@media print{body{max-width:none;font-size:10.5pt;padding:0}table{font-size:8.5pt}th,td{padding:1px 4px}figure,table,.tbl{page-break-inside:avoid}.tbl{overflow:visible}summary{display:none}nav{display:none}h2{page-break-after:avoid}}`

// figureTag is the HTML of one figure: its SVG inline as a data URI (crisp
// at any zoom and in print, and the file stays self-contained) at its
// natural size, with its caption.
func figureTag(name string, r *rendered) string {
	alt, _, _ := strings.Cut(r.caption, ". ")
	return fmt.Sprintf("<figure id=\"fig-%s\"><img alt=\"%s\" width=\"%.0f\" src=\"data:image/svg+xml;base64,%s\"><figcaption>%s</figcaption></figure>\n",
		name, html.EscapeString(alt), figureScale*r.w.Dots(96), base64.StdEncoding.EncodeToString(r.svg), html.EscapeString(r.caption))
}

// figureScale enlarges figures on screen: drawn with a paper's 9–11 pt
// text at a paper's width, they would read small in a 1,200 px column.
const figureScale = 1.2

func anchor(title string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, title)
}

// render writes the sections as Markdown and as HTML.
func (b *builder) render(figs map[string]*rendered) (string, string) {
	b.build()
	var md, h strings.Builder
	title := "Study " + b.an.Study
	h.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>" + html.EscapeString(title) + "</title>\n<style>" + css + "</style>\n" +
		"<script>addEventListener('beforeprint',()=>document.querySelectorAll('details.print').forEach(d=>d.open=true))</script></head><body>\n")
	fmt.Fprintf(&md, "# %s\n\n", title)
	fmt.Fprintf(&h, "<h1>%s</h1>\n<nav>", html.EscapeString(title))
	for _, s := range b.sections {
		fmt.Fprintf(&h, "<a href=\"#%s\">%s</a>", anchor(s.title), html.EscapeString(s.title))
	}
	h.WriteString("</nav>\n")
	for _, s := range b.sections {
		fmt.Fprintf(&md, "## %s\n\n", s.title)
		fmt.Fprintf(&h, "<h2 id=\"%s\">%s</h2>\n", anchor(s.title), html.EscapeString(s.title))
		for _, bl := range s.body {
			switch {
			case bl.heading != "":
				fmt.Fprintf(&md, "### %s\n\n", bl.heading)
				fmt.Fprintf(&h, "<h3>%s</h3>\n", html.EscapeString(bl.heading))
			case bl.figure != "":
				r, ok := figs[bl.figure]
				if !ok {
					continue
				}
				fmt.Fprintf(&md, "![%s](%s/%s.png)\n\n*%s* ([SVG](%s/%s.svg))\n\n", bl.figure, FiguresDir, bl.figure, r.caption, FiguresDir, bl.figure)
				h.WriteString(figureTag(bl.figure, r))
			case bl.header != nil:
				if bl.details != "" {
					fmt.Fprintf(&md, "%s:\n\n", bl.details)
					class := ""
					if bl.printOpen {
						class = " class=\"print\""
					}
					fmt.Fprintf(&h, "<details%s><summary>%s</summary>\n", class, html.EscapeString(bl.details))
				}
				md.WriteString("| " + strings.Join(bl.header, " | ") + " |\n|" + strings.Repeat("---|", len(bl.header)) + "\n")
				class := ""
				if bl.prose {
					class = " class=\"prose\""
				}
				fmt.Fprintf(&h, "<div class=\"tbl\"><table%s><tr>", class)
				for _, c := range bl.header {
					h.WriteString("<th>" + html.EscapeString(c) + "</th>")
				}
				h.WriteString("</tr>\n")
				for _, r := range bl.rows {
					md.WriteString("| " + strings.Join(r, " | ") + " |\n")
					h.WriteString("<tr>")
					for _, c := range r {
						switch c {
						case Supported, Contradicted, NotResolved, NotTested:
							h.WriteString("<td class=\"verdict v-" + strings.ReplaceAll(c, " ", "-") + "\">" + html.EscapeString(c) + "</td>")
						default:
							h.WriteString("<td>" + html.EscapeString(c) + "</td>")
						}
					}
					h.WriteString("</tr>\n")
				}
				md.WriteString("\n")
				h.WriteString("</table></div>\n")
				if bl.details != "" {
					h.WriteString("</details>\n")
				}
			default:
				md.WriteString(bl.text + "\n\n")
				h.WriteString("<p>" + html.EscapeString(bl.text) + "</p>\n")
			}
		}
	}
	h.WriteString("</body></html>\n")
	return md.String(), h.String()
}

// shapeWords writes an example shape [H, W, C] as "H×W×C".
func shapeWords(shape []int) string {
	s := make([]string, len(shape))
	for i, v := range shape {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, "×")
}
