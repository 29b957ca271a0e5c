package report

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) != math.IsNaN(want) || (!math.IsNaN(want) && math.Abs(got-want) > tol) {
		t.Errorf("%s = %.15g; want %.15g (±%g)", what, got, want, tol)
	}
}

// Closed forms of the two-sided Student-t p-value 2·P(T_ν > t) for small ν.
func pNu1(t float64) float64 { return 1 - 2*math.Atan(t)/math.Pi }
func pNu2(t float64) float64 { return 1 - t/math.Sqrt(2+t*t) }
func pNu3(t float64) float64 {
	u := t / math.Sqrt(3)
	return 1 - 2/math.Pi*(math.Atan(u)+u/(1+u*u))
}

func TestPairedTHandWorked(t *testing.T) {
	// Differences {1, 2, 3, 4}: mean 2.5; s² = (1.5² + 0.5² + 0.5² + 1.5²)/3
	// = 5/3; SE = √(5/3)/2 = √(5/12); t = 2.5/√(5/12) = √15 ≈ 3.8730 on 3
	// degrees of freedom; p = 1 − (2/π)(atan √5 + √5/6) ≈ 0.030464.
	r := PairedT([]float64{3, 5, 7, 9}, []float64{2, 3, 4, 5})
	near(t, "diff", r.Diff, 2.5, 1e-15)
	near(t, "SE", r.SE, math.Sqrt(5.0/12), 1e-15)
	near(t, "t", r.T, math.Sqrt(15), 1e-12)
	near(t, "df", r.DF, 3, 0)
	near(t, "p", r.P, pNu3(math.Sqrt(15)), 1e-12)
	near(t, "p (decimal)", r.P, 0.030464, 5e-6)
	if r.N != 4 || !r.Paired {
		t.Errorf("N, Paired = %d, %v; want 4, true", r.N, r.Paired)
	}
	// Differences {1, 2, 3}: mean 2, s = 1, SE = 1/√3, t = 2√3 on 2 degrees
	// of freedom; p = 1 − t/√(2 + t²) = 1 − 2√3/√14 ≈ 0.074180.
	r = OneSampleT([]float64{1, 2, 3})
	near(t, "t", r.T, 2*math.Sqrt(3), 1e-12)
	near(t, "p", r.P, 1-2*math.Sqrt(3)/math.Sqrt(14), 1e-12)
	near(t, "p (decimal)", r.P, 0.074180, 5e-6)
	// Differences {−1, 1}: t = 0, p = 1.
	near(t, "p at t = 0", OneSampleT([]float64{-1, 1}).P, 1, 1e-15)

	// By seed: only seeds present, and not NaN, in both count.
	a := map[uint64]float64{1: 3, 2: 5, 3: 7, 4: 9, 5: 100, 7: math.NaN()}
	b := map[uint64]float64{1: 2, 2: 3, 3: 4, 4: 5, 6: 0, 7: 1}
	r = PairedBySeed(a, b)
	if r.N != 4 {
		t.Errorf("pairs used = %d; want 4 (seeds 1-4)", r.N)
	}
	near(t, "t by seed", r.T, math.Sqrt(15), 1e-12)
	if c := Compare(a, b); !c.Paired || c.T != r.T {
		t.Errorf("Compare with shared seeds = %+v; want the paired test", c)
	}

	// Undefined: one value, or identical differences up to rounding (the
	// accuracies below differ by exactly one test example of 5,139 at every
	// seed, as two variants in the default study do).
	for _, d := range [][]float64{{1}, {2, 2, 2}} {
		if r := OneSampleT(d); !math.IsNaN(r.T) || !math.IsNaN(r.P) {
			t.Errorf("OneSampleT(%v) = %+v; want NaN t and p", d, r)
		}
	}
	x := []float64{0.99766491535318158, 0.99727569565596421, 0.99805413505039896}
	y := make([]float64, 3)
	for i := range x {
		y[i] = x[i] - 1.0/5139
	}
	if r := PairedT(x, y); !math.IsNaN(r.P) {
		t.Errorf("identical differences up to rounding: %+v; want NaN p", r)
	}
}

