package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/losslab/losslab/tensor"
)

// randomize overwrites trainable parameters with N(0, s²) values (BatchNorm γ
// around 1) so that checks do not run at the special initial values.
func randomize(ps []*Param, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 3))
	for _, p := range ps {
		switch p.Kind {
		case Scale:
			for i := range p.Value {
				p.Value[i] = float32(1 + 0.3*r.NormFloat64())
			}
		case Buffer:
		default:
			for i := range p.Value {
				p.Value[i] = float32(0.5 * r.NormFloat64())
			}
		}
	}
}

// awayFromZero pushes values at least m away from 0, so that a ReLU after
// them has no kink within a finite-difference step.
func awayFromZero(x *tensor.Tensor, m float32) *tensor.Tensor {
	for i, v := range x.Data {
		if v >= 0 {
			x.Data[i] = v + m
		} else {
			x.Data[i] = v - m
		}
	}
	return x
}

func TestLinearForwardMatchesReference(t *testing.T) {
	for _, bias := range []bool{false, true} {
		l := NewLinear("fc", 7, 5, bias, 1)
		randomize(l.Params(), 2)
		x := randTensor(3, 3, 7)
		y := l.Forward(x, true)
		want := make([]float64, 3*5)
		for i := 0; i < 3; i++ {
			for j := 0; j < 5; j++ {
				var s float64
				if bias {
					s = float64(l.Bias.Value[j])
				}
				for k := 0; k < 7; k++ {
					s += float64(x.Data[i*7+k]) * float64(l.Kernel.Value[k*5+j])
				}
				want[i*5+j] = s
			}
		}
		if !slices.Equal(y.Shape, []int{3, 5}) {
			t.Fatalf("shape %v", y.Shape)
		}
		assertClose(t, "linear", y.Data, want, 1e-5)
		l.ReLU = true
		assertClose(t, "linear+relu", l.Forward(x, true).Data, relu64(want), 1e-5)
	}
}

func TestLinearGradients(t *testing.T) {
	for _, cfg := range []struct{ bias, relu bool }{{false, false}, {true, false}, {true, true}} {
		l := NewLinear("fc", 6, 4, cfg.bias, 1)
		randomize(l.Params(), 2)
		l.ReLU = cfg.relu
		// A 4-D input exercises the implicit flattening.
		x := randTensor(3, 3, 1, 2, 3)
		if cfg.relu {
			// Keep pre-activations away from the kink: shift the bias so
			// none is within 0.05 of zero.
			l.ReLU = false
			y := l.Forward(x, true)
			l.ReLU = true
			shiftAwayFromKink(y.Data, l.Bias.Value, 0.05)
		}
		defaultCheck().run(t, l, x)
	}
}

func TestConv2dForwardMatchesReference(t *testing.T) {
	cases := []struct {
		h, w, cin, cout, kh, kw, sh, sw, ph, pw int
		bias, relu                              bool
	}{
		{7, 5, 3, 4, 3, 3, 1, 1, 1, 1, false, false},
		{7, 5, 3, 4, 3, 3, 1, 1, 1, 1, true, true},
		{7, 6, 2, 3, 3, 2, 2, 1, 1, 0, true, false},  // rectangular kernel and stride
		{6, 5, 3, 5, 1, 1, 1, 1, 0, 0, false, false}, // pointwise: plain GEMM
		{6, 5, 3, 5, 1, 1, 1, 1, 0, 0, true, true},
		{7, 7, 3, 2, 1, 1, 2, 2, 0, 0, false, false}, // strided projection
		{9, 8, 3, 4, 5, 5, 2, 2, 2, 2, false, false},
		{9, 9, 2, 3, 7, 7, 2, 2, 3, 3, false, false}, // ImageNet stem geometry
		{5, 5, 1, 3, 3, 3, 3, 3, 0, 0, true, false},  // stride > kernel gaps
		{4, 4, 2, 2, 3, 3, 1, 1, 2, 2, false, false}, // padding wider than needed
	}
	for _, tc := range cases {
		c := NewConv2dRect("c", tc.cin, tc.cout, tc.kh, tc.kw, tc.sh, tc.sw, tc.ph, tc.pw, tc.bias, 1)
		c.ReLU = tc.relu
		randomize(c.Params(), 4)
		x := randTensor(5, 3, tc.h, tc.w, tc.cin)
		var b []float32
		if tc.bias {
			b = c.Bias.Value
		}
		want, shape := convRef(x, c.Kernel.Value, b, tc.kh, tc.kw, tc.cout, tc.sh, tc.sw, tc.ph, tc.pw)
		if tc.relu {
			want = relu64(want)
		}
		y := c.Forward(x, true)
		if !slices.Equal(y.Shape, shape) {
			t.Fatalf("%+v: shape %v, want %v", tc, y.Shape, shape)
		}
		assertClose(t, "conv", y.Data, want, 1e-5)
	}
}

