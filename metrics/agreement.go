package metrics

import (
	"fmt"

	"github.com/losslab/losslab/tensor"
)

// Disagreement returns the fraction of examples whose predicted class
// (argmax, lowest index among ties) differs between two models' logits for
// the same examples in the same order (same shape [examples, classes]).
func Disagreement(a, b *tensor.Tensor) (float64, error) {
	m, err := DisagreementMatrix([]*tensor.Tensor{a, b})
	if err != nil {
		return 0, err
	}
	return m[0][1], nil
}

// DisagreementMatrix returns the symmetric matrix of pairwise disagreement
// (see Disagreement) between the given models' logits, all [examples,
// classes] over the same examples; the diagonal is 0.
func DisagreementMatrix(logits []*tensor.Tensor) ([][]float64, error) {
	preds, err := predictionsOfAll("disagreement", logits)
	if err != nil {
		return nil, err
	}
	n := len(preds[0])
	out := make([][]float64, len(preds))
	for i := range out {
		out[i] = make([]float64, len(preds))
	}
	for i := range preds {
		for j := i + 1; j < len(preds); j++ {
			diff := 0
			for e := 0; e < n; e++ {
				if preds[i][e] != preds[j][e] {
					diff++
				}
			}
			out[i][j] = float64(diff) / float64(n)
			out[j][i] = out[i][j]
		}
	}
	return out, nil
}

// predictionsOfAll checks that all logit matrices have the same shape and
// returns their predictions.
func predictionsOfAll(name string, logits []*tensor.Tensor) ([][]int, error) {
	if len(logits) == 0 {
		return nil, fmt.Errorf("%s: no models", name)
	}
	preds := make([][]int, len(logits))
	for i, z := range logits {
		if _, _, err := checkLogits(fmt.Sprintf("%s: model %d", name, i), z, nil); err != nil {
			return nil, err
		}
		if z.Shape[0] != logits[0].Shape[0] || z.Shape[1] != logits[0].Shape[1] {
			return nil, fmt.Errorf("%s: model %d has logits of shape %v, model 0 has %v; want the same examples and classes",
				name, i, z.Shape, logits[0].Shape)
		}
		preds[i], _ = Predictions(z)
	}
	return preds, nil
}

// EnsembleProbabilities returns the ensemble's predictive distribution: the
// mean over models of softmax(z), per example [examples, classes].
func EnsembleProbabilities(logits []*tensor.Tensor) (*tensor.Tensor, error) {
	if _, err := predictionsOfAll("ensemble", logits); err != nil {
		return nil, err
	}
	n, k := logits[0].Shape[0], logits[0].Shape[1]
	sum := make([]float64, n*k)
	p := make([]float64, k)
	for _, z := range logits {
		for i := 0; i < n; i++ {
			softmaxInto(p, z.Data[i*k:(i+1)*k], 1)
			for j, q := range p {
				sum[i*k+j] += q
			}
		}
	}
	out := tensor.New(n, k)
	inv := 1 / float64(len(logits))
	for i, s := range sum {
		out.Data[i] = float32(s * inv)
	}
	return out, nil
}

// EnsembleAccuracy returns the top-1 accuracy of the ensemble that averages
// the models' probabilities (EnsembleProbabilities), argmax with the lowest
// index among ties.
func EnsembleAccuracy(logits []*tensor.Tensor, labels []int) (float64, error) {
	p, err := EnsembleProbabilities(logits)
	if err != nil {
		return 0, err
	}
	// Accuracy only compares values, so probabilities serve as logits.
	return Accuracy(p, labels)
}
