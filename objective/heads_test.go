package objective

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

func newParam(name string, kind nn.ParamKind, shape ...int) *nn.Param {
	n := tensor.Numel(shape)
	return &nn.Param{Name: name, Kind: kind, Shape: shape, Value: make([]float32, n), Grad: make([]float32, n)}
}

// testLinear is a minimal dense head y = x·W + b (kernel [in, out]) written
// for these tests, in float64 arithmetic, independent of nn.Linear.
type testLinear struct {
	kernel, bias *nn.Param
	x, y, dx     *tensor.Tensor
}

func newTestLinear(r *rand.Rand, in, out int) *testLinear {
	l := &testLinear{kernel: newParam("head.kernel", nn.Kernel, in, out), bias: newParam("head.bias", nn.Bias, out)}
	for i := range l.kernel.Value {
		l.kernel.Value[i] = float32(r.NormFloat64())
	}
	for i := range l.bias.Value {
		l.bias.Value[i] = float32(r.NormFloat64() * 0.1)
	}
	return l
}

func (l *testLinear) Params() []*nn.Param { return []*nn.Param{l.kernel, l.bias} }

func (l *testLinear) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	in, out := l.kernel.Shape[0], l.kernel.Shape[1]
	n := x.Shape[0]
	l.x = x
	l.y = tensor.New(n, out)
	for i := 0; i < n; i++ {
		for k := 0; k < out; k++ {
			s := float64(l.bias.Value[k])
			for j := 0; j < in; j++ {
				s += float64(x.Data[i*in+j]) * float64(l.kernel.Value[j*out+k])
			}
			l.y.Data[i*out+k] = float32(s)
		}
	}
	return l.y
}

func (l *testLinear) Backward(dy *tensor.Tensor) *tensor.Tensor {
	in, out := l.kernel.Shape[0], l.kernel.Shape[1]
	n := l.x.Shape[0]
	l.dx = tensor.New(l.x.Shape...)
	clear(l.kernel.Grad)
	clear(l.bias.Grad)
	for i := 0; i < n; i++ {
		for k := 0; k < out; k++ {
			g := dy.Data[i*out+k]
			l.bias.Grad[k] += g
			for j := 0; j < in; j++ {
				l.kernel.Grad[j*out+k] += l.x.Data[i*in+j] * g
				l.dx.Data[i*in+j] += l.kernel.Value[j*out+k] * g
			}
		}
	}
	return l.dx
}

// refCosine computes z = x̂·ŵ_k/τ + b_k in float64 from the definition, with
// x̂ = x/‖x‖ (if normalize) and ŵ_k = w_k/‖w_k‖; no guards (inputs in the
// tests are far from zero).
func refCosine(x []float64, n, in int, w []float64, b []float64, tau float64, normalize bool) []float64 {
	out := len(b)
	z := make([]float64, n*out)
	for i := 0; i < n; i++ {
		xn := 1.0
		if normalize {
			var s float64
			for j := 0; j < in; j++ {
				s += x[i*in+j] * x[i*in+j]
			}
			xn = math.Sqrt(s)
		}
		for k := 0; k < out; k++ {
			var wn2, dot float64
			for j := 0; j < in; j++ {
				wn2 += w[j*out+k] * w[j*out+k]
				dot += x[i*in+j] * w[j*out+k]
			}
			z[i*out+k] = dot/(xn*math.Sqrt(wn2))/tau + b[k]
		}
	}
	return z
}

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// checkGrad compares an analytical gradient with central differences of f
// with respect to each element of v (float64).
func checkGrad(t *testing.T, what string, v []float64, analytic []float32, f func() float64, tol float64) {
	t.Helper()
	for i := range v {
		h := 1e-6 * max(1, math.Abs(v[i]))
		orig := v[i]
		v[i] = orig + h
		lp := f()
		v[i] = orig - h
		lm := f()
		v[i] = orig
		fd := (lp - lm) / (2 * h)
		if math.Abs(fd-float64(analytic[i])) > tol*max(1, math.Abs(fd)) {
			t.Errorf("%s[%d]: analytic %.7g, finite difference %.7g", what, i, analytic[i], fd)
		}
	}
}

func TestCosineHeadGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n, in, out = 3, 5, 4
	for _, normalize := range []bool{true, false} {
		for _, tau := range []float64{0.05, 0.7} {
			kernel, bias := newParam("head.kernel", nn.Kernel, in, out), newParam("head.bias", nn.Bias, out)
			for i := range kernel.Value {
				kernel.Value[i] = float32(r.NormFloat64())
			}
			for i := range bias.Value {
				bias.Value[i] = float32(r.NormFloat64())
			}
			h := NewCosineHead(kernel, bias, tau, normalize)
			x := tensor.New(n, in)
			for i := range x.Data {
				x.Data[i] = float32(r.NormFloat64() * 2)
			}
			weights := make([]float64, n*out) // L = Σ weights ⊙ z
			for i := range weights {
				weights[i] = r.NormFloat64()
			}
			z := h.Forward(x, true)
			x64, w64, b64 := to64(x.Data), to64(kernel.Value), to64(bias.Value)
			want := refCosine(x64, n, in, w64, b64, tau, normalize)
			for i := range want {
				if math.Abs(float64(z.Data[i])-want[i]) > 1e-5*max(1, math.Abs(want[i])) {
					t.Fatalf("normalize=%v τ=%g: z[%d] = %g, reference %g", normalize, tau, i, z.Data[i], want[i])
				}
			}
			dz := tensor.New(n, out)
			for i := range weights {
				dz.Data[i] = float32(weights[i])
			}
			dx := h.Backward(dz)
			loss := func() float64 {
				zz := refCosine(x64, n, in, w64, b64, tau, normalize)
				var s float64
				for i := range zz {
					s += weights[i] * zz[i]
				}
				return s
			}
			checkGrad(t, "dx", x64, dx.Data, loss, 1e-4)
			checkGrad(t, "dW", w64, kernel.Grad, loss, 1e-4)
			checkGrad(t, "db", b64, bias.Grad, loss, 1e-4)
		}
	}
}

func TestCosineHeadHandWorked(t *testing.T) {
	// x = (3, 4): x̂ = (0.6, 0.8). Kernel columns w_0 = (1, 0), w_1 = (0, 2):
	// ŵ_0 = (1, 0), ŵ_1 = (0, 1). With τ = 0.05 and b = (1, −1):
	// z = (0.6/0.05 + 1, 0.8/0.05 − 1) = (13, 15). Without feature
	// normalisation: z = (3/0.05 + 1, 4/0.05 − 1) = (61, 79).
	for _, c := range []struct {
		normalize bool
		want      []float32
	}{{true, []float32{13, 15}}, {false, []float32{61, 79}}} {
		kernel, bias := newParam("k", nn.Kernel, 2, 2), newParam("b", nn.Bias, 2)
		copy(kernel.Value, []float32{1, 0, 0, 2}) // [in, out] row-major
		copy(bias.Value, []float32{1, -1})
		z := NewCosineHead(kernel, bias, 0.05, c.normalize).Forward(tensor.FromData([]float32{3, 4}, 1, 2), false)
		for k, v := range c.want {
			if math.Abs(float64(z.Data[k]-v)) > 1e-4 {
				t.Errorf("normalize=%v: z = %v, want %v", c.normalize, z.Data, c.want)
			}
		}
	}
}

func TestCosineHeadGuardsAndExtremes(t *testing.T) {
	kernel, bias := newParam("k", nn.Kernel, 3, 2), newParam("b", nn.Bias, 2)
	copy(kernel.Value, []float32{1, 0, 2, 0, -1, 0}) // column 1 is all zero
	copy(bias.Value, []float32{0.5, -0.5})
	h := NewCosineHead(kernel, bias, 0.05, true)
	x := tensor.FromData([]float32{0, 0, 0, 1e4, -1e4, 1e4, 1e-30, 0, 0}, 3, 3)
	z := h.Forward(x, true)
	// A zero feature vector and a zero weight column contribute 0: z = b.
	if z.Data[0] != 0.5 || z.Data[1] != -0.5 || z.Data[3] != -0.5 {
		t.Errorf("zero features / zero column: z = %v, want bias where guarded", z.Data)
	}
	// Features of magnitude 1e4 are normalised like any others: x̂ = (1,−1,1)/√3,
	// ŵ_0 = (1, 2, −1)/√6, so z_0 = (1 − 2 − 1)/√18 / 0.05 + 0.5.
	want := -2/math.Sqrt(18)/0.05 + 0.5
	if math.Abs(float64(z.Data[2])-want) > 1e-4 {
		t.Errorf("z for 1e4-magnitude features = %g, want %g", z.Data[2], want)
	}
	dz := tensor.FromData([]float32{1, 1, 1, 1, 1, 1}, 3, 2)
	dx := h.Backward(dz)
	for i, v := range append(append([]float32(nil), dx.Data...), kernel.Grad...) {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite gradient at %d: dx %v dW %v", i, dx.Data, kernel.Grad)
		}
	}
}

func TestDropoutHeadGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n, in, out = 4, 6, 3
	inner := newTestLinear(r, in, out)
	d := NewDropoutHead(inner, 0.6)
	d.SetSeed(12345)
	x := tensor.New(n, in)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	weights := tensor.New(n, out)
	for i := range weights.Data {
		weights.Data[i] = float32(r.NormFloat64())
	}
	z := d.Forward(x, true)
	// Reference: z = W·(m ⊙ x)/p + b with the mask recomputed from the
	// documented hash, in float64.
	x64, w64, b64 := to64(x.Data), to64(inner.kernel.Value), to64(inner.bias.Value)
	forward := func() []float64 {
		zz := make([]float64, n*out)
		for i := 0; i < n; i++ {
			for k := 0; k < out; k++ {
				s := b64[k]
				for j := 0; j < in; j++ {
					if keepElement(12345, i*in+j, 0.6) {
						s += x64[i*in+j] / 0.6 * w64[j*out+k]
					}
				}
				zz[i*out+k] = s
			}
		}
		return zz
	}
	for i, v := range forward() {
		if math.Abs(float64(z.Data[i])-v) > 1e-5*max(1, math.Abs(v)) {
			t.Fatalf("z[%d] = %g, reference %g", i, z.Data[i], v)
		}
	}
	dx := d.Backward(weights)
	loss := func() float64 {
		var s float64
		for i, v := range forward() {
			s += float64(weights.Data[i]) * v
		}
		return s
	}
	checkGrad(t, "dx", x64, dx.Data, loss, 1e-5)
	checkGrad(t, "dW", w64, inner.kernel.Grad, loss, 1e-5)
	checkGrad(t, "db", b64, inner.bias.Grad, loss, 1e-5)
}

func TestDropoutHeadMask(t *testing.T) {
	// keep 0.5: every input reaches the head as 0 or 2x.
	r := rand.New(rand.NewPCG(9, 10))
	ident := &identityLayer{}
	d := NewDropoutHead(ident, 0.5)
	d.SetSeed(1)
	x := tensor.New(50, 20)
	for i := range x.Data {
		x.Data[i] = float32(1 + r.Float64())
	}
	y := d.Forward(x, true)
	kept := 0
	for i, v := range y.Data {
		switch v {
		case 0:
		case 2 * x.Data[i]:
			kept++
		default:
			t.Fatalf("element %d: %g from %g, want 0 or 2x", i, v, x.Data[i])
		}
	}
	if kept == 0 || kept == len(y.Data) {
		t.Fatalf("kept %d of %d", kept, len(y.Data))
	}
	first := append([]float32(nil), y.Data...)

	// Determinism: same seed, same mask; the mask of an element depends on
	// its index alone, not on the batch size.
	d.SetSeed(1)
	if y2 := d.Forward(x, true); !equal32(y2.Data, first) {
		t.Error("same seed gave a different mask")
	}
	half := tensor.FromData(x.Data[:25*20], 25, 20)
	if y3 := d.Forward(half, true); !equal32(y3.Data, first[:25*20]) {
		t.Error("mask of the first rows changed with the batch size")
	}
	d.SetSeed(2)
	if y4 := d.Forward(x, true); equal32(y4.Data, first) {
		t.Error("another seed gave the same mask")
	}
	// Evaluation is the identity.
	if y5 := d.Forward(x, false); !equal32(y5.Data, x.Data) {
		t.Error("evaluation mode changed the features")
	}
	if dx := d.Backward(x); !equal32(dx.Data, x.Data) {
		t.Error("backward after an evaluation forward is not the identity")
	}
}

