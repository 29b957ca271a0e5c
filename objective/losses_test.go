package objective

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// The reference implementations below are written differently from the
// package's: explicit probability vectors, explicit target vectors, the
// textbook BCE with log σ and log(1−σ), explicit Jacobian matrices. They are
// only valid for moderate logits, which is all the comparisons use.

// refProbs is softmax via p_k = 1 / Σ_j exp(z_j − z_k).
func refProbs(z []float64) []float64 {
	p := make([]float64, len(z))
	for k := range z {
		var s float64
		for j := range z {
			s += math.Exp(z[j] - z[k])
		}
		p[k] = 1 / s
	}
	return p
}

// refCE is −Σ_k q_k log p_k with gradient p − q (q sums to 1).
func refCE(z, q []float64) (float64, []float64) {
	p := refProbs(z)
	var l float64
	g := make([]float64, len(z))
	for k := range z {
		l -= q[k] * math.Log(p[k])
		g[k] = p[k] - q[k]
	}
	return l, g
}

func oneHot(k, y int) []float64 {
	t := make([]float64, k)
	t[y] = 1
	return t
}

type refFunc func(z []float64, y int) (float64, []float64)

func refSoftmax(z []float64, y int) (float64, []float64) { return refCE(z, oneHot(len(z), y)) }

func refLabelSmoothing(alpha float64, rescale bool) refFunc {
	return func(z []float64, y int) (float64, []float64) {
		q := make([]float64, len(z))
		for k := range q {
			q[k] = alpha / float64(len(z))
		}
		q[y] += 1 - alpha
		l, g := refCE(z, q)
		if rescale {
			l /= 1 - alpha
			for k := range g {
				g[k] /= 1 - alpha
			}
		}
		return l, g
	}
}

func refSigmoid(offset bool) refFunc {
	return func(z []float64, y int) (float64, []float64) {
		o := 0.0
		if offset {
			o = math.Log(float64(len(z)))
		}
		var l float64
		g := make([]float64, len(z))
		for k, v := range z {
			s := 1 / (1 + math.Exp(-(v - o)))
			t := 0.0
			if k == y {
				t = 1
			}
			l += -(t*math.Log(s) + (1-t)*math.Log(1-s))
			g[k] = s - t
		}
		return l, g
	}
}

func refLogitPenalty(beta float64) refFunc {
	return func(z []float64, y int) (float64, []float64) {
		l, g := refSoftmax(z, y)
		for k, v := range z {
			l += beta / 2 * v * v
			g[k] += beta * v
		}
		return l, g
	}
}

func refLogitNormalization(tau float64) refFunc {
	return func(z []float64, y int) (float64, []float64) {
		var n2 float64
		for _, v := range z {
			n2 += v * v
		}
		n := math.Sqrt(n2)
		u := make([]float64, len(z))
		for k, v := range z {
			u[k] = v / (tau * n)
		}
		l, gu := refSoftmax(u, y)
		// du_i/dz_j = (δ_ij − z_i z_j / n²) / (τ n), applied as a matrix.
		g := make([]float64, len(z))
		for j := range z {
			for i := range z {
				d := 0.0
				if i == j {
					d = 1
				}
				g[j] += gu[i] * (d - z[i]*z[j]/n2) / (tau * n)
			}
		}
		return l, g
	}
}

func refSquaredError(kappa, target, scale float64) refFunc {
	return func(z []float64, y int) (float64, []float64) {
		var l float64
		g := make([]float64, len(z))
		for k, v := range z {
			w, m := 1.0, 0.0
			if k == y {
				w, m = kappa, target
			}
			l += scale * w * (v - m) * (v - m)
			g[k] = scale * w * 2 * (v - m)
		}
		return l, g
	}
}