// withChunk runs f with the im2col block bound set to n floats.
func withChunk(n int, f func()) {
	old := blockFloats
	blockFloats = n
	defer func() { blockFloats = old }()
	f()
}

func TestConv2dChunkingDoesNotChangeResults(t *testing.T) {
	x := randTensor(1, 5, 6, 6, 3)
	run := func() (y, dx, dw []float32) {
		c := NewConv2d("c", 3, 4, 3, 2, 1, true, 9)
		randomize(c.Params(), 2)
		y = append(y, c.Forward(x, true).Data...)
		dy := randTensor(3, c.y.Shape...)
		dx = append(dx, c.Backward(dy).Data...)
		return y, dx, append([]float32(nil), c.Kernel.Grad...)
	}
	y1, dx1, dw1 := run()
	var y2, dx2, dw2 []float32
	// One output row's im2col rows are 3·27 floats: force 1-row blocks.
	withChunk(3*27, func() { y2, dx2, dw2 = run() })
	assertClose(t, "y", y2, to64(y1), 1e-6)
	assertClose(t, "dx", dx2, to64(dx1), 1e-6)
	assertClose(t, "dW", dw2, to64(dw1), 1e-5)
}

func TestConv2dGradients(t *testing.T) {
	cases := []struct {
		h, w, cin, cout, kh, kw, sh, sw, ph, pw int
		bias, relu                              bool
		chunk                                   int
	}{
		{5, 4, 2, 3, 3, 3, 1, 1, 1, 1, false, false, 0},
		{5, 4, 2, 3, 3, 3, 1, 1, 1, 1, true, true, 0},
		{6, 5, 2, 3, 3, 2, 2, 1, 1, 0, true, false, 0},
		{5, 4, 3, 2, 1, 1, 1, 1, 0, 0, true, false, 0},
		{5, 5, 3, 2, 1, 1, 2, 2, 0, 0, false, false, 0},
		{7, 7, 2, 2, 5, 5, 2, 2, 2, 2, false, false, 0},
		{5, 4, 2, 3, 3, 3, 1, 1, 1, 1, true, false, 60}, // one output row per block
		// Stride 1 computes the input gradient with the flipped kernel:
		// rectangular, unpadded and wide kernels.
		{5, 6, 2, 3, 3, 2, 1, 1, 1, 0, false, false, 0},
		{6, 5, 3, 2, 3, 3, 1, 1, 0, 0, true, false, 0},
		{6, 6, 2, 2, 5, 5, 1, 1, 2, 2, false, false, 0},
		{6, 6, 2, 2, 5, 5, 1, 1, 2, 2, false, false, 50},
		{5, 5, 2, 2, 3, 3, 1, 1, 3, 3, false, false, 0}, // padding ≥ kernel: col2im path
	}
	for _, tc := range cases {
		f := func() {
			c := NewConv2dRect("c", tc.cin, tc.cout, tc.kh, tc.kw, tc.sh, tc.sw, tc.ph, tc.pw, tc.bias, 1)
			c.ReLU = tc.relu
			randomize(c.Params(), 4)
			x := randTensor(5, 2, tc.h, tc.w, tc.cin)
			if tc.relu {
				// Keep the pre-activations away from ReLU's kink: nudge
				// the bias so none is within 0.05 of zero.
				c.ReLU = false
				y := c.Forward(x, true)
				c.ReLU = true
				shiftAwayFromKink(y.Data, c.Bias.Value, 0.05)
			}
			defaultCheck().run(t, c, x)
		}
		if tc.chunk > 0 {
			withChunk(tc.chunk, f)
		} else {
			f()
		}
	}
}

