package objective

import (
	"math"

	"github.com/losslab/losslab/tensor"
)

// LabelSmoothing is cross-entropy against smoothed targets (Szegedy et al.
// 2016, "Rethinking the Inception Architecture"),
//
//	ℓ(z, y) = c · CE(z, q),  q = (1−α)·t + α/K,  CE(z, q) = −Σ_k q_k log softmax(z)_k,
//
// with c = 1/(1−α) when Rescale is set (as the study's released code does, so
// that the gradient on the true class keeps the scale of plain cross-entropy)
// and c = 1 otherwise; dℓ/dz = c·(softmax(z) − q).
//
// Defaults (New): alpha = 0.1, rescale = 1. Keys: "alpha" in [0, 1) (up to 1
// inclusive when rescale = 0), "rescale" ∈ {0, 1}.
type LabelSmoothing struct {
	Alpha   float64
	Rescale bool
}

// Name implements Loss.
func (LabelSmoothing) Name() string { return "label_smoothing" }

// Hyperparams implements Objective.
func (l LabelSmoothing) Hyperparams() map[string]float64 {
	return map[string]float64{"alpha": l.Alpha, "rescale": boolParam(l.Rescale)}
}

// Loss implements Loss.
func (l LabelSmoothing) Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64 {
	return evaluate(l.Name(), z, labels, grad, l, nil)
}

func (l LabelSmoothing) rowLoss(z []float64, y int, grad []float64) float64 {
	k := float64(len(z))
	c := 1.0
	if l.Rescale {
		c = 1 / (1 - l.Alpha)
	}
	lse := softmaxRow(z, grad)
	// CE(z, q) = Σ_k q_k (lse − z_k) = lse − Σ_k q_k z_k because Σ_k q_k = 1.
	var qz float64
	for j, v := range z {
		q := l.Alpha / k
		if j == y {
			q += 1 - l.Alpha
		}
		qz += q * v
		grad[j] = c * (grad[j] - q)
	}
	return c * (lse - qz)
}

// Sigmoid is independent binary cross-entropy per class, summed over the K
// classes (not averaged) and averaged over the batch:
//
//	ℓ(z, y) = Σ_k BCE(σ(u_k), t_k) = Σ_k [softplus(u_k) − t_k·u_k],  u_k = z_k − o,
//
// with o = log K when Offset is set (equivalent to initialising the
// final-layer bias at −log K, as the paper does, so that every class starts
// at probability ≈ 1/K) and o = 0 otherwise; dℓ/dz_k = σ(u_k) − t_k. The
// softplus form max(u,0) + log1p(e^−|u|) is finite for any finite u.
//
// Defaults (New): offset = 1. Keys: "offset" ∈ {0, 1}.
type Sigmoid struct {
	Offset bool
}

// Name implements Loss.
func (Sigmoid) Name() string { return "sigmoid" }

// Hyperparams implements Objective.
func (s Sigmoid) Hyperparams() map[string]float64 {
	return map[string]float64{"offset": boolParam(s.Offset)}
}

// Loss implements Loss.
func (s Sigmoid) Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64 {
	return evaluate(s.Name(), z, labels, grad, s, nil)
}

func (s Sigmoid) rowLoss(z []float64, y int, grad []float64) float64 {
	var offset float64
	if s.Offset {
		offset = math.Log(float64(len(z)))
	}
	var l float64
	for j, v := range z {
		u := v - offset
		sp, sig := softplusSigmoid(u)
		l += sp
		grad[j] = sig
	}
	l -= z[y] - offset
	grad[y]--
	return l
}

// LogitPenalty is cross-entropy plus a penalty on the squared norm of each
// example's logits,
//
//	ℓ(z, y) = CE(z, t) + β·‖z‖²/2,  dℓ/dz = softmax(z) − t + β·z,
//
// averaged over the batch. Stacked with another base loss (Compose), the
// penalty term is added to that loss instead of to CE.
//
// Defaults (New): beta = 6e-4. Keys: "beta" ≥ 0.
type LogitPenalty struct {
	Beta float64
}

// Name implements Loss.
func (LogitPenalty) Name() string { return "logit_penalty" }

// Hyperparams implements Objective.
func (p LogitPenalty) Hyperparams() map[string]float64 {
	return map[string]float64{"beta": p.Beta}
}

// Loss implements Loss.
func (p LogitPenalty) Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64 {
	return evaluate(p.Name(), z, labels, grad, penalizedSoftmax{p}, nil)
}

// penalizedSoftmax is cross-entropy plus the penalty p as one row loss, for
// LogitPenalty.Loss (a terms slice would be allocated on every call).
type penalizedSoftmax struct{ p LogitPenalty }

func (s penalizedSoftmax) rowLoss(z []float64, y int, grad []float64) float64 {
	l := crossEntropyRow(z, y, grad)
	return l + s.p.addRow(z, y, grad)
}

