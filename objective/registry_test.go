package objective

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/losslab/losslab/tensor"
)

func TestNamesAndDefaults(t *testing.T) {
	want := []string{"softmax", "label_smoothing", "sigmoid", "extra_final_layer_l2", "dropout",
		"logit_penalty", "logit_normalization", "cosine_softmax", "squared_error"}
	if got := Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	// The paper's defaults (docs/definitions.md#objectives).
	defaults := map[string]map[string]float64{
		"softmax":              {},
		"label_smoothing":      {"alpha": 0.1, "rescale": 1},
		"sigmoid":              {"offset": 1},
		"extra_final_layer_l2": {"lambda": 8e-4},
		"dropout":              {"keep_prob": 0.7},
		"logit_penalty":        {"beta": 6e-4},
		"logit_normalization":  {"tau": 0.04},
		"cosine_softmax":       {"tau": 0.05, "normalize_features": 1},
		"squared_error":        {"kappa": 9, "target": 60, "scale": 10},
	}
	for _, name := range want {
		info, err := Describe(name)
		if err != nil {
			t.Fatal(err)
		}
		if !sameParams(info.Default, defaults[name]) {
			t.Errorf("%s defaults %v, want %v", name, info.Default, defaults[name])
		}
		o := mustNew(t, name, nil)
		if o.Name() != name {
			t.Errorf("New(%q).Name() = %q", name, o.Name())
		}
		if !sameParams(o.Hyperparams(), defaults[name]) {
			t.Errorf("New(%q).Hyperparams() = %v, want %v", name, o.Hyperparams(), defaults[name])
		}
	}
	// Overrides, plain and qualified.
	o := mustNew(t, "cosine_softmax", map[string]float64{"cosine_softmax.tau": 0.2, "normalize_features": 0})
	if c := o.(CosineSoftmax); c.Tau != 0.2 || c.NormalizeFeatures {
		t.Errorf("overrides not applied: %+v", c)
	}
}

func sameParams(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRegistryErrors(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]float64
		want   []string // substrings of the error
	}{
		{"softmx", nil, []string{`"softmx"`, "softmax", "squared_error"}},
		{"softmax", map[string]float64{"alpha": 1}, []string{`"alpha"`, "no hyperparameters"}},
		{"label_smoothing", map[string]float64{"beta": 1}, []string{`"beta"`, "alpha, rescale"}},
		{"label_smoothing", map[string]float64{"alpha": 1}, []string{"alpha", "rescale"}},
		{"label_smoothing", map[string]float64{"alpha": -0.1}, []string{"alpha = -0.1"}},
		{"label_smoothing", map[string]float64{"rescale": 0.5}, []string{"rescale", "0 or 1"}},
		{"dropout", map[string]float64{"keep_prob": 0}, []string{"keep_prob", "(0, 1]"}},
		{"cosine_softmax", map[string]float64{"tau": 0}, []string{"tau", "> 0"}},
		{"logit_normalization", map[string]float64{"tau": math.Inf(1)}, []string{"tau"}},
		{"squared_error", map[string]float64{"target": math.NaN()}, []string{"target"}},
		{"logit_penalty", map[string]float64{"beta": -1}, []string{"beta"}},
		{"label_smoothing+", nil, []string{"empty part"}},
		{"dropout+dropout", nil, []string{"twice"}},
		{"label_smoothing+dropout", map[string]float64{"tau": 1}, []string{`"tau"`, "alpha (label_smoothing)", "keep_prob (dropout)"}},
		{"label_smoothing+dropout", map[string]float64{"sigmoid.offset": 1}, []string{"not in the stack"}},
		{"label_smoothing+dropout", map[string]float64{"dropout.alpha": 1}, []string{`"alpha"`, "keep_prob"}},
		{"sigmoid+squared_error", nil, []string{"two base losses", "sigmoid", "squared_error"}},
		{"softmax+label_smoothing", nil, []string{"two base losses"}},
		{"cosine_softmax+logit_normalization", nil, []string{"cosine_softmax and logit_normalization"}},
		{"logit_normalization+logit_penalty", nil, []string{"invariant to the scale"}},
	}
	for _, c := range cases {
		o, err := New(c.name, c.params)
		if err == nil {
			t.Errorf("New(%q, %v) = %s, want an error", c.name, c.params, o.Name())
			continue
		}
		for _, s := range c.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("New(%q, %v) error %q lacks %q", c.name, c.params, err, s)
			}
		}
	}
	// Describe of an unknown name lists the valid ones too.
	if _, err := Describe("nope"); err == nil || !strings.Contains(err.Error(), "cosine_softmax") {
		t.Errorf("Describe(nope) error %v", err)
	}
	// Label smoothing with α = 1 is allowed when not rescaled (uniform targets).
	if _, err := New("label_smoothing", map[string]float64{"alpha": 1, "rescale": 0}); err != nil {
		t.Errorf("alpha = 1 without rescale refused: %v", err)
	}
}