// shiftAwayFromKink adjusts per-channel biases so that no pre-activation
// pre[r, c] + Δb[c] lies within m of zero (a greedy search over a few shifts
// per channel; the tests' small sizes make one always exist).
func shiftAwayFromKink(pre []float32, bias []float32, m float32) {
	c := len(bias)
	for j := 0; j < c; j++ {
		for _, d := range []float32{0, 0.11, -0.13, 0.27, -0.31, 0.43, -0.47, 0.6} {
			ok := true
			for r := j; r < len(pre); r += c {
				if v := pre[r] + d; v > -m && v < m {
					ok = false
					break
				}
			}
			if ok {
				bias[j] += d
				break
			}
		}
	}
}

func TestConv2dBackwardIntoAddsInit(t *testing.T) {
	for _, k := range []int{1, 3} {
		c := NewConv2d("c", 3, 4, k, 1, k/2, false, 1)
		x := randTensor(1, 2, 5, 5, 3)
		y := c.Forward(x, true)
		dy := randTensor(2, y.Shape...)
		plain := append([]float32(nil), c.Backward(dy).Data...)
		init := randTensor(3, x.Shape...)
		got := c.backward(dy, init)
		want := make([]float64, len(plain))
		for i := range want {
			want[i] = float64(plain[i]) + float64(init.Data[i])
		}
		assertClose(t, "dx+init", got.Data, want, 1e-6)
	}
}

func TestConv2dNoInputGrad(t *testing.T) {
	c := NewConv2d("c", 2, 3, 3, 1, 1, false, 1)
	x := randTensor(1, 2, 4, 4, 2)
	y := c.Forward(x, true)
	dy := randTensor(2, y.Shape...)
	c.Backward(dy)
	want := append([]float32(nil), c.Kernel.Grad...)
	c.NoInputGrad = true
	if dx := c.Backward(dy); dx != nil {
		t.Fatalf("NoInputGrad: got an input gradient")
	}
	assertClose(t, "dW without dx", c.Kernel.Grad, to64(want), 0)
}

func TestBatchNormTrainForwardMatchesReference(t *testing.T) {
	for _, relu := range []bool{false, true} {
		b := NewBatchNorm("bn", 3)
		b.ReLU = relu
		randomize(b.Params(), 1)
		x := randTensor(2, 2, 3, 5, 3)
		for i := range x.Data {
			x.Data[i] = 4 + 3*x.Data[i] // a mean far from 0 tests the variance's accuracy
		}
		want, _, _ := bnTrainRef(to64(x.Data), 3, b.Gamma.Value, b.Beta.Value, b.Eps)
		if relu {
			want = relu64(want)
		}
		assertClose(t, "bn train", b.Forward(x, true).Data, want, 1e-5)
	}
}

