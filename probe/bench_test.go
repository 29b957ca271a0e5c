package probe

import (
	"math/rand/v2"
	"testing"
)

// benchProbeData is the benchmark problem: 10 Gaussian classes in 512
// dimensions (class means N(0, 0.08²) per feature, unit noise), learnable
// but not separable: 10,000 training and 2,000 test examples.
func benchProbeData() (train, test Data) {
	rng := rand.New(rand.NewPCG(11, 12))
	means := classMeans(rng, 10, 512, 0.08)
	return clusters(rng, means, 10000), clusters(rng, means, 2000)
}

// BenchmarkLinearProbeSearch is the full λ search (8-point grid, refinement,
// refit) on 10,000 × 512 features, 10 classes.
func BenchmarkLinearProbeSearch(b *testing.B) {
	train, test := benchProbeData()
	b.ResetTimer()
	for range b.N {
		r, err := LinearProbe(train, test, Config{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		evals := r.Refit.Evals
		for _, s := range r.Search {
			evals += s.Fit.Evals
		}
		b.ReportMetric(r.Accuracy, "test-acc")
		b.ReportMetric(float64(evals), "evals")
		b.ReportMetric(r.Lambda, "lambda")
	}
}

// BenchmarkObjectiveEval is one objective and gradient evaluation on 8,000 ×
// 512 features, 10 classes: two 10×8000×512 products (164 MFLOP).
func BenchmarkObjectiveEval(b *testing.B) {
	train, _ := benchProbeData()
	n := 8000
	mean, scale := standardisation(train.X, seq(n))
	xs := gatherStandardised(train.X, seq(n), mean, scale)
	o := newLogisticObjective(xs.Data, train.Y[:n], n, 512, 10)
	o.lambda = 1e-3
	params := make([]float64, 10*512+10)
	grad := make([]float64, len(params))
	rng := rand.New(rand.NewPCG(1, 1))
	b.ResetTimer()
	for range b.N {
		params[rng.IntN(len(params))] += 1e-3 // defeat the cache
		o.Func(params)
		o.Grad(grad, params)
	}
	b.ReportMetric(2*2*10*8000*512*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