// tPDFIntegral is an independent reference for the two-sided p-value:
// 1 − 2∫₀^|t| f_ν(u) du, with the Student-t density integrated by
// composite Simpson's rule.
func tPDFIntegral(tv, nu float64) float64 {
	lg1, _ := math.Lgamma((nu + 1) / 2)
	lg2, _ := math.Lgamma(nu / 2)
	c := math.Exp(lg1-lg2) / math.Sqrt(nu*math.Pi)
	f := func(u float64) float64 { return c * math.Pow(1+u*u/nu, -(nu+1)/2) }
	const n = 20000
	h := math.Abs(tv) / n
	s := f(0) + f(math.Abs(tv))
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		s += w * f(float64(i)*h)
	}
	return 1 - 2*s*h/3
}

func TestPairedTAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		n := 2 + trial%9
		a, b := make([]float64, n), make([]float64, n)
		for i := range a {
			a[i] = rng.NormFloat64() + 0.7
			b[i] = rng.NormFloat64()
		}
		// Two-pass mean and variance, written out.
		var sum float64
		for i := range a {
			sum += a[i] - b[i]
		}
		mean := sum / float64(n)
		var ss float64
		for i := range a {
			d := a[i] - b[i] - mean
			ss += d * d
		}
		se := math.Sqrt(ss / float64(n-1) / float64(n))
		tv := mean / se
		r := PairedT(a, b)
		near(t, "t", r.T, tv, 1e-9*math.Max(1, math.Abs(tv)))
		near(t, "p", r.P, tPDFIntegral(tv, float64(n-1)), 1e-7)
	}
}

func TestWelchWhereUnpaired(t *testing.T) {
	// No shared seed: Welch on all values. a = {1,2,3,4}, b = {2,4,6,8,10}:
	// s²/n = 5/12 and 2, t = −3.5/√(29/12), ν = (29/12)²/((5/12)²/3 + 4/4).
	a := map[uint64]float64{1: 1, 2: 2, 3: 3, 4: 4}
	b := map[uint64]float64{11: 2, 12: 4, 13: 6, 14: 8, 15: 10}
	r := Compare(a, b)
	if r.Paired || r.N != 9 {
		t.Errorf("Compare without shared seeds: Paired %v, N %d; want Welch on 9 values", r.Paired, r.N)
	}
	near(t, "t", r.T, -3.5/math.Sqrt(29.0/12), 1e-12)
	near(t, "df", r.DF, (29.0/12)*(29.0/12)/((5.0/12)*(5.0/12)/3+1), 1e-12)
	near(t, "SE", r.SE, math.Sqrt(29.0/12), 1e-12)
	// One shared seed is not a paired design either.
	b[1] = 0
	if Compare(a, b).Paired {
		t.Error("Compare with one shared seed is paired; want Welch")
	}
}

func TestHolmHandWorked(t *testing.T) {
	// Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, then
	// max(0.06, 0.04·1) = 0.06.
	got := Holm([]float64{0.01, 0.04, 0.03, 0.005})
	for i, w := range []float64{0.03, 0.06, 0.06, 0.02} {
		near(t, "Holm", got[i], w, 1e-15)
	}
	// A NaN counts in m and stays NaN; adjusted values stop at 1.
	got = Holm([]float64{math.NaN(), 0.02, 0.6})
	near(t, "Holm 0.02 of 3", got[1], 0.06, 1e-15)
	near(t, "Holm 0.6 of 3", got[2], 1, 0)
	if !math.IsNaN(got[0]) {
		t.Errorf("Holm of NaN = %v", got[0])
	}
}

