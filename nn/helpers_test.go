package nn

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// randTensor returns a tensor of N(0, 1) values from a fixed stream.
func randTensor(seed uint64, shape ...int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64())
	}
	return t
}

// dot64 is Σ r_i·y_i in float64: the scalar loss of the gradient checks,
// whose gradient with respect to the output is exactly r.
func dot64(r, y []float32) float64 {
	var s float64
	for i := range r {
		s += float64(r[i]) * float64(y[i])
	}
	return s
}

// gradCheck compares the analytic gradients of L = Σ r ⊙ f(x) (r fixed and
// random) with float64 central differences (L(θ+ε) − L(θ−ε))/2ε, for every
// element of the input (when checkInput) and of each trainable parameter, or
// a random subset of at most maxPer elements of each (preferring entries
// with a non-zero analytic gradient, plus one drawn from all).
//
// Tolerance. An entry passes when |num − ana| ≤ rtol·(|ana| + max|ana|) +
// atol/ε, max|ana| taken over the checked entries of that tensor. The rtol
// term absorbs the O(ε²) truncation error of smooth functions (BatchNorm's
// batch statistics); the default 1e-3 is ~50× the errors seen with correct
// code on single layers and ~100× smaller than the error of a gradient
// missing one term. atol bounds the float32 rounding noise of L, which the
// quotient divides by ε: at least 4·u·Σ|r_i y_i| (u = 2⁻²⁴: each output off
// by one rounding in each of the two evaluations, doubled), and at least
// noiseFactor times the noise measured on this very function (the quotient's
// error is at most twice it, plus margin for noise beyond the samples): the largest second
// difference |L(θ+h) + L(θ−h) − 2L(θ)|/2 over noiseSamples random entries with h = ε/100.
// A step that small leaves only h²·L” ≈ 10⁻⁴ of the curvature that the
// quotient's ε sees, yet moves the input of every downstream rounding, so
// what remains is the rounding noise. Deep float32 networks accumulate tens
// of ulps of it, far above the one-rounding bound.
type gradCheck struct {
	eps        float64
	rtol       float64
	maxPer     int
	checkInput bool
	train      bool
	seed       uint64
	// kinks, when set, fingerprints the discrete choices of the last
	// forward pass (ReLU masks, max-pool winners). An entry whose ±ε
	// evaluations change it straddles a kink, where a difference quotient
	// is not a derivative: it is retried with ε/4 and ε/16 and skipped if
	// it still straddles one. At most half the entries of a tensor may be
	// skipped.
	kinks func() uint64
}

func defaultCheck() gradCheck {
	return gradCheck{eps: 1e-2, rtol: 1e-3, maxPer: 40, checkInput: true, train: true, seed: 1}
}

type target struct {
	name string
	val  []float32
	ana  []float32
}

// probe is one checked entry.
type probe struct {
	tg       *target
	i        int
	num      float64 // difference quotient
	eps      float64 // step used
	roundTol float64 // 4·u·Σ|r y|
	skip     bool
}

