package metrics_test

import (
	"fmt"
	"log"

	"github.com/losslab/losslab/metrics"
	"github.com/losslab/losslab/tensor"
)

// overconfident returns four examples of three classes, all with logits
// (2, 0, 0): each predicts class 0 with confidence e²/(e²+2) ≈ 0.787, but
// only three of the four are class 0, so accuracy is 0.75.
func overconfident() (*tensor.Tensor, []int) {
	z := tensor.FromData([]float32{
		2, 0, 0,
		2, 0, 0,
		2, 0, 0,
		2, 0, 0,
	}, 4, 3)
	return z, []int{0, 0, 0, 1}
}

// Calibrate bins the top-label confidences (DefaultBins equal-width bins)
// and reports ECE, NLL and Brier score. Every confidence here is 0.787 in
// one bin whose accuracy is 0.75, so ECE = 0.787 − 0.75.
func ExampleCalibrate() {
	z, labels := overconfident()
	r, err := metrics.Calibrate(z, labels, metrics.DefaultBins)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("accuracy %.4f\nECE %.4f\nNLL %.4f\nBrier %.4f\n", r.Accuracy, r.ECE, r.NLL, r.Brier)
	for _, b := range r.Reliability {
		if b.Count > 0 {
			fmt.Printf("bin (%.4f, %.4f]: %d examples, confidence %.4f, accuracy %.4f\n", b.Lo, b.Hi, b.Count, b.Confidence, b.Accuracy)
		}
	}
	// Output:
	// accuracy 0.7500
	// ECE 0.0370
	// NLL 0.7395
	// Brier 0.4083
	// bin (0.7333, 0.8000]: 4 examples, confidence 0.7870, accuracy 0.7500
}

// FitTemperature finds the T that minimises the NLL of softmax(z/T) on
// held-out logits; ScaleLogits applies it. Here the best T makes the
// confidence equal the accuracy: e^(2/T)/(e^(2/T)+2) = 0.75, so
// T = 2/ln 6 ≈ 1.1162, and the ECE after scaling is 0. Scaling by one
// T > 0 never changes the predictions, so accuracy stays 0.75.
func ExampleFitTemperature() {
	z, labels := overconfident()
	fit, err := metrics.FitTemperature(z, labels)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("T %.4f (converged %v)\nNLL %.4f -> %.4f\n", fit.Temperature, fit.Converged, fit.NLLBefore, fit.NLL)

	scaled := metrics.ScaleLogits(z, fit.Temperature)
	r, err := metrics.Calibrate(scaled, labels, metrics.DefaultBins)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("after scaling: ECE %.4f, NLL %.4f, accuracy %.4f\n", r.ECE, r.NLL, r.Accuracy)
	// Output:
	// T 1.1162 (converged true)
	// NLL 0.7395 -> 0.7356
	// after scaling: ECE 0.0000, NLL 0.7356, accuracy 0.7500
}
