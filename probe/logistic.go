// Package probe measures how well frozen features transfer: an
// L2-regularised multinomial logistic-regression probe fitted with L-BFGS,
// its regulariser chosen on a validation split, and a cosine k-nearest-
// neighbour probe (docs/definitions.md#transfer). Features are plain matrices
// [examples, features] (float32, row-major), so features exported from any
// framework are probed the same way.
package probe

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"

	"github.com/losslab/losslab/tensor"
)

// Logistic is a fitted multinomial logistic-regression probe:
// p(y = k | x) = softmax(W·s(x) + b)_k with s the standardisation
// s(x)_j = (x_j − Mean_j)·Scale_j.
type Logistic struct {
	Classes, Dim int
	W            []float32 // [Classes, Dim], row-major
	B            []float32 // [Classes]
	Mean, Scale  []float64 // [Dim]: the standardisation s
}

// Predict returns the predicted class (argmax, lowest index among ties) of
// each row of the raw (unstandardised) features x [examples, Dim].
func (m *Logistic) Predict(x *tensor.Tensor) ([]int, error) {
	if err := checkFeatures("predict", x, m.Dim); err != nil {
		return nil, err
	}
	n := x.Shape[0]
	z := logits(standardise(x, m.Mean, m.Scale).Data, n, m.Dim, m.W, m.Classes)
	out := make([]int, n)
	for i := range out {
		best, bestZ := 0, float32(math.Inf(-1))
		for k, v := range z[i*m.Classes : (i+1)*m.Classes] {
			if v += m.B[k]; v > bestZ {
				best, bestZ = k, v
			}
		}
		out[i] = best
	}
	return out, nil
}

// logits returns X·Wᵀ [n, classes] (bias not added) for features x [n, dim]
// and weights w [classes, dim]. With X as the left operand and only
// classes columns on the right, the GEMM reads X in place.
func logits(x []float32, n, dim int, w []float32, classes int) []float32 {
	z := make([]float32, n*classes)
	tensor.Gemm(false, true, n, classes, dim, 1, x, dim, w, dim, 0, z, classes)
	return z
}

// FitOptions controls one L-BFGS fit.
type FitOptions struct {
	// GradTol stops the fit when the largest absolute component of the
	// objective's gradient is at most GradTol (default 1e-5).
	GradTol float64
	// MaxIter bounds the L-BFGS iterations (default 1000).
	MaxIter int
}

func (o FitOptions) withDefaults() FitOptions {
	if o.GradTol <= 0 {
		o.GradTol = 1e-5
	}
	if o.MaxIter <= 0 {
		o.MaxIter = 1000
	}
	return o
}

// FitInfo reports how one fit ended.
type FitInfo struct {
	Objective  float64 `json:"objective"`     // at the returned parameters
	GradNorm   float64 `json:"grad_inf_norm"` // largest |component| of the gradient there
	Iterations int     `json:"iterations"`    // L-BFGS iterations
	Evals      int     `json:"evaluations"`   // objective and gradient evaluations
	// Converged reports GradNorm ≤ FitOptions.GradTol.
	Converged bool   `json:"converged"`
	Status    string `json:"status"` // gonum's termination status, and its error if any
}

// logisticObjective is the probe's training objective on standardised
// features x [n, dim] with labels y:
//
//	L(W, b) = (1/n)·Σ_i −log softmax(W x_i + b)_{y_i} + (λ/2)·‖W‖²_F
//
// (the bias is not penalised). Its gradient is ∇_W = (1/n)·(P − T)ᵀX + λW,
// ∇_b = (1/n)·Σ_i (p_i − t_i). The two products use tensor.Gemm in float32
// with X as the left operand (Z = X·Wᵀ and ∇_Wᵀ = Xᵀ·R): with a narrow
// right operand (classes columns) the GEMM reads X in place instead of
// packing it, and X (n × dim) is by far the largest array. The loss and the
// bias gradient are summed in float64 over fixed row blocks, so results do
// not depend on the thread count. Parameters are one float64 vector: W
// row-major, then b.
type logisticObjective struct {
	x               []float32
	y               []int
	n, dim, classes int
	lambda          float64

	w32   []float32 // [classes, dim]
	z     []float32 // [n, classes]: logits, then (P − T)/n
	gt    []float32 // [dim, classes]: ∇_Wᵀ of the mean loss
	gradB []float64
	loss  float64 // mean cross-entropy at at
	at    []float64
	valid bool
	evals int

	blockLoss  []float64
	blockGradB []float64
}

