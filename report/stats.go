package report

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// The statistics the findings use (docs/definitions.md#verdict-rules).
// Every p-value is two-sided; the findings read the direction from the
// sign of the estimate.

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

// tTwoSided is 2·P(T_ν > |t|), computed from the survival function so that
// small p-values keep their digits.
func tTwoSided(t, df float64) float64 {
	if math.IsNaN(t) || math.IsNaN(df) || df <= 0 {
		return math.NaN()
	}
	return math.Min(1, 2*distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(math.Abs(t)))
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
	r := Welch(a, b)
	return r.T, r.DF, r.P
}

// TTest is the outcome of a t-test of a difference of means.
type TTest struct {
	Diff   float64 // estimated difference, mean(a) − mean(b)
	SE     float64 // its standard error
	T      float64 // Diff / SE
	DF     float64 // degrees of freedom
	P      float64 // two-sided p-value
	N      int     // pairs used (paired test); n_a + n_b (Welch)
	Paired bool
}

func nanTTest(n int, paired bool) TTest {
	nan := math.NaN()
	return TTest{Diff: nan, SE: nan, T: nan, DF: nan, P: nan, N: n, Paired: paired}
}

// OneSampleT tests mean(d) = 0: Diff = mean(d), SE = s_d/√n, t = Diff/SE
// with n − 1 degrees of freedom. T and P are NaN (the test is undefined)
// for fewer than two values or for differences that are all equal: a
// standard deviation below 1e-9 of the largest |d|, which is what
// rounding leaves of identical differences (accuracies of two variants
// that differ by the same number of test examples at every seed would
// otherwise give t of order 10¹² and p = 0). Diff and, with two or more
// values, SE are still set.
func OneSampleT(d []float64) TTest {
	r := nanTTest(len(d), true)
	if len(d) == 0 {
		return r
	}
	r.Diff, r.SE = MeanSEM(d)
	if len(d) < 2 {
		return r
	}
	scale := 0.0
	for _, x := range d {
		scale = math.Max(scale, math.Abs(x))
	}
	if !(r.SE*math.Sqrt(float64(len(d))) > 1e-9*scale) {
		return r
	}
	r.DF = float64(len(d) - 1)
	r.T = r.Diff / r.SE
	r.P = tTwoSided(r.T, r.DF)
	return r
}