func (p LogitPenalty) addRow(z []float64, _ int, grad []float64) float64 {
	var sq float64
	for j, v := range z {
		sq += v * v
		grad[j] += p.Beta * v
	}
	return p.Beta * sq / 2
}

// LogitNormalizationEpsilon guards the norm in LogitNormalization: the
// logits are divided by max(‖z‖, ε) with ε = 1e-6, the guard of TensorFlow's
// tf.math.l2_normalize (√max(‖z‖², 1e-12)), so all-zero logits give the
// uniform distribution instead of 0/0.
const LogitNormalizationEpsilon = 1e-6

// LogitNormalization is cross-entropy of the L2-normalised logits divided by
// a temperature,
//
//	ℓ(z, y) = CE(u, t),  u = z / (τ·max(‖z‖, ε)),  ε = LogitNormalizationEpsilon.
//
// With n = ‖z‖ > ε and g = softmax(u) − t, dℓ/dz = (g − ẑ(ẑ·g)) / (τ n) with
// ẑ = z/n; below ε the map is linear and dℓ/dz = g/(τ ε). The loss is
// invariant to the scale of z, and u is bounded by 1/τ, so extreme logits
// are harmless.
//
// Defaults (New): tau = 0.04. Keys: "tau" > 0.
type LogitNormalization struct {
	Tau float64
}

// Name implements Loss.
func (LogitNormalization) Name() string { return "logit_normalization" }

// Hyperparams implements Objective.
func (l LogitNormalization) Hyperparams() map[string]float64 {
	return map[string]float64{"tau": l.Tau}
}

// Loss implements Loss.
func (l LogitNormalization) Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64 {
	return evaluate(l.Name(), z, labels, grad, l, nil)
}

func (l LogitNormalization) rowLoss(z []float64, y int, grad []float64) float64 {
	norm := l2Norm(z)
	guarded := norm <= LogitNormalizationEpsilon
	if guarded {
		norm = LogitNormalizationEpsilon
	}
	scale := 1 / (l.Tau * norm)
	// Cross-entropy of u = scale·z, computed in grad's storage (softmaxRow
	// may overwrite its input).
	for j, v := range z {
		grad[j] = v * scale
	}
	uy := grad[y]
	loss := softmaxRow(grad, grad) - uy
	grad[y]-- // grad = dℓ/du
	if guarded {
		for j := range grad {
			grad[j] *= scale
		}
		return loss
	}
	// Jacobian of z ↦ z/‖z‖ is (I − ẑẑᵀ)/‖z‖.
	var dot float64
	for j, v := range z {
		dot += v / norm * grad[j]
	}
	for j, v := range z {
		grad[j] = (grad[j] - v/norm*dot) * scale
	}
	return loss
}

// l2Norm is ‖v‖₂, scaled by the largest magnitude first so that squaring
// neither overflows nor underflows.
func l2Norm(v []float64) float64 {
	var mx float64
	for _, x := range v {
		mx = max(mx, math.Abs(x))
	}
	if mx == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		r := x / mx
		s += r * r
	}
	return mx * math.Sqrt(s)
}

// SquaredError is the scaled squared error of the paper (following Hui &
// Belkin 2021, "Evaluation of Neural Architectures Trained with Square Loss
// vs Cross-Entropy"),
//
//	ℓ(z, y) = s·[κ·(z_y − M)² + Σ_{k≠y} z_k²],
//	dℓ/dz_y = 2sκ(z_y − M),  dℓ/dz_k = 2s·z_k (k ≠ y),
//
// averaged over the batch, with no 1/K factor.
//
// Defaults (New): kappa = 9 (κ), target = 60 (M), scale = 10 (s). Keys:
// "kappa" > 0, "target" (any finite value), "scale" > 0.
type SquaredError struct {
	Kappa, Target, Scale float64
}

// Name implements Loss.
func (SquaredError) Name() string { return "squared_error" }

// Hyperparams implements Objective.
func (s SquaredError) Hyperparams() map[string]float64 {
	return map[string]float64{"kappa": s.Kappa, "target": s.Target, "scale": s.Scale}
}

// Loss implements Loss.
func (s SquaredError) Loss(z *tensor.Tensor, labels []int, grad *tensor.Tensor) float64 {
	return evaluate(s.Name(), z, labels, grad, s, nil)
}

func (s SquaredError) rowLoss(z []float64, y int, grad []float64) float64 {
	var l float64
	for j, v := range z {
		if j == y {
			d := v - s.Target
			l += s.Kappa * d * d
			grad[j] = 2 * s.Scale * s.Kappa * d
		} else {
			l += v * v
			grad[j] = 2 * s.Scale * v
		}
	}
	return s.Scale * l
}

func boolParam(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
