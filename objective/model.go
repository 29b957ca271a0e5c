package objective

import (
	"fmt"
	"math"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// ExtraFinalLayerL2 is cross-entropy plus an L2 penalty on the final-layer
// kernel W alone (the head's kernel; not its bias, not other layers), on top
// of the global weight decay:
//
//	L = mean_i CE(z_i, t_i) + λ·‖W‖²_F/2,  dL/dW += λ·W.
//
// Its Loss is CE; the penalty is applied by Regularize.
//
// Defaults (New): lambda = 8e-4. Keys: "lambda" ≥ 0.
type ExtraFinalLayerL2 struct {
	Lambda float64
}

// Name implements Loss.
func (ExtraFinalLayerL2) Name() string { return "extra_final_layer_l2" }

// Hyperparams implements Objective.
func (r ExtraFinalLayerL2) Hyperparams() map[string]float64 {
	return map[string]float64{"lambda": r.Lambda}
}

// Loss implements Loss: cross-entropy.
func (r ExtraFinalLayerL2) Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64 {
	return evaluate(r.Name(), z, labels, grad, Softmax{}, nil)
}

// Regularize implements Regularizer: it adds λ·W to the head kernel's
// gradient and returns λ‖W‖²/2. It panics if the head does not have exactly
// one kernel parameter (a model built wrongly by our own code).
func (r ExtraFinalLayerL2) Regularize(m *nn.Model) float64 {
	w, err := headKernel(m.Head)
	if err != nil {
		panic("objective extra_final_layer_l2: " + err.Error())
	}
	var sq float64
	for i, v := range w.Value {
		sq += float64(v) * float64(v)
		w.Grad[i] += float32(r.Lambda * float64(v))
	}
	return r.Lambda * sq / 2
}

// Dropout is cross-entropy with dropout on the penultimate features during
// training (inverted scaling: kept features are divided by the keep
// probability, so evaluation uses the features as they are):
//
//	L = mean_i CE(W·(m_i ⊙ x_i)/p + b, t_i),  m_ij ~ Bernoulli(p).
//
// ModifyHead wraps the model's head in a DropoutHead; Loss is CE.
//
// Defaults (New): keep_prob = 0.7 (drop rate 0.3). Keys: "keep_prob" in (0, 1].
type Dropout struct {
	KeepProb float64
}

// Name implements Loss.
func (Dropout) Name() string { return "dropout" }

// Hyperparams implements Objective.
func (d Dropout) Hyperparams() map[string]float64 {
	return map[string]float64{"keep_prob": d.KeepProb}
}

// Loss implements Loss: cross-entropy.
func (d Dropout) Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64 {
	return evaluate(d.Name(), z, labels, grad, Softmax{}, nil)
}

// ModifyHead implements HeadModifier: m.Head becomes a DropoutHead around
// the current head. It refuses a head that already has dropout.
func (d Dropout) ModifyHead(m *nn.Model) error {
	if m.Head == nil {
		return fmt.Errorf("objective dropout: model %s has no head", m.Name)
	}
	if _, ok := m.Head.(*DropoutHead); ok {
		return fmt.Errorf("objective dropout: the head of model %s already has dropout", m.Name)
	}
	if !(d.KeepProb > 0 && d.KeepProb <= 1) {
		return fmt.Errorf("objective dropout: keep_prob %g, want in (0, 1]", d.KeepProb)
	}
	m.Head = NewDropoutHead(m.Head, d.KeepProb)
	return nil
}

// CosineSoftmax is cross-entropy over the logits of a cosine head,
//
//	z_k = (x̂·ŵ_k)/τ + b_k,  x̂ = x/‖x‖,  ŵ_k = w_k/‖w_k‖,
//
// with the norms guarded by NormEpsilon (see CosineHead). With
// NormalizeFeatures false, x̂ = x (the released code's variant, which
// normalises the weights only). ModifyHead replaces the model's linear head
// with a CosineHead over the same kernel and bias; Loss is CE.
//
// Defaults (New): tau = 0.05, normalize_features = 1. Keys: "tau" > 0,
// "normalize_features" ∈ {0, 1}.
type CosineSoftmax struct {
	Tau               float64
	NormalizeFeatures bool
}

// Name implements Loss.
func (CosineSoftmax) Name() string { return "cosine_softmax" }

// Hyperparams implements Objective.
func (c CosineSoftmax) Hyperparams() map[string]float64 {
	return map[string]float64{"tau": c.Tau, "normalize_features": boolParam(c.NormalizeFeatures)}
}

// Loss implements Loss: cross-entropy.
func (c CosineSoftmax) Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64 {
	return evaluate(c.Name(), z, labels, grad, Softmax{}, nil)
}

// ModifyHead implements HeadModifier. The head (or, for a DropoutHead, the
// head it wraps) must have one kernel [in, K] and one bias [K] parameter, as
// nn.Linear does; they are taken over, values and names included, by a
// CosineHead. So the kernel keeps its initialisation (only its direction
// matters) and checkpoints keep their parameter names.
func (c CosineSoftmax) ModifyHead(m *nn.Model) error {
	if !(c.Tau > 0) || math.IsInf(c.Tau, 0) {
		return fmt.Errorf("objective cosine_softmax: tau %g, want a finite value > 0", c.Tau)
	}
	slot := &m.Head
	if d, ok := m.Head.(*DropoutHead); ok {
		slot = &d.Inner
	}
	if *slot == nil {
		return fmt.Errorf("objective cosine_softmax: model %s has no head", m.Name)
	}
	if _, ok := (*slot).(*CosineHead); ok {
		return fmt.Errorf("objective cosine_softmax: the head of model %s is already a cosine head", m.Name)
	}
	w, b, err := headParams(*slot)
	if err != nil {
		return fmt.Errorf("objective cosine_softmax: model %s: %v", m.Name, err)
	}
	if b == nil || len(b.Shape) != 1 || b.Shape[0] != w.Shape[1] {
		return fmt.Errorf("objective cosine_softmax: model %s: head needs a bias of shape [%d] beside kernel %s %v", m.Name, w.Shape[1], w.Name, w.Shape)
	}
	if m.NumClasses > 0 && w.Shape[1] != m.NumClasses {
		return fmt.Errorf("objective cosine_softmax: model %s: head kernel %s has %d outputs for %d classes", m.Name, w.Name, w.Shape[1], m.NumClasses)
	}
	*slot = NewCosineHead(w, b, c.Tau, c.NormalizeFeatures)
	return nil
}

// headKernel is headParams's kernel, read directly from the heads that
// models and this package build: Regularize runs every training step, and
// headParams allocates (Params returns a new slice).
func headKernel(head nn.Layer) (*nn.Param, error) {
	switch h := head.(type) {
	case *nn.Linear:
		return h.Kernel, nil
	case *CosineHead:
		return h.Kernel, nil
	case *DropoutHead:
		return headKernel(h.Inner)
	}
	w, _, err := headParams(head)
	return w, err
}

// headParams finds the final layer's kernel (exactly one 2-D parameter of
// kind nn.Kernel, [in, out]) and its bias (nil if it has none).
func headParams(head nn.Layer) (kernel, bias *nn.Param, err error) {
	if head == nil {
		return nil, nil, fmt.Errorf("model has no head")
	}
	var kernels, biases []*nn.Param
	for _, p := range head.Params() {
		switch p.Kind {
		case nn.Kernel:
			kernels = append(kernels, p)
		case nn.Bias:
			biases = append(biases, p)
		}
	}
	if len(kernels) != 1 || len(kernels[0].Shape) != 2 {
		names := make([]string, len(kernels))
		for i, p := range kernels {
			names[i] = fmt.Sprintf("%s %v", p.Name, p.Shape)
		}
		return nil, nil, fmt.Errorf("head has kernels %v, want exactly one of shape [in out]", names)
	}
	if len(biases) > 1 {
		return nil, nil, fmt.Errorf("head has %d biases, want at most one", len(biases))
	}
	if len(biases) == 1 {
		bias = biases[0]
	}
	return kernels[0], bias, nil
}
