package probe

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"gonum.org/v1/gonum/optimize"

	"github.com/losslab/losslab/tensor"
)

// clusters draws n examples of dim features in classes Gaussian clusters:
// class means N(0, sep²) per feature, unit noise, and a constant offset so
// that standardisation matters.
func clusters(rng *rand.Rand, means [][]float64, n int) Data {
	classes, dim := len(means), len(means[0])
	x := tensor.New(n, dim)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		c := rng.IntN(classes)
		y[i] = c
		for j := 0; j < dim; j++ {
			x.Data[i*dim+j] = float32(5 + means[c][j] + rng.NormFloat64())
		}
	}
	return Data{X: x, Y: y}
}

func classMeans(rng *rand.Rand, classes, dim int, sep float64) [][]float64 {
	m := make([][]float64, classes)
	for c := range m {
		m[c] = make([]float64, dim)
		for j := range m[c] {
			m[c][j] = sep * rng.NormFloat64()
		}
	}
	return m
}

// objective64 is the probe objective in float64, straight from its
// definition.
func objective64(params []float64, x *tensor.Tensor, y []int, classes int, lambda float64) float64 {
	n, dim := x.Shape[0], x.Shape[1]
	var loss float64
	z := make([]float64, classes)
	for i := 0; i < n; i++ {
		m := math.Inf(-1)
		for k := 0; k < classes; k++ {
			z[k] = params[classes*dim+k]
			for j := 0; j < dim; j++ {
				z[k] += params[k*dim+j] * float64(x.Data[i*dim+j])
			}
			m = math.Max(m, z[k])
		}
		var s float64
		for _, v := range z {
			s += math.Exp(v - m)
		}
		loss += m + math.Log(s) - z[y[i]]
	}
	var sq float64
	for _, v := range params[:classes*dim] {
		sq += v * v
	}
	return loss/float64(n) + lambda/2*sq
}

func TestObjectiveGradientMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	d := clusters(rng, classMeans(rng, 3, 5, 1), 40)
	o := newLogisticObjective(d.X.Data, d.Y, 40, 5, 3)
	o.lambda = 0.3
	params := make([]float64, 3*5+3)
	for i := range params {
		params[i] = 0.1 * rng.NormFloat64()
	}
	f := o.Func(params)
	if want := objective64(params, d.X, d.Y, 3, 0.3); math.Abs(f-want) > 1e-5*math.Abs(want) {
		t.Errorf("objective %v, float64 definition %v", f, want)
	}
	grad := make([]float64, len(params))
	o.Grad(grad, params)
	for i := range params {
		h := 1e-5
		p := append([]float64(nil), params...)
		p[i] += h
		fp := objective64(p, d.X, d.Y, 3, 0.3)
		p[i] -= 2 * h
		fm := objective64(p, d.X, d.Y, 3, 0.3)
		fd := (fp - fm) / (2 * h)
		if math.Abs(grad[i]-fd) > 1e-4*(1+math.Abs(fd)) {
			t.Errorf("gradient[%d] = %v, finite difference %v", i, grad[i], fd)
		}
	}
}

func TestFitMatchesGradientDescent(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	d := clusters(rng, classMeans(rng, 3, 4, 1.5), 60)
	mean, scale := standardisation(d.X, seq(60))
	xs := standardise(d.X, mean, scale)
	const lambda = 0.05
	o := newLogisticObjective(xs.Data, d.Y, 60, 4, 3)
	got, info, err := o.fit(lambda, nil, FitOptions{GradTol: 1e-7})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Converged {
		t.Errorf("fit did not converge: %+v", info)
	}
	// Plain gradient descent in float64 on the same objective, with a step
	// below 1/L (L ≤ ‖X‖²/n + λ for standardised X with ≤ 5 columns incl. bias).
	w := make([]float64, len(got))
	g := make([]float64, len(w))
	for it := 0; it < 20000; it++ {
		gradient64(g, w, xs, d.Y, 3, lambda)
		for i := range w {
			w[i] -= 0.5 * g[i]
		}
	}
	gradient64(g, w, xs, d.Y, 3, lambda)
	for i := range g {
		if math.Abs(g[i]) > 1e-9 {
			t.Fatalf("gradient descent not converged: |g[%d]| = %v", i, g[i])
		}
	}
	// The objective is strictly convex in W but not in b (softmax is
	// invariant to adding a constant to every bias): compare W and the
	// centred biases.
	centre := func(p []float64) {
		b := p[12:]
		m := (b[0] + b[1] + b[2]) / 3
		for k := range b {
			b[k] -= m
		}
	}
	centre(got)
	centre(w)
	for i := range w {
		if math.Abs(got[i]-w[i]) > 1e-4 {
			t.Errorf("L-BFGS param[%d] = %v, gradient descent %v", i, got[i], w[i])
		}
	}
}