// refBatch averages a row reference over the batch.
func refBatch(f refFunc, z *tensor.Tensor, labels []int) (float64, []float64) {
	n, k := z.Shape[0], z.Shape[1]
	grad := make([]float64, n*k)
	var total float64
	for i := 0; i < n; i++ {
		row := make([]float64, k)
		for j := range row {
			row[j] = float64(z.Data[i*k+j])
		}
		l, g := f(row, labels[i])
		total += l
		for j := range g {
			grad[i*k+j] = g[j] / float64(n)
		}
	}
	return total / float64(n), grad
}

type lossCase struct {
	obj Objective
	ref refFunc
}

// mustNew builds a registered objective or fails the test.
func mustNew(t testing.TB, name string, params map[string]float64) Objective {
	t.Helper()
	o, err := New(name, params)
	if err != nil {
		t.Fatalf("New(%q, %v): %v", name, params, err)
	}
	return o
}

func lossCases(t *testing.T) []lossCase {
	return []lossCase{
		{mustNew(t, "softmax", nil), refSoftmax},
		{mustNew(t, "label_smoothing", nil), refLabelSmoothing(0.1, true)},
		{mustNew(t, "label_smoothing", map[string]float64{"alpha": 0.3, "rescale": 0}), refLabelSmoothing(0.3, false)},
		{mustNew(t, "sigmoid", nil), refSigmoid(true)},
		{mustNew(t, "sigmoid", map[string]float64{"offset": 0}), refSigmoid(false)},
		{mustNew(t, "logit_penalty", map[string]float64{"beta": 0.05}), refLogitPenalty(0.05)},
		{mustNew(t, "logit_normalization", nil), refLogitNormalization(0.04)},
		{mustNew(t, "logit_normalization", map[string]float64{"tau": 0.5}), refLogitNormalization(0.5)},
		{mustNew(t, "squared_error", nil), refSquaredError(9, 60, 10)},
		{mustNew(t, "squared_error", map[string]float64{"kappa": 2, "target": 5, "scale": 0.5}), refSquaredError(2, 5, 0.5)},
		// The model-changing objectives score their logits with CE.
		{mustNew(t, "extra_final_layer_l2", nil), refSoftmax},
		{mustNew(t, "dropout", nil), refSoftmax},
		{mustNew(t, "cosine_softmax", nil), refSoftmax},
	}
}

func randomLogits(r *rand.Rand, n, k int, scale float64) (*tensor.Tensor, []int) {
	z := tensor.New(n, k)
	for i := range z.Data {
		z.Data[i] = float32(r.NormFloat64() * scale)
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = r.IntN(k)
	}
	return z, labels
}

func TestLossMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range lossCases(t) {
		for _, scale := range []float64{0.5, 4} {
			z, labels := randomLogits(r, 4, 6, scale)
			grad := tensor.New(4, 6)
			got := c.obj.Loss(z, labels, grad)
			want, wantGrad := refBatch(c.ref, z, labels)
			if math.Abs(got-want) > 1e-9*max(1, math.Abs(want)) {
				t.Errorf("%s %v scale %g: loss %.12g, reference %.12g", c.obj.Name(), c.obj.Hyperparams(), scale, got, want)
			}
			gmax := 0.0
			for _, g := range wantGrad {
				gmax = max(gmax, math.Abs(g))
			}
			for i, g := range grad.Data {
				if math.Abs(float64(g)-wantGrad[i]) > 1e-6*max(1, gmax) {
					t.Errorf("%s scale %g: grad[%d] = %g, reference %g", c.obj.Name(), scale, i, g, wantGrad[i])
					break
				}
			}
			if again := c.obj.Loss(z, labels, nil); again != got {
				t.Errorf("%s: loss without gradient %g differs from %g", c.obj.Name(), again, got)
			}
		}
	}
}

