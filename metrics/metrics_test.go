package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/tensor"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestAccuracyAndTopKBreakTiesByIndex(t *testing.T) {
	z := tensor.FromData([]float32{
		1, 3, 3, // argmax 1 (tie with 2, lower index wins)
		5, 0, 1,
		2, 2, 2, // argmax 0
		0, 1, 2,
	}, 4, 3)
	labels := []int{2, 0, 1, 0}
	acc, err := Accuracy(z, labels)
	if err != nil {
		t.Fatal(err)
	}
	if acc != 0.25 {
		t.Errorf("accuracy %v, want 0.25 (only row 1 is right)", acc)
	}
	// Ranks of the labels: row0 label 2 ties with 1 → rank 1; row1 rank 0;
	// row2 label 1 ties with 0 → rank 1; row3 label 0 → rank 2.
	for k, want := range map[int]float64{1: 0.25, 2: 0.75, 3: 1, 10: 1} {
		got, err := TopKAccuracy(z, labels, k)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("top-%d accuracy %v, want %v", k, got, want)
		}
	}
	preds, _ := Predictions(z)
	if want := []int{1, 0, 0, 2}; !slices.Equal(preds, want) {
		t.Errorf("predictions %v, want %v", preds, want)
	}
}

func TestBadInputsAreErrors(t *testing.T) {
	good := tensor.FromData([]float32{1, 2, 3, 4}, 2, 2)
	nan := tensor.FromData([]float32{1, float32(math.NaN()), 3, 4}, 2, 2)
	cases := []struct {
		name   string
		logits *tensor.Tensor
		labels []int
		want   string
	}{
		{"length", good, []int{0}, "1 labels for 2 rows"},
		{"range", good, []int{0, 2}, "label 2 of example 1 is outside [0, 2)"},
		{"negative", good, []int{-1, 0}, "outside"},
		{"nan", nan, []int{0, 1}, "logit [0, 1] is NaN"},
		{"shape", tensor.New(4), []int{0, 1, 0, 1}, "want 2-D"},
		{"one class", tensor.New(2, 1), []int{0, 0}, "at least 2"},
	}
	for _, c := range cases {
		_, err := Calibrate(c.logits, c.labels, 15)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if _, err := FitTemperature(c.logits, c.labels); err == nil {
			t.Errorf("%s: FitTemperature accepted bad input", c.name)
		}
	}
	if _, err := TopKAccuracy(good, []int{0, 1}, 0); err == nil {
		t.Error("top-0 accuracy accepted")
	}
	if _, err := NewCalibration(3, 0); err == nil {
		t.Error("0 bins accepted")
	}
}

func TestBinEdgesAreLeftOpen(t *testing.T) {
	for _, c := range []struct {
		q    float64
		bins int
		want int
	}{
		{0, 4, 0}, {0.25, 4, 0}, {0.2500001, 4, 1}, {0.75, 4, 2}, {0.7500001, 4, 3}, {1, 4, 3},
		{0.5, 10, 4}, {0.95, 10, 9}, {1, 15, 14}, {1.0 / 15, 15, 0},
	} {
		if got := binOf(c.q, c.bins); got != c.want {
			t.Errorf("binOf(%v, %d) = %d, want %d", c.q, c.bins, got, c.want)
		}
	}
}

// fourExamples has top-label confidences 0.75, 0.75, 0.95 and 0.5 (exact
// softmax values of these logits) with hand-worked statistics below.
func fourExamples() (*tensor.Tensor, []int) {
	ln3, ln19 := float32(math.Log(3)), float32(math.Log(19))
	z := tensor.FromData([]float32{
		ln3, 0, // p = (.75, .25), y = 0: right
		ln3, 0, // y = 1: wrong
		0, ln19, // p = (.05, .95), y = 1: right
		0, 0, // p = (.5, .5), predicts 0, y = 0: right
	}, 4, 2)
	return z, []int{0, 1, 1, 0}
}

