// Package metrics scores a model's predictions: top-1 and top-k accuracy,
// calibration (ECE and its adaptive, classwise and maximum variants, NLL,
// Brier score, reliability-diagram data, temperature scaling), agreement
// between models (pairwise disagreement, ensembles of mean probabilities) and
// robustness summaries over corruption × severity grids. The definitions are
// those of docs/definitions.md (#accuracy, #calibration, #predictions,
// #robustness).
//
// Every function works on plain logit matrices [examples, classes] (float32,
// row-major) and integer labels, so predictions exported from any framework
// are scored the same way; sums are accumulated in float64. Bad data — a
// length mismatch, a label outside [0, classes), a NaN or infinite logit — is
// reported as an error that says what and where.
//
// Conventions shared by all functions:
//   - probabilities are softmax(z), computed in float64 with the maximum
//     subtracted;
//   - the predicted class is the argmax of the logits, the lowest index among
//     ties;
//   - fractions (accuracy, ECE) are in [0, 1], not percent.
package metrics

import (
	"fmt"
	"math"

	"github.com/losslab/losslab/tensor"
)

// checkLogits validates a logit matrix and, when labels is non-nil, its
// labels; it returns the number of examples and classes.
func checkLogits(name string, logits *tensor.Tensor, labels []int) (n, k int, err error) {
	if logits == nil || len(logits.Shape) != 2 {
		var shape []int
		if logits != nil {
			shape = logits.Shape
		}
		return 0, 0, fmt.Errorf("%s: logits have shape %v, want 2-D [examples, classes]", name, shape)
	}
	n, k = logits.Shape[0], logits.Shape[1]
	if n == 0 {
		return 0, 0, fmt.Errorf("%s: no examples (logits have shape %v)", name, logits.Shape)
	}
	if k < 2 {
		return 0, 0, fmt.Errorf("%s: logits have %d classes, want at least 2", name, k)
	}
	if labels != nil {
		if len(labels) != n {
			return 0, 0, fmt.Errorf("%s: %d labels for %d rows of logits", name, len(labels), n)
		}
		for i, y := range labels {
			if y < 0 || y >= k {
				return 0, 0, fmt.Errorf("%s: label %d of example %d is outside [0, %d)", name, y, i, k)
			}
		}
	}
	for i, v := range logits.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, 0, fmt.Errorf("%s: logit [%d, %d] is %v; want finite values", name, i/k, i%k, v)
		}
	}
	return n, k, nil
}

// argmax returns the index of the largest value, the lowest among ties.
func argmax(z []float32) int {
	best := 0
	for j, v := range z {
		if v > z[best] {
			best = j
		}
	}
	return best
}

// softmaxInto writes softmax(β·z) into p (float64, max subtracted) and
// returns log Σ_j exp(β·z_j − β·max z), so that
// log p_j = β·z_j − β·max z − the returned value.
func softmaxInto(p []float64, z []float32, beta float64) (maxBZ, logSum float64) {
	maxBZ = math.Inf(-1)
	for _, v := range z {
		maxBZ = math.Max(maxBZ, beta*float64(v))
	}
	var s float64
	for j, v := range z {
		e := math.Exp(beta*float64(v) - maxBZ)
		p[j] = e
		s += e
	}
	inv := 1 / s
	for j := range p[:len(z)] {
		p[j] *= inv
	}
	return maxBZ, math.Log(s)
}

// Predictions returns the predicted class (argmax, lowest index among ties) of
// every row of logits [examples, classes].
func Predictions(logits *tensor.Tensor) ([]int, error) {
	n, k, err := checkLogits("predictions", logits, nil)
	if err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i := range out {
		out[i] = argmax(logits.Data[i*k : (i+1)*k])
	}
	return out, nil
}

// Accuracy returns top-1 accuracy: the fraction of rows whose predicted
// class (argmax, lowest index among ties) equals the label.
func Accuracy(logits *tensor.Tensor, labels []int) (float64, error) {
	return TopKAccuracy(logits, labels, 1)
}

// TopKAccuracy returns the fraction of rows whose label is among the k
// highest logits. Ties are ranked by index, as argmax ranks them: the label's
// rank is #{j : z_j > z_y} + #{j < y : z_j = z_y}, and the row counts when
// that rank is below k. With k = 1 this is Accuracy; k ≥ classes gives 1.
func TopKAccuracy(logits *tensor.Tensor, labels []int, k int) (float64, error) {
	hits, err := TopKCorrect(logits, labels, k)
	if err != nil {
		return 0, err
	}
	return float64(hits) / float64(len(labels)), nil
}

// Correct counts the rows whose predicted class (argmax, lowest index
// among ties) equals the label: Accuracy times the number of rows.
func Correct(logits *tensor.Tensor, labels []int) (int, error) {
	return TopKCorrect(logits, labels, 1)
}

// TopKCorrect counts the rows whose label is among the k highest logits,
// ranked as TopKAccuracy ranks them.
func TopKCorrect(logits *tensor.Tensor, labels []int, k int) (int, error) {
	if k < 1 {
		return 0, fmt.Errorf("top-k accuracy: k = %d, want at least 1", k)
	}
	n, classes, err := checkLogits("top-k accuracy", logits, labels)
	if err != nil {
		return 0, err
	}
	hits := 0
	for i := 0; i < n; i++ {
		if labelRank(logits.Data[i*classes:(i+1)*classes], labels[i]) < k {
			hits++
		}
	}
	return hits, nil
}

// labelRank is the 0-based rank of class y among the logits z, ties broken
// by index as in argmax.
func labelRank(z []float32, y int) int {
	zy := z[y]
	rank := 0
	for j, v := range z {
		if v > zy || (v == zy && j < y) {
			rank++
		}
	}
	return rank
}

// NLL returns the mean negative log-likelihood −log softmax(z)_y in nats.
func NLL(logits *tensor.Tensor, labels []int) (float64, error) {
	n, k, err := checkLogits("nll", logits, labels)
	if err != nil {
		return 0, err
	}
	return meanNLL(logits.Data, labels, n, k, 1), nil
}

// meanNLL is the mean of −log softmax(β·z)_y over rows, without checks.
func meanNLL(z []float32, labels []int, n, k int, beta float64) float64 {
	var sum float64
	for i := 0; i < n; i++ {
		row := z[i*k : (i+1)*k]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, beta*float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(beta*float64(v) - m)
		}
		sum += m + math.Log(s) - beta*float64(row[labels[i]])
	}
	return sum / float64(n)
}