// TestRowGradientFiniteDifferences checks every per-example loss's gradient
// against central differences computed in float64.
func TestRowGradientFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range lossCases(t) {
		base, terms := rowParts(t, c.obj)
		f := func(z []float64, y int, g []float64) float64 {
			l := base.rowLoss(z, y, g)
			for _, term := range terms {
				l += term.addRow(z, y, g)
			}
			return l
		}
		for trial := 0; trial < 3; trial++ {
			k := 2 + r.IntN(6)
			z := make([]float64, k)
			for j := range z {
				z[j] = r.NormFloat64() * 3
			}
			y := r.IntN(k)
			g := make([]float64, k)
			f(z, y, g)
			scratch := make([]float64, k)
			for j := range z {
				h := 1e-5 * max(1, math.Abs(z[j]))
				orig := z[j]
				z[j] = orig + h
				lp := f(z, y, scratch)
				z[j] = orig - h
				lm := f(z, y, scratch)
				z[j] = orig
				fd := (lp - lm) / (2 * h)
				if math.Abs(fd-g[j]) > 1e-6*max(1, math.Abs(fd)) {
					t.Errorf("%s K=%d: dℓ/dz[%d] = %.10g, finite difference %.10g", c.obj.Name(), k, j, g[j], fd)
				}
			}
		}
	}
}

// rowParts extracts the float64 row functions behind an objective.
func rowParts(t *testing.T, o Objective) (rowLoss, []rowTerm) {
	switch v := o.(type) {
	case *Composite:
		return v.base, v.terms
	case LogitPenalty:
		return Softmax{}, []rowTerm{v}
	case ExtraFinalLayerL2, Dropout, CosineSoftmax:
		return Softmax{}, nil
	case rowLoss:
		return v, nil
	}
	t.Fatalf("no row function for %T", o)
	return nil, nil
}

type handCase struct {
	name   string
	params map[string]float64
	z      []float32
	y      int
	loss   float64
	grad   []float64
}

