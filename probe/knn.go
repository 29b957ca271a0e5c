package probe

import (
	"fmt"
	"math"

	"github.com/losslab/losslab/tensor"
)

// DefaultK is the default number of neighbours of the k-NN probe. The study
// does not fix it; 10 is a common choice for probing features and is
// documented as ours.
const DefaultK = 10

// KNNRule names the k-NN probe's conventions, for reports.
const KNNRule = "cosine similarity on raw features (zero vectors have similarity 0 with everything); the k most similar training examples (ties: lower training index) vote one each; tied votes go to the class with the larger summed similarity, then the lower class index"

// KNNResult is the outcome of KNN.
type KNNResult struct {
	Accuracy             float64 `json:"accuracy"`
	MeanPerClassAccuracy float64 `json:"mean_per_class_accuracy"`
	K                    int     `json:"k"`
	Classes              int     `json:"classes"`
	Train                int     `json:"train_examples"`
	Test                 int     `json:"test_examples"`
	Rule                 string  `json:"rule"`
}

// knnBlock is the number of test rows whose similarities to every training
// row are held at once.
const knnBlock = 256

// KNN scores a cosine k-nearest-neighbour classifier (see KNNRule) built on
// train and evaluated on test: top-1 accuracy and mean per-class accuracy
// (mean over classes present in test). Features are not standardised:
// cosine similarity is taken on the raw features, as they come from the
// network. k larger than the training set uses every training example.
// Similarities are float32 GEMM products of L2-normalised rows, for blocks
// of 256 test rows at a time (memory 256 × train examples).
func KNN(train, test Data, k int) (KNNResult, error) {
	if k < 1 {
		return KNNResult{}, fmt.Errorf("k-NN probe: k = %d, want at least 1", k)
	}
	classes, err := checkSets("k-NN probe", train, test, nil)
	if err != nil {
		return KNNResult{}, err
	}
	nTrain, nTest, dim := train.X.Shape[0], test.X.Shape[0], train.X.Shape[1]
	k = min(k, nTrain)
	a := normaliseRows(train.X)
	q := normaliseRows(test.X)
	pred := make([]int, nTest)
	sims := make([]float32, knnBlock*nTrain)
	for b0 := 0; b0 < nTest; b0 += knnBlock {
		rows := min(knnBlock, nTest-b0)
		tensor.Gemm(false, true, rows, nTrain, dim, 1, q.Data[b0*dim:], dim, a.Data, dim, 0, sims, nTrain)
		tensor.ParallelFor(rows, func(lo, hi int) {
			idx := make([]int, k)
			val := make([]float32, k)
			votes := make([]int, classes)
			weight := make([]float64, classes)
			for r := lo; r < hi; r++ {
				topK(sims[r*nTrain:(r+1)*nTrain], idx, val)
				clear(votes)
				clear(weight)
				for j, i := range idx {
					votes[train.Y[i]]++
					weight[train.Y[i]] += float64(val[j])
				}
				best := 0
				for c := 1; c < classes; c++ {
					if votes[c] > votes[best] || (votes[c] == votes[best] && weight[c] > weight[best]) {
						best = c
					}
				}
				pred[b0+r] = best
			}
		})
	}
	acc, perClass := accuracies(pred, test.Y, classes)
	return KNNResult{Accuracy: acc, MeanPerClassAccuracy: perClass, K: k, Classes: classes,
		Train: nTrain, Test: nTest, Rule: KNNRule}, nil
}

// topK fills idx and val with the len(idx) largest entries of s, largest
// first, ties to the lower index. It keeps a sorted buffer: O(len(s)·k) in
// the worst case, close to O(len(s)) in practice because most entries are
// smaller than the current k-th.
func topK(s []float32, idx []int, val []float32) {
	k := len(idx)
	filled := 0
	for i, v := range s {
		if filled == k && v <= val[k-1] {
			continue // not better than the k-th (equal loses: higher index)
		}
		pos := min(filled, k-1)
		for pos > 0 && val[pos-1] < v {
			val[pos], idx[pos] = val[pos-1], idx[pos-1]
			pos--
		}
		val[pos], idx[pos] = v, i
		if filled < k {
			filled++
		}
	}
}

// normaliseRows returns x with every row scaled to unit L2 norm (norms in
// float64); all-zero rows stay zero.
func normaliseRows(x *tensor.Tensor) *tensor.Tensor {
	n, p := x.Shape[0], x.Shape[1]
	out := tensor.New(n, p)
	tensor.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := x.Data[i*p : (i+1)*p]
			var s float64
			for _, v := range row {
				s += float64(v) * float64(v)
			}
			if s == 0 {
				continue
			}
			inv := 1 / math.Sqrt(s)
			for j, v := range row {
				out.Data[i*p+j] = float32(float64(v) * inv)
			}
		}
	})
	return out
}