// bruteForceP enumerates every permutation of n points (by Heap's
// algorithm), keeps those that map every stratum onto itself, and counts
// those whose |r| of within-stratum centred values reaches the observed.
func bruteForceP(x, y []float64, strata []int) (r float64, p float64, count int) {
	n := len(x)
	if strata == nil {
		strata = make([]int, n)
	}
	centre := func(v []float64) []float64 {
		out := make([]float64, n)
		for i := range v {
			var s, k float64
			for j := range v {
				if strata[j] == strata[i] {
					s += v[j]
					k++
				}
			}
			out[i] = v[i] - s/k
		}
		return out
	}
	pearson := func(a, b []float64) float64 {
		var sab, saa, sbb float64
		for i := range a {
			sab += a[i] * b[i]
			saa += a[i] * a[i]
			sbb += b[i] * b[i]
		}
		return sab / math.Sqrt(saa*sbb)
	}
	yc := centre(y)
	r = pearson(centre(x), yc)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	hits, total := 0, 0
	visit := func() {
		for i, j := range perm {
			if strata[i] != strata[j] {
				return
			}
		}
		xp := make([]float64, n)
		for i, j := range perm {
			xp[i] = x[j]
		}
		total++
		if math.Abs(pearson(centre(xp), yc)) >= math.Abs(r)-1e-12 {
			hits++
		}
	}
	c := make([]int, n)
	visit()
	for i := 0; i < n; {
		if c[i] < i {
			if i%2 == 0 {
				perm[0], perm[i] = perm[i], perm[0]
			} else {
				perm[c[i]], perm[i] = perm[i], perm[c[i]]
			}
			visit()
			c[i]++
			i = 0
		} else {
			c[i] = 0
			i++
		}
	}
	return r, float64(hits) / float64(total), total
}

func TestPermutationCorrelation(t *testing.T) {
	// Three points on a line: of the 6 permutations only the identity
	// (r = 1) and the reversal (r = −1) reach |r| = 1, so p = 2/6.
	c := PermutationCorrelation([]float64{1, 2, 3}, []float64{1, 2, 3}, nil)
	near(t, "r", c.R, 1, 1e-15)
	near(t, "p", c.P, 1.0/3, 1e-15)
	if !c.Exact || c.Perms != 6 {
		t.Errorf("exact %v over %d permutations; want exact over 6", c.Exact, c.Perms)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	draw := func(n int, slope float64) ([]float64, []float64) {
		x, y := make([]float64, n), make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64()
			y[i] = slope*x[i] + rng.NormFloat64()
		}
		return x, y
	}
	for _, slope := range []float64{0, 0.5, 2} {
		x, y := draw(7, slope)
		r, p, total := bruteForceP(x, y, nil)
		c := PermutationCorrelation(x, y, nil)
		near(t, "r vs brute force", c.R, r, 1e-12)
		near(t, "p vs brute force", c.P, p, 1e-12)
		if !c.Exact || c.Perms != total {
			t.Errorf("n = 7: exact %v, %d permutations; want exact, %d", c.Exact, c.Perms, total)
		}
		// Stratified: three seeds with 3, 3 and 2 runs, 3!·3!·2! = 72
		// arrangements; ties in x within a stratum included.
		x, y = draw(8, slope)
		x[1] = x[0]
		strata := []int{5, 5, 5, 9, 9, 9, 2, 2}
		r, p, total = bruteForceP(x, y, strata)
		c = PermutationCorrelation(x, y, strata)
		near(t, "stratified r vs brute force", c.R, r, 1e-12)
		near(t, "stratified p vs brute force", c.P, p, 1e-12)
		if c.Perms != 72 || total != 72 {
			t.Errorf("stratified: %d and %d permutations; want 72", c.Perms, total)
		}
	}

	// Nine points: 9! > 8!, so Monte Carlo; deterministic, and within
	// sampling error (SE ≤ 0.005) of the exact p.
	x, y := draw(9, 0.4)
	c1 := PermutationCorrelation(x, y, nil)
	c2 := PermutationCorrelation(x, y, nil)
	if c1.Exact || c1.Perms != MonteCarloPermutations {
		t.Errorf("n = 9: exact %v, %d permutations; want %d random", c1.Exact, c1.Perms, MonteCarloPermutations)
	}
	if c1 != c2 {
		t.Errorf("Monte Carlo p not deterministic: %v vs %v", c1.P, c2.P)
	}
	if testing.Short() {
		return
	}
	_, exact, _ := bruteForceP(x, y, nil)
	near(t, "Monte Carlo p vs exact", c1.P, exact, 0.02)

	// A constant series has no correlation.
	if c := PermutationCorrelation([]float64{1, 2, 3}, []float64{4, 4, 4}, nil); !math.IsNaN(c.R) || !math.IsNaN(c.P) {
		t.Errorf("constant y: %+v; want NaN", c)
	}
}

