// Package optim holds the optimiser (SGD with momentum and Nesterov
// momentum), learning-rate schedules, and an exponential moving average of the
// weights used for evaluation.
//
// All updates are elementwise, so they are deterministic whatever the thread
// count; state is exported as named float32 slices for checkpoints.
package optim

import (
	"fmt"
	"slices"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// NamedSlice is one named piece of optimiser state, saved in checkpoints.
type NamedSlice struct {
	Name string
	Data []float32
}

// SGDConfig configures SGD.
type SGDConfig struct {
	// Momentum μ (0 = plain SGD).
	Momentum float64
	// Nesterov selects Nesterov momentum (requires Momentum > 0).
	Nesterov bool
	// WeightDecay λ is an L2 penalty λ‖w‖²/2 folded into the gradient
	// (g ← g + λw, "coupled" decay as in the paper's TensorFlow code, not
	// AdamW-style decoupled decay).
	WeightDecay float64
	// DecayKinds lists the parameter kinds that weight decay applies to; nil
	// means nn.Kernel only, which leaves BatchNorm γ/β and biases undecayed
	// as in the paper's recipe. Buffers are never decayed (nor updated).
	DecayKinds []nn.ParamKind
}

// SGD is stochastic gradient descent with optional (Nesterov) momentum and
// coupled weight decay, in PyTorch's formulation (torch.optim.SGD with
// dampening 0):
//
//	g ← ∇w + λ·w              (λ only for parameters of the decayed kinds)
//	v ← μ·v + g               (v starts at 0, so the first v is g)
//	d ← g + μ·v  if Nesterov, else d ← v
//	w ← w − η·d
//
// The learning rate η multiplies the step outside the velocity, so changing η
// mid-run (a schedule) does not rescale the accumulated velocity. (TF's
// MomentumOptimizer folds η into the accumulator instead; both agree for a
// constant η.) Buffers (nn.Buffer) are skipped entirely.
type SGD struct {
	cfg      SGDConfig
	params   []*nn.Param
	decay    []bool      // per parameter: apply weight decay
	velocity [][]float32 // per parameter; nil for buffers or when μ = 0
	run      sgdRun
}

// NewSGD returns an optimiser for params. It panics on an invalid
// configuration (a programmer error: train.Config.Validate checks user input).
func NewSGD(params []*nn.Param, cfg SGDConfig) *SGD {
	if cfg.Momentum < 0 || cfg.Momentum >= 1 {
		panic(fmt.Sprintf("optim: momentum %v outside [0, 1)", cfg.Momentum))
	}
	if cfg.Nesterov && cfg.Momentum == 0 {
		panic("optim: Nesterov momentum needs Momentum > 0")
	}
	if cfg.WeightDecay < 0 {
		panic(fmt.Sprintf("optim: weight decay %v < 0", cfg.WeightDecay))
	}
	kinds := cfg.DecayKinds
	if kinds == nil {
		kinds = []nn.ParamKind{nn.Kernel}
	}
	cfg.DecayKinds = slices.Clone(kinds)
	o := &SGD{cfg: cfg, params: params, decay: make([]bool, len(params)), velocity: make([][]float32, len(params))}
	for i, p := range params {
		if p.Kind == nn.Buffer {
			continue
		}
		if len(p.Grad) != len(p.Value) {
			panic(fmt.Sprintf("optim: parameter %s has %d gradient entries for %d values", p.Name, len(p.Grad), len(p.Value)))
		}
		o.decay[i] = cfg.WeightDecay > 0 && slices.Contains(kinds, p.Kind)
		if cfg.Momentum > 0 {
			o.velocity[i] = make([]float32, len(p.Value))
		}
	}
	return o
}

// Config returns the optimiser's configuration (DecayKinds resolved).
func (o *SGD) Config() SGDConfig { return o.cfg }

// parallelMin is the parameter size above which one update is split across
// threads. The update is memory-bound (≈ 16 bytes moved per 3 FLOP), so it
// only pays on large tensors, where two cores double the achievable bandwidth.
const parallelMin = 1 << 16

// Step applies one update with learning rate lr using the gradients currently
// in the parameters.
func (o *SGD) Step(lr float64) {
	eta := float32(lr)
	mu := float32(o.cfg.Momentum)
	for i, p := range o.params {
		if p.Kind == nn.Buffer {
			continue
		}
		var wd float32
		if o.decay[i] {
			wd = float32(o.cfg.WeightDecay)
		}
		w, g, v, nesterov := p.Value, p.Grad, o.velocity[i], o.cfg.Nesterov
		if len(w) < parallelMin {
			sgdUpdate(w, g, v, eta, mu, wd, nesterov)
			continue
		}
		o.run = sgdRun{w: w, g: g, v: v, eta: eta, mu: mu, wd: wd, nesterov: nesterov}
		tensor.ParallelRun(len(w), &o.run)
	}
}

// sgdRun is Step's loop over one large parameter, kept in the optimiser:
// handing the worker pool a fresh closure would allocate it on every call.
type sgdRun struct {
	w, g, v     []float32
	eta, mu, wd float32
	nesterov    bool
}

func (r *sgdRun) RunChunk(lo, hi int) {
	sgdUpdate(r.w[lo:hi], r.g[lo:hi], vpart(r.v, lo, hi), r.eta, r.mu, r.wd, r.nesterov)
}

func vpart(v []float32, lo, hi int) []float32 {
	if v == nil {
		return nil
	}
	return v[lo:hi]
}

// sgdUpdate is the elementwise update of SGD's doc comment on one range.
func sgdUpdate(w, g, v []float32, eta, mu, wd float32, nesterov bool) {
	switch {
	case v == nil:
		for j := range w {
			w[j] -= eta * (g[j] + wd*w[j])
		}
	case nesterov:
		v = v[:len(w)]
		g = g[:len(w)]
		for j := range w {
			gj := g[j] + wd*w[j]
			vj := mu*v[j] + gj
			v[j] = vj
			w[j] -= eta * (gj + mu*vj)
		}
	default:
		v = v[:len(w)]
		g = g[:len(w)]
		for j := range w {
			vj := mu*v[j] + g[j] + wd*w[j]
			v[j] = vj
			w[j] -= eta * vj
		}
	}
}

// State returns the velocities as "velocity/<param name>" slices, sharing the
// optimiser's storage (copy them if they must outlive the next Step). Plain
// SGD (μ = 0) has no state.
func (o *SGD) State() []NamedSlice {
	var s []NamedSlice
	for i, p := range o.params {
		if o.velocity[i] != nil {
			s = append(s, NamedSlice{"velocity/" + p.Name, o.velocity[i]})
		}
	}
	return s
}

// LoadState copies state saved by State into the optimiser. The names and
// sizes must match exactly.
func (o *SGD) LoadState(state []NamedSlice) error {
	return loadInto(o.State(), state, "optimizer")
}

// loadInto copies src into dst, which must hold the same names and sizes in
// the same order.
func loadInto(dst, src []NamedSlice, what string) error {
	if len(dst) != len(src) {
		return fmt.Errorf("%s state: %d entries saved, want %d", what, len(src), len(dst))
	}
	for i := range dst {
		if dst[i].Name != src[i].Name {
			return fmt.Errorf("%s state: entry %d is %q, want %q", what, i, src[i].Name, dst[i].Name)
		}
		if len(dst[i].Data) != len(src[i].Data) {
			return fmt.Errorf("%s state: %q has %d values, want %d", what, src[i].Name, len(src[i].Data), len(dst[i].Data))
		}
	}
	for i := range dst {
		copy(dst[i].Data, src[i].Data)
	}
	return nil
}
