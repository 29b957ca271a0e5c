package train

import (
	"math"
	"testing"

	"github.com/losslab/losslab/metrics"
	"github.com/losslab/losslab/nn"
)

// Predict is the evaluation of training itself: on a finished run's model,
// Logits reproduces metrics.json's test accuracy and loss, whatever the
// evaluation batch size, and Penultimate returns the features the head
// reads.
func TestPredictReproducesTheRunsEvaluation(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	res := mustRun(t, cfg, dir)
	m, saved, err := LoadModel(dir, testData)
	if err != nil {
		t.Fatal(err)
	}
	_, test, err := testData.Load(saved.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	test = test.Head(saved.TestLimit)
	for _, bs := range []int{saved.EvalBatchSize, 7, test.Len()} {
		c := saved
		c.EvalBatchSize = bs
		z, err := Logits(m, c, test)
		if err != nil {
			t.Fatal(err)
		}
		if z.Shape[0] != test.Len() || z.Shape[1] != test.NumClasses {
			t.Fatalf("batch %d: logits %v; want [%d %d]", bs, z.Shape, test.Len(), test.NumClasses)
		}
		acc, err := metrics.Accuracy(z, test.Labels)
		if err != nil {
			t.Fatal(err)
		}
		nll, err := metrics.NLL(z, test.Labels)
		if err != nil {
			t.Fatal(err)
		}
		if acc != res.TestAccuracy || math.Abs(nll-res.TestLoss) > 1e-5 {
			t.Errorf("batch %d: accuracy %v, loss %v; the run measured %v, %v", bs, acc, nll, res.TestAccuracy, res.TestLoss)
		}
	}
	feats, err := Penultimate(m, saved, test)
	if err != nil {
		t.Fatal(err)
	}
	// The head of the mlp is one dense layer: logits = features·W + b.
	m.Forward(test.Images, false)
	var pen *nn.Output
	for i, o := range m.Outputs() {
		if o.Name == "penultimate" {
			pen = &m.Outputs()[i]
		}
	}
	if pen == nil || feats.Shape[0] != test.Len() || feats.Shape[1] != pen.Tensor.Shape[1] {
		t.Fatalf("penultimate features %v", feats.Shape)
	}
	for i, v := range pen.Tensor.Data {
		if math.Abs(float64(v-feats.Data[i])) > 1e-5 {
			t.Fatalf("penultimate feature %d = %v; a whole-set forward gives %v", i, feats.Data[i], v)
		}
	}
}
