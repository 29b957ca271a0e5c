package represent

import (
	"fmt"
	"math"

	"github.com/losslab/losslab/tensor"
)

// Separation accumulates class separation R² (Kornblith et al. 2021, §4;
// docs/definitions.md#class-separation) over batches of features and
// labels, in memory O(classes × features): add batches with Add, read the
// result with Result.
//
// With cos(x, x') = x̂·x̂', x̂ = x/‖x‖, K classes that have examples and N_k
// examples in class k,
//
//	d_within = Σ_k Σ_{m,n∈k} (1 − cos(x_m, x_n)) / (K·N_k²)
//	d_total  = Σ_j Σ_k Σ_{m∈j} Σ_{n∈k} (1 − cos(x_m, x_n)) / (K²·N_j·N_k)
//	R²       = 1 − d_within / d_total
//
// (self-pairs included, classes weighted equally). Expanding the sums gives
// the exact streaming form used here: with μ_k the mean of x̂ over class k
// and μ̄ = mean_k μ_k, d_within = 1 − mean_k ‖μ_k‖² and d_total = 1 − ‖μ̄‖²;
// only the per-class sums of x̂ are kept, in float64.
//
// Conventions: an all-zero feature vector (a dead penultimate layer) has
// x̂ = 0, so its cosine with every vector, itself included, is 0 — it
// counts as distance 1 from everything; ZeroVectors reports how many there
// were. Classes with no examples are left out of K.
type Separation struct {
	classes, dim int
	sums         []float64 // [class*dim + feature]: Σ x̂ over the class
	counts       []int64
	zeros        int64
	unit         []float64
}

// NewSeparation returns an empty accumulator for features of dimension dim
// with labels in [0, classes).
func NewSeparation(classes, dim int) (*Separation, error) {
	if classes < 2 || dim < 1 {
		return nil, fmt.Errorf("class separation: %d classes and %d features, want at least 2 and 1", classes, dim)
	}
	return &Separation{classes: classes, dim: dim, sums: make([]float64, classes*dim),
		counts: make([]int64, classes), unit: make([]float64, dim)}, nil
}

// Add accumulates features [examples, dim] with their labels.
func (s *Separation) Add(features *tensor.Tensor, labels []int) error {
	if err := checkRep("class separation: features", features, 1); err != nil {
		return err
	}
	n, p := features.Shape[0], features.Shape[1]
	if p != s.dim {
		return fmt.Errorf("class separation: features have %d columns, accumulator was made for %d", p, s.dim)
	}
	if len(labels) != n {
		return fmt.Errorf("class separation: %d labels for %d rows of features", len(labels), n)
	}
	for i, y := range labels {
		if y < 0 || y >= s.classes {
			return fmt.Errorf("class separation: label %d of example %d is outside [0, %d)", y, i, s.classes)
		}
	}
	for i, y := range labels {
		row := features.Data[i*p : (i+1)*p]
		var sq float64
		for _, v := range row {
			sq += float64(v) * float64(v)
		}
		s.counts[y]++
		if sq == 0 {
			s.zeros++
			continue
		}
		inv := 1 / math.Sqrt(sq)
		sum := s.sums[y*p : (y+1)*p]
		for j, v := range row {
			sum[j] += float64(v) * inv
		}
	}
	return nil
}

// SeparationResult is class separation; see Separation for the definitions.
type SeparationResult struct {
	R2          float64 `json:"r2"`
	DWithin     float64 `json:"d_within"`
	DTotal      float64 `json:"d_total"`
	Classes     int     `json:"classes"` // K: classes with at least one example
	Examples    int64   `json:"examples"`
	ZeroVectors int64   `json:"zero_vectors"`
}

// Result returns R², d_within and d_total of everything added so far. It
// errors when fewer than two classes have examples, or when d_total is 0
// up to rounding (≤ 1e-12: every vector points the same way), where R² is
// undefined.
func (s *Separation) Result() (SeparationResult, error) {
	var r SeparationResult
	r.ZeroVectors = s.zeros
	mean := make([]float64, s.dim)
	var meanSqNorm float64
	for k, c := range s.counts {
		r.Examples += c
		if c == 0 {
			continue
		}
		r.Classes++
		var sq float64
		for j, v := range s.sums[k*s.dim : (k+1)*s.dim] {
			mu := v / float64(c)
			mean[j] += mu
			sq += mu * mu
		}
		meanSqNorm += sq
	}
	if r.Classes < 2 {
		return r, fmt.Errorf("class separation: %d class(es) have examples, want at least 2", r.Classes)
	}
	kf := float64(r.Classes)
	var barSq float64
	for _, v := range mean {
		barSq += (v / kf) * (v / kf)
	}
	r.DWithin = 1 - meanSqNorm/kf
	r.DTotal = 1 - barSq
	// d_total is a difference of numbers ≤ 1, exact to ~1e-16; below 1e-12
	// it is rounding, not spread.
	if !(r.DTotal > 1e-12) {
		return r, fmt.Errorf("class separation: d_total is %.3g: all feature vectors point the same way, R² is undefined", r.DTotal)
	}
	r.R2 = 1 - r.DWithin/r.DTotal
	return r, nil
}

// ClassSeparation is NewSeparation, Add and Result in one call, with the
// number of classes taken as 1 + the largest label.
func ClassSeparation(features *tensor.Tensor, labels []int) (SeparationResult, error) {
	if err := checkRep("class separation: features", features, 1); err != nil {
		return SeparationResult{}, err
	}
	classes := 0
	for _, y := range labels {
		classes = max(classes, y+1)
	}
	s, err := NewSeparation(max(classes, 2), features.Shape[1])
	if err != nil {
		return SeparationResult{}, err
	}
	if err := s.Add(features, labels); err != nil {
		return SeparationResult{}, err
	}
	return s.Result()
}

// Activity accumulates, per layer, the fraction of activations that are
// non-zero (for post-ReLU activations: positive), over batches: the
// sparsity measure of the study (docs/definitions.md#sparsity). NaN counts as
// non-zero.
type Activity struct {
	nonzero, total []int64
}

// NewActivity returns an empty accumulator for the given number of layers.
func NewActivity(layers int) *Activity {
	return &Activity{nonzero: make([]int64, layers), total: make([]int64, layers)}
}

// Add counts one batch: batch[i] holds layer i's activations (any shape;
// every element counts).
func (a *Activity) Add(batch []*tensor.Tensor) error {
	if len(batch) != len(a.total) {
		return fmt.Errorf("activity: batch has %d layers, accumulator was made for %d", len(batch), len(a.total))
	}
	for i, x := range batch {
		var nz int64
		for _, v := range x.Data {
			if v != 0 {
				nz++
			}
		}
		a.nonzero[i] += nz
		a.total[i] += int64(len(x.Data))
	}
	return nil
}

// Fractions returns, per layer, the fraction of non-zero activations seen
// (0 for a layer that has seen none).
func (a *Activity) Fractions() []float64 {
	out := make([]float64, len(a.total))
	for i, t := range a.total {
		if t > 0 {
			out[i] = float64(a.nonzero[i]) / float64(t)
		}
	}
	return out
}

// ActiveFraction returns the fraction of non-zero elements of x.
func ActiveFraction(x *tensor.Tensor) float64 {
	a := NewActivity(1)
	a.Add([]*tensor.Tensor{x})
	return a.Fractions()[0]
}