func TestCompositionRules(t *testing.T) {
	o := mustNew(t, " label_smoothing + dropout + logit_penalty ", map[string]float64{"alpha": 0.2, "keep_prob": 0.9, "logit_penalty.beta": 0.01})
	c, ok := o.(*Composite)
	if !ok {
		t.Fatalf("stack is %T", o)
	}
	if c.Name() != "label_smoothing+dropout+logit_penalty" {
		t.Errorf("name %q", c.Name())
	}
	if !sameParams(c.Hyperparams(), map[string]float64{"alpha": 0.2, "rescale": 1, "keep_prob": 0.9, "beta": 0.01}) {
		t.Errorf("hyperparams %v", c.Hyperparams())
	}
	// The stack's loss is the base loss plus the penalty, gradients included,
	// and the model-changing part adds nothing to it.
	r := rand.New(rand.NewPCG(13, 14))
	z, labels := randomLogits(r, 5, 7, 2)
	g := tensor.New(5, 7)
	got := c.Loss(z, labels, g)
	ls := LabelSmoothing{Alpha: 0.2, Rescale: true}
	gls := tensor.New(5, 7)
	want := ls.Loss(z, labels, gls)
	for i, v := range z.Data {
		want += 0.01 * float64(v) * float64(v) / 2 / 5
		if d := float64(g.Data[i]) - (float64(gls.Data[i]) + 0.01*float64(v)/5); math.Abs(d) > 1e-6 {
			t.Fatalf("grad[%d] = %g, want label smoothing + βz/N", i, g.Data[i])
		}
	}
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("stack loss %g, want %g", got, want)
	}

	// With no base loss the stack is softmax cross-entropy.
	d := mustNew(t, "dropout+extra_final_layer_l2", nil)
	if a, b := d.Loss(z, labels, nil), (Softmax{}).Loss(z, labels, nil); a != b {
		t.Errorf("dropout+extra_final_layer_l2 loss %g, softmax %g", a, b)
	}
	// Compose flattens stacks and applies the same rules.
	flat, err := Compose(mustNew(t, "sigmoid+dropout", nil), LogitPenalty{Beta: 1e-3})
	if err != nil || flat.Name() != "sigmoid+dropout+logit_penalty" {
		t.Errorf("Compose flatten: %v, %v", flat, err)
	}
	if _, err := Compose(mustNew(t, "sigmoid+dropout", nil), SquaredError{Kappa: 1, Scale: 1}); err == nil {
		t.Error("Compose accepted two base losses")
	}
	if _, err := Compose(LabelSmoothing{Alpha: 2, Rescale: true}); err == nil {
		t.Error("Compose accepted α = 2")
	}
	if single, err := Compose(Sigmoid{Offset: true}); err != nil || single != (Sigmoid{Offset: true}) {
		t.Errorf("Compose of one objective: %v, %v", single, err)
	}
	if _, err := Compose(); err == nil {
		t.Error("Compose of nothing accepted")
	}
	// Every allowed pair builds, and every pair of base losses is refused.
	for _, a := range Names() {
		for _, b := range Names() {
			if a == b {
				continue
			}
			ia, _ := Describe(a)
			ib, _ := Describe(b)
			_, err := New(a+"+"+b, nil)
			twoBases := ia.Role == BaseLoss && ib.Role == BaseLoss
			special := (a == "logit_normalization" || b == "logit_normalization") &&
				(a == "cosine_softmax" || b == "cosine_softmax" || a == "logit_penalty" || b == "logit_penalty")
			if (err != nil) != (twoBases || special) {
				t.Errorf("New(%s+%s) error %v, want error: %v", a, b, err, twoBases || special)
			}
		}
	}
}

func TestScoreLogits(t *testing.T) {
	z := tensor.FromData([]float32{0, float32(math.Log(3)), 1, 2}, 2, 2)
	labels := []int{1, 1}
	// Mean of ln(4/3) and the softmax loss of (1, 2) with y = 1, ln(1 + e^−1).
	got, err := ScoreLogits("softmax", nil, z, labels)
	want := (math.Log(4.0/3) + math.Log1p(math.Exp(-1))) / 2
	if err != nil || math.Abs(got-want) > 1e-7 {
		t.Errorf("ScoreLogits(softmax) = %g, %v; want %g", got, err, want)
	}
	got, err = ScoreLogits("squared_error", map[string]float64{"scale": 1}, z, labels)
	// (9·(ln3 − 60)² + 0 + 9·(2 − 60)² + 1) / 2
	want = (9*math.Pow(float64(float32(math.Log(3)))-60, 2) + 9*58*58 + 1) / 2
	if err != nil || math.Abs(got-want) > 1e-6*want {
		t.Errorf("ScoreLogits(squared_error) = %g, %v; want %g", got, err, want)
	}
	for _, name := range []string{"dropout", "cosine_softmax", "extra_final_layer_l2", "label_smoothing+dropout"} {
		if _, err := ScoreLogits(name, nil, z, labels); err == nil || !strings.Contains(err.Error(), "logits alone") {
			t.Errorf("ScoreLogits(%s) error %v, want one saying it needs the model", name, err)
		}
	}
	bad := []struct {
		z      *tensor.Tensor
		labels []int
		want   string
	}{
		{tensor.New(2, 2, 1), labels, "2-D"},
		{z, []int{1}, "1 labels for 2 rows"},
		{z, []int{1, 2}, "label 2 of example 1"},
		{z, []int{-1, 0}, "label -1 of example 0"},
		{tensor.FromData([]float32{0, float32(math.NaN())}, 1, 2), []int{0}, "logit [0, 1]"},
	}
	for _, b := range bad {
		if _, err := ScoreLogits("softmax", nil, b.z, b.labels); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ScoreLogits(%v, %v) error %v, want %q", b.z.Shape, b.labels, err, b.want)
		}
	}
	if _, err := ScoreLogits("nope", nil, z, labels); err == nil {
		t.Error("unknown objective scored")
	}
}
