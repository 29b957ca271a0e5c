package nn

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/losslab/losslab/tensor"
)

func mustBuild(t testing.TB, name string, shape []int, k int, seed uint64) *Model {
	t.Helper()
	m, err := Build(name, shape, k, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestModelNames(t *testing.T) {
	want := []string{"mlp", "mnist-cnn", "resnet18", "resnet20", "resnet50", "resnet56"}
	if got := ModelNames(); !slices.Equal(got, want) {
		t.Errorf("ModelNames() = %v, want %v", got, want)
	}
}

func TestBuildErrors(t *testing.T) {
	_, err := Build("resnet21", []int{32, 32, 3}, 10, 1)
	if err == nil || !strings.Contains(err.Error(), "resnet21") || !strings.Contains(err.Error(), "mnist-cnn, resnet18") {
		t.Errorf("unknown model: error %v should name it and list the valid ones", err)
	}
	bad := []struct {
		name  string
		shape []int
		k     int
	}{
		{"resnet20", []int{784}, 10},
		{"resnet20", []int{2, 2, 3}, 10},
		{"resnet56", []int{32, 32}, 10},
		{"resnet18", []int{4, 4, 3}, 10},
		{"resnet50", []int{3, 32, 32, 3}, 10},
		{"mnist-cnn", []int{784}, 10},
		{"mnist-cnn", []int{3, 3, 1}, 10},
		{"mlp", []int{28, 0, 1}, 10},
		{"mlp", nil, 10},
		{"mlp", []int{784}, 0},
	}
	for _, b := range bad {
		if _, err := Build(b.name, b.shape, b.k, 1); err == nil {
			t.Errorf("Build(%s, %v, %d) accepted", b.name, b.shape, b.k)
		} else if !strings.Contains(err.Error(), b.name) {
			t.Errorf("error %q does not name the model", err)
		}
	}
}

// Hand counts of trainable parameters, from the architecture definitions.
func convCount(k, in, out int, bias bool) int {
	n := k * k * in * out
	if bias {
		n += out
	}
	return n
}
func bnCount(c int) int          { return 2 * c }
func denseCount(in, out int) int { return in*out + out }

func basicCount(in, out, stride int) int {
	n := convCount(3, in, out, false) + bnCount(out) + convCount(3, out, out, false) + bnCount(out)
	if stride != 1 || in != out {
		n += convCount(1, in, out, false) + bnCount(out)
	}
	return n
}

func bottleneckCount(in, width, stride int) int {
	out := 4 * width
	n := convCount(1, in, width, false) + bnCount(width) + convCount(3, width, width, false) + bnCount(width) +
		convCount(1, width, out, false) + bnCount(out)
	if stride != 1 || in != out {
		n += convCount(1, in, out, false) + bnCount(out)
	}
	return n
}

func cifarResNetCount(n, cin, k int) int {
	total := convCount(3, cin, 16, false) + bnCount(16)
	in := 16
	for s, c := range []int{16, 32, 64} {
		for b := 0; b < n; b++ {
			stride := 1
			if s > 0 && b == 0 {
				stride = 2
			}
			total += basicCount(in, c, stride)
			in = c
		}
	}
	return total + denseCount(64, k)
}

func imagenetResNetCount(bottleneck bool, stemK, cin, k int) int {
	total := convCount(stemK, cin, 64, false) + bnCount(64)
	in := 64
	depths := []int{2, 2, 2, 2}
	if bottleneck {
		depths = []int{3, 4, 6, 3}
	}
	for s, w := range []int{64, 128, 256, 512} {
		for b := 0; b < depths[s]; b++ {
			stride := 1
			if s > 0 && b == 0 {
				stride = 2
			}
			if bottleneck {
				total += bottleneckCount(in, w, stride)
				in = 4 * w
			} else {
				total += basicCount(in, w, stride)
				in = w
			}
		}
	}
	return total + denseCount(in, k)
}

func TestParamCounts(t *testing.T) {
	cases := []struct {
		name  string
		shape []int
		k     int
		want  int
	}{
		{"mlp", []int{28, 28, 1}, 10, denseCount(784, 512) + denseCount(512, 512) + denseCount(512, 10)},
		{"mnist-cnn", []int{28, 28, 1}, 10, 320 + 18496 + 401536 + 1290},
		{"mnist-cnn", []int{32, 32, 3}, 7, convCount(3, 3, 32, true) + convCount(3, 32, 64, true) + denseCount(8*8*64, 128) + denseCount(128, 7)},
		{"resnet20", []int{32, 32, 3}, 10, cifarResNetCount(3, 3, 10)},
		{"resnet56", []int{32, 32, 3}, 100, cifarResNetCount(9, 3, 100)},
		{"resnet18", []int{32, 32, 3}, 10, imagenetResNetCount(false, 3, 3, 10)},
		{"resnet18", []int{224, 224, 3}, 1000, imagenetResNetCount(false, 7, 3, 1000)},
		{"resnet50", []int{32, 32, 3}, 10, imagenetResNetCount(true, 3, 3, 10)},
		{"resnet50", []int{224, 224, 3}, 1000, imagenetResNetCount(true, 7, 3, 1000)},
	}
	for _, c := range cases {
		m := mustBuild(t, c.name, c.shape, c.k, 1)
		if got := m.NumParams(); got != c.want {
			t.Errorf("%s %v K=%d: %d parameters, want %d", c.name, c.shape, c.k, got, c.want)
		}
	}
	// Anchors from the literature: mnist-cnn 421,642; resnet20 269,722 with
	// option-A shortcuts plus two projections (512+64, 2048+128) = 272,474;
	// torchvision's resnet18 11,689,512 and resnet50 25,557,032.
	for _, a := range []struct{ got, want int }{
		{320 + 18496 + 401536 + 1290, 421642},
		{cifarResNetCount(3, 3, 10), 269722 + 512 + 64 + 2048 + 128},
		{imagenetResNetCount(false, 7, 3, 1000), 11689512},
		{imagenetResNetCount(true, 7, 3, 1000), 25557032},
	} {
		if a.got != a.want {
			t.Errorf("hand count %d, published %d", a.got, a.want)
		}
	}
}

func TestModelOutputsAndShapes(t *testing.T) {
	blocks := func(depths ...int) []string {
		var s []string
		for i, d := range depths {
			for b := 1; b <= d; b++ {
				s = append(s, name("stage%d.block%d", i+1, b))
			}
		}
		return s
	}
	cases := []struct {
		name  string
		shape []int
		names []string
		last  []int // shape of the last body output per example
	}{
		{"mlp", []int{5, 3, 2}, []string{"dense1", "dense2"}, []int{512}},
		{"mnist-cnn", []int{9, 8, 2}, []string{"conv1", "conv2", "dense1"}, []int{128}},
		{"resnet20", []int{8, 8, 3}, append(append([]string{"stem"}, blocks(3, 3, 3)...), "pool"), []int{64}},
		{"resnet56", []int{5, 4, 3}, append(append([]string{"stem"}, blocks(9, 9, 9)...), "pool"), []int{64}},
		{"resnet18", []int{8, 8, 3}, append(append([]string{"stem"}, blocks(2, 2, 2, 2)...), "pool"), []int{512}},
	}
	for _, c := range cases {
		m := mustBuild(t, c.name, c.shape, 3, 5)
		if _, ok := m.Head.(*Linear); !ok {
			t.Errorf("%s: head is %T, want *Linear", c.name, m.Head)
		}
		x := randTensor(1, append([]int{2}, c.shape...)...)
		if err := m.CheckInput(x); err != nil {
			t.Fatal(err)
		}
		z := m.Forward(x, true)
		if !slices.Equal(z.Shape, []int{2, 3}) {
			t.Errorf("%s: logits %v", c.name, z.Shape)
		}
		var got []string
		for _, o := range m.Outputs() {
			got = append(got, o.Name)
		}
		want := append(append([]string(nil), c.names...), "penultimate", "logits")
		if !slices.Equal(got, want) {
			t.Errorf("%s: outputs %v, want %v", c.name, got, want)
		}
		outs := m.Outputs()
		pen := outs[len(outs)-2].Tensor
		if !slices.Equal(pen.Shape, append([]int{2}, c.last...)) {
			t.Errorf("%s: penultimate %v", c.name, pen.Shape)
		}
	}
	// Spatial sizes along a CIFAR ResNet: 32 → 32, 16, 8.
	m := mustBuild(t, "resnet20", []int{32, 32, 3}, 10, 1)
	m.Forward(randTensor(1, 1, 32, 32, 3), false)
	for _, o := range m.Outputs() {
		want := map[string][]int{"stem": {1, 32, 32, 16}, "stage1.block3": {1, 32, 32, 16},
			"stage2.block1": {1, 16, 16, 32}, "stage3.block3": {1, 8, 8, 64}, "pool": {1, 64}}[o.Name]
		if want != nil && !slices.Equal(o.Tensor.Shape, want) {
			t.Errorf("resnet20 %s: %v, want %v", o.Name, o.Tensor.Shape, want)
		}
	}
	// The ImageNet stem above 64 px: 72 → 36 (conv /2) → 18 (maxpool /2).
	r18 := mustBuild(t, "resnet18", []int{72, 72, 3}, 4, 1)
	r18.Forward(randTensor(1, 1, 72, 72, 3), false)
	if s := r18.Outputs()[0].Tensor.Shape; !slices.Equal(s, []int{1, 18, 18, 64}) {
		t.Errorf("resnet18 ImageNet stem output %v, want [1 18 18 64]", s)
	}
	if s := r18.Outputs()[len(r18.Outputs())-4].Tensor.Shape; !slices.Equal(s, []int{1, 3, 3, 512}) {
		t.Errorf("resnet18 last block %v, want [1 3 3 512]", s)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	for _, n := range []string{"mnist-cnn", "resnet20"} {
		a, b := mustBuild(t, n, []int{8, 8, 1}, 3, 9), mustBuild(t, n, []int{8, 8, 1}, 3, 9)
		c := mustBuild(t, n, []int{8, 8, 1}, 3, 10)
		pa, pb, pc := a.Params(), b.Params(), c.Params()
		seen := map[string]bool{}
		differs := false
		for i := range pa {
			if seen[pa[i].Name] {
				t.Errorf("%s: duplicate parameter name %s", n, pa[i].Name)
			}
			seen[pa[i].Name] = true
			if pa[i].Name != pb[i].Name || !slices.Equal(pa[i].Value, pb[i].Value) {
				t.Errorf("%s: %s differs between builds with the same seed", n, pa[i].Name)
			}
			if !slices.Equal(pa[i].Value, pc[i].Value) {
				differs = true
			}
		}
		if !differs {
			t.Errorf("%s: seeds 9 and 10 give identical parameters", n)
		}
	}
}

func TestInitialisation(t *testing.T) {
	m := mustBuild(t, "resnet50", []int{16, 16, 3}, 10, 3)
	stats := func(v []float32) (mean, std float64) {
		for _, x := range v {
			mean += float64(x)
		}
		mean /= float64(len(v))
		for _, x := range v {
			std += (float64(x) - mean) * (float64(x) - mean)
		}
		return mean, math.Sqrt(std / float64(len(v)))
	}
	for _, p := range m.Params() {
		switch {
		case p.Name == "head.kernel":
			if _, s := stats(p.Value); math.Abs(s-0.01) > 0.001 {
				t.Errorf("head kernel std %.4f, want 0.01", s)
			}
		case p.Name == "stage3.block2.conv2.kernel": // 3·3·256 = 2304 fan-in, 589,824 values
			if mu, s := stats(p.Value); math.Abs(s-math.Sqrt(2.0/2304)) > 0.01*math.Sqrt(2.0/2304) || math.Abs(mu) > 1e-4 {
				t.Errorf("%s mean %.5f std %.5f, want He-normal std %.5f", p.Name, mu, s, math.Sqrt(2.0/2304))
			}
		case strings.HasSuffix(p.Name, ".bn3.gamma"):
			if slices.Max(p.Value) != 0 || slices.Min(p.Value) != 0 {
				t.Errorf("%s not zero", p.Name)
			}
		case strings.HasSuffix(p.Name, "gamma") || strings.HasSuffix(p.Name, "running_var"):
			if slices.Max(p.Value) != 1 || slices.Min(p.Value) != 1 {
				t.Errorf("%s not one", p.Name)
			}
		case p.Kind == Bias || p.Kind == Shift || strings.HasSuffix(p.Name, "running_mean"):
			if slices.Max(p.Value) != 0 || slices.Min(p.Value) != 0 {
				t.Errorf("%s not zero", p.Name)
			}
		}
	}
}

// modelLayer adapts a Model to Layer for gradCheck (no input gradient).
type modelLayer struct{ m *Model }

func (l modelLayer) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	return l.m.Forward(x, train)
}
func (l modelLayer) Backward(dy *tensor.Tensor) *tensor.Tensor { l.m.Backward(dy); return nil }
func (l modelLayer) Params() []*Param                          { return l.m.Params() }

// prepareForCheck gives a model moderate, generic parameter values for a
// gradient check: BatchNorm γ in [0.2, 0.4] and β = ±1 (so each channel's ReLU
// is on or off for nearly all of its values, few sit near the kink), β = +1
// on the BatchNorms that feed a residual sum (both branches), small random
// biases. With
// eval, the running statistics are first set to one batch's statistics
// (momentum 0) plus 0.1 on the variances. Evaluation-mode activations then
// keep their scale, and no channel is divided by a near-zero deviation: tiny
// batches give some channels of the last stages a variance near 0 (three
// values at 1×1 resolution can nearly coincide), and a float32 network with
// several 1/√(σ²+ε) ≈ 300 gains in a row is too ill-conditioned for finite
// differences.
func prepareForCheck(m *Model, x *tensor.Tensor, eval bool, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 5))
	var bns []*BatchNorm
	residual := map[*BatchNorm]bool{}
	var walk func(l Layer)
	walk = func(l Layer) {
		switch l := l.(type) {
		case *Sequential:
			for _, s := range l.Layers {
				walk(s)
			}
		case *BasicBlock:
			bns = append(bns, l.BN1, l.BN2)
			residual[l.BN2] = true
			if l.ShortBN != nil {
				bns = append(bns, l.ShortBN)
				residual[l.ShortBN] = true
			}
		case *Bottleneck:
			bns = append(bns, l.BN1, l.BN2, l.BN3)
			residual[l.BN3] = true
			if l.ShortBN != nil {
				bns = append(bns, l.ShortBN)
				residual[l.ShortBN] = true
			}
		case *BatchNorm:
			bns = append(bns, l)
		}
	}
	for _, s := range m.Body {
		walk(s.Layer)
	}
	for _, b := range bns {
		for j := range b.Gamma.Value {
			b.Gamma.Value[j] = float32(0.2 + 0.2*r.Float64())
			b.Beta.Value[j] = 1
			if !residual[b] && r.IntN(2) == 0 {
				b.Beta.Value[j] = -1
			}
		}
	}
	for _, p := range m.Params() {
		if p.Kind == Bias {
			for j := range p.Value {
				p.Value[j] = float32(0.1 * r.NormFloat64())
			}
		}
	}
	if eval {
		for _, b := range bns {
			b.Momentum = 0
		}
		m.Forward(x, true)
		for _, b := range bns {
			b.Momentum = 0.9
			for j := range b.RunningVar.Value {
				b.RunningVar.Value[j] += 0.1
			}
		}
	}
}