func TestBatchNormRunningStatistics(t *testing.T) {
	b := NewBatchNorm("bn", 2)
	b.Momentum = 0.8
	rm := []float64{0, 0}
	rv := []float64{1, 1}
	for step := 0; step < 3; step++ {
		x := randTensor(uint64(10+step), 3, 2, 2, 2)
		for i := range x.Data {
			x.Data[i] = float32(step) + 2*x.Data[i]
		}
		_, mean, bv := bnTrainRef(to64(x.Data), 2, b.Gamma.Value, b.Beta.Value, b.Eps)
		m := float64(3 * 2 * 2)
		for j := range rm {
			// running = momentum·running + (1 − momentum)·batch, with the
			// unbiased batch variance.
			rm[j] = 0.8*rm[j] + 0.2*mean[j]
			rv[j] = 0.8*rv[j] + 0.2*bv[j]*m/(m-1)
		}
		b.Forward(x, true)
		assertClose(t, "running_mean", b.RunningMean.Value, rm, 1e-5)
		assertClose(t, "running_var", b.RunningVar.Value, rv, 1e-5)
	}
	// Evaluation uses the running statistics and leaves them alone.
	randomize(b.Params(), 5)
	x := randTensor(20, 2, 3, 1, 2)
	want := make([]float64, len(x.Data))
	for i, v := range x.Data {
		j := i % 2
		want[i] = float64(b.Gamma.Value[j])*(float64(v)-rm[j])/math.Sqrt(rv[j]+b.Eps) + float64(b.Beta.Value[j])
	}
	assertClose(t, "bn eval", b.Forward(x, false).Data, want, 1e-5)
	assertClose(t, "running_mean after eval", b.RunningMean.Value, rm, 1e-5)
}

func TestBatchNormDefaults(t *testing.T) {
	b := NewBatchNorm("x", 4)
	if b.Momentum != 0.9 || b.Eps != 1e-5 {
		t.Errorf("momentum %v eps %v, want 0.9 and 1e-5", b.Momentum, b.Eps)
	}
	kinds := map[string]ParamKind{"x.gamma": Scale, "x.beta": Shift, "x.running_mean": Buffer, "x.running_var": Buffer}
	init := map[string]float32{"x.gamma": 1, "x.beta": 0, "x.running_mean": 0, "x.running_var": 1}
	for _, p := range b.Params() {
		if kinds[p.Name] != p.Kind {
			t.Errorf("%s kind %v", p.Name, p.Kind)
		}
		for _, v := range p.Value {
			if v != init[p.Name] {
				t.Errorf("%s initial value %v, want %v", p.Name, v, init[p.Name])
			}
		}
	}
}

func TestBatchNormGradients(t *testing.T) {
	for _, cfg := range []struct{ train, relu bool }{{true, false}, {true, true}, {false, false}, {false, true}} {
		b := NewBatchNorm("bn", 3)
		b.ReLU = cfg.relu
		randomize(b.Params(), 1)
		for i := range b.RunningVar.Value {
			b.RunningMean.Value[i] = 0.2 * float32(i)
			b.RunningVar.Value[i] = 0.5 + float32(i)
		}
		x := randTensor(2, 2, 3, 2, 3)
		if cfg.relu {
			// Move β so that no normalised output is near ReLU's kink.
			b.ReLU = false
			y := b.Forward(x, cfg.train)
			b.ReLU = true
			shiftAwayFromKink(y.Data, b.Beta.Value, 0.1)
		}
		gc := defaultCheck()
		gc.train = cfg.train
		// BatchNorm is smooth: a smaller step keeps the truncation error of
		// the batch-statistics dependence small.
		gc.eps = 3e-3
		gc.run(t, b, x)
	}
}

func TestReLU(t *testing.T) {
	x := awayFromZero(randTensor(1, 2, 3, 4), 0.05)
	r := NewReLU()
	assertClose(t, "relu", r.Forward(x, true).Data, relu64(to64(x.Data)), 0)
	defaultCheck().run(t, r, x)
}

// distinctValues fills x with a random permutation of well-separated values
// (spacing 0.1), so pooling has no ties within a finite-difference step.
func distinctValues(x *tensor.Tensor, seed uint64) *tensor.Tensor {
	perm := rand.New(rand.NewPCG(seed, 1)).Perm(len(x.Data))
	for i, p := range perm {
		x.Data[i] = 0.1*float32(p) - 0.05*float32(len(perm))
	}
	return x
}

