package metrics

import (
	"math"

	"github.com/losslab/losslab/tensor"
)

// The temperature search interval in log T: T from e^−5 ≈ 0.0067 to
// e^5 ≈ 148, wider than any calibration fix seen in practice (Guo et al.
// 2017 report T between 1 and 3).
const (
	MinLogTemperature = -5.0
	MaxLogTemperature = 5.0
)

// TemperatureMethod names the fitting method, for reports.
const TemperatureMethod = "safeguarded Newton/bisection on dNLL/dlogT over log T in [-5, 5]; NLL is convex in 1/T, so its derivative changes sign once"

// TemperatureFit is the result of FitTemperature.
type TemperatureFit struct {
	// Temperature T minimising the mean NLL of softmax(z/T) on the fitting set.
	Temperature float64 `json:"temperature"`
	// NLL is the mean NLL at Temperature; NLLBefore at T = 1.
	NLL       float64 `json:"nll"`
	NLLBefore float64 `json:"nll_before"`
	// Gradient is dNLL/d(log T) at Temperature: near 0 at an interior
	// minimum.
	Gradient float64 `json:"gradient"`
	// Converged reports an interior minimum found to tolerance. It is false
	// when the minimum lies at or beyond a bound of the interval (AtBound) or
	// the iteration limit was reached.
	Converged  bool   `json:"converged"`
	AtBound    bool   `json:"at_bound"`
	Iterations int    `json:"iterations"`
	Method     string `json:"method"`
}

// FitTemperature fits temperature scaling (Guo et al. 2017): the one scalar
// T > 0 minimising NLL(T) = mean_i [log Σ_j exp(z_ij/T) − z_iy/T] over
// held-out logits, searched over log T in [MinLogTemperature,
// MaxLogTemperature].
//
// NLL is not always convex in log T, but it is convex in β = 1/T (a
// log-sum-exp of functions linear in β, minus a linear term), so its
// derivative changes sign at most once along log T as well. The search
// brackets that sign change and narrows it with Newton steps on
// dNLL/d(log T) using exact first and second derivatives, falling back to
// bisection whenever a step would leave the bracket or shrink it too
// slowly; it therefore always converges to the global minimum within the
// interval. Convergence: |dNLL/d(log T)| ≤ 1e-10 or the bracket narrower
// than 1e-10 in log T. When every row's logits are all equal, NLL does not
// depend on T and T = 1 is returned (Converged, Gradient 0).
func FitTemperature(logits *tensor.Tensor, labels []int) (TemperatureFit, error) {
	n, k, err := checkLogits("temperature scaling", logits, labels)
	if err != nil {
		return TemperatureFit{}, err
	}
	e := nllEvaluator{z: logits.Data, labels: labels, n: n, k: k}
	fit := TemperatureFit{Method: TemperatureMethod}
	fit.NLLBefore, _, _ = e.eval(1)

	// Work in u = log β = −log T, where dNLL/du = β·dNLL/dβ has the sign of
	// dNLL/dβ, which increases with β.
	done := func(u float64) TemperatureFit {
		beta := math.Exp(u)
		f, d1, _ := e.eval(beta)
		fit.Temperature = 1 / beta
		fit.NLL = f
		fit.Gradient = -beta * d1
		return fit
	}
	lo, hi := -MaxLogTemperature, -MinLogTemperature
	_, dLo, _ := e.eval(math.Exp(lo))
	_, dHi, _ := e.eval(math.Exp(hi))
	fit.Iterations = 2
	switch {
	case dLo >= 0 && dHi <= 0: // flat: NLL is the same at every T
		fit.Converged = true
		return done(0), nil
	case dLo >= 0: // NLL grows with β everywhere: minimum at the largest T
		fit.AtBound = true
		return done(lo), nil
	case dHi <= 0: // minimum at the smallest T (data nearly separable)
		fit.AtBound = true
		return done(hi), nil
	}
	const tol = 1e-10
	u := 0.0
	prevStep := hi - lo
	step := prevStep
	for fit.Iterations < 200 {
		beta := math.Exp(u)
		_, d1, d2 := e.eval(beta)
		fit.Iterations++
		g := beta * d1                   // dNLL/du
		gPrime := beta*d1 + beta*beta*d2 // d²NLL/du²
		if math.Abs(g) <= tol {
			fit.Converged = true
			return done(u), nil
		}
		if g < 0 {
			lo = u
		} else {
			hi = u
		}
		if hi-lo <= tol {
			fit.Converged = true
			return done(u), nil
		}
		// rtsafe (Numerical Recipes §9.4): take the Newton step when it stays
		// inside the bracket and at least halves the step before last.
		newton := u - g/gPrime
		if gPrime > 0 && newton > lo && newton < hi && math.Abs(newton-u) < 0.5*math.Abs(prevStep) {
			prevStep, step = step, newton-u
			u = newton
		} else {
			prevStep, step = step, 0.5*(hi-lo)
			u = 0.5 * (lo + hi)
		}
		if math.Abs(step) <= tol*1e-2 {
			fit.Converged = true
			return done(u), nil
		}
	}
	return done(u), nil
}

// ScaleLogits returns the logits divided by temperature t, as a new tensor.
func ScaleLogits(logits *tensor.Tensor, t float64) *tensor.Tensor {
	out := tensor.New(logits.Shape...)
	inv := 1 / t
	for i, v := range logits.Data {
		out.Data[i] = float32(float64(v) * inv)
	}
	return out
}

// nllEvaluator computes the mean NLL of softmax(β·z) and its first two
// derivatives in β, over fixed blocks of rows run in parallel; block sums
// are added in block order, so the result does not depend on the thread
// count.
type nllEvaluator struct {
	z      []float32
	labels []int
	n, k   int
}

const nllBlockRows = 1024

// eval returns NLL(β), dNLL/dβ = mean(E_p[z] − z_y) and
// d²NLL/dβ² = mean Var_p[z] ≥ 0, where p = softmax(β·z).
func (e *nllEvaluator) eval(beta float64) (f, d1, d2 float64) {
	blocks := (e.n + nllBlockRows - 1) / nllBlockRows
	partial := make([][3]float64, blocks)
	tensor.ParallelFor(blocks, func(b0, b1 int) {
		for b := b0; b < b1; b++ {
			var s [3]float64
			for i := b * nllBlockRows; i < min(e.n, (b+1)*nllBlockRows); i++ {
				row := e.z[i*e.k : (i+1)*e.k]
				m := math.Inf(-1)
				for _, v := range row {
					m = math.Max(m, float64(v))
				}
				// Shift by the row maximum: E_p[z] and Var_p[z] are shift
				// invariant and the exponentials stay in range.
				var sum, ez, ez2 float64
				for _, v := range row {
					d := float64(v) - m
					w := math.Exp(beta * d)
					sum += w
					ez += w * d
					ez2 += w * d * d
				}
				ez /= sum
				ez2 /= sum
				zy := float64(row[e.labels[i]]) - m
				s[0] += math.Log(sum) - beta*zy
				s[1] += ez - zy
				s[2] += math.Max(ez2-ez*ez, 0)
			}
			partial[b] = s
		}
	})
	for _, s := range partial {
		f += s[0]
		d1 += s[1]
		d2 += s[2]
	}
	inv := 1 / float64(e.n)
	return f * inv, d1 * inv, d2 * inv
}
