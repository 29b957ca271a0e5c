package objective

import (
	"fmt"
	"strings"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// Composite is a stack of objectives built by Compose: one base loss on the
// logits plus any of the logit penalty, the dropout head, the cosine head
// and the final-layer L2. Its Loss is base + logit terms, ModifyHead makes
// every head change and Regularize applies the weight penalty.
type Composite struct {
	name   string
	parts  []Objective
	base   rowLoss
	terms  []rowTerm
	heads  []HeadModifier // cosine head before dropout, so dropout wraps it
	reg    []Regularizer
	params map[string]float64
}

// Compose stacks objectives into one. The rules, so that every stack has a
// single, meaningful definition:
//
//   - At most one base loss (softmax, label_smoothing, sigmoid,
//     logit_normalization, squared_error); with none, softmax cross-entropy.
//     Two base losses (e.g. sigmoid+squared_error) define two different
//     targets for the same logits and are refused.
//   - Each other objective at most once. logit_penalty adds β‖z‖²/2 to the
//     base loss; dropout and cosine_softmax change the head (dropout then
//     acts on the cosine head's input); extra_final_layer_l2 penalises the
//     head's kernel, whichever head it is.
//   - cosine_softmax cannot be stacked with logit_normalization: both
//     normalise and set the logits' scale with their own temperature, so one
//     would undo the other.
//   - logit_penalty cannot be stacked with logit_normalization: that loss is
//     invariant to the scale of z, so the penalty alone would drive ‖z‖ to the
//     ε guard, where the normalisation is no longer defined.
//
// A single objective is returned as it is; composites are flattened.
func Compose(parts ...Objective) (Objective, error) {
	var flat []Objective
	for _, p := range parts {
		if c, ok := p.(*Composite); ok {
			flat = append(flat, c.parts...)
		} else if p != nil {
			flat = append(flat, p)
		}
	}
	if len(flat) == 0 {
		return nil, fmt.Errorf("objective: nothing to compose")
	}
	names := make([]string, len(flat))
	for i, p := range flat {
		names[i] = p.Name()
	}
	stack := strings.Join(names, "+")
	c := &Composite{name: stack, parts: flat, params: map[string]float64{}}
	seen := map[string]bool{}
	var baseName string
	var cosine, dropout HeadModifier
	for _, p := range flat {
		switch p.(type) {
		case Softmax, LabelSmoothing, Sigmoid, ExtraFinalLayerL2, Dropout, LogitPenalty, LogitNormalization, CosineSoftmax, SquaredError:
		default:
			return nil, fmt.Errorf("objective %s: cannot stack %T, which is not one of this package's objectives", stack, p)
		}
		e, err := lookup(p.Name())
		if err != nil {
			return nil, fmt.Errorf("objective %s: %v", stack, err)
		}
		if _, err := e.resolve(p.Hyperparams()); err != nil {
			return nil, fmt.Errorf("objective %s: %v", stack, err)
		}
		if seen[e.name] {
			return nil, fmt.Errorf("objective %s: %s appears twice", stack, e.name)
		}
		seen[e.name] = true
		for k, v := range p.Hyperparams() {
			c.params[k] = v
		}
		switch e.role {
		case BaseLoss:
			if baseName != "" {
				return nil, fmt.Errorf("objective %s: two base losses, %s and %s; a stack has at most one (%s) plus regularisers (logit_penalty, dropout, cosine_softmax, extra_final_layer_l2)",
					stack, baseName, e.name, strings.Join(baseNames(), ", "))
			}
			baseName = e.name
			c.base = p.(rowLoss)
		case LogitTerm:
			c.terms = append(c.terms, p.(rowTerm))
		case HeadChange:
			if e.name == "cosine_softmax" {
				cosine = p.(HeadModifier)
			} else {
				dropout = p.(HeadModifier)
			}
		case WeightPenalty:
			c.reg = append(c.reg, p.(Regularizer))
		}
	}
	if seen["cosine_softmax"] && seen["logit_normalization"] {
		return nil, fmt.Errorf("objective %s: cosine_softmax and logit_normalization both normalise and rescale the logits by their own temperature; use one of them", stack)
	}
	if seen["logit_penalty"] && seen["logit_normalization"] {
		return nil, fmt.Errorf("objective %s: logit_normalization is invariant to the scale of the logits, so logit_penalty would only shrink them towards the normalisation's ε guard; use one of them", stack)
	}
	if len(flat) == 1 {
		return flat[0], nil
	}
	if c.base == nil {
		c.base = Softmax{}
	}
	for _, h := range []HeadModifier{cosine, dropout} {
		if h != nil {
			c.heads = append(c.heads, h)
		}
	}
	return c, nil
}

func baseNames() []string {
	var names []string
	for _, e := range registry {
		if e.role == BaseLoss {
			names = append(names, e.name)
		}
	}
	return names
}

// Name implements Loss: the parts' names joined by "+".
func (c *Composite) Name() string { return c.name }

// Parts returns the stacked objectives in the order given.
func (c *Composite) Parts() []Objective { return append([]Objective(nil), c.parts...) }

// Hyperparams implements Objective: the union of the parts' hyperparameters
// (Compose's rules make the plain keys unique within a stack).
func (c *Composite) Hyperparams() map[string]float64 {
	p := make(map[string]float64, len(c.params))
	for k, v := range c.params {
		p[k] = v
	}
	return p
}

// Loss implements Loss: mean_i [base(z_i, y_i) + Σ terms(z_i)].
func (c *Composite) Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64 {
	return evaluate(c.name, z, labels, grad, c.base, c.terms)
}

// ModifyHead implements HeadModifier: the cosine head first, then dropout
// around it. It does nothing when the stack has neither.
func (c *Composite) ModifyHead(m *nn.Model) error {
	for _, h := range c.heads {
		if err := h.ModifyHead(m); err != nil {
			return err
		}
	}
	return nil
}

// Regularize implements Regularizer; it returns 0 when the stack has no
// weight penalty.
func (c *Composite) Regularize(m *nn.Model) float64 {
	var total float64
	for _, r := range c.reg {
		total += r.Regularize(m)
	}
	return total
}

// NeedsModel reports whether obj acts through the model (its head or its
// final-layer weights), so that its value cannot be computed from logits
// alone, and if so why.
func NeedsModel(obj Objective) (bool, string) {
	parts := []Objective{obj}
	if c, ok := obj.(*Composite); ok {
		parts = c.parts
	}
	for _, p := range parts {
		switch p.(type) {
		case Dropout:
			return true, "dropout acts on the penultimate features inside the model's head during training; its logits-only part is plain softmax cross-entropy"
		case CosineSoftmax:
			return true, "cosine_softmax computes the logits with its cosine head from the penultimate features and final-layer weights; logits it produced can be scored with softmax"
		case ExtraFinalLayerL2:
			return true, "extra_final_layer_l2 adds λ‖W‖²/2 of the final-layer weights, which logits do not contain"
		}
	}
	return false, ""
}