func maxPoolRef(x *tensor.Tensor, k, s, pad int) []float64 {
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho, wo := (h+2*pad-k)/s+1, (w+2*pad-k)/s+1
	out := make([]float64, 0, n*ho*wo*c)
	for b := 0; b < n; b++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				for ch := 0; ch < c; ch++ {
					m := math.Inf(-1)
					for ky := 0; ky < k; ky++ {
						for kx := 0; kx < k; kx++ {
							iy, ix := oy*s-pad+ky, ox*s-pad+kx
							if iy >= 0 && iy < h && ix >= 0 && ix < w {
								m = max(m, float64(x.Data[((b*h+iy)*w+ix)*c+ch]))
							}
						}
					}
					out = append(out, m)
				}
			}
		}
	}
	return out
}

func TestMaxPool(t *testing.T) {
	for _, tc := range []struct{ h, w, k, s, pad int }{{4, 4, 2, 2, 0}, {7, 5, 3, 2, 1}, {5, 6, 2, 1, 0}, {7, 7, 3, 3, 0}} {
		x := distinctValues(tensor.New(2, tc.h, tc.w, 3), uint64(tc.h))
		p := NewMaxPool(tc.k, tc.s, tc.pad)
		assertClose(t, "maxpool", p.Forward(x, true).Data, maxPoolRef(x, tc.k, tc.s, tc.pad), 0)
		defaultCheck().run(t, p, x)
	}
}

func TestAvgPool(t *testing.T) {
	for _, tc := range []struct{ h, w, k, s int }{{4, 4, 2, 2}, {7, 5, 3, 2}, {5, 6, 2, 1}} {
		x := randTensor(3, 2, tc.h, tc.w, 3)
		p := NewAvgPool(tc.k, tc.s)
		n, c := 2, 3
		ho, wo := (tc.h-tc.k)/tc.s+1, (tc.w-tc.k)/tc.s+1
		var want []float64
		for b := 0; b < n; b++ {
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					for ch := 0; ch < c; ch++ {
						var s float64
						for ky := 0; ky < tc.k; ky++ {
							for kx := 0; kx < tc.k; kx++ {
								s += float64(x.Data[((b*tc.h+oy*tc.s+ky)*tc.w+ox*tc.s+kx)*c+ch])
							}
						}
						want = append(want, s/float64(tc.k*tc.k))
					}
				}
			}
		}
		assertClose(t, "avgpool", p.Forward(x, true).Data, want, 1e-6)
		defaultCheck().run(t, p, x)
	}
}

func TestGlobalAvgPool(t *testing.T) {
	x := randTensor(1, 3, 3, 2, 4)
	p := NewGlobalAvgPool()
	y := p.Forward(x, true)
	if !slices.Equal(y.Shape, []int{3, 4}) {
		t.Fatalf("shape %v", y.Shape)
	}
	want := make([]float64, 12)
	for b := 0; b < 3; b++ {
		for q := 0; q < 6; q++ {
			for c := 0; c < 4; c++ {
				want[b*4+c] += float64(x.Data[(b*6+q)*4+c]) / 6
			}
		}
	}
	assertClose(t, "gap", y.Data, want, 1e-6)
	defaultCheck().run(t, p, x)
}

func TestFlatten(t *testing.T) {
	x := randTensor(1, 2, 3, 2, 2)
	f := NewFlatten()
	y := f.Forward(x, true)
	if !slices.Equal(y.Shape, []int{2, 12}) || &y.Data[0] != &x.Data[0] {
		t.Fatalf("flatten: shape %v or copied data", y.Shape)
	}
	defaultCheck().run(t, f, x)
}