func TestPitmanMorganHandWorked(t *testing.T) {
	// x = {1, 2, 3}, y = {1, 1, 2}: var x = 1, var y = 1/3. Sums {2, 3, 5}
	// (variance 7/3), differences {0, 1, 1} (variance 1/3), covariance
	// 2/3 = var x − var y. r = (2/3)/√(7/9) = 2/√7; on 1 degree of freedom
	// t = r/√(1 − r²) = 2/√3 and p = 1 − (2/π)·atan(2/√3).
	s := PitmanMorgan([]float64{1, 2, 3}, []float64{1, 1, 2})
	near(t, "SD x", s.SDX, 1, 1e-15)
	near(t, "SD y", s.SDY, math.Sqrt(1.0/3), 1e-15)
	near(t, "r", s.R, 2/math.Sqrt(7), 1e-12)
	near(t, "t", s.T, 2/math.Sqrt(3), 1e-12)
	near(t, "p", s.P, pNu1(2/math.Sqrt(3)), 1e-12)
	// Swapping the samples turns the sign, not the p-value.
	w := PitmanMorgan([]float64{1, 1, 2}, []float64{1, 2, 3})
	near(t, "swapped r", w.R, -s.R, 1e-12)
	near(t, "swapped p", w.P, s.P, 1e-12)
}

func TestWelchTHandWorked(t *testing.T) {
	// With b constant, ν = 1: the t distribution is Cauchy, whose CDF is
	// 1/2 + atan(t)/π. a = {0, 2}: mean 1, s² = 2, s²/n = 1; b = {5, 5}.
	tt, df, p := WelchT([]float64{0, 2}, []float64{5, 5})
	if tt != -4 || math.Abs(df-1) > 1e-12 {
		t.Errorf("t, df = %v, %v; want -4, 1", tt, df)
	}
	near(t, "p", p, pNu1(4), 1e-9)
	// a = {1,2,3,4}, b = {2,4,6,8,10}: s²/n = 5/12 and 2, t = −3.5/√(29/12),
	// ν = (29/12)² / ((5/12)²/3 + 4/4).
	tt, df, _ = WelchT([]float64{1, 2, 3, 4}, []float64{2, 4, 6, 8, 10})
	if wt, wdf := -3.5/math.Sqrt(29.0/12), (29.0/12)*(29.0/12)/((5.0/12)*(5.0/12)/3+1); math.Abs(tt-wt) > 1e-12 || math.Abs(df-wdf) > 1e-12 {
		t.Errorf("t, df = %v, %v; want %v, %v", tt, df, wt, wdf)
	}
	if _, _, p := WelchT([]float64{1}, []float64{2, 3}); !math.IsNaN(p) {
		t.Errorf("p with one value = %v; want NaN", p)
	}
	m, s := MeanSEM([]float64{1, 2, 3, 4})
	if m != 2.5 || math.Abs(s-math.Sqrt(5.0/3)/2) > 1e-12 {
		t.Errorf("MeanSEM = %v, %v", m, s)
	}
}
