package study

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/losslab/losslab/npy"
	"github.com/losslab/losslab/report"
	"github.com/losslab/losslab/tensor"
)

// synthModel is one synthetic exported model's arrays.
type synthModel struct {
	info        ModelInfo
	logits      []float32 // [n, k]
	labels      []int
	penultimate []float32 // [n, d]
	block1      []float32 // [n, d1]: a named layer
	val         bool
	train       bool
	corrupt     map[string][]float32 // "NAME/SEV" → logits of the first corruptRows test examples
	target      bool                 // export transfer-target features
	folders     bool                 // .npy folders instead of .npz archives
}

const (
	synthN, synthK, synthD, synthD1 = 120, 4, 6, 5
	corruptRows                     = 50
	targetClasses                   = 3
)

// newSynthModel makes a model whose penultimate features are noisy class
// directions (noise 0: exactly the class directions, R² = 1) through a
// ReLU, so some activations are zero, and whose logits are a random linear
// map of them.
func newSynthModel(r *rand.Rand, labels []int, noise float64, info ModelInfo) *synthModel {
	m := &synthModel{info: info, labels: labels, corrupt: map[string][]float32{}}
	w := make([]float64, synthD*synthK)
	for i := range w {
		w[i] = r.NormFloat64()
	}
	for i, y := range labels {
		for j := range synthD {
			v := r.NormFloat64() * noise
			if j == y {
				v += 3
			}
			m.penultimate = append(m.penultimate, float32(max(v, 0)))
		}
		for j := range synthD1 {
			m.block1 = append(m.block1, float32(r.NormFloat64()+float64(y*j)))
		}
		for c := range synthK {
			var z float64
			for j := range synthD {
				z += float64(m.penultimate[i*synthD+j]) * w[j*synthK+c]
			}
			if c == y {
				z += 2 // most examples right, not all
			}
			m.logits = append(m.logits, float32(z))
		}
	}
	for _, name := range []string{"noise/1", "noise/2"} {
		z := make([]float32, corruptRows*synthK)
		for i := range z {
			z[i] = m.logits[i] + float32(r.NormFloat64()*2)
		}
		m.corrupt[name] = z
	}
	return m
}