// A ReLU mask recomputed from x (scale, shift) is the mask of the y that
// bnApply computes from the same x: the gradient passes give bit-identical
// results either way, on the assembly and on the Go passes, with values
// that land exactly on zero and on either side of it.
func TestBatchNormMaskFromInput(t *testing.T) {
	hasAsm := useBNAsm
	defer func() { useBNAsm = hasAsm }()
	for _, asm := range []bool{false, true} {
		if asm && !hasAsm {
			continue
		}
		useBNAsm = asm
		for _, c := range []int{8, 16, 12} {
			rows := 41
			n := rows * c
			x, dy := randTensor(1, n).Data, randTensor(2, n).Data
			scale, shift := randTensor(5, c).Data, randTensor(6, c).Data
			mu, ca, cb, cc := randTensor(7, c).Data, randTensor(8, c).Data, randTensor(9, c).Data, randTensor(10, c).Data
			// Some inputs map exactly to 0 (x = −shift/scale with scale 1),
			// some to ±0 sums; both must be masked out like y = +0.
			scale[1], scale[2] = 1, 1
			x[1], x[c+2], x[2*c+1] = -shift[1], -shift[2], -shift[1]
			y := make([]float32, n)
			bnApply(x, nil, y, scale, shift, true)
			bits := func(v []float32) []uint32 {
				out := make([]uint32, len(v))
				for i, f := range v {
					out[i] = math.Float32bits(f)
				}
				return out
			}
			sg1, sx1, g1 := make([]float32, c), make([]float32, c), make([]float32, n)
			sg2, sx2, g2 := make([]float32, c), make([]float32, c), make([]float32, n)
			bnGradSums(dy, y, x, g1, mu, sg1, sx1, nil, nil)
			bnGradSums(dy, nil, x, g2, mu, sg2, sx2, scale, shift)
			o1, o2 := make([]float32, n), make([]float32, n)
			bnGradApply(dy, y, x, o1, mu, ca, cb, cc, nil, nil)
			bnGradApply(dy, nil, x, o2, mu, ca, cb, cc, scale, shift)
			for i, pair := range [][2][]float32{{sg1, sg2}, {sx1, sx2}, {g1, g2}, {o1, o2}} {
				if !slices.Equal(bits(pair[0]), bits(pair[1])) {
					t.Fatalf("asm=%v c=%d: output %d differs with the mask recomputed from x", asm, c, i)
				}
			}
		}
	}
}

// The assembly BatchNorm passes agree with the Go ones (up to the rounding
// of fused multiply-adds) on every variant, odd row counts included.
func TestBatchNormPassesAsmMatchesGo(t *testing.T) {
	if !useBNAsm {
		t.Skip("no assembly BatchNorm passes on this machine")
	}
	defer func() { useBNAsm = true }()
	for _, c := range []int{8, 16, 24, 64} {
		rows := 37
		n := rows * c
		x, dy, res := randTensor(1, n).Data, randTensor(2, n).Data, randTensor(3, n).Data
		y := relu64(to64(randTensor(4, n).Data))
		ys := make([]float32, n)
		for i, v := range y {
			ys[i] = float32(v)
		}
		vec := func(seed uint64) []float32 { return randTensor(seed, c).Data }
		scale, shift, mu, ca, cb, cc := vec(5), vec(6), vec(7), vec(8), vec(9), vec(10)
		run := func(asm bool) [][]float32 {
			useBNAsm = asm
			var out [][]float32
			for _, relu := range []bool{false, true} {
				for _, r := range [][]float32{nil, res} {
					o := make([]float32, n)
					bnApply(x, r, o, scale, shift, relu)
					out = append(out, o)
				}
			}
			out = append(out, bnSumsOutputs(x, dy, ys, mu, scale, shift, vec)...)
			for _, m := range bnMasks(ys, scale, shift) {
				o := make([]float32, n)
				bnGradApply(dy, m.y, x, o, mu, ca, cb, cc, m.scale, m.shift)
				out = append(out, o)
			}
			return out
		}
		a, g := run(true), run(false)
		for i := range a {
			assertClose(t, name("c=%d output %d", c, i), a[i], to64(g[i]), 1e-5)
		}
	}
}

// bnMasks lists the ReLU masks of BatchNorm's backward passes: none, y > 0,
// and y recomputed from x·scale + shift.
func bnMasks(ys, scale, shift []float32) []struct{ y, scale, shift []float32 } {
	return []struct{ y, scale, shift []float32 }{{nil, nil, nil}, {ys, nil, nil}, {nil, scale, shift}}
}