// run checks layer f at input x.
func (gc gradCheck) run(t *testing.T, f Layer, x *tensor.Tensor) {
	t.Helper()
	fwd := func() *tensor.Tensor { return f.Forward(x, gc.train) }
	y := fwd()
	r := randTensor(gc.seed+100, y.Shape...)
	dy := tensor.FromData(append([]float32(nil), r.Data...), r.Shape...)
	fwd()
	dx := f.Backward(dy)
	var targets []*target
	if gc.checkInput {
		if dx == nil {
			t.Fatalf("Backward returned no input gradient")
		}
		if !slices.Equal(dx.Shape, x.Shape) {
			t.Fatalf("input gradient shape %v, input %v", dx.Shape, x.Shape)
		}
		targets = append(targets, &target{"input", x.Data, append([]float32(nil), dx.Data...)})
	}
	for _, p := range f.Params() {
		if p.Kind == Buffer {
			if p.Grad != nil {
				t.Errorf("buffer %s has a gradient slice", p.Name)
			}
			continue
		}
		targets = append(targets, &target{p.Name, p.Value, append([]float32(nil), p.Grad...)})
	}
	loss := func() (float64, float64) {
		y := fwd()
		var abs float64
		for i := range r.Data {
			abs += math.Abs(float64(r.Data[i]) * float64(y.Data[i]))
		}
		return dot64(r.Data, y.Data), abs
	}
	l0, _ := loss()
	var base uint64
	if gc.kinks != nil {
		base = gc.kinks()
	}
	rng := rand.New(rand.NewPCG(gc.seed, 99))
	var probes []*probe
	byTarget := map[*target][]*probe{}
	for _, tg := range targets {
		var nonzero []int
		for i, g := range tg.ana {
			if g != 0 {
				nonzero = append(nonzero, i)
			}
		}
		if len(nonzero) == 0 {
			// An all-zero gradient would pass vacuously; every tensor we
			// check influences the loss.
			t.Errorf("%s: analytic gradient is zero everywhere", tg.name)
			continue
		}
		idx := pickIndices(rng, len(nonzero), gc.maxPer)
		for k := range idx {
			idx[k] = nonzero[idx[k]]
		}
		if extra := rng.IntN(len(tg.val)); !slices.Contains(idx, extra) {
			idx = append(idx, extra)
		}
		for _, i := range idx {
			pr := gc.probe(tg, i, loss, l0, base)
			probes = append(probes, pr)
			byTarget[tg] = append(byTarget[tg], pr)
		}
	}
	noise := gc.noise(rng, targets, loss, l0, base)
	for _, tg := range targets {
		prs := byTarget[tg]
		skipped := 0
		var scale float64
		for _, pr := range prs {
			scale = max(scale, math.Abs(float64(tg.ana[pr.i])))
			if pr.skip {
				skipped++
			}
		}
		if skipped*2 > len(prs) {
			t.Errorf("%s: %d of %d entries straddle kinks at every step size", tg.name, skipped, len(prs))
		}
		worst := 0.0
		for _, pr := range prs {
			if pr.skip {
				continue
			}
			a := float64(tg.ana[pr.i])
			tol := gc.rtol*(math.Abs(a)+scale) + max(pr.roundTol, noiseFactor*noise)/pr.eps
			d := math.Abs(pr.num - a)
			worst = max(worst, d/tol)
			if d > tol || math.IsNaN(d) {
				t.Errorf("%s[%d]: analytic %.6g, numeric %.6g (|diff| %.3g > tol %.3g)", tg.name, pr.i, a, pr.num, d, tol)
			}
		}
		if testing.Verbose() {
			t.Logf("%s: worst |diff|/tol %.3f, max|grad| %.2g, %d checked, %d skipped", tg.name, worst, scale, len(prs), skipped)
		}
	}
	if testing.Verbose() {
		t.Logf("measured loss noise %.3g (|L| %.3g)", noise, math.Abs(l0))
	}
}

// noise measures the rounding noise of the loss (see gradCheck).
// noiseSamples and noiseFactor size the rounding-noise allowance: the
// largest of noiseSamples second differences, times noiseFactor. With 8
// samples and a factor 3, deep models (resnet50 in eval mode, resnet20 in
// training mode) failed by a few percent of the tolerance under the pure-Go
// GEMM kernel, whose rounding differs from the AVX2 one: a maximum over few
// samples underestimates the noise's tail. The rtol term, which catches
// gradients that are wrong by a fraction, is unaffected.
const (
	noiseSamples = 24
	noiseFactor  = 5
)

func (gc gradCheck) noise(rng *rand.Rand, targets []*target, loss func() (float64, float64), l0 float64, base uint64) float64 {
	var noise float64
	if len(targets) == 0 {
		return 0
	}
	h := float32(gc.eps / 100)
	for j := 0; j < noiseSamples; j++ {
		tg := targets[rng.IntN(len(targets))]
		i := rng.IntN(len(tg.val))
		old := tg.val[i]
		tg.val[i] = old + h
		lp, _ := loss()
		kp := gc.kinks == nil || gc.kinks() == base
		tg.val[i] = old - h
		lm, _ := loss()
		km := gc.kinks == nil || gc.kinks() == base
		tg.val[i] = old
		if kp && km {
			noise = max(noise, math.Abs(lp+lm-2*l0)/2)
		}
	}
	return noise
}

// probe computes the difference quotient of entry i of tg, shrinking the step
// while it straddles a kink.
func (gc gradCheck) probe(tg *target, i int, loss func() (float64, float64), l0 float64, base uint64) *probe {
	pr := &probe{tg: tg, i: i}
	old := tg.val[i]
	defer func() { tg.val[i] = old }()
	for try, eps := 0, gc.eps; ; try, eps = try+1, eps/4 {
		smooth := true
		tg.val[i] = old + float32(eps)
		lp, ap := loss()
		if gc.kinks != nil && gc.kinks() != base {
			smooth = false
		}
		tg.val[i] = old - float32(eps)
		lm, am := loss()
		if gc.kinks != nil && gc.kinks() != base {
			smooth = false
		}
		// The perturbation actually applied, after float32 rounding.
		h := float64(old+float32(eps)) - float64(old-float32(eps))
		pr.num, pr.eps = (lp-lm)/h, h/2
		pr.roundTol = 4 * math.Pow(2, -24) * max(ap, am)
		if smooth {
			return pr
		}
		if try == 2 {
			pr.skip = true
			return pr
		}
	}
}