func TestDropoutKeepRate(t *testing.T) {
	for _, keep := range []float64{0.7, 0.1} {
		const total = 200000
		kept := 0
		for i := 0; i < total; i++ {
			if keepElement(42, i, keep) {
				kept++
			}
		}
		// Binomial: standard deviation √(n p (1−p)); allow 5 of them.
		sd := math.Sqrt(total * keep * (1 - keep))
		if math.Abs(float64(kept)-total*keep) > 5*sd {
			t.Errorf("keep %g: kept %d of %d, expected %g ± %g", keep, kept, total, total*keep, 5*sd)
		}
		// Neighbouring elements are independent: P(both kept) ≈ keep².
		both := 0
		for i := 0; i < total; i += 2 {
			if keepElement(42, i, keep) && keepElement(42, i+1, keep) {
				both++
			}
		}
		pairs := float64(total / 2)
		sd2 := math.Sqrt(pairs * keep * keep * (1 - keep*keep))
		if math.Abs(float64(both)-pairs*keep*keep) > 5*sd2 {
			t.Errorf("keep %g: %d adjacent pairs both kept, expected %g ± %g", keep, both, pairs*keep*keep, 5*sd2)
		}
	}
}

type identityLayer struct{}

func (*identityLayer) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor { return x }
func (*identityLayer) Backward(dy *tensor.Tensor) *tensor.Tensor       { return dy }
func (*identityLayer) Params() []*nn.Param                             { return nil }

func equal32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestModifyHeadStack(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	lin := newTestLinear(r, 4, 3)
	kernel, bias := lin.kernel, lin.bias
	m := &nn.Model{Name: "tiny", InputShape: []int{4}, NumClasses: 3, Head: lin}
	obj := mustNew(t, "dropout+cosine_softmax+extra_final_layer_l2", map[string]float64{"tau": 0.1, "keep_prob": 0.8, "lambda": 0.01})
	if err := ModifyHead(obj, m); err != nil {
		t.Fatal(err)
	}
	d, ok := m.Head.(*DropoutHead)
	if !ok {
		t.Fatalf("head is %T, want *DropoutHead", m.Head)
	}
	c, ok := d.Inner.(*CosineHead)
	if !ok {
		t.Fatalf("wrapped head is %T, want *CosineHead", d.Inner)
	}
	if c.Kernel != kernel || c.Bias != bias || c.Tau != 0.1 || !c.NormalizeFeatures || d.KeepProb != 0.8 {
		t.Errorf("cosine head did not take over the linear head's parameters and settings")
	}
	if ps := m.Params(); len(ps) != 2 || ps[0].Name != "head.kernel" || ps[1].Name != "head.bias" {
		t.Errorf("params after ModifyHead: %v", ps)
	}
	// A second application is refused rather than stacking another dropout.
	if err := ModifyHead(mustNew(t, "dropout", nil), m); err == nil {
		t.Error("second dropout accepted")
	}
	if err := ModifyHead(mustNew(t, "cosine_softmax", nil), m); err == nil {
		t.Error("second cosine head accepted")
	}

	// One training step through the model: the final-layer L2 adds λW to the
	// gradient that Backward set, and returns λ‖W‖²/2.
	m.SetSeed(99)
	x, labels := randomLogits(r, 5, 4, 1)
	labels = []int{0, 1, 2, 0, 1}
	z := m.Forward(x, true)
	dz := tensor.New(5, 3)
	obj.Loss(z, labels, dz)
	m.Backward(dz)
	before := append([]float32(nil), kernel.Grad...)
	pen := Regularize(obj, m)
	var sq float64
	for i, w := range kernel.Value {
		sq += float64(w) * float64(w)
		if want := before[i] + 0.01*w; math.Abs(float64(kernel.Grad[i]-want)) > 1e-6 {
			t.Fatalf("kernel grad[%d] = %g, want %g + λw = %g", i, kernel.Grad[i], before[i], want)
		}
	}
	if math.Abs(pen-0.01*sq/2) > 1e-12 {
		t.Errorf("penalty %g, want λ‖W‖²/2 = %g", pen, 0.01*sq/2)
	}
}

