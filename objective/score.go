package objective

import (
	"fmt"
	"math"

	"github.com/losslab/losslab/tensor"
)

// ScoreLogits returns the mean loss of the named objective (registry name or
// stack, with hyperparameters as for New) over logits [N, K] exported from a
// model, e.g. read from a .npy file. Only objectives that are functions of
// the logits alone can be scored: softmax, label_smoothing, sigmoid,
// logit_penalty, logit_normalization and squared_error (and stacks of them).
// For dropout, cosine_softmax and extra_final_layer_l2 it returns an error
// saying what of the model they need. Malformed inputs (shape, label count,
// labels outside [0, K), non-finite logits) are errors too.
func ScoreLogits(name string, params map[string]float64, logits *tensor.Tensor, labels []int) (float64, error) {
	obj, err := New(name, params)
	if err != nil {
		return 0, err
	}
	if needs, why := NeedsModel(obj); needs {
		return 0, fmt.Errorf("objective %s cannot be scored from logits alone: %s", obj.Name(), why)
	}
	if logits == nil || len(logits.Shape) != 2 {
		var shape []int
		if logits != nil {
			shape = logits.Shape
		}
		return 0, fmt.Errorf("objective %s: logits have shape %v, want 2-D [examples classes]", obj.Name(), shape)
	}
	n, k := logits.Shape[0], logits.Shape[1]
	if n == 0 || k == 0 {
		return 0, fmt.Errorf("objective %s: logits have shape %v, want at least one example and one class", obj.Name(), logits.Shape)
	}
	if len(labels) != n {
		return 0, fmt.Errorf("objective %s: %d labels for %d rows of logits", obj.Name(), len(labels), n)
	}
	for i, y := range labels {
		if y < 0 || y >= k {
			return 0, fmt.Errorf("objective %s: label %d of example %d outside [0, %d)", obj.Name(), y, i, k)
		}
	}
	for i, v := range logits.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, fmt.Errorf("objective %s: logit [%d, %d] is %g, want finite", obj.Name(), i/k, i%k, v)
		}
	}
	return obj.Loss(logits, labels, nil), nil
}
