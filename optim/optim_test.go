package optim

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/nn"
	"github.com/losslab/losslab/tensor"
)

// twoParams is the hand-worked problem: a 2-element kernel, a 1-element bias
// and a buffer, with fixed gradients g_w = (0.5, 0.25), g_b = 1.
func twoParams() []*nn.Param {
	return []*nn.Param{
		{Name: "w", Kind: nn.Kernel, Shape: []int{2}, Value: []float32{1, -2}, Grad: []float32{0.5, 0.25}},
		{Name: "b", Kind: nn.Bias, Shape: []int{1}, Value: []float32{0.5}, Grad: []float32{1}},
		{Name: "running_mean", Kind: nn.Buffer, Shape: []int{2}, Value: []float32{3, 4}},
	}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func checkValues(t *testing.T, what string, ps []*nn.Param, want [][]float64) {
	t.Helper()
	for i, p := range ps {
		for j, v := range p.Value {
			if !near(float64(v), want[i][j], 1e-6) {
				t.Errorf("%s: %s[%d] = %.7g, want %.7g", what, p.Name, j, v, want[i][j])
			}
		}
	}
}

func TestSGDByHand(t *testing.T) {
	cases := []struct {
		name  string
		cfg   SGDConfig
		steps int
		lrs   []float64
		want  [][]float64
	}{
		// w − 0.1·g.
		{"plain", SGDConfig{}, 1, []float64{0.1}, [][]float64{{0.95, -2.025}, {0.4}, {3, 4}}},
		// Step 1: v = g. Step 2: v = 0.9g + g = 1.9g, w −= 0.1·1.9g.
		{"momentum", SGDConfig{Momentum: 0.9}, 2, []float64{0.1, 0.1}, [][]float64{{0.855, -2.0725}, {0.21}, {3, 4}}},
		// Changing lr does not rescale v: step 2 is w −= 0.2·1.9g.
		{"momentum lr change", SGDConfig{Momentum: 0.9}, 2, []float64{0.1, 0.2}, [][]float64{{0.76, -2.12}, {0.02}, {3, 4}}},
		// Step 1: v = g, d = g + 0.9g = 1.9g. Step 2: v = 1.9g, d = g + 0.9·1.9g = 2.71g.
		{"nesterov", SGDConfig{Momentum: 0.9, Nesterov: true}, 2, []float64{0.1, 0.1}, [][]float64{{0.7695, -2.11525}, {0.039}, {3, 4}}},
		// Kernel only: g_w + 0.01·w = (0.51, 0.23); the bias is not decayed.
		{"decay kernel", SGDConfig{WeightDecay: 0.01}, 1, []float64{0.1}, [][]float64{{0.949, -2.023}, {0.4}, {3, 4}}},
		// Bias decayed too: g_b + 0.01·0.5 = 1.005.
		{"decay kernel+bias", SGDConfig{WeightDecay: 0.01, DecayKinds: []nn.ParamKind{nn.Kernel, nn.Bias}}, 1, []float64{0.1},
			[][]float64{{0.949, -2.023}, {0.3995}, {3, 4}}},
		// Only the bias: the kernel moves as in plain SGD.
		{"decay bias only", SGDConfig{WeightDecay: 0.01, DecayKinds: []nn.ParamKind{nn.Bias}}, 1, []float64{0.1},
			[][]float64{{0.95, -2.025}, {0.3995}, {3, 4}}},
		// Nesterov with decay, one step: d = 1.9·(0.51, 0.23) on the kernel.
		{"nesterov decay", SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 0.01}, 1, []float64{0.1},
			[][]float64{{0.9031, -2.0437}, {0.31}, {3, 4}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := twoParams()
			o := NewSGD(ps, c.cfg)
			for s := 0; s < c.steps; s++ {
				o.Step(c.lrs[s])
			}
			checkValues(t, c.name, ps, c.want)
		})
	}
}