const rowBlock = 512

func newLogisticObjective(x []float32, y []int, n, dim, classes int) *logisticObjective {
	blocks := (n + rowBlock - 1) / rowBlock
	return &logisticObjective{
		x: x, y: y, n: n, dim: dim, classes: classes,
		w32: make([]float32, classes*dim), z: make([]float32, n*classes),
		gt: make([]float32, dim*classes), gradB: make([]float64, classes),
		at:        make([]float64, classes*dim+classes),
		blockLoss: make([]float64, blocks), blockGradB: make([]float64, blocks*classes),
	}
}

// evaluate computes the mean cross-entropy at params and leaves (P − T)/n
// in z and its column sums in gradB, unless they are already for params.
func (o *logisticObjective) evaluate(params []float64) {
	if o.valid && equal(o.at, params) {
		return
	}
	copy(o.at, params)
	o.evals++
	nw := o.classes * o.dim
	for i, v := range params[:nw] {
		o.w32[i] = float32(v)
	}
	bias := params[nw:]
	n, k := o.n, o.classes
	tensor.Gemm(false, true, n, k, o.dim, 1, o.x, o.dim, o.w32, o.dim, 0, o.z, k)
	blocks := len(o.blockLoss)
	invN := 1 / float64(n)
	tensor.ParallelFor(blocks, func(b0, b1 int) {
		e := make([]float64, k)
		for b := b0; b < b1; b++ {
			var loss float64
			gb := o.blockGradB[b*k : (b+1)*k]
			clear(gb)
			for i := b * rowBlock; i < min(n, (b+1)*rowBlock); i++ {
				row := o.z[i*k : (i+1)*k]
				m := math.Inf(-1)
				for c, v := range row {
					e[c] = float64(v) + bias[c]
					m = math.Max(m, e[c])
				}
				y := o.y[i]
				zy := e[y] - m
				var s float64
				for c := range e {
					e[c] = math.Exp(e[c] - m)
					s += e[c]
				}
				// −log p_y = log Σ_c exp(z_c − m) − (z_y − m).
				loss += math.Log(s) - zy
				inv := 1 / s
				for c := range e {
					r := e[c] * inv
					if c == y {
						r--
					}
					gb[c] += r
					row[c] = float32(r * invN)
				}
			}
			o.blockLoss[b] = loss
		}
	})
	o.loss = 0
	clear(o.gradB)
	for b := 0; b < blocks; b++ {
		o.loss += o.blockLoss[b]
		for c := 0; c < k; c++ {
			o.gradB[c] += o.blockGradB[b*k+c]
		}
	}
	o.loss *= invN
	for c := range o.gradB {
		o.gradB[c] *= invN
	}
	o.valid = true
}