func TestExtraFinalLayerL2HandWorked(t *testing.T) {
	// W = [[1, 2], [3, 4]]: ‖W‖² = 30, λ = 8e-4: penalty 8e-4·30/2 = 0.012;
	// gradient gains λW = (8e-4, 1.6e-3, 2.4e-3, 3.2e-3). The bias is untouched.
	kernel, bias := newParam("head.kernel", nn.Kernel, 2, 2), newParam("head.bias", nn.Bias, 2)
	copy(kernel.Value, []float32{1, 2, 3, 4})
	copy(bias.Value, []float32{5, 6})
	kernel.Grad[0] = 1
	m := &nn.Model{Head: &testLinear{kernel: kernel, bias: bias}}
	pen := Regularize(mustNew(t, "extra_final_layer_l2", nil), m)
	if math.Abs(pen-0.012) > 1e-12 {
		t.Errorf("penalty %g, want 0.012", pen)
	}
	want := []float32{1 + 8e-4, 1.6e-3, 2.4e-3, 3.2e-3}
	for i, w := range want {
		if math.Abs(float64(kernel.Grad[i]-w)) > 1e-9 {
			t.Errorf("kernel grad %v, want %v", kernel.Grad, want)
			break
		}
	}
	if bias.Grad[0] != 0 || bias.Grad[1] != 0 {
		t.Errorf("bias grad changed: %v", bias.Grad)
	}
	// Objectives without a weight penalty add nothing.
	if p := Regularize(mustNew(t, "label_smoothing+dropout", nil), m); p != 0 {
		t.Errorf("label_smoothing+dropout regularizer %g, want 0", p)
	}
}

func TestCosineModifyHeadErrors(t *testing.T) {
	noBias := &testLinear{kernel: newParam("head.kernel", nn.Kernel, 3, 2)}
	m := &nn.Model{Name: "m", NumClasses: 2, Head: &paramsOnly{[]*nn.Param{noBias.kernel}}}
	if err := ModifyHead(mustNew(t, "cosine_softmax", nil), m); err == nil {
		t.Error("head without bias accepted")
	}
	wrong := newTestLinear(rand.New(rand.NewPCG(1, 1)), 3, 4)
	m = &nn.Model{Name: "m", NumClasses: 2, Head: wrong}
	if err := ModifyHead(mustNew(t, "cosine_softmax", nil), m); err == nil {
		t.Error("head with 4 outputs accepted for 2 classes")
	}
}

type paramsOnly struct{ ps []*nn.Param }

func (p *paramsOnly) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor { return x }
func (p *paramsOnly) Backward(dy *tensor.Tensor) *tensor.Tensor       { return dy }
func (p *paramsOnly) Params() []*nn.Param                             { return p.ps }

// TestWithNNLinear runs the head changes on the real dense layer.
func TestWithNNLinear(t *testing.T) {
	lin := nn.NewLinear("head", 4, 3, true, 7)
	m := &nn.Model{Name: "tiny", InputShape: []int{4}, NumClasses: 3, Head: lin}
	if err := ModifyHead(mustNew(t, "cosine_softmax+dropout", nil), m); err != nil {
		t.Fatal(err)
	}
	c := m.Head.(*DropoutHead).Inner.(*CosineHead)
	if c.Kernel != lin.Kernel || c.Bias != lin.Bias {
		t.Fatal("cosine head did not take over nn.Linear's parameters")
	}
	x := tensor.FromData([]float32{1, 2, 3, 4, -1, 0, 2, 1}, 2, 4)
	z := m.Forward(x, false)
	want := refCosine(to64(x.Data), 2, 4, to64(lin.Kernel.Value), to64(lin.Bias.Value), 0.05, true)
	for i, v := range want {
		if math.Abs(float64(z.Data[i])-v) > 1e-4*max(1, math.Abs(v)) {
			t.Fatalf("z = %v, reference %v", z.Data, want)
		}
	}
}

// keepElement states nn.Dropout's documented rule for drop probability
// P = 1 − keepProb: element index survives when the 53-bit uniform from the
// SplitMix64 hash of (seed, index) is at least P.
func keepElement(seed uint64, index int, keepProb float64) bool {
	h := splitmix64(seed + uint64(index+1)*0x9E3779B97F4A7C15)
	return h>>11 >= uint64((1-keepProb)*(1<<53))
}