// pickIndices returns all of [0, n) when n ≤ k, else k distinct random
// indices.
func pickIndices(r *rand.Rand, n, k int) []int {
	if n <= k {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	return r.Perm(n)[:k]
}

// assertClose checks got against a float64 reference with a tolerance
// relative to the reference's largest magnitude (float32 outputs of short
// sums: 1e-5 relative is ~100 ulps).
func assertClose(t *testing.T, what string, got []float32, want []float64, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	tol := rel * max(scale, 1e-30)
	bad := 0
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol || math.IsNaN(d) {
			if bad < 5 {
				t.Errorf("%s[%d] = %.7g, want %.7g", what, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values off (tol %.3g)", what, bad, len(got), tol)
	}
}

// convRef is a direct-loop float64 convolution of an NHWC input with a
// [kh, kw, cin, cout] kernel, zero padding.
func convRef(x *tensor.Tensor, w []float32, bias []float32, kh, kw, cout, sh, sw, ph, pw int) ([]float64, []int) {
	n, h, wd, cin := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho, wo := (h+2*ph-kh)/sh+1, (wd+2*pw-kw)/sw+1
	out := make([]float64, n*ho*wo*cout)
	for b := 0; b < n; b++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				for co := 0; co < cout; co++ {
					var s float64
					if bias != nil {
						s = float64(bias[co])
					}
					for ky := 0; ky < kh; ky++ {
						for kx := 0; kx < kw; kx++ {
							iy, ix := oy*sh-ph+ky, ox*sw-pw+kx
							if iy < 0 || iy >= h || ix < 0 || ix >= wd {
								continue
							}
							for ci := 0; ci < cin; ci++ {
								s += float64(x.Data[((b*h+iy)*wd+ix)*cin+ci]) * float64(w[((ky*kw+kx)*cin+ci)*cout+co])
							}
						}
					}
					out[((b*ho+oy)*wo+ox)*cout+co] = s
				}
			}
		}
	}
	return out, []int{n, ho, wo, cout}
}

// bnTrainRef normalises each channel of a [rows, c] float64 array with the
// batch mean and biased variance, then applies γ, β.
func bnTrainRef(x []float64, c int, gamma, beta []float32, eps float64) (y, mean, biasedVar []float64) {
	rows := len(x) / c
	mean, biasedVar = make([]float64, c), make([]float64, c)
	for r := 0; r < rows; r++ {
		for j := 0; j < c; j++ {
			mean[j] += x[r*c+j]
		}
	}
	for j := range mean {
		mean[j] /= float64(rows)
	}
	for r := 0; r < rows; r++ {
		for j := 0; j < c; j++ {
			d := x[r*c+j] - mean[j]
			biasedVar[j] += d * d
		}
	}
	for j := range biasedVar {
		biasedVar[j] /= float64(rows)
	}
	y = make([]float64, len(x))
	for r := 0; r < rows; r++ {
		for j := 0; j < c; j++ {
			y[r*c+j] = float64(gamma[j])*(x[r*c+j]-mean[j])/math.Sqrt(biasedVar[j]+eps) + float64(beta[j])
		}
	}
	return y, mean, biasedVar
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func relu64(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = max(v, 0)
	}
	return y
}

func name(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// kinkSignature hashes the discrete choices of l's last forward pass: which
// ReLU outputs are positive and which inputs won each max pool.
func kinkSignature(l Layer) uint64 {
	h := fnv.New64a()
	var walk func(l Layer)
	mask := func(y *tensor.Tensor) {
		var b [1]byte
		for _, v := range y.Data {
			b[0] = 0
			if v > 0 {
				b[0] = 1
			}
			h.Write(b[:])
		}
	}
	walk = func(l Layer) {
		switch l := l.(type) {
		case modelLayer:
			for _, s := range l.m.Body {
				walk(s.Layer)
			}
			walk(l.m.Head)
		case subsetLayer:
			walk(l.Layer)
		case *Sequential:
			for _, s := range l.Layers {
				walk(s)
			}
		case *BasicBlock:
			walk(l.BN1)
			walk(l.BN2)
		case *Bottleneck:
			walk(l.BN1)
			walk(l.BN2)
			walk(l.BN3)
		case *BatchNorm:
			if l.ReLU {
				mask(l.y)
			}
		case *Conv2d:
			if l.ReLU {
				mask(l.y)
			}
		case *Linear:
			if l.ReLU {
				mask(l.y)
			}
		case *ReLU:
			mask(l.y)
		case *MaxPool:
			for _, a := range l.argmax {
				var b [4]byte
				binary.LittleEndian.PutUint32(b[:], uint32(a))
				h.Write(b[:])
			}
		}
	}
	walk(l)
	return h.Sum64()
}
