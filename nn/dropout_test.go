package nn

import (
	"math"
	"testing"

	"github.com/losslab/losslab/tensor"
)

func mustDropout(t *testing.T, p float64) *Dropout {
	t.Helper()
	d, err := NewDropout(p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ones(n int) *tensor.Tensor {
	x := tensor.New(n, 1)
	for i := range x.Data {
		x.Data[i] = 1
	}
	return x
}

func dropoutMask(t *testing.T, p float64, seed uint64, n int) []float32 {
	d := mustDropout(t, p)
	d.SetSeed(seed)
	return append([]float32(nil), d.Forward(ones(n), true).Data...)
}

func TestDropoutMask(t *testing.T) {
	const n, p = 100000, 0.3
	a, b := dropoutMask(t, p, 42, n), dropoutMask(t, p, 42, n)
	c := dropoutMask(t, p, 43, n)
	kept, differ := 0, 0
	scale := float32(1 / (1 - p))
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different masks at %d", i)
		}
		if a[i] != 0 && a[i] != scale {
			t.Fatalf("element %d = %v, want 0 or %v", i, a[i], scale)
		}
		if a[i] != 0 {
			kept++
		}
		if a[i] != c[i] {
			differ++
		}
	}
	// Kept fraction: binomial, σ = √(p(1−p)/n) ≈ 0.0014; allow 5σ.
	if f := float64(kept) / n; math.Abs(f-(1-p)) > 5*math.Sqrt(p*(1-p)/n) {
		t.Errorf("kept fraction %.4f, want %.2f", f, 1-p)
	}
	// Independent masks disagree on a fraction 2p(1−p) = 0.42.
	if f := float64(differ) / n; math.Abs(f-2*p*(1-p)) > 0.01 {
		t.Errorf("seeds 42 and 43 differ on %.3f of elements, want ≈ %.2f", f, 2*p*(1-p))
	}
}

func TestDropoutIndependentOfThreads(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(1)
	one := dropoutMask(t, 0.5, 7, 50000)
	tensor.SetThreads(2)
	two := dropoutMask(t, 0.5, 7, 50000)
	tensor.SetThreads(3)
	three := dropoutMask(t, 0.5, 7, 50000)
	for i := range one {
		if one[i] != two[i] || one[i] != three[i] {
			t.Fatalf("mask depends on the thread count at %d", i)
		}
	}
}

func TestDropoutEvalAndZeroAreIdentity(t *testing.T) {
	x := randTensor(1, 4, 5)
	d := mustDropout(t, 0.5)
	d.SetSeed(3)
	if y := d.Forward(x, false); &y.Data[0] != &x.Data[0] {
		t.Errorf("eval forward is not the identity")
	}
	dy := randTensor(2, 4, 5)
	if g := d.Backward(dy); &g.Data[0] != &dy.Data[0] {
		t.Errorf("eval backward is not the identity")
	}
	z := mustDropout(t, 0)
	if y := z.Forward(x, true); &y.Data[0] != &x.Data[0] {
		t.Errorf("p = 0 is not the identity")
	}
}

func TestDropoutGradients(t *testing.T) {
	d := mustDropout(t, 0.4)
	d.SetSeed(11)
	x := randTensor(1, 6, 7)
	defaultCheck().run(t, d, x)
	// Backward is the mask itself: dropped elements get no gradient.
	y := d.Forward(x, true)
	g := d.Backward(ones(42).Reshape(6, 7))
	for i := range y.Data {
		if (y.Data[i] == 0) != (g.Data[i] == 0) {
			t.Fatalf("element %d: output %v but gradient %v", i, y.Data[i], g.Data[i])
		}
	}
}

func TestNewDropoutRejectsBadP(t *testing.T) {
	for _, p := range []float64{-0.1, 1, 1.5, math.NaN()} {
		if _, err := NewDropout(p); err == nil {
			t.Errorf("NewDropout(%v) accepted", p)
		}
	}
}