func TestHandWorkedValues(t *testing.T) {
	ln3 := math.Log(3)
	s5 := math.Exp(-5) / (1 + math.Exp(-5)) // σ(−5)
	cases := []handCase{
		// z = (0, ln 3): e^z = (1, 3), p = (1/4, 3/4).
		// y = 1: CE = −ln(3/4) = ln(4/3); grad = p − t = (1/4, −1/4).
		{"softmax", nil, []float32{0, float32(ln3)}, 1, math.Log(4.0 / 3), []float64{0.25, -0.25}},
		// y = 0: CE = −ln(1/4) = ln 4; grad = (1/4 − 1, 3/4).
		{"softmax", nil, []float32{0, float32(ln3)}, 0, math.Log(4), []float64{-0.75, 0.75}},
		// α = 0.1, K = 2, y = 1: q = (0.05, 0.95);
		// CE = 0.05·ln 4 + 0.95·ln(4/3), times 1/0.9; grad = (p − q)/0.9 = (0.2, −0.2)/0.9.
		{"label_smoothing", nil, []float32{0, float32(ln3)}, 1,
			(0.05*math.Log(4) + 0.95*math.Log(4.0/3)) / 0.9, []float64{0.2 / 0.9, -0.2 / 0.9}},
		// Same without the rescale.
		{"label_smoothing", map[string]float64{"rescale": 0}, []float32{0, float32(ln3)}, 1,
			0.05*math.Log(4) + 0.95*math.Log(4.0/3), []float64{0.2, -0.2}},
		// Offset log 2: u = (−ln 2, ln 3 − ln 2) = (−ln 2, ln 1.5), σ(u) = (1/3, 3/5).
		// y = 1: −ln(1 − 1/3) − ln(3/5) = ln 1.5 + ln(5/3) = ln 2.5; grad = (1/3, 3/5 − 1).
		{"sigmoid", nil, []float32{0, float32(ln3)}, 1, math.Log(2.5), []float64{1.0 / 3, -0.4}},
		// No offset: σ(z) = (1/2, 3/4); −ln(1/2) − ln(3/4) = ln(8/3); grad = (1/2, −1/4).
		{"sigmoid", map[string]float64{"offset": 0}, []float32{0, float32(ln3)}, 1, math.Log(8.0 / 3), []float64{0.5, -0.25}},
		// CE + β(0² + ln²3)/2; grad = (1/4, −1/4 + β ln 3).
		{"logit_penalty", nil, []float32{0, float32(ln3)}, 1,
			math.Log(4.0/3) + 6e-4*ln3*ln3/2, []float64{0.25, -0.25 + 6e-4*ln3}},
		// z = (3, 4), ‖z‖ = 5, τ = 0.04: u = z/0.2 = (15, 20); CE = ln(1 + e^−5).
		// dℓ/du = (s, −s), s = σ(−5); ẑ = (0.6, 0.8), ẑ·g = −0.2s;
		// (g − ẑ(ẑ·g))/(τ‖z‖) = (1.12s, −0.84s)/0.2 = (5.6s, −4.2s).
		{"logit_normalization", nil, []float32{3, 4}, 1, math.Log1p(math.Exp(-5)), []float64{5.6 * s5, -4.2 * s5}},
		// All-zero logits hit the ε guard: u = 0, CE = ln 4 for K = 4, and
		// dℓ/dz = (p − t)/(τ ε) = (1/4 − t)/(0.04·1e-6).
		{"logit_normalization", nil, []float32{0, 0, 0, 0}, 2, math.Log(4),
			[]float64{0.25 / 4e-8, 0.25 / 4e-8, -0.75 / 4e-8, 0.25 / 4e-8}},
		// z = (1, 2), y = 1: 10·[9·(2 − 60)² + 1²] = 10·(9·3364 + 1) = 302770;
		// grad = (2·10·1, 2·10·9·(2 − 60)) = (20, −10440).
		{"squared_error", nil, []float32{1, 2}, 1, 302770, []float64{20, -10440}},
		// The stack label_smoothing+logit_penalty adds β ln²3 / 2 and β z.
		{"label_smoothing+logit_penalty", nil, []float32{0, float32(ln3)}, 1,
			(0.05*math.Log(4)+0.95*math.Log(4.0/3))/0.9 + 6e-4*ln3*ln3/2, []float64{0.2 / 0.9, -0.2/0.9 + 6e-4*ln3}},
		// sigmoid+logit_penalty adds the term to the sigmoid loss.
		{"sigmoid+logit_penalty", map[string]float64{"beta": 0.1}, []float32{0, float32(ln3)}, 1,
			math.Log(2.5) + 0.1*ln3*ln3/2, []float64{1.0 / 3, -0.4 + 0.1*ln3}},
	}
	for _, c := range cases {
		o := mustNew(t, c.name, c.params)
		z := tensor.FromData(append([]float32(nil), c.z...), 1, len(c.z))
		g := tensor.New(1, len(c.z))
		got := o.Loss(z, []int{c.y}, g)
		if math.Abs(got-c.loss) > 1e-6*max(1, math.Abs(c.loss)) {
			t.Errorf("%s %v z=%v y=%d: loss %.10g, want %.10g", c.name, c.params, c.z, c.y, got, c.loss)
		}
		for j, want := range c.grad {
			if math.Abs(float64(g.Data[j])-want) > 1e-6*max(1, math.Abs(want)) {
				t.Errorf("%s %v z=%v y=%d: grad %v, want %v", c.name, c.params, c.z, c.y, g.Data, c.grad)
				break
			}
		}
	}
}

func TestBatchMean(t *testing.T) {
	// Two copies of the same row: the mean equals the row's loss and each
	// row's gradient is half of the single-row gradient.
	o := mustNew(t, "squared_error", nil)
	one := o.Loss(tensor.FromData([]float32{1, 2}, 1, 2), []int{1}, nil)
	g := tensor.New(2, 2)
	two := o.Loss(tensor.FromData([]float32{1, 2, 1, 2}, 2, 2), []int{1, 1}, g)
	if one != two {
		t.Errorf("mean of two equal rows %g, single row %g", two, one)
	}
	if g.Data[0] != 10 || g.Data[3] != -5220 {
		t.Errorf("gradient of the mean %v, want (10, −5220) per row", g.Data)
	}
}