// PairedT is the paired t-test of a[i] − b[i] (equal lengths; it panics
// otherwise): the one-sample t-test of the differences.
func PairedT(a, b []float64) TTest {
	if len(a) != len(b) {
		panic("report: PairedT of unequal lengths")
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return OneSampleT(d)
}

// PairedBySeed is the paired t-test of a − b over the seeds present in both
// (NaN values are skipped); N is the number of such seeds.
func PairedBySeed(a, b map[uint64]float64) TTest {
	var xs, ys []float64
	for _, s := range commonSeeds(a, b) {
		xs, ys = append(xs, a[s]), append(ys, b[s])
	}
	return PairedT(xs, ys)
}

// commonSeeds returns, sorted, the seeds with a non-NaN value in both maps.
func commonSeeds(a, b map[uint64]float64) []uint64 {
	var seeds []uint64
	for s, x := range a {
		if y, ok := b[s]; ok && !math.IsNaN(x) && !math.IsNaN(y) {
			seeds = append(seeds, s)
		}
	}
	slices.Sort(seeds)
	return seeds
}

// Compare tests mean(a) = mean(b) for two variants' per-seed values: the
// paired test by seed when at least two seeds are shared (same seed, same
// initialisation and data order), Welch's test on all values otherwise.
func Compare(a, b map[uint64]float64) TTest {
	if len(commonSeeds(a, b)) >= 2 {
		return PairedBySeed(a, b)
	}
	return Welch(seedValues(a), seedValues(b))
}

// seedValues returns the non-NaN values of m in seed order.
func seedValues(m map[uint64]float64) []float64 {
	seeds := make([]uint64, 0, len(m))
	for s := range m {
		seeds = append(seeds, s)
	}
	slices.Sort(seeds)
	var out []float64
	for _, s := range seeds {
		if !math.IsNaN(m[s]) {
			out = append(out, m[s])
		}
	}
	return out
}

// Welch is Welch's test (see WelchT) as a TTest; SE is
// √(s²_a/n_a + s²_b/n_b).
func Welch(a, b []float64) TTest {
	r := nanTTest(len(a)+len(b), false)
	if len(a) < 2 || len(b) < 2 {
		return r
	}
	na, nb := float64(len(a)), float64(len(b))
	va := stat.Variance(a, nil) / na
	vb := stat.Variance(b, nil) / nb
	r.Diff = stat.Mean(a, nil) - stat.Mean(b, nil)
	r.SE = math.Sqrt(va + vb)
	if va+vb == 0 {
		return r
	}
	r.T = r.Diff / r.SE
	r.DF = (va + vb) * (va + vb) / (va*va/(na-1) + vb*vb/(nb-1))
	r.P = tTwoSided(r.T, r.DF)
	return r
}

// Holm returns Holm's step-down adjusted p-values (Holm 1979): with the m
// p-values sorted ascending, p̃_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j)).
// Rejecting where p̃ < α controls the family-wise error rate at α. A NaN
// (a test that could not be run) counts in m, sorts last and stays NaN.
func Holm(ps []float64) []float64 {
	m := len(ps)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	key := func(i int) float64 {
		if math.IsNaN(ps[i]) {
			return math.Inf(1)
		}
		return ps[i]
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch ka, kb := key(a), key(b); {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	out := make([]float64, m)
	run := 0.0
	for rank, i := range idx {
		if math.IsNaN(ps[i]) {
			out[i] = math.NaN()
			continue
		}
		run = math.Max(run, math.Min(1, float64(m-rank)*ps[i]))
		out[i] = run
	}
	return out
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

// Permutation-test settings: enumerate every permutation when there are at
// most MaxExactPermutations (8! — eight points in one stratum), otherwise
// draw MonteCarloPermutations from a generator with a fixed seed, so the
// same data always give the same p.
const (
	MaxExactPermutations   = 40320
	MonteCarloPermutations = 10000
	PermutationSeed        = 20211206
)

// Correlation is a Pearson correlation with a permutation p-value.
type Correlation struct {
	R     float64 // Pearson r (of the within-stratum centred values when stratified)
	P     float64 // two-sided permutation p-value
	N     int     // points
	Perms int     // permutations enumerated or drawn
	Exact bool    // every permutation enumerated
}

// PermutationCorrelation tests the association of x and y by permuting x:
// the two-sided p-value is the fraction of permutations whose |r| is at
// least the observed |r| (the identity included). With strata (one label
// per point; nil for a single stratum) x is permuted only within each
// stratum and both series are centred within each stratum first, so r is
// the within-stratum ("paired by stratum") correlation; a stratum of one
// point contributes nothing. Exact enumeration when the number of
// permutations, the product over strata of (size)!, is at most
// MaxExactPermutations; otherwise MonteCarloPermutations random
// permutations with p = (1 + #{|r*| ≥ |r|}) / (1 + draws). R and P are NaN
// when either centred series is constant or x and y differ in length.
func PermutationCorrelation(x, y []float64, strata []int) Correlation {
	n := len(x)
	c := Correlation{R: math.NaN(), P: math.NaN(), N: n}
	if len(y) != n || (strata != nil && len(strata) != n) || n < 2 {
		return c
	}
	// Group point indices by stratum, in order of first appearance.
	var groups [][]int
	if strata == nil {
		groups = [][]int{make([]int, n)}
		for i := range n {
			groups[0][i] = i
		}
	} else {
		pos := map[int]int{}
		for i, s := range strata {
			g, ok := pos[s]
			if !ok {
				g = len(groups)
				pos[s] = g
				groups = append(groups, nil)
			}
			groups[g] = append(groups[g], i)
		}
	}
	xc, yc := make([]float64, n), make([]float64, n)
	for _, g := range groups {
		var mx, my float64
		for _, i := range g {
			mx += x[i]
			my += y[i]
		}
		mx /= float64(len(g))
		my /= float64(len(g))
		for _, i := range g {
			xc[i], yc[i] = x[i]-mx, y[i]-my
		}
	}
	var sxx, syy, sxy float64
	for i := range n {
		sxx += xc[i] * xc[i]
		syy += yc[i] * yc[i]
		sxy += xc[i] * yc[i]
	}
	if !(sxx > 0) || !(syy > 0) {
		return c
	}
	norm := math.Sqrt(sxx * syy)
	c.R = sxy / norm
	// Permuting x within strata leaves sxx and syy unchanged, so |r*| ≥ |r|
	// is |Σ xc[π(i)]·yc[i]| ≥ |sxy|, with a relative tolerance for ties that
	// rounding would otherwise split.
	thr := math.Abs(sxy) - 1e-9*norm
	perm := make([]int, n) // perm[i]: the point whose x goes to point i
	for i := range perm {
		perm[i] = i
	}
	stat := func() float64 {
		var s float64
		for i := range n {
			s += xc[perm[i]] * yc[i]
		}
		return s
	}
	total := 1.0
	for _, g := range groups {
		for k := 2; k <= len(g); k++ {
			total *= float64(k)
		}
	}
	if total <= MaxExactPermutations {
		count := 0
		var rec func(gi int)
		rec = func(gi int) {
			if gi == len(groups) {
				c.Perms++
				if math.Abs(stat()) >= thr {
					count++
				}
				return
			}
			g := groups[gi]
			permuteGroup(g, perm, 0, func() { rec(gi + 1) })
		}
		rec(0)
		c.Exact = true
		c.P = float64(count) / float64(c.Perms)
		return c
	}
	rng := rand.New(rand.NewPCG(PermutationSeed, uint64(n)))
	count := 0
	for range MonteCarloPermutations {
		for _, g := range groups {
			// Fisher–Yates over the stratum's positions.
			for k := len(g) - 1; k > 0; k-- {
				j := rng.IntN(k + 1)
				perm[g[k]], perm[g[j]] = perm[g[j]], perm[g[k]]
			}
		}
		if math.Abs(stat()) >= thr {
			count++
		}
	}
	c.Perms = MonteCarloPermutations
	c.P = float64(1+count) / float64(1+MonteCarloPermutations)
	return c
}

// permuteGroup calls visit once for every arrangement of perm's entries at
// the positions g[k:] (the entries at g[:k] fixed), by swapping in place and
// restoring the order afterwards.
func permuteGroup(g, perm []int, k int, visit func()) {
	if k >= len(g)-1 {
		visit()
		return
	}
	for j := k; j < len(g); j++ {
		perm[g[k]], perm[g[j]] = perm[g[j]], perm[g[k]]
		permuteGroup(g, perm, k+1, visit)
		perm[g[k]], perm[g[j]] = perm[g[j]], perm[g[k]]
	}
}

// Spread compares the spread of two paired samples.
type Spread struct {
	SDX, SDY float64 // sample standard deviations (n − 1)
	R        float64 // corr(x + y, x − y); its sign is the sign of var(x) − var(y)
	T, DF, P float64 // t = R·√((n − 2)/(1 − R²)), n − 2 degrees of freedom, two-sided
	N        int
}

// PitmanMorgan tests var(x) = var(y) for paired samples (Pitman 1939,
// Morgan 1939): cov(x + y, x − y) = var(x) − var(y), so equal variances
// mean zero correlation between the sums and the differences, tested with
// the usual t statistic for a correlation on n − 2 degrees of freedom.
// R, T and P are NaN for fewer than three pairs or when the sums or the
// differences are constant.
func PitmanMorgan(x, y []float64) Spread {
	nan := math.NaN()
	s := Spread{SDX: nan, SDY: nan, R: nan, T: nan, DF: nan, P: nan, N: len(x)}
	if len(x) != len(y) || len(x) < 2 {
		return s
	}
	s.SDX, s.SDY = stat.StdDev(x, nil), stat.StdDev(y, nil)
	if len(x) < 3 {
		return s
	}
	sum, dif := make([]float64, len(x)), make([]float64, len(x))
	for i := range x {
		sum[i], dif[i] = x[i]+y[i], x[i]-y[i]
	}
	if stat.Variance(sum, nil) == 0 || stat.Variance(dif, nil) == 0 {
		return s
	}
	s.R = stat.Correlation(sum, dif, nil)
	s.DF = float64(len(x) - 2)
	if math.Abs(s.R) >= 1 {
		s.T, s.P = math.Copysign(math.Inf(1), s.R), 0
		return s
	}
	s.T = s.R * math.Sqrt(s.DF/(1-s.R*s.R))
	s.P = tTwoSided(s.T, s.DF)
	return s
}
