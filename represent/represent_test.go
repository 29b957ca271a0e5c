package represent

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// randRep returns an n×p matrix of N(offset, 1) values plus a low-rank part
// shared through z (so that two representations built from the same z are
// related), as float32.
func randRep(rng *rand.Rand, n, p int, offset float64, z [][]float64) *tensor.Tensor {
	x := tensor.New(n, p)
	var mix [][]float64
	if z != nil {
		mix = make([][]float64, len(z[0]))
		for r := range mix {
			mix[r] = make([]float64, p)
			for j := range mix[r] {
				mix[r][j] = rng.NormFloat64()
			}
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			v := offset + rng.NormFloat64()
			for r := range mix {
				v += 2 * z[i][r] * mix[r][j]
			}
			x.Data[i*p+j] = float32(v)
		}
	}
	return x
}

func latent(rng *rand.Rand, n, r int) [][]float64 {
	z := make([][]float64, n)
	for i := range z {
		z[i] = make([]float64, r)
		for j := range z[i] {
			z[i][j] = rng.NormFloat64()
		}
	}
	return z
}

// naiveGram returns K = XXᵀ in float64 from the raw (uncentred) data.
func naiveGram(x *tensor.Tensor) [][]float64 {
	n, p := x.Shape[0], x.Shape[1]
	k := make([][]float64, n)
	for i := range k {
		k[i] = make([]float64, n)
		for j := range k[i] {
			var s float64
			for c := 0; c < p; c++ {
				s += float64(x.Data[i*p+c]) * float64(x.Data[j*p+c])
			}
			k[i][j] = s
		}
	}
	return k
}

// naiveCentredGram returns HKH with H = I − 11ᵀ/n.
func naiveCentredGram(k [][]float64) [][]float64 {
	n := len(k)
	row := make([]float64, n)
	var all float64
	for i := range k {
		for j := range k[i] {
			row[i] += k[i][j] / float64(n)
		}
		all += row[i] / float64(n)
	}
	out := make([][]float64, n)
	for i := range k {
		out[i] = make([]float64, n)
		for j := range k[i] {
			out[i][j] = k[i][j] - row[i] - row[j] + all
		}
	}
	return out
}

func frob(a, b [][]float64) float64 {
	var s float64
	for i := range a {
		for j := range a[i] {
			s += a[i][j] * b[i][j]
		}
	}
	return s
}

// naiveCKA is the n×n definition: ⟨HKH, HLH⟩ / (‖HKH‖_F ‖HLH‖_F).
func naiveCKA(x, y *tensor.Tensor) float64 {
	k, l := naiveCentredGram(naiveGram(x)), naiveCentredGram(naiveGram(y))
	return frob(k, l) / math.Sqrt(frob(k, k)*frob(l, l))
}

// naiveHSIC1 is Song et al.'s unbiased estimator straight from the raw
// Gram matrices, with no centring.
func naiveHSIC1(k, l [][]float64) float64 {
	n := float64(len(k))
	kt, lt := zeroDiag(k), zeroDiag(l)
	var tr, sk, sl, cross float64
	for i := range kt {
		var rk, rl float64
		for j := range kt[i] {
			tr += kt[i][j] * lt[j][i]
			sk += kt[i][j]
			sl += lt[i][j]
			rk += kt[i][j]
			rl += lt[i][j]
		}
		cross += rk * rl // (K̃1)ᵢ(L̃1)ᵢ, both symmetric
	}
	return (tr + sk*sl/((n-1)*(n-2)) - 2/(n-2)*cross) / (n * (n - 3))
}

func zeroDiag(k [][]float64) [][]float64 {
	out := make([][]float64, len(k))
	for i := range k {
		out[i] = append([]float64(nil), k[i]...)
		out[i][i] = 0
	}
	return out
}

func naiveDebiasedCKA(x, y *tensor.Tensor) float64 {
	k, l := naiveGram(x), naiveGram(y)
	return naiveHSIC1(k, l) / math.Sqrt(naiveHSIC1(k, k)*naiveHSIC1(l, l))
}