func TestExtremeLogitsFinite(t *testing.T) {
	z := tensor.FromData([]float32{
		1e4, -1e4, 0, 1e4,
		-1e4, -1e4, -1e4, -1e4,
		1e4, 1e4, 1e4, 1e4,
		-1e4, 1e4, 3, -2,
	}, 4, 4)
	labels := []int{1, 0, 3, 0}
	for _, name := range append(Names(), "label_smoothing+logit_penalty", "sigmoid+logit_penalty+dropout") {
		o := mustNew(t, name, nil)
		g := tensor.New(4, 4)
		l := o.Loss(z, labels, g)
		if math.IsNaN(l) || math.IsInf(l, 0) {
			t.Errorf("%s: loss %g at ±1e4", name, l)
		}
		for i, v := range g.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Errorf("%s: grad[%d] = %g at ±1e4", name, i, v)
				break
			}
		}
	}
	// The values at the extremes are still right, not merely finite.
	// Softmax of (1e4, −1e4): y = 0 costs e^−2e4 ≈ 0, y = 1 costs 2e4.
	sm := Softmax{}
	if l := sm.Loss(tensor.FromData([]float32{1e4, -1e4}, 1, 2), []int{1}, nil); math.Abs(l-2e4) > 1e-6 {
		t.Errorf("softmax(1e4, −1e4), y=1: %g, want 2e4", l)
	}
	// Sigmoid without offset, z = (1e4, −1e4), y = 1: softplus(1e4) + softplus(1e4) = 2e4.
	sg := Sigmoid{}
	if l := sg.Loss(tensor.FromData([]float32{1e4, -1e4}, 1, 2), []int{1}, nil); math.Abs(l-2e4) > 1e-6 {
		t.Errorf("sigmoid(1e4, −1e4), y=1: %g, want 2e4", l)
	}
	// Logit normalization is scale invariant: (3e3, 4e3) scores as (3, 4).
	ln := LogitNormalization{Tau: 0.04}
	a := ln.Loss(tensor.FromData([]float32{3e3, 4e3}, 1, 2), []int{1}, nil)
	b := ln.Loss(tensor.FromData([]float32{3, 4}, 1, 2), []int{1}, nil)
	if math.Abs(a-b) > 1e-12 {
		t.Errorf("logit normalization not scale invariant: %g vs %g", a, b)
	}
}

func TestLossPanicsOnProgrammerErrors(t *testing.T) {
	expectPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	z := tensor.New(2, 3)
	expectPanic("label out of range", func() { Softmax{}.Loss(z, []int{0, 3}, nil) })
	expectPanic("label count", func() { Softmax{}.Loss(z, []int{0}, nil) })
	expectPanic("grad shape", func() { Softmax{}.Loss(z, []int{0, 1}, tensor.New(3, 3)) })
}

func TestLossIndependentOfThreads(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	r := rand.New(rand.NewPCG(15, 16))
	z, labels := randomLogits(r, 37, 11, 3)
	o := mustNew(t, "label_smoothing+logit_penalty", nil)
	var first float64
	var firstGrad []float32
	for _, th := range []int{1, 2, 3, 8} {
		tensor.SetThreads(th)
		g := tensor.New(37, 11)
		l := o.Loss(z, labels, g)
		if firstGrad == nil {
			first, firstGrad = l, g.Data
			continue
		}
		if l != first || !equal32(g.Data, firstGrad) {
			t.Errorf("%d threads: loss %v, 1 thread %v (or gradients differ)", th, l, first)
		}
	}
}