func TestSGDRejectsBadConfig(t *testing.T) {
	for _, cfg := range []SGDConfig{{Momentum: -0.1}, {Momentum: 1}, {Nesterov: true}, {WeightDecay: -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewSGD(%+v) did not panic", cfg)
				}
			}()
			NewSGD(twoParams(), cfg)
		}()
	}
}

// quadratic is f(w) = ½ Σ a_i (w_i − c_i)², a convex problem with known
// minimiser.
type quadratic struct{ a, c []float64 }

func (q quadratic) grad(p *nn.Param) {
	for i, w := range p.Value {
		p.Grad[i] = float32(q.a[i] * (float64(w) - q.c[i]))
	}
}

func TestSGDConvergesOnQuadratic(t *testing.T) {
	q := quadratic{a: []float64{1, 4, 0.5}, c: []float64{2, -1, 3}}
	for _, cfg := range []SGDConfig{{}, {Momentum: 0.9}, {Momentum: 0.9, Nesterov: true}, {Momentum: 0.9, WeightDecay: 0.1}} {
		p := &nn.Param{Name: "w", Kind: nn.Kernel, Shape: []int{3}, Value: make([]float32, 3), Grad: make([]float32, 3)}
		o := NewSGD([]*nn.Param{p}, cfg)
		for s := 0; s < 600; s++ {
			q.grad(p)
			o.Step(0.1)
		}
		// With coupled decay λ the fixed point solves a(w − c) + λw = 0.
		for i, w := range p.Value {
			want := q.a[i] * q.c[i] / (q.a[i] + cfg.WeightDecay)
			if !near(float64(w), want, 1e-4) {
				t.Errorf("%+v: w[%d] = %v, want %v", cfg, i, w, want)
			}
		}
	}
}

func TestSGDParallelMatchesSerial(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	n := parallelMin + 123
	rng := rand.New(rand.NewPCG(1, 2))
	w0, g := make([]float32, n), make([]float32, n)
	for i := range w0 {
		w0[i], g[i] = rng.Float32()-0.5, rng.Float32()-0.5
	}
	run := func(threads int) []float32 {
		tensor.SetThreads(threads)
		p := &nn.Param{Name: "big", Kind: nn.Kernel, Value: slices.Clone(w0), Grad: g}
		o := NewSGD([]*nn.Param{p}, SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4})
		for s := 0; s < 3; s++ {
			o.Step(0.05)
		}
		return p.Value
	}
	// Reference: the same recurrence written out in float32.
	ref := slices.Clone(w0)
	v := make([]float32, n)
	for s := 0; s < 3; s++ {
		for j := range ref {
			gj := g[j] + float32(5e-4)*ref[j]
			v[j] = 0.9*v[j] + gj
			ref[j] -= float32(0.05) * (gj + 0.9*v[j])
		}
	}
	one, two := run(1), run(2)
	if !slices.Equal(one, two) {
		t.Fatal("update differs between 1 and 2 threads")
	}
	for j := range ref {
		if !near(float64(one[j]), float64(ref[j]), 1e-6) {
			t.Fatalf("w[%d] = %v, reference %v", j, one[j], ref[j])
		}
	}
}