// withBlock runs f with a small productBlock so that small matrices are
// split into many tiles and row/column blocks.
func withBlock(t *testing.T, b int, f func()) {
	t.Helper()
	old := productBlock
	productBlock = b
	defer func() { productBlock = old }()
	f()
}

func TestCKAMatchesNaiveDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ n, p, q int }{
		{40, 5, 7},   // feature form
		{12, 30, 25}, // Gram form
		{9, 3, 40},   // mixed sizes
	} {
		z := latent(rng, c.n, 2)
		x := randRep(rng, c.n, c.p, 3, z) // non-zero means: centring matters
		y := randRep(rng, c.n, c.q, -1, z)
		want, wantD := naiveCKA(x, y), naiveDebiasedCKA(x, y)
		for _, block := range []int{1024, 4} {
			withBlock(t, block, func() {
				got, err := LinearCKA(x, y)
				if err != nil {
					t.Fatal(err)
				}
				gotD, err := DebiasedCKA(x, y)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-want) > 1e-5 || math.Abs(gotD-wantD) > 1e-5 {
					t.Errorf("n=%d p=%d q=%d block=%d: CKA %v debiased %v, naive %v and %v",
						c.n, c.p, c.q, block, got, gotD, want, wantD)
				}
			})
		}
	}
}

// orthogonal returns a random p×p orthogonal matrix (Gram–Schmidt on
// Gaussian columns, float64).
func orthogonal(rng *rand.Rand, p int) [][]float64 {
	q := make([][]float64, p) // q[col][row]
	for c := range q {
		v := make([]float64, p)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		for _, u := range q[:c] {
			var d float64
			for i := range v {
				d += v[i] * u[i]
			}
			for i := range v {
				v[i] -= d * u[i]
			}
		}
		var nrm float64
		for _, e := range v {
			nrm += e * e
		}
		for i := range v {
			v[i] /= math.Sqrt(nrm)
		}
		q[c] = v
	}
	return q
}

// transform returns scale·X·Q.
func transform(x *tensor.Tensor, q [][]float64, scale float64) *tensor.Tensor {
	n, p := x.Shape[0], x.Shape[1]
	out := tensor.New(n, p)
	for i := 0; i < n; i++ {
		for c := 0; c < p; c++ {
			var s float64
			for j := 0; j < p; j++ {
				s += float64(x.Data[i*p+j]) * q[c][j]
			}
			out.Data[i*p+c] = float32(scale * s)
		}
	}
	return out
}

func TestCKAKnownAnswers(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	n, p := 60, 8
	z := latent(rng, n, 3)
	x := randRep(rng, n, p, 1, z)
	y := randRep(rng, n, 11, 0, z)
	for _, f := range []struct {
		name string
		cka  func(a, b *tensor.Tensor) (float64, error)
	}{{"linear", LinearCKA}, {"debiased", DebiasedCKA}} {
		self, err := f.cka(x, x)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(self-1) > 1e-6 {
			t.Errorf("%s CKA(X, X) = %v, want 1", f.name, self)
		}
		base, _ := f.cka(x, y)
		if base < 0.2 || base > 0.99 {
			t.Errorf("%s CKA of related representations %v, want clearly between 0 and 1", f.name, base)
		}
		rotated := transform(x, orthogonal(rng, p), 7.5)
		for name, xx := range map[string]*tensor.Tensor{
			"rotated and scaled": rotated,
			"scaled":             transform(x, identity(p), 0.01),
		} {
			got, _ := f.cka(xx, y)
			if math.Abs(got-base) > 1e-5 {
				t.Errorf("%s CKA(%s X, Y) = %v, CKA(X, Y) = %v; want invariance", f.name, name, got, base)
			}
			if s, _ := f.cka(xx, x); math.Abs(s-1) > 1e-5 {
				t.Errorf("%s CKA(%s X, X) = %v, want 1", f.name, name, s)
			}
		}
	}
}