func equal(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Func is the objective L(W, b).
func (o *logisticObjective) Func(params []float64) float64 {
	o.evaluate(params)
	var sq float64
	for _, v := range params[:o.classes*o.dim] {
		sq += v * v
	}
	return o.loss + 0.5*o.lambda*sq
}

// Grad writes ∇L(W, b) into grad.
func (o *logisticObjective) Grad(grad, params []float64) {
	o.evaluate(params)
	nw := o.classes * o.dim
	k := o.classes
	tensor.Gemm(true, false, o.dim, k, o.n, 1, o.x, o.dim, o.z, k, 0, o.gt, k)
	for c := 0; c < k; c++ {
		for j := 0; j < o.dim; j++ {
			i := c*o.dim + j
			grad[i] = float64(o.gt[j*k+c]) + o.lambda*params[i]
		}
	}
	copy(grad[nw:], o.gradB)
}

// fit minimises the objective at λ from init (nil: zeros) with L-BFGS
// (gonum/optimize, 10 correction pairs, convexLinesearch) and returns the
// parameters.
func (o *logisticObjective) fit(lambda float64, init []float64, opts FitOptions) ([]float64, FitInfo, error) {
	opts = opts.withDefaults()
	o.lambda = lambda
	o.valid = false
	o.evals = 0
	x0 := make([]float64, o.classes*o.dim+o.classes)
	if init != nil {
		copy(x0, init)
	}
	settings := &optimize.Settings{
		GradientThreshold: opts.GradTol,
		MajorIterations:   opts.MaxIter,
		// Stop when 20 iterations in a row gain less than 1e-12 relative: the
		// float32 logits make smaller changes noise.
		Converger: &optimize.FunctionConverge{Relative: 1e-12, Absolute: 1e-14, Iterations: 20},
	}
	method := &optimize.LBFGS{Store: 10, Linesearcher: &convexLinesearch{}}
	res, err := optimize.Minimize(optimize.Problem{Func: o.Func, Grad: o.Grad}, x0, settings, method)
	if res == nil {
		return nil, FitInfo{}, fmt.Errorf("logistic probe: L-BFGS failed at λ=%g: %v", lambda, err)
	}
	info := FitInfo{
		Objective: res.F, Iterations: res.MajorIterations, Evals: o.evals, Status: res.Status.String(),
	}
	for _, g := range res.Gradient {
		info.GradNorm = math.Max(info.GradNorm, math.Abs(g))
	}
	if math.IsNaN(res.F) || math.IsInf(res.F, 0) {
		return nil, info, fmt.Errorf("logistic probe: objective is %v at λ=%g", res.F, lambda)
	}
	info.Converged = res.Status == optimize.GradientThreshold || info.GradNorm <= opts.GradTol
	if err != nil && !info.Converged {
		// A line search that cannot improve any more (the float32 logits'
		// rounding) ends the fit at the best point found; report, not fail.
		info.Status += ": " + err.Error()
	}
	return res.X, info, nil
}

// checkFeatures validates a feature matrix; dim < 0 accepts any width.
func checkFeatures(name string, x *tensor.Tensor, dim int) error {
	if x == nil || len(x.Shape) != 2 {
		var shape []int
		if x != nil {
			shape = x.Shape
		}
		return fmt.Errorf("%s: features have shape %v, want 2-D [examples, features]", name, shape)
	}
	if x.Shape[0] == 0 || x.Shape[1] == 0 {
		return fmt.Errorf("%s: features have shape %v, want at least one example and one feature", name, x.Shape)
	}
	if dim >= 0 && x.Shape[1] != dim {
		return fmt.Errorf("%s: features have %d columns, want %d", name, x.Shape[1], dim)
	}
	p := x.Shape[1]
	for i, v := range x.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: feature [%d, %d] is %v; want finite values", name, i/p, i%p, v)
		}
	}
	return nil
}

// standardisation returns per-column mean and scale = 1/std (population
// standard deviation, as scikit-learn's StandardScaler; scale 1 for a
// constant column) of the given rows of x, summed in float64.
func standardisation(x *tensor.Tensor, rows []int) (mean, scale []float64) {
	p := x.Shape[1]
	mean = make([]float64, p)
	scale = make([]float64, p)
	for _, i := range rows {
		for j, v := range x.Data[i*p : (i+1)*p] {
			mean[j] += float64(v)
		}
	}
	n := float64(len(rows))
	for j := range mean {
		mean[j] /= n
	}
	for _, i := range rows {
		for j, v := range x.Data[i*p : (i+1)*p] {
			d := float64(v) - mean[j]
			scale[j] += d * d
		}
	}
	for j, v := range scale {
		if sd := math.Sqrt(v / n); sd > 0 {
			scale[j] = 1 / sd
		} else {
			scale[j] = 1
		}
	}
	return mean, scale
}

// standardise returns (x − mean)·scale as a new float32 matrix.
func standardise(x *tensor.Tensor, mean, scale []float64) *tensor.Tensor {
	n, p := x.Shape[0], x.Shape[1]
	out := tensor.New(n, p)
	tensor.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst := out.Data[i*p : (i+1)*p]
			for j, v := range x.Data[i*p : (i+1)*p] {
				dst[j] = float32((float64(v) - mean[j]) * scale[j])
			}
		}
	})
	return out
}

// gatherStandardised returns rows of x, standardised, as one matrix.
func gatherStandardised(x *tensor.Tensor, rows []int, mean, scale []float64) *tensor.Tensor {
	p := x.Shape[1]
	out := tensor.New(len(rows), p)
	for r, i := range rows {
		dst := out.Data[r*p : (r+1)*p]
		for j, v := range x.Data[i*p : (i+1)*p] {
			dst[j] = float32((float64(v) - mean[j]) * scale[j])
		}
	}
	return out
}