func TestModelGradients(t *testing.T) {
	r50small, err := buildImageNetResNet("resnet50", []int{8, 8, 3}, 3, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	r18imagenet, err := buildImageNetResNet("resnet18", []int{32, 32, 3}, 3, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	someBlocks := func(prefixes ...string) func(p *Param) bool {
		return func(p *Param) bool {
			for _, pre := range prefixes {
				if strings.HasPrefix(p.Name, pre) {
					return true
				}
			}
			return false
		}
	}
	cases := []struct {
		m      *Model
		batch  int
		maxPer int
		train  bool
		only   func(p *Param) bool // which parameters to check (nil: all)
	}{
		{mustBuild(t, "mlp", []int{4, 3, 2}, 3, 1), 3, 6, true, nil},
		{mustBuild(t, "mnist-cnn", []int{8, 8, 2}, 3, 1), 3, 6, true, nil},
		{mustBuild(t, "resnet20", []int{8, 8, 3}, 3, 1), 3, 3, true, nil},
		{mustBuild(t, "resnet20", []int{8, 8, 3}, 3, 1), 3, 3, false, nil},
		// resnet20 runs in training mode at a size where the last stage
		// normalises 12 values per channel. The deeper and wider ResNets
		// are checked in evaluation mode (see prepareForCheck), their
		// BatchNorm training path being the one checked by resnet20 and the
		// block tests: in training mode a 56-layer float32 network's
		// rounding noise, divided by the small step that BatchNorm's
		// curvature needs, would swamp the gradients.
		{mustBuild(t, "resnet56", []int{8, 8, 3}, 3, 1), 2, 1, false, nil},
		// The wide models' forward cost is mostly their weights, so only
		// the parameters of a few blocks are probed.
		{mustBuild(t, "resnet18", []int{8, 8, 3}, 3, 1), 3, 1, false, someBlocks("stem", "stage2.block1", "stage4.block2", "head")},
		{r18imagenet, 3, 1, false, someBlocks("stem", "stage1.block1", "head")},
		{r50small, 3, 1, false, someBlocks("stem.conv", "stage1.block1", "stage4.block3.conv3", "stage4.block3.bn3", "head")},
	}
	for _, c := range cases {
		x := randTensor(2, append([]int{c.batch}, c.m.InputShape...)...)
		prepareForCheck(c.m, x, !c.train, 5)
		gc := defaultCheck()
		// Training-mode BatchNorm is smooth but curved: a small step. In
		// evaluation mode the loss is linear in each single parameter
		// between kinks, so a larger step loses nothing and divides the
		// rounding noise of a deep network by more.
		gc.checkInput, gc.train, gc.maxPer, gc.eps = false, c.train, c.maxPer, 1e-3
		if !c.train {
			gc.eps = 1e-2
		}
		var l Layer = modelLayer{c.m}
		if c.only != nil {
			l = subsetLayer{modelLayer{c.m}, c.only}
		}
		gc.kinks = func() uint64 { return kinkSignature(l) }
		t.Run(c.m.Name, func(t *testing.T) { gc.run(t, l, x) })
	}
}

// subsetLayer exposes only some of a layer's parameters to gradCheck.
type subsetLayer struct {
	Layer
	keep func(*Param) bool
}

func (s subsetLayer) Params() []*Param {
	var ps []*Param
	for _, p := range s.Layer.Params() {
		if s.keep(p) {
			ps = append(ps, p)
		}
	}
	return ps
}

func TestBatchNormIndependentOfThreads(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	x := randTensor(1, 4, 16, 16, 32) // large enough to run on several threads
	dy := randTensor(2, 4, 16, 16, 32)
	run := func(threads int) (y, dx, dg []float32) {
		tensor.SetThreads(threads)
		b := NewBatchNorm("bn", 32)
		b.ReLU = true
		randomize(b.Params(), 3)
		y = append(y, b.Forward(x, true).Data...)
		dx = append(dx, b.Backward(dy).Data...)
		return y, dx, append(append([]float32(nil), b.Gamma.Grad...), b.RunningVar.Value...)
	}
	y1, dx1, g1 := run(1)
	y2, dx2, g2 := run(2)
	y3, dx3, g3 := run(3)
	if !slices.Equal(y1, y2) || !slices.Equal(dx1, dx2) || !slices.Equal(g1, g2) ||
		!slices.Equal(y1, y3) || !slices.Equal(dx1, dx3) || !slices.Equal(g1, g3) {
		t.Errorf("BatchNorm results depend on the thread count")
	}
}

// A whole training step (convolutions with their per-group weight-gradient
// sums, BatchNorm statistics, pooling) gives bit-identical results for any
// thread count; tensor.Gemm promises the same for its part.
func TestTrainingStepIndependentOfThreads(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	x := randTensor(1, 5, 12, 12, 3)
	dz := randTensor(2, 5, 4)
	run := func(threads int) (z []float32, grads [][]float32) {
		tensor.SetThreads(threads)
		for _, name := range []string{"resnet20", "mnist-cnn"} {
			m := mustBuild(t, name, []int{12, 12, 3}, 4, 1)
			z = append(z, m.Forward(x, true).Data...)
			m.Backward(dz)
			for _, p := range m.Params() {
				grads = append(grads, append([]float32(nil), p.Grad...))
			}
		}
		return z, grads
	}
	// Each convolution path forced in turn (by default the stride-1
	// convolutions with 16 or more input channels take the expanded rows,
	// the others im2col).
	for _, mode := range []int{pathIm2col, pathRows, pathWinograd} {
		withConvPath(mode, func() {
			z1, g1 := run(1)
			for _, threads := range []int{2, 3} {
				z, g := run(threads)
				if !slices.Equal(z, z1) {
					t.Errorf("path %d, %d threads: logits differ from 1 thread", mode, threads)
				}
				for i := range g {
					if !slices.Equal(g[i], g1[i]) {
						t.Errorf("path %d, %d threads: gradient %d differs from 1 thread", mode, threads, i)
						break
					}
				}
			}
		})
	}
}

// A training step in steady state reuses every buffer: what it allocates
// (closures handed to the worker pool) is tiny next to the first step.
func TestTrainingStepReusesBuffers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items and instruments allocations")
	}
	m := mustBuild(t, "resnet20", []int{16, 16, 3}, 10, 1)
	x := randTensor(1, 8, 16, 16, 3)
	dz := randTensor(2, 8, 10)
	step := func() {
		m.Forward(x, true)
		m.Backward(dz)
	}
	allocated := func(n int) uint64 {
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		for i := 0; i < n; i++ {
			step()
		}
		runtime.ReadMemStats(&b)
		return b.TotalAlloc - a.TotalAlloc
	}
	// A garbage collection during the measurement would empty the
	// runtime's caches, whose refill would count as the step's allocation.
	// Collect first, then hold collections off while measuring.
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	first := allocated(1)
	// The worker pool claims chunks dynamically, so a later step may run
	// more GEMMs at once than the first and grow the pool by one more set
	// of packing buffers: let that settle before measuring.
	allocated(5)
	steady := allocated(3) / 3
	if steady*100 > first {
		t.Errorf("a steady-state step allocates %d bytes, the first %d", steady, first)
	}
	t.Logf("first step %d bytes, steady state %d bytes per step", first, steady)
}