func identity(p int) [][]float64 {
	q := make([][]float64, p)
	for i := range q {
		q[i] = make([]float64, p)
		q[i][i] = 1
	}
	return q
}

func TestDebiasedCKANearZeroForIndependentData(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	n, p := 100, 60
	var plain, debiased float64
	const trials = 5
	for range trials {
		x := randRep(rng, n, p, 0, nil)
		y := randRep(rng, n, p, 0, nil)
		c, _ := LinearCKA(x, y)
		d, err := DebiasedCKA(x, y)
		if err != nil {
			t.Fatal(err)
		}
		plain += c / trials
		debiased += d / trials
	}
	t.Logf("independent n=%d p=%d: mean CKA %.4f, debiased %.4f", n, p, plain, debiased)
	// Plain CKA of independent data is ≈ p/(n+p)-ish here, far from 0; the
	// debiased estimate is unbiased for 0 with spread ≈ 1/n.
	if plain < 0.2 {
		t.Errorf("plain CKA %v: expected the known upward bias for n ≈ p", plain)
	}
	if math.Abs(debiased) > 0.02 {
		t.Errorf("debiased CKA of independent data %v, want ≈ 0", debiased)
	}
}

func TestCKAErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	x := randRep(rng, 10, 3, 0, nil)
	constant := tensor.New(10, 3)
	for i := range constant.Data {
		constant.Data[i] = 2
	}
	nan := randRep(rng, 10, 3, 0, nil)
	nan.Data[7] = float32(math.NaN())
	cases := []struct {
		name string
		f    func() error
		want string
	}{
		{"constant", func() error { _, err := LinearCKA(x, constant); return err }, "constant"},
		{"rows", func() error { _, err := LinearCKA(x, randRep(rng, 9, 3, 0, nil)); return err }, "10 examples, y has 9"},
		{"nan", func() error { _, err := DebiasedCKA(nan, x); return err }, "element [2, 1] is NaN"},
		{"n<4", func() error {
			_, err := DebiasedCKA(randRep(rng, 3, 2, 0, nil), randRep(rng, 3, 2, 0, nil))
			return err
		}, "at least 4"},
		{"1-D", func() error { _, err := LinearCKA(tensor.New(10), x); return err }, "want 2-D"},
		{"minibatch size", func() error { _, _, err := MinibatchLinearCKA(x, x, 3, 1); return err }, "at least 4"},
	}
	for _, c := range cases {
		if err := c.f(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func rowsOf(x *tensor.Tensor, idx []int) *tensor.Tensor {
	p := x.Shape[1]
	out := tensor.New(len(idx), p)
	for r, i := range idx {
		copy(out.Data[r*p:(r+1)*p], x.Data[i*p:(i+1)*p])
	}
	return out
}

func TestMinibatchCKA(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	n := 30
	z := latent(rng, n, 2)
	a := []*tensor.Tensor{randRep(rng, n, 4, 1, z), randRep(rng, n, 9, 0, nil)}
	b := []*tensor.Tensor{randRep(rng, n, 6, -2, z), randRep(rng, n, 3, 0, z), randRep(rng, n, 5, 0, nil)}
	// Three batches of 10 consecutive rows, against the naive definition.
	acc, _ := NewMinibatchCKA(2, 3)
	var batches [][]int
	for b0 := 0; b0 < n; b0 += 10 {
		idx := make([]int, 10)
		for i := range idx {
			idx[i] = b0 + i
		}
		batches = append(batches, idx)
		withBlock(t, 3, func() {
			if err := acc.Add([]*tensor.Tensor{rowsOf(a[0], idx), rowsOf(a[1], idx)},
				[]*tensor.Tensor{rowsOf(b[0], idx), rowsOf(b[1], idx), rowsOf(b[2], idx)}); err != nil {
				t.Fatal(err)
			}
		})
	}
	got, err := acc.Matrix()
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		for j := range b {
			var xy, xx, yy float64
			for _, idx := range batches {
				k, l := naiveGram(rowsOf(a[i], idx)), naiveGram(rowsOf(b[j], idx))
				xy += naiveHSIC1(k, l)
				xx += naiveHSIC1(k, k)
				yy += naiveHSIC1(l, l)
			}
			want := xy / math.Sqrt(xx*yy)
			if math.Abs(got[i][j]-want) > 1e-5 {
				t.Errorf("minibatch CKA[%d][%d] = %v, naive %v", i, j, got[i][j], want)
			}
		}
	}
	// With one batch holding every example, minibatch CKA is debiased CKA.
	one, used, err := MinibatchLinearCKA(a[0], b[0], n, 9)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := DebiasedCKA(a[0], b[0])
	if used != n || math.Abs(one-full) > 1e-6 {
		t.Errorf("single-batch minibatch CKA %v (used %d), debiased CKA %v", one, used, full)
	}
	if _, used, _ := MinibatchLinearCKA(a[0], b[0], 7, 9); used != 28 {
		t.Errorf("batch 7 of 30 examples used %d, want 28 (4 full batches)", used)
	}
	if err := acc.Add(a, b[:2]); err == nil {
		t.Error("batch with the wrong number of layers accepted")
	}
	if acc.Batches() != 3 {
		t.Errorf("a refused batch was counted: %d batches", acc.Batches())
	}
}

func TestCKAMatrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	n := 25
	z := latent(rng, n, 2)
	a := []*tensor.Tensor{randRep(rng, n, 4, 1, z), randRep(rng, n, 40, 0, nil)}
	b := []*tensor.Tensor{randRep(rng, n, 6, -2, z), a[0]}
	for _, debiased := range []bool{false, true} {
		m, err := CKAMatrix(a, b, debiased)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			for j := range b {
				want := naiveCKA(a[i], b[j])
				if debiased {
					want = naiveDebiasedCKA(a[i], b[j])
				}
				if math.Abs(m[i][j]-want) > 1e-5 {
					t.Errorf("debiased=%v: M[%d][%d] = %v, naive %v", debiased, i, j, m[i][j], want)
				}
			}
		}
		if math.Abs(m[0][1]-1) > 1e-6 {
			t.Errorf("M[0][1] compares a layer with itself: %v, want 1", m[0][1])
		}
	}
	if _, err := CKAMatrix(a, []*tensor.Tensor{randRep(rng, n+1, 3, 0, nil)}, false); err == nil {
		t.Error("layers over different examples accepted")
	}
}

