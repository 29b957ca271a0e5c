package report

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// MeanSEM returns the mean and the standard error of the mean, the sample
// standard deviation (n − 1) over √n; the s.e.m. is NaN for fewer than two
// values.
func MeanSEM(xs []float64) (mean, sem float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	mean = stat.Mean(xs, nil)
	if len(xs) < 2 {
		return mean, math.NaN()
	}
	return mean, stat.StdDev(xs, nil) / math.Sqrt(float64(len(xs)))
}

// WelchT is Welch's unequal-variances t-test of mean(a) = mean(b):
//
//	t = (ā − b̄) / √(s²_a/n_a + s²_b/n_b),
//	ν = (s²_a/n_a + s²_b/n_b)² / ((s²_a/n_a)²/(n_a − 1) + (s²_b/n_b)²/(n_b − 1))
//
// (Welch 1947), with the two-sided p-value 2·(1 − F_ν(|t|)) from the
// Student-t CDF. It returns NaN values when either sample has fewer than
// two values or both have zero variance (the test is undefined).
func WelchT(a, b []float64) (t, df, p float64) {
	nan := math.NaN()
	if len(a) < 2 || len(b) < 2 {
		return nan, nan, nan
	}
	na, nb := float64(len(a)), float64(len(b))
	va := stat.Variance(a, nil) / na
	vb := stat.Variance(b, nil) / nb
	if va+vb == 0 {
		return nan, nan, nan
	}
	t = (stat.Mean(a, nil) - stat.Mean(b, nil)) / math.Sqrt(va+vb)
	df = (va + vb) * (va + vb) / (va*va/(na-1) + vb*vb/(nb-1))
	p = 2 * (1 - distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.CDF(math.Abs(t)))
	return t, df, p
}

// Pearson returns the Pearson correlation of x and y, NaN for fewer than
// three points or a constant series.
func Pearson(x, y []float64) float64 {
	if len(x) < 3 || len(x) != len(y) {
		return math.NaN()
	}
	if stat.Variance(x, nil) == 0 || stat.Variance(y, nil) == 0 {
		return math.NaN()
	}
	return stat.Correlation(x, y, nil)
}