func TestSGDStateRoundTrip(t *testing.T) {
	cfg := SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 0.01}
	a := twoParams()
	oa := NewSGD(a, cfg)
	oa.Step(0.1)
	oa.Step(0.1)
	if st := oa.State(); len(st) != 2 || st[0].Name != "velocity/w" || st[1].Name != "velocity/b" {
		t.Fatalf("state names %v, want velocity/w, velocity/b (no buffer)", st)
	}
	// A fresh optimiser on copied weights, given the saved state, continues
	// exactly like the original.
	b := twoParams()
	for i := range b {
		copy(b[i].Value, a[i].Value)
	}
	ob := NewSGD(b, cfg)
	var saved []NamedSlice
	for _, s := range oa.State() {
		saved = append(saved, NamedSlice{s.Name, slices.Clone(s.Data)})
	}
	if err := ob.LoadState(saved); err != nil {
		t.Fatal(err)
	}
	oa.Step(0.05)
	ob.Step(0.05)
	for i := range a {
		if !slices.Equal(a[i].Value, b[i].Value) {
			t.Errorf("%s: resumed %v, original %v", a[i].Name, b[i].Value, a[i].Value)
		}
	}

	bad := []NamedSlice{{"velocity/w", make([]float32, 2)}, {"velocity/x", make([]float32, 1)}}
	if err := ob.LoadState(bad); err == nil || !strings.Contains(err.Error(), "velocity/x") {
		t.Errorf("wrong name: err = %v", err)
	}
	bad = []NamedSlice{{"velocity/w", make([]float32, 3)}, {"velocity/b", make([]float32, 1)}}
	if err := ob.LoadState(bad); err == nil || !strings.Contains(err.Error(), "3 values") {
		t.Errorf("wrong size: err = %v", err)
	}
	if err := ob.LoadState(bad[:1]); err == nil {
		t.Error("missing entry accepted")
	}
	if st := NewSGD(twoParams(), SGDConfig{}).State(); len(st) != 0 {
		t.Errorf("plain SGD has state %v", st)
	}
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		name string
		s    Schedule
		at   []int
		want []float64
	}{
		{"constant", Constant{0.3}, []int{0, 7, 1e6}, []float64{0.3, 0.3, 0.3}},
		{"step", StepDecay{Base: 0.1, Boundaries: []int{100, 150}, Factor: 0.1},
			[]int{0, 99, 100, 149, 150, 10000}, []float64{0.1, 0.1, 0.01, 0.01, 0.001, 0.001}},
		// (1 + cos(π/4))/2 = 0.8535534 at a quarter of the way.
		{"cosine", Cosine{Base: 1, Final: 0, Steps: 100},
			[]int{0, 25, 50, 75, 100, 200}, []float64{1, 0.85355339, 0.5, 0.14644661, 0, 0}},
		{"cosine to final", Cosine{Base: 1, Final: 0.1, Steps: 100}, []int{0, 50, 100}, []float64{1, 0.55, 0.1}},
		// Ramp (s+1)/5 of 1, then cosine over 10 steps starting at step 5.
		{"warmup cosine", Warmup{Steps: 5, Then: Cosine{Base: 1, Steps: 10}},
			[]int{0, 1, 4, 5, 10, 15, 20}, []float64{0.2, 0.4, 1, 1, 0.5, 0, 0}},
		{"warmup step", Warmup{Steps: 2, Then: StepDecay{Base: 0.4, Boundaries: []int{3}, Factor: 0.5}},
			[]int{0, 1, 2, 4, 5}, []float64{0.2, 0.4, 0.4, 0.4, 0.2}},
	}
	for _, c := range cases {
		for i, s := range c.at {
			if got := c.s.LR(s); !near(got, c.want[i], 1e-7) {
				t.Errorf("%s: LR(%d) = %v, want %v", c.name, s, got, c.want[i])
			}
		}
	}
}

func TestEMAMatchesFloat64Recurrence(t *testing.T) {
	for _, warm := range []bool{false, true} {
		ps := twoParams()
		e := NewEMA(ps, EMAConfig{Decay: 0.9, Warmup: warm})
		if st := e.State(); len(st) != 2 {
			t.Fatalf("EMA tracks %d params, want 2 (buffer excluded)", len(st))
		}
		shadow := [][]float64{{1, -2}, {0.5}}
		rng := rand.New(rand.NewPCG(3, 4))
		for n := 1; n <= 50; n++ {
			for i := 0; i < 2; i++ {
				for j := range ps[i].Value {
					ps[i].Value[j] += float32(rng.NormFloat64())
				}
			}
			e.Update(n)
			d := 0.9
			if warm {
				d = math.Min(0.9, (1+float64(n))/(10+float64(n)))
			}
			for i := range shadow {
				for j := range shadow[i] {
					shadow[i][j] = d*shadow[i][j] + (1-d)*float64(ps[i].Value[j])
				}
			}
		}
		for i, st := range e.State() {
			for j, v := range st.Data {
				if !near(float64(v), shadow[i][j], 1e-5) {
					t.Errorf("warmup=%v: %s[%d] = %v, float64 recurrence %v", warm, st.Name, j, v, shadow[i][j])
				}
			}
		}
	}
}

