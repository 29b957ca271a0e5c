package probe_test

import (
	"fmt"
	"log"
	"math"

	"github.com/losslab/losslab/probe"
	"github.com/losslab/losslab/tensor"
)

// blobs returns n examples of two classes in two features: class i%2
// centred at (−2, 0) or (2, 0), shifted by (5, 5), with a deterministic
// wobble of at most 0.8 per feature; phase varies the wobble.
func blobs(n int, phase float64) probe.Data {
	x := tensor.New(n, 2)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		y[i] = i % 2
		t := float64(i) + phase
		x.Data[2*i] = float32(5 - 2 + 4*float64(y[i]) + 0.8*math.Sin(1.7*t))
		x.Data[2*i+1] = float32(5 + 0.8*math.Cos(1.3*t))
	}
	return probe.Data{X: x, Y: y}
}

// LinearProbe standardises the features, picks λ on a seeded validation
// split of train (20% by default), refits on all of train and scores on
// test. The returned model applies the same standardisation to raw
// features.
func ExampleLinearProbe() {
	train, test := blobs(40, 0), blobs(20, 0.5)
	r, err := probe.LinearProbe(train, test, probe.Config{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("accuracy %.4f, mean per-class %.4f\n", r.Accuracy, r.MeanPerClassAccuracy)
	fmt.Printf("%d classes; %d train, %d validation, %d test examples\n", r.Classes, r.Train, r.Val, r.Test)

	pred, err := r.Model.Predict(tensor.FromData([]float32{2.5, 5, 7.5, 5}, 2, 2))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("predictions for (2.5, 5) and (7.5, 5):", pred)
	// Output:
	// accuracy 1.0000, mean per-class 1.0000
	// 2 classes; 32 train, 8 validation, 20 test examples
	// predictions for (2.5, 5) and (7.5, 5): [0 1]
}

// KNN classifies each test example by a vote of its DefaultK most
// cosine-similar training examples (on raw features).
func ExampleKNN() {
	train, test := blobs(40, 0), blobs(20, 0.5)
	r, err := probe.KNN(train, test, probe.DefaultK)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("k %d: accuracy %.4f, mean per-class %.4f over %d test examples\n", r.K, r.Accuracy, r.MeanPerClassAccuracy, r.Test)
	// Output:
	// k 10: accuracy 1.0000, mean per-class 1.0000 over 20 test examples
}