func TestCalibrationHandWorked(t *testing.T) {
	z, y := fourExamples()
	r, err := Calibrate(z, y, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Bins (10): 0.75 → bin 7 (acc 1/2), 0.95 → bin 9, 0.5 → bin 4 (left-open).
	// ECE = .5·|.5−.75| + .25·|1−.95| + .25·|1−.5| = .125 + .0125 + .125.
	checks := []struct {
		name      string
		got, want float64
	}{
		{"accuracy", r.Accuracy, 0.75},
		{"ece", r.ECE, 0.2625},
		{"mce", r.MCE, 0.5},
		// Class 0 probabilities .75(y=0) .75(y=1) .05(y=1) .5(y=0): .125+.0125+.125;
		// class 1 is symmetric; the mean over the two classes is .2625.
		{"classwise", r.ClasswiseECE, 0.2625},
		{"nll", r.NLL, -(math.Log(.75) + math.Log(.25) + math.Log(.95) + math.Log(.5)) / 4},
		// Brier: .125 + 1.125 + .005 + .5 over 4.
		{"brier", r.Brier, 1.755 / 4},
	}
	for _, c := range checks {
		if !near(c.got, c.want, 1e-6) {
			t.Errorf("%s = %.9g, want %.9g", c.name, c.got, c.want)
		}
	}
	if len(r.Reliability) != 10 || r.Reliability[4].Count != 1 || r.Reliability[7].Count != 2 ||
		r.Reliability[9].Count != 1 || !near(r.Reliability[7].Accuracy, 0.5, 0) ||
		!near(r.Reliability[7].Confidence, 0.75, 1e-6) || !near(r.Reliability[7].Lo, 0.7, 1e-12) {
		t.Errorf("reliability bins %+v", r.Reliability)
	}
	nll, _ := NLL(z, y)
	if !near(nll, r.NLL, 1e-12) {
		t.Errorf("NLL %v, Calibration's %v", nll, r.NLL)
	}
	// Adaptive ECE with 2 bins: sorted confidences .5(right) .75(right) | .75(wrong) .95(right)
	// → .5·|1 − .625| + .5·|.5 − .85|.
	ace, err := AdaptiveECE(z, y, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !near(ace, 0.5*0.375+0.5*0.35, 1e-6) {
		t.Errorf("adaptive ECE %v, want %v", ace, 0.5*0.375+0.5*0.35)
	}
}

func TestCalibrationStreamsBatches(t *testing.T) {
	z, y := calibratedSample(rand.New(rand.NewPCG(1, 2)), 999, 7, 2)
	whole, err := Calibrate(z, y, 15)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewCalibration(7, 15)
	for lo := 0; lo < 999; lo += 100 {
		hi := min(lo+100, 999)
		if err := c.Add(tensor.FromData(z.Data[lo*7:hi*7], hi-lo, 7), y[lo:hi]); err != nil {
			t.Fatal(err)
		}
	}
	parts := c.Result()
	if parts.Examples != 999 || !near(parts.ECE, whole.ECE, 1e-12) || !near(parts.NLL, whole.NLL, 1e-12) ||
		!near(parts.Brier, whole.Brier, 1e-12) || !near(parts.ClasswiseECE, whole.ClasswiseECE, 1e-12) {
		t.Errorf("batched %+v\nwhole %+v", parts, whole)
	}
	if err := c.Add(tensor.New(2, 3), []int{0, 0}); err == nil {
		t.Error("batch with another class count accepted")
	}
}

// calibratedSample draws logits z = scale·N(0, 1) and labels y ~ softmax(z),
// so that softmax(z) is exactly the label distribution: a perfectly
// calibrated predictor.
func calibratedSample(rng *rand.Rand, n, k int, scale float64) (*tensor.Tensor, []int) {
	z := tensor.New(n, k)
	y := make([]int, n)
	p := make([]float64, k)
	for i := 0; i < n; i++ {
		row := z.Data[i*k : (i+1)*k]
		for j := range row {
			row[j] = float32(scale * rng.NormFloat64())
		}
		softmaxInto(p, row, 1)
		u := rng.Float64()
		y[i] = k - 1
		for j, q := range p {
			if u < q {
				y[i] = j
				break
			}
			u -= q
		}
	}
	return z, y
}

func TestECEOfCalibratedPredictorVanishes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var prev float64
	for _, n := range []int{1000, 100000} {
		z, y := calibratedSample(rng, n, 5, 2)
		r, err := Calibrate(z, y, 15)
		if err != nil {
			t.Fatal(err)
		}
		ace, _ := AdaptiveECE(z, y, 15)
		t.Logf("n=%d: ECE %.4f, adaptive %.4f, classwise %.4f", n, r.ECE, ace, r.ClasswiseECE)
		if n == 100000 {
			// The sampling error of ECE is about Σ_b sqrt(n_b·a(1−a))/n ≲ sqrt(B/n)/2 ≈ 0.006.
			if r.ECE > 0.01 || ace > 0.01 || r.ClasswiseECE > 0.01 {
				t.Errorf("n=%d: ECE %v, adaptive %v, classwise %v; want < 0.01 for a calibrated predictor", n, r.ECE, ace, r.ClasswiseECE)
			}
			if r.ECE >= prev {
				t.Errorf("ECE did not shrink with n: %v then %v", prev, r.ECE)
			}
			// The same labels with logits tripled are overconfident: ECE must see it.
			hot := ScaleLogits(z, 1.0/3)
			rh, _ := Calibrate(hot, y, 15)
			if rh.ECE < 0.05 {
				t.Errorf("overconfident predictor has ECE %v, want > 0.05", rh.ECE)
			}
		}
		prev = r.ECE
	}
}

func TestNLLDerivativesInBeta(t *testing.T) {
	z, y := calibratedSample(rand.New(rand.NewPCG(5, 6)), 3000, 6, 3)
	e := nllEvaluator{z: z.Data, labels: y, n: 3000, k: 6}
	for _, beta := range []float64{0.05, 0.7, 1, 4} {
		f, d1, d2 := e.eval(beta)
		if !near(f, meanNLL(z.Data, y, 3000, 6, beta), 1e-12) {
			t.Errorf("β=%v: NLL %v, direct %v", beta, f, meanNLL(z.Data, y, 3000, 6, beta))
		}
		h := 1e-5 * beta
		fp, d1p, _ := e.eval(beta + h)
		fm, d1m, _ := e.eval(beta - h)
		if fd := (fp - fm) / (2 * h); !near(d1, fd, 1e-6*(1+math.Abs(fd))) {
			t.Errorf("β=%v: dNLL/dβ %v, finite difference %v", beta, d1, fd)
		}
		if fd := (d1p - d1m) / (2 * h); !near(d2, fd, 1e-5*(1+math.Abs(fd))) {
			t.Errorf("β=%v: d²NLL/dβ² %v, finite difference %v", beta, d2, fd)
		}
	}
}

func TestFitTemperatureRecoversKnownT(t *testing.T) {
	for _, t0 := range []float64{2.5, 0.4} {
		u, y := calibratedSample(rand.New(rand.NewPCG(7, uint64(t0*10))), 20000, 10, 2)
		// softmax(u) is calibrated, so the logits u·T0 need T = T0.
		z := ScaleLogits(u, 1/t0)
		fit, err := FitTemperature(z, y)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("T0=%v: %+v", t0, fit)
		if !fit.Converged || fit.AtBound || math.Abs(fit.Gradient) > 1e-8 {
			t.Errorf("T0=%v: not converged: %+v", t0, fit)
		}
		if math.Abs(math.Log(fit.Temperature/t0)) > 0.04 {
			t.Errorf("T0=%v: fitted T %v", t0, fit.Temperature)
		}
		if fit.NLL > fit.NLLBefore {
			t.Errorf("T0=%v: NLL rose from %v to %v", t0, fit.NLLBefore, fit.NLL)
		}
		// No T on a fine grid around the fit does better.
		for s := math.Log(fit.Temperature) - 0.3; s <= math.Log(fit.Temperature)+0.3; s += 0.01 {
			if f := meanNLL(z.Data, y, 20000, 10, math.Exp(-s)); f < fit.NLL-1e-12 {
				t.Fatalf("T0=%v: NLL at T=%v is %v < fitted %v", t0, math.Exp(s), f, fit.NLL)
			}
		}
		scaled, _ := Calibrate(ScaleLogits(z, fit.Temperature), y, 15)
		if !near(scaled.NLL, fit.NLL, 1e-6) {
			t.Errorf("NLL of scaled logits %v, fit says %v", scaled.NLL, fit.NLL)
		}
	}
}

func TestFitTemperatureSeparableDataIsAtBound(t *testing.T) {
	// Every prediction right: NLL keeps falling as T → 0, so the minimum is
	// at the lower bound and the fit must say it did not converge inside.
	z := tensor.FromData([]float32{3, 0, 0, 2, 1, 4}, 3, 2)
	fit, err := FitTemperature(z, []int{0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if !fit.AtBound || fit.Converged || !near(fit.Temperature, math.Exp(MinLogTemperature), 1e-12) {
		t.Errorf("fit %+v, want at the lower bound T = e^-5", fit)
	}
	flat, _ := FitTemperature(tensor.New(2, 3), []int{0, 2})
	if !flat.Converged || flat.Temperature != 1 || !near(flat.NLL, math.Log(3), 1e-12) {
		t.Errorf("constant logits: %+v, want T=1, NLL log 3", flat)
	}
}

func TestDisagreementAndEnsemble(t *testing.T) {
	a := tensor.FromData([]float32{10, 0, 0, 1, 2, 1, 0, 0}, 4, 2)    // preds 0 1 0 0
	b := tensor.FromData([]float32{0, 0.1, 0, 1, 0, 1, 1, 0}, 4, 2)   // preds 1 1 1 0
	c := tensor.FromData([]float32{0, 0.1, 1, 0, 0, 1, 0, 0.5}, 4, 2) // preds 1 0 1 1
	m, err := DisagreementMatrix([]*tensor.Tensor{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float64{{0, 0.5, 1}, {0.5, 0, 0.5}, {1, 0.5, 0}}
	for i := range want {
		for j := range want[i] {
			if m[i][j] != want[i][j] {
				t.Errorf("disagreement[%d][%d] = %v, want %v", i, j, m[i][j], want[i][j])
			}
		}
	}
	if d, _ := Disagreement(a, c); d != 1 {
		t.Errorf("Disagreement(a, c) = %v", d)
	}
	// Row 0: a is sure of class 0, b and c lean weakly to 1; the mean
	// probability (1 + .475 + .475)/3 picks 0 although a vote would pick 1.
	p, err := EnsembleProbabilities([]*tensor.Tensor{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	p0 := (1/(1+math.Exp(-10)) + 2/(1+math.Exp(0.1))) / 3
	if !near(float64(p.Data[0]), p0, 1e-6) || !near(float64(p.Data[0]+p.Data[1]), 1, 1e-6) {
		t.Errorf("ensemble p(row 0) = %v, want (%v, %v)", p.Data[:2], p0, 1-p0)
	}
	acc, err := EnsembleAccuracy([]*tensor.Tensor{a, b, c}, []int{0, 1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	// Rows: 0 → class 0 (right); 1 → mean of (.27,.73),(.27,.73),(.73,.27) → 1 (right);
	// 2 → (.73,.27),(.27,.73),(.27,.73) → 1 (right); 3 → (.5,.5),(.73,.27),(.38,.62) → 0 (wrong).
	if acc != 0.75 {
		t.Errorf("ensemble accuracy %v, want 0.75", acc)
	}
	if _, err := DisagreementMatrix([]*tensor.Tensor{a, tensor.New(3, 2)}); err == nil {
		t.Error("models over different examples accepted")
	}
}

func TestSummarizeRobustness(t *testing.T) {
	cells := []CorruptionAccuracy{
		{"noise", 1, 0.9}, {"noise", 2, 0.7}, {"blur", 2, 0.4}, {"blur", 1, 0.6},
	}
	s, err := SummarizeRobustness(cells)
	if err != nil {
		t.Fatal(err)
	}
	if s.Corruptions[0] != "blur" || s.Severities[1] != 2 || s.Table[0][1] != 0.4 || s.Table[1][0] != 0.9 {
		t.Errorf("table %+v", s)
	}
	if !near(s.MeanCorrupted, 0.65, 1e-12) || !near(s.PerCorruption[0], 0.5, 1e-12) ||
		!near(s.PerSeverity[0], 0.75, 1e-12) || !near(s.PerSeverity[1], 0.55, 1e-12) {
		t.Errorf("means %+v", s)
	}
	if _, err := SummarizeRobustness(cells[:3]); err == nil || !strings.Contains(err.Error(), "blur at severity 1 is missing") {
		t.Errorf("incomplete grid: %v", err)
	}
	if _, err := SummarizeRobustness(append(cells, CorruptionAccuracy{"noise", 1, 0.5})); err == nil {
		t.Error("duplicate cell accepted")
	}
	if _, err := SummarizeRobustness([]CorruptionAccuracy{{"noise", 1, 90}}); err == nil {
		t.Error("accuracy in percent accepted")
	}
}

// MeanCorruptedAccuracy weighs every cell once, also on a ragged grid (one
// MNIST-C severity beside five common ones), and checks its cells.
func TestMeanCorruptedAccuracy(t *testing.T) {
	cells := []CorruptionAccuracy{{"fog", 1, 0.5}}
	for sev := 1; sev <= 5; sev++ {
		cells = append(cells, CorruptionAccuracy{"noise", sev, 1 - 0.1*float64(sev)})
	}
	got, err := MeanCorruptedAccuracy(cells)
	// (0.5 + 0.9 + 0.8 + 0.7 + 0.6 + 0.5) / 6 = 4.0 / 6
	if err != nil || !near(got, 4.0/6, 1e-12) {
		t.Errorf("ragged mean = %v (%v); want %v", got, err, 4.0/6)
	}
	if _, err := SummarizeRobustness(cells); err == nil {
		t.Error("SummarizeRobustness accepted a ragged grid")
	}
	square := []CorruptionAccuracy{{"noise", 1, 0.9}, {"noise", 2, 0.7}, {"blur", 2, 0.4}, {"blur", 1, 0.6}}
	s, err := SummarizeRobustness(square)
	if m, err2 := MeanCorruptedAccuracy(square); err != nil || err2 != nil || !near(m, s.MeanCorrupted, 1e-15) {
		t.Errorf("complete grid: mean %v, summary %v (%v, %v)", m, s.MeanCorrupted, err, err2)
	}
	for _, bad := range [][]CorruptionAccuracy{
		nil,
		{{"noise", 1, 0.5}, {"noise", 1, 0.6}},
		{{"", 1, 0.5}},
		{{"noise", 1, math.NaN()}},
		{{"noise", 1, 1.5}},
	} {
		if _, err := MeanCorruptedAccuracy(bad); err == nil {
			t.Errorf("cells %v accepted", bad)
		}
	}
}

// Correct counts what Accuracy averages, ties going to the lower index.
func TestCorrectCounts(t *testing.T) {
	z := tensor.FromData([]float32{
		1, 1, 0, // tie between 0 and 1: predicts 0
		0, 2, 2, // tie between 1 and 2: predicts 1
		3, 0, 1,
	}, 3, 3)
	for _, tc := range []struct {
		labels []int
		want   int
	}{{[]int{0, 1, 0}, 3}, {[]int{1, 2, 0}, 1}, {[]int{2, 0, 1}, 0}} {
		got, err := Correct(z, tc.labels)
		if err != nil || got != tc.want {
			t.Errorf("labels %v: Correct = %d (%v); want %d", tc.labels, got, err, tc.want)
		}
		acc, _ := Accuracy(z, tc.labels)
		if acc != float64(tc.want)/3 {
			t.Errorf("labels %v: Accuracy %v disagrees with Correct %d", tc.labels, acc, got)
		}
	}
	if _, err := Correct(tensor.FromData([]float32{float32(math.NaN()), 0}, 1, 2), []int{0}); err == nil {
		t.Error("NaN logits counted")
	}
}