func TestEMAWarmupDecay(t *testing.T) {
	e := NewEMA(nil, EMAConfig{Decay: 0.999, Warmup: true})
	// (1+n)/(10+n): 0.1 at n = 0, 0.5 at n = 8, reaching 0.999 at n = 8991.
	for _, c := range []struct {
		n    int
		want float64
	}{{0, 0.1}, {8, 0.5}, {8990, 8991.0 / 9000}, {100000, 0.999}} {
		if got := e.DecayAt(c.n); !near(got, c.want, 1e-12) {
			t.Errorf("DecayAt(%d) = %v, want %v", c.n, got, c.want)
		}
	}
	if got := NewEMA(nil, EMAConfig{Decay: 0.999}).DecayAt(0); got != 0.999 {
		t.Errorf("without warmup DecayAt(0) = %v", got)
	}
}

func TestEMASwap(t *testing.T) {
	ps := twoParams()
	e := NewEMA(ps, EMAConfig{Decay: 0.5})
	ps[0].Value[0], ps[1].Value[0] = 3, 1.5
	ps[2].Value[0] = 7 // a buffer: not averaged, so evaluation sees 7
	e.Update(1)        // shadow w[0] = (1+3)/2 = 2, b = (0.5+1.5)/2 = 1
	e.SwapIn()
	if ps[0].Value[0] != 2 || ps[0].Value[1] != -2 || ps[1].Value[0] != 1 || ps[2].Value[0] != 7 {
		t.Errorf("swapped in: %v %v %v", ps[0].Value, ps[1].Value, ps[2].Value)
	}
	e.SwapOut()
	if ps[0].Value[0] != 3 || ps[1].Value[0] != 1.5 || ps[2].Value[0] != 7 {
		t.Errorf("swapped out: %v %v %v", ps[0].Value, ps[1].Value, ps[2].Value)
	}

	// With IncludeBuffers the running statistics are averaged too.
	ps = twoParams()
	e = NewEMA(ps, EMAConfig{Decay: 0.5, IncludeBuffers: true})
	ps[2].Value[0] = 7
	e.Update(1)
	e.SwapIn()
	if ps[2].Value[0] != 5 {
		t.Errorf("averaged buffer = %v, want (3+7)/2 = 5", ps[2].Value[0])
	}
	e.SwapOut()

	defer func() {
		if recover() == nil {
			t.Error("SwapOut without SwapIn did not panic")
		}
	}()
	e.SwapOut()
}

func TestEMAStateRoundTrip(t *testing.T) {
	ps := twoParams()
	e := NewEMA(ps, EMAConfig{Decay: 0.9})
	ps[0].Value[1] = 5
	e.Update(1)
	saved := []NamedSlice{}
	for _, s := range e.State() {
		saved = append(saved, NamedSlice{s.Name, slices.Clone(s.Data)})
	}
	e2 := NewEMA(twoParams(), EMAConfig{Decay: 0.9})
	if err := e2.LoadState(saved); err != nil {
		t.Fatal(err)
	}
	for i, s := range e2.State() {
		if !slices.Equal(s.Data, saved[i].Data) {
			t.Errorf("%s: loaded %v, saved %v", s.Name, s.Data, saved[i].Data)
		}
	}
	if err := e2.LoadState(saved[:1]); err == nil {
		t.Error("short state accepted")
	}
}
