// Package objective holds the nine training objectives compared by the study
// (Kornblith et al., "Why Do Better Loss Functions Lead to Less Transferable
// Features?", NeurIPS 2021; docs/definitions.md#objectives), each registered by
// name, and the rules for stacking them.
//
// An objective has up to three parts, and the training loop drives each:
//
//   - a loss on the logits (every objective implements Loss; the ones that
//     only change the model use softmax cross-entropy);
//   - a change to the model's head, made once before training
//     (HeadModifier: dropout on the penultimate features, a cosine head);
//   - a penalty on weights, added after every Backward (Regularizer: the
//     extra L2 on the final-layer kernel).
//
// A training step is therefore
//
//	z := m.Forward(x, true)
//	loss := obj.Loss(z, labels, dz)
//	m.Backward(dz)
//	loss += objective.Regularize(obj, m)
//
// after objective.ModifyHead(obj, m) was called once on the freshly built
// model. Losses are computed per example in float64 and averaged over the
// batch, so that logits up to ±1e4 give finite losses and gradients.
//
// New builds an objective by name, or a stack such as
// "label_smoothing+dropout+logit_penalty" (rules at Compose), with these
// hyperparameter keys and defaults (docs/definitions.md#objectives):
//
//	softmax               —
//	label_smoothing       alpha 0.1, rescale 1
//	sigmoid               offset 1
//	extra_final_layer_l2  lambda 8e-4
//	dropout               keep_prob 0.7
//	logit_penalty         beta 6e-4
//	logit_normalization   tau 0.04
//	cosine_softmax        tau 0.05, normalize_features 1
//	squared_error         kappa 9, target 60 (M), scale 10 (s)
package objective