// gradient64 is the probe gradient in float64 from its definition.
func gradient64(g, params []float64, x *tensor.Tensor, y []int, classes int, lambda float64) {
	n, dim := x.Shape[0], x.Shape[1]
	clear(g)
	z := make([]float64, classes)
	for i := 0; i < n; i++ {
		m := math.Inf(-1)
		for k := range z {
			z[k] = params[classes*dim+k]
			for j := 0; j < dim; j++ {
				z[k] += params[k*dim+j] * float64(x.Data[i*dim+j])
			}
			m = math.Max(m, z[k])
		}
		var s float64
		for k := range z {
			z[k] = math.Exp(z[k] - m)
			s += z[k]
		}
		for k := range z {
			r := z[k] / s
			if k == y[i] {
				r--
			}
			r /= float64(n)
			for j := 0; j < dim; j++ {
				g[k*dim+j] += r * float64(x.Data[i*dim+j])
			}
			g[classes*dim+k] += r
		}
	}
	for i := 0; i < classes*dim; i++ {
		g[i] += lambda * params[i]
	}
}

func TestLinearProbeOnClusters(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	means := classMeans(rng, 4, 16, 0.6)
	train := clusters(rng, means, 400)
	test := clusters(rng, means, 400)
	r, err := LinearProbe(train, test, Config{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy %.3f, per-class %.3f, λ %.3g, val %.3f, %d fits", r.Accuracy, r.MeanPerClassAccuracy, r.Lambda, r.ValAccuracy, len(r.Search))
	if r.Accuracy < 0.8 || r.MeanPerClassAccuracy < 0.8 {
		t.Errorf("probe accuracy %v (per class %v) on separable clusters", r.Accuracy, r.MeanPerClassAccuracy)
	}
	if r.Train != 320 || r.Val != 80 || r.Test != 400 || r.Classes != 4 {
		t.Errorf("sizes %+v", r)
	}
	grid, refined := 0, 0
	for _, s := range r.Search {
		if s.Refined {
			refined++
		} else {
			grid++
		}
		if !s.Fit.Converged {
			t.Errorf("fit at λ=%g did not converge: %+v", s.Lambda, s.Fit)
		}
	}
	if grid != 8 || refined < 2 || refined > 4 {
		t.Errorf("%d grid and %d refined fits, want 8 and 2–4", grid, refined)
	}
	if best := bestScore(r.Search); best.Lambda != r.Lambda {
		t.Errorf("chose λ=%g, best of search is %g", r.Lambda, best.Lambda)
	}
	for _, s := range r.Search {
		if s.ValAccuracy > r.ValAccuracy {
			t.Errorf("λ=%g has validation accuracy %v above the chosen %v", s.Lambda, s.ValAccuracy, r.ValAccuracy)
		}
	}
	// Same seed, same result; the model predicts what the result says.
	again, _ := LinearProbe(train, test, Config{Seed: 7})
	if again.Accuracy != r.Accuracy || again.Lambda != r.Lambda {
		t.Errorf("not deterministic: %v/%v then %v/%v", r.Accuracy, r.Lambda, again.Accuracy, again.Lambda)
	}
	pred, _ := r.Model.Predict(test.X)
	if acc, _ := accuracies(pred, test.Y, 4); acc != r.Accuracy {
		t.Errorf("model accuracy %v, result %v", acc, r.Accuracy)
	}
	// An explicit validation set replaces the split and joins the refit.
	val := clusters(rng, means, 100)
	rv, err := LinearProbe(train, test, Config{Validation: &val, Lambdas: []float64{1e-3, 1e-1}, RefineSteps: -1})
	if err != nil {
		t.Fatal(err)
	}
	if rv.Train != 400 || rv.Val != 100 || len(rv.Search) != 2 || rv.Accuracy < 0.8 {
		t.Errorf("explicit validation: %+v", rv)
	}
}

func TestStrongRegularisationShrinksWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	d := clusters(rng, classMeans(rng, 3, 6, 1), 90)
	mean, scale := standardisation(d.X, seq(90))
	o := newLogisticObjective(standardise(d.X, mean, scale).Data, d.Y, 90, 6, 3)
	norm := func(l float64) float64 {
		p, _, err := o.fit(l, nil, FitOptions{GradTol: 1e-8})
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for _, v := range p[:18] {
			s += v * v
		}
		return math.Sqrt(s)
	}
	weak, strong := norm(1e-3), norm(10)
	if !(strong < weak/10) {
		t.Errorf("‖W‖ at λ=10 is %v, at λ=1e-3 %v: want much smaller", strong, weak)
	}
}

func TestStandardisation(t *testing.T) {
	x := tensor.FromData([]float32{1, 7, 3, 7, 5, 7}, 3, 2)
	mean, scale := standardisation(x, []int{0, 1, 2})
	if mean[0] != 3 || mean[1] != 7 || math.Abs(scale[0]-1/math.Sqrt(8.0/3)) > 1e-12 || scale[1] != 1 {
		t.Errorf("mean %v scale %v; want population std and scale 1 for a constant column", mean, scale)
	}
}

func TestProbeErrors(t *testing.T) {
	good := Data{X: tensor.FromData([]float32{1, 2, 3, 4, 5, 6}, 3, 2), Y: []int{0, 1, 0}}
	nan := Data{X: tensor.FromData([]float32{1, 2, float32(math.Inf(1)), 4}, 2, 2), Y: []int{0, 1}}
	cases := []struct {
		name        string
		train, test Data
		want        string
	}{
		{"labels", good, Data{X: good.X, Y: []int{0, 1}}, "2 test labels for 3 rows"},
		{"width", good, Data{X: tensor.New(3, 3), Y: []int{0, 1, 0}}, "test features have 3 columns, train has 2"},
		{"negative", good, Data{X: good.X, Y: []int{0, -1, 0}}, "test label -1 of example 1 is negative"},
		{"inf", nan, good, "feature [1, 0] is +Inf"},
		{"huge label", good, Data{X: good.X, Y: []int{0, 1, 1000}}, "labels go up to 1000"},
	}
	for _, c := range cases {
		_, err := LinearProbe(c.train, c.test, Config{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("linear probe, %s: error %v, want one containing %q", c.name, err, c.want)
		}
		_, err = KNN(c.train, c.test, 3)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("k-NN, %s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if _, err := LinearProbe(good, good, Config{Lambdas: []float64{0.1, -1}}); err == nil {
		t.Error("negative λ accepted")
	}
	if _, err := LinearProbe(good, good, Config{ValFraction: 0.01}); err == nil || !strings.Contains(err.Error(), "leaves 0 for validation") {
		t.Errorf("empty validation split: %v", err)
	}
}

func TestTopK(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	s := make([]float32, 200)
	for i := range s {
		s[i] = float32(rng.IntN(20)) // many ties
	}
	idx, val := make([]int, 7), make([]float32, 7)
	topK(s, idx, val)
	order := seq(len(s))
	sort.SliceStable(order, func(a, b int) bool { return s[order[a]] > s[order[b]] })
	for j := range idx {
		if idx[j] != order[j] || val[j] != s[order[j]] {
			t.Fatalf("topK = %v, want %v", idx, order[:7])
		}
	}
}

func TestKNNHandWorked(t *testing.T) {
	// Training points on the unit circle's axes (length does not matter for
	// cosine); classes 0, 0, 1, 2.
	train := Data{X: tensor.FromData([]float32{
		1, 0,
		5, 0.5,
		0, 2,
		-1, 0,
	}, 4, 2), Y: []int{0, 0, 1, 2}}
	test := Data{X: tensor.FromData([]float32{
		3, 0.1, // k=1: nearest (1,0) → 0
		-0.1, 1, // k=1: (0,2) → 1
		0, 0, // zero vector: all similarities 0, k=1 picks training row 0 → 0
	}, 3, 2), Y: []int{0, 1, 2}}
	r, err := KNN(train, test, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Accuracy-2.0/3) > 1e-12 || math.Abs(r.MeanPerClassAccuracy-2.0/3) > 1e-12 {
		t.Errorf("k=1: %+v, want accuracy 2/3", r)
	}
	// k=3 for (0.2, 1): neighbours (0,2)→1 [.98], (5,.5)→0 [.29], (1,0)→0 [.196]:
	// votes 2 for class 0 beat 1 for class 1.
	r3, _ := KNN(train, Data{X: tensor.FromData([]float32{0.2, 1}, 1, 2), Y: []int{0}}, 3)
	if r3.Accuracy != 1 {
		t.Errorf("k=3 majority: %+v", r3)
	}
	// k=2 for (-1, 1): neighbours (-1,0)→2 [.707] and (0,2)→1 [.707], one vote
	// each, equal summed similarity: the lower class (1) wins.
	r2, _ := KNN(train, Data{X: tensor.FromData([]float32{-1, 1}, 1, 2), Y: []int{1}}, 2)
	if r2.Accuracy != 1 {
		t.Errorf("k=2 tie: %+v, want class 1", r2)
	}
	// k=2 for (-1, 0.9): (-1,0) is closer, so the summed-similarity tie-break picks 2.
	r2b, _ := KNN(train, Data{X: tensor.FromData([]float32{-1, 0.9}, 1, 2), Y: []int{2}}, 2)
	if r2b.Accuracy != 1 {
		t.Errorf("k=2 weighted tie-break: %+v, want class 2", r2b)
	}
	if big, _ := KNN(train, test, 100); big.K != 4 {
		t.Errorf("k beyond the training set: K = %d, want 4", big.K)
	}
}

func TestKNNOnClusters(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	means := classMeans(rng, 5, 20, 3)
	// Cosine on raw features: remove the constant offset that clusters adds.
	train, test := clusters(rng, means, 600), clusters(rng, means, 300)
	for _, d := range []Data{train, test} {
		for i := range d.X.Data {
			d.X.Data[i] -= 5
		}
	}
	r, err := KNN(train, test, DefaultK)
	if err != nil {
		t.Fatal(err)
	}
	if r.Accuracy < 0.9 || r.K != 10 || r.Classes != 5 {
		t.Errorf("k-NN on separated clusters: %+v", r)
	}
}

// runLinesearch drives convexLinesearch on φ(α) = (α − 3)² from the given
// first step, returning the accepted step and the evaluations used.
func runLinesearch(t *testing.T, phi func(float64) (float64, float64), step float64) (float64, int) {
	t.Helper()
	var ls convexLinesearch
	f0, d0 := phi(0)
	ls.Init(f0, d0, step)
	for evals := 1; evals <= lsMaxAttempts; evals++ {
		op, next, err := ls.Iterate(phi(step))
		if err != nil {
			t.Fatalf("line search from %v: %v", step, err)
		}
		if op == optimize.MajorIteration {
			return next, evals
		}
		step = next
	}
	t.Fatalf("line search from %v did not stop", step)
	return 0, 0
}

func TestConvexLinesearch(t *testing.T) {
	quad := func(a float64) (float64, float64) { return (a - 3) * (a - 3), 2 * (a - 3) }
	for _, first := range []float64{1, 0.01, 100, 6.2} {
		a, evals := runLinesearch(t, quad, first)
		_, d := quad(a)
		if math.Abs(d) > lsCurvature*6 || (d > 0 && (a-3)*(a-3) > 9) {
			t.Errorf("from %v: accepted α=%v with φ'(α)=%v, violating the conditions", first, a, d)
		}
		if evals > 6 {
			t.Errorf("from %v: %d evaluations", first, evals)
		}
	}
	// A step where the objective overflows (NaN/Inf) counts as overshooting.
	blowup := func(a float64) (float64, float64) {
		if a > 10 {
			return math.Inf(1), math.NaN()
		}
		return quad(a)
	}
	if a, _ := runLinesearch(t, blowup, 1000); a > 10 {
		t.Errorf("accepted α=%v where the objective is infinite", a)
	}
}

// The raw probe fits the features as they are: its model carries mean 0
// and scale 1, its predictions are argmax(W·x + b) on the unscaled x, and
// rescaling one feature changes what it learns (the standardised probe
// is blind to a feature's scale).
func TestRawProbe(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	means := classMeans(rng, 3, 4, 3)
	train, test := clusters(rng, means, 90), clusters(rng, means, 60)
	scaled := func(d Data) Data {
		x := tensor.FromData(append([]float32(nil), d.X.Data...), d.X.Shape...)
		for i := 0; i < x.Shape[0]; i++ {
			x.Data[i*4] *= 1000 // one feature on another scale
		}
		return Data{X: x, Y: d.Y}
	}
	raw, err := LinearProbe(train, test, Config{Seed: 1, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	if raw.Standardisation != RawFeatures {
		t.Errorf("Standardisation = %q; want %q", raw.Standardisation, RawFeatures)
	}
	m := raw.Model
	for j := range m.Mean {
		if m.Mean[j] != 0 || m.Scale[j] != 1 {
			t.Fatalf("raw model feature %d: mean %v scale %v; want 0 and 1", j, m.Mean[j], m.Scale[j])
		}
	}
	pred, err := m.Predict(test.X)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pred {
		best, bestZ := 0, math.Inf(-1)
		for k := range m.Classes {
			z := float64(m.B[k])
			for j := range m.Dim {
				z += float64(m.W[k*m.Dim+j]) * float64(test.X.Data[i*m.Dim+j])
			}
			if z > bestZ {
				best, bestZ = k, z
			}
		}
		if pred[i] != best {
			t.Fatalf("example %d: predicted %d; argmax(W·x+b) on raw x is %d", i, pred[i], best)
		}
	}
	std1, err := LinearProbe(train, test, Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	std2, err := LinearProbe(scaled(train), scaled(test), Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	raw2, err := LinearProbe(scaled(train), scaled(test), Config{Seed: 1, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(std1.Accuracy-std2.Accuracy) > 1e-9 || std1.Lambda != std2.Lambda {
		t.Errorf("standardised probe moved with a feature's scale: %v (λ %v) vs %v (λ %v)", std1.Accuracy, std1.Lambda, std2.Accuracy, std2.Lambda)
	}
	if slices.Equal(raw.Model.W, raw2.Model.W) {
		t.Errorf("raw probe ignored a feature's scale")
	}
}