// bnSumsOutputs runs bnSums and, for every mask and with and without the
// masked gradient written out, bnGradSums, on sums that start from vec's
// values, and returns every output.
func bnSumsOutputs(x, dy, ys, mu, scale, shift []float32, vec func(seed uint64) []float32) [][]float32 {
	s, q := vec(13), vec(14)
	bnSums(x, mu, s, q)
	out := [][]float32{s, q}
	for _, m := range bnMasks(ys, scale, shift) {
		for _, withG := range []bool{false, true} {
			sg, sx := vec(11), vec(12)
			var g []float32
			if withG {
				g = make([]float32, len(x))
			}
			bnGradSums(dy, m.y, x, g, mu, sg, sx, m.scale, m.shift)
			out = append(out, sg, sx)
			if withG {
				out = append(out, g)
			}
		}
	}
	return out
}

// Each channel's BatchNorm sums are built row by row whichever channels
// share a pass (the assembly passes take 8, 16 or 32 at a time), so they are
// the same bits as the sums of that channel's group of 8 computed alone. On
// the Go passes, AVX2's and AVX-512's; for channel counts that take every mix
// of pass widths; on inputs with signed zeros, infinities and NaNs; for every
// mask variant.
func TestBatchNormSumsIndependentOfChannelCount(t *testing.T) {
	hasAsm, has512 := useBNAsm, useBNAVX512
	defer func() { useBNAsm, useBNAVX512 = hasAsm, has512 }()
	bits := func(v []float32) []uint32 {
		out := make([]uint32, len(v))
		for i, f := range v {
			out[i] = math.Float32bits(f)
		}
		return out
	}
	// group returns channels 8g..8g+7 of every row of v (rows of c values).
	group := func(v []float32, c, g int) []float32 {
		var out []float32
		for r := 0; r < len(v); r += c {
			out = append(out, v[r+8*g:r+8*g+8]...)
		}
		return out
	}
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-40}
	for _, mode := range []struct {
		name        string
		asm, avx512 bool
	}{{"go", false, false}, {"avx2", true, false}, {"avx512", true, true}} {
		if (mode.asm && !hasAsm) || (mode.avx512 && !has512) {
			continue
		}
		useBNAsm, useBNAVX512 = mode.asm, mode.avx512
		for _, c := range []int{16, 24, 32, 48, 64, 80} {
			for _, rows := range []int{1, 2, 37, 256} {
				n := rows * c
				x, dy := randTensor(1, n).Data, randTensor(2, n).Data
				ys := randTensor(4, n).Data
				for i := range ys {
					ys[i] = max(ys[i], 0)
				}
				for i := 0; i < n; i += 7 {
					x[i] = special[(i/7)%len(special)]
					dy[(i+3)%n] = special[(i/7+2)%len(special)]
					ys[(i+5)%n] = special[(i/7+1)%len(special)]
				}
				vec := func(seed uint64) []float32 { return randTensor(seed, c).Data }
				scale, shift, mu := vec(5), vec(6), vec(7)
				all := bnSumsOutputs(x, dy, ys, mu, scale, shift, vec)
				for g := 0; g < c/8; g++ {
					gvec := func(seed uint64) []float32 { return slices.Clone(vec(seed)[8*g : 8*g+8]) }
					alone := bnSumsOutputs(group(x, c, g), group(dy, c, g), group(ys, c, g), gvec(7), gvec(5), gvec(6), gvec)
					for i := range all {
						want := alone[i]
						got := all[i]
						if len(got) == c {
							got = got[8*g : 8*g+8]
						} else {
							got = group(got, c, g)
						}
						if !slices.Equal(bits(got), bits(want)) {
							t.Fatalf("%s c=%d rows=%d channels %d-%d: output %d: %v, alone %v", mode.name, c, rows, 8*g, 8*g+7, i, got[:4], want[:4])
						}
					}
				}
			}
		}
	}
}

