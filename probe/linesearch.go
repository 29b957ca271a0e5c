package probe

import (
	"errors"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// convexLinesearch is a line search for convex objectives that trusts the
// directional derivative φ'(α) = ∇f(x + αd)·d more than the value φ(α).
//
// The probe computes logits with float32 products: its gradient is accurate
// to ~1e-7 relative, but its value carries rounding of ~1e-8 absolute, which
// near the optimum exceeds the decrease a step achieves, so value-based
// (Armijo) line searches fail there. For a convex φ, any α with φ'(α) ≤ 0
// satisfies φ(α) ≤ φ(0) + α·φ'(α) ≤ φ(0) (the tangent at α lies below φ),
// so decrease is certified by the derivative alone.
//
// A step is accepted when it satisfies the strong Wolfe curvature condition
// |φ'(α)| ≤ c·|φ'(0)| (c = 0.9, the usual choice for quasi-Newton methods)
// and either φ'(α) ≤ 0 or φ(α) ≤ φ(0). Otherwise the root of φ' (which is
// increasing) is bracketed — doubling to ten-folding α by secant
// extrapolation while φ' < c·φ'(0), then safeguarded secant steps inside
// the bracket.
type convexLinesearch struct {
	f0, d0   float64
	step     float64
	lo, dLo  float64 // largest step known to be short (φ' < 0)
	hi, dHi  float64 // smallest step known to overshoot; +Inf if none
	attempts int
}

// The curvature factor c and the evaluations allowed per line search.
const (
	lsCurvature   = 0.9
	lsMaxAttempts = 20
)

var errLinesearch = errors.New("probe: line search found no acceptable step in 20 evaluations")

// Init starts a line search from φ(0) = value, φ'(0) = derivative < 0 with
// the first trial step (optimize.Linesearcher).
func (ls *convexLinesearch) Init(value, derivative, step float64) optimize.Operation {
	ls.f0, ls.d0, ls.step = value, derivative, step
	ls.lo, ls.dLo = 0, derivative
	ls.hi, ls.dHi = math.Inf(1), math.NaN()
	ls.attempts = 0
	return optimize.FuncEvaluation | optimize.GradEvaluation
}

// Iterate takes φ and φ' at the last trial step and accepts it or returns
// the next step to try (optimize.Linesearcher).
func (ls *convexLinesearch) Iterate(value, derivative float64) (optimize.Operation, float64, error) {
	ls.attempts++
	a, d := ls.step, derivative
	finite := !math.IsNaN(value) && !math.IsInf(value, 0) && !math.IsNaN(d) && !math.IsInf(d, 0)
	if finite && math.Abs(d) <= lsCurvature*math.Abs(ls.d0) && (d <= 0 || value <= ls.f0) {
		return optimize.MajorIteration, a, nil
	}
	if ls.attempts >= lsMaxAttempts {
		return optimize.NoOperation, 0, errLinesearch
	}
	if finite && d < 0 {
		ls.lo, ls.dLo = a, d
	} else {
		ls.hi, ls.dHi = a, d
		if !finite {
			ls.dHi = math.NaN()
		}
	}
	var next float64
	switch {
	case math.IsInf(ls.hi, 1):
		// Still descending steeply: extrapolate the root of φ' from the two
		// lowest points, between 2× and 10× the current step.
		next = 2 * a
		if ls.lo > 0 && ls.dLo != ls.d0 {
			// Secant through (0, φ'(0)) and (lo, φ'(lo)).
			if r := ls.lo * ls.d0 / (ls.d0 - ls.dLo); r > next {
				next = math.Min(r, 10*a)
			}
		}
	default:
		width := ls.hi - ls.lo
		next = ls.lo + 0.5*width
		if !math.IsNaN(ls.dHi) && ls.dHi > ls.dLo {
			next = ls.lo - ls.dLo*width/(ls.dHi-ls.dLo)
		}
		// Keep the new point well inside the bracket so that it shrinks.
		next = math.Min(math.Max(next, ls.lo+0.1*width), ls.hi-0.1*width)
	}
	ls.step = next
	return optimize.FuncEvaluation | optimize.GradEvaluation, next, nil
}