// naiveSeparation evaluates the pairwise definition of class separation
// (docs/definitions.md#class-separation), with cos = 0 for a zero vector.
func naiveSeparation(x *tensor.Tensor, labels []int) (r2, within, total float64) {
	n, p := x.Shape[0], x.Shape[1]
	unit := make([][]float64, n)
	for i := range unit {
		unit[i] = make([]float64, p)
		var s float64
		for j := 0; j < p; j++ {
			s += float64(x.Data[i*p+j]) * float64(x.Data[i*p+j])
		}
		for j := 0; j < p && s > 0; j++ {
			unit[i][j] = float64(x.Data[i*p+j]) / math.Sqrt(s)
		}
	}
	byClass := map[int][]int{}
	for i, y := range labels {
		byClass[y] = append(byClass[y], i)
	}
	k := float64(len(byClass))
	dist := func(m, n int) float64 {
		var c float64
		for j := range unit[m] {
			c += unit[m][j] * unit[n][j]
		}
		return 1 - c
	}
	for _, mk := range byClass {
		var s float64
		for _, m := range mk {
			for _, nn := range mk {
				s += dist(m, nn)
			}
		}
		within += s / (k * float64(len(mk)*len(mk)))
	}
	for _, mj := range byClass {
		for _, mk := range byClass {
			var s float64
			for _, m := range mj {
				for _, nn := range mk {
					s += dist(m, nn)
				}
			}
			total += s / (k * k * float64(len(mj)*len(mk)))
		}
	}
	return 1 - within/total, within, total
}

func TestSeparationStreamingEqualsPairwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	n, p := 37, 5
	x := randRep(rng, n, p, 0.5, nil)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = []int{0, 2, 3}[rng.IntN(3)] // class 1 has no examples
		// Class 3 is shifted so that classes differ.
		if labels[i] == 3 {
			for j := 0; j < p; j++ {
				x.Data[i*p+j] += 2
			}
		}
	}
	labels[0], labels[1], labels[2] = 0, 2, 3
	for j := 0; j < p; j++ {
		x.Data[4*p+j] = 0 // a dead example
	}
	r2, within, total := naiveSeparation(x, labels)
	s, _ := NewSeparation(4, p)
	for lo := 0; lo < n; lo += 10 {
		hi := min(n, lo+10)
		if err := s.Add(tensor.FromData(x.Data[lo*p:hi*p], hi-lo, p), labels[lo:hi]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Result()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.R2-r2) > 1e-12 || math.Abs(got.DWithin-within) > 1e-12 || math.Abs(got.DTotal-total) > 1e-12 {
		t.Errorf("streaming %+v, pairwise R² %v d_within %v d_total %v", got, r2, within, total)
	}
	if got.Classes != 3 || got.ZeroVectors != 1 || got.Examples != int64(n) || got.R2 <= 0.05 {
		t.Errorf("result %+v: want 3 classes, 1 zero vector, %d examples, clear separation", got, n)
	}
	one, _ := ClassSeparation(x, labels)
	if one != got {
		t.Errorf("ClassSeparation %+v, accumulator %+v", one, got)
	}
}

func TestSeparationKnownValues(t *testing.T) {
	// Classes along orthogonal axes (any positive lengths): within-class
	// distance 0, so R² = 1; d_total = 1 − ‖(e₀+e₁)/2‖² = 1/2.
	x := tensor.FromData([]float32{1, 0, 3, 0, 0, 2, 0, 0.5}, 4, 2)
	r, err := ClassSeparation(x, []int{0, 0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.R2-1) > 1e-12 || math.Abs(r.DWithin) > 1e-12 || math.Abs(r.DTotal-0.5) > 1e-12 {
		t.Errorf("orthogonal classes: %+v, want R² 1, d_within 0, d_total 1/2", r)
	}
	if _, err := ClassSeparation(x, []int{0, 0, 0, 0}); err == nil {
		t.Error("one class accepted")
	}
	if _, err := ClassSeparation(x, []int{0, 1, 5, -1}); err == nil {
		t.Error("negative label accepted")
	}
	if _, err := ClassSeparation(tensor.FromData([]float32{1, 1, 2, 2}, 2, 2), []int{0, 1}); err == nil ||
		!strings.Contains(err.Error(), "point the same way") {
		t.Errorf("parallel vectors: %v", err)
	}
}

func TestActivity(t *testing.T) {
	a := NewActivity(2)
	if err := a.Add([]*tensor.Tensor{tensor.FromData([]float32{0, 1, 0, 2}, 2, 2), tensor.FromData([]float32{3, 0, 0}, 3)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Add([]*tensor.Tensor{tensor.FromData([]float32{0, 0, 0, 5}, 4), tensor.FromData([]float32{0}, 1)}); err != nil {
		t.Fatal(err)
	}
	f := a.Fractions()
	if f[0] != 3.0/8 || f[1] != 0.25 {
		t.Errorf("fractions %v, want [0.375 0.25]", f)
	}
	if err := a.Add([]*tensor.Tensor{tensor.New(1)}); err == nil {
		t.Error("wrong layer count accepted")
	}
	if got := ActiveFraction(tensor.FromData([]float32{0, -1, 2, 0, 0}, 5)); got != 0.4 {
		t.Errorf("ActiveFraction %v, want 0.4", got)
	}
}