func writeSplit(t *testing.T, dir, name string, folders bool, names []string, arrays []*npy.Array) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if !folders {
		if err := npy.WriteNPZ(filepath.Join(dir, name+".npz"), names, arrays); err != nil {
			t.Fatal(err)
		}
		return
	}
	for i, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := npy.WriteFile(filepath.Join(dir, name, n+".npy"), arrays[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func mat(v []float32, cols int) *npy.Array {
	return npy.FromTensor(tensor.FromData(v, len(v)/cols, cols))
}

// write exports m into dir in the documented layout.
func (m *synthModel) write(t *testing.T, dir string, r *rand.Rand) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m.info)
	if err := os.WriteFile(filepath.Join(dir, ModelFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	writeSplit(t, dir, "test", m.folders, []string{"logits", "labels", "penultimate", "block1"},
		[]*npy.Array{mat(m.logits, synthK), npy.FromInts(m.labels), mat(m.penultimate, synthD), mat(m.block1, synthD1)})
	if m.val {
		// The test logits' first 60 rows, doubled: an overconfident
		// validation split, so that the fitted temperature is about 2.
		z := make([]float32, 60*synthK)
		for i := range z {
			z[i] = 2 * m.logits[i]
		}
		writeSplit(t, dir, "val", m.folders, []string{"logits", "labels"}, []*npy.Array{mat(z, synthK), npy.FromInts(m.labels[:60])})
	}
	if m.train {
		writeSplit(t, dir, "train", m.folders, []string{"penultimate", "labels"}, []*npy.Array{mat(m.penultimate, synthD), npy.FromInts(m.labels)})
	}
	for name, z := range m.corrupt {
		c, sev, _ := strings.Cut(name, "/")
		writeSplit(t, filepath.Join(dir, "corrupt", c), sev, m.folders, []string{"logits", "labels"}, []*npy.Array{mat(z, synthK), npy.FromInts(m.labels[:corruptRows])})
	}
	if m.target {
		// A separable target: its classes are far-apart directions, so a
		// linear probe and kNN get every test example right.
		for split, n := range map[string]int{"train": 90, "test": 30} {
			var f []float32
			var y []int
			for i := range n {
				c := i % targetClasses
				y = append(y, c)
				for j := range synthD {
					v := float32(r.NormFloat64() * 0.05)
					if j == c {
						v += 5
					}
					f = append(f, v)
				}
			}
			writeSplit(t, filepath.Join(dir, "transfer", "digits"), split, m.folders, []string{"penultimate", "labels"}, []*npy.Array{mat(f, synthD), npy.FromInts(y)})
		}
	}
}

// TestStudyOverExportedModels trains nothing: it exports four synthetic
// models (softmax seeds 1 and 2, identical arrays; label smoothing seeds 1
// and 2, one of them with features exactly on the class directions and
// exported as .npy folders) and checks every analysis of 'study --models'
// against known answers or independent float64 computations.
func TestStudyOverExportedModels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	labels := make([]int, synthN)
	for i := range labels {
		labels[i] = r.IntN(synthK)
	}
	a := newSynthModel(r, labels, 1, ModelInfo{Objective: "softmax", Seed: 1, Layers: []string{"block1"}, Architecture: "toy", Framework: "numpy"})
	a.val, a.train, a.target = true, true, true
	b := *a // identical arrays: disagreement 0, CKA 1
	b.info.Seed = 2
	c := newSynthModel(r, labels, 0, ModelInfo{Objective: "label_smoothing", Hyperparameters: map[string]float64{"alpha": 0.1}, Seed: 1})
	c.folders, c.target = true, true
	c.corrupt = map[string][]float32{} // no corrupted sets: robustness skipped for c
	d := newSynthModel(r, labels, 1, ModelInfo{Objective: "label_smoothing", Hyperparameters: map[string]float64{"alpha": 0.1}, Seed: 2})
	root := t.TempDir()
	models := filepath.Join(root, "models")
	for name, m := range map[string]*synthModel{"a": a, "b": &b, "c": c, "d": d} {
		m.write(t, filepath.Join(models, name), r)
	}
	out := filepath.Join(root, "study")
	p, err := Run(context.Background(), Spec{Name: "exp", Models: models, FeatureExamples: 100}, Options{Dir: out, Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range p.Units {
		if u.Kind == KindTrain || u.Kind == KindEvaluate || u.Kind == KindTransfer {
			t.Fatalf("a study over exported models planned a %s unit", u.Kind)
		}
	}
	rows, err := report.ReadResults(filepath.Join(out, report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	get := func(obj string, seed uint64, metric string) (float64, bool) {
		for _, r := range rows {
			if r.Objective == obj && r.Seed == seed && r.Metric == metric {
				return r.Value, true
			}
		}
		return 0, false
	}
	must := func(obj string, seed uint64, metric string) float64 {
		t.Helper()
		v, ok := get(obj, seed, metric)
		if !ok {
			t.Fatalf("results.csv has no %s for %s seed %d", metric, obj, seed)
		}
		return v
	}
	near := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.12g, want %.12g (±%g)", what, got, want, tol)
		}
	}

	// Accuracy, sparsity and R² against float64 computations from the
	// exported arrays.
	for _, m := range []*synthModel{a, c, d} {
		o, s := m.info.Objective, m.info.Seed
		near(o+" test_top1", must(o, s, "test_top1"), accuracy(m.logits, labels, synthN), 0)
		near(o+" active_fraction_penultimate", must(o, s, "active_fraction_penultimate"), nonzero(m.penultimate), 1e-12)
		near(o+" r2", must(o, s, "r2"), pairwiseR2(m.penultimate, labels, synthD), 1e-9)
		near(o+" ece", must(o, s, "test_ece"), ece(m.logits, labels, 1), 1e-9)
	}
	near("r2 of features on the class directions", must("label_smoothing", 1, "r2"), 1, 1e-12)
	near("softmax r2_train", must("softmax", 1, "r2_train"), must("softmax", 1, "r2"), 1e-12)
	if _, ok := get("label_smoothing", 1, "r2_train"); ok {
		t.Error("r2_train reported for a model that exports no training split")
	}
	// Temperature scaling: the validation logits are the test logits
	// doubled, so T ≈ 2 undoes it; a model without a validation split has
	// no temperature.
	if T := must("softmax", 1, "temperature"); T < 1.2 {
		t.Errorf("temperature fitted on doubled logits = %g; want about 2", T)
	}
	near("ece after TS", must("softmax", 1, "test_ece_ts"), ece(a.logits, labels, 1/must("softmax", 1, "temperature")), 1e-9)
	if _, ok := get("label_smoothing", 1, "temperature"); ok {
		t.Error("temperature reported for a model that exports no validation split")
	}
	// Robustness.
	near("corrupted noise s2", must("softmax", 1, "corrupted_noise_s2"), accuracy(a.corrupt["noise/2"], labels, corruptRows), 0)
	near("clean subset", must("softmax", 1, "clean_subset_accuracy"), accuracy(a.logits, labels, corruptRows), 0)
	near("mean corrupted", must("softmax", 1, "corrupted_mean_accuracy"),
		(accuracy(a.corrupt["noise/1"], labels, corruptRows)+accuracy(a.corrupt["noise/2"], labels, corruptRows))/2, 1e-15)
	if _, ok := get("label_smoothing", 1, "corrupted_mean_accuracy"); ok {
		t.Error("robustness reported for a model that exports no corrupted sets")
	}
	// Transfer on a separable target: every probe gets it all right.
	for _, m := range []string{"probe_digits_top1", "rawprobe_digits_top1", "knn_digits_top1"} {
		near("softmax "+m, must("softmax", 1, m), 1, 0)
		near("label_smoothing "+m, must("label_smoothing", 1, m), 1, 0)
	}
	if _, ok := get("label_smoothing", 2, "probe_digits_top1"); ok {
		t.Error("a probe reported for a model that exports no transfer features")
	}

	an, err := report.ReadAnalyses(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(an.Models) != 4 || !strings.Contains(an.Description, "4 exported models") {
		t.Fatalf("analyses: %d models, description %q", len(an.Models), an.Description)
	}
	idx := map[[2]any]int{}
	for i, m := range an.Predictions.Models {
		idx[[2]any{m.Objective, m.Seed}] = i
	}
	ia, ib, ic := idx[[2]any{"softmax", uint64(1)}], idx[[2]any{"softmax", uint64(2)}], idx[[2]any{"label_smoothing", uint64(1)}]
	pr := an.Predictions
	near("disagreement of identical models", pr.Disagreement[ia][ib], 0, 0)
	near("disagreement softmax vs label smoothing", pr.Disagreement[ia][ic], disagreement(a.logits, c.logits), 0)
	near("ensemble of identical models", pr.PairEnsemble[ia][ib], accuracy(a.logits, labels, synthN), 0)
	near("ensemble softmax + label smoothing", pr.PairEnsemble[ia][ic], ensembleAccuracy(a.logits, c.logits, labels), 0)
	near("ensemble diagonal", pr.PairEnsemble[ic][ic], accuracy(c.logits, labels, synthN), 0)

	if an.CKA == nil {
		t.Fatal("analyses.json has no CKA")
	}
	if got := strings.Join(an.CKA.Layers, ","); got != "block1,penultimate,logits" {
		t.Errorf("CKA layers %s; want block1,penultimate,logits", got)
	}
	var sawSame, sawCross bool
	for _, p := range an.CKA.Pairs {
		if p.A.Objective == "softmax" && p.B.Objective == "softmax" {
			sawSame = true
			for i := range p.Matrix {
				near("CKA of identical models, layer "+an.CKA.Layers[i], p.Matrix[i][i], 1, 1e-6)
			}
		}
		if p.A.Objective != p.B.Objective && p.A.Seed == 1 && p.B.Seed == 1 {
			sawCross = true
			near("CKA softmax vs label smoothing, penultimate", p.Matrix[1][1], linearCKA(a.penultimate, c.penultimate, 100, synthD), 1e-5)
		}
	}
	if !sawSame || !sawCross {
		t.Errorf("CKA pairs %d: same-objective pair %v, cross-objective pair %v; want both", len(an.CKA.Pairs), sawSame, sawCross)
	}
	// The notes say what was skipped and why.
	notes := strings.Join(an.Notes, "\n")
	for _, want := range []string{"2 of 4 models (c, d) export no validation split", "finetune", "1 of 4 models (d) exports no features for transfer target digits"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	for _, f := range []string{report.MarkdownFile, report.HTMLFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, report.MarkdownFile))
	if !strings.Contains(string(md), "4 exported models") {
		t.Error("report.md does not describe the exported models")
	}

	// Running again reuses every unit; exporting a model again makes the
	// study analyse it again.
	p2, err := NewPlan(Spec{Name: "exp", Models: models, FeatureExamples: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := Store{Dir: filepath.Join(out, "units")}
	for _, u := range p2.Units {
		if !st.Done(u.ID) {
			t.Errorf("unit %s (%s) not reused on a second plan", u.ID, u.Kind)
		}
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(models, "c", "test", "logits.npy"), future, future)
	p3, err := NewPlan(Spec{Name: "exp", Models: models, FeatureExamples: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	redo := 0
	for _, u := range p3.Units {
		if !st.Done(u.ID) {
			redo++
		}
	}
	// c's export, evaluation and probe, and the CKA and predictions units.
	if redo != 5 {
		t.Errorf("%d units to redo after re-exporting one model; want 5", redo)
	}
}

func accuracy(z []float32, labels []int, n int) float64 {
	right := 0
	for i := range n {
		if argmax(z[i*synthK:(i+1)*synthK]) == labels[i] {
			right++
		}
	}
	return float64(right) / float64(n)
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func disagreement(a, b []float32) float64 {
	d := 0
	for i := range synthN {
		if argmax(a[i*synthK:(i+1)*synthK]) != argmax(b[i*synthK:(i+1)*synthK]) {
			d++
		}
	}
	return float64(d) / synthN
}

func softmax64(z []float32, scale float64) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, float64(v)*scale)
	}
	p := make([]float64, len(z))
	var s float64
	for i, v := range z {
		p[i] = math.Exp(float64(v)*scale - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

func ensembleAccuracy(a, b []float32, labels []int) float64 {
	right := 0
	for i := range synthN {
		pa, pb := softmax64(a[i*synthK:(i+1)*synthK], 1), softmax64(b[i*synthK:(i+1)*synthK], 1)
		best := 0
		for c := range synthK {
			if pa[c]+pb[c] > pa[best]+pb[best] {
				best = c
			}
		}
		if best == labels[i] {
			right++
		}
	}
	return float64(right) / synthN
}

// ece is the expected calibration error of softmax(scale·z) over 15
// equal-width confidence bins (b/15, (b+1)/15] (docs/definitions.md,
// "Calibration").
func ece(z []float32, labels []int, scale float64) float64 {
	const bins = 15
	var conf, acc [bins]float64
	var count [bins]int
	for i := range synthN {
		p := softmax64(z[i*synthK:(i+1)*synthK], scale)
		best := 0
		for c := range p {
			if p[c] > p[best] {
				best = c
			}
		}
		b := min(max(int(math.Ceil(p[best]*bins))-1, 0), bins-1)
		conf[b] += p[best]
		if best == labels[i] {
			acc[b]++
		}
		count[b]++
	}
	var e float64
	for b := range bins {
		e += math.Abs(acc[b]-conf[b]) / synthN
	}
	return e
}

func nonzero(v []float32) float64 {
	n := 0
	for _, x := range v {
		if x != 0 {
			n++
		}
	}
	return float64(n) / float64(len(v))
}

// pairwiseR2 is class separation from its definition: mean cosine
// distances within and across classes, every pair counted, classes
// weighted equally.
func pairwiseR2(f []float32, labels []int, d int) float64 {
	unit := make([][]float64, len(labels))
	for i := range labels {
		var s float64
		for j := range d {
			s += float64(f[i*d+j]) * float64(f[i*d+j])
		}
		unit[i] = make([]float64, d)
		for j := range d {
			if s > 0 {
				unit[i][j] = float64(f[i*d+j]) / math.Sqrt(s)
			}
		}
	}
	classes := map[int][]int{}
	for i, y := range labels {
		classes[y] = append(classes[y], i)
	}
	dist := func(a, b []int) float64 {
		var s float64
		for _, i := range a {
			for _, j := range b {
				var c float64
				for k := range d {
					c += unit[i][k] * unit[j][k]
				}
				s += 1 - c
			}
		}
		return s / float64(len(a)*len(b))
	}
	var within, total float64
	K := float64(len(classes))
	for _, a := range classes {
		within += dist(a, a) / K
		for _, b := range classes {
			total += dist(a, b) / (K * K)
		}
	}
	return 1 - within/total
}

// linearCKA is linear CKA of the first n rows of x and y in float64:
// ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on column-centred matrices.
func linearCKA(x, y []float32, n, d int) float64 {
	centre := func(v []float32) [][]float64 {
		m := make([][]float64, n)
		mean := make([]float64, d)
		for i := range n {
			for j := range d {
				mean[j] += float64(v[i*d+j]) / float64(n)
			}
		}
		for i := range n {
			m[i] = make([]float64, d)
			for j := range d {
				m[i][j] = float64(v[i*d+j]) - mean[j]
			}
		}
		return m
	}
	cx, cy := centre(x), centre(y)
	cross := func(a, b [][]float64) float64 {
		var s float64
		for p := range d {
			for q := range d {
				var c float64
				for i := range n {
					c += a[i][p] * b[i][q]
				}
				s += c * c
			}
		}
		return s
	}
	return cross(cx, cy) / math.Sqrt(cross(cx, cx)*cross(cy, cy))
}

// TestExportLayoutErrors checks that a malformed export is refused when
// the study is planned (or, for values, when its unit runs) with an error
// that names the file, the array and what was expected.
func TestExportLayoutErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	labels := make([]int, synthN)
	for i := range labels {
		labels[i] = r.IntN(synthK)
	}
	base := func(t *testing.T) (string, *synthModel) {
		m := newSynthModel(r, labels, 1, ModelInfo{Objective: "softmax", Seed: 1})
		m.corrupt = map[string][]float32{}
		root := filepath.Join(t.TempDir(), "models")
		m.write(t, filepath.Join(root, "m"), r)
		return root, m
	}
	plan := func(root string) error {
		_, err := NewPlan(Spec{Name: "x", Models: root}, nil)
		return err
	}
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string, m *synthModel)
		want   []string
	}{
		{"no model.json", func(t *testing.T, dir string, _ *synthModel) { os.Remove(filepath.Join(dir, ModelFile)) },
			[]string{"model.json", "objective and seed"}},
		{"unknown key", func(t *testing.T, dir string, _ *synthModel) {
			os.WriteFile(filepath.Join(dir, ModelFile), []byte(`{"objective": "softmax", "seed": 1, "sed": 2}`), 0o644)
		}, []string{"model.json", `unknown field "sed"`}},
		{"seed 0", func(t *testing.T, dir string, _ *synthModel) {
			os.WriteFile(filepath.Join(dir, ModelFile), []byte(`{"objective": "softmax"}`), 0o644)
		}, []string{"model.json", "seed is missing or 0"}},
		{"1-D logits", func(t *testing.T, dir string, m *synthModel) {
			writeSplit(t, dir, "test", false, []string{"logits", "labels", "penultimate"},
				[]*npy.Array{npy.FromTensor(tensor.FromData(m.logits, len(m.logits))), npy.FromInts(labels), mat(m.penultimate, synthD)})
		}, []string{`test.npz, array "logits"`, "shape (480,)", "2 axes"}},
		{"no penultimate", func(t *testing.T, dir string, m *synthModel) {
			writeSplit(t, dir, "test", false, []string{"logits", "labels"}, []*npy.Array{mat(m.logits, synthK), npy.FromInts(labels)})
		}, []string{"test.npz", `no array "penultimate"`, "arrays: labels, logits"}},
		{"rows differ", func(t *testing.T, dir string, m *synthModel) {
			writeSplit(t, dir, "test", false, []string{"logits", "labels", "penultimate"},
				[]*npy.Array{mat(m.logits, synthK), npy.FromInts(labels), mat(m.penultimate[:synthD*10], synthD)})
		}, []string{`array "penultimate"`, "shape (10, 6)", "with 120 rows"}},
		{"float labels", func(t *testing.T, dir string, m *synthModel) {
			writeSplit(t, dir, "test", false, []string{"logits", "labels", "penultimate"},
				[]*npy.Array{mat(m.logits, synthK), mat(m.logits[:synthN], 1), mat(m.penultimate, synthD)})
		}, []string{`array "labels"`, "dtype <f4", "an integer array"}},
		{"val classes", func(t *testing.T, dir string, m *synthModel) {
			writeSplit(t, dir, "val", true, []string{"logits", "labels"}, []*npy.Array{mat(m.logits, synthK/2), npy.FromInts(append(append([]int(nil), labels...), labels...))})
		}, []string{filepath.Join("val", "logits.npy"), "shape (240, 2)", "with 4 columns"}},
		{"two forms of a split", func(t *testing.T, dir string, m *synthModel) {
			writeSplit(t, dir, "test", true, []string{"logits"}, []*npy.Array{mat(m.logits, synthK)})
		}, []string{"both test.npz and the folder test/"}},
		{"transfer without test", func(t *testing.T, dir string, m *synthModel) {
			writeSplit(t, filepath.Join(dir, "transfer", "t"), "train", false, []string{"penultimate", "labels"}, []*npy.Array{mat(m.penultimate, synthD), npy.FromInts(labels)})
		}, []string{filepath.Join("transfer", "t"), "no test split"}},
		{"corrupt severity name", func(t *testing.T, dir string, m *synthModel) {
			writeSplit(t, filepath.Join(dir, "corrupt", "blur"), "high", false, []string{"logits"}, []*npy.Array{mat(m.logits, synthK)})
		}, []string{filepath.Join("corrupt", "blur", "high.npz"), "named by it"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, m := base(t)
			c.break_(t, filepath.Join(root, "m"), m)
			err := plan(root)
			if err == nil {
				t.Fatal("planned a malformed export")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}

	// Values are checked when the unit reads them.
	t.Run("label out of range", func(t *testing.T) {
		root, m := base(t)
		bad := append([]int(nil), labels...)
		bad[7] = synthK
		writeSplit(t, filepath.Join(root, "m"), "test", false, []string{"logits", "labels", "penultimate"},
			[]*npy.Array{mat(m.logits, synthK), npy.FromInts(bad), mat(m.penultimate, synthD)})
		_, err := Run(context.Background(), Spec{Name: "x", Models: root}, Options{Dir: filepath.Join(t.TempDir(), "s"), Jobs: 1})
		if err == nil || !strings.Contains(err.Error(), `test.npz, array "labels": element 7 is 4; want a class index in [0, 4)`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("NaN logits", func(t *testing.T) {
		root, m := base(t)
		m.logits[5*synthK+1] = float32(math.NaN())
		m.write(t, filepath.Join(root, "m"), r)
		_, err := Run(context.Background(), Spec{Name: "x", Models: root}, Options{Dir: filepath.Join(t.TempDir(), "s"), Jobs: 1})
		if err == nil || !strings.Contains(err.Error(), `array "logits": element 21 (row 5) is NaN`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("training keys", func(t *testing.T) {
		_, err := ParseSpec("s.yaml", []byte("name: x\nmodels: m\nseeds: [1]\n"))
		if err == nil || !strings.Contains(err.Error(), "seeds is set with models") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("empty folder", func(t *testing.T) {
		err := plan(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "holds no model folders") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestExportSpecAndPartialLayers checks a spec file's models: key (a
// relative path is the spec file's folder's) and that CKA compares only
// the layers every model exports, saying so.
func TestExportSpecAndPartialLayers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	labels := make([]int, synthN)
	for i := range labels {
		labels[i] = r.IntN(synthK)
	}
	root := t.TempDir()
	a := newSynthModel(r, labels, 1, ModelInfo{Objective: "softmax", Seed: 1})
	b := newSynthModel(r, labels, 1, ModelInfo{Objective: "sigmoid", Seed: 1})
	a.write(t, filepath.Join(root, "exports", "a"), r)
	b.write(t, filepath.Join(root, "exports", "b"), r)
	// b without its named layer.
	writeSplit(t, filepath.Join(root, "exports", "b"), "test", false, []string{"logits", "labels", "penultimate"},
		[]*npy.Array{mat(b.logits, synthK), npy.FromInts(labels), mat(b.penultimate, synthD)})
	spec := filepath.Join(root, "spec.yaml")
	os.WriteFile(spec, []byte("name: ext\nmodels: exports\nanalyses: [cka]\n"), 0o644)
	s, err := LoadSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	if s.Models != filepath.Join(root, "exports") {
		t.Fatalf("models: %q; want the spec's folder joined", s.Models)
	}
	p, err := NewPlan(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, u := range p.Units {
		kinds = append(kinds, u.Kind)
		if u.Kind == KindExportEvaluate && strings.Join(u.Layers, ",") != "penultimate,logits" {
			t.Errorf("CKA layers %v; want penultimate,logits (block1 is a's alone)", u.Layers)
		}
	}
	if got := strings.Join(kinds, ","); got != "export,export-evaluate,export,export-evaluate,cka" {
		t.Errorf("units %s; want the models and CKA alone (analyses: [cka])", got)
	}
	if notes := strings.Join(p.Notes, "\n"); !strings.Contains(notes, "cka: model a exports layers [block1]") {
		t.Errorf("notes:\n%s", notes)
	}
}