import (
	"fmt"
	"math"
	"sync"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// Loss scores a batch of logits against integer labels.
type Loss interface {
	// Name is the registry name, e.g. "softmax", or a stack such as
	// "label_smoothing+dropout".
	Name() string
	// Loss returns the mean loss over the batch of logits z [N, K] and writes
	// dL/dz (of the mean) into grad, which has z's shape. grad may be nil when
	// only the value is needed. Labels outside [0, K) panic.
	Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64
}

// Objective is a registered training objective: a Loss with hyperparameters.
// It may also implement HeadModifier and Regularizer; use the package
// functions ModifyHead and Regularize, which do nothing for objectives that
// lack those parts.
type Objective interface {
	Loss
	// Hyperparams returns the hyperparameters in effect, defaults included,
	// under the keys New accepts. Booleans are 0 or 1.
	Hyperparams() map[string]float64
}

// HeadModifier is implemented by objectives that change the model's head:
// dropout on the penultimate features and the cosine-softmax head.
type HeadModifier interface {
	// ModifyHead replaces or wraps m.Head. It must be called once, after the
	// model is built and initialised and before its parameters are handed to
	// an optimizer or restored from a checkpoint. Parameter objects (and so
	// their names and storage) are kept, never copied.
	ModifyHead(m *nn.Model) error
}

// Regularizer is implemented by objectives that penalise weights directly.
type Regularizer interface {
	// Regularize adds the penalty's gradient to the parameters' gradients and
	// returns the penalty, to be added to the batch loss. Call it after
	// m.Backward, which overwrites the gradients.
	Regularize(m *nn.Model) float64
}

// ModifyHead applies obj's change to the model's head, if it has one.
func ModifyHead(obj Objective, m *nn.Model) error {
	if h, ok := obj.(HeadModifier); ok {
		return h.ModifyHead(m)
	}
	return nil
}

// Regularize applies obj's weight penalty, if it has one, and returns it
// (0 otherwise).
func Regularize(obj Objective, m *nn.Model) float64 {
	if r, ok := obj.(Regularizer); ok {
		return r.Regularize(m)
	}
	return 0
}

// rowLoss is a loss of one example: it returns ℓ(z, y) and overwrites grad
// with dℓ/dz. Both are in float64 so that the per-row arithmetic (log-sum-exp,
// softplus, norms) keeps its precision whatever the magnitude of the logits.
type rowLoss interface {
	rowLoss(z []float64, y int, grad []float64) float64
}

// rowTerm is an additive term of one example's loss (the logit penalty): it
// returns its value and adds its gradient into grad.
type rowTerm interface {
	addRow(z []float64, y int, grad []float64) float64
}

// evaluate computes mean_i [base(z_i, y_i) + Σ terms(z_i, y_i)] and its
// gradient with respect to z, writing the gradient of the mean into grad when
// grad is not nil. The loss is a type parameter so that evalRun can hold it
// by value: boxing a value such as LabelSmoothing in an interface that the
// worker pool sees would allocate on every call.
func evaluate[L rowLoss](name string, z *tensor.Tensor, labels []int, grad *tensor.Tensor, base L, terms []rowTerm) float64 {
	if len(z.Shape) != 2 {
		panic(fmt.Sprintf("objective %s: logits shape %v, want [N K]", name, z.Shape))
	}
	n, k := z.Shape[0], z.Shape[1]
	if len(labels) != n {
		panic(fmt.Sprintf("objective %s: %d labels for %d logit rows", name, len(labels), n))
	}
	if grad != nil && len(grad.Data) != len(z.Data) {
		panic(fmt.Sprintf("objective %s: gradient shape %v for logits %v", name, grad.Shape, z.Shape))
	}
	if n == 0 {
		return 0
	}
	for i, y := range labels {
		if y < 0 || y >= k {
			panic(fmt.Sprintf("objective %s: label %d of row %d outside [0, %d)", name, y, i, k))
		}
	}
	// Rows are independent: split them between the workers, keep each row's
	// loss and sum them in row order, so the result does not depend on the
	// number of threads.
	r := getEvalRun[L]()
	chunks := min(tensor.Threads(), n)
	r.base, r.terms, r.z, r.labels, r.grad = base, terms, z, labels, grad
	inv := 1 / float64(n)
	r.n, r.k, r.chunks, r.inv = n, k, chunks, inv
	r.rowLosses = resize(r.rowLosses, n)
	r.scratch = resize(r.scratch, chunks*2*k)
	tensor.ParallelRun(chunks, r)
	var total float64
	for _, l := range r.rowLosses {
		total += l
	}
	putEvalRun(r)
	return total * inv
}

// evalRun is evaluate's loop, chunk w of chunks doing rows
// [w·n/chunks, (w+1)·n/chunks) with its own scratch. Runs are kept between
// calls (evalRuns): handing the worker pool a fresh closure would allocate
// it on every call.
type evalRun[L rowLoss] struct {
	base         L
	terms        []rowTerm
	z, grad      *tensor.Tensor
	labels       []int
	n, k, chunks int
	inv          float64
	rowLosses    []float64
	scratch      []float64 // 2k per chunk
}

func (r *evalRun[L]) RunChunk(lo, hi int) {
	k, z, grad, labels, inv := r.k, r.z, r.grad, r.labels, r.inv
	for w := lo; w < hi; w++ {
		scratch := r.scratch[w*2*k : (w+1)*2*k]
		row, g := scratch[:k], scratch[k:]
		for i := w * r.n / r.chunks; i < (w+1)*r.n/r.chunks; i++ {
			y := labels[i]
			for j, v := range z.Data[i*k : (i+1)*k] {
				row[j] = float64(v)
			}
			l := r.base.rowLoss(row, y, g)
			for _, t := range r.terms {
				l += t.addRow(row, y, g)
			}
			r.rowLosses[i] = l
			if grad != nil {
				out := grad.Data[i*k : (i+1)*k]
				for j, v := range g {
					out[j] = float32(v * inv)
				}
			}
		}
	}
}

// evalRuns holds the idle evalRuns of every loss type (evaluate may run
// concurrently). Not a sync.Pool: garbage collection empties those.
var evalRuns struct {
	sync.Mutex
	list []any // *evalRun[L] for the types L used
}

func getEvalRun[L rowLoss]() *evalRun[L] {
	evalRuns.Lock()
	defer evalRuns.Unlock()
	list := evalRuns.list
	for i := len(list) - 1; i >= 0; i-- {
		if r, ok := list[i].(*evalRun[L]); ok {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			evalRuns.list = list[:last]
			return r
		}
	}
	return new(evalRun[L])
}

// putEvalRun drops r's references to the caller's data and lists it.
func putEvalRun[L rowLoss](r *evalRun[L]) {
	var zero L
	r.base, r.terms, r.z, r.labels, r.grad = zero, nil, nil, nil, nil
	evalRuns.Lock()
	evalRuns.list = append(evalRuns.list, r)
	evalRuns.Unlock()
}

// softmaxRow writes softmax(z) into p and returns log Σ_j exp(z_j), with
// the exponentials shifted by max_j z_j so that both are finite for any
// finite z; one exponential per element. p may be z itself.
func softmaxRow(z, p []float64) float64 {
	mx := z[0]
	for _, v := range z[1:] {
		mx = max(mx, v)
	}
	var s float64
	for j, v := range z {
		e := math.Exp(v - mx)
		p[j] = e
		s += e
	}
	inv := 1 / s
	for j := range p {
		p[j] *= inv
	}
	return mx + math.Log(s)
}

// crossEntropyRow is CE(z, y) = log Σ_j exp(z_j) − z_y, with gradient
// softmax(z) − onehot(y) written into grad.
func crossEntropyRow(z []float64, y int, grad []float64) float64 {
	lse := softmaxRow(z, grad)
	grad[y]--
	return lse - z[y]
}

// softplusSigmoid returns softplus(x) = log(1 + eˣ), in the form
// max(x, 0) + log1p(e^−|x|) that neither overflows for large x nor loses
// precision for very negative x, and σ(x) = 1/(1 + e^−x) from the same
// exponential e^−|x| ≤ 1.
func softplusSigmoid(x float64) (sp, sig float64) {
	e := math.Exp(-math.Abs(x))
	sp = max(x, 0) + math.Log1p(e)
	if x >= 0 {
		return sp, 1 / (1 + e)
	}
	return sp, e / (1 + e)
}

// Softmax is softmax cross-entropy,
//
//	ℓ(z, y) = CE(z, t) = −log softmax(z)_y = log Σ_k exp(z_k) − z_y,
//
// averaged over the batch; dℓ/dz = softmax(z) − t. It has no
// hyperparameters. The log-sum-exp is shifted by max_k z_k.
type Softmax struct{}

// Name implements Loss.
func (Softmax) Name() string { return "softmax" }

// Hyperparams implements Objective; softmax has none.
func (Softmax) Hyperparams() map[string]float64 { return map[string]float64{} }

// Loss implements Loss.
func (s Softmax) Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64 {
	return evaluate(s.Name(), z, labels, grad, s, nil)
}

func (Softmax) rowLoss(z []float64, y int, grad []float64) float64 {
	return crossEntropyRow(z, y, grad)
}
