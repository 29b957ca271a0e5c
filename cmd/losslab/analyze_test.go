package main

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/losslab/losslab/npy"
	"github.com/losslab/losslab/tensor"
)

// fixture writes arrays as .npy files in a temporary folder.
type fixture struct {
	t   *testing.T
	dir string
}

func newFixture(t *testing.T) *fixture { return &fixture{t, t.TempDir()} }

func (f *fixture) matrix(name string, rows, cols int, data ...float32) string {
	f.t.Helper()
	p := filepath.Join(f.dir, name)
	if err := npy.WriteMatrix(p, tensor.FromData(data, rows, cols)); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) labels(name string, y ...int) string {
	f.t.Helper()
	p := filepath.Join(f.dir, name)
	if err := npy.WriteLabels(p, y); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// runKind runs `losslab analyze KIND args... --json` and decodes the object.
func runKind(t *testing.T, kind string, args ...string) (map[string]any, error) {
	t.Helper()
	var out bytes.Buffer
	if err := analyzeKinds[kind](append(args, "--json"), &out); err != nil {
		return nil, err
	}
	if strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
		t.Errorf("analyze %s printed more than one line: %q", kind, out.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("analyze %s: %v in %q", kind, err, out.String())
	}
	return m, nil
}

func num(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok {
		t.Fatalf("key %q missing or not a number in %v", key, m)
	}
	return v
}

func TestAnalyzeCalibration(t *testing.T) {
	f := newFixture(t)
	ln3, ln19 := float32(math.Log(3)), float32(math.Log(19))
	// Confidences .75 (right), .75 (wrong), .95 (right), .5 (right): with 10
	// bins ECE = .5·.25 + .25·.05 + .25·.5 (see metrics' hand-worked test).
	logits := f.matrix("l.npy", 4, 2, ln3, 0, ln3, 0, 0, ln19, 0, 0)
	labels := f.labels("y.npy", 0, 1, 1, 0)
	m, err := runKind(t, "calibration", "--logits", logits, "--labels", labels, "--bins", "10")
	if err != nil {
		t.Fatal(err)
	}
	if got := num(t, m, "ece"); math.Abs(got-0.2625) > 1e-6 {
		t.Errorf("ece %v, want 0.2625 (a fraction)", got)
	}
	if num(t, m, "accuracy") != 0.75 || num(t, m, "bins") != 10 || !strings.Contains(m["binning"].(string), "(i/B, (i+1)/B]") {
		t.Errorf("report %v", m)
	}
	for _, k := range []string{"nll", "brier", "mce", "adaptive_ece"} {
		num(t, m, k)
	}
	if _, ok := m["temperature"]; ok {
		t.Error("temperature reported without a validation set")
	}
	// Validation logits from a calibrated source, scaled by 3: T ≈ 3.
	rng := rand.New(rand.NewPCG(1, 2))
	n, k := 4000, 4
	vz := make([]float32, n*k)
	vy := make([]int, n)
	for i := 0; i < n; i++ {
		var p [4]float64
		var s float64
		for c := 0; c < k; c++ {
			u := 1.5 * rng.NormFloat64()
			vz[i*k+c] = float32(3 * u)
			p[c] = math.Exp(u)
			s += p[c]
		}
		r := rng.Float64() * s
		for vy[i] = 0; vy[i] < k-1 && r >= p[vy[i]]; vy[i]++ {
			r -= p[vy[i]]
		}
	}
	vl, vyl := f.matrix("vl.npy", n, k, vz...), f.labels("vy.npy", vy...)
	m, err = runKind(t, "calibration", "--logits", vl, "--labels", vyl, "--val-logits", vl, "--val-labels", vyl)
	if err != nil {
		t.Fatal(err)
	}
	if T := num(t, m, "temperature"); math.Abs(math.Log(T/3)) > 0.1 {
		t.Errorf("temperature %v, want ≈ 3", T)
	}
	if num(t, m, "nll_scaled") >= num(t, m, "nll") || num(t, m, "ece_scaled") >= num(t, m, "ece") {
		t.Errorf("temperature scaling did not help an overconfident model: %v", m)
	}
	if fit := m["temperature_fit"].(map[string]any); fit["converged"] != true {
		t.Errorf("temperature fit %v", fit)
	}
}

func TestAnalyzeBadInputsAreErrors(t *testing.T) {
	f := newFixture(t)
	logits := f.matrix("l.npy", 2, 2, 1, 2, 3, 4)
	nan := f.matrix("nan.npy", 2, 2, 1, float32(math.NaN()), 3, 4)
	cases := []struct {
		kind string
		args []string
		want string
	}{
		{"calibration", []string{"--logits", logits, "--labels", f.labels("y3.npy", 0, 1, 1)}, "3 labels, but " + logits + " has 2 rows"},
		{"calibration", []string{"--logits", logits, "--labels", f.labels("big.npy", 0, 2)}, "label 2 at index 1 is outside [0, 2)"},
		{"calibration", []string{"--logits", nan, "--labels", f.labels("y.npy", 0, 1)}, "element [0, 1] is NaN"},
		{"calibration", []string{"--logits", logits}, "--logits and --labels are required"},
		{"calibration", []string{"--logits", filepath.Join(f.dir, "missing.npy"), "--labels", f.labels("y.npy", 0, 1)}, "missing.npy"},
		{"disagreement", []string{"--logits", logits}, "at least twice"},
		{"disagreement", []string{"--logits", logits, "--logits", f.matrix("l3.npy", 3, 2, 1, 2, 3, 4, 5, 6)}, "want the same examples"},
		{"cka", []string{"--a", logits, "--b", f.matrix("b3.npy", 3, 1, 1, 2, 3)}, "want the same examples"},
		{"separation", []string{"--features", logits, "--labels", f.labels("neg.npy", 0, -1)}, "label -1 at index 1 is negative"},
		{"probe", []string{"--train-features", logits, "--train-labels", f.labels("y.npy", 0, 1),
			"--test-features", f.matrix("t3.npy", 1, 3, 1, 2, 3), "--test-labels", f.labels("t.npy", 0)}, "has 3 columns, --train-features has 2"},
		{"knn", []string{"--train-features", logits}, "are required"},
		{"knn", []string{"--train-features", logits, "--train-labels", f.labels("y.npy", 0, 1),
			"--test-features", logits, "--test-labels", f.labels("y.npy", 0, 1), "--k", "0"}, "--k 0"},
	}
	for _, c := range cases {
		_, err := runKind(t, c.kind, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("analyze %s %v: error %v, want one containing %q", c.kind, c.args, err, c.want)
		}
	}
}

func TestAnalyzeDisagreement(t *testing.T) {
	f := newFixture(t)
	a := f.matrix("a.npy", 4, 2, 10, 0, 0, 1, 2, 1, 0, 0)
	b := f.matrix("b.npy", 4, 2, 0, 0.1, 0, 1, 0, 1, 1, 0)
	c := f.matrix("c.npy", 4, 2, 0, 0.1, 1, 0, 0, 1, 0, 0.5)
	m, err := runKind(t, "disagreement", "--logits", a, "--logits", b, "--logits", c, "--labels", f.labels("y.npy", 0, 1, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Predictions 0100, 1110, 1011 (see metrics' hand-worked test).
	rows := m["disagreement"].([]any)
	want := [][]float64{{0, 0.5, 1}, {0.5, 0, 0.5}, {1, 0.5, 0}}
	for i, row := range rows {
		for j, v := range row.([]any) {
			if v.(float64) != want[i][j] {
				t.Errorf("disagreement[%d][%d] = %v, want %v", i, j, v, want[i][j])
			}
		}
	}
	if num(t, m, "ensemble_accuracy") != 0.75 {
		t.Errorf("ensemble accuracy %v, want 0.75", m["ensemble_accuracy"])
	}
}

func TestAnalyzeCKAAndSeparation(t *testing.T) {
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(3, 4))
	n, p := 40, 3
	x := make([]float32, n*p)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	scaled := make([]float32, len(x))
	for i, v := range x {
		scaled[i] = -2.5*v + 7 // isotropic scaling and a shift: CKA 1
	}
	a, b := f.matrix("a.npy", n, p, x...), f.matrix("b.npy", n, p, scaled...)
	m, err := runKind(t, "cka", "--a", a, "--b", b, "--minibatch", "10", "--seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"linear", "debiased", "minibatch"} {
		if v := num(t, m, k); math.Abs(v-1) > 1e-5 {
			t.Errorf("%s CKA of a scaled copy = %v, want 1", k, v)
		}
	}
	if num(t, m, "minibatch_examples") != 40 || num(t, m, "examples") != 40 {
		t.Errorf("report %v", m)
	}

	feats := f.matrix("f.npy", 4, 2, 1, 0, 3, 0, 0, 2, 0, 0.5)
	m, err = runKind(t, "separation", "--features", feats, "--labels", f.labels("y.npy", 0, 0, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(num(t, m, "r2")-1) > 1e-12 || math.Abs(num(t, m, "d_total")-0.5) > 1e-12 || num(t, m, "d_within") > 1e-12 {
		t.Errorf("orthogonal classes: %v, want r2 1, d_within 0, d_total 0.5", m)
	}

	m, err = runKind(t, "sparsity", "--features", feats, "--features", f.matrix("g.npy", 1, 4, 0, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	fr := m["active_fraction"].([]any)
	if fr[0].(float64) != 0.5 || fr[1].(float64) != 0.25 {
		t.Errorf("active fractions %v, want [0.5 0.25]", fr)
	}
}

func TestAnalyzeProbeAndKNN(t *testing.T) {
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(5, 6))
	const dim, classes = 6, 3
	means := make([][]float64, classes)
	for c := range means {
		means[c] = make([]float64, dim)
		for j := range means[c] {
			means[c][j] = 3 * rng.NormFloat64()
		}
	}
	set := func(name string, n int) (string, string) {
		x := make([]float32, n*dim)
		y := make([]int, n)
		for i := range y {
			y[i] = rng.IntN(classes)
			for j := 0; j < dim; j++ {
				x[i*dim+j] = float32(means[y[i]][j] + rng.NormFloat64())
			}
		}
		return f.matrix(name+"_x.npy", n, dim, x...), f.labels(name+"_y.npy", y...)
	}
	trX, trY := set("train", 150)
	teX, teY := set("test", 100)
	vaX, vaY := set("val", 50)
	common := []string{"--train-features", trX, "--train-labels", trY, "--test-features", teX, "--test-labels", teY}
	m, err := runKind(t, "probe", append(common, "--lambdas", "1e-4,1e-2,1", "--seed", "2")...)
	if err != nil {
		t.Fatal(err)
	}
	if num(t, m, "accuracy") < 0.9 || num(t, m, "mean_per_class_accuracy") < 0.9 || num(t, m, "train_examples") != 120 {
		t.Errorf("probe on separated clusters: %v", m)
	}
	if l := num(t, m, "lambda"); l < 1e-4 || l > 1 {
		t.Errorf("lambda %v outside the grid's range", l)
	}
	m, err = runKind(t, "probe", append(common, "--val-features", vaX, "--val-labels", vaY, "--refine", "0", "--lambdas", "0.01")...)
	if err != nil {
		t.Fatal(err)
	}
	if num(t, m, "val_examples") != 50 || num(t, m, "train_examples") != 150 || num(t, m, "lambda") != 0.01 {
		t.Errorf("probe with explicit validation: %v", m)
	}
	m, err = runKind(t, "knn", append(common, "--k", "5")...)
	if err != nil {
		t.Fatal(err)
	}
	if num(t, m, "accuracy") < 0.9 || num(t, m, "k") != 5 {
		t.Errorf("k-NN on separated clusters: %v", m)
	}
}
