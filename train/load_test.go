package train

import (
	"context"
	"testing"

	"github.com/losslab/losslab/objective"
)

// TestLoadModelReproducesFinalEvaluation trains a tiny run with weight
// averaging and dropout, loads it back and checks that evaluating the
// loaded model gives the test accuracy and loss of metrics.json.
func TestLoadModelReproducesFinalEvaluation(t *testing.T) {
	cfg := DefaultConfig("mnist", "mlp")
	cfg.Objective = "dropout"
	cfg.Epochs, cfg.TrainLimit, cfg.TestLimit, cfg.Threads, cfg.BatchSize = 1, 256, 128, 2, 64
	cfg.EMADecay = 0.9
	dir := t.TempDir()
	res, err := Run(context.Background(), cfg, dir, opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	m, got, err := LoadModel(dir, testData)
	if err != nil {
		t.Fatal(err)
	}
	if got.Objective != "dropout" || got.EMADecay != 0.9 {
		t.Errorf("loaded config %+v", got)
	}
	_, test, err := testData.Load("mnist")
	if err != nil {
		t.Fatal(err)
	}
	test = test.Head(cfg.TestLimit)
	z := m.Forward(test.Images, false)
	loss := objective.Softmax{}.Loss(z, test.Labels, nil)
	acc := float64(countCorrect(z, test.Labels)) / float64(test.Len())
	if acc != res.TestAccuracy || absDiff(loss, res.TestLoss) > 1e-5 {
		t.Errorf("loaded model: accuracy %v, loss %v; metrics.json has %v, %v", acc, loss, res.TestAccuracy, res.TestLoss)
	}
	if _, _, err := LoadModel(t.TempDir(), testData); err == nil {
		t.Error("LoadModel of an empty folder succeeded")
	}
}

func absDiff(a, b float64) float64 {
	x := a - b
	if x < 0 {
		return -x
	}
	return x
}