// withConvPath runs f with convPathMode set to mode.
func withConvPath(mode int, f func()) {
	old := convPathMode
	convPathMode = mode
	defer func() { convPathMode = old }()
	f()
}

// convPathResults runs two training steps of the convolution newConv makes
// (parameters randomized) on x with convPathMode set to mode, the second
// finding the scratch written by the first, and returns the second's output,
// input gradient (with a residual gradient to add when init is set) and
// kernel gradient. taken reports whether a layer takes path; it must do so
// exactly when mode is path.
func convPathResults(t *testing.T, name string, x *tensor.Tensor, init bool, newConv func() *Conv2d, mode, path int, taken func(*Conv2d) bool) (y, dx, dw []float32) {
	t.Helper()
	withConvPath(mode, func() {
		c := newConv()
		randomize(c.Params(), 4)
		for range 2 {
			y = append(y[:0], c.Forward(x, true).Data...)
			if taken(c) != (mode == path) {
				t.Fatalf("%s: mode %d: path %d taken = %v", name, mode, path, taken(c))
			}
			dy := randTensor(2, c.y.Shape...)
			var dxInit *tensor.Tensor
			if init {
				dxInit = randTensor(3, x.Shape...)
			}
			dx = append(dx[:0], c.backward(dy, dxInit).Data...)
			dw = append(dw[:0], c.Kernel.Grad...)
		}
	})
	return y, dx, dw
}

// The expanded-rows path computes what the im2col path computes: output,
// input gradient (with and without a residual gradient to add) and weight
// gradient, for the stride-1 geometries it takes.
func TestConv2dRowsMatchesIm2col(t *testing.T) {
	cases := []struct {
		h, w, cin, cout, kh, kw, ph, pw int
		bias, relu, init                bool
	}{
		{9, 7, 8, 16, 3, 3, 1, 1, false, false, false},
		{9, 7, 16, 8, 3, 3, 1, 1, true, true, true},
		{8, 8, 12, 10, 3, 2, 1, 0, true, false, false}, // rectangular kernel
		{7, 9, 8, 8, 3, 3, 0, 0, false, false, true},   // unpadded
		{6, 6, 8, 9, 5, 5, 2, 2, false, true, false},   // wide kernel
	}
	for _, tc := range cases {
		x := randTensor(1, 3, tc.h, tc.w, tc.cin)
		run := func(mode int) (y, dx, dw []float32) {
			newConv := func() *Conv2d {
				c := NewConv2dRect("c", tc.cin, tc.cout, tc.kh, tc.kw, 1, 1, tc.ph, tc.pw, tc.bias, 1)
				c.ReLU = tc.relu
				return c
			}
			return convPathResults(t, fmt.Sprintf("%+v", tc), x, tc.init, newConv, mode, pathRows, (*Conv2d).rows)
		}
		y0, dx0, dw0 := run(pathIm2col)
		y1, dx1, dw1 := run(pathRows)
		name := fmt.Sprintf("%+v", tc)
		assertClose(t, name+" y", y1, to64(y0), 1e-5)
		assertClose(t, name+" dx", dx1, to64(dx0), 1e-5)
		assertClose(t, name+" dW", dw1, to64(dw0), 1e-5)
	}
}

// Finite-difference gradients of the expanded-rows path, independent of the
// im2col path it is compared with above.
func TestConv2dRowsGradients(t *testing.T) {
	withConvPath(pathRows, func() {
		for _, tc := range []struct{ kh, kw, ph, pw int }{{3, 3, 1, 1}, {3, 2, 0, 1}, {2, 3, 1, 2}} {
			c := NewConv2dRect("c", 8, 8, tc.kh, tc.kw, 1, 1, tc.ph, tc.pw, true, 1)
			randomize(c.Params(), 4)
			x := randTensor(5, 2, 5, 4, 8)
			c.Forward(x, true)
			if !c.rows() {
				t.Fatalf("%+v: the expanded-rows path is not taken", tc)
			}
			defaultCheck().run(t, c, x)
		}
	})
}
